//! The real-time run's peers and processes: loopback TCP listeners that follow the plan (a
//! device answers while its listener is open), child processes started, signalled and reaped
//! by their own PIDs only, a minimal HTTP GET for `/metrics` and `/healthz`, and the agent's
//! spool read raw.

use crate::schedule::{Ms, World};
use anyhow::{bail, Context, Result};
use driftvakt_common::wire::ProbeResult;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A free loopback port (the kernel's pick; released at once).
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The devices as loopback listeners: one thread per device opens its port while the plan says
/// it answers and closes it (connection refused) while it or a parent is dark.
pub struct Devices {
    pub ports: Vec<u16>,
    /// Each device's port, held for the run (see [`Devices::new`]).
    _reserved: Vec<socket2::Socket>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Devices {
    /// Reserves a port per device (bound, not listening: a probe is refused); nothing listens
    /// until [`Devices::follow`]. The reservation holds the port for the whole run, so no
    /// other process can take it while a device is dark.
    pub fn new(n: usize) -> Result<Devices> {
        let reserved = (0..n)
            .map(|_| reserve(0))
            .collect::<std::io::Result<Vec<_>>>()?;
        let ports = reserved
            .iter()
            .map(|s| {
                let addr = s.local_addr()?.as_socket().context("not an IP socket")?;
                Ok(addr.port())
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Devices {
            ports,
            _reserved: reserved,
            stop: Arc::new(AtomicBool::new(false)),
            threads: Vec::new(),
        })
    }

    /// Starts following the world: device `d` listens at `t0 + t` exactly while
    /// `world.answers(d, t)`.
    pub fn follow(&mut self, world: &Arc<World>, t0: Instant) {
        for (d, port) in self.ports.iter().copied().enumerate() {
            let (world, stop) = (world.clone(), self.stop.clone());
            self.threads.push(std::thread::spawn(move || {
                listen_while(&world, d, port, t0, &stop);
            }));
        }
    }
}

/// A TCP socket bound to 127.0.0.1:`port` with `SO_REUSEADDR`, not listening. Another such
/// socket may bind the same port and listen beside it (Linux refuses only a second listener).
fn reserve(port: u16) -> std::io::Result<socket2::Socket> {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    s.set_reuse_address(true)?;
    s.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], port)).into())?;
    Ok(s)
}

/// A listener on `port` beside its reservation.
fn listen_on(port: u16) -> std::io::Result<TcpListener> {
    let s = reserve(port)?;
    s.listen(128)?;
    s.set_nonblocking(true)?;
    Ok(s.into())
}

impl Drop for Devices {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn listen_while(world: &World, d: usize, port: u16, t0: Instant, stop: &AtomicBool) {
    let mut listener: Option<TcpListener> = None;
    while !stop.load(Ordering::Relaxed) {
        let t = t0.elapsed().as_millis() as Ms;
        if world.answers(d, t) {
            if listener.is_none() {
                match listen_on(port) {
                    Ok(l) => listener = Some(l),
                    Err(e) => eprintln!("soak: device {d} cannot listen on {port}: {e}"),
                }
            }
            if let Some(l) = &listener {
                while let Ok((conn, _)) = l.accept() {
                    drop(conn);
                }
            }
        } else {
            listener = None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A child process started by the harness: its log is `log`; it is killed (SIGKILL, by its PID)
/// when dropped.
pub struct Proc {
    pub name: String,
    pub child: Child,
    pub log: PathBuf,
}

impl Proc {
    pub fn spawn(name: &str, cmd: &mut Command, log: &Path) -> Result<Proc> {
        let child = cmd
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log)?)
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        Ok(Proc {
            name: name.to_string(),
            child,
            log: log.to_path_buf(),
        })
    }

    pub fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) on the PID of a child this process started and has not reaped.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, sig);
        }
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait up to `limit` (SIGKILL after it); whether it exited in time.
    pub fn terminate(&mut self, limit: Duration) -> bool {
        self.signal(libc::SIGCONT);
        self.signal(libc::SIGTERM);
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
        false
    }

    /// Limits the size any file of the process may grow to (`RLIMIT_FSIZE`'s soft limit, set
    /// with prlimit(2) on its PID), or lifts the limit (`None`).
    pub fn limit_file_size(&self, bytes: Option<u64>) -> Result<()> {
        let limit = libc::rlimit {
            rlim_cur: bytes.unwrap_or(libc::RLIM_INFINITY),
            rlim_max: libc::RLIM_INFINITY,
        };
        // SAFETY: prlimit(2) on the PID of a child this process started and has not reaped,
        // with a valid new limit and no old one asked for.
        let rc = unsafe {
            libc::prlimit(
                self.child.id() as libc::pid_t,
                libc::RLIMIT_FSIZE,
                &limit,
                std::ptr::null_mut(),
            )
        };
        if rc != 0 {
            bail!(
                "prlimit on {}: {}",
                self.name,
                std::io::Error::last_os_error()
            );
        }
        Ok(())
    }

    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.signal(libc::SIGCONT);
        self.kill();
    }
}

