//! The Debian packages: `scripts/package` builds both from this run's binaries (twice: revision
//! 1 and a rebuilt revision 2), lintian reports no error and only the warnings the README
//! justifies, dpkg installs them into a throwaway root (its maintainer scripts run chrootless
//! with `DPKG_ROOT`, as debhelper's do), the units are enabled there and verify, each unit's
//! `ExecStartPre=` and `ExecStart=` run chrooted as the `driftvakt` user with the installed
//! configuration (the agent fetching its assignment from the collector with the token the
//! packages made), an upgrade keeps an operator's edited conffiles and the data, `remove` keeps
//! data and configuration and `purge` removes them. A second test installs, upgrades, removes
//! and purges with the maintainer scripts chrooted, as apt runs them on a host that runs
//! systemd, and reads from a recording `policy-rc.d` that install starts both units, an
//! upgrade restarts them and remove stops them. No network: dpkg only reads the files.

use super::rig::*;
use driftvakt_collector_testkit::http::http_status;
use driftvakt_collector_testkit::ports::free_port;
use driftvakt_collector_testkit::process::{agent_bin, collector_bin};
use driftvakt_collector_testkit::units::{verify, Unit};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PACKAGES: [&str; 2] = ["driftvakt-collector", "driftvakt-agent"];

/// The packages the maintainer scripts and dependencies need on this host.
const TOOLS: [(&str, &str); 6] = [
    ("/usr/bin/dpkg-deb", "dpkg"),
    ("/usr/bin/dpkg-shlibdeps", "dpkg-dev"),
    ("/usr/bin/lintian", "lintian"),
    ("/usr/bin/systemd-sysusers", "systemd"),
    ("/usr/bin/systemd-analyze", "systemd"),
    ("/usr/bin/deb-systemd-helper", "init-system-helpers"),
];

/// `scripts/package` on the binaries cargo built for this run, into `out`; the .deb paths.
fn package(out: &Path, revision: u32) -> Vec<PathBuf> {
    let bin_dir = collector_bin().parent().unwrap().to_path_buf();
    assert!(agent_bin().exists());
    let printed = stdout_of(
        Command::new(repo().join("scripts/package"))
            .arg("--bin-dir")
            .arg(&bin_dir)
            .arg("--out")
            .arg(out)
            .args(["--revision", &revision.to_string()])
            .args(["--compression", "gzip"]),
    );
    let debs: Vec<PathBuf> = printed.lines().map(PathBuf::from).collect();
    assert_eq!(debs.len(), 2, "scripts/package printed {printed}");
    debs
}

/// lintian: no error, and every warning tag named in the README (where each is justified).
fn lint(debs: &[PathBuf]) {
    let out = Command::new("lintian")
        .args(["--tag-display-limit", "0", "--fail-on", "error"])
        .args(debs)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && !said.lines().any(|l| l.starts_with("E:")),
        "lintian found errors:\n{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    for line in said.lines().filter(|l| l.starts_with("W:")) {
        let tag = line.split_whitespace().nth(2).unwrap_or(line);
        assert!(
            readme.contains(&format!("`{tag}`")),
            "lintian warns `{tag}` and the README does not justify it:\n{line}"
        );
    }
}

/// A throwaway root whose dpkg database knows the packages ours depend on (their entries from
/// this host's database, no files), so that dpkg checks the dependencies for real.
fn throwaway_root(root: &Path) {
    for dir in [
        "var/lib/dpkg/info",
        "var/lib/dpkg/updates",
        "var/log",
        "etc",
        "tmp",
    ] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    std::fs::set_permissions(root.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let status = stdout_of(Command::new("dpkg-query").args([
        "--status",
        "libc6",
        "libgcc-s1",
        "systemd",
        "init-system-helpers",
    ]));
    std::fs::write(root.join("var/lib/dpkg/status"), status).unwrap();
    std::fs::write(root.join("var/lib/dpkg/available"), "").unwrap();
}

/// dpkg on the throwaway root, maintainer scripts run chrootless (they honour `DPKG_ROOT`),
/// with no terminal: a question about a conffile would fail the test rather than wait.
fn dpkg(root: &Path, args: &[&str], debs: &[PathBuf]) -> String {
    stdout_of(
        Command::new("dpkg")
            .arg(format!("--root={}", root.display()))
            .arg("--force-script-chrootless")
            .args(args)
            .args(debs)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null()),
    )
}

