//! The agent binary with a trap receiver, its `/metrics`, and net-snmp's senders.

use crate::rig::{free_udp_port, Lab};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The v1/v2c community the receiver accepts.
pub const COMMUNITY: &str = "trap-community";
/// The SNMPv3 user the receiver accepts (SHA/AES authPriv).
pub const USER: &str = "trap-user";
pub const AUTH_PASS: &str = "trap-auth-pass-1";
pub const PRIV_PASS: &str = "trap-priv-pass-1";

/// A running `driftvakt-agent run`, killed when dropped.
pub struct Agent {
    child: Child,
    pub trap_port: u16,
    pub metrics_port: u16,
    pub lab: Lab,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port on 127.0.0.1.
fn free_tcp_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

impl Agent {
    /// Starts the agent with a trap receiver and `devices` (YAML list items, two-space
    /// indented under `devices:`), `sim` as the v2c community file of the credentials `sim`.
    pub fn start(sim_community: &str, devices: &str, extra_agent: &str) -> Agent {
        let lab = Lab::new();
        lab.secret("sim.community", sim_community);
        lab.secret("trap.community", COMMUNITY);
        lab.secret("trap.auth", AUTH_PASS);
        lab.secret("trap.priv", PRIV_PASS);
        std::fs::create_dir_all(lab.dir.path().join("spool")).expect("spool dir");
        let trap_port = free_udp_port();
        let metrics_port = free_tcp_port();
        let yaml = format!(
            "agent:\n  id: trap-test\n  listen: 127.0.0.1:{metrics_port}\n  spool:\n    dir: spool\n  \
             traps:\n    listen: 127.0.0.1:{trap_port}\n    communities: [{{ file: trap.community }}]\n    \
             users: [trapuser]\n{extra_agent}\
             snmp_credentials:\n  - id: sim\n    version: v2c\n    community: {{ file: sim.community }}\n  \
             - id: trapuser\n    version: v3\n    user: {USER}\n    auth_protocol: sha\n    \
             auth_password: {{ file: trap.auth }}\n    priv_protocol: aes\n    priv_password: {{ file: trap.priv }}\n\
             devices:\n{devices}"
        );
        let config = lab.config(&yaml);
        let log = std::fs::File::create(lab.dir.path().join("agent.log")).expect("log");
        let child = Command::new(env!("CARGO_BIN_EXE_driftvakt-agent"))
            .args(["run", "--config"])
            .arg(&config.path)
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start the agent");
        let agent = Agent {
            child,
            trap_port,
            metrics_port,
            lab,
        };
        agent.wait_for(
            |m| m.contains("driftvakt_traps_total"),
            "the agent's /metrics",
        );
        // /metrics is served before the receiver binds: wait for the receiver too.
        agent.wait_for(
            |_| agent.log().contains("receiving SNMP traps"),
            "the trap receiver",
        );
        agent
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.lab.dir.path().join("agent.log")).unwrap_or_default()
    }

    /// `/metrics` as text (empty while the agent does not answer).
    pub fn metrics(&self) -> String {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.metrics_port)) else {
            return String::new();
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let req = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
        if s.write_all(req.as_bytes()).is_err() {
            return String::new();
        }
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    /// `driftvakt_traps_total{result=...}`.
    pub fn traps(&self, result: &str) -> u64 {
        let prefix = format!("driftvakt_traps_total{{result=\"{result}\"}} ");
        self.metrics()
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Waits up to 15 s until `ok(/metrics)`; panics with the log if not.
    pub fn wait_for(&self, ok: impl Fn(&str) -> bool, what: &str) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(15) {
            if ok(&self.metrics()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "no {what} within 15 s; metrics:\n{}\nagent log:\n{}",
            self.metrics(),
            self.log()
        );
    }

    /// Waits until `driftvakt_traps_total{result}` is `n`, and checks it stays there briefly
    /// (no second count for one trap).
    pub fn wait_count(&self, result: &str, n: u64) {
        self.wait_for(
            |m| {
                m.contains(&format!(
                    "driftvakt_traps_total{{result=\"{result}\"}} {n}\n"
                ))
            },
            &format!("{result} = {n}"),
        );
    }

    /// `snmptrap`/`snmpinform` (net-snmp) with `args`, to this agent; panics unless it exits 0.
    pub fn send(&self, tool: &str, args: &[&str]) {
        send(
            tool,
            args,
            &format!("127.0.0.1:{}", self.trap_port),
            self.lab.dir.path(),
        )
    }
}

/// net-snmp's `tool` sending to `to`; the arguments before the address, then the rest after
/// it: `args` is split at `@` (the address's place).
pub fn send(tool: &str, args: &[&str], to: &str, dir: &Path) {
    assert!(
        Path::new(&format!("/usr/bin/{tool}")).exists(),
        "/usr/bin/{tool} is missing: install the Debian package `snmp` (apt-get install -y snmp)"
    );
    let args: Vec<&str> = args
        .iter()
        .map(|a| if *a == "@" { to } else { a })
        .collect();
    let out = Command::new(tool)
        .args(&args)
        .env("MIBS", "")
        .env("MIBDIRS", dir)
        .env("SNMP_PERSISTENT_DIR", dir.join("net-snmp"))
        .env("SNMPCONFPATH", dir.join("net-snmp"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {tool}: {e}"));
    assert!(
        out.status.success(),
        "{tool} {args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
