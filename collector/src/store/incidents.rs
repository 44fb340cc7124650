//! Incidents registered by hand: faults no probe sees (e-mail, telephony, a cloud service),
//! registered by an operator with the services or municipalities they hit, a start, an end
//! (none while open), a title and a description; updates are appended, never edited. Tables
//! `manual_incidents` and `manual_incident_updates`.
//!
//! [`IncidentStore`] is what the HTTP API and the CLI write through; the report and alerting
//! read the same rows through [`crate::store::Store::manual_incidents`] (see [`list`]).
//! [`IncidentStore::ongoing`] gives the open incidents with their latest update, for a status
//! page.

use super::db::{self, time_from_text as instant, time_text as text};
use super::StoreError;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::path::Path;
use std::sync::MutexGuard;

/// One incident registered by hand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManualIncident {
    pub id: i64,
    pub title: String,
    pub description: String,
    /// Services named (inventory ids); may be empty when only municipalities are given.
    pub services: Vec<String>,
    /// The municipalities it hits (given, or those of its services).
    pub municipalities: Vec<String>,
    pub start: DateTime<Utc>,
    /// `None` while open.
    pub end: Option<DateTime<Utc>>,
    /// The device behind it (its root cause), when the operator named one: it makes the
    /// registration one incident with the outages of that cause the probes saw.
    pub cause: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// Updates, oldest first.
    pub updates: Vec<IncidentUpdate>,
}

impl ManualIncident {
    /// The latest update, if any.
    pub fn latest_update(&self) -> Option<&IncidentUpdate> {
        self.updates.last()
    }
}

/// A note added to an incident ("the supplier is restarting the mail service").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IncidentUpdate {
    pub at: DateTime<Utc>,
    pub by: String,
    pub text: String,
}

/// A new incident, as checked by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewManualIncident {
    pub title: String,
    pub description: String,
    pub services: Vec<String>,
    pub municipalities: Vec<String>,
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    pub cause: Option<String>,
    pub by: String,
}

/// What the API and the CLI change.
pub trait IncidentStore: Send + Sync {
    fn add(&self, new: &NewManualIncident, now: DateTime<Utc>) -> Result<i64, StoreError>;
    fn get(&self, id: i64) -> Result<Option<ManualIncident>, StoreError>;
    /// Appends an update.
    fn add_update(&self, id: i64, update: &IncidentUpdate) -> Result<(), StoreError>;
    /// Sets the end (closes it); `Err(Closed)` when it already has one.
    fn close(&self, id: i64, end: DateTime<Utc>) -> Result<(), StoreError>;
    /// Every incident overlapping `[from, to)` (open ones reach forever), oldest first.
    fn list(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ManualIncident>, StoreError>;
    /// The open incidents with their updates, oldest first.
    fn ongoing(&self) -> Result<Vec<ManualIncident>, StoreError>;
}

/// [`IncidentStore`] on the collector's database.
pub struct SqliteIncidentStore {
    conn: db::Handle,
}

impl SqliteIncidentStore {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(SqliteIncidentStore {
            conn: db::Handle::open(path)?,
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock()
    }
}

pub(super) fn names(json: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(e.to_string()))
}

const SELECT: &str = "SELECT id, title, description, services, municipalities, start_utc, \
                      end_utc, created_by, created_at, cause FROM manual_incidents";

/// Incidents matching `filter` (SQL after `WHERE`), with their updates.
fn query(
    conn: &Connection,
    filter: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<ManualIncident>, StoreError> {
    let mut stmt = conn.prepare(&format!("{SELECT} WHERE {filter} ORDER BY start_utc, id"))?;
    type Raw = (
        i64,
        String,
        String,
        String,
        String,
        String,
        Option<String>,
        String,
        String,
        Option<String>,
    );
    let raw: Vec<Raw> = stmt
        .query_map(args, |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
            ))
        })?
        .collect::<Result<_, _>>()?;
    let mut updates = conn.prepare_cached(
        "SELECT at, by, text FROM manual_incident_updates WHERE incident_id = ?1 ORDER BY at, id",
    )?;
    raw.into_iter()
        .map(
            |(id, title, description, services, munis, start, end, by, created, cause)| {
                let ups = updates
                    .query_map([id], |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?)))?
                    .map(|u| {
                        let (at, by, text) = u?;
                        Ok(IncidentUpdate {
                            at: instant(&at)?,
                            by,
                            text,
                        })
                    })
                    .collect::<Result<Vec<_>, StoreError>>()?;
                Ok(ManualIncident {
                    id,
                    title,
                    description,
                    services: names(&services)?,
                    municipalities: names(&munis)?,
                    start: instant(&start)?,
                    end: end.as_deref().map(instant).transpose()?,
                    cause,
                    created_by: by,
                    created_at: instant(&created)?,
                    updates: ups,
                })
            },
        )
        .collect()
}

