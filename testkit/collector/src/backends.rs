//! The store's two backends in one test: SQLite in a temp folder or a fresh database on the
//! throwaway PostgreSQL cluster (`driftvakt_testkit::pg`), and [`both_backends!`] to run a test
//! on each.

use driftvakt_collector::store::Location;
use driftvakt_testkit::pg::{database, PgDatabase};
use std::path::Path;

/// The collector's [`Location`] of a database on the test cluster.
pub trait PgLocation {
    fn location(&self) -> Location;
}

impl PgLocation for PgDatabase {
    fn location(&self) -> Location {
        self.url().parse().expect("a test URL parses")
    }
}

/// Which backend a test runs on (see [`both_backends`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh database for one test; a PostgreSQL one keeps its cluster running while held.
pub struct TestDb {
    pub location: Location,
    pub pg: Option<PgDatabase>,
}

impl TestDb {
    /// What `collector.database` says for it (a path or a URL).
    pub fn text(&self) -> String {
        self.location.to_string()
    }
}

impl Backend {
    /// A new database: `dir/NAME.db`, or a new database on the shared cluster.
    pub fn fresh(self, dir: &Path, name: &str) -> TestDb {
        match self {
            Backend::Sqlite => TestDb {
                location: dir.join(format!("{name}.db")).into(),
                pg: None,
            },
            Backend::Postgres => {
                let db = database();
                TestDb {
                    location: db.location(),
                    pg: Some(db),
                }
            }
        }
    }
}

/// `both_backends!(a, b)`: tests `sqlite::a`, `postgres::a`, … each calling `a(Backend::…)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name($crate::backends::Backend::Sqlite) } )*
        }
        mod postgres {
            $( #[test] fn $name() { super::$name($crate::backends::Backend::Postgres) } )*
        }
    };
}
