//! The PostgreSQL backend: the same tables and the same traits as the SQLite one, and a
//! migration sequence numbered like SQLite's ([`migrations`]).
//!
//! # Design: synchronous traits over an async client
//! The store traits are synchronous and are called from tokio tasks and from `spawn_blocking`.
//! The client is `tokio-postgres`: each connection's socket is driven by a task on one small
//! private runtime (one thread, [`runtime`]), while the requests are built and awaited on the
//! caller's own thread with `futures::executor::block_on`. The client side of `tokio-postgres`
//! does not need a tokio context, so this is safe from any caller: an async task blocks its
//! worker for the length of the query, exactly as a SQLite call does, and nothing can
//! deadlock, since the socket is driven elsewhere. (The synchronous `postgres` crate panics
//! when called inside an async task, which is why it is not used.)
//!
//! A [`Pool`] keeps a few connections ([`POOL_SIZE`]), each with its prepared statements. A
//! connection found closed (the server restarted, the network broke) or on a server that refuses
//! writes (a former primary, now a standby) is dropped and the next call opens a new one, so
//! PostgreSQL coming back, or a new primary after a failover (several hosts in the URL with
//! `target_session_attrs=read-write`), is picked up by the first call after it. The
//! composition root opens the database once per process ([`super::Database::open`]), so one
//! pool serves every store of the process.
//!
//! With `sslmode` in the URL the connection is TLS (rustls through `tokio-postgres-rustls`,
//! [`tls_connector`]): `verify-full` checks the chain against `sslrootcert` and the host name,
//! `verify-ca` the chain only, `require` the chain when `sslrootcert` is given and nothing
//! otherwise (libpq's meaning).
//!
//! Text columns use `COLLATE "C"` (byte order, as SQLite compares), so `ORDER BY` on names and
//! the RFC 3339 instants stored as text give the same order on both backends.

mod announced;
mod audit;
mod batch;
mod cluster;
mod compact;
pub mod copy;
mod incidents;
mod intefunktion;
pub mod migrations;
mod notify;
mod oncall;
mod oncall_pages;
mod register;
mod results;
mod service_updates;
mod topology;
mod windows;

pub use announced::PgAnnouncedStore;
pub use audit::PgAuditStore;
pub use cluster::PgClusterStore;
pub use incidents::PgIncidentStore;
pub use intefunktion::PgIntefunktionStore;
pub use notify::PgNotifyStore;
pub use oncall::PgOncallCaseStore;
pub use register::PgRegisterStore;
pub use results::PgStore;
pub use service_updates::PgServiceUpdateStore;
pub use topology::PgTopologyStore;
pub use windows::PgWindowStore;

use super::exec::{Arg, Cells, Exec};
use super::{PgConfig, StoreError};
use crate::inventory::database::{PgTls, SslMode};
use crate::inventory::tls::read_certificates;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, NoTls, Row, Statement};

/// Connections per pool: enough for ingest, the pruner, alerting and a few readers at once.
pub const POOL_SIZE: usize = 4;

/// The one private runtime that drives every connection's socket.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("driftvakt-pg")
            .enable_all()
            .build()
            .expect("the PostgreSQL runtime starts")
    })
}

/// Runs `fut` to completion on this thread (see the module doc).
pub(super) fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    futures::executor::block_on(fut)
}

/// One connection and its prepared statements.
pub struct Conn {
    client: tokio_postgres::Client,
    cache: HashMap<String, Statement>,
}

impl Conn {
    /// Statements on the connection itself (autocommit).
    pub fn sql(&mut self) -> Sql<'_, tokio_postgres::Client> {
        Sql {
            client: &self.client,
            cache: &mut self.cache,
        }
    }

    /// A transaction; its statements through [`Tx::sql`]; dropped without commit it rolls back.
    pub async fn tx(&mut self) -> Result<Tx<'_>, StoreError> {
        let tx = self.client.transaction().await?;
        Ok(Tx {
            tx,
            cache: &mut self.cache,
        })
    }

    /// A SERIALIZABLE transaction (retried by the caller on a serialization failure).
    pub async fn serializable(&mut self) -> Result<Tx<'_>, StoreError> {
        let tx = self
            .client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::Serializable)
            .start()
            .await?;
        Ok(Tx {
            tx,
            cache: &mut self.cache,
        })
    }
}

/// An open transaction and the connection's statement cache.
pub struct Tx<'a> {
    tx: tokio_postgres::Transaction<'a>,
    cache: &'a mut HashMap<String, Statement>,
}

impl<'a> Tx<'a> {
    pub fn sql(&mut self) -> Sql<'_, tokio_postgres::Transaction<'a>> {
        Sql {
            client: &self.tx,
            cache: self.cache,
        }
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        Ok(self.tx.commit().await?)
    }
}

