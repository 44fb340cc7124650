//! Test rig for the SNMP probe: real SNMP agents on free loopback UDP ports.
//!
//! - [`Snmpd`]: Debian's net-snmp `snmpd` with its own config (from `tests/snmp/snmpd.conf.in`)
//!   in a temporary folder: a v2c community and SNMPv3 users (SHA/AES and MD5/DES authPriv,
//!   SHA-256 authNoPriv).
//! - [`Snmpsim`]: `snmpsimd` (Debian package `snmpsim`) serving `.snmprec` files copied into a
//!   temporary folder readable by `nobody`; the community selects the file.
//!
//! Each peer is started in its own process group, waited for until it answers a real SNMP GET,
//! and killed (the whole group) when dropped, also when a test fails. A missing binary is a
//! failing test that says which Debian package to install. Also holds small helpers to write an
//! agent config with file secrets and run the SNMP prober against one of its devices.

use driftvakt_agent::config::{AgentConfig, CheckSpec, SnmpCheck};
use driftvakt_agent::probe::snmp::SnmpProber;
use driftvakt_agent::probe::{Outcome, Prober, Target};
use driftvakt_common::clock::{Clock, SystemClock};
use std::net::UdpSocket;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The v2c community snmpd accepts.
pub const COMMUNITY: &str = "rig-community";
/// SNMPv3 users snmpd knows, all with [`AUTH_PASS`] and (where private) [`PRIV_PASS`].
pub const USER_SHA_AES: &str = "rig-sha-aes";
pub const USER_MD5_DES: &str = "rig-md5-des";
pub const USER_SHA256: &str = "rig-sha256";
pub const AUTH_PASS: &str = "rig-auth-pass-1";
pub const PRIV_PASS: &str = "rig-priv-pass-1";

const SNMPD: &str = "/usr/sbin/snmpd";
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// The repository's `tests/snmp` folder.
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/snmp")
}

/// A child process group killed on drop, with its temporary folder.
struct Peer {
    child: Child,
    /// Kept for the peer's lifetime: its config, data and log.
    _dir: tempfile::TempDir,
    log: PathBuf,
    what: &'static str,
}

impl Peer {
    fn spawn(what: &'static str, mut cmd: Command, dir: tempfile::TempDir) -> Peer {
        let log = dir.path().join("peer.log");
        let out = std::fs::File::create(&log).expect("create peer log");
        let err = out.try_clone().expect("clone log handle");
        cmd.stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .stdin(Stdio::null())
            .process_group(0);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        Peer {
            child,
            _dir: dir,
            log,
            what,
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// Waits until the peer answers a v2c GET with `community`; panics with its log if not.
    fn wait_ready(&mut self, port: u16, community: &str) {
        let started = Instant::now();
        while started.elapsed() < START_TIMEOUT {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited early ({status}); log:\n{}",
                    self.what,
                    self.log_tail()
                );
            }
            if answers(port, community) {
                return;
            }
        }
        panic!(
            "{} did not answer on 127.0.0.1:{port} within {START_TIMEOUT:?}; log:\n{}",
            self.what,
            self.log_tail()
        );
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let pid = self.child.id() as i32;
        // SAFETY: plain kill(2) of the process group this rig created.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free UDP port on 127.0.0.1 (the kernel's choice, released for the peer to bind).
pub fn free_udp_port() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind a probe socket");
    s.local_addr().expect("local addr").port()
}

/// Sends a hand-built v2c GET of sysUpTime.0 and waits briefly for any answer.
fn answers(port: u16, community: &str) -> bool {
    let Ok(s) = UdpSocket::bind("127.0.0.1:0") else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
    if s.send_to(&v2c_get_sysuptime(community), ("127.0.0.1", port))
        .is_err()
    {
        std::thread::sleep(Duration::from_millis(200));
        return false;
    }
    let mut buf = [0u8; 1500];
    s.recv_from(&mut buf).is_ok()
}

/// BER: SEQUENCE { version 1, community, GetRequest { id 1, 0, 0, { { sysUpTime.0, NULL } } } }.
fn v2c_get_sysuptime(community: &str) -> Vec<u8> {
    let oid = [0x2b, 6, 1, 2, 1, 1, 3, 0];
    let mut varbind = vec![0x06, oid.len() as u8];
    varbind.extend_from_slice(&oid);
    varbind.extend_from_slice(&[0x05, 0x00]);
    let list = tlv(0x30, &tlv(0x30, &varbind));
    let mut pdu = vec![0x02, 1, 1, 0x02, 1, 0, 0x02, 1, 0];
    pdu.extend_from_slice(&list);
    let mut msg = vec![0x02, 1, 1];
    msg.extend_from_slice(&tlv(0x04, community.as_bytes()));
    msg.extend_from_slice(&tlv(0xa0, &pdu));
    tlv(0x30, &msg)
}

fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    assert!(body.len() < 128, "rig packets stay short");
    let mut v = vec![tag, body.len() as u8];
    v.extend_from_slice(body);
    v
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("driftvakt-snmp-")
        .tempdir()
        .expect("temp dir")
}

