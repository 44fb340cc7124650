//! `driftvakt-bench`: the Driftvakt agent measured side by side with fping,
//! blackbox_exporter and snmp_exporter on the same machine in one run.
//!
//! `compare` runs everything and prints a Markdown table; the other subcommands are the
//! pieces it starts as child processes (and can be run alone).

mod agent_run;
mod collector_bench;
mod collector_gen;
mod collector_late;
mod collector_longrun;
mod compare;
mod lag;
mod pages;
mod peers;
mod pg_cluster;
mod pipeline;
mod register;
mod report;
mod servers;
mod sys;
mod targets;
mod traps;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use targets::{ConfigSpec, Kind};

/// Benchmarks of the Driftvakt agent against fping, blackbox_exporter and snmp_exporter.
#[derive(Parser)]
#[command(name = "driftvakt-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// SNMP traps a second through the agent's receiver on one core, and its memory.
    Traps {
        /// Traps to send.
        #[arg(long, default_value_t = 200_000)]
        count: u64,
    },
    /// Run the agent and its peers side by side and print the table.
    Compare {
        /// Target counts (distinct loopback addresses), comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
        sizes: Vec<usize>,
        /// Probe kinds, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "icmp,http,tcp")]
        kinds: Vec<Kind>,
        /// Probes in flight for the agent's flat-out runs.
        #[arg(long, default_value_t = 1000)]
        concurrency: usize,
        /// Concurrent /probe requests to blackbox_exporter.
        #[arg(long, default_value_t = 100)]
        exporter_concurrency: usize,
        /// Probe timeout of the agent and the exporters.
        #[arg(long, default_value_t = 1000)]
        timeout_ms: u64,
        /// Runs per flat-out row; the one with the median rate is reported.
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        /// Measure the agent alone (no fping, no exporters).
        #[arg(long)]
        no_peers: bool,
        /// /snmp requests to snmp_exporter; 0 skips SNMP.
        #[arg(long, default_value_t = 200)]
        snmp_requests: usize,
        /// Interfaces of the many-interface SNMP case (veth pairs in a network namespace the
        /// benchmark makes and deletes); 0 skips it.
        #[arg(long, default_value_t = 200)]
        snmp_interfaces: usize,
        /// Targets of the steady-state run; 0 skips it.
        #[arg(long, default_value_t = 10_000)]
        steady_targets: usize,
        #[arg(long, default_value_t = 10)]
        steady_interval_s: u64,
        /// Measured window of the steady-state run, after one interval of warm-up.
        #[arg(long, default_value_t = 300)]
        steady_seconds: u64,
        /// Echo requests per steady-state probe, one run per count (3 is the agent's default).
        #[arg(long, value_delimiter = ',', default_value = "3,1")]
        steady_icmp_counts: Vec<u16>,
        /// Skip the agent (flat out, SNMP, steady state): the collector only.
        #[arg(long)]
        no_agent: bool,
        /// Skip the collector.
        #[arg(long)]
        no_collector: bool,
        /// Inventory sizes of the collector ingest runs, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "500,5000")]
        collector_devices: Vec<usize>,
        /// Simulated agents posting to the collector at once.
        #[arg(long, default_value_t = 20)]
        collector_agents: usize,
        /// Results per batch.
        #[arg(long, default_value_t = 500)]
        collector_batch_size: usize,
        /// Batches per agent.
        #[arg(long, default_value_t = 10)]
        collector_batches: usize,
        /// Devices of the collector's year of history; 0 skips it.
        #[arg(long, default_value_t = 5000)]
        history_devices: usize,
        /// Outages in that year.
        #[arg(long, default_value_t = 50_000)]
        history_outages: usize,
        /// Also write the Markdown table here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Also write every figure as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Probe every target once with the agent library, flat out; prints one JSON line.
    ProbeRun {
        #[arg(long, value_enum)]
        kind: Kind,
        #[arg(long)]
        targets: usize,
        #[arg(long, default_value_t = 1000)]
        concurrency: usize,
        #[arg(long, default_value_t = 1000)]
        timeout_ms: u64,
        /// Port of the HTTP or TCP server (ignored for ICMP).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Echo requests per ICMP probe.
        #[arg(long, default_value_t = 1)]
        icmp_count: u16,
        /// Address of the snmpd (SNMP only; `--port` is its UDP port).
        #[arg(long, default_value = "127.0.0.1")]
        host: std::net::Ipv4Addr,
    },
    /// Run the library's scheduler over loopback ICMP targets; prints one JSON line.
    SteadyRun {
        #[arg(long)]
        targets: usize,
        #[arg(long, default_value_t = 10)]
        interval_s: u64,
        /// Warm-up before measuring; default one interval.
        #[arg(long)]
        warmup_s: Option<u64>,
        #[arg(long, default_value_t = 300)]
        window_s: u64,
        /// Echo requests per probe; default: the agent's default.
        #[arg(long)]
        icmp_count: Option<u16>,
        /// The agent's default concurrency.
        #[arg(long, default_value_t = 256)]
        concurrency: usize,
        #[arg(long, default_value_t = 1000)]
        timeout_ms: u64,
        /// Tokio worker threads; default one per core, as the agent binary has.
        #[arg(long)]
        worker_threads: Option<usize>,
    },
    /// Ingest into a fresh collector from concurrent simulated agents; one JSON line per size.
    CollectorIngest {
        /// Inventory sizes (devices), comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "500,5000")]
        devices: Vec<usize>,
        #[arg(long, default_value_t = 20)]
        agents: usize,
        /// Results per batch.
        #[arg(long, default_value_t = 500)]
        batch_size: usize,
        /// Batches per agent, comma-separated: one run per count and size (`10,400`: a short
        /// burst beside a sustained run of over a minute at 5,000 devices, past the cluster's
        /// heartbeat, the pruner and the metrics refresh).
        #[arg(long, value_delimiter = ',', default_value = "10")]
        batches: Vec<usize>,
        /// Also on PostgreSQL, beside SQLite: a throwaway cluster (initdb/pg_ctl as the
        /// `postgres` user in a temp folder, 127.0.0.1 only, fsync on), a new database per size.
        #[arg(long)]
        postgres: bool,
    },
    /// What a running install costs: the real collector and one real agent in central mode,
    /// loopback ICMP devices at a steady rate; CPU, bytes and write calls per probe and per
    /// stored result, RSS and open files (see `pipeline.rs`). With `--old-agent` and
    /// `--old-collector`, an earlier build runs at the same time (its own ports and folder) and
    /// a ratio old ÷ new is printed. Prints Markdown tables.
    Pipeline {
        /// The agent binary (default: `driftvakt-agent` beside this binary).
        #[arg(long)]
        agent: Option<PathBuf>,
        /// The collector binary (default: `driftvakt-collector` beside this binary).
        #[arg(long)]
        collector: Option<PathBuf>,
        /// An earlier build's agent, measured side by side (needs `--old-collector`).
        #[arg(long, requires = "old_collector")]
        old_agent: Option<PathBuf>,
        /// An earlier build's collector, measured side by side (needs `--old-agent`).
        #[arg(long, requires = "old_agent")]
        old_collector: Option<PathBuf>,
        #[arg(long, default_value_t = 2000)]
        devices: usize,
        #[arg(long, default_value_t = 10)]
        interval_s: u64,
        #[arg(long, default_value_t = 60)]
        warmup_s: u64,
        /// Measured window.
        #[arg(long, default_value_t = 600)]
        seconds: u64,
        /// Also write the Markdown tables here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Also write every figure as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// One agent posting batches hours late among punctual ones: the punctual agents' batch
    /// latency with and without it; prints one JSON line.
    CollectorLate {
        #[arg(long, default_value_t = 500)]
        devices: usize,
        #[arg(long, default_value_t = 5)]
        agents: usize,
        /// Seconds of each phase (without, then with the late agent).
        #[arg(long, default_value_t = 20)]
        seconds: u64,
    },
    /// Weeks of simulated history through the collector library with retention and pruning:
    /// database size over time, ingest and year-report time on the first and last day, a
    /// month's report before and after pruning; prints one JSON line.
    CollectorLongrun {
        #[arg(long, default_value_t = 100)]
        devices: usize,
        #[arg(long, default_value_t = 60)]
        days: i64,
        #[arg(long, default_value_t = 14)]
        retention_days: i64,
    },
    /// The inventory register at scale: `inventory renewals`, `billing` and `list` over a
    /// history of changes; prints one JSON line and a Markdown table.
    Register {
        #[arg(long, default_value_t = 10_000)]
        devices: usize,
        #[arg(long, default_value_t = 5)]
        repeat: usize,
    },
    /// A year of history, then restart, status, /metrics and reports; prints one JSON line.
    CollectorReport {
        #[arg(long, default_value_t = 5000)]
        devices: usize,
        #[arg(long, default_value_t = 50_000)]
        outages: usize,
    },
    /// Pages at region scale: `/driftinfo/{kommun}` one at a time and with concurrent
    /// readers, the team page whole and per municipality; each build named side by side on
    /// one generated database. Prints one JSON line and a Markdown table.
    Pages {
        #[arg(long, default_value_t = 50_000)]
        devices: usize,
        #[arg(long, default_value_t = 50_000)]
        outages: usize,
        #[arg(long, default_value_t = 100)]
        readers: usize,
        #[arg(long, default_value_t = 30)]
        seconds: u64,
        /// `LABEL=PATH` of a collector binary, repeated (default: `current=` the one beside
        /// this binary).
        #[arg(long = "build")]
        builds: Vec<String>,
    },
    /// The collector library's own `run` and `report`, for when the `driftvakt-collector`
    /// binary is not next to this one (as in the smoke test).
    #[command(hide = true)]
    CollectorExec {
        #[command(subcommand)]
        command: CollectorExec,
    },
    /// Serve HTTP and TCP on loopback until stdin closes; prints the ports as JSON.
    Serve {
        #[arg(long, default_value_t = 0)]
        http_port: u16,
        #[arg(long, default_value_t = 0)]
        tcp_port: u16,
    },
}

/// `driftvakt-collector run` and `report`, through the library.
#[derive(Subcommand)]
enum CollectorExec {
    Run(driftvakt_collector::cli::run::RunArgs),
    Report(driftvakt_collector::cli::report::ReportArgs),
}

fn collector_exec(command: CollectorExec) -> Result<()> {
    match command {
        CollectorExec::Run(args) => {
            let rt = agent_run::runtime(None)?;
            Ok(rt.block_on(driftvakt_collector::cli::run::run(
                args,
                std::sync::Arc::new(driftvakt_collector::clock::SystemClock),
            ))?)
        }
        CollectorExec::Report(args) => {
            println!(
                "{}",
                driftvakt_collector::cli::report::report(
                    &args,
                    std::sync::Arc::new(driftvakt_collector::clock::SystemClock)
                )?
            );
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("driftvakt-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<()> {
    match command {
        Command::ProbeRun {
            kind,
            targets,
            concurrency,
            timeout_ms,
            port,
            icmp_count,
            host,
        } => {
            let spec = ConfigSpec {
                kind,
                targets,
                port,
                concurrency,
                interval_ms: timeout_ms.max(10_000),
                timeout_ms,
                icmp_count: Some(icmp_count),
                host,
            };
            let report = agent_run::runtime(None)?.block_on(agent_run::flat_out(&spec))?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(())
        }
        Command::SteadyRun {
            targets,
            interval_s,
            warmup_s,
            window_s,
            icmp_count,
            concurrency,
            timeout_ms,
            worker_threads,
        } => {
            let spec = agent_run::SteadySpec {
                config: ConfigSpec {
                    kind: Kind::Icmp,
                    targets,
                    port: 0,
                    concurrency,
                    interval_ms: interval_s * 1000,
                    timeout_ms,
                    icmp_count,
                    host: std::net::Ipv4Addr::LOCALHOST,
                },
                warmup: Duration::from_secs(warmup_s.unwrap_or(interval_s)),
                window: Duration::from_secs(window_s),
            };
            let rt = agent_run::runtime(worker_threads)?;
            let report = rt.block_on(agent_run::steady(&spec))?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(())
        }
        Command::Pipeline {
            agent,
            collector,
            old_agent,
            old_collector,
            devices,
            interval_s,
            warmup_s,
            seconds,
            out,
            json,
        } => {
            let beside = |name: &str| -> Result<PathBuf> {
                let exe = std::env::current_exe()?;
                Ok(exe.parent().map(|d| d.join(name)).unwrap_or_default())
            };
            let spec = |label: &str, agent: PathBuf, collector: PathBuf| pipeline::PipelineSpec {
                label: label.to_string(),
                agent,
                collector,
                devices,
                interval_s,
                warmup_s,
                seconds,
            };
            let mut specs = vec![spec(
                "new",
                agent.map_or_else(|| beside("driftvakt-agent"), Ok)?,
                collector.map_or_else(|| beside("driftvakt-collector"), Ok)?,
            )];
            if let (Some(a), Some(c)) = (old_agent, old_collector) {
                specs.insert(0, spec("old", a, c));
            }
            let reports = pipeline::run_side_by_side(specs)?;
            let tables = pipeline::markdown(&reports);
            println!("{tables}");
            if let Some(path) = out {
                std::fs::write(path, &tables)?;
            }
            if let Some(path) = json {
                std::fs::write(path, serde_json::to_string_pretty(&reports)?)?;
            }
            Ok(())
        }
        Command::CollectorIngest {
            devices,
            agents,
            batch_size,
            batches,
            postgres,
        } => {
            let mut cluster = postgres.then(pg_cluster::PgCluster::start).transpose()?;
            for n in devices {
                for &b in &batches {
                    let row = collector_bench::ingest(n, agents, batch_size, b)?;
                    println!("{}", serde_json::to_string(&row)?);
                    if let Some(cluster) = &mut cluster {
                        let url = cluster.create_database()?;
                        let row =
                            collector_bench::ingest_into(Some(&url), n, agents, batch_size, b)?;
                        println!("{}", serde_json::to_string(&row)?);
                    }
                }
            }
            Ok(())
        }
        Command::CollectorLate {
            devices,
            agents,
            seconds,
        } => {
            let row = collector_late::run(devices, agents, seconds)?;
            println!("{}", serde_json::to_string(&row)?);
            Ok(())
        }
        Command::CollectorLongrun {
            devices,
            days,
            retention_days,
        } => {
            let row = collector_longrun::run(devices, days, retention_days)?;
            println!("{}", serde_json::to_string(&row)?);
            Ok(())
        }
        Command::Register { devices, repeat } => {
            let row = register::register(devices, repeat)?;
            println!("{}", serde_json::to_string(&row)?);
            print!("{}", register::table(&row));
            Ok(())
        }
        Command::CollectorReport { devices, outages } => {
            let row = collector_bench::history(devices, outages)?;
            println!("{}", serde_json::to_string(&row)?);
            Ok(())
        }
        Command::Pages {
            devices,
            outages,
            readers,
            seconds,
            builds,
        } => {
            let spec = pages::PagesSpec {
                devices,
                outages,
                readers,
                seconds,
                builds: pages_builds(&builds)?,
            };
            let rows = pages::pages(&spec)?;
            println!("{}", serde_json::to_string(&rows)?);
            println!("{}", pages::table(&rows, &spec));
            Ok(())
        }
        Command::Traps { count } => {
            let row = traps::run(count)?;
            println!("{}", serde_json::to_string(&row)?);
            print!("{}", traps::table(&row));
            Ok(())
        }
        Command::CollectorExec { command } => collector_exec(command),
        Command::Serve {
            http_port,
            tcp_port,
        } => agent_run::runtime(None)?.block_on(servers::serve(http_port, tcp_port)),
        Command::Compare {
            sizes,
            kinds,
            concurrency,
            exporter_concurrency,
            timeout_ms,
            repeat,
            no_peers,
            snmp_requests,
            snmp_interfaces,
            steady_targets,
            steady_interval_s,
            steady_seconds,
            steady_icmp_counts,
            no_agent,
            no_collector,
            collector_devices,
            collector_agents,
            collector_batch_size,
            collector_batches,
            history_devices,
            history_outages,
            out,
            json,
        } => {
            let spec = compare::CompareSpec {
                sizes,
                kinds,
                concurrency,
                exporter_concurrency,
                timeout_ms,
                repeat,
                peers: !no_peers,
                snmp_requests,
                snmp_interfaces,
                steady: (steady_targets > 0).then_some(compare::SteadyArgs {
                    targets: steady_targets,
                    interval_s: steady_interval_s,
                    window_s: steady_seconds,
                    icmp_counts: steady_icmp_counts,
                }),
                no_agent,
                collector: (!no_collector).then_some(compare::CollectorArgs {
                    ingest_devices: collector_devices.into_iter().filter(|&n| n > 0).collect(),
                    agents: collector_agents,
                    batch_size: collector_batch_size,
                    batches: collector_batches,
                    history_devices,
                    history_outages,
                }),
                command: std::env::args().collect::<Vec<_>>().join(" "),
            };
            let report = compare::compare(&spec)?;
            let md = report.markdown();
            println!("{md}");
            if let Some(path) = out {
                std::fs::write(path, &md)?;
            }
            if let Some(path) = json {
                std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
            }
            Ok(())
        }
    }
}

/// `LABEL=PATH` pairs; none: the collector beside this binary, labelled `current`.
fn pages_builds(builds: &[String]) -> Result<Vec<(String, PathBuf)>> {
    if builds.is_empty() {
        let exe = std::env::current_exe()?;
        return Ok(vec![(
            "current".to_string(),
            exe.with_file_name("driftvakt-collector"),
        )]);
    }
    builds
        .iter()
        .map(|b| match b.split_once('=') {
            Some((label, path)) => Ok((label.to_string(), PathBuf::from(path))),
            None => anyhow::bail!("--build takes LABEL=PATH, not {b}"),
        })
        .collect()
}
