//! Runs a systemd unit file's `ExecStartPre=` and `ExecStart=` lines as systemd would start them,
//! with the installed binary and config paths swapped for the built binary and a config in a
//! temporary folder, and checks the file with `systemd-analyze verify`. Shared by the agent's and
//! the collector's `units` tests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The repository's `configs/` folder.
pub fn configs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs")
}

/// A unit file's command lines, each split into words.
#[derive(Debug)]
pub struct Unit {
    pub path: PathBuf,
    pub text: String,
    pub exec_start_pre: Vec<Vec<String>>,
    pub exec_start: Vec<String>,
}

impl Unit {
    pub fn read(path: &Path) -> Unit {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let mut pre = Vec::new();
        let mut start = Vec::new();
        for line in text.lines() {
            if let Some(cmd) = line.strip_prefix("ExecStartPre=") {
                pre.push(words(cmd));
            } else if let Some(cmd) = line.strip_prefix("ExecStart=") {
                start.push(words(cmd));
            }
        }
        assert!(!pre.is_empty(), "{}: no ExecStartPre=", path.display());
        assert_eq!(start.len(), 1, "{}: one ExecStart=", path.display());
        Unit {
            path: path.to_path_buf(),
            text,
            exec_start_pre: pre,
            exec_start: start.remove(0),
        }
    }
}

/// The words of a command line; the units use no quoting, prefixes or specifiers.
fn words(cmd: &str) -> Vec<String> {
    assert!(
        !cmd.contains(['"', '\'', '%', '$']) && !cmd.starts_with(['-', '@', '+', '!', ':']),
        "the test splits command lines on blanks only: {cmd}"
    );
    cmd.split_whitespace().map(str::to_string).collect()
}

/// `argv` with the installed binary and config replaced.
pub fn substitute(
    argv: &[String],
    installed_bin: &str,
    bin: &Path,
    installed_config: &str,
    config: &Path,
) -> Vec<String> {
    assert_eq!(argv[0], installed_bin, "the unit runs {}", argv[0]);
    assert!(
        argv.iter().any(|a| a == installed_config),
        "the unit reads {installed_config}: {argv:?}"
    );
    argv.iter()
        .map(|a| {
            if a == installed_bin {
                bin.display().to_string()
            } else if a == installed_config {
                config.display().to_string()
            } else {
                a.clone()
            }
        })
        .collect()
}

/// Runs an `ExecStartPre=` command; it must exit 0.
pub fn run_pre(argv: &[String], cwd: &Path) {
    let out = Command::new(&argv[0])
        .args(&argv[1..])
        .current_dir(cwd)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {argv:?}: {e}"));
    assert!(
        out.status.success(),
        "ExecStartPre {argv:?} exited {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts the `ExecStart=` command; it must still run after 2 s, pass `ready` (e.g. answer on
/// its port) and exit 0 on SIGTERM. Its stderr goes to `cwd/exec_start.log`.
pub fn run_start(argv: &[String], cwd: &Path, ready: impl Fn() -> bool) {
    let log = cwd.join("exec_start.log");
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .current_dir(cwd)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {argv:?}: {e}"));
    let stderr = |_: &mut Child| std::fs::read_to_string(&log).unwrap_or_default();
    std::thread::sleep(Duration::from_secs(2));
    if let Some(status) = child.try_wait().unwrap() {
        panic!(
            "ExecStart {argv:?} exited within 2 s ({status})\nstderr: {}",
            stderr(&mut child)
        );
    }
    let serving = ready();
    // SAFETY: kill(2) on the child's own pid.
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) },
        0
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "ExecStart {argv:?} did not stop within 15 s of SIGTERM\nstderr: {}",
                stderr(&mut child)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = stderr(&mut child);
    assert!(serving, "ExecStart {argv:?} was not serving\nstderr: {log}");
    assert!(
        status.success(),
        "ExecStart {argv:?} exited {status} on SIGTERM\nstderr: {log}"
    );
}

/// `systemd-analyze verify` on a copy of the unit whose binary is `bin`: must exit 0 and say
/// nothing about the unit (it exits 0 on unknown keys and bad values, with a warning). A
/// machine without `systemd-analyze` fails the test: scripts/test installs it (package systemd).
pub fn verify(unit: &Unit, installed_bin: &str, bin: &Path, tmp: &Path) {
    let tool = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or_else(|| {
            panic!(
                "systemd-analyze is missing: install the Debian package systemd \
                 (scripts/test does) to verify {}",
                unit.path.display()
            )
        });
    let name = unit.path.file_name().unwrap();
    let dir = tmp.join("units");
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join(name);
    std::fs::write(
        &copy,
        unit.text.replace(installed_bin, &bin.display().to_string()),
    )
    .unwrap();
    let out = Command::new(tool)
        .arg("verify")
        .arg(&copy)
        .env("SYSTEMD_LOG_COLOR", "0")
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let about_unit: Vec<&str> = said
        .lines()
        .filter(|l| l.contains(name.to_str().unwrap()))
        .collect();
    assert!(
        out.status.success() && about_unit.is_empty(),
        "systemd-analyze verify {} ({}):\n{said}",
        unit.path.display(),
        out.status
    );
}

/// `check-config` takes the file positionally, as `--config` or in each of `other_forms`
/// (exit 0, "ok"), and refuses none or both (exit 2, naming `--config`).
pub fn check_config_forms(bin: &Path, config: &str, other_forms: &[&str]) {
    let mut accepted = vec![
        vec!["check-config", config],
        vec!["check-config", "--config", config],
    ];
    accepted.extend(
        other_forms
            .iter()
            .map(|flag| vec!["check-config", flag, config]),
    );
    for args in accepted {
        let out = Command::new(bin).args(&args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains(": ok ("));
    }
    for (args, says) in [
        (vec!["check-config"], "required"),
        (
            vec!["check-config", config, "--config", config],
            "cannot be used with",
        ),
    ] {
        let out = Command::new(bin).args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(says) && err.contains("--config"),
            "{args:?}: {err}"
        );
    }
}
