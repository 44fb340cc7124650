//! What the line-based login probes (`imap`, `smtp`) share: the TCP connect, reading a line
//! with a length bound, writing a command, and the STARTTLS switch (the plain stream taken out
//! of its reader, the TLS handshake over it).

use super::tls;
use super::{resolve, FailureReason, Outcome, Target};
use rustls::ClientConfig;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// The longest reply line read (RFC 5321 allows 512 octets; IMAP capability lines run longer).
const MAX_LINE: usize = 8192;

/// A connection reading lines: plain or TLS.
pub type Plain = BufReader<TcpStream>;
pub type Secure = BufReader<TlsStream<TcpStream>>;

/// Connects to the target's `port`.
pub async fn connect(target: &Target<'_>, port: u16) -> Result<TcpStream, Outcome> {
    let ip = resolve(target).await?;
    let addr = SocketAddr::new(ip, port);
    TcpStream::connect(addr)
        .await
        .map_err(|e| Outcome::failure(FailureReason::from_io(&e), format!("connect {addr}: {e}")))
}

/// TLS over a connected stream, as the target's address.
pub async fn secure(
    stream: TcpStream,
    target: &Target<'_>,
    config: Arc<ClientConfig>,
) -> Result<Secure, Outcome> {
    let tls = tls::handshake(stream, target.address(), config).await?;
    Ok(BufReader::new(tls))
}

/// STARTTLS: the plain reader must hold nothing unread (a server that sends data before its
/// TLS handshake is refused, as RFC 3207 asks).
pub async fn upgrade(
    plain: Plain,
    target: &Target<'_>,
    config: Arc<ClientConfig>,
) -> Result<Secure, Outcome> {
    if !plain.buffer().is_empty() {
        return Err(Outcome::failure(
            FailureReason::ProtocolError,
            "the server sent data after its STARTTLS answer, before the TLS handshake",
        ));
    }
    secure(plain.into_inner(), target, config).await
}

/// One line without its CRLF; end of stream is `protocol_error` naming `step`.
pub async fn read_line<S: AsyncRead + Unpin>(
    conn: &mut BufReader<S>,
    step: &str,
) -> Result<String, Outcome> {
    let mut buf = Vec::new();
    let n = (&mut *conn)
        .take(MAX_LINE as u64)
        .read_until(b'\n', &mut buf)
        .await
        .map_err(|e| tls::classify_io(&e, step))?;
    if n == 0 {
        return Err(Outcome::failure(
            FailureReason::ProtocolError,
            format!("{step}: the server closed the connection"),
        ));
    }
    if !buf.ends_with(b"\n") {
        return Err(Outcome::failure(
            FailureReason::ProtocolError,
            format!("{step}: a line longer than {MAX_LINE} bytes"),
        ));
    }
    let line = String::from_utf8_lossy(&buf);
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Writes `line` and CRLF.
pub async fn send<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut BufReader<S>,
    line: &str,
    step: &str,
) -> Result<(), Outcome> {
    let w = conn.get_mut();
    w.write_all(format!("{line}\r\n").as_bytes())
        .await
        .map_err(|e| tls::classify_io(&e, step))?;
    w.flush().await.map_err(|e| tls::classify_io(&e, step))
}

/// A reply shown in a detail: cut short, and never the line that carried a credential.
pub fn shown(line: &str) -> String {
    let cut: String = line.chars().take(200).collect();
    cut.escape_debug().to_string()
}
