//! A PostgreSQL database as either end of `db copy` ([`crate::store::copy`]): one connection of
//! its own (not the process's pool), read through a cursor in one `REPEATABLE READ READ ONLY`
//! transaction, written with multi-row `INSERT`s in one transaction, the id sequences set to
//! `max(id) + 1` after each table.

use super::{block_on, connect, get, migrations, Conn};
use crate::store::copy::{column_list, End, Row, Sink, Value, CHUNK};
use crate::store::{PgConfig, StoreError};
use std::collections::HashMap;
use tokio_postgres::types::{ToSql, Type};

/// Parameters per `INSERT` (PostgreSQL allows 65,535).
const MAX_PARAMS: usize = 60_000;

/// A column's type as the copy writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Text,
    Bytes,
}

/// One connection (see the module doc).
pub struct PgEnd {
    conn: Conn,
    /// Per table: its columns' kinds by name.
    kinds: HashMap<String, HashMap<String, Kind>>,
}

impl PgEnd {
    /// Connects without touching the schema (a source).
    pub fn connect(config: &PgConfig) -> Result<PgEnd, StoreError> {
        Ok(PgEnd {
            conn: connect(config)?,
            kinds: HashMap::new(),
        })
    }

    /// Connects and brings the schema up to date (a target).
    pub fn migrated(config: &PgConfig) -> Result<PgEnd, StoreError> {
        let mut end = PgEnd::connect(config)?;
        block_on(migrations::migrate(&mut end.conn))?;
        Ok(end)
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        block_on(self.conn.sql().batch(sql))
    }

    fn kinds(&mut self, table: &str) -> Result<&HashMap<String, Kind>, StoreError> {
        if !self.kinds.contains_key(table) {
            let rows = block_on(self.conn.sql().query(
                "SELECT column_name::text, data_type::text FROM information_schema.columns
                 WHERE table_schema = current_schema() AND table_name = $1",
                &[&table],
            ))?;
            let mut kinds = HashMap::new();
            for r in &rows {
                let (name, ty): (String, String) = (get(r, 0)?, get(r, 1)?);
                kinds.insert(name, kind_of(&ty, table)?);
            }
            self.kinds.insert(table.to_string(), kinds);
        }
        Ok(&self.kinds[table])
    }
}

fn kind_of(data_type: &str, table: &str) -> Result<Kind, StoreError> {
    Ok(match data_type {
        "bigint" | "integer" | "smallint" => Kind::Int,
        "text" | "character varying" => Kind::Text,
        "bytea" => Kind::Bytes,
        other => {
            return Err(StoreError::Corrupt(format!(
                "table {table} has a column of type {other}, which db copy does not handle"
            )))
        }
    })
}

impl End for PgEnd {
    fn version(&mut self) -> Result<i64, StoreError> {
        block_on(migrations::schema_version(&mut self.conn))
    }

    fn tables(&mut self) -> Result<Vec<String>, StoreError> {
        let rows = block_on(self.conn.sql().query(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
               AND table_name <> 'dv_schema'
             ORDER BY 1",
            &[],
        ))?;
        rows.iter().map(|r| get(r, 0)).collect()
    }

    fn columns(&mut self, table: &str) -> Result<Vec<String>, StoreError> {
        let rows = block_on(self.conn.sql().query(
            "SELECT column_name::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = $1
             ORDER BY ordinal_position",
            &[&table],
        ))?;
        rows.iter().map(|r| get(r, 0)).collect()
    }

    fn count(&mut self, table: &str) -> Result<u64, StoreError> {
        let sql = format!("SELECT count(*) FROM \"{table}\"");
        let row = block_on(self.conn.client.query_one(sql.as_str(), &[]))?;
        Ok(get::<i64>(&row, 0)? as u64)
    }

    fn begin_read(&mut self) -> Result<(), StoreError> {
        self.batch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    }

    fn read(&mut self, table: &str, columns: &[String], sink: &mut Sink) -> Result<(), StoreError> {
        self.batch(&format!(
            "DECLARE dv_copy NO SCROLL CURSOR FOR SELECT {} FROM \"{table}\"",
            column_list(columns)
        ))?;
        let fetch = format!("FETCH {CHUNK} FROM dv_copy");
        loop {
            let rows = block_on(self.conn.client.query(fetch.as_str(), &[]))?;
            if rows.is_empty() {
                break;
            }
            let rows = rows
                .iter()
                .map(|r| from_row(r, table))
                .collect::<Result<Vec<Row>, StoreError>>()?;
            sink(rows)?;
        }
        self.batch("CLOSE dv_copy")
    }

    fn begin_write(&mut self) -> Result<(), StoreError> {
        self.batch("BEGIN")
    }

