//! The collector's answer to a batch of results (`POST /api/v1/results`): how many were stored,
//! which were refused and why, and whether the batch id was seen before.

use serde::{Deserialize, Serialize};

/// The answer to a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestResponse {
    /// Results stored now (0 for a duplicate batch).
    pub accepted: usize,
    #[serde(default)]
    pub rejected: Vec<Rejected>,
    /// The batch id was seen before; nothing was applied.
    #[serde(default)]
    pub duplicate: bool,
    /// Results not stored again because the same result (agent, target, check, time and
    /// content) was stored before, for example by a batch cut differently. A result that
    /// differs from the stored one is in `rejected` instead.
    #[serde(default)]
    pub duplicate_results: usize,
}

/// A result that was not stored, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    pub index: usize,
    pub target: String,
    pub reason: String,
}