/// `dpkg-query -W -f FORMAT PACKAGE` in the throwaway root; empty when dpkg knows nothing.
fn query(root: &Path, format: &str, package: &str) -> String {
    let out = Command::new("dpkg-query")
        .arg(format!(
            "--admindir={}",
            root.join("var/lib/dpkg").display()
        ))
        .args(["-W", "-f", format, package])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `driftvakt` user's uid and gid, a system user without a login shell.
fn driftvakt_user(root: &Path) -> (u32, u32) {
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    let line = passwd
        .lines()
        .find(|l| l.starts_with("driftvakt:"))
        .unwrap_or_else(|| panic!("no driftvakt user in the root's /etc/passwd:\n{passwd}"));
    let f: Vec<&str> = line.split(':').collect();
    let (uid, gid): (u32, u32) = (f[2].parse().unwrap(), f[3].parse().unwrap());
    assert!(uid > 0 && uid < 1000, "a system user: {line}");
    assert_eq!(f[5], "/var/lib/driftvakt", "{line}");
    assert_eq!(f[6], "/usr/sbin/nologin", "{line}");
    (uid, gid)
}

/// `path` in the root is owned by uid:gid with `mode`.
fn assert_owned(root: &Path, path: &str, (uid, gid): (u32, u32), mode: u32) {
    let meta = std::fs::metadata(root.join(path.trim_start_matches('/')))
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o7777),
        (uid, gid, mode),
        "{path}: owner, group and mode"
    );
}

fn exists(root: &Path, path: &str) -> bool {
    root.join(path.trim_start_matches('/'))
        .symlink_metadata()
        .is_ok()
}

/// The operator's edits: both services on free ports, the agent pointed at that collector.
fn edit_conffiles(root: &Path, collector_port: u16, agent_port: u16) {
    let edit = |file: &str, from: &str, to: &str| {
        let path = root.join("etc/driftvakt").join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} has {from}");
        std::fs::write(&path, text.replace(from, to)).unwrap();
    };
    edit(
        "collector.yaml",
        "127.0.0.1:8480",
        &format!("127.0.0.1:{collector_port}"),
    );
    edit(
        "agent.yaml",
        "127.0.0.1:8480",
        &format!("127.0.0.1:{collector_port}"),
    );
    edit(
        "agent.yaml",
        "127.0.0.1:9464",
        &format!("127.0.0.1:{agent_port}"),
    );
}

/// A unit's `ExecStart=` running chrooted as driftvakt; killed when dropped.
struct Service {
    child: Child,
    log: PathBuf,
    name: String,
}

