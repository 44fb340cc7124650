//! `driftvakt-collector notify ...`: look into the outbox (`notify outbox`, with counts per
//! status) and check the mail setup (`notify test-mail --to ADDR`, sent directly through the
//! configured transport, SMTP or the `.eml` folder). Output is for people; `--format json` for
//! tools.

use super::{CliError, ToolArgs};
use crate::clock::Clock;
use crate::notify::render::{self, date_time_sv, MailParts, Templates};
use crate::notify::transport::{envelope, ConfiguredTransport, MailTransport};
use crate::notify::{NotifyFile, Status};
use crate::store::{Database, NotifyStore};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand, ValueEnum};
use std::io::Write;
use std::sync::Arc;

/// Notices and alerts: the outbox and a test mail.
#[derive(Debug, Args)]
pub struct NotifyArgs {
    /// The collector's YAML file (or one with `notify:` and `database:` keys), the database, a
    /// pinned "now".
    #[command(flatten)]
    pub tool: ToolArgs,
    #[command(subcommand)]
    pub command: NotifyCommand,
}

#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// List the outbox, oldest first, with counts per status.
    Outbox {
        #[arg(long, value_enum)]
        status: Option<StatusArg>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Send a test mail through the configured transport, now (not through the outbox).
    TestMail {
        #[arg(long)]
        to: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusArg {
    Pending,
    Sent,
    Failed,
    Cancelled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// Runs a notify command, writing to `out`.
pub fn run(args: NotifyArgs, clock: Arc<dyn Clock>, out: &mut dyn Write) -> Result<(), CliError> {
    let (file, file_database) = match &args.tool.config {
        Some(path) => match super::collector_file(path)? {
            Some(inv) => {
                let file = NotifyFile {
                    notify: inv.notify.clone().unwrap_or_default(),
                    database: None,
                    calendar: inv.calendar.clone(),
                };
                (file, Some(inv.settings.database.clone()))
            }
            None => {
                let file = NotifyFile::load(path)?;
                let database = super::tool_database(None, file.database.clone())?;
                (file, database)
            }
        },
        None => (NotifyFile::default(), None),
    };
    let clock = args.tool.clock(clock);
    match args.command {
        NotifyCommand::Outbox { status, format } => {
            let database = (args.tool.database)
                .or(file_database)
                .ok_or(CliError::NoDatabase)?;
            if !database.exists() {
                return Err(CliError::DatabaseMissing(database));
            }
            let store = Database::open(&database)?.notify()?;
            outbox(&*store, status.map(to_status), format, out)
        }
        NotifyCommand::TestMail { to } => test_mail(&file, &to, clock.now(), out),
    }
}

fn to_status(s: StatusArg) -> Status {
    match s {
        StatusArg::Pending => Status::Pending,
        StatusArg::Sent => Status::Sent,
        StatusArg::Failed => Status::Failed,
        StatusArg::Cancelled => Status::Cancelled,
    }
}

fn outbox(
    store: &dyn NotifyStore,
    status: Option<Status>,
    format: Format,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let mut rows = store.list(status)?;
    if status == Some(Status::Pending) {
        rows.extend(store.list(Some(Status::Sending))?);
        rows.sort_by_key(|r| r.id);
    }
    let stats = store.stats()?;
    if format == Format::Json {
        let json = serde_json::json!({ "stats": stats, "rows": rows });
        writeln!(out, "{}", serde_json::to_string_pretty(&json)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "{:>5}  {:<9}  {:>3}  {:<20}  {:<30}  ÄMNE / FEL",
        "ID", "STATUS", "FÖRS", "TID (UTC)", "MOTTAGARE"
    )?;
    for r in &rows {
        let at = r.sent_at.unwrap_or(r.due_at).format("%Y-%m-%d %H:%M:%S");
        writeln!(
            out,
            "{:>5}  {:<9}  {:>3}  {:<20}  {:<30}  {}",
            r.id, r.status, r.attempts, at, r.recipient, r.subject
        )?;
        if let Some(e) = r.last_error.as_deref().filter(|_| r.status != Status::Sent) {
            writeln!(out, "{:>80}  fel: {e}", "")?;
        }
    }
    writeln!(
        out,
        "Väntande: {}, skickade: {}, misslyckade: {}, återkallade: {}",
        stats.pending, stats.sent, stats.failed, stats.cancelled
    )?;
    Ok(())
}

fn test_mail(
    file: &NotifyFile,
    to: &str,
    now: DateTime<Utc>,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let config = &file.notify;
    let from = config.from.default.as_str();
    let tz = file
        .calendar
        .as_ref()
        .map(|c| c.time_zone.0)
        .unwrap_or(chrono_tz::Europe::Stockholm);
    let rendered = Templates::new(config.templates_dir.clone())
        .render("test_mail", &[("now", date_time_sv(now, tz))])?;
    let key = format!("test-mail:{}:{to}", now.timestamp_millis());
    let raw = render::build_message(&MailParts {
        from,
        to,
        rendered: &rendered,
        message_id: &render::message_id(&key, from),
        date: now,
        csv: Vec::new(),
    })?;
    let env = envelope(from, to).map_err(|e| CliError::Send(e.to_string()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // The SMTP pool spawns tasks: build and drop the transport inside the runtime.
    let via = runtime.block_on(async {
        let transport = ConfiguredTransport::from_config(config)?;
        transport
            .send(&env, &raw)
            .await
            .map_err(|e| CliError::Send(e.to_string()))?;
        Ok::<_, CliError>(match &transport {
            ConfiguredTransport::Smtp(_) => "SMTP".to_string(),
            ConfiguredTransport::File(f) => format!("filen i {}", f.dir().display()),
        })
    })?;
    writeln!(out, "Testmeddelande skickat till {to} via {via}.")?;
    Ok(())
}
