//! ICMP echo probe with surge-ping: one shared client (one raw socket) per address family for all
//! targets, `count` echo requests per probe, RTT min/avg/max and loss.
//!
//! Every echo request gets its own (identifier, sequence) pair from a process-wide counter, so
//! any number of concurrent pingers to the same host never collide in the reply map. The socket's
//! receive buffer is raised (SO_RCVBUFFORCE as root, else SO_RCVBUF up to `rmem_max`): with one
//! socket and hundreds of concurrent pingers the kernel otherwise drops replies.
//!
//! A socket that cannot be opened is the agent's fault, never the device's: every probe of that
//! family fails with `permission_denied` (no privilege, with [`PRIVILEGE_HINT`] as detail) or
//! `agent_resources` (out of file descriptors), and [`IcmpProber::report_unusable`] logs it once
//! as an error at start-up when ICMP checks are configured.

use super::{resolve, FailureReason, Outcome, Prober, Target};
use crate::config::{CheckSpec, DeviceConfig, IcmpCheck};
use driftvakt_common::readings;
use driftvakt_common::wire::Value;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use surge_ping::{Client, Config, PingIdentifier, PingSequence, SurgeError, ICMP};

/// Shared ICMP clients; a family whose socket could not be opened keeps the reason.
pub struct IcmpProber {
    v4: Result<Client, Unusable>,
    v6: Result<Client, Unusable>,
}

/// Why a family's socket could not be opened.
#[derive(Debug, Clone)]
struct Unusable {
    reason: FailureReason,
    detail: String,
}

static NEXT_ECHO: AtomicU32 = AtomicU32::new(1);
/// Set once the unusable-socket error has been logged: once per process, however often the
/// probers are rebuilt (every assignment change rebuilds them).
static REPORTED: AtomicBool = AtomicBool::new(false);

/// What to tell a person who runs the agent without the privilege to ping.
pub const PRIVILEGE_HINT: &str = "cannot open an ICMP socket: run the agent as root, give the \
binary CAP_NET_RAW (setcap cap_net_raw+ep driftvakt-agent, or AmbientCapabilities=CAP_NET_RAW in \
its systemd unit), or allow unprivileged ping for its group with sysctl net.ipv4.ping_group_range";

impl IcmpProber {
    /// Opens the sockets. Must run inside a tokio runtime (the client spawns its receive task).
    pub fn new(receive_buffer: usize) -> IcmpProber {
        IcmpProber {
            v4: open(ICMP::V4, receive_buffer),
            v6: open(ICMP::V6, receive_buffer),
        }
    }

    /// The receive buffer the IPv4 socket actually got, in bytes (for tests and logs).
    pub fn receive_buffer_v4(&self) -> Option<usize> {
        let client = self.v4.as_ref().ok()?;
        let fd = client.get_socket().get_native_sock();
        // SAFETY: the fd belongs to the client's socket, which outlives this borrow.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        socket2::SockRef::from(&fd).recv_buffer_size().ok()
    }

    fn client(&self, ip: IpAddr) -> Result<&Client, &Unusable> {
        match ip {
            IpAddr::V4(_) => self.v4.as_ref(),
            IpAddr::V6(_) => self.v6.as_ref(),
        }
    }

    /// When `devices` have ICMP checks for a family whose socket could not be opened, logs one
    /// error saying what to do; returns that line's message. Silent after the first time in
    /// this process, and when every needed socket is open.
    pub fn report_unusable(&self, devices: &[Arc<DeviceConfig>]) -> Option<String> {
        let (mut v4, mut v6) = (0usize, 0usize);
        for d in devices {
            let icmp = d
                .checks()
                .iter()
                .filter(|c| matches!(c, CheckSpec::Icmp(_)))
                .count();
            match d.address.value.parse::<IpAddr>() {
                Ok(IpAddr::V6(_)) => v6 += icmp,
                // IPv4 literals and host names (resolved per probe, most often to IPv4).
                _ => v4 += icmp,
            }
        }
        let failed: Vec<(&str, usize, &Unusable)> =
            [("IPv4", v4, &self.v4), ("IPv6", v6, &self.v6)]
                .into_iter()
                .filter_map(|(family, n, socket)| match socket {
                    Err(u) if n > 0 => Some((family, n, u)),
                    _ => None,
                })
                .collect();
        if failed.is_empty() || REPORTED.swap(true, Ordering::AcqRel) {
            return None;
        }
        let checks: usize = failed.iter().map(|(_, n, _)| n).sum();
        let families: Vec<&str> = failed.iter().map(|(f, _, _)| *f).collect();
        let reason = failed[0].2.reason;
        let detail = &failed[0].2.detail;
        let message = if reason == FailureReason::PermissionDenied {
            let exe = std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| "/usr/bin/driftvakt-agent".into());
            // SAFETY: getgid has no preconditions.
            let gid = unsafe { libc::getgid() };
            format!(
                "ICMP checks cannot run ({checks} of them, {}): the agent may not open an ICMP \
                 socket. Run the agent as root, give the binary CAP_NET_RAW (setcap \
                 cap_net_raw+ep {exe}, or AmbientCapabilities=CAP_NET_RAW in its systemd unit), \
                 or allow unprivileged ping for its group (sysctl -w \
                 net.ipv4.ping_group_range=\"{gid} {gid}\"). Until then every ICMP result is \
                 permission_denied (the agent's fault: devices are unknown, not down)",
                families.join(", ")
            )
        } else {
            format!(
                "ICMP checks cannot run ({checks} of them, {}): {detail}. Until then every ICMP result is \
                 {reason} (the agent's fault: devices are unknown, not down)",
                families.join(", ")
            )
        };
        tracing::error!(checks, reason = %reason, "{message}");
        Some(message)
    }
}