/// Incidents overlapping `[from, to)` in Unix milliseconds (the read path of
/// [`crate::store::Store::manual_incidents`]).
pub fn list(conn: &Connection, from: i64, to: i64) -> Result<Vec<ManualIncident>, StoreError> {
    let at = |ms: i64| text(crate::availability::at(ms));
    query(
        conn,
        "start_utc < ?2 AND (end_utc IS NULL OR end_utc > ?1)",
        params![at(from), at(to)],
    )
}

impl IncidentStore for SqliteIncidentStore {
    fn add(&self, new: &NewManualIncident, now: DateTime<Utc>) -> Result<i64, StoreError> {
        let conn = self.conn();
        let json = |v: &Vec<String>| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
        conn.execute(
            "INSERT INTO manual_incidents (title, description, services, municipalities,
                 start_utc, end_utc, created_by, created_at, cause)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                new.title,
                new.description,
                json(&new.services),
                json(&new.municipalities),
                text(new.start),
                new.end.map(text),
                new.by,
                text(now),
                new.cause
            ],
        )?;
        Ok(conn.last_insert_rowid())
    }

    fn get(&self, id: i64) -> Result<Option<ManualIncident>, StoreError> {
        Ok(query(&self.conn(), "id = ?1", [id])?.pop())
    }

    fn add_update(&self, id: i64, update: &IncidentUpdate) -> Result<(), StoreError> {
        let conn = self.conn();
        let exists: Option<i64> = conn
            .query_row("SELECT id FROM manual_incidents WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?;
        if exists.is_none() {
            return Err(StoreError::UnknownIncident(id));
        }
        conn.execute(
            "INSERT INTO manual_incident_updates (incident_id, at, by, text)
             VALUES (?1, ?2, ?3, ?4)",
            params![id, text(update.at), update.by, update.text],
        )?;
        Ok(())
    }

    fn close(&self, id: i64, end: DateTime<Utc>) -> Result<(), StoreError> {
        let conn = self.conn();
        let current: Option<Option<String>> = conn
            .query_row(
                "SELECT end_utc FROM manual_incidents WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()?;
        match current {
            None => Err(StoreError::UnknownIncident(id)),
            Some(Some(at)) => Err(StoreError::IncidentClosed {
                id,
                at: instant(&at)?,
            }),
            Some(None) => {
                conn.execute(
                    "UPDATE manual_incidents SET end_utc = ?2 WHERE id = ?1",
                    params![id, text(end)],
                )?;
                Ok(())
            }
        }
    }

    fn list(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ManualIncident>, StoreError> {
        list(
            &self.conn(),
            crate::availability::ms(from),
            crate::availability::ms(to),
        )
    }

    fn ongoing(&self) -> Result<Vec<ManualIncident>, StoreError> {
        query(&self.conn(), "end_utc IS NULL", [])
    }
}

/// Shared stores (`Arc<dyn IncidentStore>`) are stores too.
impl<T: IncidentStore + ?Sized> IncidentStore for std::sync::Arc<T> {
    fn add(&self, new: &NewManualIncident, now: DateTime<Utc>) -> Result<i64, StoreError> {
        (**self).add(new, now)
    }

    fn get(&self, id: i64) -> Result<Option<ManualIncident>, StoreError> {
        (**self).get(id)
    }

    fn add_update(&self, id: i64, update: &IncidentUpdate) -> Result<(), StoreError> {
        (**self).add_update(id, update)
    }

    fn close(&self, id: i64, end: DateTime<Utc>) -> Result<(), StoreError> {
        (**self).close(id, end)
    }

    fn list(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ManualIncident>, StoreError> {
        (**self).list(from, to)
    }

    fn ongoing(&self) -> Result<Vec<ManualIncident>, StoreError> {
        (**self).ongoing()
    }
}
