//! Simulated time: the world's days in one process, through the real collector library.
//!
//! The collector is built as `driftvakt-collector run` builds it (the inventory loaded from
//! YAML with `Inventory::load`, the store opened with `Database::open` on a SQLite file in a
//! temporary folder, `App::new` with the one injected clock), and batches go in through
//! `App::ingest_blocking`, the call behind `POST /api/v1/results`. The clock is a settable one
//! that the harness moves forward.
//!
//! The agents' side is generated here as the agent makes it: each check's probe times follow
//! the scheduler's rule (offset in the interval after each start of the agent, see
//! [`crate::schedule`]), results are stamped with the simulated clock, and every `push` they
//! are sent as one batch with the push's id `{agent}-{incarnation}-{first}-{last}` (the
//! incarnation changes at every restart). The agent library's scheduler and probers are not
//! run: they pace with tokio's monotonic clock and probe real sockets, and this run needs
//! neither (see SOAK.md).
//!
//! At the end, the store is compared with the world and the oracle: every result made is
//! stored exactly once, and the stored outages equal the oracle's to the millisecond.

use crate::oracle::{self, Expected, Oracle};
use crate::schedule::{AgentFault, Ms, Params, World};
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use driftvakt_collector::app::App;
use driftvakt_collector::cluster::Member;
use driftvakt_collector::inventory::Inventory;
use driftvakt_collector::store::{Database, EntityKind, Store};
use driftvakt_common::wire::{Batch, ProbeResult};
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// The largest batch the simulated agent sends.
const BATCH_MAX: usize = 5_000;
/// The sub-millisecond part of the simulated clock's "now".
const SUB_MS_NANOS: i64 = 123_456;
/// Mismatches printed at most.
const SHOWN: usize = 8;

/// The line printed at the end of a run.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Summary {
    pub seed: u64,
    pub days: u32,
    pub devices: usize,
    pub services: usize,
    /// Results the agents made.
    pub results_made: usize,
    /// Results sent, counting each replayed one again.
    pub results_sent: usize,
    pub batches_sent: usize,
    pub stored: usize,
    pub lost: usize,
    pub doubled: usize,
    pub outages_expected: usize,
    pub outages_seen: usize,
    pub mismatch_count: usize,
    pub mismatches: Vec<String>,
    /// Months whose report was compared, and the planned downtime the oracle expects in them.
    pub months_checked: usize,
    pub planned_s_expected: f64,
    /// Whether the collector took itself for a second node (its tails then go off).
    pub twin_seen: bool,
    pub elapsed_s: f64,
    pub results_per_s: f64,
    pub replay: String,
}

impl Summary {
    pub fn passed(&self) -> bool {
        self.lost == 0 && self.doubled == 0 && self.mismatch_count == 0 && !self.twin_seen
    }
}

/// One simulated agent: its devices' probe cursors, what it holds unsent, its batch numbering.
struct Agent {
    index: usize,
    id: String,
    due: BinaryHeap<Reverse<(Ms, usize)>>,
    cursors: HashMap<usize, crate::schedule::ProbeCursor>,
    spool: Vec<ProbeResult>,
    incarnation: u32,
    seq: u64,
    last_batch: Option<Batch>,
    late: Vec<(Ms, Batch)>,
}

impl Agent {
    fn new(world: &World, index: usize) -> Agent {
        let mut due = BinaryHeap::new();
        let mut cursors = HashMap::new();
        for (i, d) in world.devices.iter().enumerate() {
            if d.agent != index {
                continue;
            }
            let c = world.cursor(i);
            if let Some(t) = c.peek() {
                due.push(Reverse((t, i)));
            }
            cursors.insert(i, c);
        }
        Agent {
            index,
            id: world.agents[index].clone(),
            due,
            cursors,
            spool: Vec::new(),
            incarnation: 1,
            seq: 0,
            last_batch: None,
            late: Vec::new(),
        }
    }

    /// Probes everything due up to `now` (inclusive) into the spool.
    fn probe_until(&mut self, world: &World, now: Ms) -> usize {
        let mut n = 0;
        while let Some(Reverse((t, d))) = self.due.peek().copied() {
            if t > now {
                break;
            }
            self.due.pop();
            let c = self.cursors.get_mut(&d).expect("cursor");
            c.next();
            if let Some(next) = c.peek() {
                self.due.push(Reverse((next, d)));
            }
            self.spool.push(result(world, d, t));
            n += 1;
        }
        n
    }

    /// The spool as batches with the push's ids.
    fn take_batches(&mut self) -> Vec<Batch> {
        let mut out = Vec::new();
        for chunk in std::mem::take(&mut self.spool).chunks(BATCH_MAX) {
            let first = self.seq + 1;
            self.seq += chunk.len() as u64;
            out.push(Batch {
                agent: self.id.clone(),
                batch_id: format!("{}-{}-{first}-{}", self.id, self.incarnation, self.seq),
                results: chunk.to_vec(),
            });
        }
        out
    }
}

