//! The whole benchmark in one run on one machine: the agent and its peers side by side.
//!
//! The agent runs in child processes of this binary (`probe-run`, `steady-run`) so its CPU and
//! memory are its own; the loopback HTTP/TCP servers run in another child (`serve`); the peers
//! run as their own processes. This process only orchestrates and drives the exporters.

use crate::agent_run::{FlatOutReport, SteadyReport};
use crate::collector_bench;
use crate::peers::{self, Exporter};
use crate::report::{Report, Row};
use crate::sys;
use crate::targets::{addresses, Kind};
use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdin, Command, Stdio};

/// What to run.
#[derive(Debug, Clone)]
pub struct CompareSpec {
    pub sizes: Vec<usize>,
    pub kinds: Vec<Kind>,
    /// Probes in flight for the agent's flat-out runs.
    pub concurrency: usize,
    /// Concurrent `/probe` requests to blackbox_exporter.
    pub exporter_concurrency: usize,
    pub timeout_ms: u64,
    /// Runs per flat-out row; the one with the median rate is kept.
    pub repeat: usize,
    /// Run fping and the exporters (when installed).
    pub peers: bool,
    /// `/snmp` requests sent to snmp_exporter (0: skip SNMP).
    pub snmp_requests: usize,
    /// Interfaces of the many-interface SNMP case (a network namespace); 0 skips it.
    pub snmp_interfaces: usize,
    pub steady: Option<SteadyArgs>,
    /// Skip every agent row (flat out, SNMP, steady state).
    pub no_agent: bool,
    pub collector: Option<CollectorArgs>,
    pub command: String,
}

/// The collector part.
#[derive(Debug, Clone)]
pub struct CollectorArgs {
    /// Inventory sizes of the ingest runs (none: skip ingest).
    pub ingest_devices: Vec<usize>,
    pub agents: usize,
    pub batch_size: usize,
    /// Batches per agent.
    pub batches: usize,
    /// Devices of the year of history (0: skip it).
    pub history_devices: usize,
    pub history_outages: usize,
}

/// The steady-state part.
#[derive(Debug, Clone)]
pub struct SteadyArgs {
    pub targets: usize,
    pub interval_s: u64,
    pub window_s: u64,
    /// One run per count of echo requests per probe.
    pub icmp_counts: Vec<u16>,
}

/// Runs everything in `spec`, printing each row on stderr as it completes.
pub fn compare(spec: &CompareSpec) -> Result<Report> {
    let mut report = Report {
        machine: sys::machine(),
        command: spec.command.clone(),
        load_start: sys::load(),
        ..Report::default()
    };
    if !spec.no_agent {
        agent_part(spec, &mut report)?;
    }
    if let Some(c) = &spec.collector {
        collector_part(c, &mut report)?;
    }
    report.load_end = sys::load();
    Ok(report)
}

/// The collector's ingest runs and its year of history.
fn collector_part(c: &CollectorArgs, report: &mut Report) -> Result<()> {
    for &n in &c.ingest_devices {
        let row = collector_bench::ingest(n, c.agents, c.batch_size, c.batches)?;
        eprintln!("{}", serde_json::to_string(&row)?);
        report.ingest.push(row);
    }
    if c.history_devices > 0 {
        let row = collector_bench::history(c.history_devices, c.history_outages)?;
        eprintln!("{}", serde_json::to_string(&row)?);
        report.history = Some(row);
    }
    Ok(())
}

/// The agent's rows, its peers', SNMP and the steady state.
fn agent_part(spec: &CompareSpec, report: &mut Report) -> Result<()> {
    let servers = Servers::start()?;
    let dir = tempfile::tempdir()?;
    for &n in &spec.sizes {
        for &kind in &spec.kinds {
            for row in rows_for(spec, kind, n, &servers, dir.path())? {
                eprintln!("{}", serde_json::to_string(&row)?);
                report.rows.push(row);
            }
        }
    }
    if spec.snmp_requests > 0 {
        report.rows.extend(snmp_rows(spec)?);
    }
    if let Some(steady) = &spec.steady {
        for &count in &steady.icmp_counts {
            let s = run_steady(steady, count)?;
            eprintln!("{}", serde_json::to_string(&s)?);
            report.steady.push(s);
        }
    }
    Ok(())
}

