//! [`TopologyStore`] in SQLite (see [`crate::store::topology`]).

use super::Handle;
use crate::store::topology::{decode, encode_time, AcceptedParent, TopologyStore};
use crate::store::StoreError;
use rusqlite::params;
use std::path::Path;

/// The `topology_accepted` table in the collector's SQLite file.
#[derive(Debug)]
pub struct SqliteTopologyStore {
    conn: Handle,
}

impl SqliteTopologyStore {
    /// Opens (creating if needed) the table in the SQLite database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(SqliteTopologyStore {
            conn: Handle::open(path)?,
        })
    }
}

impl TopologyStore for SqliteTopologyStore {
    fn accepted(&self) -> Result<Vec<AcceptedParent>, StoreError> {
        let conn = self.conn.lock();
        let mut stmt = conn
            .prepare("SELECT device, parent, accepted_at FROM topology_accepted ORDER BY device")?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(device, parent, at)| decode(device, parent, &at))
            .collect()
    }

    fn accept(&self, a: &AcceptedParent) -> Result<(), StoreError> {
        self.conn.lock().execute(
            "INSERT OR REPLACE INTO topology_accepted (device, parent, accepted_at) VALUES (?1, ?2, ?3)",
            params![a.device, a.parent, encode_time(a.accepted_at)],
        )?;
        Ok(())
    }
}
