//! Debian's real `prometheus` as a test peer: scrapes the given targets every second from a
//! temporary folder and answers PromQL over its HTTP API. Killed on drop.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Prometheus {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

const BINARY: &str = "/usr/bin/prometheus";

impl Prometheus {
    /// Starts Prometheus scraping `targets` (host:port) at 1 s; waits until it is ready.
    pub fn start(targets: &[String]) -> Prometheus {
        assert!(
            Path::new(BINARY).exists(),
            "{BINARY} is missing: install Debian's `prometheus` package (scripts/test does)"
        );
        let dir = tempfile::tempdir().unwrap();
        let list = targets
            .iter()
            .map(|t| format!("\"{t}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: driftvakt\n    static_configs:\n      - targets: [{list}]\n"
        );
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap();
        let port = crate::ports::free_port();
        let child = Command::new(BINARY)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start prometheus");
        let p = Prometheus {
            child,
            port,
            _dir: dir,
        };
        p.wait_ready();
        p
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if crate::http::get(self.port, "/-/ready").is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("prometheus did not become ready on port {}", self.port);
    }

    /// Evaluates `expr` at the current time; `Ok(number of series)` or `Err(Prometheus' error)`.
    pub async fn query(&self, expr: &str) -> Result<usize, String> {
        let url = format!("http://127.0.0.1:{}/api/v1/query", self.port);
        let resp = reqwest::Client::new()
            .get(url)
            .query(&[("query", expr)])
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let body: serde_json::Value = resp.json().await.map_err(|e| e.to_string())?;
        if body["status"] != "success" {
            return Err(format!("{}: {}", body["errorType"], body["error"]));
        }
        match &body["data"]["result"] {
            serde_json::Value::Array(a) => Ok(a.len()),
            // Scalars and strings count as one value.
            _ => Ok(1),
        }
    }

    /// Evaluates `expr` at the current time; `Ok(the result vector's samples as (labels,
    /// value))` or `Err(Prometheus' error)`.
    pub async fn samples(&self, expr: &str) -> Result<Vec<(serde_json::Value, f64)>, String> {
        let body = self.api("query", &[("query", expr)]).await?;
        let rows = body["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        Ok(rows
            .into_iter()
            .map(|r| {
                let v = r["value"][1].as_str().and_then(|v| v.parse().ok());
                (r["metric"].clone(), v.unwrap_or(f64::NAN))
            })
            .collect())
    }

    /// The values of `label` on series matching `selector` (Grafana's `label_values`).
    pub async fn label_values(&self, label: &str, selector: &str) -> Result<Vec<String>, String> {
        let path = format!("label/{label}/values");
        let body = self.api(&path, &[("match[]", selector)]).await?;
        let values = body["data"].as_array().cloned().unwrap_or_default();
        Ok(values
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect())
    }

    /// Whether any series of metric `name` has been scraped.
    pub async fn has_series(&self, name: &str) -> Result<bool, String> {
        let body = self.api("series", &[("match[]", name)]).await?;
        Ok(body["data"].as_array().is_some_and(|a| !a.is_empty()))
    }

    async fn api(&self, path: &str, query: &[(&str, &str)]) -> Result<serde_json::Value, String> {
        let url = format!("http://127.0.0.1:{}/api/v1/{path}", self.port);
        let resp = reqwest::Client::new()
            .get(url)
            .query(query)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let body: serde_json::Value = resp.json().await.map_err(|e| e.to_string())?;
        if body["status"] != "success" {
            return Err(format!("{}: {}", body["errorType"], body["error"]));
        }
        Ok(body)
    }

    /// Waits until `expr` returns data (the first scrape is queryable only after a few seconds).
    pub async fn wait_for(&self, expr: &str, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if matches!(self.query(expr).await, Ok(n) if n > 0) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        false
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