impl Service {
    /// The installed unit's `ExecStartPre=` lines (each must exit 0), then its `ExecStart=`.
    fn start(root: &Path, user: (u32, u32), name: &str, logs: &Path) -> Service {
        let unit = Unit::read(&root.join(format!("lib/systemd/system/{name}.service")));
        assert!(unit.text.contains("\nUser=driftvakt\n"), "{}", unit.text);
        for pre in &unit.exec_start_pre {
            run_ok(&mut in_chroot_as(root, user.0, user.1, pre));
        }
        let log = logs.join(format!("{name}.log"));
        let child = in_chroot_as(root, user.0, user.1, &unit.exec_start)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", unit.exec_start));
        Service {
            child,
            log,
            name: name.to_string(),
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (at most 20 s) for `ready`, failing with the log if the process exits first.
    fn wait_for(&mut self, what: &str, ready: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !ready() {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("{} exited ({status}):\n{}", self.name, self.log());
            }
            assert!(
                Instant::now() < deadline,
                "{}: no {what} within 20 s:\n{}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM; it must exit 0 within 15 s.
    fn stop(mut self) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "{} exited {status}:\n{}",
                    self.name,
                    self.log()
                );
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not stop on SIGTERM",
                self.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Both units run as driftvakt with the installed configuration: the collector serves, the
/// agent fetches its assignment (so its token file, made by the packages, was accepted).
fn run_both(root: &Path, user: (u32, u32), ports: (u16, u16), logs: &Path) {
    let assignment = root.join("var/spool/driftvakt/assignment.json");
    let _ = std::fs::remove_file(&assignment);
    let mut collector = Service::start(root, user, "driftvakt-collector", logs);
    collector.wait_for("/healthz", || {
        http_status(&format!("127.0.0.1:{}", ports.0), "/healthz") == Some(200)
    });
    let mut agent = Service::start(root, user, "driftvakt-agent", logs);
    agent.wait_for("/healthz", || {
        http_status(&format!("127.0.0.1:{}", ports.1), "/healthz") == Some(200)
    });
    agent.wait_for("assignment in the spool", || assignment.exists());
    agent.stop();
    collector.stop();
    for written in [
        "var/spool/driftvakt/assignment.json",
        "var/lib/driftvakt/driftvakt.db",
    ] {
        let meta = std::fs::metadata(root.join(written)).unwrap();
        assert_eq!(
            (meta.uid(), meta.gid()),
            user,
            "{written} written as driftvakt"
        );
    }
}

#[test]
fn the_packages_install_run_upgrade_remove_and_purge() {
    require_root("the package test");
    require_tools(&TOOLS);
    let tmp = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let first = package(&tmp.path().join("1"), 1);
    let second = package(&tmp.path().join("2"), 2);
    let packaged = started.elapsed();
    lint(&first);
    let linted = started.elapsed() - packaged;

    let root = tmp.path().join("root");
    throwaway_root(&root);
    dpkg(&root, &["--install"], &first);
    let version = env!("CARGO_PKG_VERSION");
    for pkg in PACKAGES {
        assert_eq!(
            query(&root, "${Status} ${Version}", pkg),
            format!("install ok installed {version}-1")
        );
        assert!(exists(&root, &format!("/usr/bin/{pkg}")), "{pkg}: binary");
        assert!(
            exists(
                &root,
                &format!("/etc/systemd/system/multi-user.target.wants/{pkg}.service")
            ),
            "{pkg}: the unit is enabled"
        );
        let unit = Unit::read(&root.join(format!("lib/systemd/system/{pkg}.service")));
        let bin = root.join(format!("usr/bin/{pkg}"));
        verify(&unit, &format!("/usr/bin/{pkg}"), &bin, tmp.path());
        copy_libraries(&bin, &root);
    }
    assert_eq!(
        query(&root, "${Conffiles}", "driftvakt-collector")
            .split_whitespace()
            .next(),
        Some("/etc/driftvakt/collector.yaml")
    );
    assert_eq!(
        query(&root, "${Conffiles}", "driftvakt-agent")
            .split_whitespace()
            .next(),
        Some("/etc/driftvakt/agent.yaml")
    );
    let user = driftvakt_user(&root);
    assert_owned(&root, "/var/lib/driftvakt", user, 0o750);
    assert_owned(&root, "/var/spool/driftvakt", user, 0o750);
    assert_owned(&root, "/etc/driftvakt/agents", user, 0o700);
    assert_owned(&root, "/etc/driftvakt/agents/local.token", user, 0o600);
    assert_owned(&root, "/etc/driftvakt/agent.token", user, 0o600);
    let token = std::fs::read_to_string(root.join("etc/driftvakt/agent.token")).unwrap();
    assert_eq!(token.len(), 48, "24 random bytes in hex: {token}");
    assert_eq!(
        std::fs::read_to_string(root.join("etc/driftvakt/agents/local.token")).unwrap(),
        token,
        "the agent's and the collector's copies of the local agent's token"
    );

    let ports = (free_port(), free_port());
    edit_conffiles(&root, ports.0, ports.1);
    let edited = std::fs::read_to_string(root.join("etc/driftvakt/collector.yaml")).unwrap();
    let ran = Instant::now();
    run_both(&root, user, ports, tmp.path());
    let ran = ran.elapsed();

    // The upgrade: edited conffiles and the data stay, no question asked.
    let db = std::fs::metadata(root.join("var/lib/driftvakt/driftvakt.db")).unwrap();
    dpkg(&root, &["--install"], &second);
    for pkg in PACKAGES {
        assert_eq!(query(&root, "${Version}", pkg), format!("{version}-2"));
        assert!(exists(
            &root,
            &format!("/etc/systemd/system/multi-user.target.wants/{pkg}.service")
        ));
    }
    assert_eq!(
        std::fs::read_to_string(root.join("etc/driftvakt/collector.yaml")).unwrap(),
        edited,
        "the operator's collector.yaml survives the upgrade"
    );
    assert!(!exists(&root, "/etc/driftvakt/collector.yaml.dpkg-new"));
    assert_eq!(
        std::fs::read_to_string(root.join("etc/driftvakt/agent.token")).unwrap(),
        token
    );
    let after = std::fs::metadata(root.join("var/lib/driftvakt/driftvakt.db")).unwrap();
    assert_eq!(
        (after.ino(), after.len()),
        (db.ino(), db.len()),
        "the database stays"
    );
    run_both(&root, user, ports, tmp.path());

    // remove keeps data and configuration; purge removes them.
    dpkg(
        &root,
        &["--remove"],
        &[
            PathBuf::from("driftvakt-agent"),
            PathBuf::from("driftvakt-collector"),
        ],
    );
    for path in [
        "/etc/driftvakt/collector.yaml",
        "/etc/driftvakt/agent.yaml",
        "/etc/driftvakt/agent.token",
        "/etc/driftvakt/agents/local.token",
        "/var/lib/driftvakt/driftvakt.db",
        "/var/spool/driftvakt",
    ] {
        assert!(exists(&root, path), "remove keeps {path}");
    }
    for pkg in PACKAGES {
        assert!(
            !exists(&root, &format!("/usr/bin/{pkg}")),
            "remove takes /usr/bin/{pkg}"
        );
        assert_eq!(query(&root, "${Status}", pkg), "deinstall ok config-files");
    }
    dpkg(
        &root,
        &["--purge"],
        &[
            PathBuf::from("driftvakt-agent"),
            PathBuf::from("driftvakt-collector"),
        ],
    );
    for path in [
        "/etc/driftvakt",
        "/var/lib/driftvakt",
        "/var/spool/driftvakt",
        "/etc/systemd/system/driftvakt-collector.service",
        "/etc/systemd/system/multi-user.target.wants/driftvakt-agent.service",
    ] {
        assert!(!exists(&root, path), "purge removes {path}");
    }
    for pkg in PACKAGES {
        assert_eq!(query(&root, "${Status}", pkg), "", "dpkg forgot {pkg}");
    }
    eprintln!(
        "packaging: two builds {:.1} s, lintian {:.1} s, both units run {:.1} s, total {:.1} s",
        packaged.as_secs_f64(),
        linted.as_secs_f64(),
        ran.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

/// The throwaway root made ready for maintainer scripts run chrooted, as apt runs them on a
/// host: `bin`, `sbin`, `lib`, `lib64` link into `usr` (which `dpkg_chrooted` overlays on this
/// host's), `/dev/null` and `/dev/urandom`, `/run/systemd/system` (systemd "runs", so the
/// scripts act on the units), and a `policy-rc.d` (Debian's hook for exactly this) that
/// writes each action `deb-systemd-invoke` asks for into `/tmp/invoked` and forbids it (101).
fn chroot_ready(top: &Path) {
    let root = top.join("root");
    throwaway_root(&root);
    for link in ["bin", "sbin", "lib", "lib64"] {
        std::os::unix::fs::symlink(format!("usr/{link}"), root.join(link)).unwrap();
    }
    for dir in ["usr", "dev", "run/systemd/system"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    for (name, minor) in [("null", 3), ("urandom", 9)] {
        run_ok(
            Command::new("mknod")
                .args(["-m", "666"])
                .arg(root.join("dev").join(name))
                .args(["c", "1", &minor.to_string()]),
        );
    }
    let policy = top.join("usr/sbin/policy-rc.d");
    std::fs::create_dir_all(policy.parent().unwrap()).unwrap();
    std::fs::create_dir_all(top.join("work")).unwrap();
    std::fs::write(
        &policy,
        "#!/bin/sh\necho \"$1 $2\" >> /tmp/invoked\nexit 101\n",
    )
    .unwrap();
    std::fs::set_permissions(&policy, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// dpkg on `top/root` with the maintainer scripts chrooted into it (`DPKG_ROOT` empty), in a
/// private mount namespace where the root's `/usr` is this host's overlaid by `top/usr`: the
/// scripts find sh, sed, systemd-sysusers and deb-systemd-helper, and what dpkg unpacks into
/// `/usr` lands in `top/usr`, never in this host's.
fn dpkg_chrooted(top: &Path, args: &[&str], debs: &[PathBuf]) -> String {
    let script = r#"set -eu
top=$1; shift
mount -t overlay overlay -o "lowerdir=/usr,upperdir=$top/usr,workdir=$top/work" "$top/root/usr"
exec dpkg --root="$top/root" "$@""#;
    stdout_of(
        Command::new("unshare")
            .args([
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                script,
                "sh",
            ])
            .arg(top)
            .args(args)
            .args(debs)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null()),
    )
}

/// The actions policy-rc.d saw since the last call, sorted.
fn invoked(top: &Path) -> Vec<String> {
    let log = top.join("root/tmp/invoked");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

/// Both units, each with `action`.
fn both(action: &str) -> Vec<String> {
    vec![
        format!("driftvakt-agent.service {action}"),
        format!("driftvakt-collector.service {action}"),
    ]
}

#[test]
fn the_units_start_on_install_restart_on_upgrade_and_stop_on_remove() {
    require_root("the maintainer scripts test");
    require_tools(&TOOLS);
    require_tools(&[
        ("/usr/bin/unshare", "util-linux"),
        ("/usr/bin/mount", "mount"),
    ]);
    let tmp = tempfile::tempdir().unwrap();
    let first = package(&tmp.path().join("1"), 1);
    let second = package(&tmp.path().join("2"), 2);
    let top = tmp.path().join("chroot");
    chroot_ready(&top);
    let root = top.join("root");

    dpkg_chrooted(&top, &["--install"], &first);
    assert_eq!(invoked(&top), both("start"), "install starts both units");
    let user = driftvakt_user(&root);
    assert_owned(&root, "/etc/driftvakt/agent.token", user, 0o600);
    assert_owned(&root, "/etc/driftvakt/agents/local.token", user, 0o600);
    assert_owned(&root, "/var/lib/driftvakt", user, 0o750);
    assert_owned(&root, "/var/spool/driftvakt", user, 0o750);

    dpkg_chrooted(&top, &["--install"], &second);
    assert_eq!(invoked(&top), both("restart"), "an upgrade restarts both");

    let names = [
        PathBuf::from("driftvakt-agent"),
        PathBuf::from("driftvakt-collector"),
    ];
    dpkg_chrooted(&top, &["--remove"], &names);
    assert_eq!(invoked(&top), both("stop"), "remove stops both");
    dpkg_chrooted(&top, &["--purge"], &names);
    assert!(invoked(&top).is_empty(), "purge asks for nothing more");
    for path in [
        "/etc/driftvakt",
        "/var/lib/driftvakt",
        "/var/spool/driftvakt",
    ] {
        assert!(!exists(&root, path), "purge removes {path}");
    }
}
