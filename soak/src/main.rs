//! `driftvakt-soak`: runs the soak and prints one JSON line; exits 1 when anything differs
//! from the oracle, with the command that replays the seed.

use clap::{Parser, Subcommand};
use driftvakt_soak::schedule::Params;

#[derive(Parser)]
#[command(
    name = "driftvakt-soak",
    about = "A municipality's weeks in minutes, against an oracle"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Simulated time: the collector library in this process under a settable clock.
    Sim {
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value_t = 7)]
        days: u32,
        #[arg(long, default_value_t = 200)]
        devices: usize,
        /// Seconds between probes of access points, printers, screens and services
        /// (switches and UPS units: half).
        #[arg(long, default_value_t = 60)]
        interval: u32,
        /// Seconds between an agent's pushes.
        #[arg(long, default_value_t = 15)]
        push: u32,
    },
    /// Real time: the real agent and collector binaries, loopback devices, process faults.
    Real {
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value_t = 10.0)]
        minutes: f64,
        #[arg(long, default_value_t = 24)]
        devices: usize,
        /// Seconds between probes of every device.
        #[arg(long, default_value_t = 5)]
        interval: u32,
        /// Two collector nodes on a throwaway PostgreSQL cluster instead of one on SQLite; the
        /// collector faults strike the leader, and PostgreSQL is stopped where SQLite's disk
        /// fills.
        #[arg(long)]
        postgres: bool,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Sim {
            seed,
            days,
            devices,
            interval,
            push,
        } => {
            let summary = driftvakt_soak::sim::run(Params {
                seed,
                days,
                devices,
                interval_s: interval,
                push_s: push,
            })?;
            println!("{}", serde_json::to_string(&summary)?);
            if !summary.passed() {
                eprintln!("soak failed; replay with: {}", summary.replay);
                std::process::exit(1);
            }
        }
        Command::Real {
            seed,
            minutes,
            devices,
            interval,
            postgres,
        } => {
            let summary = driftvakt_soak::real::run(driftvakt_soak::real::RealParams {
                seed,
                minutes,
                devices,
                interval_s: interval,
                bin_dir: bin_dir()?,
                backend: if postgres {
                    driftvakt_soak::plan::Backend::PostgresPair
                } else {
                    driftvakt_soak::plan::Backend::Sqlite
                },
            })?;
            println!("{}", serde_json::to_string(&summary)?);
            if !summary.passed() {
                eprintln!(
                    "soak failed; logs in {}; replay with: {}",
                    summary.logs, summary.replay
                );
                std::process::exit(1);
            }
        }
    }
    Ok(())
}

/// Where the agent and collector binaries are: `SOAK_BIN_DIR`, else beside this executable.
fn bin_dir() -> anyhow::Result<std::path::PathBuf> {
    if let Some(d) = std::env::var_os("SOAK_BIN_DIR") {
        return Ok(d.into());
    }
    let exe = std::env::current_exe()?;
    Ok(exe
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default())
}