/// net-snmp's snmpd on a free loopback port.
pub struct Snmpd {
    pub port: u16,
    /// Killed (its process group) when dropped.
    _peer: Peer,
}

impl Snmpd {
    pub fn start() -> Snmpd {
        assert!(
            Path::new(SNMPD).exists(),
            "{SNMPD} is missing: install the Debian package `snmpd` (apt-get install -y snmpd)"
        );
        let dir = temp_dir();
        let port = free_udp_port();
        let conf = dir.path().join("snmpd.conf");
        std::fs::write(&conf, snmpd_config(port)).expect("write snmpd.conf");
        let mut cmd = Command::new(SNMPD);
        cmd.args(["-f", "-Lo", "-C", "-c"])
            .arg(&conf)
            .arg("-p")
            .arg(dir.path().join("snmpd.pid"))
            .env("SNMP_PERSISTENT_DIR", dir.path().join("persist"))
            .env("MIBS", "")
            .env("MIBDIRS", dir.path());
        let mut peer = Peer::spawn("snmpd", cmd, dir);
        peer.wait_ready(port, COMMUNITY);
        Snmpd { port, _peer: peer }
    }
}

fn snmpd_config(port: u16) -> String {
    let template = std::fs::read_to_string(data_dir().join("snmpd.conf.in"))
        .expect("read tests/snmp/snmpd.conf.in");
    template
        .replace("@PORT@", &port.to_string())
        .replace("@COMMUNITY@", COMMUNITY)
        .replace("@USER_SHA_AES@", USER_SHA_AES)
        .replace("@USER_MD5_DES@", USER_MD5_DES)
        .replace("@USER_SHA256@", USER_SHA256)
        .replace("@AUTH_PASS@", AUTH_PASS)
        .replace("@PRIV_PASS@", PRIV_PASS)
}

/// snmpsim serving `.snmprec` files on a free loopback port; community = file name.
pub struct Snmpsim {
    pub port: u16,
    data: PathBuf,
    /// Killed (its process group) when dropped.
    _peer: Peer,
}

impl Snmpsim {
    /// Serves the given files (paths relative to `tests/snmp`, or absolute).
    pub fn start(files: &[&str]) -> Snmpsim {
        let binary = snmpsim_binary();
        let dir = temp_dir();
        let data = dir.path().join("data");
        let cache = dir.path().join("cache");
        std::fs::create_dir_all(&data).expect("data dir");
        std::fs::create_dir_all(&cache).expect("cache dir");
        for f in files {
            let src = data_dir().join(f);
            assert!(
                src.exists(),
                "recording {} is missing (the shared device recordings live in ../shared/devices \
                 beside the repository)",
                src.display()
            );
            let name = src.file_name().expect("file name").to_owned();
            std::fs::copy(&src, data.join(name))
                .unwrap_or_else(|e| panic!("copy {}: {e}", src.display()));
        }
        make_readable_by_nobody(dir.path(), &data, &cache);
        let port = free_udp_port();
        let mut cmd = Command::new(binary);
        cmd.arg(format!("--data-dir={}", data.display()))
            .arg(format!("--cache-dir={}", cache.display()))
            .arg(format!("--agent-udpv4-endpoint=127.0.0.1:{port}"))
            .args(["--process-user=nobody", "--process-group=nogroup"]);
        let community = Path::new(files[0])
            .file_stem()
            .expect("file stem")
            .to_string_lossy()
            .into_owned();
        let mut peer = Peer::spawn("snmpsimd", cmd, dir);
        peer.wait_ready(port, &community);
        Snmpsim {
            port,
            data,
            _peer: peer,
        }
    }

    /// Replaces a served file (by community) and gives it a newer mtime so snmpsim re-reads it.
    pub fn replace(&self, community: &str, contents: &str) {
        let path = self.data.join(format!("{community}.snmprec"));
        let old = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .expect("served file");
        std::fs::write(&path, contents).expect("rewrite data file");
        let f = std::fs::File::options()
            .write(true)
            .open(&path)
            .expect("open");
        f.set_modified(old + Duration::from_secs(3))
            .expect("set mtime");
    }
}

fn snmpsim_binary() -> &'static str {
    for b in ["snmpsim-command-responder", "snmpsimd"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {b}")])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if found {
            return b;
        }
    }
    panic!(
        "neither snmpsim-command-responder nor snmpsimd is on PATH: install the Debian package \
         `snmpsim` (apt-get install -y snmpsim)"
    );
}

fn make_readable_by_nobody(root: &Path, data: &Path, cache: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let set = |p: &Path, mode: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod")
    };
    set(root, 0o755);
    set(data, 0o755);
    set(cache, 0o777);
    for e in std::fs::read_dir(data).expect("read data dir") {
        set(&e.expect("entry").path(), 0o644);
    }
}

/// A folder holding an agent config and its secret files.
pub struct Lab {
    pub dir: tempfile::TempDir,
}

impl Lab {
    pub fn new() -> Lab {
        Lab { dir: temp_dir() }
    }

