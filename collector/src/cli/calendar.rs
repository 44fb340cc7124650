//! `driftvakt-collector calendar ...`: service windows, holidays and office hours from the
//! command line. JSON output is a stable interface other tools read: instants are RFC 3339 in the
//! calendar's time zone with the offset (`2026-03-17T18:00:00+01:00`). Table and text output are
//! for people, in Swedish.

use super::{CliError, ToolArgs};
use crate::calendar::{
    swedish_holidays, Calendar, CalendarFile, Moment, Subject, Window, WindowKind, WindowScope,
};
use crate::clock::Clock;
use crate::store::{Database, Location, WindowStore};
use crate::windows::view::{adhoc_out, local_midnight, window_out, AdhocOut, WindowOut};
use crate::windows::{local_text, CalendarService};
use chrono::{DateTime, Datelike, Days, FixedOffset, NaiveDate, Utc, Weekday};
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;
use std::io::Write;
use std::sync::Arc;

/// Service windows, office hours and holidays.
#[derive(Debug, Args)]
pub struct CalendarArgs {
    /// The collector's YAML file (or one with `calendar:` and `database:` keys), the database,
    /// a pinned "now".
    #[command(flatten)]
    pub tool: ToolArgs,
    #[command(subcommand)]
    pub command: CalendarCommand,
}

