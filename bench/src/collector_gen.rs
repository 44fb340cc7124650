//! What the collector benchmark feeds the collector: a generated inventory (sites of 50
//! devices, one service per site, agents with devices assigned round-robin), agents' batches,
//! and a year of history written through the library's store.
//!
//! The history is stored the way the collector itself stores derived state: each device gets a
//! first and a recent result (`Store::apply_batch`, so its observed time is the whole year) and
//! its outages (`Store::replace_outages`, which also clears the pending marks, so a restart has
//! nothing to re-derive). A year of 5,000 devices at a realistic interval would be tens of
//! millions of results; the report, `/api/v1/status` and `/metrics` read only outages, flaps
//! and first/last result times, so this is the state they see after such a year.

use anyhow::{ensure, Result};
use chrono::{DateTime, Datelike, TimeZone, Utc};
use driftvakt_collector::clock::FixedClock;
use driftvakt_collector::inventory::Inventory;
use driftvakt_collector::state::Health;
use driftvakt_collector::store::{Database, EntityKind, Outage, Replacement, Store, StoredResult};
use driftvakt_collector::windows::CalendarService;
use driftvakt_common::wire::{Batch, ProbeResult, Value};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Devices per site; the first of a site is the others' parent.
pub const SITE_SIZE: usize = 50;
/// Probe interval of every generated device.
pub const INTERVAL_S: i64 = 60;

/// The id of device `i`, site `j`, agent `k`.
pub fn device(i: usize) -> String {
    format!("d{i}")
}
fn site(j: usize) -> String {
    format!("s{j}")
}
pub fn agent(k: usize) -> String {
    format!("a{k}")
}
/// Agent `k`'s token (distinct per agent, long enough for the inventory's check).
pub fn token(k: usize) -> String {
    format!("bench-token-{k:04}-0123456789abcdef")
}

/// Writes the inventory (and the agents' token files) into `dir`; returns its path.
pub fn write_inventory(dir: &Path, devices: usize, agents: usize, db: &Path) -> Result<PathBuf> {
    for k in 0..agents {
        let path = dir.join(format!("{}.token", agent(k)));
        std::fs::write(&path, token(k))?;
        // Token files are refused unless only their owner can read them.
        let mode = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600);
        std::fs::set_permissions(&path, mode)?;
    }
    let path = dir.join("collector.yaml");
    std::fs::write(&path, inventory_yaml(devices, agents, db))?;
    Ok(path)
}

fn inventory_yaml(devices: usize, agents: usize, db: &Path) -> String {
    let sites = devices.div_ceil(SITE_SIZE);
    let mut out = format!(
        "collector:\n  database: {}\n  target: 0.991\n",
        db.display()
    );
    out.push_str("sites:\n");
    for j in 0..sites {
        let _ = writeln!(
            out,
            "  - {{ id: {}, name: Site {j}, municipality: M{} }}",
            site(j),
            j % 5
        );
    }
    out.push_str("devices:\n");
    for i in 0..devices {
        out.push_str(&device_yaml(i));
    }
    out.push_str("services:\n");
    for j in 0..sites {
        let first = j * SITE_SIZE;
        let members: Vec<String> = (first..devices.min(first + 3)).map(device).collect();
        let _ = writeln!(
            out,
            "  - {{ id: svc{j}, name: Nätverk {j}, members: [{}], rule: all, counts_as_incident: true }}",
            members.join(", ")
        );
    }
    out.push_str("agents:\n");
    for k in 0..agents {
        let mine: Vec<String> = (k..devices).step_by(agents).map(device).collect();
        let _ = writeln!(
            out,
            "  - {{ id: {}, token_file: {}.token, devices: [{}] }}",
            agent(k),
            agent(k),
            mine.join(", ")
        );
    }
    out
}

fn device_yaml(i: usize) -> String {
    let j = i / SITE_SIZE;
    let (class, parent) = if i.is_multiple_of(SITE_SIZE) {
        ("switch", String::new())
    } else {
        (
            "access_point",
            format!(", parent: {}", device(j * SITE_SIZE)),
        )
    };
    let ip = std::net::Ipv4Addr::from(0x0a00_0000u32 + i as u32 + 1);
    format!(
        "  - {{ id: {}, class: {class}, site: {}, address: {ip}, interval: {INTERVAL_S}s, checks: [icmp]{parent} }}\n",
        device(i),
        site(j),
    )
}

/// One ICMP result as the agent sends it: about 1 % single failures (flaps, not outages).
pub fn result(i: usize, round: i64, time: DateTime<Utc>) -> ProbeResult {
    let ok = (i as i64 + round) % 97 != 0;
    let mut values = std::collections::BTreeMap::new();
    values.insert("rtt_avg_seconds".to_string(), Value::Number(0.000_42));
    values.insert(
        "loss_ratio".to_string(),
        Value::Number(if ok { 0.0 } else { 1.0 }),
    );
    ProbeResult {
        target: device(i),
        check: "icmp".into(),
        time,
        ok,
        duration_ms: 0.4,
        error: (!ok).then(|| "timeout".to_string()),
        detail: None,
        findings: Vec::new(),
        values,
    }
}