/// The agent's row and its peers' rows for one kind and size.
fn rows_for(
    spec: &CompareSpec,
    kind: Kind,
    n: usize,
    servers: &Servers,
    dir: &std::path::Path,
) -> Result<Vec<Row>> {
    let port = match kind {
        Kind::Icmp => 0,
        Kind::Http => servers.http,
        Kind::Tcp => servers.tcp,
        // SNMP has rows of its own (`snmp_rows`), against snmpd.
        Kind::Snmp => return Ok(Vec::new()),
        Kind::Dns | Kind::Sip | Kind::Radius => {
            return Ok(vec![median_of(spec.repeat, || service_row(spec, kind, n))?])
        }
    };
    let repeat = spec.repeat;
    let mut rows = vec![median_of(repeat, || agent_flat_out(spec, kind, n, port))?];
    if !spec.peers {
        return Ok(rows);
    }
    if kind == Kind::Icmp && peers::installed("fping") {
        rows.push(median_of(repeat, || peers::fping(&addresses(n), dir))?);
    }
    if peers::installed(BLACKBOX) {
        rows.push(median_of(repeat, || blackbox(spec, kind, n, port))?);
    }
    Ok(rows)
}

/// Measures `times` times and keeps the run with the median rate (short runs are noisy).
fn median_of(times: usize, mut measure: impl FnMut() -> Result<Row>) -> Result<Row> {
    let mut runs = (0..times.max(1))
        .map(|_| measure())
        .collect::<Result<Vec<Row>>>()?;
    runs.sort_by(|a, b| a.probes_per_s().total_cmp(&b.probes_per_s()));
    Ok(runs.swap_remove(runs.len() / 2))
}

const BLACKBOX: &str = "prometheus-blackbox-exporter";
const SNMP_EXPORTER: &str = "prometheus-snmp-exporter";

/// `driftvakt-bench probe-run` in a child process.
fn agent_flat_out(spec: &CompareSpec, kind: Kind, n: usize, port: u16) -> Result<Row> {
    let load = sys::load1();
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(["probe-run", "--kind", kind.as_str()])
        .args(["--targets", &n.to_string()])
        .args(["--concurrency", &spec.concurrency.to_string()])
        .args(["--timeout-ms", &spec.timeout_ms.to_string()])
        .args(["--port", &port.to_string()]);
    let (out, _) = run_child(cmd)?;
    let report: FlatOutReport =
        serde_json::from_str(out.trim()).with_context(|| format!("probe-run printed {out:?}"))?;
    if !report.errors.is_empty() {
        eprintln!(
            "driftvakt {} {n}: failures {:?}",
            kind.as_str(),
            report.errors
        );
    }
    Ok(Row {
        probes: report.probes,
        failures: report.failures,
        wall_s: report.wall_s,
        cpu_s: report.cpu_s,
        peak_rss_kib: report.peak_rss_kib,
        load,
        ..Row::new(kind.as_str(), "driftvakt", n)
    })
}

/// Probes in flight against the one server of a `dns`, `sip` or `radius` row: a single unbound,
/// kamailio or FreeRADIUS worker drops what a thousand at once would send.
const SERVICE_CONCURRENCY: usize = 50;