/// Statements through a client or a transaction, prepared once per connection.
pub struct Sql<'a, C> {
    client: &'a C,
    cache: &'a mut HashMap<String, Statement>,
}

/// Statement parameters.
pub type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

impl<C: GenericClient> Sql<'_, C> {
    async fn prepare(&mut self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(s) = self.cache.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql).await?;
        self.cache.insert(sql.to_string(), s.clone());
        Ok(s)
    }

    /// Every row.
    pub async fn query(&mut self, sql: &str, p: Params<'_>) -> Result<Vec<Row>, StoreError> {
        let s = self.prepare(sql).await?;
        Ok(self.client.query(&s, p).await?)
    }

    /// The first row, if any.
    pub async fn opt(&mut self, sql: &str, p: Params<'_>) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, p).await?.into_iter().next())
    }

    /// Exactly one row.
    pub async fn one(&mut self, sql: &str, p: Params<'_>) -> Result<Row, StoreError> {
        self.opt(sql, p)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("no row from {sql}")))
    }

    /// Rows changed.
    pub async fn exec(&mut self, sql: &str, p: Params<'_>) -> Result<u64, StoreError> {
        let s = self.prepare(sql).await?;
        Ok(self.client.execute(&s, p).await?)
    }

    /// Several statements without parameters (migrations, `db copy`).
    pub async fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        Ok(self.client.batch_execute(sql).await?)
    }
}

/// A few connections to one database (see the module doc).
pub struct Pool {
    config: PgConfig,
    conns: Vec<Mutex<Option<Conn>>>,
    next: std::sync::atomic::AtomicUsize,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pool({})", self.config)
    }
}

impl Pool {
    /// A new pool; connects once and brings the schema up to date.
    pub fn open(config: &PgConfig) -> Result<Pool, StoreError> {
        let pool = Pool {
            config: config.clone(),
            conns: (0..POOL_SIZE).map(|_| Mutex::new(None)).collect(),
            next: Default::default(),
        };
        pool.run(async |c| migrations::migrate(c).await)?;
        Ok(pool)
    }

    /// What the pool connects to (no password).
    pub fn config(&self) -> &PgConfig {
        &self.config
    }

    /// A free connection, or the next one in turn when all are busy.
    fn slot(&self) -> MutexGuard<'_, Option<Conn>> {
        for slot in &self.conns {
            if let Ok(guard) = slot.try_lock() {
                return guard;
            }
        }
        let i = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % self.conns.len();
        self.conns[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on a connection, (re)connecting first when it has none or it was closed; a
    /// connection that fails on a closed socket is dropped, so the next call reconnects.
    pub fn run<R>(
        &self,
        f: impl AsyncFnOnce(&mut Conn) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        self.with_conn(|conn| block_on(f(conn)))
    }

    /// Runs `f` in one transaction on a connection (see [`crate::store::exec`]): committed when
    /// it returns `Ok`, rolled back otherwise.
    pub fn transaction<R>(
        &self,
        f: impl FnOnce(&mut dyn Exec) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        self.with_conn(|conn| {
            block_on(conn.client.batch_execute("BEGIN"))?;
            let mut tx = PgExec { conn, open: true };
            let out = f(&mut tx)?;
            tx.open = false;
            block_on(tx.conn.client.batch_execute("COMMIT"))?;
            Ok(out)
        })
    }

    /// Runs `f` on a connection, as [`Pool::run`] does.
    fn with_conn<R>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let mut slot = self.slot();
        if slot.as_ref().is_none_or(|c| c.client.is_closed()) {
            *slot = None;
            *slot = Some(connect(&self.config)?);
        }
        let conn = slot.as_mut().expect("connected above");
        let out = f(conn);
        // A server that became a standby under the connection (a failover the connection
        // survived) refuses writes: the next call connects again and finds the new primary.
        if conn.client.is_closed() || out.as_ref().is_err_and(StoreError::is_read_only) {
            *slot = None;
        }
        out
    }
}

/// What the server a connection reached says about keeping a committed transaction (see
/// [`Durability::warnings`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Durability {
    /// `fsync`.
    pub fsync: String,
    /// `synchronous_commit` for this session (the database's and role's settings included).
    pub synchronous_commit: String,
    /// `synchronous_standby_names`.
    pub synchronous_standby_names: String,
    /// Standbys streaming from this server (`pg_stat_replication`).
    pub standbys: i64,
}

