//! `driftvakt-bench pipeline`: what a running install costs. The real `driftvakt-collector`
//! and one real `driftvakt-agent` in central mode (spool, push, assignment) as child processes,
//! the agent probing `devices` loopback addresses (ICMP, one echo) every `interval_s` seconds,
//! for `seconds` seconds after a warm-up. Per process, from `/proc/PID/{stat,io,status,fd}` at
//! the start and the end of the measured window: CPU time, bytes handed to the storage layer
//! (`write_bytes`, counted when a page is dirtied) and write calls (`syscw`), each per probe
//! (agent, `driftvakt_agent_probes_total`) or per stored result (collector,
//! `driftvakt_results_ingested_total`); RSS and open files at both ends.
//!
//! `--agent` and `--collector` name the binaries, so an earlier build runs the same way;
//! [`run_side_by_side`] runs several builds at the same time (each its own folder and ports), so
//! they share the machine's load, and [`markdown`] adds the ratio of the first build's figures
//! to the last's (`BENCHMARKS.md` has the command).

use crate::collector_bench::{blocking_client, Http};
use crate::collector_gen::token;
use crate::sys;
use crate::sys::free_port;
use crate::targets::address;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What to run and for how long.
#[derive(Debug, Clone)]
pub struct PipelineSpec {
    pub label: String,
    pub agent: PathBuf,
    pub collector: PathBuf,
    pub devices: usize,
    pub interval_s: u64,
    /// Seconds before the measured window (the first rounds, the first pushes).
    pub warmup_s: u64,
    pub seconds: u64,
}

/// One process's counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub cpu_s: f64,
    /// `/proc/PID/io` `write_bytes`.
    pub write_bytes: u64,
    /// `/proc/PID/io` `syscw`.
    pub syscw: u64,
    /// `/proc/PID/io` `wchar` (bytes passed to write calls, sockets included).
    pub wchar: u64,
    pub rss_kib: u64,
    pub open_files: u64,
    /// Probes (agent) or stored results (collector) so far.
    pub count: f64,
}

/// One process over the measured window.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProcFigures {
    pub count: f64,
    pub per_s: f64,
    /// Share of one core.
    pub cpu_share: f64,
    pub cpu_ms_per: f64,
    pub bytes_per: f64,
    pub writes_per: f64,
    pub mb_per_minute: f64,
    pub rss_start_kib: u64,
    pub rss_end_kib: u64,
    pub open_files_start: u64,
    pub open_files_end: u64,
}

/// A whole run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PipelineReport {
    pub label: String,
    pub devices: usize,
    pub interval_s: u64,
    pub seconds: f64,
    pub agent: ProcFigures,
    pub collector: ProcFigures,
    pub load_start: f64,
    pub load_end: f64,
    /// ERROR lines in the two logs.
    pub log_errors: usize,
}

/// The figures of the window from `a` to `b`, `wall_s` seconds long.
pub fn figures(a: &Sample, b: &Sample, wall_s: f64) -> ProcFigures {
    let count = b.count - a.count;
    let per = |x: f64| if count > 0.0 { x / count } else { f64::NAN };
    let bytes = b.write_bytes.saturating_sub(a.write_bytes) as f64;
    let cpu = b.cpu_s - a.cpu_s;
    ProcFigures {
        count,
        per_s: count / wall_s,
        cpu_share: cpu / wall_s,
        cpu_ms_per: per(cpu * 1000.0),
        bytes_per: per(bytes),
        writes_per: per(b.syscw.saturating_sub(a.syscw) as f64),
        mb_per_minute: bytes / 1e6 / wall_s * 60.0,
        rss_start_kib: a.rss_kib,
        rss_end_kib: b.rss_kib,
        open_files_start: a.open_files,
        open_files_end: b.open_files,
    }
}

/// `(write_bytes, syscw, wchar)` from the text of `/proc/PID/io`.
pub fn parse_io(text: &str) -> Result<(u64, u64, u64)> {
    let field = |name: &str| -> Result<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .with_context(|| format!("no {name} in /proc/PID/io"))?
            .trim()
            .parse()
            .with_context(|| format!("{name} in /proc/PID/io"))
    };
    Ok((field("write_bytes")?, field("syscw")?, field("wchar")?))
}

/// The sum of every series of the counter `name` in a Prometheus text exposition.
pub fn counter_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let value = match rest.strip_prefix('{') {
                Some(labelled) => labelled.rsplit_once('}')?.1,
                None => rest,
            };
            // `name_total` must not match `name_total_other`.
            value
                .starts_with(' ')
                .then(|| value.trim().parse::<f64>().ok())?
        })
        .sum()
}

