//! `driftvakt-collector report`: the availability report for a period, from the database.

use super::{CliError, CommonArgs};
use crate::availability::period_of;
use crate::clock::{Clock, FixedClock};
use crate::report::{add_intefunktion_cases, add_oncall_cases, build, render, Format};
use crate::store::Database;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// `report` options.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Month (2026-03), tertial (2026-T1) or year (2026).
    #[arg(long, conflicts_with = "from")]
    pub period: Option<String>,
    /// Start instant (RFC 3339), instead of --period.
    #[arg(long)]
    pub from: Option<DateTime<Utc>>,
    /// End instant (RFC 3339); default now.
    #[arg(long, requires = "from")]
    pub to: Option<DateTime<Utc>>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Compute as if it were this instant (RFC 3339); for tests and re-runs.
    #[arg(long)]
    pub now: Option<DateTime<Utc>>,
}

/// Builds and renders the report.
/// `clock` is the wall clock unless `--now` pins it.
pub fn report(args: &ReportArgs, clock: Arc<dyn Clock>) -> Result<String, CliError> {
    let clock: Arc<dyn Clock> = match args.now {
        Some(t) => Arc::new(FixedClock(t)),
        None => clock,
    };
    let inv = args.common.load()?;
    let now = clock.now();
    let period =
        period_of(args.period.as_deref(), args.from, args.to, now).map_err(CliError::Usage)?;
    // A report never creates a database: a mistyped path would give an empty report.
    if !inv.settings.database.exists() {
        return Err(CliError::Usage(format!(
            "database {} does not exist (give --database or set collector.database)",
            inv.settings.database
        )));
    }
    let db = Database::open(&inv.settings.database)?;
    let store = db.store()?;
    let windows = db
        .windows()
        .map_err(|e| CliError::Usage(format!("calendar store: {e}")))?;
    let windows = super::calendar_service(&inv, windows, clock.clone())
        .calendar()
        .map_err(|e| CliError::Usage(format!("calendar: {e}")))?;
    let mut r = build(&inv, &*store, &windows, &period, now)?;
    add_oncall_cases(&mut r, &*db.notify()?, &*db.oncall_cases()?)?;
    add_intefunktion_cases(&mut r, &inv, &*db.intefunktion()?)?;
    Ok(render(&r, args.format))
}
