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
use std::net::{Ipv4Addr, TcpListener};
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
    let mut summary = String::new();
    child
        .stderr
        .take()
        .context("fping stderr")?
        .read_to_string(&mut summary)?;
    let usage = sys::wait_with_usage(&child)?;
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

/// A free TCP port on loopback (free when asked; the exporter binds it right after).
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
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
        let port = free_port()?;
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

/// A foreground snmpd on a loopback UDP port with community `public`, killed on drop.
pub struct Snmpd {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Snmpd {
    pub fn start() -> Result<Snmpd> {
        let dir = tempfile::tempdir()?;
        let port = std::net::UdpSocket::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let conf = dir.path().join("snmpd.conf");
        std::fs::write(
            &conf,
            format!("agentAddress udp:127.0.0.1:{port}\nrocommunity public 127.0.0.1\n"),
        )?;
        let child = Command::new("snmpd")
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
            port,
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