/// A child process stopped (SIGTERM, then SIGKILL) on drop.
struct Proc {
    child: Child,
    metrics: String,
    counter: &'static str,
}

impl Proc {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn sample(&mut self, http: &Http) -> Result<Sample> {
        if let Some(status) = self.child.try_wait()? {
            bail!("{} exited ({status})", self.counter);
        }
        let pid = self.pid();
        let io = std::fs::read_to_string(format!("/proc/{pid}/io"))
            .with_context(|| format!("cannot read /proc/{pid}/io"))?;
        let (write_bytes, syscw, wchar) = parse_io(&io)?;
        let cpu_s = sys::proc_cpu_seconds(pid)?;
        // Before the scrape: serving /metrics may start a thread and touch a new malloc arena,
        // which is the measurement's own cost, not the pipeline's.
        let rss_kib = sys::proc_status_kib(pid, "VmRSS")?;
        let open_files = std::fs::read_dir(format!("/proc/{pid}/fd"))?.count() as u64;
        let (status, body) = http.get(&self.metrics)?;
        if status != 200 {
            bail!("GET {}: {status}", self.metrics);
        }
        Ok(Sample {
            cpu_s,
            write_bytes,
            syscw,
            wchar,
            rss_kib,
            open_files,
            count: counter_sum(&String::from_utf8_lossy(&body), self.counter),
        })
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(bin: &Path, args: &[&str], log: &Path) -> Result<Child> {
    Command::new(bin)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log)?)
        .spawn()
        .with_context(|| format!("cannot start {}", bin.display()))
}

/// The collector's YAML: one site, `devices` switches on loopback addresses, all assigned to
/// agent `a0`.
fn collector_yaml(devices: usize, interval_s: u64, db: &Path) -> String {
    let mut out = format!(
        "collector:\n  database: {}\n  target: 0.991\nsites:\n  - {{ id: s0, name: Site 0, municipality: M0 }}\ndevices:\n",
        db.display()
    );
    for i in 0..devices {
        let _ = writeln!(
            out,
            "  - {{ id: d{i}, class: switch, site: s0, address: {}, interval: {interval_s}s, checks: [{{ kind: icmp, count: 1 }}] }}",
            address(i)
        );
    }
    let ids: Vec<String> = (0..devices).map(|i| format!("d{i}")).collect();
    let _ = writeln!(
        out,
        "agents:\n  - {{ id: a0, token_file: a0.token, devices: [{}] }}",
        ids.join(", ")
    );
    out
}

/// The agent's YAML: central mode against `collector`, defaults otherwise.
fn agent_yaml(collector: u16, metrics: u16) -> String {
    format!(
        "agent:\n  id: a0\n  listen: 127.0.0.1:{metrics}\n  collector:\n    url: http://127.0.0.1:{collector}\n    token: {{ file: a0.token }}\n  spool:\n    dir: spool\n"
    )
}

fn write_token(dir: &Path) -> Result<()> {
    let path = dir.join("a0.token");
    std::fs::write(&path, token(0))?;
    let mode = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600);
    std::fs::set_permissions(&path, mode)?;
    Ok(())
}

/// Polls `url` until it answers 200.
fn wait_ok(http: &Http, url: &str, within: Duration) -> Result<()> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if matches!(http.get(url), Ok((200, _))) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("{url} did not answer within {within:?}")
}