#[derive(Debug, Subcommand)]
pub enum CalendarCommand {
    /// List service windows (all kinds, active or not) between two local dates, inclusive.
    Windows {
        #[arg(long)]
        from: NaiveDate,
        #[arg(long)]
        to: NaiveDate,
        #[arg(long, value_enum, default_value_t = ListFormat::Json)]
        format: ListFormat,
    },
    /// Swedish public holidays and the eves treated as holidays for a year.
    Holidays {
        #[arg(long)]
        year: i32,
        #[arg(long, value_enum, default_value_t = ListFormat::Json)]
        format: ListFormat,
    },
    /// What an instant is: service window, office hours or on-call (and which holiday).
    At {
        /// RFC 3339 instant, e.g. 2026-12-24T10:00:00+01:00.
        instant: DateTime<FixedOffset>,
        #[arg(long)]
        municipality: Option<String>,
        #[arg(long)]
        site: Option<String>,
        #[arg(long)]
        device: Option<String>,
        #[arg(long)]
        service: Option<String>,
        #[arg(long, value_enum, default_value_t = TextFormat::Text)]
        format: TextFormat,
    },
    /// Activate the secondary window on a date (before it starts).
    ActivateSecondary {
        #[arg(long)]
        date: NaiveDate,
        #[arg(long)]
        by: String,
        #[arg(long, value_enum, default_value_t = TextFormat::Text)]
        format: TextFormat,
    },
    /// Withdraw the activation of a secondary window (before it starts).
    WithdrawSecondary {
        #[arg(long)]
        date: NaiveDate,
        #[arg(long, value_enum, default_value_t = TextFormat::Text)]
        format: TextFormat,
    },
    /// Create an ad-hoc service window.
    AddWindow {
        #[arg(long)]
        start: DateTime<FixedOffset>,
        #[arg(long)]
        end: DateTime<FixedOffset>,
        /// all, municipality:NAME, site:ID, device:ID or service:ID.
        #[arg(long)]
        scope: WindowScope,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        by: String,
        #[arg(long, value_enum, default_value_t = TextFormat::Text)]
        format: TextFormat,
    },
    /// Cancel an ad-hoc window (before it starts).
    CancelWindow {
        #[arg(long)]
        id: i64,
        #[arg(long)]
        by: String,
        #[arg(long, value_enum, default_value_t = TextFormat::Text)]
        format: TextFormat,
    },
    /// List ad-hoc windows, cancelled ones included.
    ListWindows {
        #[arg(long, value_enum, default_value_t = ListFormat::Json)]
        format: ListFormat,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Json,
    Table,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TextFormat {
    Text,
    Json,
}

/// Runs a calendar command, writing to `out`.
pub fn run(args: CalendarArgs, clock: Arc<dyn Clock>, out: &mut dyn Write) -> Result<(), CliError> {
    let (file, file_database) = match &args.tool.config {
        Some(path) => match super::collector_file(path)? {
            Some(inv) => {
                let file = CalendarFile {
                    calendar: inv.calendar.clone().unwrap_or_default(),
                    database: None,
                };
                (file, Some(inv.settings.database.clone()))
            }
            None => {
                let file = CalendarFile::load(path)?;
                let database = super::tool_database(None, file.database.clone())?;
                (file, database)
            }
        },
        None => (CalendarFile::default(), None),
    };
    let database = args.tool.database.clone().or(file_database);
    let clock = args.tool.clock(clock);
    let ctx = Context {
        file,
        database,
        clock,
        opened: Default::default(),
    };
    match args.command {
        CalendarCommand::Windows { from, to, format } => ctx.windows(from, to, format, out),
        CalendarCommand::Holidays { year, format } => holidays(year, format, out),
        CalendarCommand::At {
            instant,
            municipality,
            site,
            device,
            service,
            format,
        } => {
            let subject = Subject {
                device: device.as_deref(),
                service: service.as_deref(),
                site: site.as_deref(),
                municipality: municipality.as_deref(),
            };
            ctx.at(instant.with_timezone(&Utc), &subject, format, out)
        }
        CalendarCommand::ActivateSecondary { date, by, format } => {
            let window = ctx.service()?.activate_secondary(date, &by)?;
            let cal = ctx.calendar(true)?;
            let text = format!(
                "Sekundärt servicefönster {} aktiverat av {by}.",
                span_text(&cal, &window)
            );
            emit(out, format, &text, &window_out(&cal, &window))
        }
        CalendarCommand::WithdrawSecondary { date, format } => {
            let window = ctx.service()?.withdraw_secondary(date)?;
            let cal = ctx.calendar(true)?;
            let text = format!(
                "Aktiveringen av sekundärt servicefönster {} är återkallad.",
                span_text(&cal, &window)
            );
            emit(out, format, &text, &window_out(&cal, &window))
        }
        CalendarCommand::AddWindow {
            start,
            end,
            scope,
            reason,
            by,
            format,
        } => {
            let service = ctx.service()?;
            let window = service.add_window(
                start.with_timezone(&Utc),
                end.with_timezone(&Utc),
                scope,
                &reason,
                &by,
            )?;
            let cal = ctx.calendar(true)?;
            let text = format!(
                "Servicefönster {} skapat: {} ({}).",
                window.id.unwrap_or_default(),
                span_text(&cal, &window),
                window.scope
            );
            emit(out, format, &text, &window_out(&cal, &window))
        }
        CalendarCommand::CancelWindow { id, by, format } => {
            let cancelled = ctx.service()?.cancel_window(id, &by)?;
            let cal = ctx.calendar(true)?;
            let text = format!("Servicefönster {id} avbokat av {by}.");
            emit(out, format, &text, &adhoc_out(&cal, &cancelled))
        }
        CalendarCommand::ListWindows { format } => ctx.list_adhoc(format, out),
    }
}

struct Context {
    file: CalendarFile,
    database: Option<Location>,
    clock: Arc<dyn Clock>,
    /// The store once opened (the database is opened once per command).
    opened: std::cell::OnceCell<Arc<dyn WindowStore>>,
}

impl Context {
    /// The store; `create` allows a new database file (for commands that write).
    fn store(&self, create: bool) -> Result<Option<Arc<dyn WindowStore>>, CliError> {
        let Some(location) = &self.database else {
            return Ok(None);
        };
        if let Some(store) = self.opened.get() {
            return Ok(Some(store.clone()));
        }
        if !create && !location.exists() {
            return Err(CliError::DatabaseMissing(location.clone()));
        }
        let store = Database::open(location)?.windows()?;
        Ok(Some(self.opened.get_or_init(|| store).clone()))
    }

    fn service(&self) -> Result<CalendarService<Arc<dyn WindowStore>>, CliError> {
        let store = self.store(true)?.ok_or(CliError::NoDatabase)?;
        Ok(CalendarService::new(
            self.file.calendar.clone(),
            store,
            self.clock.clone(),
        ))
    }

    /// The calendar, with the database's decisions when there is one.
    fn calendar(&self, create: bool) -> Result<Calendar, CliError> {
        let config = self.file.calendar.clone();
        Ok(match self.store(create)? {
            Some(store) => Calendar::new(config, store.list_activations()?, store.list_adhoc()?),
            None => Calendar::from_config(config),
        })
    }

    fn windows(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        format: ListFormat,
        out: &mut dyn Write,
    ) -> Result<(), CliError> {
        if to < from {
            return Err(CliError::EmptyRange { from, to });
        }
        let cal = self.calendar(false)?;
        let start = local_midnight(&cal, from);
        let end = local_midnight(&cal, to.checked_add_days(Days::new(1)).unwrap_or(to));
        let rows: Vec<WindowOut> = cal
            .windows(start, end)
            .iter()
            .map(|w| window_out(&cal, w))
            .collect();
        match format {
            ListFormat::Json => write_json(out, &rows),
            ListFormat::Table => write_window_table(out, &rows),
        }
    }

    fn at(
        &self,
        t: DateTime<Utc>,
        subject: &Subject,
        format: TextFormat,
        out: &mut dyn Write,
    ) -> Result<(), CliError> {
        let cal = self.calendar(false)?;
        let moment = cal.at(t, subject);
        let local = cal.local(t);
        let holiday = cal.holiday(local.date_naive(), subject.municipality);
        let text = moment_text(&cal, t, &moment, holiday.as_deref());
        let json = AtOut {
            instant: local_text(t, cal.time_zone()),
            moment: match moment {
                Moment::InWindow(_) => "window",
                Moment::OfficeHours => "office_hours",
                Moment::OnCall { .. } => "on_call",
            },
            window: match &moment {
                Moment::InWindow(w) => Some(window_out(&cal, w)),
                _ => None,
            },
            office_hours: cal.is_office_hours(t, subject.municipality),
            holiday,
            description: text.clone(),
        };
        emit(out, format, &text, &json)
    }

    fn list_adhoc(&self, format: ListFormat, out: &mut dyn Write) -> Result<(), CliError> {
        let store = self.store(false)?.ok_or(CliError::NoDatabase)?;
        let cal = Calendar::from_config(self.file.calendar.clone());
        let rows: Vec<AdhocOut> = store
            .list_adhoc()
            .map_err(CliError::Store)?
            .iter()
            .map(|a| adhoc_out(&cal, a))
            .collect();
        match format {
            ListFormat::Json => write_json(out, &rows),
            ListFormat::Table => write_adhoc_table(out, &rows),
        }
    }
}

fn holidays(year: i32, format: ListFormat, out: &mut dyn Write) -> Result<(), CliError> {
    if !(1583..=9999).contains(&year) {
        return Err(CliError::BadYear(year));
    }
    let days = swedish_holidays(year);
    match format {
        ListFormat::Json => {
            let map: std::collections::BTreeMap<String, &str> =
                days.iter().map(|(d, n)| (d.to_string(), *n)).collect();
            write_json(out, &map)
        }
        ListFormat::Table => {
            for (date, name) in &days {
                writeln!(out, "{date}  {:<8}  {name}", weekday_sv(date.weekday()))?;
            }
            Ok(())
        }
    }
}

#[derive(Debug, Serialize)]
struct AtOut {
    instant: String,
    /// `window`, `office_hours` or `on_call`.
    moment: &'static str,
    window: Option<WindowOut>,
    office_hours: bool,
    holiday: Option<String>,
    description: String,
}

fn moment_text(cal: &Calendar, t: DateTime<Utc>, moment: &Moment, holiday: Option<&str>) -> String {
    let local = cal.local(t);
    let when = format!(
        "{} {} {}",
        weekday_sv(local.weekday()),
        local.format("%Y-%m-%d %H:%M"),
        local.format("%:z")
    );
    let what = match moment {
        Moment::InWindow(w) => format!(
            "{} servicefönster {}{}",
            kind_sv(w.kind),
            span_text(cal, w),
            w.reason
                .as_deref()
                .map(|r| format!(", {r}"))
                .unwrap_or_default()
        ),
        Moment::OfficeHours => "kontorstid".to_string(),
        Moment::OnCall { .. } => "utanför kontorstid: it-beredskap".to_string(),
    };
    match holiday {
        Some(h) => format!("{when}: {what} (helgdag: {h})"),
        None => format!("{when}: {what}"),
    }
}

/// `2026-03-17 18:00–22:00 (+01:00)`, or both dates when the window spans midnight.
fn span_text(cal: &Calendar, w: &Window) -> String {
    let (s, e) = (cal.local(w.start), cal.local(w.end));
    let end = if s.date_naive() == e.date_naive() {
        e.format("%H:%M").to_string()
    } else {
        e.format("%Y-%m-%d %H:%M").to_string()
    };
    format!("{}–{end} ({})", s.format("%Y-%m-%d %H:%M"), s.format("%:z"))
}

fn kind_sv(kind: WindowKind) -> &'static str {
    match kind {
        WindowKind::Primary => "primärt",
        WindowKind::Secondary => "sekundärt",
        WindowKind::Adhoc => "extra",
    }
}

fn weekday_sv(day: Weekday) -> &'static str {
    crate::calendar::swedish::weekday(day)
}