fn result(world: &World, device: usize, t: Ms) -> ProbeResult {
    let ok = world.answers(device, t);
    ProbeResult {
        target: world.devices[device].id.clone(),
        check: "icmp".into(),
        time: DateTime::from_timestamp_millis(t).expect("time in range"),
        ok,
        duration_ms: if ok { 1.5 } else { 5000.0 },
        error: (!ok).then(|| "timeout".to_string()),
        detail: None,
        findings: Vec::new(),
        values: Default::default(),
    }
}

/// The collector under test, in this process.
pub struct Collector {
    pub app: App,
    pub store: Arc<dyn Store>,
    /// This process as a node of the cluster, beating in the store as `run`'s node does.
    pub member: Arc<Member>,
    pub windows: Arc<dyn driftvakt_collector::store::WindowStore>,
    clock: Arc<AtomicI64>,
    _dir: tempfile::TempDir,
}

impl Collector {
    /// Writes the world's inventory and token files into a temporary folder and builds the
    /// collector on it as `run` does.
    pub fn start(world: &World) -> Result<Collector> {
        // A tmpfs when there is one: the run measures the collector's work, not the disk's
        // fsyncs (SOAK_TMPDIR chooses another folder).
        let base = std::env::var_os("SOAK_TMPDIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                let shm = std::path::Path::new("/dev/shm");
                if shm.is_dir() {
                    shm.to_path_buf()
                } else {
                    std::env::temp_dir()
                }
            });
        let dir = tempfile::Builder::new()
            .prefix("driftvakt-soak")
            .tempdir_in(base)?;
        for (i, a) in world.agents.iter().enumerate() {
            let file = dir.path().join(format!("{a}.token"));
            std::fs::write(&file, format!("token-{i}-{a}\n"))?;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
        }
        let path = dir.path().join("collector.yaml");
        std::fs::write(&path, world.inventory_yaml(dir.path()))?;
        let inv = Inventory::load(&path).map_err(|e| anyhow::anyhow!("inventory: {e}"))?;
        let db = Database::open(&inv.settings.database).context("opening the database")?;
        let store = db.store()?;
        let clock = Arc::new(AtomicI64::new(world.start));
        let reader = clock.clone();
        // A wall clock has more than milliseconds: the simulated one says the millisecond the
        // harness set and a fixed fraction of it, so code that keeps "now" finer than the
        // store does meets what it meets in the field.
        let now = move || {
            DateTime::<Utc>::from_timestamp_millis(reader.load(Ordering::Relaxed))
                .expect("time in range")
                + chrono::Duration::nanoseconds(SUB_MS_NANOS)
        };
        let clock_dyn: Arc<dyn driftvakt_collector::clock::Clock> = Arc::new(now);
        let member = Arc::new(Member::new(
            "soak-node".into(),
            "127.0.0.1:0".into(),
            inv.settings.cluster,
            db.cluster()?,
            clock_dyn.clone(),
        ));
        let windows = db.windows()?;
        let app = App::new(inv, store.clone(), clock_dyn)?;
        Ok(Collector {
            app,
            store,
            member,
            windows,
            clock,
            _dir: dir,
        })
    }

    pub fn set_now(&self, t: Ms) {
        self.clock.store(t, Ordering::Relaxed);
    }

    /// One heartbeat of this node; as `run` does, a second node (or a twin under this node's
    /// name) turns the in-memory tails off. Returns whether a twin was seen.
    fn beat(&self) -> Result<bool> {
        self.member.beat()?;
        let twin = self.member.has_twin();
        if twin {
            if let Some(t) = &self.app.tails {
                t.share();
            }
        }
        Ok(twin)
    }

    fn send(&self, batch: &Batch) -> Result<()> {
        let reply = self
            .app
            .ingest_blocking(&batch.agent, batch)
            .with_context(|| format!("batch {}", batch.batch_id))?;
        if !reply.rejected.is_empty() {
            anyhow::bail!(
                "batch {}: {} results rejected, the first: {:?}",
                batch.batch_id,
                reply.rejected.len(),
                reply.rejected[0]
            );
        }
        Ok(())
    }
}

