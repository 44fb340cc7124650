//! [`TopologyStore`] on PostgreSQL (see [`crate::store::topology`]).

use super::{get, Pool};
use crate::store::topology::{decode, encode_time, AcceptedParent, TopologyStore};
use crate::store::StoreError;
use std::sync::Arc;

/// The `topology_accepted` table on PostgreSQL.
pub struct PgTopologyStore {
    pool: Arc<Pool>,
}

impl PgTopologyStore {
    pub fn new(pool: Arc<Pool>) -> PgTopologyStore {
        PgTopologyStore { pool }
    }
}

impl TopologyStore for PgTopologyStore {
    fn accepted(&self) -> Result<Vec<AcceptedParent>, StoreError> {
        let rows: Vec<(String, String, String)> = self.pool.run(async |c| {
            let rows = c
                .sql()
                .query(
                    "SELECT device, parent, accepted_at FROM topology_accepted ORDER BY device",
                    &[],
                )
                .await?;
            rows.iter()
                .map(|r| Ok((get(r, 0)?, get(r, 1)?, get(r, 2)?)))
                .collect()
        })?;
        rows.into_iter()
            .map(|(device, parent, at)| decode(device, parent, &at))
            .collect()
    }

    fn accept(&self, a: &AcceptedParent) -> Result<(), StoreError> {
        let at = encode_time(a.accepted_at);
        self.pool.run(async |c| {
            c.sql()
                .exec(
                    "INSERT INTO topology_accepted (device, parent, accepted_at) VALUES ($1, $2, $3)
                     ON CONFLICT (device) DO UPDATE SET parent = EXCLUDED.parent,
                     accepted_at = EXCLUDED.accepted_at",
                    &[&a.device, &a.parent, &at],
                )
                .await
        })?;
        Ok(())
    }
}
