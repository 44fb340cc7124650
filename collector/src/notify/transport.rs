//! Sending a finished message: our own [`MailTransport`] trait, with lettre's async SMTP
//! transport (relay, port, `tls: none|starttls|implicit` with rustls, optional authentication
//! whose password comes from the environment or a file and is never logged) and lettre's file
//! transport for the demo (one `.eml` file per mail in a folder). Errors are classified as
//! temporary (retry) or permanent (5xx).

use super::config::{NotifyConfig, SmtpConfig, TlsMode};
use futures::future::BoxFuture;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Address, AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::path::{Path, PathBuf};

/// Why a message was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Try again later: server unreachable, timeout, 4xx.
    #[error("temporary failure: {0}")]
    Temporary(String),
    /// The server refused the message (5xx).
    #[error("permanent failure: {0}")]
    Permanent(String),
}

/// Something that can deliver a finished RFC 5322 message; the notifier holds one as
/// `Arc<dyn MailTransport>` (the `mail` channel's), so callers inject any transport.
pub trait MailTransport: Send + Sync {
    fn send<'a>(
        &'a self,
        envelope: &'a Envelope,
        raw: &'a [u8],
    ) -> BoxFuture<'a, Result<(), SendError>>;
}

/// Why a transport could not be built from the configuration.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("SMTP relay {host}: {message}")]
    Smtp { host: String, message: String },
    #[error("cannot read the SMTP password file {path}: {source}")]
    PasswordFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the environment variable {0} with the SMTP password is not set")]
    PasswordEnv(String),
    #[error("cannot create the outbox folder {path}: {source}")]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// lettre's SMTP transport.
#[derive(Clone)]
pub struct SmtpTransport {
    inner: AsyncSmtpTransport<Tokio1Executor>,
}

impl SmtpTransport {
    /// Builds the pooled transport; call it inside a Tokio runtime (the pool spawns a task).
    pub fn from_config(c: &SmtpConfig) -> Result<Self, TransportError> {
        let err = |message: String| TransportError::Smtp {
            host: c.host.clone(),
            message,
        };
        let tls = match c.tls {
            TlsMode::None => Tls::None,
            TlsMode::Starttls | TlsMode::Implicit => {
                let params = TlsParameters::new(c.host.clone()).map_err(|e| err(e.to_string()))?;
                if c.tls == TlsMode::Starttls {
                    Tls::Required(params)
                } else {
                    Tls::Wrapper(params)
                }
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(c.host.as_str())
            .port(c.port)
            .tls(tls)
            .timeout(Some(c.timeout.std()));
        if let Some(user) = &c.username {
            builder = builder.credentials(Credentials::new(user.clone(), password(c)?));
        }
        Ok(SmtpTransport {
            inner: builder.build(),
        })
    }
}

/// The password from `password_env` or `password_file` (trailing newline removed).
fn password(c: &SmtpConfig) -> Result<String, TransportError> {
    if let Some(var) = &c.password_env {
        return std::env::var(var).map_err(|_| TransportError::PasswordEnv(var.clone()));
    }
    if let Some(path) = &c.password_file {
        let text =
            std::fs::read_to_string(path).map_err(|source| TransportError::PasswordFile {
                path: path.clone(),
                source,
            })?;
        return Ok(text.trim_end_matches(['\r', '\n']).to_string());
    }
    Ok(String::new())
}

impl MailTransport for SmtpTransport {
    fn send<'a>(
        &'a self,
        envelope: &'a Envelope,
        raw: &'a [u8],
    ) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            match self.inner.send_raw(envelope, raw).await {
                Ok(_) => Ok(()),
                Err(e) if e.is_permanent() => Err(SendError::Permanent(e.to_string())),
                Err(e) => Err(SendError::Temporary(e.to_string())),
            }
        })
    }
}

/// lettre's file transport: one `.eml` file per mail in a folder (the demo, no server).
#[derive(Clone)]
pub struct FileTransport {
    inner: AsyncFileTransport<Tokio1Executor>,
    dir: PathBuf,
}

impl FileTransport {
    pub fn new(dir: &Path) -> Result<Self, TransportError> {
        std::fs::create_dir_all(dir).map_err(|source| TransportError::Folder {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(FileTransport {
            inner: AsyncFileTransport::new(dir),
            dir: dir.to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl MailTransport for FileTransport {
    fn send<'a>(
        &'a self,
        envelope: &'a Envelope,
        raw: &'a [u8],
    ) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            self.inner
                .send_raw(envelope, raw)
                .await
                .map(|_| ())
                .map_err(|e| SendError::Temporary(e.to_string()))
        })
    }
}

/// Where the file transport writes: `notify.outbox_dir`, relative paths (the default is
/// `outbox`) taken from the database's folder.
pub fn outbox_dir(config: &NotifyConfig, database: &crate::store::Location) -> PathBuf {
    if config.outbox_dir.is_absolute() {
        return config.outbox_dir.clone();
    }
    // Next to a SQLite file; in the working folder for PostgreSQL.
    database
        .sqlite_path()
        .and_then(Path::parent)
        .unwrap_or(Path::new("."))
        .join(&config.outbox_dir)
}

/// The transport the configuration asks for: SMTP when `smtp:` is set, else the file outbox.
#[derive(Clone)]
pub enum ConfiguredTransport {
    Smtp(SmtpTransport),
    File(FileTransport),
}

impl ConfiguredTransport {
    pub fn from_config(config: &NotifyConfig) -> Result<Self, TransportError> {
        Ok(match &config.smtp {
            Some(smtp) => ConfiguredTransport::Smtp(SmtpTransport::from_config(smtp)?),
            None => ConfiguredTransport::File(FileTransport::new(&config.outbox_dir)?),
        })
    }
}

impl MailTransport for ConfiguredTransport {
    fn send<'a>(
        &'a self,
        envelope: &'a Envelope,
        raw: &'a [u8],
    ) -> BoxFuture<'a, Result<(), SendError>> {
        match self {
            ConfiguredTransport::Smtp(t) => t.send(envelope, raw),
            ConfiguredTransport::File(t) => t.send(envelope, raw),
        }
    }
}

/// The SMTP envelope for one sender and one recipient (mailbox syntax accepted).
pub fn envelope(from: &str, to: &str) -> Result<Envelope, SendError> {
    let addr = |s: &str| -> Result<Address, SendError> {
        super::render::mailbox(s)
            .map(|m| m.email)
            .map_err(|e| SendError::Permanent(e.to_string()))
    };
    Envelope::new(Some(addr(from)?), vec![addr(to)?])
        .map_err(|e| SendError::Permanent(e.to_string()))
}