/// Runs the world through the collector and compares.
pub fn run(params: Params) -> Result<Summary> {
    let started = std::time::Instant::now();
    let world = World::generate(params);
    let collector = Collector::start(&world)?;
    let mut summary = Summary {
        seed: params.seed,
        days: params.days,
        devices: world.devices.len(),
        services: world.services.len(),
        replay: format!(
            "scripts/soak sim --seed {} --days {} --devices {} --interval {} --push {}",
            params.seed, params.days, params.devices, params.interval_s, params.push_s
        ),
        ..Summary::default()
    };
    drive(&world, &collector, &mut summary)?;
    let oracle = Oracle::compute(&world);
    summary.results_made = oracle.results;
    count_results(&world, &*collector.store, &mut summary)?;
    compare_outages(&world, &oracle, &*collector.store, &mut summary)?;
    compare_months(&world, &oracle, &collector, &mut summary)?;
    summary.elapsed_s = started.elapsed().as_secs_f64();
    summary.results_per_s = summary.results_sent as f64 / summary.elapsed_s.max(1e-9);
    Ok(summary)
}

/// Moves the clock through the run a push at a time; each agent probes, and sends unless it is
/// stopped or cut off, with its replays and late batches.
fn drive(world: &World, c: &Collector, summary: &mut Summary) -> Result<()> {
    let mut agents: Vec<Agent> = (0..world.agents.len())
        .map(|a| Agent::new(world, a))
        .collect();
    let push = i64::from(world.params.push_s.max(1)) * 1000;
    let mut now = world.start;
    loop {
        let from = now;
        now = (now + push).min(world.end);
        c.set_now(now);
        if c.beat()? && !summary.twin_seen {
            summary.twin_seen = true;
            summary.mismatches.push(format!(
                "the node took itself for a second node at {}: in-memory tails off",
                DateTime::from_timestamp_millis(now).unwrap_or_default()
            ));
        }
        for a in &mut agents {
            step(world, c, a, from, now, summary)?;
        }
        if now >= world.end {
            break;
        }
    }
    // The end: every agent delivers what it still holds, late batches too.
    for a in &mut agents {
        for b in a.take_batches() {
            send(c, &b, summary)?;
        }
        for (_, b) in std::mem::take(&mut a.late) {
            send(c, &b, summary)?;
        }
    }
    Ok(())
}

fn send(c: &Collector, b: &Batch, summary: &mut Summary) -> Result<()> {
    summary.results_sent += b.results.len();
    summary.batches_sent += 1;
    c.send(b)
}

/// One push interval `(from, now]` of one agent.
fn step(
    world: &World,
    c: &Collector,
    a: &mut Agent,
    from: Ms,
    now: Ms,
    summary: &mut Summary,
) -> Result<()> {
    let faults = &world.agent_faults[a.index];
    let stopped = faults
        .iter()
        .any(|f| matches!(f, AgentFault::Stopped(s) if s.contains(now)));
    let restarted = faults
        .iter()
        .any(|f| matches!(f, AgentFault::Stopped(s) if from < s.end && s.end <= now));
    if stopped {
        // What it made before the stop was sent before it went down (a clean stop).
        for b in a.take_batches() {
            send(c, &b, summary)?;
        }
        a.probe_until(world, now);
        return Ok(());
    }
    if restarted {
        a.incarnation += 1;
        a.seq = 0;
    }
    a.probe_until(world, now);
    let cut_off = faults
        .iter()
        .any(|f| matches!(f, AgentFault::CutOff(s) if s.contains(now)));
    if !cut_off {
        let late_now = faults.iter().find_map(|f| match f {
            AgentFault::Late { at, delay } if from < *at && *at <= now => Some(*delay),
            _ => None,
        });
        for b in a.take_batches() {
            match late_now {
                Some(delay) => a.late.push((now + delay, b)),
                None => {
                    send(c, &b, summary)?;
                    a.last_batch = Some(b);
                }
            }
        }
        let replay = faults
            .iter()
            .any(|f| matches!(f, AgentFault::Replay(t) if from < *t && *t <= now));
        if replay {
            if let Some(b) = a.last_batch.clone() {
                send(c, &b, summary)?;
            }
        }
    }
    let (due, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut a.late)
        .into_iter()
        .partition(|(t, _)| *t <= now);
    a.late = waiting;
    for (_, b) in due {
        send(c, &b, summary)?;
    }
    Ok(())
}

/// Every result made is stored exactly once: the store's results of each device against the
/// world's.
fn count_results(world: &World, store: &dyn Store, summary: &mut Summary) -> Result<()> {
    for (i, d) in world.devices.iter().enumerate() {
        let made: BTreeSet<(Ms, bool)> = oracle::results(world, i).into_iter().collect();
        let stored = store.results(&d.id, i64::MIN / 4)?;
        summary.stored += stored.iter().map(|r| r.count as usize).sum::<usize>();
        let mut seen = BTreeSet::new();
        for r in &stored {
            let key = (r.time, r.ok);
            if !seen.insert(key) || !made.contains(&key) {
                summary.doubled += 1;
                if summary.mismatches.len() < SHOWN {
                    summary
                        .mismatches
                        .push(format!("stored twice or never made: {} {}", d.id, r.time));
                }
            }
        }
        for (t, ok) in made.difference(&seen) {
            summary.lost += 1;
            if summary.mismatches.len() < SHOWN {
                summary
                    .mismatches
                    .push(format!("lost: {} {t} ok={ok}", d.id));
            }
        }
    }
    Ok(())
}