    fn insert(&mut self, table: &str, columns: &[String], rows: &[Row]) -> Result<(), StoreError> {
        let kinds: Vec<Kind> = {
            let by_name = self.kinds(table)?;
            columns
                .iter()
                .map(|c| by_name.get(c).copied().unwrap_or(Kind::Text))
                .collect()
        };
        let per_insert = (MAX_PARAMS / columns.len().max(1)).max(1);
        for chunk in rows.chunks(per_insert) {
            let sql = insert_sql(table, columns, chunk.len());
            let mut params: Vec<Box<dyn ToSql + Sync>> = Vec::new();
            for row in chunk {
                for (v, k) in row.iter().zip(&kinds) {
                    params.push(param(v, *k, table)?);
                }
            }
            let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref()).collect();
            let st = block_on(self.conn.sql().prepare(&sql))?;
            block_on(self.conn.client.execute(&st, &refs))?;
        }
        Ok(())
    }

    fn finish_table(&mut self, table: &str) -> Result<(), StoreError> {
        // Asked only of a table with an `id` column: the function raises on a missing column,
        // which would abort the transaction.
        if !self.columns(table)?.iter().any(|c| c == "id") {
            return Ok(());
        }
        let row = block_on(
            self.conn
                .client
                .query_one("SELECT pg_get_serial_sequence($1, 'id')", &[&table]),
        )?;
        let Some(seq): Option<String> = get(&row, 0)? else {
            return Ok(());
        };
        let sql = format!(
            "SELECT setval($1::text::regclass, coalesce((SELECT max(id) FROM \"{table}\"), 0) + 1, false)"
        );
        block_on(self.conn.client.query_one(sql.as_str(), &[&seq]))?;
        Ok(())
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        self.batch("COMMIT")
    }
}

/// `INSERT INTO t (…) VALUES ($1, …), (…)` for `rows` rows.
fn insert_sql(table: &str, columns: &[String], rows: usize) -> String {
    let n = columns.len();
    let tuples: Vec<String> = (0..rows)
        .map(|r| {
            let marks: Vec<String> = (1..=n).map(|c| format!("${}", r * n + c)).collect();
            format!("({})", marks.join(", "))
        })
        .collect();
    format!(
        "INSERT INTO \"{table}\" ({}) VALUES {}",
        column_list(columns),
        tuples.join(", ")
    )
}

/// A value as the parameter of a column of kind `k` (SQLite's loose typing made strict).
fn param(v: &Value, k: Kind, table: &str) -> Result<Box<dyn ToSql + Sync>, StoreError> {
    let bad = |what: &str| {
        StoreError::Corrupt(format!(
            "table {table}: {what} where the column wants {k:?}"
        ))
    };
    Ok(match (v, k) {
        (Value::Null, Kind::Int) => Box::new(None::<i64>),
        (Value::Null, Kind::Text) => Box::new(None::<String>),
        (Value::Null, Kind::Bytes) => Box::new(None::<Vec<u8>>),
        (Value::Int(i), Kind::Int) => Box::new(*i),
        (Value::Int(i), Kind::Text) => Box::new(i.to_string()),
        (Value::Text(s), Kind::Text) => Box::new(s.clone()),
        (Value::Text(s), Kind::Int) => {
            Box::new(s.parse::<i64>().map_err(|_| bad(&format!("text {s:?}")))?)
        }
        (Value::Text(s), Kind::Bytes) => Box::new(s.clone().into_bytes()),
        (Value::Bytes(b), Kind::Bytes) => Box::new(b.clone()),
        (Value::Bytes(b), Kind::Text) => {
            Box::new(String::from_utf8(b.clone()).map_err(|_| bad("bytes that are not UTF-8"))?)
        }
        (Value::Int(_), Kind::Bytes) | (Value::Bytes(_), Kind::Int) => {
            return Err(bad(&format!("{v:?}")))
        }
    })
}

fn from_row(r: &tokio_postgres::Row, table: &str) -> Result<Row, StoreError> {
    r.columns()
        .iter()
        .enumerate()
        .map(|(i, c)| {
            Ok(match *c.type_() {
                Type::INT8 => get::<Option<i64>>(r, i)?.map_or(Value::Null, Value::Int),
                Type::INT4 => {
                    get::<Option<i32>>(r, i)?.map_or(Value::Null, |x| Value::Int(x.into()))
                }
                Type::TEXT | Type::VARCHAR => {
                    get::<Option<String>>(r, i)?.map_or(Value::Null, Value::Text)
                }
                Type::BYTEA => get::<Option<Vec<u8>>>(r, i)?.map_or(Value::Null, Value::Bytes),
                ref other => {
                    return Err(StoreError::Corrupt(format!(
                        "{table}.{}: type {other} is not handled by db copy",
                        c.name()
                    )))
                }
            })
        })
        .collect()
}