fn open(kind: ICMP, receive_buffer: usize) -> Result<Client, Unusable> {
    let config = Config::builder().kind(kind).build();
    let client = Client::new(&config).map_err(|e| {
        let reason = FailureReason::from_io(&e);
        if reason == FailureReason::PermissionDenied {
            Unusable {
                reason,
                detail: PRIVILEGE_HINT.to_string(),
            }
        } else {
            Unusable {
                // Whatever else stops the socket (no IPv6 on this host, no descriptors left)
                // is the agent's too.
                reason: if reason.is_agent_fault() {
                    reason
                } else {
                    FailureReason::AgentError
                },
                detail: format!("cannot open an ICMP socket: {e}"),
            }
        }
    })?;
    raise_receive_buffer(client.get_socket().get_native_sock(), receive_buffer);
    Ok(client)
}

fn raise_receive_buffer(fd: std::os::fd::RawFd, bytes: usize) {
    let size = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: plain setsockopt on a socket we own, with a correctly sized int argument.
    let forced = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    } == 0;
    if !forced {
        // SAFETY: the fd belongs to the client's socket, which outlives this borrow.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        let _ = socket2::SockRef::from(&fd).set_recv_buffer_size(bytes);
    }
}

impl Prober for IcmpProber {
    type Spec = IcmpCheck;

    async fn probe(&self, target: &Target<'_>, spec: &IcmpCheck, timeout: Duration) -> Outcome {
        let ip = match resolve(target).await {
            Ok(ip) => ip,
            Err(o) => return o,
        };
        let client = match self.client(ip) {
            Ok(c) => c,
            Err(u) => return Outcome::failure(u.reason, u.detail.clone()),
        };
        let count = spec.count.unwrap_or(3).max(1);
        let spacing = spec
            .spacing
            .map(|d| d.std())
            .unwrap_or(Duration::from_millis(100));
        let deadline = Instant::now() + timeout;
        let echoes = (0..count).map(|i| echo(client, ip, spacing * u32::from(i), deadline));
        let replies = futures::future::join_all(echoes).await;
        summarize(&replies, spec.fail_loss_ratio.unwrap_or(1.0), timeout)
    }
}

/// One echo request, sent after `delay`, waiting for its reply until `deadline`.
async fn echo(
    client: &Client,
    ip: IpAddr,
    delay: Duration,
    deadline: Instant,
) -> Result<Duration, SurgeError> {
    tokio::time::sleep(delay).await;
    let n = NEXT_ECHO.fetch_add(1, Ordering::Relaxed);
    let mut pinger = client.pinger(ip, PingIdentifier((n >> 16) as u16)).await;
    pinger.timeout(deadline.saturating_duration_since(Instant::now()));
    pinger
        .ping(PingSequence(n as u16), &[0u8; 56])
        .await
        .map(|(_, rtt)| rtt)
}

fn summarize(
    replies: &[Result<Duration, SurgeError>],
    fail_loss: f64,
    timeout: Duration,
) -> Outcome {
    let rtts: Vec<f64> = replies
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|d| d.as_secs_f64())
        .collect();
    let sent = replies.len();
    let loss = 1.0 - rtts.len() as f64 / sent as f64;
    let mut out = if rtts.is_empty() || loss >= fail_loss {
        failure_of(replies, timeout)
    } else {
        Outcome::success()
    };
    out.number("icmp_sent", sent as f64);
    out.number("icmp_received", rtts.len() as f64);
    out.number("icmp_loss_ratio", loss);
    if !rtts.is_empty() {
        let min = rtts.iter().copied().fold(f64::INFINITY, f64::min);
        let max = rtts.iter().copied().fold(0.0, f64::max);
        let avg = rtts.iter().sum::<f64>() / rtts.len() as f64;
        out.values
            .insert("icmp_rtt_min_seconds".into(), Value::Number(min));
        out.values
            .insert(readings::ICMP_RTT_AVG_SECONDS.into(), Value::Number(avg));
        out.values
            .insert("icmp_rtt_max_seconds".into(), Value::Number(max));
    }
    out
}

fn failure_of(replies: &[Result<Duration, SurgeError>], timeout: Duration) -> Outcome {
    let lost = replies.iter().filter(|r| r.is_err()).count();
    let io_error = replies.iter().find_map(|r| match r {
        Err(SurgeError::IOError(e)) => Some(e),
        _ => None,
    });
    match io_error {
        Some(e) => Outcome::failure(FailureReason::from_io(e), format!("echo request: {e}")),
        None => Outcome::failure(
            FailureReason::Timeout,
            format!(
                "{lost} of {} echo requests got no reply within {timeout:?}",
                replies.len()
            ),
        ),
    }
}
