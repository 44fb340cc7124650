//! A SQLite file as either end of `db copy` (see [`crate::store::copy`]).

use crate::store::copy::{column_list, End, Row, Sink, Value, CHUNK, TABLES};
use crate::store::StoreError;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OpenFlags};
use std::path::Path;

/// A SQLite file as either end.
pub struct SqliteEnd {
    conn: Connection,
}

impl SqliteEnd {
    /// The source: opened read-only, never migrated.
    pub fn read_only(path: &Path) -> Result<SqliteEnd, StoreError> {
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        Ok(SqliteEnd { conn })
    }

    /// The target: created with its folder and migrated the usual way.
    pub fn migrated(path: &Path) -> Result<SqliteEnd, StoreError> {
        drop(super::SqliteStore::open(path)?);
        Ok(SqliteEnd {
            conn: super::open(path)?,
        })
    }
}

impl End for SqliteEnd {
    fn version(&mut self) -> Result<i64, StoreError> {
        super::schema_version(&self.conn)
    }

    fn tables(&mut self) -> Result<Vec<String>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
               AND name <> 'dv_schema'
             ORDER BY name",
        )?;
        let names = st.query_map([], |r| r.get(0))?;
        Ok(names.collect::<Result<_, _>>()?)
    }

    fn columns(&mut self, table: &str) -> Result<Vec<String>, StoreError> {
        let mut st = self
            .conn
            .prepare(&format!("PRAGMA table_info(\"{table}\")"))?;
        let names = st.query_map([], |r| r.get(1))?;
        Ok(names.collect::<Result<_, _>>()?)
    }

    fn count(&mut self, table: &str) -> Result<u64, StoreError> {
        let n: i64 =
            self.conn
                .query_row(&format!("SELECT count(*) FROM \"{table}\""), [], |r| {
                    r.get(0)
                })?;
        Ok(n as u64)
    }

    fn begin_read(&mut self) -> Result<(), StoreError> {
        // The first read of the transaction fixes the snapshot for the rest.
        self.conn.execute_batch("BEGIN DEFERRED")?;
        self.count(TABLES[0])?;
        Ok(())
    }

    fn read(&mut self, table: &str, columns: &[String], sink: &mut Sink) -> Result<(), StoreError> {
        let sql = format!("SELECT {} FROM \"{table}\"", column_list(columns));
        let mut st = self.conn.prepare(&sql)?;
        let mut rows = st.query([])?;
        let mut chunk = Vec::with_capacity(CHUNK);
        while let Some(r) = rows.next()? {
            let row = (0..columns.len())
                .map(|i| from_sqlite(r.get(i)?, table, &columns[i]))
                .collect::<Result<Row, StoreError>>()?;
            chunk.push(row);
            if chunk.len() == CHUNK {
                sink(std::mem::take(&mut chunk))?;
            }
        }
        if !chunk.is_empty() {
            sink(chunk)?;
        }
        Ok(())
    }

    fn begin_write(&mut self) -> Result<(), StoreError> {
        Ok(self.conn.execute_batch("BEGIN IMMEDIATE")?)
    }

    fn insert(&mut self, table: &str, columns: &[String], rows: &[Row]) -> Result<(), StoreError> {
        let marks = vec!["?"; columns.len()].join(", ");
        let sql = format!(
            "INSERT INTO \"{table}\" ({}) VALUES ({marks})",
            column_list(columns)
        );
        let mut st = self.conn.prepare_cached(&sql)?;
        for row in rows {
            st.execute(rusqlite::params_from_iter(row.iter().map(to_sqlite)))?;
        }
        Ok(())
    }

    fn finish_table(&mut self, _table: &str) -> Result<(), StoreError> {
        Ok(())
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        Ok(self.conn.execute_batch("COMMIT")?)
    }
}

fn from_sqlite(v: SqlValue, table: &str, column: &str) -> Result<Value, StoreError> {
    Ok(match v {
        SqlValue::Null => Value::Null,
        SqlValue::Integer(i) => Value::Int(i),
        SqlValue::Text(s) => Value::Text(s),
        SqlValue::Blob(b) => Value::Bytes(b),
        SqlValue::Real(x) => {
            return Err(StoreError::Corrupt(format!(
                "{table}.{column} holds a real number ({x}), which no column of the schema has"
            )))
        }
    })
}

fn to_sqlite(v: &Value) -> SqlValue {
    match v {
        Value::Null => SqlValue::Null,
        Value::Int(i) => SqlValue::Integer(*i),
        Value::Text(s) => SqlValue::Text(s.clone()),
        Value::Bytes(b) => SqlValue::Blob(b.clone()),
    }
}
