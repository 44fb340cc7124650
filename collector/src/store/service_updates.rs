//! Updates an operator adds to a service disturbance the probes found ("Leverantören felsöker,
//! beräknas klart 14.00"): the probed counterpart of [`super::IncidentUpdate`] on incidents
//! registered by hand. Table `service_updates`: the service, the start of the outage it was
//! written for (`since`), when, by whom and the text; appended, never edited.
//!
//! Readers match an update to an outage by time (`at` inside the outage), so an outage whose
//! start moved with late results keeps its updates.

use super::columns::{time_from_text as instant, time_text as text};
use super::pg::{self, Pool};
use super::sqlite as db;
use super::StoreError;
use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;

/// One update of a service disturbance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceUpdate {
    pub id: i64,
    pub service_id: String,
    /// The start of the outage it was written for.
    pub since: DateTime<Utc>,
    pub at: DateTime<Utc>,
    pub by: String,
    pub text: String,
}

/// The `service_updates` table on the collector's database (SQLite or PostgreSQL).
pub enum ServiceUpdateStore {
    Sqlite(db::Handle),
    Postgres(Arc<Pool>),
}

impl ServiceUpdateStore {
    /// The table in the SQLite database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(ServiceUpdateStore::Sqlite(db::Handle::open(path)?))
    }

    /// Appends an update; returns it with its id.
    pub fn add(
        &self,
        service_id: &str,
        since: DateTime<Utc>,
        at: DateTime<Utc>,
        by: &str,
        body: &str,
    ) -> Result<ServiceUpdate, StoreError> {
        let mut update = ServiceUpdate {
            id: 0,
            service_id: service_id.to_string(),
            since,
            at,
            by: by.to_string(),
            text: body.to_string(),
        };
        let conn = match self {
            ServiceUpdateStore::Sqlite(h) => h.lock(),
            ServiceUpdateStore::Postgres(pool) => {
                update.id = pg::service_update_add(pool, &update)?;
                return Ok(update);
            }
        };
        conn.execute(
            "INSERT INTO service_updates (service_id, since, at, by, text)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![service_id, text(since), text(at), by, body],
        )?;
        update.id = conn.last_insert_rowid();
        Ok(update)
    }

    /// Every update written at or after `from`, oldest first.
    pub fn since(&self, from: DateTime<Utc>) -> Result<Vec<ServiceUpdate>, StoreError> {
        let conn = match self {
            ServiceUpdateStore::Sqlite(h) => h.lock(),
            ServiceUpdateStore::Postgres(pool) => return pg::service_updates_since(pool, from),
        };
        let mut stmt = conn.prepare_cached(
            "SELECT id, service_id, since, at, by, text FROM service_updates
             WHERE at >= ?1 ORDER BY at, id",
        )?;
        let rows = stmt
            .query_map([text(from)], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(id, service_id, since, at, by, text)| {
                Ok(ServiceUpdate {
                    id,
                    service_id,
                    since: instant(&since)?,
                    at: instant(&at)?,
                    by,
                    text,
                })
            })
            .collect()
    }
}
