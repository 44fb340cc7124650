//! On-call cases registered by hand: a call to the on-call technician that no alarm raised (a
//! department phoning about a locked-out system at night), with the municipality and the
//! department (verksamheten) it is billed to, its start and end, a title and a description.
//! Table `oncall_manual_cases` (migration 14); the report bills them with the cases the
//! alerting started (`report::oncall`).

use super::columns::time_from_text as instant;
use super::StoreError;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// One on-call case registered by hand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManualOncallCase {
    pub id: i64,
    pub municipality: String,
    /// The department (verksamheten) it is billed to.
    pub department: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub title: String,
    pub description: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// A new case, as checked by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewManualOncallCase {
    pub municipality: String,
    pub department: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub title: String,
    pub description: String,
    pub by: String,
}

/// What the API, the CLI and the report use.
pub trait OncallCaseStore: Send + Sync {
    fn add(&self, new: &NewManualOncallCase, now: DateTime<Utc>) -> Result<i64, StoreError>;
    fn get(&self, id: i64) -> Result<Option<ManualOncallCase>, StoreError>;
    /// The cases that start in `[from, to)`, oldest first.
    fn starting(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ManualOncallCase>, StoreError>;
}

pub(super) const SELECT: &str = "SELECT id, municipality, department, start_utc, end_utc, title, \
                                 description, created_by, created_at FROM oncall_manual_cases";

/// A case from its columns in [`SELECT`]'s order, times as text.
pub(super) fn from_columns(id: i64, texts: [String; 8]) -> Result<ManualOncallCase, StoreError> {
    let [municipality, department, start, end, title, description, by, created] = texts;
    Ok(ManualOncallCase {
        id,
        municipality,
        department,
        start: instant(&start)?,
        end: instant(&end)?,
        title,
        description,
        created_by: by,
        created_at: instant(&created)?,
    })
}
