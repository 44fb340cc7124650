//! The HTTP and TCP servers the HTTP and TCP probes are aimed at, run in a process of their own
//! (`driftvakt-bench serve`) so their CPU time is not counted against any prober.
//!
//! Both listen on every address on their port so one listener answers all of 127.0.0.0/8 (each
//! target is a distinct loopback address, which also keeps the clients' ephemeral ports from
//! running out); connections from anywhere but loopback are closed unanswered. The HTTP server
//! answers every request `200 ok` with `Connection: close`, so every probe, the agent's and
//! blackbox_exporter's alike, opens a fresh connection. The server closes first, so TIME_WAIT
//! stays on its side.

use anyhow::{Context, Result};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n";

/// Binds a listener on all addresses with a deep accept queue; port 0 picks a free one.
pub fn listen(port: u16) -> Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket
        .bind(SocketAddr::from(([0, 0, 0, 0], port)))
        .with_context(|| format!("cannot bind port {port}"))?;
    Ok(socket.listen(4096)?)
}

/// Serves until standard input closes (the parent went away), after printing
/// `{"http": PORT, "tcp": PORT}` on standard output.
pub async fn serve(http_port: u16, tcp_port: u16) -> Result<()> {
    let http = listen(http_port)?;
    let tcp = listen(tcp_port)?;
    println!(
        "{}",
        serde_json::json!({
            "http": http.local_addr()?.port(),
            "tcp": tcp.local_addr()?.port(),
        })
    );
    tokio::spawn(accept_loop(http, true));
    tokio::spawn(accept_loop(tcp, false));
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 64];
    while stdin.read(&mut buf).await.unwrap_or(0) > 0 {}
    Ok(())
}

async fn accept_loop(listener: TcpListener, http: bool) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        if !peer.ip().is_loopback() {
            continue;
        }
        if http {
            tokio::spawn(answer_http(stream));
        }
        // A TCP target only has to accept: the stream is dropped (closed) here.
    }
}

/// Reads one request head and answers it.
async fn answer_http(mut stream: TcpStream) {
    let mut buf = [0u8; 4096];
    let mut len = 0;
    while len < buf.len() {
        match stream.read(&mut buf[len..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => len += n,
        }
        if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let _ = stream.write_all(RESPONSE).await;
    let _ = stream.shutdown().await;
}