/// The agent's `dns`, `sip` or `radius` probes, `n` of them, against one server started from
/// Debian's package for the row (the test kit's peers, as the probe tests use them).
fn service_row(spec: &CompareSpec, kind: Kind, n: usize) -> Result<Row> {
    use crate::targets::{DNS_RECORD, DNS_ZONE, RADIUS_PASSWORD, RADIUS_SECRET, RADIUS_USER};
    use driftvakt_testkit::{freeradius, kamailio, unbound};
    enum Peer {
        Dns(unbound::UnboundPeer),
        Sip(kamailio::KamailioPeer),
        Radius(freeradius::FreeradiusPeer),
    }
    let program = match kind {
        Kind::Dns => unbound::UNBOUND,
        Kind::Sip => kamailio::KAMAILIO,
        _ => freeradius::FREERADIUS,
    };
    if !std::path::Path::new(program).exists() {
        return Ok(Row::pending(
            kind.as_str(),
            "driftvakt",
            n,
            &format!("{program} not installed"),
        ));
    }
    let peer = match kind {
        Kind::Dns => Peer::Dns(unbound::UnboundPeer::start(DNS_ZONE, &[DNS_RECORD])),
        Kind::Sip => {
            let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
            Peer::Sip(kamailio::KamailioPeer::start(
                &cert.cert.pem(),
                &cert.signing_key.serialize_pem(),
            ))
        }
        _ => Peer::Radius(freeradius::FreeradiusPeer::start(
            RADIUS_SECRET,
            RADIUS_USER,
            RADIUS_PASSWORD,
        )),
    };
    let port = match &peer {
        Peer::Dns(p) => p.port,
        Peer::Sip(p) => p.port,
        Peer::Radius(p) => p.port,
    };
    let capped = CompareSpec {
        concurrency: spec.concurrency.min(SERVICE_CONCURRENCY),
        ..spec.clone()
    };
    let row = agent_flat_out(&capped, kind, n, port);
    drop(peer);
    row
}

/// Runs `cmd` to the end, returning its standard output and resource usage.
fn run_child(mut cmd: Command) -> Result<(String, sys::ChildUsage)> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot start a benchmark child")?;
    let mut out = String::new();
    child
        .stdout
        .take()
        .context("child stdout")?
        .read_to_string(&mut out)?;
    let usage = sys::wait_with_usage(&child)?;
    if !usage.success {
        bail!("benchmark child failed (exit {})", usage.exit_code);
    }
    Ok((out, usage))
}

/// blackbox_exporter's module for `kind`, driven over `n` targets.
fn blackbox(spec: &CompareSpec, kind: Kind, n: usize, port: u16) -> Result<Row> {
    let exporter = Exporter::start(BLACKBOX, &peers::blackbox_config(spec.timeout_ms))?;
    let paths = addresses(n)
        .into_iter()
        .map(|ip| match kind {
            Kind::Icmp => format!("/probe?module=icmp&target={ip}"),
            Kind::Http => format!("/probe?module=http_2xx&target=http://{ip}:{port}/"),
            Kind::Tcp | Kind::Snmp | Kind::Dns | Kind::Sip | Kind::Radius => {
                format!("/probe?module=tcp_connect&target={ip}:{port}")
            }
        })
        .collect();
    exporter.drive(
        Row::new(kind.as_str(), "blackbox_exporter", n),
        paths,
        spec.exporter_concurrency,
        "\nprobe_success 1",
    )
}

/// The agent's switch profile and snmp_exporter's `if_mib` against snmpd on this host's
/// interfaces and, when asked, on a namespace with `snmp_interfaces` of them.
fn snmp_rows(spec: &CompareSpec) -> Result<Vec<Row>> {
    let host_ifs = std::fs::read_dir("/sys/class/net").map_or(0, |d| d.count());
    if !peers::installed("snmpd") {
        return Ok(vec![Row::pending(
            "snmp",
            "driftvakt",
            host_ifs,
            "snmpd not installed",
        )]);
    }
    let exporter = spec.peers && peers::installed(SNMP_EXPORTER);
    let snmpd = peers::Snmpd::start_local()?;
    let mut rows = snmp_pair(spec, &snmpd, host_ifs, exporter)?;
    drop(snmpd);
    if spec.snmp_interfaces > 0 {
        // lo and the link to the root namespace, then veth pairs up to the count asked.
        let pairs = spec.snmp_interfaces.saturating_sub(2).div_ceil(2);
        let netns = peers::Netns::create("dvbench", pairs)?;
        let n = netns.interfaces()?;
        let snmpd = peers::Snmpd::start_in(&netns)?;
        rows.extend(snmp_pair(spec, &snmpd, n, exporter)?);
    }
    Ok(rows)
}