/// Agent `k`'s `n`-th batch of `size` results: its devices round-robin, one round per
/// interval from `base` on.
pub fn batch(
    k: usize,
    agents: usize,
    devices: usize,
    n: usize,
    size: usize,
    base: DateTime<Utc>,
) -> Batch {
    let mine: Vec<usize> = (k..devices).step_by(agents).collect();
    let results = (n * size..(n + 1) * size)
        .map(|seq| {
            let round = (seq / mine.len()) as i64;
            let time = base + chrono::Duration::seconds(round * INTERVAL_S);
            result(mine[seq % mine.len()], round, time)
        })
        .collect();
    Batch {
        agent: agent(k),
        batch_id: format!("{}-{n}", agent(k)),
        results,
    }
}

/// A small xorshift generator: the same history every run, without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// What [`write_history`] stored.
#[derive(Debug, Clone, Copy)]
pub struct History {
    pub outages_stored: usize,
    pub windows: usize,
}

/// A year of history up to `now` for every device of `inv`: `outages` outages (down, 1 minute
/// to 4 hours) spread evenly over the devices, each in its own slot of the year; then the
/// secondary service window activated in every month (with the primary ones, 24 windows).
pub fn write_history(inv: &Inventory, outages: usize, now: DateTime<Utc>) -> Result<History> {
    let store = Database::open(&inv.settings.database)?.store()?;
    let store = &*store;
    let year = Utc.with_ymd_and_hms(now.year(), 1, 1, 0, 0, 0).unwrap();
    store_first_and_last(inv, store, year, now)?;
    let per_device = outages / inv.devices.len().max(1);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let span = (now - year).num_milliseconds() / per_device.max(1) as i64;
    let replacements: Vec<Replacement> = inv
        .devices
        .iter()
        .map(|d| device_outages(&d.id, year.timestamp_millis(), span, per_device, &mut rng))
        .collect();
    for chunk in replacements.chunks(500) {
        store.replace_outages(chunk)?;
    }
    let stored = store
        .outages(EntityKind::Device, None, i64::MIN / 2, i64::MAX / 2)?
        .len();
    ensure!(store.pending()?.is_empty(), "history left devices pending");
    let windows = activate_secondaries(inv, year)?;
    Ok(History {
        outages_stored: stored,
        windows,
    })
}

/// A result per device just before the year starts and one a minute before `now`.
fn store_first_and_last(
    inv: &Inventory,
    store: &dyn Store,
    year: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<()> {
    for a in &inv.agents {
        let results: Vec<StoredResult> = a
            .devices
            .iter()
            .flat_map(|d| {
                [
                    year - chrono::Duration::minutes(1),
                    now - chrono::Duration::minutes(1),
                ]
                .map(|t| stored_ok(&a.id, d, t))
            })
            .collect();
        store.apply_batch(&a.id, "history", &results, now.timestamp_millis())?;
    }
    Ok(())
}

fn stored_ok(agent: &str, device: &str, t: DateTime<Utc>) -> StoredResult {
    let i: usize = device[1..].parse().unwrap_or(0);
    let r = ProbeResult {
        ok: true,
        error: None,
        ..result(i, 1, t)
    };
    StoredResult::single(
        agent,
        device,
        "icmp",
        t.timestamp_millis(),
        true,
        false,
        None,
        serde_json::to_string(&r).unwrap_or_default(),
    )
}

fn device_outages(id: &str, year: i64, span: i64, n: usize, rng: &mut Rng) -> Replacement {
    let outages = (0..n)
        .map(|s| {
            let length = 60_000 + rng.below(4 * 3_600_000 - 60_000) as i64;
            let slot = year + s as i64 * span;
            let start = slot + rng.below((span - length).max(1) as u64) as i64;
            Outage {
                entity: EntityKind::Device,
                id: id.into(),
                start,
                end: Some(start + length),
                kind: Health::Down,
                cause: Some("timeout".into()),
            }
        })
        .collect();
    Replacement {
        entity: EntityKind::Device,
        id: id.into(),
        from: year,
        outages,
        flaps: Vec::new(),
    }
}

/// Activates the secondary window of every month of the year (as an operator would, before
/// each started); returns the active windows the calendar then has in the whole year.
fn activate_secondaries(inv: &Inventory, year: DateTime<Utc>) -> Result<usize> {
    let config = inv.calendar.clone().unwrap_or_default();
    let store = Database::open(&inv.settings.database)
        .and_then(|db| db.windows())
        .map_err(|e| anyhow::anyhow!("calendar store: {e}"))?;
    let before = year - chrono::Duration::days(1);
    let service = CalendarService::new(config, store, Arc::new(FixedClock(before)));
    let calendar = service.calendar().map_err(|e| anyhow::anyhow!("{e}"))?;
    for month in 1..=12 {
        let w = calendar.secondary_window(year.year(), month);
        let date = calendar.local(w.start).date_naive();
        service
            .activate_secondary(date, "bench")
            .map_err(|e| anyhow::anyhow!("activate {date}: {e}"))?;
    }
    let calendar = service.calendar().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(calendar
        .windows(year, year + chrono::Duration::days(365))
        .iter()
        .filter(|w| w.active)
        .count())
}
