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

/// Why the collector is not healthy.
#[derive(Debug, thiserror::Error)]
pub enum HealthcheckError {
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

/// One GET of `args.url`; `Ok` when it answered 200.
pub fn run(args: &HealthcheckArgs) -> Result<(), HealthcheckError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(HealthcheckError::Runtime)?;
    let request = |source| HealthcheckError::Request {
        url: args.url.clone(),
        source,
    };
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(args.timeout))
            .build()
            .map_err(request)?;
        let status = client
            .get(&args.url)
            .send()
            .await
            .map_err(request)?
            .status();
        if status == reqwest::StatusCode::OK {
            Ok(())
        } else {
            Err(HealthcheckError::Status {
                url: args.url.clone(),
                status,
            })
        }
    })
}
