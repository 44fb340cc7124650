//! Where the collector's database is: a SQLite file (a path, the default) or a PostgreSQL
//! database (`postgres://USER@HOST[:PORT]/DB` or `postgresql://…`), as given in
//! `collector.database` or `--database` (configuration, so it lives here; `store` re-exports
//! it as `store::Location` and opens it). Any other `scheme://` is refused with what this build
//! supports, so a URL is never taken for a file path.
//!
//! # Several hosts: a replicated PostgreSQL
//! `postgres://USER@HOST1:PORT1,HOST2:PORT2/DB?target_session_attrs=read-write` names every
//! server of a replicated PostgreSQL (pg_auto_failover, Patroni): each connection tries them in
//! order and keeps the first that accepts writes, so after a failover every collector finds the
//! new primary by itself. Several hosts need `target_session_attrs=read-write` (a standby would
//! take the connection and refuse every write); it is the only option accepted after `?`
//! (`any`, the default, is accepted too, for one host).
//!
//! # The PostgreSQL password
//! One rule: the password is never in the URL (a URL with one is refused, without echoing it).
//! It is read, at each (re)connection, from the file `collector.database_password_file` when that
//! is set (it must not be readable by group or others, like every secret file), otherwise from
//! the environment variable `PGPASSWORD` when that is set; without either the server must trust
//! the connection. [`PgConfig`] holds only where the password comes from, so its `Debug` and
//! `Display` (and every log line naming the database) never contain it.

use driftvakt_common::schema::secret::read_secret_file;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The database the collector stores in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database.
    Postgres(PgConfig),
}

/// How to reach a PostgreSQL database (no password: see the module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgConfig {
    pub user: String,
    /// Every server, in the order tried (one for a single server).
    pub hosts: Vec<PgHost>,
    pub dbname: String,
    /// `target_session_attrs=read-write`: a connection is kept only on a server that accepts
    /// writes (the primary).
    pub read_write: bool,
    /// `collector.database_password_file`, resolved against the inventory's folder.
    pub password_file: Option<PathBuf>,
}

/// One server of a [`PgConfig`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgHost {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for PgHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl PgConfig {
    /// The password by the rule of the module doc; the error names where it looked, never the
    /// value.
    pub fn password(&self) -> Result<Option<String>, String> {
        if let Some(file) = &self.password_file {
            let text = read_secret_file(file, "database password file")?;
            return Ok(Some(text.trim_end_matches(['\n', '\r']).to_string()));
        }
        Ok(std::env::var("PGPASSWORD").ok())
    }
}

impl fmt::Display for PgConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hosts: Vec<String> = self.hosts.iter().map(PgHost::to_string).collect();
        write!(
            f,
            "postgres://{}@{}/{}",
            self.user,
            hosts.join(","),
            self.dbname
        )?;
        if self.read_write {
            write!(f, "?target_session_attrs=read-write")?;
        }
        Ok(())
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(p) => write!(f, "{}", p.display()),
            Location::Postgres(pg) => write!(f, "{pg}"),
        }
    }
}

impl Location {
    /// The SQLite file, if it is one.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            Location::Sqlite(p) => Some(p),
            Location::Postgres(_) => None,
        }
    }

    /// Whether there is a database to read: the file exists, or (PostgreSQL) always (the server
    /// says otherwise when connecting).
    pub fn exists(&self) -> bool {
        match self {
            Location::Sqlite(p) => p.is_file(),
            Location::Postgres(_) => true,
        }
    }

    /// Sets where a PostgreSQL password is read from (no effect on a SQLite file).
    pub fn with_password_file(mut self, file: Option<PathBuf>) -> Location {
        if let Location::Postgres(pg) = &mut self {
            pg.password_file = file;
        }
        self
    }
}

impl From<PathBuf> for Location {
    fn from(p: PathBuf) -> Location {
        Location::Sqlite(p)
    }
}

impl From<&Path> for Location {
    fn from(p: &Path) -> Location {
        Location::Sqlite(p.to_path_buf())
    }
}

impl FromStr for Location {
    type Err = String;

