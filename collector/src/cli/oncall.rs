//! `driftvakt-collector oncall --period 2026-T1 --format csv|json`: the on-call cases of a
//! period with what they bill, the invoice basis (one row per case, a total per municipality).

use super::{CliError, CommonArgs};
use crate::availability::period_of;
use crate::clock::{Clock, FixedClock};
use crate::report::oncall::{bill, csv};
use crate::store::{Database, PolicyStore};
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
    /// Month (2026-03), tertial (2026-T1) or year (2026).
    #[arg(long)]
    pub period: String,
    #[arg(long, value_enum, default_value_t = OncallFormat::Csv)]
    pub format: OncallFormat,
    /// Compute as if it were this instant (RFC 3339).
    #[arg(long)]
    pub now: Option<DateTime<Utc>>,
}

/// The cases of the period, rendered.
pub fn run(args: &OncallArgs, clock: Arc<dyn Clock>) -> Result<String, CliError> {
    let clock: Arc<dyn Clock> = match args.now {
        Some(t) => Arc::new(FixedClock(t)),
        None => clock,
    };
    let inv = args.common.load()?;
    let now = clock.now();
    let p = period_of(Some(&args.period), None, None, now).map_err(CliError::Usage)?;
    if !inv.settings.database.exists() {
        return Err(CliError::DatabaseMissing(inv.settings.database.clone()));
    }
    let store = Database::open(&inv.settings.database)?.notify()?;
    let cases = store.oncall_cases(p.from, p.to.min(now))?;
    let o = bill(&cases, &inv.settings.oncall_billing, now);
    Ok(match args.format {
        OncallFormat::Csv => csv(&o),
        OncallFormat::Json => serde_json::to_string_pretty(&o)? + "\n",
    })
}