/// `GET path` on 127.0.0.1:`port`: the status and body, or `None` when nothing answers within
/// `timeout`.
pub fn http_get(port: u16, path: &str, timeout: Duration) -> Option<(u16, String)> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, timeout).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    s.set_write_timeout(Some(timeout)).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf);
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
    Some((status, body.to_string()))
}

/// A metric's value on `/metrics` (summed over label sets).
pub fn metric(port: u16, name: &str) -> Option<f64> {
    let (status, body) = http_get(port, "/metrics", Duration::from_secs(2))?;
    if status != 200 {
        return None;
    }
    let values: Vec<f64> = body
        .lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// Waits until `done`, polling every 100 ms; fails naming `what` after `limit`.
pub fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Result<()> {
    let start = Instant::now();
    while !done() {
        if start.elapsed() > limit {
            bail!("timed out after {limit:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// The results made, keyed by (target, check, time in ms): every record of every segment file
/// in a spool folder, read raw (`len u32 LE | crc32 u32 LE | seq u64 LE | JSON`); a torn or
/// half-written tail ends a file.
pub fn read_spool(dir: &Path, into: &mut BTreeMap<(String, String, Ms), bool>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().is_none_or(|x| x != "log") {
            continue;
        }
        let Ok(bytes) = std::fs::read(&p) else {
            continue;
        };
        let mut at = 0;
        while at + 8 <= bytes.len() {
            let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
            let Some(payload) = bytes.get(at + 8..at + 8 + len) else {
                break;
            };
            if len < 8 || crc32fast::hash(payload).to_le_bytes() != bytes[at + 4..at + 8] {
                break;
            }
            let Ok(r) = serde_json::from_slice::<ProbeResult>(&payload[8..]) else {
                break;
            };
            into.insert((r.target, r.check, r.time.timestamp_millis()), r.ok);
            at += 8 + len;
        }
    }
}

/// A webhook receiver on loopback: records every `POST` it accepts (its `Idempotency-Key` and
/// JSON body) and answers `200`, or `500` to everything while told to fail.
pub struct WebhookPeer {
    pub port: u16,
    pub failing: Arc<AtomicBool>,
    received: Arc<std::sync::Mutex<Vec<(String, serde_json::Value)>>>,
    /// Requests answered 500.
    refused: Arc<std::sync::atomic::AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WebhookPeer {
    pub fn start() -> Result<WebhookPeer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let mut peer = WebhookPeer {
            port,
            failing: Arc::new(AtomicBool::new(false)),
            received: Arc::default(),
            refused: Arc::default(),
            stop: Arc::new(AtomicBool::new(false)),
            thread: None,
        };
        let (failing, received, refused, stop) = (
            peer.failing.clone(),
            peer.received.clone(),
            peer.refused.clone(),
            peer.stop.clone(),
        );
        peer.thread = Some(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let fail = failing.load(Ordering::Relaxed);
                        match serve_hook(conn, fail) {
                            Some(_) if fail => {
                                refused.fetch_add(1, Ordering::Relaxed);
                            }
                            Some(got) => received.lock().expect("not poisoned").push(got),
                            None => {}
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        }));
        Ok(peer)
    }

    /// Every accepted request so far: (Idempotency-Key, body).
    pub fn received(&self) -> Vec<(String, serde_json::Value)> {
        self.received.lock().expect("not poisoned").clone()
    }

    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::Relaxed)
    }
}

impl Drop for WebhookPeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads one HTTP/1.1 request (headers and a `Content-Length` body) and answers it; the
/// request's Idempotency-Key and JSON body, when it was whole.
fn serve_hook(mut conn: TcpStream, fail: bool) -> Option<(String, serde_json::Value)> {
    conn.set_nonblocking(false).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = conn.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let header = |name: &str| {
        head.lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
    };
    let len: usize = header("content-length")?.parse().ok()?;
    while buf.len() < head_end + len {
        let n = conn.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let status = if fail {
        "500 Internal Server Error"
    } else {
        "200 OK"
    };
    write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let body = serde_json::from_slice(&buf[head_end..head_end + len]).ok()?;
    Some((header("idempotency-key").unwrap_or_default(), body))
}