fn emit<T: Serialize>(
    out: &mut dyn Write,
    format: TextFormat,
    text: &str,
    json: &T,
) -> Result<(), CliError> {
    match format {
        TextFormat::Text => writeln!(out, "{text}")?,
        TextFormat::Json => write_json(out, json)?,
    }
    Ok(())
}

fn write_json<T: Serialize + ?Sized>(out: &mut dyn Write, value: &T) -> Result<(), CliError> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}

fn write_window_table(out: &mut dyn Write, rows: &[WindowOut]) -> Result<(), CliError> {
    writeln!(
        out,
        "{:<10} {:<25} {:<25} {:<5} {:<18} {:<20} {:<4} ORSAK",
        "TYP", "START", "SLUT", "AKTIV", "HELGDAG", "OMFATTNING", "ID"
    )?;
    for r in rows {
        writeln!(
            out,
            "{:<10} {:<25} {:<25} {:<5} {:<18} {:<20} {:<4} {}",
            kind_sv(r.kind),
            r.start,
            r.end,
            if r.active { "ja" } else { "nej" },
            r.holiday.as_deref().unwrap_or("-"),
            r.scope,
            r.id.map(|i| i.to_string()).unwrap_or_else(|| "-".into()),
            r.reason.as_deref().unwrap_or(""),
        )?;
    }
    Ok(())
}

fn write_adhoc_table(out: &mut dyn Write, rows: &[AdhocOut]) -> Result<(), CliError> {
    writeln!(
        out,
        "{:<4} {:<25} {:<25} {:<20} {:<12} {:<16} ORSAK",
        "ID", "START", "SLUT", "OMFATTNING", "SKAPAD AV", "AVBOKAD AV"
    )?;
    for r in rows {
        writeln!(
            out,
            "{:<4} {:<25} {:<25} {:<20} {:<12} {:<16} {}",
            r.id,
            r.start,
            r.end,
            r.scope,
            r.created_by,
            r.cancelled_by.as_deref().unwrap_or("-"),
            r.reason,
        )?;
    }
    Ok(())
}
