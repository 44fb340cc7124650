//! TCP connect probe, e.g. port 9100 on printers: success and connect time.

use super::{resolve, FailureReason, Outcome, Prober, Target};
use crate::config::TcpCheck;
use driftvakt_common::wire::Value;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub struct TcpProber;

impl Prober for TcpProber {
    type Spec = TcpCheck;

    async fn probe(&self, target: &Target<'_>, spec: &TcpCheck, timeout: Duration) -> Outcome {
        let Some(port) = spec.port else {
            return Outcome::failure(FailureReason::ConfigError, "tcp check without port");
        };
        let ip = match resolve(target).await {
            Ok(ip) => ip,
            Err(o) => return o,
        };
        let addr = SocketAddr::new(ip, port);
        let started = Instant::now();
        match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(_stream)) => Outcome::success().with_value(
                "tcp_connect_seconds",
                Value::Number(started.elapsed().as_secs_f64()),
            ),
            Ok(Err(e)) => {
                Outcome::failure(FailureReason::from_io(&e), format!("connect {addr}: {e}"))
            }
            Err(_) => Outcome::failure(
                FailureReason::Timeout,
                format!("connect {addr}: no answer within {timeout:?}"),
            ),
        }
    }
}
