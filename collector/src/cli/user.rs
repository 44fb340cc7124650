//! `driftvakt-collector user add|passwd|remove|list`: the operator web's local accounts
//! (`collector.web.users_file` of the `--config` file, see [`crate::web::accounts`]). The
//! password is read from standard input (its first line: `read -rs P; printf '%s\n' "$P" |
//! driftvakt-collector user add …`), never from the command line.

use super::{CliError, GlobalConfigArgs};
use crate::web::accounts::Accounts;
use crate::web::{AuthKind, Role};
use std::io::{BufRead, Write};
use std::path::PathBuf;

/// `user` options.
#[derive(Debug, Clone, clap::Args)]
pub struct UserArgs {
    #[command(flatten)]
    pub common: GlobalConfigArgs,
    #[command(subcommand)]
    pub action: Action,
}

/// What to do.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Action {
    /// Add an account; its password is read from standard input.
    Add {
        name: String,
        /// operator, editor or viewer.
        #[arg(long)]
        role: Role,
    },
    /// Set a new password (read from standard input), and a new role when given.
    Passwd {
        name: String,
        #[arg(long)]
        role: Option<Role>,
    },
    /// Remove an account.
    Remove { name: String },
    /// List the accounts and their roles.
    List,
}

/// The accounts' file of the `--config` file's `collector.web` (`auth: local`).
fn users_file(args: &UserArgs) -> Result<PathBuf, CliError> {
    let inv = args.common.common()?.load()?;
    let web = inv
        .settings
        .web
        .as_ref()
        .filter(|w| w.auth == AuthKind::Local);
    let file = web.and_then(|w| w.users_file.as_ref()).ok_or_else(|| {
        CliError::Usage(
            "the --config file has no `collector.web` with `auth: local` and `users_file:`".into(),
        )
    })?;
    let base = inv.path.parent().unwrap_or(std::path::Path::new("."));
    Ok(base.join(file))
}

fn password(input: &mut dyn BufRead) -> Result<String, CliError> {
    let mut line = String::new();
    input.read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn refused(e: crate::web::accounts::AccountError) -> CliError {
    CliError::Usage(e.to_string())
}

/// Runs `user`: reads the password from `input`, says what it did on `out`.
pub fn run(args: UserArgs, input: &mut dyn BufRead, out: &mut dyn Write) -> Result<(), CliError> {
    let path = users_file(&args)?;
    let mut accounts = Accounts::load(&path).map_err(refused)?;
    let said = match &args.action {
        Action::Add { name, role } => {
            accounts
                .add(name, *role, &password(input)?)
                .map_err(refused)?;
            format!("added {name} ({})", role.name())
        }
        Action::Passwd { name, role } => {
            accounts
                .passwd(name, &password(input)?, *role)
                .map_err(refused)?;
            format!("new password for {name}")
        }
        Action::Remove { name } => {
            accounts.remove(name).map_err(refused)?;
            format!("removed {name}")
        }
        Action::List => {
            for a in &accounts.users {
                writeln!(out, "{}\t{}", a.name, a.role.name())?;
            }
            return Ok(());
        }
    };
    accounts.save(&path).map_err(refused)?;
    writeln!(out, "{said} in {}", path.display())?;
    Ok(())
}