/// Runs the pipeline once and measures it.
pub fn run(spec: &PipelineSpec) -> Result<PipelineReport> {
    let dir = tempfile::tempdir()?;
    let (cdir, adir) = (dir.path().join("collector"), dir.path().join("agent"));
    std::fs::create_dir_all(&cdir)?;
    std::fs::create_dir_all(&adir)?;
    write_token(&cdir)?;
    write_token(&adir)?;
    let cconf = cdir.join("collector.yaml");
    std::fs::write(
        &cconf,
        collector_yaml(spec.devices, spec.interval_s, &cdir.join("c.db")),
    )?;
    let (cport, aport) = (free_port()?, free_port()?);
    let aconf = adir.join("agent.yaml");
    std::fs::write(&aconf, agent_yaml(cport, aport))?;
    let http = blocking_client()?;
    let clog = dir.path().join("collector.log");
    let listen = format!("127.0.0.1:{cport}");
    let cconf_s = cconf.to_string_lossy();
    let child = spawn(
        &spec.collector,
        &["run", "--config", &cconf_s, "--listen", &listen],
        &clog,
    )?;
    let mut collector = Proc {
        child,
        metrics: format!("http://{listen}/metrics"),
        counter: "driftvakt_results_ingested_total",
    };
    wait_ok(
        &http,
        &format!("http://{listen}/healthz"),
        Duration::from_secs(120),
    )?;
    let alog = dir.path().join("agent.log");
    let aconf_s = aconf.to_string_lossy();
    let child = spawn(&spec.agent, &["run", "--config", &aconf_s], &alog)?;
    let mut agent = Proc {
        child,
        metrics: format!("http://127.0.0.1:{aport}/metrics"),
        counter: "driftvakt_agent_probes_total",
    };
    wait_ok(&http, &agent.metrics, Duration::from_secs(60))?;
    std::thread::sleep(Duration::from_secs(spec.warmup_s));
    let load_start = sys::load1();
    let (a0, c0, t0) = (
        agent.sample(&http)?,
        collector.sample(&http)?,
        Instant::now(),
    );
    std::thread::sleep(Duration::from_secs(spec.seconds));
    let (a1, c1) = (agent.sample(&http)?, collector.sample(&http)?);
    let wall_s = t0.elapsed().as_secs_f64();
    let load_end = sys::load1();
    drop(agent);
    drop(collector);
    let log_errors = [&alog, &clog]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|l| l.lines().filter(|l| l.contains("ERROR")).count())
        .sum();
    Ok(PipelineReport {
        label: spec.label.clone(),
        devices: spec.devices,
        interval_s: spec.interval_s,
        seconds: wall_s,
        agent: figures(&a0, &a1, wall_s),
        collector: figures(&c0, &c1, wall_s),
        load_start,
        load_end,
        log_errors,
    })
}

/// Runs every spec at the same time, one thread each; the reports in the order of `specs`.
pub fn run_side_by_side(specs: Vec<PipelineSpec>) -> Result<Vec<PipelineReport>> {
    let handles: Vec<_> = specs
        .into_iter()
        .map(|s| std::thread::spawn(move || run(&s).with_context(|| format!("run `{}`", s.label))))
        .collect();
    handles
        .into_iter()
        .map(|h| {
            h.join()
                .map_err(|_| anyhow::anyhow!("a pipeline run panicked"))?
        })
        .collect()
}

/// The Markdown tables of `reports`: one row per process and run, the load, and with two runs
/// or more the ratio of the first run's per-probe figures to the last's.
pub fn markdown(reports: &[PipelineReport]) -> String {
    let mut out = String::from(
        "| build | process | devices / interval | per s | CPU | CPU ms per probe/result | bytes written per probe/result | write calls per probe/result | MB written a minute | RSS start → end (MiB) | open files start → end |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in reports {
        for (name, f) in [("agent", &r.agent), ("collector", &r.collector)] {
            let _ = writeln!(
                out,
                "| {} | {name} | {} / {} s | {:.0} | {:.1} % | {:.3} | {:.0} | {:.2} | {:.2} | {:.1} → {:.1} | {} → {} |",
                r.label,
                r.devices,
                r.interval_s,
                f.per_s,
                f.cpu_share * 100.0,
                f.cpu_ms_per,
                f.bytes_per,
                f.writes_per,
                f.mb_per_minute,
                f.rss_start_kib as f64 / 1024.0,
                f.rss_end_kib as f64 / 1024.0,
                f.open_files_start,
                f.open_files_end,
            );
        }
    }
    for r in reports {
        let _ = writeln!(
            out,
            "\n`{}`: {:.0} s measured; load average {:.2} at the start, {:.2} at the end; {} ERROR lines in the logs.",
            r.label, r.seconds, r.load_start, r.load_end, r.log_errors
        );
    }
    if let (Some(old), Some(new), true) = (reports.first(), reports.last(), reports.len() > 1) {
        out.push_str(&ratio_table(old, new));
    }
    out
}

