//! `driftvakt-collector check-config`: everything `run` would refuse, found without starting
//! anything. The inventory loads (syntax, ids, references, duration bounds, agent tokens that
//! are readable, not readable by others, long enough and not shared), then
//! [`Inventory::preflight`] (operator token, SMTP password, SNMP credentials of embedded agents,
//! the database's folder, report schedules that fire), then the `notify.templates_dir`
//! templates, and the operator web's accounts file. `run` does the same checks first ([`preflight`]), so both refuse a configuration
//! with the same message.

use super::{CliError, CommonArgs};
use crate::clock::Clock;
use crate::inventory::Inventory;
use std::path::PathBuf;

/// `check-config FILE` or `check-config --config FILE`: exactly one (the systemd unit uses the
/// first, `run` takes the second).
#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub inventory: InventoryFileArg,
    /// Address to listen on (overrides `collector.listen`).
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
    /// The database, a SQLite file or postgres://USER@HOST:PORT/DB (overrides
    /// `collector.database`).
    #[arg(long)]
    pub database: Option<crate::store::Location>,
}

#[derive(Debug, Clone, clap::Args)]
#[group(required = true, multiple = false)]
pub struct InventoryFileArg {
    /// The inventory YAML file.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// The inventory YAML file, given like `run --config FILE`.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl CheckArgs {
    pub fn common(&self) -> CommonArgs {
        CommonArgs {
            config: (self.inventory.file.clone())
                .or(self.inventory.config.clone())
                .unwrap_or_default(),
            listen: self.listen,
            database: self.database.clone(),
        }
    }
}

/// What a valid configuration holds, and the warnings about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub config: PathBuf,
    pub sites: usize,
    pub devices: usize,
    pub services: usize,
    pub agents: usize,
    pub warnings: Vec<String>,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: ok ({} sites, {} devices, {} services, {} agents",
            self.config.display(),
            self.sites,
            self.devices,
            self.services,
            self.agents
        )?;
        match self.warnings.len() {
            0 => write!(f, ")"),
            1 => write!(f, ", 1 warning)"),
            n => write!(f, ", {n} warnings)"),
        }
    }
}

/// Loads and checks the configuration as `run` would; `clock` gives "now" for the report
/// schedules.
pub fn run(args: &CheckArgs, clock: &dyn Clock) -> Result<Summary, CliError> {
    let common = args.common();
    let inv = common.load()?;
    let warnings = preflight(&inv, clock)?;
    Ok(Summary {
        config: common.config,
        sites: inv.sites.len(),
        devices: inv.devices.len(),
        services: inv.services.len(),
        agents: inv.agents.len(),
        warnings,
    })
}

/// The checks `run` makes before it opens anything: [`Inventory::preflight`] and the notify
/// templates. Returns the warnings.
pub fn preflight(inv: &Inventory, clock: &dyn Clock) -> Result<Vec<String>, CliError> {
    let mut warnings = inv.preflight(clock.now())?;
    warnings.extend(accounts(inv)?);
    if let Some(dir) = inv.notify.as_ref().and_then(|n| n.templates_dir.as_deref()) {
        crate::notify::render::check_templates(dir)
            .map_err(|e| CliError::Usage(format!("notify: {e}")))?;
    }
    Ok(warnings)
}

/// The operator web's accounts (`collector.web`, `auth: local`): the users file must read;
/// none in it is a warning (nobody can log in yet).
fn accounts(inv: &Inventory) -> Result<Vec<String>, CliError> {
    let web = inv.settings.web.as_ref();
    let Some(file) = web
        .filter(|w| w.auth == crate::web::AuthKind::Local)
        .and_then(|w| w.users_file.as_ref())
    else {
        return Ok(Vec::new());
    };
    let path = inv
        .path
        .parent()
        .unwrap_or(std::path::Path::new("."))
        .join(file);
    let accounts = crate::web::accounts::Accounts::load(&path)
        .map_err(|e| CliError::Usage(format!("collector.web.users_file: {e}")))?;
    Ok(if accounts.users.is_empty() {
        vec![format!(
            "collector.web.users_file {} has no accounts: nobody can log in to /drift/ \
             (driftvakt-collector user add NAME --role operator)",
            path.display()
        )]
    } else {
        Vec::new()
    })
}
