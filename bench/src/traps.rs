//! `traps`: how many SNMP traps a second the agent's receiver takes on one core, and whether
//! its memory stays flat. The receiver (async-snmp's decoder, the community check, matching
//! to the device by address, the map lookup, the count) runs on a current-thread runtime
//! pinned to CPU 0; a sender thread pinned to CPU 1 sends v2c traps from a known device with
//! an OID no map knows (counted `unknown_oid`: the whole path short of the poll, which a real
//! trap triggers at most `flood_limit` times a minute per device), keeping at most
//! [`WINDOW`] unhandled so the socket buffer never drops any.

use crate::sys;
use anyhow::{Context, Result};
use driftvakt_agent::config::{AgentConfig, SecretRef, TrapSettings};
use driftvakt_agent::metrics::AgentMetrics;
use driftvakt_agent::probe::Probers;
use driftvakt_agent::scheduler;
use driftvakt_agent::traps::delivery::Delivery;
use driftvakt_agent::traps::handle::Handler;
use driftvakt_agent::traps::metrics::TrapMetrics;
use driftvakt_agent::traps::receiver::{self, ReceiverSetup};
use driftvakt_agent::traps::targets::Targets;
use driftvakt_agent::traps::Outcome;
use driftvakt_common::clock::{Clock, SystemClock};
use prometheus_client::registry::Registry;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Traps sent but not yet handled, at most.
const WINDOW: u64 = 256;
const COMMUNITY: &str = "bench-community";

#[derive(Debug, Serialize)]
pub struct TrapsRow {
    pub traps: u64,
    /// Sent beyond `traps`: written off after 100 ms without progress (an upper bound of the
    /// datagrams dropped on the way; the first start-up pause counts in it).
    pub lost: u64,
    pub seconds: f64,
    pub per_second: f64,
    /// VmRSS after the first tenth, and at the end (KiB).
    pub rss_warm_kib: u64,
    pub rss_end_kib: u64,
    pub load: String,
}

pub fn run(count: u64) -> Result<TrapsRow> {
    pin(0);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("runtime")?;
    rt.block_on(measure(count))
}

async fn measure(count: u64) -> Result<TrapsRow> {
    let dir = tempfile::tempdir()?;
    driftvakt_testkit::files::owner_only(&dir.path().join("c"), &format!("{COMMUNITY}\n"));
    let path = dir.path().join("agent.yaml");
    std::fs::write(
        &path,
        "agent: { id: bench }\ndevices:\n  - { id: sw, class: switch, address: 127.0.0.1, checks: [{ kind: tcp, port: 9 }] }\n",
    )?;
    let config = AgentConfig::load(&path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let probers = Arc::new(Probers::new(&config.probe_settings(), clock)?);
    let agent_metrics = AgentMetrics::register(&mut Registry::default());
    let targets = Targets::new(probers, agent_metrics, &scheduler::plan(&config));
    let settings = TrapSettings {
        listen: "127.0.0.1:0".parse()?,
        communities: vec![SecretRef {
            env: None,
            file: Some(dir.path().join("c")),
        }],
        users: Vec::new(),
        engine_id: None,
        flood_limit: 20,
    };
    let setup = ReceiverSetup {
        settings: &settings,
        credentials: &[],
        agent_id: "bench",
        base: dir.path(),
        engine_file: None,
    };
    let bound = receiver::bind(&setup).await?;
    let port = bound.local_addr().port();
    let (tx, _keep) = tokio::sync::mpsc::channel(16);
    let (publish, rx) = tokio::sync::watch::channel(Some(Arc::new(targets)));
    let metrics = TrapMetrics::default();
    let handler = Arc::new(Handler::new(rx, Delivery::Channel(tx), metrics.clone(), 20));
    let task = receiver::spawn(bound, handler);
    let handled = metrics.clone();
    let sender = std::thread::spawn(move || send(port, count, &handled));
    let start = Instant::now();
    let mut rss_warm = 0;
    loop {
        let n = metrics.get(Outcome::UnknownOid);
        if rss_warm == 0 && n >= count / 10 {
            rss_warm = sys::self_status_kib("VmRSS");
        }
        if n >= count {
            break;
        }
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(600),
            "only {n} of {count} traps handled in 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let seconds = start.elapsed().as_secs_f64();
    let sent = sender.join().expect("sender thread")?;
    task.abort();
    drop(publish);
    Ok(TrapsRow {
        traps: count,
        lost: sent - count,
        seconds,
        per_second: count as f64 / seconds,
        rss_warm_kib: rss_warm,
        rss_end_kib: sys::self_status_kib("VmRSS"),
        load: sys::load(),
    })
}

/// Sends traps to 127.0.0.1:`port`, at most [`WINDOW`] ahead of `handled`, until `count` are
/// handled; returns how many were sent (the rest were lost on the way: the outstanding ones
/// are written off when nothing moved for 100 ms).
fn send(port: u16, count: u64, handled: &TrapMetrics) -> Result<u64> {
    pin(1);
    let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
    let packet = v2c_trap();
    let (mut sent, mut lost) = (0u64, 0u64);
    let mut stalled: Option<Instant> = None;
    loop {
        let done = handled.get(Outcome::UnknownOid);
        if done >= count {
            return Ok(sent);
        }
        if sent.saturating_sub(done + lost) < WINDOW {
            socket.send_to(&packet, ("127.0.0.1", port))?;
            sent += 1;
            stalled = None;
        } else if stalled.get_or_insert_with(Instant::now).elapsed() > Duration::from_millis(100) {
            lost = sent - done;
            stalled = None;
        } else {
            std::thread::yield_now();
        }
    }
}

/// Runs the calling thread on `cpu` only (best effort).
fn pin(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is valid; CPU_SET and sched_setaffinity only touch it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![tag, body.len() as u8];
    v.extend_from_slice(body);
    v
}

/// A v2c trap: sysUpTime.0, snmpTrapOID.0 = 1.3.6.1.4.1.99999.0.1, one more varbind.
fn v2c_trap() -> Vec<u8> {
    let oid = |body: &[u8]| tlv(0x06, body);
    let uptime = [oid(&[0x2b, 6, 1, 2, 1, 1, 3, 0]), tlv(0x43, &[1, 2, 3])].concat();
    let trap_oid = [
        oid(&[0x2b, 6, 1, 6, 3, 1, 1, 4, 1, 0]),
        oid(&[0x2b, 6, 1, 4, 1, 0x86, 0x8d, 0x1f, 0, 1]),
    ]
    .concat();
    let extra = [oid(&[0x2b, 6, 1, 2, 1, 2, 2, 1, 1, 3]), tlv(0x02, &[3])].concat();
    let list = tlv(
        0x30,
        &[tlv(0x30, &uptime), tlv(0x30, &trap_oid), tlv(0x30, &extra)].concat(),
    );
    let pdu = tlv(
        0xa7,
        &[tlv(0x02, &[7]), tlv(0x02, &[0]), tlv(0x02, &[0]), list].concat(),
    );
    tlv(
        0x30,
        &[tlv(0x02, &[1]), tlv(0x04, COMMUNITY.as_bytes()), pdu].concat(),
    )
}

/// The BENCHMARKS.md line.
pub fn table(r: &TrapsRow) -> String {
    format!(
        "| traps (v2c, one core) | {} ({} lost) | {:.2} s | {:.0}/s | {} → {} KiB | {} |\n",
        r.traps, r.lost, r.seconds, r.per_second, r.rss_warm_kib, r.rss_end_kib, r.load
    )
}