    fn from_str(text: &str) -> Result<Location, String> {
        match text.split_once("://") {
            Some(("postgres" | "postgresql", rest)) => parse_pg(rest).map(Location::Postgres),
            Some((scheme, _)) if !scheme.is_empty() && !scheme.contains('/') => Err(format!(
                "`{scheme}://…` is not a database this build supports: give a SQLite file path \
                 or postgres://USER@HOST:PORT/DB"
            )),
            _ if text.is_empty() => Err("the database is empty: give a file path or a \
                                         postgres:// URL"
                .to_string()),
            _ => Ok(Location::Sqlite(PathBuf::from(text))),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Location {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Location, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// `USER@HOST[:PORT][,HOST[:PORT]…]/DB[?target_session_attrs=read-write]` (after
/// `postgres://`).
fn parse_pg(rest: &str) -> Result<PgConfig, String> {
    const FORM: &str = "write postgres://USER@HOST:PORT/DB";
    if rest.contains('#') {
        return Err(format!("a `#` in a database URL is not supported: {FORM}"));
    }
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (rest, None),
    };
    let (authority, dbname) = rest
        .split_once('/')
        .ok_or_else(|| format!("the database URL names no database: {FORM}"))?;
    let (user, hostports) = authority
        .rsplit_once('@')
        .ok_or_else(|| format!("the database URL names no user: {FORM}"))?;
    if user.contains(':') {
        return Err(
            "a password in the database URL is refused (it would show in logs and \
                    process lists): put it in PGPASSWORD or collector.database_password_file"
                .to_string(),
        );
    }
    let hosts = hostports
        .split(',')
        .map(split_host_port)
        .collect::<Result<Vec<PgHost>, String>>()?;
    if user.is_empty()
        || hosts.iter().any(|h| h.host.is_empty())
        || dbname.is_empty()
        || dbname.contains('/')
    {
        return Err(format!("the database URL is incomplete: {FORM}"));
    }
    let read_write = query.map(session_attrs).transpose()?.unwrap_or(false);
    if hosts.len() > 1 && !read_write {
        return Err(format!(
            "the database URL names {} servers but not which one to write to: add \
             `?target_session_attrs=read-write`, so each connection finds the primary",
            hosts.len()
        ));
    }
    Ok(PgConfig {
        user: user.to_string(),
        hosts,
        dbname: dbname.to_string(),
        read_write,
        password_file: None,
    })
}

/// The URL's options: only `target_session_attrs` (`read-write` or `any`); whether it asks
/// for a server that accepts writes.
fn session_attrs(query: &str) -> Result<bool, String> {
    let mut read_write = false;
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("target_session_attrs", "read-write")) => read_write = true,
            Some(("target_session_attrs", "any")) => read_write = false,
            Some(("target_session_attrs", other)) => {
                return Err(format!(
                    "target_session_attrs `{other}` is not supported: give `read-write` \
                     (or `any`)"
                ))
            }
            _ => {
                let key = pair.split_once('=').map_or(pair, |(k, _)| k);
                return Err(format!(
                    "the database URL option `{key}` is not supported: only \
                     `target_session_attrs=read-write` is (the password goes in PGPASSWORD or \
                     collector.database_password_file)"
                ));
            }
        }
    }
    Ok(read_write)
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`; the port defaults to 5432.
fn split_host_port(text: &str) -> Result<PgHost, String> {
    let port = |p: &str| {
        p.parse::<u16>()
            .map_err(|_| format!("the database URL's port `{p}` is not a port number"))
    };
    if let Some(v6) = text.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or("the database URL's `[` host has no `]`")?;
        let port = match after.strip_prefix(':') {
            Some(p) => port(p)?,
            None if after.is_empty() => 5432,
            None => return Err(format!("unexpected `{after}` after the host")),
        };
        return Ok(PgHost {
            host: host.to_string(),
            port,
        });
    }
    let (host, port) = match text.split_once(':') {
        Some((host, p)) => (host, port(p)?),
        None => (text, 5432),
    };
    Ok(PgHost {
        host: host.to_string(),
        port,
    })
}

/// `Ok` for a file path; a URL (`postgres://…`, any `scheme://`) is refused here, so it is
/// never taken for a file path (which would create a folder named `postgres:`): URLs are
/// parsed into a [`Location`] and opened with `store::Database::open`.
pub fn check_location(path: &Path) -> Result<(), String> {
    let text = path.to_string_lossy();
    match text.split_once("://") {
        Some((scheme, _)) if !scheme.is_empty() && !scheme.contains('/') => Err(format!(
            "`{scheme}://…` is a database URL, not a SQLite file path: give it as \
             `collector.database` or `--database`, which accept postgres:// URLs"
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_urls_and_refusals() {
        assert_eq!(
            "/var/lib/dv.db".parse::<Location>().unwrap(),
            Location::Sqlite("/var/lib/dv.db".into())
        );
        let Location::Postgres(pg) = "postgresql://dv@127.0.0.1:5433/drift"
            .parse::<Location>()
            .unwrap()
        else {
            panic!("not postgres")
        };
        assert_eq!((pg.user.as_str(), pg.hosts[0].port), ("dv", 5433));
        assert_eq!(pg.to_string(), "postgres://dv@127.0.0.1:5433/drift");
        let v6: Location = "postgres://dv@[::1]/drift".parse().unwrap();
        assert_eq!(v6.to_string(), "postgres://dv@[::1]:5432/drift");
        let err = "mysql://x@h/db".parse::<Location>().unwrap_err();
        assert!(err.contains("`mysql://…` is not a database"), "{err}");
        let err = "postgres://dv:hunter2@h/db"
            .parse::<Location>()
            .unwrap_err();
        assert!(
            err.contains("PGPASSWORD") && !err.contains("hunter2"),
            "{err}"
        );
        assert!("postgres://h/db".parse::<Location>().is_err());
        assert!("postgres://dv@h:99999/db".parse::<Location>().is_err());
    }

    #[test]
    fn several_hosts_need_read_write() {
        let url = "postgres://dv@db-a:5432,[::1]:5433,db-c/drift?target_session_attrs=read-write";
        let Location::Postgres(pg) = url.parse::<Location>().unwrap() else {
            panic!("not postgres")
        };
        let hosts: Vec<String> = pg.hosts.iter().map(PgHost::to_string).collect();
        assert_eq!(hosts, ["db-a:5432", "[::1]:5433", "db-c:5432"]);
        assert!(pg.read_write);
        assert_eq!(
            pg.to_string(),
            "postgres://dv@db-a:5432,[::1]:5433,db-c:5432/drift?target_session_attrs=read-write"
        );
        let err = "postgres://dv@a,b/drift".parse::<Location>().unwrap_err();
        assert!(err.contains("target_session_attrs=read-write"), "{err}");
        let err = "postgres://dv@a/drift?sslmode=disable"
            .parse::<Location>()
            .unwrap_err();
        assert!(err.contains("`sslmode` is not supported"), "{err}");
        let err = "postgres://dv@a/drift?target_session_attrs=standby"
            .parse::<Location>()
            .unwrap_err();
        assert!(err.contains("`standby` is not supported"), "{err}");
        assert!("postgres://dv@a,/drift?target_session_attrs=read-write"
            .parse::<Location>()
            .is_err());
    }
}
