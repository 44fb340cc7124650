//! A small municipality in network namespaces, for end-to-end tests.
//!
//! One site: a node switch (its own namespace, forwarding) reached from the root namespace over
//! one veth "uplink", and behind it one namespace per host (access points, a printer, a UPS, a
//! smart screen), each on its own veth /30 in 10.N.0.0/16 (N from the process id, so runs side
//! by side never share routes) — a range that exists only inside
//! the rig. Hosts can run real services in their namespace: `snmpsimd` serving `.snmprec` files
//! (UPS, printer) and a small HTTP server (the screen). Taking the uplink down makes the switch
//! and everything behind it unreachable, as when a site's link fails.
//!
//! Everything is torn down on drop (processes killed by process group, namespaces and links
//! deleted), also when a test fails. One site at a time per process: the range comes from the
//! process id, so tests of one binary that build a site wait for each other ([`Site::build`]). Needs root and iproute2; a missing tool fails the test
//! with what to install.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// What runs on a host.
#[derive(Debug, Clone)]
pub enum Role {
    /// Answers ping only.
    Plain,
    /// snmpsimd on udp/161 serving these `.snmprec` files (community = file stem).
    Snmp(Vec<PathBuf>),
    /// An HTTP server on tcp/80 answering `body` for every path.
    Http(String),
}

/// One host behind the switch.
#[derive(Debug, Clone)]
pub struct Host {
    pub name: String,
    pub ns: String,
    pub ip: String,
}

/// The site.
pub struct Site {
    tag: String,
    pub switch_ns: String,
    pub switch_ip: String,
    uplink: String,
    pub hosts: Vec<Host>,
    processes: Vec<Child>,
    dirs: Vec<tempfile::TempDir>,
    /// (host name, snmpsim data folder) of the hosts running snmpsim.
    snmp_data: Vec<(String, PathBuf)>,
    /// Held while the site exists: one site per process (its range and names come from the
    /// process id); released after the teardown.
    _one_at_a_time: MutexGuard<'static, ()>,
}

/// Taken by each site for its lifetime.
static ONE_SITE: Mutex<()> = Mutex::new(());

/// The first two octets of this process's rig range: `10.N`, N in 100..=249 from the process id.
pub fn net_prefix() -> String {
    format!("10.{}", 100 + std::process::id() % 150)
}