impl Durability {
    /// Why a batch the collector confirmed could be lost on this server: with `fsync` off, a
    /// crash of the server; with `synchronous_commit` `off`, a crash within the last moments;
    /// with standbys streaming but none synchronous (`synchronous_standby_names` empty) or with
    /// `synchronous_commit` `local`, a failover to a standby that had not received it yet.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.fsync == "off" {
            out.push(
                "fsync is off: a crash of the database server can lose batches the collector \
                 already confirmed to agents"
                    .to_string(),
            );
        }
        match self.synchronous_commit.as_str() {
            "off" => out.push(
                "synchronous_commit is off: a crash of the database server can lose the last \
                 batches the collector confirmed to agents; set it to `on`"
                    .to_string(),
            ),
            "local" if self.standbys > 0 => out.push(format!(
                "synchronous_commit is local with {} standby(s): a failover can lose batches \
                 the collector confirmed to agents; set it to `on` (or `remote_apply`)",
                self.standbys
            )),
            _ => {}
        }
        if self.standbys > 0 && self.synchronous_standby_names.trim().is_empty() {
            out.push(format!(
                "{} standby(s) stream from the database server but none is synchronous \
                 (synchronous_standby_names is empty): a failover can lose batches the \
                 collector confirmed to agents",
                self.standbys
            ));
        }
        out
    }
}

impl Pool {
    /// Reads [`Durability`] from the server the pool reaches now.
    pub fn durability(&self) -> Result<Durability, StoreError> {
        self.run(async |c| {
            let row = c
                .sql()
                .one(
                    "SELECT current_setting('fsync'), current_setting('synchronous_commit'), \
                     current_setting('synchronous_standby_names'), \
                     (SELECT count(*) FROM pg_stat_replication)",
                    &[],
                )
                .await?;
            Ok(Durability {
                fsync: get(&row, 0)?,
                synchronous_commit: get(&row, 1)?,
                synchronous_standby_names: get(&row, 2)?,
                standbys: get(&row, 3)?,
            })
        })
    }
}

/// Opens one connection; its socket is driven on [`runtime`].
fn connect(config: &PgConfig) -> Result<Conn, StoreError> {
    let open_err = |message: String| StoreError::Open {
        path: config.to_string(),
        message,
    };
    let mut pg = tokio_postgres::Config::new();
    pg.user(&config.user)
        .dbname(&config.dbname)
        .application_name("driftvakt-collector")
        .connect_timeout(std::time::Duration::from_secs(10));
    for h in &config.hosts {
        pg.host(&h.host).port(h.port);
    }
    if config.read_write {
        pg.target_session_attrs(tokio_postgres::config::TargetSessionAttrs::ReadWrite);
    }
    if let Some(password) = config.password().map_err(open_err)? {
        pg.password(password);
    }
    // The server refused, reset or is shutting down: unavailable for now, not broken.
    let unreachable = |message: String| StoreError::Unavailable {
        path: config.to_string(),
        message,
    };
    let rt = runtime();
    let client = if config.tls.mode == SslMode::Disable {
        let (client, connection) = block_on(rt.spawn(async move { pg.connect(NoTls).await }))
            .map_err(|e| open_err(e.to_string()))?
            .map_err(|e| unreachable(error_chain(e)))?;
        drive(rt, connection);
        client
    } else {
        pg.ssl_mode(tokio_postgres::config::SslMode::Require);
        let tls = tls_connector(&config.tls).map_err(open_err)?;
        let (client, connection) = block_on(rt.spawn(async move { pg.connect(tls).await }))
            .map_err(|e| open_err(e.to_string()))?
            .map_err(|e| unreachable(error_chain(e)))?;
        drive(rt, connection);
        client
    };
    Ok(Conn {
        client,
        cache: HashMap::new(),
    })
}

/// Drives a connection's socket on `rt` until it ends.
fn drive(
    rt: &tokio::runtime::Runtime,
    connection: impl std::future::Future<Output = Result<(), tokio_postgres::Error>> + Send + 'static,
) {
    rt.spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("PostgreSQL connection ended: {e}");
        }
    });
}

