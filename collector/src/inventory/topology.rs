//! The `topology:` section (main file only): whether parents found over LLDP/CDP are used
//! (`parents: auto`) or only the hand-kept `parent:` lines (`parents: inventory`, the default),
//! and the roots the discovered tree hangs from (`roots:`; default the switches at node
//! sites). Also the overlay of discovered parents the resolved inventory carries
//! ([`Discovered`]), which the collector's topology sets after each neighbour walk.

use driftvakt_common::config::{Spanned, Validator};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

/// `topology:` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopologyConfig {
    #[serde(default)]
    pub parents: ParentsMode,
    #[serde(default)]
    pub roots: Vec<Spanned<String>>,
}

/// Where parents come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParentsMode {
    /// Only `parent:` lines; discovered parents are proposals for review.
    #[default]
    Inventory,
    /// A device without a `parent:` line gets the discovered one; a `parent:` line wins.
    Auto,
}

impl TopologyConfig {
    /// The configured roots' ids.
    pub fn root_ids(&self) -> Vec<String> {
        self.roots.iter().map(|r| r.value.clone()).collect()
    }

    /// Every root must be a device (`topology.roots`).
    pub(super) fn validate(
        &self,
        v: &mut Validator,
        devices: &HashMap<String, (Option<String>, String)>,
    ) {
        for r in &self.roots {
            if !devices.contains_key(&r.value) {
                v.error_at(
                    &r.referenced,
                    format!("unknown device `{}` among `roots:`", r.value),
                );
            }
        }
    }
}

/// Parents found over LLDP/CDP (device -> parent and where it was learnt: `lldp`, `cdp`) and
/// proposals an operator accepted (device -> parent, stored), shared by every clone of the
/// inventory.
#[derive(Debug, Clone, Default)]
pub struct Discovered {
    found: Arc<RwLock<BTreeMap<String, (String, String)>>>,
    accepted: Arc<RwLock<BTreeMap<String, String>>>,
}

impl Discovered {
    pub fn get(&self, id: &str) -> Option<String> {
        let map = self.found.read().unwrap_or_else(|e| e.into_inner());
        map.get(id).map(|(p, _)| p.clone())
    }

    /// Where the discovered parent of `id` was learnt.
    pub fn source(&self, id: &str) -> Option<String> {
        let map = self.found.read().unwrap_or_else(|e| e.into_inner());
        map.get(id).map(|(_, s)| s.clone())
    }

    /// Whether `id` is some device's discovered parent.
    pub fn is_parent(&self, id: &str) -> bool {
        let map = self.found.read().unwrap_or_else(|e| e.into_inner());
        map.values().any(|(p, _)| p == id)
    }

    /// Replaces the discovered parents.
    pub fn replace(&self, new: BTreeMap<String, (String, String)>) {
        let mut map = self.found.write().unwrap_or_else(|e| e.into_inner());
        *map = new;
    }

    /// The accepted parent of `id`.
    pub fn accepted(&self, id: &str) -> Option<String> {
        let map = self.accepted.read().unwrap_or_else(|e| e.into_inner());
        map.get(id).cloned()
    }

    /// Whether `id` is some device's accepted parent.
    pub fn is_accepted_parent(&self, id: &str) -> bool {
        let map = self.accepted.read().unwrap_or_else(|e| e.into_inner());
        map.values().any(|p| p == id)
    }

    /// Replaces the accepted parents.
    pub fn replace_accepted(&self, new: BTreeMap<String, String>) {
        let mut map = self.accepted.write().unwrap_or_else(|e| e.into_inner());
        *map = new;
    }
}
