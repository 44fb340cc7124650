//! `driftvakt-collector inventory`: the inventory register (see `crate::register`).
//!
//! - `list --format json|csv`: every device with its register and the monitoring facts (state,
//!   last seen, availability this year) when the database exists;
//! - `renewals --within 180d`: renewal, warranty and depreciation dates in the window or passed;
//! - `billing --period 2026-T3 --format csv|json`: the billing basis of a tertial, after
//!   recording the YAML's register as of today (Europe/Stockholm) in the database;
//! - `import --csv FILE` or `import --netbox URL --token-file F [--filter K=V]…`: an include
//!   file (YAML) on stdout, what was skipped on stderr.

use super::{CliError, GlobalConfigArgs};
use crate::clock::{Clock, FixedClock};
use crate::inventory::Inventory;
use crate::register::{self, billing, list, renewals};
use crate::report::quiet::quiet;
use crate::store::Database;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RegisterFormat {
    Csv,
    Json,
}

/// `inventory` options.
#[derive(Debug, Clone, clap::Args)]
pub struct InventoryArgs {
    #[command(flatten)]
    pub config: GlobalConfigArgs,
    /// Compute as if it were this instant (RFC 3339).
    #[arg(long, global = true)]
    pub now: Option<DateTime<Utc>>,
    #[command(subcommand)]
    pub action: InventoryAction,
}

/// What to do.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum InventoryAction {
    /// Every device with its register and monitoring facts.
    List {
        #[arg(long, value_enum, default_value_t = RegisterFormat::Csv)]
        format: RegisterFormat,
    },
    /// Renewal, warranty and depreciation dates within a window from today, or passed.
    Renewals {
        /// The window (`180d`, `26w`).
        #[arg(long, default_value = "180d")]
        within: String,
        #[arg(long, value_enum, default_value_t = RegisterFormat::Csv)]
        format: RegisterFormat,
    },
    /// The billing basis of a tertial: units, days active, changes since the previous one.
    Billing {
        /// The tertial (2026-T3).
        #[arg(long)]
        period: String,
        #[arg(long, value_enum, default_value_t = RegisterFormat::Csv)]
        format: RegisterFormat,
    },
    /// A CSV with the documented header, or NetBox's devices, to an include file (YAML on
    /// stdout).
    Import {
        #[arg(long, required_unless_present = "netbox", conflicts_with = "netbox")]
        csv: Option<PathBuf>,
        /// NetBox's base URL (https://netbox.example.org).
        #[arg(long, requires = "token_file")]
        netbox: Option<String>,
        /// A file holding NetBox's API token.
        #[arg(long)]
        token_file: Option<PathBuf>,
        /// A NetBox filter (`site=ulricehamn`, `tenant=bou`); repeatable.
        #[arg(long)]
        filter: Vec<String>,
    },
}

/// Runs `inventory`: the output on `out`, what an import skipped on `err`.
pub fn run(
    args: &InventoryArgs,
    clock: Arc<dyn Clock>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), CliError> {
    let clock: Arc<dyn Clock> = match args.now {
        Some(t) => Arc::new(FixedClock(t)),
        None => clock,
    };
    let now = clock.now();
    if let InventoryAction::Import {
        csv,
        netbox,
        token_file,
        filter,
    } = &args.action
    {
        let imported = match (csv, netbox, token_file) {
            (Some(csv), _, _) => {
                let text = std::fs::read_to_string(csv)
                    .map_err(|e| CliError::Usage(format!("{}: {e}", csv.display())))?;
                register::import::from_csv(&text)
                    .map_err(|e| CliError::Usage(format!("{}: {e}", csv.display())))?
            }
            (None, Some(url), Some(token)) => from_netbox(url, token, filter)?,
            _ => return Err(CliError::Usage("give --csv FILE or --netbox URL".into())),
        };
        out.write_all(imported.yaml.as_bytes())?;
        for s in &imported.skipped {
            writeln!(err, "skipped: {s}")?;
        }
        writeln!(
            err,
            "{} devices imported, {} skipped",
            imported.devices,
            imported.skipped.len()
        )?;
        return Ok(());
    }
    let inv = args.config.common()?.load()?;
    let today = register::local_day(now);
    match &args.action {
        InventoryAction::List { format } => {
            let facts = facts(&inv, now, clock.clone())?;
            let rows = list::rows(&inv, &facts);
            match format {
                RegisterFormat::Csv => out.write_all(list::to_csv(&rows).as_bytes())?,
                RegisterFormat::Json => json(out, &rows)?,
            }
        }
        InventoryAction::Renewals { within, format } => {
            let window = driftvakt_common::config::parse_duration(within)
                .map_err(|e| CliError::Usage(format!("--within {within}: {e}")))?;
            let due = renewals::renewals(&inv, today, window.as_secs() / 86_400);
            match format {
                RegisterFormat::Csv => out.write_all(renewals::to_csv(&due).as_bytes())?,
                RegisterFormat::Json => json(out, &due)?,
            }
        }
        InventoryAction::Billing { period, format } => {
            let tertial = billing::Tertial::parse(period).map_err(CliError::Usage)?;
            let db = Database::open(&inv.settings.database)?;
            let store = db.register()?;
            register::sync(&*store, &inv, today)?;
            let quiet: BTreeSet<String> = quiet(&inv, &*db.store()?, now)?
                .devices
                .into_iter()
                .map(|d| d.id)
                .collect();
            let basis = billing::billing(&store.history()?, tertial, today, &quiet);
            match format {
                RegisterFormat::Csv => out.write_all(billing::to_csv(&basis).as_bytes())?,
                RegisterFormat::Json => json(out, &basis)?,
            }
        }
        InventoryAction::Import { .. } => unreachable!("handled above"),
    }
    Ok(())
}

/// NetBox's devices at `url`, imported.
fn from_netbox(
    url: &str,
    token_file: &std::path::Path,
    filter: &[String],
) -> Result<register::import::Imported, CliError> {
    let token = std::fs::read_to_string(token_file)
        .map_err(|e| CliError::Usage(format!("{}: {e}", token_file.display())))?;
    let devices = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(register::netbox::fetch(url, token.trim(), filter))
        .map_err(|e| CliError::Usage(format!("netbox: {e}")))?;
    Ok(register::netbox::import(&devices))
}

/// The monitoring facts of `inv`'s devices, from the database (none when it does not exist: a
/// mistyped path must not create one).
fn facts(
    inv: &Inventory,
    now: DateTime<Utc>,
    clock: Arc<dyn Clock>,
) -> Result<BTreeMap<String, list::Facts>, CliError> {
    if !inv.settings.database.exists() {
        return Ok(BTreeMap::new());
    }
    let db = Database::open(&inv.settings.database)?;
    let calendar = super::calendar_service(inv, db.windows()?, clock)
        .calendar()
        .map_err(|e| CliError::Usage(format!("calendar: {e}")))?;
    Ok(crate::report::facts::facts(
        inv,
        &*db.store()?,
        &calendar,
        now,
    )?)
}

fn json(out: &mut dyn Write, value: &impl serde::Serialize) -> Result<(), CliError> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}
