//! [`IncidentStore`] in SQLite (see [`crate::store::incidents`]).

use super::Handle;
use crate::store::columns::{names, time_from_text as instant, time_text as text};
use crate::store::incidents::{
    IncidentStore, IncidentUpdate, ManualIncident, NewManualIncident, SELECT,
};
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::MutexGuard;

/// [`IncidentStore`] on the collector's database.
pub struct SqliteIncidentStore {
    conn: Handle,
}

impl SqliteIncidentStore {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(SqliteIncidentStore {
            conn: Handle::open(path)?,
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock()
    }
}

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
