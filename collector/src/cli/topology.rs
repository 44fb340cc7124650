//! `driftvakt-collector topology links|proposals|accept DEVICE|--all`: the topology found over
//! LLDP and CDP, from the running collector (the neighbour walks are kept in its memory):
//! each asks its API (`/api/v1/topology`, `/api/v1/topology/accept`) at `--url` (default:
//! `collector.listen`, on 127.0.0.1 when it listens on every address) with
//! `collector.operator_token`.

use super::{CliError, GlobalConfigArgs};
use serde_json::Value;
use std::fmt::Write as _;
use std::time::Duration;

/// `topology` options.
#[derive(Debug, Clone, clap::Args)]
pub struct TopologyArgs {
    #[command(flatten)]
    pub config: GlobalConfigArgs,
    /// The collector's base URL (default from `collector.listen`).
    #[arg(long, global = true)]
    pub url: Option<String>,
    #[command(subcommand)]
    pub command: TopologyCommand,
}

/// What `topology` does.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum TopologyCommand {
    /// Every neighbour the devices reported, with the inventory device it is.
    Links,
    /// Discovered parents that differ from a kept one, and devices left unresolved.
    Proposals,
    /// Accepts the proposal of one device (or all): stored, it wins over `parent:`.
    Accept {
        /// The device whose proposal to accept.
        device: Option<String>,
        /// Accept every proposal.
        #[arg(long, conflicts_with = "device")]
        all: bool,
    },
}

/// Runs the command; returns what to print.
pub fn run(args: &TopologyArgs) -> Result<String, CliError> {
    let inv = args.config.common()?.load()?;
    let token = super::run::operator_token(&inv)?.ok_or_else(|| {
        CliError::Usage("topology needs `collector.operator_token` in the inventory".into())
    })?;
    let base = args.url.clone().unwrap_or_else(|| {
        let mut addr = inv.settings.listen;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        format!("http://{addr}")
    });
    let body = match &args.command {
        TopologyCommand::Accept { device, all } => {
            if device.is_none() && !all {
                return Err(CliError::Usage("accept DEVICE, or accept --all".into()));
            }
            Some(serde_json::json!({ "device": device, "all": all }))
        }
        _ => None,
    };
    let path = if body.is_some() {
        "/api/v1/topology/accept"
    } else {
        "/api/v1/topology"
    };
    let answer = ask(&format!("{base}{path}"), token.expose(), body)?;
    Ok(match args.command {
        TopologyCommand::Links => links(&answer),
        TopologyCommand::Proposals => proposals(&answer),
        TopologyCommand::Accept { .. } => accepted(&answer),
    })
}

/// One request to the collector's API; its JSON answer, or its error.
fn ask(url: &str, token: &str, body: Option<Value>) -> Result<Value, CliError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let failed = |e: reqwest::Error| CliError::Usage(format!("{url}: {e}"));
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(failed)?;
        let request = match body {
            Some(b) => client.post(url).json(&b),
            None => client.get(url),
        };
        let response = request.bearer_auth(token).send().await.map_err(failed)?;
        let status = response.status();
        let json: Value = response.json().await.map_err(failed)?;
        if !status.is_success() {
            let why = json["error"].as_str().unwrap_or("no reason given");
            return Err(CliError::Usage(format!("{url}: {status}: {why}")));
        }
        Ok(json)
    })
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("-")
}

fn links(view: &Value) -> String {
    let mut out = String::new();
    for l in view["links"].as_array().into_iter().flatten() {
        let neighbor = match l["neighbor"].as_str() {
            Some(n) => n.to_string(),
            None if l["candidates"].as_array().is_some_and(|c| !c.is_empty()) => {
                format!("ambiguous: {}", l["candidates"])
            }
            None => format!("unknown ({})", text(&l["reported"])),
        };
        let marked = if l["ambiguous_port"] == true {
            "  [port with several neighbours]"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{} {} -> {} {} ({}){marked}",
            text(&l["device"]),
            text(&l["if_name"]),
            neighbor,
            text(&l["remote_port"]),
            text(&l["protocol"]),
        );
    }
    out
}

fn proposals(view: &Value) -> String {
    let mut out = String::new();
    for p in view["proposals"].as_array().into_iter().flatten() {
        let kept = p["kept"].as_str().unwrap_or("(none)");
        let _ = writeln!(
            out,
            "{}: kept {kept}, found {}",
            text(&p["device"]),
            text(&p["proposed"])
        );
    }
    for u in view["unresolved"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "{}: not guessed, candidates {}",
            text(&u["device"]),
            u["candidates"]
        );
    }
    for m in view["moves"].as_array().into_iter().flatten() {
        let _ = writeln!(out, "{}", text(&m["line"]));
    }
    out
}

fn accepted(answer: &Value) -> String {
    let mut out = String::new();
    for a in answer["accepted"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "accepted: {} -> {}",
            text(&a["device"]),
            text(&a["parent"])
        );
    }
    out
}