    /// Writes a secret file (relative to the config's folder), readable by its owner only, as
    /// the agent requires of secret files.
    pub fn secret(&self, name: &str, value: &str) {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir.path().join(name);
        std::fs::write(&path, format!("{value}\n")).expect("write secret");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .expect("secret file mode 0600");
    }

    /// Writes `agent.yaml` and loads it the way the agent does.
    pub fn config(&self, yaml: &str) -> AgentConfig {
        let path = self.dir.path().join("agent.yaml");
        std::fs::write(&path, yaml).expect("write config");
        AgentConfig::load(&path).unwrap_or_else(|e| panic!("config does not load:\n{e}"))
    }
}

/// Runs the first SNMP check of device `id` with the given prober.
pub async fn probe(
    prober: &SnmpProber,
    config: &AgentConfig,
    id: &str,
    timeout: Duration,
) -> Outcome {
    let device = config
        .file
        .devices
        .iter()
        .find(|d| d.id.value == id)
        .unwrap_or_else(|| panic!("no device {id}"));
    let check = snmp_check(device.checks());
    prober.probe(&Target { device }, &check, timeout).await
}

fn snmp_check(checks: Vec<CheckSpec>) -> SnmpCheck {
    checks
        .into_iter()
        .find_map(|c| match c {
            CheckSpec::Snmp(s) => Some(s),
            _ => None,
        })
        .expect("device has an snmp check")
}

/// Finding codes, in order.
pub fn codes(o: &Outcome) -> Vec<&str> {
    o.findings.iter().map(|f| f.code.as_str()).collect()
}

/// One device of a config against snmpsim: id, class, community (data file name) and extra
/// lines for its snmp check (each indented by eight spaces).
pub struct SimDevice<'a> {
    pub id: &'a str,
    pub class: &'a str,
    pub community: &'a str,
    pub extra: &'a [&'a str],
}

/// A config with one v2c credentials entry per community (community from a secret file) and
/// the devices pointing at snmpsim's port.
pub fn sim_config(lab: &Lab, port: u16, devices: &[SimDevice<'_>]) -> AgentConfig {
    let mut creds = String::new();
    let mut devs = String::new();
    for d in devices {
        lab.secret(&format!("{}.community", d.id), d.community);
        creds.push_str(&format!(
            "  - id: {id}\n    version: v2c\n    community: {{ file: {id}.community }}\n",
            id = d.id
        ));
        devs.push_str(&format!(
            "  - id: {id}\n    class: {class}\n    address: 127.0.0.1\n    checks:\n      - kind: snmp\n        port: {port}\n        credentials: {id}\n",
            id = d.id,
            class = d.class
        ));
        for line in d.extra {
            devs.push_str(&format!("        {line}\n"));
        }
    }
    lab.config(&format!(
        "agent:\n  id: test\nsnmp_credentials:\n{creds}devices:\n{devs}"
    ))
}

/// The shared recordings of real devices (`../shared/devices` beside the repository): some
/// are GPL-licensed and may only be used from there, never copied into the project.
pub fn shared_devices_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/devices")
}

/// A text value, or a panic naming what is there.
pub fn text(o: &Outcome, key: &str) -> String {
    match o.values.get(key) {
        Some(driftvakt_common::wire::Value::Text(t)) => t.clone(),
        other => panic!("{key}: {other:?} in {o:#?}"),
    }
}

/// A prober for `config`, secrets resolved against its folder.
pub fn prober_for(config: &AgentConfig) -> SnmpProber {
    let base = config.path.parent().expect("config folder");
    SnmpProber::new(&config.file.snmp_credentials, base, SystemClock.now())
        .expect("credentials resolve")
}

/// A number value, or a panic naming what is there.
pub fn number(o: &Outcome, key: &str) -> f64 {
    match o.values.get(key) {
        Some(driftvakt_common::wire::Value::Number(n)) => *n,
        other => panic!("{key}: {other:?} in {o:#?}"),
    }
}

/// A flag value.
pub fn flag(o: &Outcome, key: &str) -> bool {
    match o.values.get(key) {
        Some(driftvakt_common::wire::Value::Bool(b)) => *b,
        other => panic!("{key}: {other:?} in {o:#?}"),
    }
}

/// A series value's samples.
pub fn samples<'o>(o: &'o Outcome, key: &str) -> &'o [driftvakt_common::wire::Sample] {
    match o.values.get(key) {
        Some(driftvakt_common::wire::Value::Series(s)) => s,
        other => panic!("{key}: {other:?} in {o:#?}"),
    }
}

/// The sample whose label `label` is `value`.
pub fn sample_where<'o>(
    o: &'o Outcome,
    key: &str,
    label: &str,
    value: &str,
) -> &'o driftvakt_common::wire::Sample {
    samples(o, key)
        .iter()
        .find(|s| s.labels.get(label).map(String::as_str) == Some(value))
        .unwrap_or_else(|| panic!("{key}: no sample with {label}={value} in {o:#?}"))
}