/// The message of a failed connection, with its causes (the server's reason is the cause of
/// tokio-postgres's "db error", a certificate refused by rustls that of "error performing TLS
/// handshake").
fn error_chain(e: tokio_postgres::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// The rustls connector for `tls` (not `disable`): the server's certificate checked by the
/// mode (see the module doc).
fn tls_connector(tls: &PgTls) -> Result<tokio_postgres_rustls::MakeRustlsConnect, String> {
    use rustls::client::WebPkiServerVerifier;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier: Arc<dyn rustls::client::danger::ServerCertVerifier> = match &tls.root_cert {
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in read_certificates(path).map_err(|e| format!("sslrootcert: {e}"))? {
                roots
                    .add(cert)
                    .map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
            }
            let webpki =
                WebPkiServerVerifier::builder_with_provider(roots.into(), provider.clone())
                    .build()
                    .map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
            if tls.mode == SslMode::VerifyFull {
                webpki
            } else {
                Arc::new(Relaxed {
                    chain: Some(webpki),
                    provider: provider.clone(),
                })
            }
        }
        None => Arc::new(Relaxed {
            chain: None,
            provider: provider.clone(),
        }),
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// The modes short of `verify-full`: with a root certificate (`verify-ca`, or `require` with
/// one) the chain is checked and the name is not; without one (`require`, as libpq's) the
/// certificate is not checked at all. The handshake's signatures always are.
#[derive(Debug)]
struct Relaxed {
    chain: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

mod verifiers {
    use super::Relaxed;
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::{verify_tls12_signature, verify_tls13_signature};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{CertificateError, DigitallySignedStruct, Error, SignatureScheme};

    impl ServerCertVerifier for Relaxed {
        fn verify_server_cert(
            &self,
            end_entity: &CertificateDer<'_>,
            intermediates: &[CertificateDer<'_>],
            name: &ServerName<'_>,
            ocsp: &[u8],
            now: UnixTime,
        ) -> Result<ServerCertVerified, Error> {
            let Some(chain) = &self.chain else {
                return Ok(ServerCertVerified::assertion());
            };
            match chain.verify_server_cert(end_entity, intermediates, name, ocsp, now) {
                Err(Error::InvalidCertificate(
                    CertificateError::NotValidForName
                    | CertificateError::NotValidForNameContext { .. },
                )) => Ok(ServerCertVerified::assertion()),
                other => other,
            }
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            let algorithms = &self.provider.signature_verification_algorithms;
            verify_tls12_signature(message, cert, dss, algorithms)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            let algorithms = &self.provider.signature_verification_algorithms;
            verify_tls13_signature(message, cert, dss, algorithms)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.provider
                .signature_verification_algorithms
                .supported_schemes()
        }
    }
}

/// [`Exec`] on a connection inside `BEGIN`; rolled back when dropped before the commit (an error
/// or a panic in the protocol), so the connection goes back to the pool outside a transaction.
struct PgExec<'a> {
    conn: &'a mut Conn,
    open: bool,
}

impl PgExec<'_> {
    fn params<'p>(args: &'p [Arg<'p>]) -> Vec<&'p (dyn ToSql + Sync)> {
        args.iter()
            .map(|a| match a {
                Arg::Int(v) => v as &(dyn ToSql + Sync),
                Arg::Text(s) => s as &(dyn ToSql + Sync),
            })
            .collect()
    }
}

impl Exec for PgExec<'_> {
    fn exec(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
        block_on(self.conn.sql().exec(sql, &Self::params(args)))
    }

    fn int(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Option<i64>, StoreError> {
        let row = block_on(self.conn.sql().opt(sql, &Self::params(args)))?;
        row.map(|r| get(&r, 0)).transpose()
    }
}

impl Drop for PgExec<'_> {
    fn drop(&mut self) {
        if self.open {
            let _ = block_on(self.conn.client.batch_execute("ROLLBACK"));
        }
    }
}

/// A text column's value as the stores read it.
pub(super) fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a Row,
    i: usize,
) -> Result<T, StoreError> {
    Ok(row.try_get(i)?)
}

impl Cells for Row {
    fn int(&self, i: usize) -> Result<i64, StoreError> {
        get(self, i)
    }

    fn text(&self, i: usize) -> Result<String, StoreError> {
        get(self, i)
    }

    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        get(self, i)
    }

    fn bytes(&self, i: usize) -> Result<Vec<u8>, StoreError> {
        get(self, i)
    }
}

#[cfg(test)]
mod tests {
    use super::Durability;

    fn server(fsync: &str, commit: &str, names: &str, standbys: i64) -> Durability {
        Durability {
            fsync: fsync.into(),
            synchronous_commit: commit.into(),
            synchronous_standby_names: names.into(),
            standbys,
        }
    }

    #[test]
    fn a_synchronous_standby_or_a_lone_server_keeps_every_confirmed_batch() {
        assert!(server("on", "on", "", 0).warnings().is_empty());
        assert!(server("on", "on", "ANY 1 (node_2)", 1)
            .warnings()
            .is_empty());
        assert!(server("on", "remote_apply", "node_2", 1)
            .warnings()
            .is_empty());
        // `local` without standbys loses nothing a crash would not.
        assert!(server("on", "local", "", 0).warnings().is_empty());
    }

    #[test]
    fn each_way_to_lose_a_confirmed_batch_is_named() {
        let w = server("off", "on", "", 0).warnings();
        assert!(w.len() == 1 && w[0].starts_with("fsync is off"), "{w:?}");
        let w = server("on", "off", "", 0).warnings();
        assert!(
            w.len() == 1 && w[0].starts_with("synchronous_commit is off"),
            "{w:?}"
        );
        let w = server("on", "local", "node_2", 1).warnings();
        assert!(
            w.len() == 1 && w[0].contains("local with 1 standby"),
            "{w:?}"
        );
        let w = server("on", "on", " ", 2).warnings();
        assert!(
            w.len() == 1 && w[0].contains("none is synchronous"),
            "{w:?}"
        );
    }
}
