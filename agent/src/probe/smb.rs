//! SMB2/3 probe (the pure-Rust `smb` client, NTLM), the "can save to and restore from the P
//! and G folders" item: log in to a share with a service account, write a small file into a
//! folder, read it back and compare, delete it. Values: the time of the login (negotiate,
//! session and tree connect), the write, the read and the delete; `auth_failed` when the
//! account is refused, `file_error` when the share or folder is missing, a step is refused or
//! the file reads back different.

use super::account::{seconds, Account};
use super::{resolve, FailureReason, Outcome, Prober, Target};
use crate::config::SmbCheck;
use smb::{
    Client, ClientConfig, ConnectionConfig, FileAccessMask, FileCreateArgs,
    FileDispositionInformation, ReadAt, UncPath, WriteAt,
};
use std::time::{Duration, Instant};

/// NT status codes the probe tells apart.
const LOGON_FAILURE: u32 = 0xC000_006D;
const BAD_NETWORK_NAME: u32 = 0xC000_00CC;

pub struct SmbProber {
    pub account: Account,
}

impl Prober for SmbProber {
    type Spec = SmbCheck;

    async fn probe(&self, target: &Target<'_>, spec: &SmbCheck, timeout: Duration) -> Outcome {
        let client = Client::new(client_config(spec, timeout));
        let out = super::account::within("smb", timeout, self.session(&client, target, spec)).await;
        let _ = tokio::time::timeout(Duration::from_secs(1), client.close()).await;
        out
    }
}

fn client_config(spec: &SmbCheck, timeout: Duration) -> ClientConfig {
    let mut connection = ConnectionConfig {
        port: Some(spec.port.unwrap_or(445)),
        timeout: Some(timeout),
        ..ConnectionConfig::default()
    };
    connection.auth_methods.ntlm = true;
    connection.auth_methods.kerberos = false;
    ClientConfig {
        dfs: false,
        connection,
        ..ClientConfig::default()
    }
}

impl SmbProber {
    async fn session(
        &self,
        client: &Client,
        target: &Target<'_>,
        spec: &SmbCheck,
    ) -> Result<Outcome, Outcome> {
        let password = self.account.secret(spec.password.as_ref(), "password")?;
        let ip = resolve(target).await?;
        let share = spec.share.as_deref().unwrap_or_default();
        let unc = UncPath::new(&ip.to_string())
            .and_then(|u| u.with_share(share))
            .map_err(|e| Outcome::failure(FailureReason::ConfigError, format!("smb share: {e}")))?;
        let user = match spec.domain.as_deref() {
            Some(d) if !d.is_empty() => {
                format!("{d}\\{}", spec.username.as_deref().unwrap_or_default())
            }
            _ => spec.username.clone().unwrap_or_default(),
        };
        let mut out = Outcome::success();
        let started = Instant::now();
        client
            .share_connect(&unc, &user, password.expose().to_string())
            .await
            .map_err(|e| login_failure(&e, share))?;
        out.number("smb_login_seconds", seconds(started));

        let name = format!("driftvakt-probe-{:016x}.txt", rand::random::<u64>());
        let path = match spec.folder.as_deref().map(|f| f.trim_matches('/')) {
            Some(f) if !f.is_empty() => format!("{f}/{name}"),
            _ => name.clone(),
        };
        let file_unc = unc.with_path(&path);
        let content = format!(
            "Driftvakt skrev denna fil för att prova {share}; den tas bort direkt.\n{name}\n"
        );

        let started = Instant::now();
        write(client, &file_unc, content.as_bytes())
            .await
            .map_err(|e| file_failure(&e, "write", &path))?;
        out.number("smb_write_seconds", seconds(started));

        let started = Instant::now();
        let read = read(client, &file_unc, content.len()).await;
        out.number("smb_read_seconds", seconds(started));
        // Delete even when reading failed, so a probe leaves no file behind.
        let started = Instant::now();
        let deleted = delete(client, &file_unc).await;
        out.number("smb_delete_seconds", seconds(started));
        let read = read.map_err(|e| file_failure(&e, "read back", &path))?;
        deleted.map_err(|e| file_failure(&e, "delete", &path))?;
        if read != content.as_bytes() {
            return Err(Outcome::failure(
                FailureReason::FileError,
                format!(
                    "{path} read back {} bytes that differ from the {} written",
                    read.len(),
                    content.len()
                ),
            ));
        }
        out.number("smb_file_bytes", content.len() as f64);
        Ok(out)
    }
}

async fn write(client: &Client, path: &UncPath, data: &[u8]) -> smb::Result<()> {
    let file = client
        .create_file(
            path,
            &FileCreateArgs::make_create_new(Default::default(), Default::default()),
        )
        .await?
        .unwrap_file();
    let written = file.write_at(data, 0).await;
    let closed = file.close().await;
    written?;
    closed
}

async fn read(client: &Client, path: &UncPath, len: usize) -> smb::Result<Vec<u8>> {
    let file = client
        .create_file(
            path,
            &FileCreateArgs::make_open_existing(FileAccessMask::new().with_generic_read(true)),
        )
        .await?
        .unwrap_file();
    // One byte more than was written, so a longer file shows.
    let mut buf = vec![0u8; len + 1];
    let n = file.read_at(&mut buf, 0).await;
    let closed = file.close().await;
    let n = n?;
    closed?;
    buf.truncate(n);
    Ok(buf)
}

async fn delete(client: &Client, path: &UncPath) -> smb::Result<()> {
    let file = client
        .create_file(
            path,
            &FileCreateArgs::make_open_existing(
                FileAccessMask::new()
                    .with_generic_read(true)
                    .with_delete(true),
            ),
        )
        .await?
        .unwrap_file();
    let set = file
        .set_info(FileDispositionInformation {
            delete_pending: true.into(),
        })
        .await;
    let closed = file.close().await;
    set?;
    closed
}

/// The NT status an error carries, if it is one.
fn status(e: &smb::Error) -> Option<u32> {
    match e {
        smb::Error::ReceivedErrorMessage(s, _) | smb::Error::UnexpectedMessageStatus(s) => Some(*s),
        _ => None,
    }
}

fn login_failure(e: &smb::Error, share: &str) -> Outcome {
    let reason = match (e, status(e)) {
        (_, Some(LOGON_FAILURE)) | (smb::Error::SspiError(_), _) => FailureReason::AuthFailed,
        (_, Some(BAD_NETWORK_NAME)) => FailureReason::FileError,
        (smb::Error::IoError(io), _) => FailureReason::from_io(io),
        _ => io_reason(e).unwrap_or(FailureReason::ProtocolError),
    };
    Outcome::failure(reason, format!("smb login to share {share}: {e}"))
}

fn file_failure(e: &smb::Error, step: &str, path: &str) -> Outcome {
    let reason = io_reason(e).unwrap_or(FailureReason::FileError);
    Outcome::failure(reason, format!("smb {step} {path}: {e}"))
}

/// A socket error anywhere in the error's sources.
fn io_reason(e: &smb::Error) -> Option<FailureReason> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return Some(FailureReason::from_io(io));
        }
        source = s.source();
    }
    None
}
