//! The schema's compatibility marker, so that two releases of the collector run side by side on
//! one database during a rolling upgrade (README, "Upgrading the pair").
//!
//! Beside its schema version, a database records the oldest schema version a program must
//! know to run on it (`dv_schema.oldest_compatible`, on both backends; written by every
//! migration from [`MARKER_SINCE`] on, in the migration's own transaction). An *expand*
//! migration (new tables, new nullable or defaulted columns, indexes) leaves the marker where
//! it was: the previous release still runs on the schema. A *contract* migration (removing,
//! renaming or tightening what an older release uses) raises it to its own number: list it in
//! [`CONTRACTS`].
//!
//! A program opening a database at a version newer than its own runs on it, without migrating,
//! when the marker is at most its own version ([`check_newer`]), and refuses otherwise with
//! [`StoreError::SchemaIncompatible`]; a newer database without a marker (impossible from
//! [`MARKER_SINCE`] on, since no contract may drop it) is refused as before
//! ([`StoreError::SchemaTooNew`]). Both backends keep this one rule; only where the numbers are
//! read and written differs (`sqlite::migrate`, `pg::migrations::migrate`).

use super::StoreError;

/// The migration that brought the marker (the same number on both backends): every database at
/// this version or later has one.
pub const MARKER_SINCE: i64 = 15;

/// Migrations up to this one predate the rule and count as contract migrations (11 replaced
/// the results table; 12 brought the leader lease, which a program without it would ignore).
const BEFORE_THE_RULE: i64 = 12;

/// Contract migrations after [`BEFORE_THE_RULE`], by number. Append a migration here when it
/// removes or tightens anything the previous release reads or writes; it then raises the
/// marker, and the previous release refuses to start on the migrated database.
const CONTRACTS: &[i64] = &[];

/// The oldest schema version a program must know to run on a database at `version`.
pub fn oldest_compatible(version: i64) -> i64 {
    if version <= BEFORE_THE_RULE {
        return version;
    }
    CONTRACTS
        .iter()
        .copied()
        .filter(|c| *c <= version)
        .max()
        .unwrap_or(BEFORE_THE_RULE)
}

/// Whether this program (schema `supported`) may run on a database at the newer version
/// `found` whose marker is `oldest` (`None`: the database has no marker).
pub fn check_newer(found: i64, oldest: Option<i64>, supported: i64) -> Result<(), StoreError> {
    match oldest {
        None => Err(StoreError::SchemaTooNew { found, supported }),
        Some(oldest) if oldest > supported => Err(StoreError::SchemaIncompatible {
            found,
            supported,
            oldest,
        }),
        Some(_) => Ok(()),
    }
}

/// A database's schema as this program found it after opening ([`super::Database::schema`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaState {
    /// The version stored in the database.
    pub version: i64,
    /// Its marker, when it has one.
    pub oldest_compatible: Option<i64>,
    /// The version this program writes.
    pub supported: i64,
}

impl SchemaState {
    /// What `run` logs (INFO) when it runs on a newer, compatible schema: the other node was
    /// upgraded first, and this one should be upgraded next.
    pub fn newer_note(&self) -> Option<String> {
        if self.version <= self.supported {
            return None;
        }
        let oldest = self.oldest_compatible.unwrap_or(self.version);
        Some(format!(
            "database schema version {} is newer than this program ({}) and compatible with \
             programs from schema version {oldest} on: running on it without migrating; \
             upgrade this node too (README, \"Upgrading the pair\")",
            self.version, self.supported
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expand_migrations_leave_the_marker_and_a_contract_raises_it() {
        assert_eq!(oldest_compatible(1), 1);
        assert_eq!(oldest_compatible(11), 11);
        assert_eq!(oldest_compatible(12), 12);
        assert_eq!(oldest_compatible(MARKER_SINCE), BEFORE_THE_RULE);
        assert!(CONTRACTS.iter().all(|c| *c > MARKER_SINCE));
    }

    #[test]
    fn a_newer_schema_runs_when_its_marker_allows_it() {
        assert!(check_newer(16, Some(15), 15).is_ok());
        assert!(check_newer(16, Some(12), 15).is_ok());
        let err = check_newer(17, Some(16), 15).unwrap_err().to_string();
        assert!(
            err.contains("needs a program of schema version 16"),
            "{err}"
        );
        let err = check_newer(16, None, 15).unwrap_err().to_string();
        assert!(err.contains("is newer than this program (15)"), "{err}");
    }
}