/// `old`'s figures divided by `new`'s: how many times cheaper `new` is.
fn ratio_table(old: &PipelineReport, new: &PipelineReport) -> String {
    let mut out = format!(
        "\n| {} ÷ {} | CPU per probe/result | bytes written per probe/result | write calls per probe/result |\n|---|---|---|---|\n",
        old.label, new.label
    );
    let ratio = |a: f64, b: f64| {
        if b > 0.0 {
            format!("{:.1}×", a / b)
        } else {
            "∞".to_string()
        }
    };
    for (name, o, n) in [
        ("agent", &old.agent, &new.agent),
        ("collector", &old.collector, &new.collector),
    ] {
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} |",
            ratio(o.cpu_ms_per, n.cpu_ms_per),
            ratio(o.bytes_per, n.bytes_per),
            ratio(o.writes_per, n.writes_per),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_proc_io_and_prometheus_counters() {
        let io = "rchar: 10\nwchar: 300\nsyscr: 4\nsyscw: 7\nread_bytes: 0\nwrite_bytes: 8192\ncancelled_write_bytes: 0\n";
        assert_eq!(parse_io(io).unwrap(), (8192, 7, 300));
        assert!(parse_io("rchar: 1\n").is_err());
        let text = "# TYPE driftvakt_agent_probes counter\ndriftvakt_agent_probes_total{kind=\"icmp\"} 120\ndriftvakt_agent_probes_total{kind=\"tcp\"} 30\ndriftvakt_agent_probes_total_other 5\ndriftvakt_results_ingested_total{agent=\"a0\"} 7\n";
        assert_eq!(counter_sum(text, "driftvakt_agent_probes_total"), 150.0);
        assert_eq!(counter_sum(text, "driftvakt_results_ingested_total"), 7.0);
        assert_eq!(counter_sum("x_total 3\n", "x_total"), 3.0);
    }

    #[test]
    fn figures_are_per_probe_over_the_window() {
        let a = Sample {
            cpu_s: 10.0,
            write_bytes: 4096,
            syscw: 100,
            wchar: 0,
            rss_kib: 1000,
            open_files: 20,
            count: 1000.0,
        };
        let b = Sample {
            cpu_s: 12.0,
            write_bytes: 4096 + 600_000,
            syscw: 1100,
            wchar: 0,
            rss_kib: 1200,
            open_files: 21,
            count: 21_000.0,
        };
        let f = figures(&a, &b, 100.0);
        assert_eq!(f.count, 20_000.0);
        assert!((f.per_s - 200.0).abs() < 1e-9);
        assert!((f.cpu_share - 0.02).abs() < 1e-9);
        assert!((f.cpu_ms_per - 0.1).abs() < 1e-9);
        assert!((f.bytes_per - 30.0).abs() < 1e-9);
        assert!((f.writes_per - 0.05).abs() < 1e-9);
        assert!((f.mb_per_minute - 0.36).abs() < 1e-9);
        assert_eq!((f.rss_start_kib, f.rss_end_kib), (1000, 1200));
        assert!(markdown(&[PipelineReport {
            label: "new".into(),
            devices: 2000,
            interval_s: 10,
            seconds: 100.0,
            agent: f.clone(),
            collector: f,
            load_start: 0.0,
            load_end: 0.0,
            log_errors: 0,
        }])
        .contains("| new | agent | 2000 / 10 s | 200 | 2.0 % | 0.100 | 30 | 0.05 | 0.36 |"));
    }

    #[test]
    fn two_runs_print_the_ratio_of_the_first_to_the_last() {
        let f = |cpu_ms_per: f64, bytes_per: f64| ProcFigures {
            count: 1.0,
            per_s: 200.0,
            cpu_share: 0.0,
            cpu_ms_per,
            bytes_per,
            writes_per: 1.0,
            mb_per_minute: 0.0,
            rss_start_kib: 0,
            rss_end_kib: 0,
            open_files_start: 0,
            open_files_end: 0,
        };
        let report = |label: &str, agent: ProcFigures, collector: ProcFigures| PipelineReport {
            label: label.into(),
            devices: 2000,
            interval_s: 10,
            seconds: 600.0,
            agent,
            collector,
            load_start: 1.5,
            load_end: 2.5,
            log_errors: 0,
        };
        let text = markdown(&[
            report("old", f(0.34, 4400.0), f(0.15, 3300.0)),
            report("new", f(0.05, 550.0), f(0.03, 0.0)),
        ]);
        assert!(text.contains("| old ÷ new |"), "{text}");
        assert!(text.contains("| agent | 6.8× | 8.0× | 1.0× |"), "{text}");
        assert!(text.contains("| collector | 5.0× | ∞ | 1.0× |"), "{text}");
        assert!(
            text.contains("load average 1.50 at the start, 2.50 at the end"),
            "{text}"
        );
        assert!(!markdown(&[report("new", f(1.0, 1.0), f(1.0, 1.0))]).contains(" ÷ "));
    }
}
