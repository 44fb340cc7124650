//! Accepted topology proposals: table `topology_accepted`, one row per device whose parent an
//! operator accepted from the LLDP/CDP proposals (`driftvakt-collector topology accept`,
//! `POST /api/v1/topology/accept`). An accepted parent wins over the device's `parent:` line;
//! the YAML is never rewritten. [`TopologyStore`] is the trait; `SqliteTopologyStore` and
//! `PgTopologyStore` keep it.

use super::StoreError;
use chrono::{DateTime, SecondsFormat, Utc};

/// One accepted parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedParent {
    pub device: String,
    pub parent: String,
    pub accepted_at: DateTime<Utc>,
}

/// The `topology_accepted` table.
pub trait TopologyStore: Send + Sync {
    /// Every accepted parent, by device.
    fn accepted(&self) -> Result<Vec<AcceptedParent>, StoreError>;
    /// Stores (or replaces) the device's accepted parent.
    fn accept(&self, a: &AcceptedParent) -> Result<(), StoreError>;
}

/// Shared stores (`Arc<dyn TopologyStore>`) are stores too.
impl<T: TopologyStore + ?Sized> TopologyStore for std::sync::Arc<T> {
    fn accepted(&self) -> Result<Vec<AcceptedParent>, StoreError> {
        (**self).accepted()
    }

    fn accept(&self, a: &AcceptedParent) -> Result<(), StoreError> {
        (**self).accept(a)
    }
}

/// The time as both backends write it.
pub(crate) fn encode_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A row (device, parent, accepted_at) read back.
pub(crate) fn decode(
    device: String,
    parent: String,
    at: &str,
) -> Result<AcceptedParent, StoreError> {
    let accepted_at = DateTime::parse_from_rfc3339(at)
        .map_err(|e| StoreError::Corrupt(format!("topology_accepted {device}: {e}")))?
        .with_timezone(&Utc);
    Ok(AcceptedParent {
        device,
        parent,
        accepted_at,
    })
}
