//! `driftvakt-collector intefunktion add --function ID --start .. [--end ..] --title ..` (after
//! `--config`): the service desk registers an intefunktion case about a function (the same
//! checks as `POST /api/v1/intefunktion`, `--incident N` links it to an incident registered by
//! hand); `intefunktion close ID [--end ..]` closes it, `intefunktion link ID --incident N`
//! links it later. Each writes the case as JSON. The cases with their working time are in the
//! report and `GET /api/v1/intefunktion`.

use super::{CliError, CommonArgs};
use crate::clock::{Clock, FixedClock};
use crate::incidents::intefunktion::{
    change, register, IntefunktionChange, IntefunktionRegistration,
};
use crate::store::Database;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// `intefunktion` options.
#[derive(Debug, Clone, clap::Args)]
pub struct IntefunktionArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Act as if it were this instant (RFC 3339).
    #[arg(long)]
    pub now: Option<DateTime<Utc>>,
    #[command(subcommand)]
    pub action: IntefunktionAction,
}

/// What to do.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum IntefunktionAction {
    /// Register a case about a function.
    Add {
        /// The function's service id (`kind: function`).
        #[arg(long)]
        function: String,
        /// When it stopped working (RFC 3339).
        #[arg(long)]
        start: DateTime<Utc>,
        /// When it worked again (RFC 3339); absent while it does not.
        #[arg(long)]
        end: Option<DateTime<Utc>>,
        #[arg(long)]
        title: String,
        #[arg(long, default_value = "")]
        description: String,
        #[arg(long)]
        by: Option<String>,
        /// The incident registered by hand (`incident add`) it belongs to.
        #[arg(long)]
        incident: Option<i64>,
    },
    /// Close a case (at now unless `--end`).
    Close {
        id: i64,
        #[arg(long)]
        end: Option<DateTime<Utc>>,
    },
    /// Link a case to an incident registered by hand.
    Link {
        id: i64,
        #[arg(long)]
        incident: i64,
    },
}

/// The case registered or closed, as JSON.
pub fn run(args: &IntefunktionArgs, clock: Arc<dyn Clock>) -> Result<String, CliError> {
    let clock: Arc<dyn Clock> = match args.now {
        Some(t) => Arc::new(FixedClock(t)),
        None => clock,
    };
    let inv = args.common.load()?;
    let db = Database::open(&inv.settings.database)?;
    let (store, incidents) = (db.intefunktion()?, db.incidents()?);
    let now = clock.now();
    let case = match &args.action {
        IntefunktionAction::Add {
            function,
            start,
            end,
            title,
            description,
            by,
            incident,
        } => {
            let r = IntefunktionRegistration {
                function: function.clone(),
                start: *start,
                end: *end,
                title: title.clone(),
                description: description.clone(),
                by: by.clone(),
                incident: *incident,
            };
            register(&inv, &*store, &*incidents, &r, now)
        }
        IntefunktionAction::Close { id, end } => {
            let c = IntefunktionChange {
                end: Some(end.unwrap_or(now)),
                incident: None,
            };
            change(&*store, &*incidents, *id, &c, now)
        }
        IntefunktionAction::Link { id, incident } => {
            let c = IntefunktionChange {
                end: None,
                incident: Some(*incident),
            };
            change(&*store, &*incidents, *id, &c, now)
        }
    }
    .map_err(|e| CliError::Usage(e.to_string()))?;
    Ok(serde_json::to_string_pretty(&case)? + "\n")
}
