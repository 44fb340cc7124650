//! `healthcheck`: asks a collector's `/healthz` and exits 0 when it answers 200. The container
//! image's health check runs it (a `FROM scratch` image has no curl); it reads no configuration.

use std::time::Duration;

/// Arguments of `driftvakt-collector healthcheck`.
#[derive(Debug, clap::Args)]
pub struct HealthcheckArgs {
    /// The URL to ask.
    #[arg(long, default_value = "http://127.0.0.1:8480/healthz")]
    pub url: String,
    /// How long to wait for the answer, in seconds.
    #[arg(long, default_value_t = 2)]
    pub timeout: u64,
}

/// Why the collector is not healthy (the agent's one GET, [`driftvakt_agent::healthcheck::ask`]).
pub type HealthcheckError = driftvakt_agent::healthcheck::AskError;

/// One GET of `args.url`; `Ok` when it answered 200.
pub fn run(args: &HealthcheckArgs) -> Result<(), HealthcheckError> {
    driftvakt_agent::healthcheck::ask(&args.url, Duration::from_secs(args.timeout))
}
