//! `driftvakt-collector oncall --period 2026-T1 --format csv|json`: the on-call cases of a
//! period with what they bill, the invoice basis (one row per case, a total per municipality
//! and department and per municipality). `oncall add --municipality M --department D --start
//! .. --end .. --title ..` (after `--config`) registers a case no alarm raised (the same checks as
//! `POST /api/v1/oncall`) and writes it as JSON.

use super::{CliError, CommonArgs};
use crate::availability::period_of;
use crate::clock::{Clock, FixedClock};
use crate::incidents::oncall::{register, OncallRegistration};
use crate::report::oncall::csv;
use crate::report::oncall_between;
use crate::store::Database;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OncallFormat {
    Csv,
    Json,
}

/// `oncall` options.
#[derive(Debug, Clone, clap::Args)]
pub struct OncallArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Month (2026-03), tertial (2026-T1) or year (2026); required without a subcommand.
    #[arg(long)]
    pub period: Option<String>,
    #[arg(long, value_enum, default_value_t = OncallFormat::Csv)]
    pub format: OncallFormat,
    /// Compute as if it were this instant (RFC 3339).
    #[arg(long)]
    pub now: Option<DateTime<Utc>>,
    #[command(subcommand)]
    pub action: Option<OncallAction>,
}

/// What else to do.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum OncallAction {
    /// Register an on-call case no alarm raised.
    Add {
        #[arg(long)]
        municipality: String,
        /// The department (verksamheten) it is billed to.
        #[arg(long)]
        department: String,
        /// When the call began (RFC 3339).
        #[arg(long)]
        start: DateTime<Utc>,
        /// When the work ended (RFC 3339).
        #[arg(long)]
        end: DateTime<Utc>,
        #[arg(long)]
        title: String,
        #[arg(long, default_value = "")]
        description: String,
        #[arg(long)]
        by: Option<String>,
    },
}

/// The cases of the period, rendered; or the case registered.
pub fn run(args: &OncallArgs, clock: Arc<dyn Clock>) -> Result<String, CliError> {
    let clock: Arc<dyn Clock> = match args.now {
        Some(t) => Arc::new(FixedClock(t)),
        None => clock,
    };
    if let Some(OncallAction::Add {
        municipality,
        department,
        start,
        end,
        title,
        description,
        by,
    }) = &args.action
    {
        let inv = args.common.load()?;
        let store = Database::open(&inv.settings.database)?.oncall_cases()?;
        let r = OncallRegistration {
            municipality: municipality.clone(),
            department: department.clone(),
            start: *start,
            end: *end,
            title: title.clone(),
            description: description.clone(),
            by: by.clone(),
        };
        let case =
            register(&inv, &*store, &r, clock.now()).map_err(|e| CliError::Usage(e.to_string()))?;
        return Ok(serde_json::to_string_pretty(&case)? + "\n");
    }
    let inv = args.common.load()?;
    let now = clock.now();
    let period = args
        .period
        .as_deref()
        .ok_or_else(|| CliError::Usage("give --period".into()))?;
    let p = period_of(Some(period), None, None, now).map_err(CliError::Usage)?;
    if !inv.settings.database.exists() {
        return Err(CliError::DatabaseMissing(inv.settings.database.clone()));
    }
    let db = Database::open(&inv.settings.database)?;
    let (alarms, registered) = (db.notify()?, db.oncall_cases()?);
    let o = oncall_between(&inv, &*alarms, &*registered, p.from, p.to.min(now), now)?;
    Ok(match args.format {
        OncallFormat::Csv => csv(&o),
        OncallFormat::Json => serde_json::to_string_pretty(&o)? + "\n",
    })
}
