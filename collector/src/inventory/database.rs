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
//! take the connection and refuse every write); `any`, the default, is accepted too, for one
//! host. The other options after `?` are TLS's (below); nothing else is accepted.
//!
//! # The PostgreSQL password
//! One rule: the password is never in the URL (a URL with one is refused, without echoing it).
//! It is read, at each (re)connection, from the file `collector.database_password_file` when that
//! is set (it must not be readable by group or others, like every secret file), otherwise from
//! the environment variable `PGPASSWORD` when that is set; without either the server must trust
//! the connection. [`PgConfig`] holds only where the password comes from, so its `Debug` and
//! `Display` (and every log line naming the database) never contain it.
//!
//! # TLS to the server
//! `?sslmode=MODE&sslrootcert=FILE` after the database name, as libpq reads them
//! ([`PgTls`]): `disable` (the default: no TLS), `require` (TLS; the certificate is checked
//! against `sslrootcert` when one is given, otherwise not at all), `verify-ca` (signed by the CA
//! in `sslrootcert`) and `verify-full` (that, and the host of the URL named in the certificate).
//! Nothing here connects: `cli/` hands the [`Location`] to the store, which uses rustls
//! (`store::pg`).

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
    /// `sslmode` and `sslrootcert` (boxed: errors carry a `Location`, and stay small).
    pub tls: Box<PgTls>,
}

/// TLS to the PostgreSQL server (see the module doc).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PgTls {
    pub mode: SslMode,
    /// `sslrootcert`: the CA (PEM) the server's certificate must be signed by.
    pub root_cert: Option<PathBuf>,
}

/// `sslmode` (libpq's names; `prefer` and `allow` are not offered: they fall back to clear
/// text without saying so).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SslMode {
    #[default]
    Disable,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn name(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
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
        let mut sep = '?';
        if self.read_write {
            write!(f, "{sep}target_session_attrs=read-write")?;
            sep = '&';
        }
        if self.tls.mode != SslMode::Disable {
            write!(f, "{sep}sslmode={}", self.tls.mode.name())?;
            sep = '&';
        }
        if let Some(root) = &self.tls.root_cert {
            write!(f, "{sep}sslrootcert={}", root.display())?;
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

/// The URL's options after `?`: `target_session_attrs` (whether a connection must find a
/// server that accepts writes), `sslmode` and `sslrootcert`.
fn parse_options(query: &str) -> Result<(bool, PgTls), String> {
    let mut tls = PgTls::default();
    let mut read_write = false;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "target_session_attrs" => read_write = session_attrs(value)?,
            "sslmode" => {
                tls.mode = match value {
                    "disable" => SslMode::Disable,
                    "require" => SslMode::Require,
                    "verify-ca" => SslMode::VerifyCa,
                    "verify-full" => SslMode::VerifyFull,
                    other => {
                        return Err(format!(
                            "sslmode `{other}` in the database URL: use disable, require, \
                             verify-ca or verify-full"
                        ))
                    }
                }
            }
            "sslrootcert" if !value.is_empty() => tls.root_cert = Some(PathBuf::from(value)),
            other => {
                return Err(format!(
                    "the database URL option `{other}` is not supported: the options are \
                     target_session_attrs, sslmode and sslrootcert (the password goes in \
                     PGPASSWORD or collector.database_password_file)"
                ))
            }
        }
    }
    let verify = matches!(tls.mode, SslMode::VerifyCa | SslMode::VerifyFull);
    if verify && tls.root_cert.is_none() {
        return Err(format!(
            "sslmode={} needs sslrootcert=FILE (the CA of the server's certificate)",
            tls.mode.name()
        ));
    }
    if tls.mode == SslMode::Disable && tls.root_cert.is_some() {
        return Err("sslrootcert without sslmode: add sslmode=verify-full".to_string());
    }
    Ok((read_write, tls))
}

/// `USER@HOST[:PORT][,HOST[:PORT]…]/DB[?target_session_attrs=…&sslmode=…&sslrootcert=…]`
/// (after `postgres://`).
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
    let (read_write, tls) = query.map(parse_options).transpose()?.unwrap_or_default();
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
        tls: Box::new(tls),
    })
}

/// `target_session_attrs`: `read-write` (true) or `any`.
fn session_attrs(value: &str) -> Result<bool, String> {
    match value {
        "read-write" => Ok(true),
        "any" => Ok(false),
        other => Err(format!(
            "target_session_attrs `{other}` is not supported: give `read-write` (or `any`)"
        )),
    }
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
/// parsed into a [`Location`], which `cli/` hands to the store.
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
        let Location::Postgres(tls) =
            "postgres://dv@db:5432/drift?sslmode=verify-full&sslrootcert=/etc/ca.pem"
                .parse::<Location>()
                .unwrap()
        else {
            panic!("not postgres")
        };
        assert_eq!(tls.tls.mode, SslMode::VerifyFull);
        assert_eq!(tls.tls.root_cert.as_deref(), Some(Path::new("/etc/ca.pem")));
        assert_eq!(
            tls.to_string(),
            "postgres://dv@db:5432/drift?sslmode=verify-full&sslrootcert=/etc/ca.pem"
        );
        for (url, says) in [
            ("postgres://dv@h/db?sslmode=prefer", "sslmode `prefer`"),
            ("postgres://dv@h/db?sslmode=verify-ca", "needs sslrootcert"),
            (
                "postgres://dv@h/db?sslrootcert=/ca.pem",
                "sslrootcert without sslmode",
            ),
            ("postgres://dv@h/db?connect_timeout=3", "`connect_timeout`"),
        ] {
            let err = url.parse::<Location>().unwrap_err();
            assert!(err.contains(says), "{url}: {err}");
        }
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
        let err = "postgres://dv@a/drift?application_name=x"
            .parse::<Location>()
            .unwrap_err();
        assert!(err.contains("`application_name` is not supported"), "{err}");
        // With TLS: every option in one URL, and back.
        let url = "postgres://dv@db-a:5432,db-b:5432/drift?target_session_attrs=read-write\
                   &sslmode=verify-full&sslrootcert=/etc/driftvakt/pg-ca.pem";
        let Location::Postgres(pg) = url.parse::<Location>().unwrap() else {
            panic!("not postgres")
        };
        assert!(pg.read_write && pg.tls.mode == SslMode::VerifyFull);
        assert_eq!(pg.to_string(), url);
        let err = "postgres://dv@a/drift?target_session_attrs=standby"
            .parse::<Location>()
            .unwrap_err();
        assert!(err.contains("`standby` is not supported"), "{err}");
        assert!("postgres://dv@a,/drift?target_session_attrs=read-write"
            .parse::<Location>()
            .is_err());
    }
}