/// The agent's row and (when `exporter`) snmp_exporter's against one snmpd.
fn snmp_pair(
    spec: &CompareSpec,
    snmpd: &peers::Snmpd,
    interfaces: usize,
    exporter: bool,
) -> Result<Vec<Row>> {
    let agent = median_of(spec.repeat, || agent_snmp(spec, snmpd, interfaces))?;
    eprintln!("{}", serde_json::to_string(&agent)?);
    let mut rows = vec![agent];
    if exporter {
        rows.push(snmp_exporter(spec, snmpd, interfaces)?);
    }
    Ok(rows)
}

/// The agent's switch profile, one walk per request snmp_exporter gets, 10 in flight as there.
fn agent_snmp(spec: &CompareSpec, snmpd: &peers::Snmpd, interfaces: usize) -> Result<Row> {
    let (host, port) = snmpd.address.rsplit_once(':').context("snmpd address")?;
    let load = sys::load1();
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(["probe-run", "--kind", "snmp", "--concurrency", "10"])
        .args(["--targets", &spec.snmp_requests.to_string()])
        .args(["--timeout-ms", "5000", "--port", port, "--host", host]);
    let (out, _) = run_child(cmd)?;
    let report: FlatOutReport =
        serde_json::from_str(out.trim()).with_context(|| format!("probe-run printed {out:?}"))?;
    if !report.errors.is_empty() {
        eprintln!("driftvakt snmp {interfaces}: failures {:?}", report.errors);
    }
    Ok(Row {
        probes: report.probes,
        failures: report.failures,
        wall_s: report.wall_s,
        cpu_s: report.cpu_s,
        peak_rss_kib: report.peak_rss_kib,
        load,
        ..Row::new("snmp", "driftvakt", interfaces)
    })
}

fn snmp_exporter(spec: &CompareSpec, snmpd: &peers::Snmpd, interfaces: usize) -> Result<Row> {
    let exporter = Exporter::start(SNMP_EXPORTER, peers::SNMP_EXPORTER_CONFIG)?;
    let path = format!("/snmp?module=if_mib&target={}", snmpd.address);
    let row = exporter.drive(
        Row::new("snmp", "snmp_exporter", interfaces),
        vec![path; spec.snmp_requests],
        10,
        "ifOperStatus{",
    )?;
    eprintln!("{}", serde_json::to_string(&row)?);
    Ok(row)
}

/// `driftvakt-bench steady-run` in a child process.
fn run_steady(s: &SteadyArgs, icmp_count: u16) -> Result<SteadyReport> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.arg("steady-run")
        .args(["--targets", &s.targets.to_string()])
        .args(["--interval-s", &s.interval_s.to_string()])
        .args(["--window-s", &s.window_s.to_string()])
        .args(["--icmp-count", &icmp_count.to_string()]);
    let (out, _) = run_child(cmd)?;
    serde_json::from_str(out.trim()).with_context(|| format!("steady-run printed {out:?}"))
}

/// The `serve` child: loopback HTTP and TCP servers; it exits when its stdin closes.
struct Servers {
    child: Child,
    _stdin: ChildStdin,
    http: u16,
    tcp: u16,
}

impl Servers {
    fn start() -> Result<Servers> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg("serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start the loopback servers")?;
        let stdin = child.stdin.take().context("serve stdin")?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().context("serve stdout")?).read_line(&mut line)?;
        let ports: serde_json::Value =
            serde_json::from_str(&line).with_context(|| format!("serve printed {line:?}"))?;
        let port = |k: &str| -> Result<u16> {
            let p = ports[k].as_u64().context("serve: no port")?;
            Ok(u16::try_from(p)?)
        };
        Ok(Servers {
            http: port("http")?,
            tcp: port("tcp")?,
            child,
            _stdin: stdin,
        })
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
