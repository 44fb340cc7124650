//! `driftvakt-collector incident add|update|close|list`: incidents registered by hand (faults
//! no probe sees), on the collector's database; the same checks as `POST /api/v1/incidents`.
//! `incident update --service ID --text ..` updates a probed service's ongoing disturbance
//! (`POST /api/v1/services/{id}/updates`).

use super::{CliError, GlobalConfigArgs};
use crate::clock::Clock;
use crate::incidents::{change, register, Change, IncidentError, Registration};
use crate::store::{Database, IncidentStore};
use chrono::{DateTime, Utc};
use std::io::Write;
use std::sync::Arc;

/// `incident` options.
#[derive(Debug, Clone, clap::Args)]
pub struct IncidentArgs {
    #[command(flatten)]
    pub common: GlobalConfigArgs,
    #[command(subcommand)]
    pub action: Action,
}

/// What to do.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Action {
    /// Register an incident (give --service or --municipality, or both).
    Add {
        #[arg(long = "service")]
        services: Vec<String>,
        #[arg(long = "municipality")]
        municipalities: Vec<String>,
        /// When it began (RFC 3339).
        #[arg(long)]
        start: DateTime<Utc>,
        /// When it ended (RFC 3339); leave out while it is going on.
        #[arg(long)]
        end: Option<DateTime<Utc>>,
        #[arg(long)]
        title: String,
        #[arg(long, default_value = "")]
        description: String,
        /// The device behind it (its root cause): links it to the outages of that device the
        /// probes saw at the same time, so they count as one incident.
        #[arg(long)]
        cause: Option<String>,
        #[arg(long)]
        by: Option<String>,
    },
    /// Add an update to an incident, or (`--service ID`) to the ongoing disturbance of a
    /// service the probes found down.
    Update {
        #[arg(required_unless_present = "service", conflicts_with = "service")]
        id: Option<i64>,
        #[arg(long)]
        service: Option<String>,
        #[arg(long)]
        text: String,
        #[arg(long)]
        by: Option<String>,
    },
    /// Close an incident.
    Close {
        id: i64,
        /// When it ended (RFC 3339); default now.
        #[arg(long)]
        end: Option<DateTime<Utc>>,
        /// A last update.
        #[arg(long)]
        text: Option<String>,
        #[arg(long)]
        by: Option<String>,
    },
    /// List the ongoing incidents (JSON).
    List,
}

fn refused(e: IncidentError) -> CliError {
    CliError::Usage(e.to_string())
}

/// Runs the action and writes the incident(s) as JSON to `out`.
pub fn run(args: IncidentArgs, clock: Arc<dyn Clock>, out: &mut dyn Write) -> Result<(), CliError> {
    let inv = args.common.common()?.load()?;
    let db = Database::open(&inv.settings.database)?;
    let store = db.incidents()?;
    let now = clock.now();
    let value = match args.action {
        Action::Add {
            services,
            municipalities,
            start,
            end,
            title,
            description,
            cause,
            by,
        } => {
            let r = Registration {
                services,
                municipalities,
                start,
                end,
                title,
                description,
                cause,
                by,
            };
            serde_json::to_value(register(&inv, &store, &r, now).map_err(refused)?)?
        }
        Action::Update {
            service: Some(service),
            text,
            by,
            ..
        } => {
            let c = crate::incidents::service::ServiceChange { text, by };
            let results = db.store()?;
            let updates = db.service_updates()?;
            let u = crate::incidents::service::update_service(
                &inv, &*results, &updates, &service, &c, now,
            )
            .map_err(refused)?;
            serde_json::to_value(u)?
        }
        Action::Update { id, text, by, .. } => {
            let id =
                id.ok_or_else(|| CliError::Usage("give an incident id or --service".into()))?;
            let c = Change {
                update: Some(text),
                end: None,
                by,
            };
            serde_json::to_value(change(&store, id, &c, now).map_err(refused)?)?
        }
        Action::Close { id, end, text, by } => {
            let c = Change {
                update: text,
                end: Some(end.unwrap_or(now)),
                by,
            };
            serde_json::to_value(change(&store, id, &c, now).map_err(refused)?)?
        }
        Action::List => serde_json::to_value(store.ongoing()?)?,
    };
    writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
    Ok(())
}