/// This process's rig range, `10.N.0.0/16`.
pub fn net() -> String {
    format!("{}.0.0/16", net_prefix())
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run `ip` (install Debian's iproute2): {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn must(args: &[&str]) {
    if let Err(e) = ip(args) {
        panic!("cannot build the namespace site (needs root and iproute2): {e}");
    }
}

impl Site {
    /// Builds the site: `tag` (≤ 5 characters) keeps names unique per test.
    pub fn build(tag: &str, hosts: &[(&str, Role)]) -> Site {
        // A test that failed while holding it poisons nothing of ours: the site was torn down.
        let one_at_a_time = ONE_SITE.lock().unwrap_or_else(|e| e.into_inner());
        let tag = format!("{tag}{}", std::process::id() % 100);
        let mut site = Site {
            switch_ns: format!("dv{tag}sw"),
            switch_ip: format!("{}.0.2", net_prefix()),
            uplink: format!("dv{tag}up"),
            hosts: Vec::new(),
            processes: Vec::new(),
            dirs: Vec::new(),
            snmp_data: Vec::new(),
            _one_at_a_time: one_at_a_time,
            tag,
        };
        site.teardown_network();
        site.build_switch();
        for (i, (name, role)) in hosts.iter().enumerate() {
            let host = site.add_host(i + 1, name);
            site.hosts.push(host.clone());
            site.start_role(&host, role);
        }
        site.assert_routed();
        site
    }

    fn build_switch(&self) {
        let sw = self.switch_ns.as_str();
        must(&["netns", "add", sw]);
        must(&[
            "link",
            "add",
            &self.uplink,
            "type",
            "veth",
            "peer",
            "name",
            "uplink",
            "netns",
            sw,
        ]);
        must(&[
            "addr",
            "add",
            format!("{p}.0.1/30", p = net_prefix()).as_str(),
            "dev",
            &self.uplink,
        ]);
        must(&["link", "set", &self.uplink, "up"]);
        must(&[
            "-n",
            sw,
            "addr",
            "add",
            format!("{p}.0.2/30", p = net_prefix()).as_str(),
            "dev",
            "uplink",
        ]);
        must(&["-n", sw, "link", "set", "uplink", "up"]);
        must(&["-n", sw, "link", "set", "lo", "up"]);
        must(&[
            "-n",
            sw,
            "route",
            "add",
            "default",
            "via",
            format!("{p}.0.1", p = net_prefix()).as_str(),
        ]);
        let fwd = Command::new("ip")
            .args([
                "netns",
                "exec",
                sw,
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
            ])
            .status()
            .expect("sysctl");
        assert!(fwd.success(), "cannot enable forwarding in {sw}");
        must(&[
            "route",
            "add",
            net().as_str(),
            "via",
            format!("{p}.0.2", p = net_prefix()).as_str(),
            "dev",
            &self.uplink,
        ]);
        // With the uplink down its route goes; this keeps the rig's range from ever falling
        // through to the default route (packets are dropped, as on a dead link).
        must(&[
            "route",
            "add",
            "blackhole",
            net().as_str(),
            "metric",
            "4000",
        ]);
    }

    fn add_host(&self, i: usize, name: &str) -> Host {
        let ns = format!("dv{}h{i}", self.tag);
        let root_side = format!("dv{}s{i}", self.tag);
        let gateway = format!("{}.{i}.1", net_prefix());
        let host_ip = format!("{}.{i}.2", net_prefix());
        let sw = self.switch_ns.as_str();
        must(&["netns", "add", &ns]);
        must(&[
            "link", "add", &root_side, "type", "veth", "peer", "name", "eth0", "netns", &ns,
        ]);
        must(&["link", "set", &root_side, "netns", sw]);
        must(&[
            "-n",
            sw,
            "addr",
            "add",
            &format!("{gateway}/30"),
            "dev",
            &root_side,
        ]);
        must(&["-n", sw, "link", "set", &root_side, "up"]);
        must(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{host_ip}/30"),
            "dev",
            "eth0",
        ]);
        must(&["-n", &ns, "link", "set", "eth0", "up"]);
        must(&["-n", &ns, "link", "set", "lo", "up"]);
        must(&["-n", &ns, "route", "add", "default", "via", &gateway]);
        Host {
            name: name.to_string(),
            ns,
            ip: host_ip,
        }
    }

    fn start_role(&mut self, host: &Host, role: &Role) {
        match role {
            Role::Plain => {}
            Role::Snmp(files) => self.start_snmpsim(host, files),
            Role::Http(body) => self.start_http(host, body),
        }
    }

    fn start_snmpsim(&mut self, host: &Host, files: &[PathBuf]) {
        use std::os::unix::fs::PermissionsExt;
        let bin = ["/usr/bin/snmpsimd", "/usr/bin/snmpsim-command-responder"]
            .into_iter()
            .find(|b| Path::new(b).exists())
            .expect("snmpsimd is missing: install Debian's `snmpsim` package (scripts/test does)");
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        for f in files {
            std::fs::copy(f, data.join(f.file_name().unwrap())).unwrap();
        }
        let cache = dir.path().join("cache");
        std::fs::create_dir(&cache).unwrap();
        // snmpsimd drops to `nobody`: it must read the data and write its cache.
        for (p, mode) in [
            (dir.path(), 0o755),
            (data.as_path(), 0o755),
            (cache.as_path(), 0o777),
        ] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &host.ns, bin])
            .arg(format!("--data-dir={}", data.display()))
            .arg(format!("--cache-dir={}", cache.display()))
            .arg(format!("--agent-udpv4-endpoint={}:161", host.ip))
            .args(["--process-user=nobody", "--process-group=nogroup"]);
        self.spawn(cmd, dir.path().join("snmpsim.log"));
        self.snmp_data.push((host.name.clone(), data));
        self.dirs.push(dir);
    }

    fn start_http(&mut self, host: &Host, body: &str) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), body).unwrap();
        let mut cmd = Command::new("ip");
        cmd.args([
            "netns",
            "exec",
            &host.ns,
            "/usr/bin/python3",
            "-m",
            "http.server",
            "80",
        ])
        .args(["--bind", &host.ip, "--directory"])
        .arg(dir.path());
        self.spawn(cmd, dir.path().join("http.log"));
        self.dirs.push(dir);
    }

    fn spawn(&mut self, mut cmd: Command, log: PathBuf) {
        let out = std::fs::File::create(log).unwrap();
        let err = out.try_clone().unwrap();
        cmd.stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .stdin(Stdio::null())
            .process_group(0);
        self.processes
            .push(cmd.spawn().expect("cannot start a rig process"));
    }

    /// Replaces the data file `name` (e.g. `ups.snmprec`, community `ups`) of host `host`'s
    /// snmpsim with the content of `source`, as when a UPS goes from mains to battery.
    /// snmpsim re-reads a data file when its modification time changes, with one-second
    /// granularity (RIG-NOTES): the new file is renamed into place with an mtime 2 s ahead.
    pub fn replace_snmp_file(&self, host: &str, name: &str, source: &Path) {
        use std::os::unix::fs::PermissionsExt;
        let data = &self
            .snmp_data
            .iter()
            .find(|(h, _)| h == host)
            .unwrap_or_else(|| panic!("host {host} runs no snmpsim"))
            .1;
        let target = data.join(name);
        assert!(target.is_file(), "{} is not a data file", target.display());
        // Written next to the data folder (same file system), so snmpsim never sees a half file.
        let tmp = data.with_file_name(format!(".{name}.tmp"));
        std::fs::copy(source, &tmp).unwrap();
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644)).unwrap();
        let file = std::fs::File::options().write(true).open(&tmp).unwrap();
        file.set_modified(std::time::SystemTime::now() + Duration::from_secs(2))
            .unwrap();
        drop(file);
        std::fs::rename(&tmp, &target).unwrap();
    }

    /// The address of host `name`.
    pub fn ip(&self, name: &str) -> &str {
        &self
            .hosts
            .iter()
            .find(|h| h.name == name)
            .unwrap_or_else(|| panic!("no host {name}"))
            .ip
    }

    /// Refuses to go on unless traffic to the rig's range leaves through its own uplink
    /// (`up`) or is dropped (`!up`): never the default route.
    pub fn assert_routed(&self) {
        let out = Command::new("ip")
            .args([
                "route",
                "get",
                format!("{p}.1.2", p = net_prefix()).as_str(),
            ])
            .output()
            .unwrap();
        let route = String::from_utf8_lossy(&out.stdout);
        assert!(
            route.contains(&format!("dev {}", self.uplink)),
            "route to the rig does not go through {}: {route}",
            self.uplink
        );
    }

    fn assert_dropped(&self) {
        let out = Command::new("ip")
            .args([
                "route",
                "get",
                format!("{p}.1.2", p = net_prefix()).as_str(),
            ])
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !out.status.success() || text.contains("blackhole"),
            "with the uplink down the rig's range must be dropped, not routed: {text}"
        );
    }

    /// The site's link fails: the switch and everything behind it become unreachable.
    pub fn uplink_down(&self) {
        // Make sure the drop route is there (idempotent), then fail the link.
        must(&[
            "route",
            "replace",
            "blackhole",
            net().as_str(),
            "metric",
            "4000",
        ]);
        must(&["link", "set", &self.uplink, "down"]);
        self.assert_dropped();
    }

    /// The link comes back (route and neighbour entry restored, see RIG-NOTES).
    pub fn uplink_up(&self) {
        must(&["link", "set", &self.uplink, "up"]);
        let _ = ip(&[
            "route",
            "add",
            net().as_str(),
            "via",
            format!("{p}.0.2", p = net_prefix()).as_str(),
            "dev",
            &self.uplink,
        ]);
        let _ = ip(&["neigh", "flush", "dev", &self.uplink]);
        self.assert_routed();
    }

    fn teardown_network(&self) {
        let _ = ip(&[
            "route",
            "del",
            net().as_str(),
            "via",
            format!("{p}.0.2", p = net_prefix()).as_str(),
        ]);
        let _ = ip(&[
            "route",
            "del",
            "blackhole",
            net().as_str(),
            "metric",
            "4000",
        ]);
        let _ = ip(&["link", "del", &self.uplink]);
        for i in 1..=9 {
            let _ = ip(&["netns", "del", &format!("dv{}h{i}", self.tag)]);
        }
        let _ = ip(&["netns", "del", &self.switch_ns]);
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        for p in &mut self.processes {
            // SAFETY: kill(2) on the process group we created for this child.
            unsafe {
                libc_kill(-(p.id() as i32), 9);
            }
            let _ = p.wait();
        }
        self.teardown_network();
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}
