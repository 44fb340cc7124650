//! `driftvakt-agent healthcheck`: asks the agent's own `/healthz` and succeeds when it answers
//! 200. The container image's health check runs it (a `FROM scratch` image has no curl). The
//! address comes from the configuration's `agent.listen` (an unspecified address such as
//! `0.0.0.0` is asked on loopback), so the check follows the port the operator chose; `--url`
//! asks another address instead.

use crate::config::AgentConfig;
use driftvakt_common::config::ConfigErrors;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// Where the image keeps the agent's configuration.
pub const DEFAULT_CONFIG: &str = "/etc/driftvakt/agent.yaml";

/// Arguments of `driftvakt-agent healthcheck`.
#[derive(Debug, clap::Args)]
pub struct HealthcheckArgs {
    /// The configuration whose `agent.listen` is asked.
    #[arg(long, default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// The URL to ask instead of the configuration's listener.
    #[arg(long)]
    pub url: Option<String>,
    /// How long to wait for the answer, in seconds.
    #[arg(long, default_value_t = 2)]
    pub timeout: u64,
}

/// Why the agent is not healthy.
#[derive(Debug, thiserror::Error)]
pub enum HealthcheckError {
    #[error("invalid configuration:\n{0}")]
    Config(#[from] ConfigErrors),
    #[error("{}: agent.listen is not set, so the agent serves no /healthz to ask", .0.display())]
    NoListener(PathBuf),
    #[error(transparent)]
    Ask(#[from] AskError),
}

/// Why a `/healthz` did not answer 200 ([`ask`]; the collector's `healthcheck` uses it too).
#[derive(Debug, thiserror::Error)]
pub enum AskError {
    #[error("{url}: {source}")]
    Request { url: String, source: reqwest::Error },
    #[error("{url}: answered {status}")]
    Status {
        url: String,
        status: reqwest::StatusCode,
    },
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
}

/// The `/healthz` URL of a listener on `listen`, asked on loopback when it is unspecified.
pub fn healthz_url(listen: SocketAddr) -> String {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}/healthz", SocketAddr::new(ip, listen.port()))
}

/// The URL to ask: `--url`, else the configuration's listener.
fn url(args: &HealthcheckArgs) -> Result<String, HealthcheckError> {
    if let Some(url) = &args.url {
        return Ok(url.clone());
    }
    let config = AgentConfig::load(&args.config)?;
    let listen = config.file.agent.listen;
    listen
        .map(healthz_url)
        .ok_or_else(|| HealthcheckError::NoListener(args.config.clone()))
}

/// One GET of the agent's `/healthz`; `Ok` when it answered 200.
pub fn run(args: &HealthcheckArgs) -> Result<(), HealthcheckError> {
    Ok(ask(&url(args)?, Duration::from_secs(args.timeout))?)
}

/// One GET of `url` within `timeout`, on a runtime of its own; `Ok` when it answered 200.
pub fn ask(url: &str, timeout: Duration) -> Result<(), AskError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(AskError::Runtime)?;
    let request = |source| AskError::Request {
        url: url.to_string(),
        source,
    };
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(request)?;
        let status = client.get(url).send().await.map_err(request)?.status();
        if status == reqwest::StatusCode::OK {
            Ok(())
        } else {
            Err(AskError::Status {
                url: url.to_string(),
                status,
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unspecified_listener_is_asked_on_loopback() {
        let url = |s: &str| healthz_url(s.parse().unwrap());
        assert_eq!(url("0.0.0.0:9464"), "http://127.0.0.1:9464/healthz");
        assert_eq!(url("[::]:9464"), "http://[::1]:9464/healthz");
        assert_eq!(url("10.1.2.3:9000"), "http://10.1.2.3:9000/healthz");
    }
}
