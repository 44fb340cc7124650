//! The live tails (each device's recent history in memory, `state::tails`) change how fast
//! ingest re-derives, never what it derives: random histories (outages, flaps, silence,
//! degraded checks, agent faults, two agents on one device), ingested batch by batch, with a
//! late batch and a restart among them, give the same stored outages and flaps as a collector
//! that reads the store for every device. On SQLite (`sqlite::…`) and on a throwaway
//! PostgreSQL (`postgres::…`).

use driftvakt_collector::app::App;
use driftvakt_collector::store::{EntityKind, Flap, Outage};
use driftvakt_collector_testkit::backends::Backend;
use driftvakt_collector_testkit::both_backends;
use driftvakt_collector_testkit::fixtures::{open_app_at, result};
use driftvakt_common::wire::{Batch, ProbeResult};

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// What a device does for a while.
#[derive(Clone, Copy)]
enum Regime {
    Up,
    Down,
    Silent,
    Flaky,
    AgentFault,
}

/// One agent's results for one device over `minutes`, regimes changing at random.
fn device_history(
    rng: &mut Rng,
    agent: &str,
    target: &str,
    checks: &[&str],
    minutes: i64,
) -> Vec<(String, ProbeResult)> {
    let mut out = Vec::new();
    let mut regime = Regime::Up;
    let mut left = 0;
    for m in 0..minutes {
        if left == 0 {
            regime = match rng.below(10) {
                0 | 1 => Regime::Down,
                2 => Regime::Silent,
                3 | 4 => Regime::Flaky,
                5 => Regime::AgentFault,
                _ => Regime::Up,
            };
            left = 1 + rng.below(40) as i64;
        }
        left -= 1;
        for check in checks {
            let mut r = result(target, check, m, true);
            match regime {
                Regime::Up => {}
                Regime::Silent => continue,
                Regime::Down => fail(&mut r, "timeout"),
                Regime::Flaky if rng.below(3) == 0 => fail(&mut r, "refused"),
                Regime::Flaky => {}
                Regime::AgentFault => fail(&mut r, "permission_denied"),
            }
            out.push((agent.to_string(), r));
        }
    }
    out
}

fn fail(r: &mut ProbeResult, error: &str) {
    r.ok = false;
    r.error = Some(error.to_string());
}

/// Every agent's results, cut into per-agent batches of a few minutes each, in time order.
fn batches(seed: u64, minutes: i64) -> Vec<(String, Batch)> {
    let mut rng = Rng(seed);
    let mut all = Vec::new();
    for (agent, target, checks) in [
        ("a1", "sw", &["icmp"][..]),
        ("a1", "ap1", &["icmp"][..]),
        ("a1", "ap2", &["icmp"][..]),
        ("a1", "prn", &["icmp", "tcp"][..]),
        ("a2", "prn", &["icmp", "tcp"][..]),
        ("a2", "sw-t", &["icmp"][..]),
    ] {
        all.extend(device_history(&mut rng, agent, target, checks, minutes));
    }
    let mut out = Vec::new();
    for agent in ["a1", "a2"] {
        let mut mine: Vec<ProbeResult> = all
            .iter()
            .filter(|(a, _)| a == agent)
            .map(|(_, r)| r.clone())
            .collect();
        mine.sort_by_key(|r| r.time);
        let mut start = 0;
        let mut n = 0;
        while start < mine.len() {
            let end = (start + 1 + rng.below(12) as usize).min(mine.len());
            out.push((
                agent.to_string(),
                Batch {
                    agent: agent.into(),
                    batch_id: format!("{agent}-{n}"),
                    results: mine[start..end].to_vec(),
                },
            ));
            start = end;
            n += 1;
        }
    }
    out.sort_by_key(|(_, b)| b.results[0].time);
    out
}

fn history(app: &App) -> (Vec<Outage>, Vec<Outage>, Vec<Flap>) {
    let all = |kind| {
        app.store
            .outages(kind, None, i64::MIN / 2, i64::MAX / 2)
            .unwrap()
    };
    (
        all(EntityKind::Device),
        all(EntityKind::Service),
        app.store.flaps(None, i64::MIN / 2, i64::MAX / 2).unwrap(),
    )
}

fn ingest(app: &App, list: &[(String, Batch)]) {
    for (agent, b) in list {
        app.ingest_blocking(agent, b).unwrap();
    }
}

fn tails_derive_what_the_store_derives(backend: Backend) {
    let seeds: &[u64] = match backend {
        Backend::Sqlite => &[1, 7, 42, 1234, 99_991],
        Backend::Postgres => &[7, 1234],
    };
    for &seed in seeds {
        let list = batches(seed, 12 * 60);
        let (with, without) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (db_fast, db_slow) = (
            backend.fresh(with.path(), "fast"),
            backend.fresh(without.path(), "slow"),
        );
        let fast = open_app_at(with.path(), &db_fast.location);
        let mut slow = open_app_at(without.path(), &db_slow.location);
        slow.tails = None;
        // One batch held back and sent late (after half the others); a restart half way (the
        // tails start empty again).
        let late = list.len() / 3;
        let half = list.len() / 2;
        let order: Vec<usize> = (0..list.len()).filter(|i| *i != late).collect();
        let mut fast = fast;
        for (k, i) in order.iter().enumerate() {
            if k == half {
                let (inv, store) = ((*fast.inventory).clone(), fast.store.clone());
                fast = App::new(inv, store, fast.clock.clone()).unwrap();
            }
            if k == half + 10 {
                ingest(&fast, &list[late..=late]);
                ingest(&slow, &list[late..=late]);
            }
            ingest(&fast, &list[*i..=*i]);
            ingest(&slow, &list[*i..=*i]);
            if k % 97 == 0 {
                assert_eq!(
                    history(&fast),
                    history(&slow),
                    "seed {seed}, after batch {k}"
                );
            }
        }
        let (hits, misses) = fast.tails.as_ref().unwrap().hits_and_misses();
        assert!(
            hits > 4 * misses,
            "seed {seed}: most re-derivations read memory ({hits} hits, {misses} misses)"
        );
        let (f, s) = (history(&fast), history(&slow));
        assert!(
            !f.0.is_empty() && !f.2.is_empty(),
            "seed {seed}: the history has outages and flaps"
        );
        assert_eq!(f, s, "seed {seed}");
    }
}

both_backends!(tails_derive_what_the_store_derives);