fn kind_name(kind: impl std::fmt::Debug) -> String {
    format!("{kind:?}").to_lowercase()
}

/// The stored outages (devices: down and unknown; services: down) against the oracle's.
fn compare_outages(
    world: &World,
    oracle: &Oracle,
    store: &dyn Store,
    summary: &mut Summary,
) -> Result<()> {
    let (lo, hi) = (i64::MIN / 4, i64::MAX / 4);
    let mut seen: BTreeSet<Expected> = BTreeSet::new();
    for (entity, kinds) in [
        (EntityKind::Device, &["down", "unknown"][..]),
        (EntityKind::Service, &["down"][..]),
    ] {
        for o in store.outages(entity, None, lo, hi)? {
            let kind = kind_name(o.kind);
            let Some(k) = kinds.iter().find(|k| **k == kind) else {
                continue;
            };
            seen.insert(Expected {
                id: o.id,
                kind: k,
                start: o.start,
                end: o.end,
            });
        }
    }
    let _ = world;
    summary.outages_expected = oracle.outages.len();
    summary.outages_seen = seen.len();
    let missing = oracle
        .outages
        .difference(&seen)
        .map(|e| format!("missing {}", show(e)));
    let extra = seen
        .difference(&oracle.outages)
        .map(|e| format!("unexpected {}", show(e)));
    let all: Vec<String> = missing.chain(extra).collect();
    summary.mismatch_count = all.len();
    let room = SHOWN.saturating_sub(summary.mismatches.len()).max(2);
    summary.mismatches.extend(all.into_iter().take(room));
    Ok(())
}

/// Each service's downtime per month, planned and unplanned, in the collector's report against
/// the oracle's (to the millisecond).
fn compare_months(
    world: &World,
    oracle: &Oracle,
    c: &Collector,
    summary: &mut Summary,
) -> Result<()> {
    use driftvakt_collector::availability::Period;
    use driftvakt_collector::windows::CalendarService;
    let inv = &c.app.inventory;
    let calendar = CalendarService::new(
        inv.calendar.clone().unwrap_or_default(),
        c.windows.clone(),
        c.app.clock.clone(),
    )
    .calendar()
    .map_err(|e| anyhow::anyhow!("calendar: {e}"))?;
    let now = c.app.clock.now();
    let mut wrong = Vec::new();
    for (label, span) in oracle::months(world) {
        let period = Period::parse(&label).map_err(|e| anyhow::anyhow!("{label}: {e}"))?;
        let report = driftvakt_collector::report::build(inv, &*c.store, &calendar, &period, now)
            .map_err(|e| anyhow::anyhow!("report {label}: {e}"))?;
        for s in &world.services {
            let down: Vec<_> = oracle
                .outages
                .iter()
                .filter(|o| o.id == s.id && o.kind == "down")
                .map(|o| crate::schedule::Span {
                    start: o.start,
                    end: o.end.unwrap_or(oracle::OPEN),
                })
                .collect();
            let want = oracle::month_figures(&down, span, world.end);
            let Some(row) = report.services.iter().find(|r| r.id == s.id) else {
                wrong.push(format!("report {label}: no row for {}", s.id));
                continue;
            };
            let got = oracle::MonthFigures {
                downtime_s: row.figures.downtime_s,
                planned_s: row.figures.planned_downtime_s,
                unplanned_s: row.figures.unplanned_downtime_s,
            };
            let near = |a: f64, b: f64| (a - b).abs() < 0.0005;
            if !(near(got.downtime_s, want.downtime_s)
                && near(got.planned_s, want.planned_s)
                && near(got.unplanned_s, want.unplanned_s))
            {
                wrong.push(format!(
                    "report {label} {}: down/planned/unplanned {:.3}/{:.3}/{:.3} s, oracle {:.3}/{:.3}/{:.3} s",
                    s.id, got.downtime_s, got.planned_s, got.unplanned_s,
                    want.downtime_s, want.planned_s, want.unplanned_s
                ));
            }
            summary.planned_s_expected += want.planned_s;
        }
        summary.months_checked += 1;
    }
    summary.mismatch_count += wrong.len();
    let room = SHOWN.saturating_sub(summary.mismatches.len()).max(2);
    summary.mismatches.extend(wrong.into_iter().take(room));
    Ok(())
}

fn show(e: &Expected) -> String {
    let t = |ms: Ms| {
        DateTime::from_timestamp_millis(ms)
            .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
            .unwrap_or_default()
    };
    format!(
        "{} {} {}..{}",
        e.id,
        e.kind,
        t(e.start),
        e.end.map(t).unwrap_or_else(|| "open".into())
    )
}
