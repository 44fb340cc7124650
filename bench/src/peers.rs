//! The peers the agent is measured against, run the way their users run them:
//!
//! - `fping -q -c1 -t500 -r0 -i0 -f LIST`: one process sweeps the list; its CPU and peak RSS
//!   come from wait4.
//! - `prometheus-blackbox-exporter` (modules `icmp`, `http_2xx`, `tcp_connect`) and
//!   `prometheus-snmp-exporter` (module `if_mib`): long-running servers driven with concurrent
//!   `/probe` (`/snmp`) requests from this process; their CPU is read from `/proc/PID/stat`
//!   before and after, their peak RSS from `VmHWM`. A fresh exporter serves each row so every
//!   row's peak is its own.

use crate::report::Row;
use crate::sys;
use anyhow::{bail, Context, Result};
use futures::StreamExt;
use std::io::Read;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether `program` is on PATH.
pub fn installed(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// fping over `addrs`, flat out, as the issue prescribes.
pub fn fping(addrs: &[Ipv4Addr], dir: &Path) -> Result<Row> {
    let list = dir.join("fping.list");
    let text: String = addrs.iter().map(|a| format!("{a}\n")).collect();
    std::fs::write(&list, text)?;
    let load = sys::load1();
    let started = Instant::now();
    let mut child = Command::new("fping")
        .args(["-q", "-c1", "-t500", "-r0", "-i0", "-f"])
        .arg(&list)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start fping")?;
    let mut stderr = child.stderr.take().context("fping stderr")?;
    let reader = std::thread::spawn(move || {
        let mut summary = String::new();
        stderr.read_to_string(&mut summary).map(|_| summary)
    });
    let usage = sys::wait_polling_peak_rss(&child)?;
    let summary = reader.join().expect("fping reader panicked")?;
    let wall_s = started.elapsed().as_secs_f64();
    if usage.exit_code > 1 {
        bail!("fping failed (exit {}): {summary}", usage.exit_code);
    }
    let (probes, failures) = fping_counts(&summary);
    Ok(Row {
        probes,
        failures,
        wall_s,
        cpu_s: usage.cpu_seconds,
        peak_rss_kib: usage.max_rss_kib,
        load,
        ..Row::new("icmp", "fping", addrs.len())
    })
}

/// (targets summarised, targets without a reply) from fping's `-q -c1` summary lines,
/// `127.1.0.1 : xmt/rcv/%loss = 1/1/0%, min/avg/max = ...`.
fn fping_counts(summary: &str) -> (u64, u64) {
    let mut probes = 0;
    let mut failures = 0;
    for line in summary.lines() {
        let Some((_, stats)) = line.split_once("xmt/rcv/%loss = ") else {
            continue;
        };
        probes += 1;
        let received = stats.split('/').nth(1).and_then(|r| r.parse::<u64>().ok());
        if received.unwrap_or(0) == 0 {
            failures += 1;
        }
    }
    (probes, failures)
}

/// A running exporter process, killed on drop.
pub struct Exporter {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Exporter {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts `program --config.file=CONFIG --web.listen-address=127.0.0.1:PORT` and waits until
    /// it accepts connections.
    pub fn start(program: &str, config: &str) -> Result<Exporter> {
        let dir = tempfile::tempdir()?;
        let path: PathBuf = dir.path().join("config.yml");
        std::fs::write(&path, config)?;
        let port = sys::free_port()?;
        let log = std::fs::File::create(dir.path().join("exporter.log"))?;
        let child = Command::new(program)
            .arg(format!("--config.file={}", path.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {program}"))?;
        let mut exporter = Exporter {
            child,
            port,
            _dir: dir,
        };
        exporter.wait_ready(program)?;
        Ok(exporter)
    }

    fn wait_ready(&mut self, program: &str) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                let log = std::fs::read_to_string(self._dir.path().join("exporter.log"))
                    .unwrap_or_default();
                bail!("{program} exited ({status}): {log}");
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!("{program} did not listen on port {} within 10 s", self.port)
    }

    /// Sends every URL (a path and query on this exporter) with `concurrency` in flight and
    /// measures the exporter's CPU and peak memory meanwhile. A probe succeeded when the
    /// answer is 200 and contains `success_marker`.
    pub fn drive(
        &self,
        row: Row,
        paths: Vec<String>,
        concurrency: usize,
        success_marker: &str,
    ) -> Result<Row> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let client = reqwest::Client::builder().no_proxy().build()?;
        let base = format!("http://127.0.0.1:{}", self.port);
        let load = sys::load1();
        let cpu0 = sys::proc_cpu_seconds(self.pid())?;
        let started = Instant::now();
        let ok = rt.block_on(drive(&client, &base, paths, concurrency, success_marker));
        let wall_s = started.elapsed().as_secs_f64();
        let cpu_s = sys::proc_cpu_seconds(self.pid())? - cpu0;
        Ok(Row {
            probes: ok.0,
            failures: ok.1,
            wall_s,
            cpu_s,
            peak_rss_kib: sys::proc_status_kib(self.pid(), "VmHWM")?,
            load,
            ..row
        })
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// (probes, failures) after sending every request.
async fn drive(
    client: &reqwest::Client,
    base: &str,
    paths: Vec<String>,
    concurrency: usize,
    marker: &str,
) -> (u64, u64) {
    let answers = futures::stream::iter(paths)
        .map(|p| async move {
            let response = client.get(format!("{base}{p}")).send().await.ok()?;
            if !response.status().is_success() {
                return None;
            }
            let body = response.text().await.ok()?;
            body.contains(marker).then_some(())
        })
        .buffer_unordered(concurrency);
    let results: Vec<Option<()>> = answers.collect().await;
    let failures = results.iter().filter(|r| r.is_none()).count() as u64;
    (results.len() as u64, failures)
}

/// blackbox_exporter's configuration: the three modules, IPv4, `timeout_ms` each.
pub fn blackbox_config(timeout_ms: u64) -> String {
    format!(
        "modules:
  icmp:
    prober: icmp
    timeout: {timeout_ms}ms
    icmp:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
  http_2xx:
    prober: http
    timeout: {timeout_ms}ms
    http:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
  tcp_connect:
    prober: tcp
    timeout: {timeout_ms}ms
    tcp:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
"
    )
}

/// snmp_exporter's `if_mib` module with numeric OIDs (Debian ships no MIBs): ifIndex, ifDescr,
/// ifAdminStatus, ifOperStatus, ifHCInOctets, ifHCOutOctets, SNMP v2c community `public`.
pub const SNMP_EXPORTER_CONFIG: &str = "if_mib:
  version: 2
  auth:
    community: public
  timeout: 2s
  retries: 1
  walk:
    - 1.3.6.1.2.1.2.2.1.1
    - 1.3.6.1.2.1.2.2.1.2
    - 1.3.6.1.2.1.2.2.1.7
    - 1.3.6.1.2.1.2.2.1.8
    - 1.3.6.1.2.1.31.1.1.1.6
    - 1.3.6.1.2.1.31.1.1.1.10
  metrics:
    - name: ifIndex
      oid: 1.3.6.1.2.1.2.2.1.1
      type: gauge
      indexes: [{labelname: ifIndex, type: gauge}]
    - name: ifDescr
      oid: 1.3.6.1.2.1.2.2.1.2
      type: DisplayString
      indexes: [{labelname: ifIndex, type: gauge}]
    - name: ifAdminStatus
      oid: 1.3.6.1.2.1.2.2.1.7
      type: gauge
      indexes: [{labelname: ifIndex, type: gauge}]
    - name: ifOperStatus
      oid: 1.3.6.1.2.1.2.2.1.8
      type: gauge
      indexes: [{labelname: ifIndex, type: gauge}]
    - name: ifHCInOctets
      oid: 1.3.6.1.2.1.31.1.1.1.6
      type: counter
      indexes: [{labelname: ifIndex, type: gauge}]
    - name: ifHCOutOctets
      oid: 1.3.6.1.2.1.31.1.1.1.10
      type: counter
      indexes: [{labelname: ifIndex, type: gauge}]
";

/// A foreground snmpd with community `public`, killed on drop.
pub struct Snmpd {
    child: Child,
    /// `IP:PORT` to give snmp_exporter as target.
    pub address: String,
    _dir: tempfile::TempDir,
}

impl Snmpd {
    /// snmpd on a free loopback port of this namespace.
    pub fn start_local() -> Result<Snmpd> {
        let port = std::net::UdpSocket::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        Snmpd::start(None, "127.0.0.1", port, "127.0.0.1")
    }

    /// snmpd inside `netns` on port 161 of [`NETNS_INSIDE`], answering the root side.
    pub fn start_in(netns: &Netns) -> Result<Snmpd> {
        Snmpd::start(Some(&netns.name), NETNS_INSIDE, 161, NETNS_OUTSIDE)
    }

    fn start(netns: Option<&str>, ip: &str, port: u16, client: &str) -> Result<Snmpd> {
        let dir = tempfile::tempdir()?;
        let conf = dir.path().join("snmpd.conf");
        std::fs::write(
            &conf,
            format!("agentAddress udp:{ip}:{port}\nrocommunity public {client}\n"),
        )?;
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "snmpd"]);
                c
            }
            None => Command::new("snmpd"),
        };
        let child = cmd
            .args(["-f", "-Lf", "/dev/null", "-C", "-c"])
            .arg(&conf)
            .arg("-p")
            .arg(dir.path().join("snmpd.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start snmpd")?;
        // snmpd answers within a fraction of a second; the driver's first requests retry anyway.
        std::thread::sleep(Duration::from_millis(500));
        Ok(Snmpd {
            child,
            address: format!("{ip}:{port}"),
            _dir: dir,
        })
    }
}

impl Drop for Snmpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A network namespace holding many interfaces for the many-interface SNMP case: `pairs` veth
/// pairs inside it, plus one veth pair to the root namespace on 198.18.0.0/30 (the benchmarking
/// range) so an snmpd inside is reachable at 198.18.0.2. Deleted on drop, with every interface.
pub struct Netns {
    pub name: String,
}

/// The snmpd address inside [`Netns`], and the root side's.
pub const NETNS_INSIDE: &str = "198.18.0.2";
const NETNS_OUTSIDE: &str = "198.18.0.1";

impl Netns {
    pub fn create(name: &str, pairs: usize) -> Result<Netns> {
        let _ = ip(&["netns", "del", name]);
        ip(&["netns", "add", name])?;
        let rig = Netns { name: name.into() };
        let (outside, inside) = (format!("{name}-o"), format!("{name}-i"));
        ip_batch(
            None,
            &[
                format!("link add {outside} type veth peer name {inside} netns {name}"),
                format!("addr add {NETNS_OUTSIDE}/30 dev {outside}"),
                format!("link set {outside} up"),
            ],
        )?;
        let mut cmds = vec![
            format!("addr add {NETNS_INSIDE}/30 dev {inside}"),
            format!("link set {inside} up"),
            "link set lo up".to_string(),
        ];
        for i in 0..pairs {
            cmds.push(format!("link add v{i}a type veth peer name v{i}b"));
            cmds.push(format!("link set v{i}a up"));
            cmds.push(format!("link set v{i}b up"));
        }
        ip_batch(Some(name), &cmds)?;
        Ok(rig)
    }

    /// How many interfaces the namespace has.
    pub fn interfaces(&self) -> Result<usize> {
        let out = Command::new("ip")
            .args(["-n", &self.name, "-o", "link", "show"])
            .output()?;
        Ok(String::from_utf8_lossy(&out.stdout).lines().count())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.name]);
    }
}

/// Runs `ip [-n NETNS] -batch FILE` over `cmds`.
fn ip_batch(netns: Option<&str>, cmds: &[String]) -> Result<()> {
    let file = tempfile::NamedTempFile::new()?;
    std::fs::write(file.path(), cmds.join("\n") + "\n")?;
    let path = file.path().to_string_lossy().into_owned();
    match netns {
        Some(ns) => ip(&["-n", ns, "-batch", &path]),
        None => ip(&["-batch", &path]),
    }
}

fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("cannot run ip")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_fping_summary() {
        let s = "127.1.0.1 : xmt/rcv/%loss = 1/1/0%, min/avg/max = 0.01/0.01/0.01\n\
                 127.1.0.2 : xmt/rcv/%loss = 1/0/100%\n";
        assert_eq!(fping_counts(s), (2, 1));
    }
}
