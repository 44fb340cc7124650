//! `driftvakt-collector`: the collector binary.

use clap::Parser;

/// Driftvakt collector: device and service state, availability, service windows and notices.
#[derive(Parser)]
#[command(name = "driftvakt-collector", version, about)]
struct Cli {}

fn main() {
    let _ = Cli::parse();
}
