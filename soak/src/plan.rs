//! The real-time run's plan, from a seed: the world's inventory (from [`crate::schedule`]) with
//! every device probed over TCP at one short interval, the devices' dark spans, the process,
//! clock and disk faults on a grid of *slots*, the spans the SMTP server and the webhook fail,
//! and what the collector should store (outages with a tolerance).
//!
//! Real time has edges the harness cannot place to the millisecond: a probe lands anywhere in
//! its interval after a listener closes, and a restarted agent starts its scheduler when it is
//! up. So everything is laid on slots of ten probe intervals: every dark span starts and ends on
//! a slot boundary and lasts whole slots (at least ten probes, always confirmed), a flap lasts
//! one and a half intervals inside a slot (one or two failed probes, never confirmed), and a
//! process fault sits inside one slot, at least one and a half intervals from its edges. No
//! outcome then depends on where a probe falls, and each edge the collector sees is within
//! [`Plan::tolerance`] (one probe interval plus 2 s for scheduling, process start and push) of
//! the planned one.
//!
//! Slot 0 is a warm-up and the last slot settles: neither has dark edges or faults.

use crate::oracle::{self, Expected, Own};
use crate::schedule::{Ms, Params, Rng, Span, World, STALE_INTERVALS};
use std::collections::BTreeSet;

/// A fault of the system itself, inside one slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum FaultKind {
    /// SIGKILL of an agent; started again (same spool) after the silence.
    AgentKill,
    /// SIGSTOP of an agent for the silence, then SIGCONT; one of its switches is dark from the
    /// slot before to the slot after, so the silence falls inside a confirmed outage (issue 23
    /// item 3).
    AgentStop,
    /// SIGKILL of the collector, started again (same port, same database) 3 s later.
    CollectorKill,
    /// SIGSTOP of the collector, SIGCONT after the silence (at most 15 s).
    CollectorStop,
    /// The agent's spool folder taken away while the agent runs (issue 23 item 5).
    SpoolDeleted,
    /// The agent's wall clock stepped an hour ahead for the silence, then back (libfaketime;
    /// its monotonic clock, which paces the probes, is left alone). The collector must refuse
    /// what the agent stamps then (more than `max_future` ahead): to it the agent is silent.
    ClockStep,
    /// The collector's files may not grow for the silence (its `RLIMIT_FSIZE` lowered to the
    /// database's size through `prlimit`, `SIGXFSZ` ignored from its start), as on a full
    /// disk: writes that need space fail. Nothing may be lost, and it recovers by itself.
    DiskFull,
    /// With the PostgreSQL pair (`--postgres`), in `DiskFull`'s place: the database server
    /// stopped (`pg_ctl stop -m fast`) for the silence, then started again. Ingest answers 503,
    /// the agents keep their spools, the nodes keep their work for its return.
    PostgresStop,
}

/// The pair's leader lease and heartbeat (`collector.cluster`, written into its configuration).
pub const PAIR_LEASE_MS: Ms = 10_000;
pub const PAIR_HEARTBEAT_MS: Ms = 2_000;

/// The store the collectors of a real-time run share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// One collector on a SQLite file.
    #[default]
    Sqlite,
    /// Two collector nodes (one leader lease) on one throwaway PostgreSQL cluster; the
    /// collector faults strike the node that leads at that moment.
    PostgresPair,
}

const KINDS: [FaultKind; 7] = [
    FaultKind::AgentKill,
    FaultKind::AgentStop,
    FaultKind::CollectorKill,
    FaultKind::CollectorStop,
    FaultKind::SpoolDeleted,
    FaultKind::ClockStep,
    FaultKind::DiskFull,
];

/// One process fault: what, which agent (for agent faults), from when to when (ms after the run's
/// start).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Fault {
    pub kind: FaultKind,
    pub agent: usize,
    pub start: Ms,
    pub end: Ms,
}

/// The real-time run's plan. Times are ms after the run's start (the world's `start` is 0).
#[derive(Debug, Clone)]
pub struct Plan {
    pub world: World,
    pub interval: Ms,
    pub slot: Ms,
    pub slots: i64,
    pub faults: Vec<Fault>,
    /// Spans the SMTP sink is down.
    pub smtp_down: Vec<Span>,
    /// Spans the SMTP sink answers every message with 451 (a temporary refusal).
    pub smtp_refusing: Vec<Span>,
    /// Spans the webhook receiver answers every request with 500.
    pub webhook_failing: Vec<Span>,
    /// How long after a collector fault a notice may wait beyond the agents' return: 0 for
    /// one collector; for the pair, the leader lease and a heartbeat (a killed or frozen leader
    /// is replaced only when its lease expires).
    pub takeover_ms: Ms,
}

impl Plan {
    /// The plan of `seed` over `run_ms` with `devices` devices probed every `interval_s`.
    pub fn generate(seed: u64, run_ms: Ms, devices: usize, interval_s: u32) -> Plan {
        Plan::generate_for(seed, run_ms, devices, interval_s, Backend::Sqlite)
    }

    /// [`Plan::generate`] for a backend: the pair's plan has `PostgresStop` where one
    /// collector's has `DiskFull`, and its notices may wait for a lease to pass.
    pub fn generate_for(
        seed: u64,
        run_ms: Ms,
        devices: usize,
        interval_s: u32,
        backend: Backend,
    ) -> Plan {
        let interval = i64::from(interval_s.max(1)) * 1000;
        let slot = 10 * interval;
        let slots = (run_ms / slot).max(4);
        let mut world = World::generate(Params {
            seed,
            days: 1,
            devices,
            interval_s: interval_s.max(1),
            push_s: 1,
        });
        world.start = 0;
        world.end = slots * slot;
        world.dark = vec![Vec::new(); world.devices.len()];
        world.agent_faults = vec![Vec::new(); world.agents.len()];
        world.notes.clear();
        for d in &mut world.devices {
            d.interval_ms = interval;
        }
        let mut plan = Plan {
            world,
            interval,
            slot,
            slots,
            faults: Vec::new(),
            smtp_down: Vec::new(),
            smtp_refusing: Vec::new(),
            webhook_failing: Vec::new(),
            takeover_ms: match backend {
                Backend::Sqlite => 0,
                Backend::PostgresPair => PAIR_LEASE_MS + PAIR_HEARTBEAT_MS,
            },
        };
        let mut rng = Rng::new(seed ^ 0x005e_ed0f_7ea1);
        plan.schedule_faults(&mut rng);
        if backend == Backend::PostgresPair {
            for f in &mut plan.faults {
                if f.kind == FaultKind::DiskFull {
                    f.kind = FaultKind::PostgresStop;
                }
            }
        }
        plan.schedule_dark(&mut rng);
        plan
    }

    /// How far an edge the collector stores may be from the planned one.
    pub fn tolerance(&self) -> Ms {
        self.interval + 2_000
    }

    /// How long an agent or the collector is silent in a fault.
    fn silence(&self) -> Ms {
        22_000.min(self.slot - 5 * self.interval)
    }

    fn schedule_faults(&mut self, rng: &mut Rng) {
        let mut kinds = KINDS;
        for i in (1..kinds.len()).rev() {
            kinds.swap(i, rng.range(0, i as i64 + 1) as usize);
        }
        // The stop inside an outage needs a slot before it whose own fault leaves its agent
        // alone (its outage starts at that slot's start, so it is confirmed before the stop).
        if kinds[0] == FaultKind::AgentStop {
            kinds.swap(0, 1);
        }
        let lead = self.interval * 3 / 2;
        for s in 1..self.slots - 1 {
            let kind = kinds[(s as usize - 1) % kinds.len()];
            let mut agent = rng.range(0, self.world.agents.len() as i64) as usize;
            if kind == FaultKind::AgentStop {
                if let Some(prev) = self.faults.last().filter(|f| is_agent_silence(f.kind)) {
                    agent = (prev.agent + 1) % self.world.agents.len();
                }
            }
            let start = s * self.slot + lead;
            let len = match kind {
                FaultKind::AgentKill | FaultKind::AgentStop | FaultKind::ClockStep => {
                    self.silence()
                }
                FaultKind::CollectorKill => 3_000,
                FaultKind::CollectorStop | FaultKind::DiskFull | FaultKind::PostgresStop => {
                    self.silence().min(15_000)
                }
                FaultKind::SpoolDeleted => 3_000,
            };
            self.faults.push(Fault {
                kind,
                agent,
                start,
                end: start + len,
            });
            if kind == FaultKind::AgentStop {
                let switches: Vec<usize> = (0..self.world.devices.len())
                    .filter(|d| {
                        self.world.devices[*d].agent == agent
                            && self.world.devices[*d].parent.is_none()
                    })
                    .collect();
                let sw = switches[rng.range(0, switches.len() as i64) as usize];
                let end = ((s + 2) * self.slot).min((self.slots - 1) * self.slot);
                self.add_dark(sw, (s - 1) * self.slot, end);
            }
        }
        // The SMTP sink down for one slot from six intervals into slot 1, and again every five
        // slots; the webhook receiver answering 500 likewise from slot 2, the SMTP sink
        // refusing every message with 451 from slot 3. Their edges lie away
        // from the dark edges (slot boundaries) and from the confirmations and recoveries a few
        // intervals after them, so every notice's fate is certain: a notice held while the
        // server is away goes out when it is back, before the outage it tells of ends.
        let at = 6 * self.interval;
        for (first, spans) in [
            (1, &mut self.smtp_down),
            (2, &mut self.webhook_failing),
            (3, &mut self.smtp_refusing),
        ] {
            let mut s = first;
            while s + 2 < self.slots {
                let start = s * self.slot + at;
                spans.push(Span {
                    start,
                    end: start + self.slot,
                });
                s += 5;
            }
        }
    }

    fn add_dark(&mut self, device: usize, start: Ms, end: Ms) {
        let spans = &mut self.world.dark[device];
        spans.push(Span { start, end });
        spans.sort();
        let mut merged: Vec<Span> = Vec::new();
        for s in spans.drain(..) {
            match merged.last_mut() {
                Some(last) if s.start <= last.end => last.end = last.end.max(s.end),
                _ => merged.push(s),
            }
        }
        *spans = merged;
    }

    /// Devices dark for one or two slots from a slot boundary (about one device in twelve per
    /// slot), a site dark (its switch) every third slot, and flaps in slots where no agent is
    /// silent.
    fn schedule_dark(&mut self, rng: &mut Rng) {
        let n = self.world.devices.len() as i64;
        let last = (self.slots - 1) * self.slot;
        for s in 1..self.slots - 1 {
            let from = s * self.slot;
            for _ in 0..(n / 12).max(1) {
                let d = rng.range(0, n) as usize;
                let end = (from + rng.range(1, 3) * self.slot).min(last);
                self.add_dark(d, from, end);
            }
            if s % 3 == 1 {
                let sites = self.world.sites.len() as i64;
                let sw = self.world.switch_of(rng.range(0, sites) as usize);
                self.add_dark(sw, from, from + self.slot);
            }
            let agent_silent = self
                .faults
                .iter()
                .any(|f| f.start / self.slot == s && is_agent_silence(f.kind));
            if !agent_silent {
                let d = rng.range(0, n) as usize;
                let at = from + 5 * self.interval;
                self.add_dark(d, at, at + self.interval * 3 / 2);
            }
        }
    }

    /// Where `device` does not answer: it or a parent is dark (merged spans).
    pub fn unavailable(&self, device: usize) -> Vec<Span> {
        let mut spans = Vec::new();
        let mut d = Some(device);
        while let Some(i) = d {
            spans.extend(self.world.dark[i].iter().copied());
            d = self.world.devices[i].parent;
        }
        spans.sort();
        let mut merged: Vec<Span> = Vec::new();
        for s in spans {
            match merged.last_mut() {
                Some(last) if s.start <= last.end => last.end = last.end.max(s.end),
                _ => merged.push(s),
            }
        }
        merged
    }

    /// The spans each agent is silent to the collector (killed, stopped, or its clock ahead).
    pub fn silences(&self, agent: usize) -> Vec<Span> {
        self.faults
            .iter()
            .filter(|f| f.agent == agent && is_agent_silence(f.kind))
            .map(|f| Span {
                start: f.start,
                end: f.end,
            })
            .collect()
    }

    /// What the plan says each device's timeline is: down over every unavailable span long
    /// enough to be confirmed, unknown from three intervals into each silence of its agent to
    /// the silence's end unless it is down then (a silence never ends an outage).
    pub fn timelines(&self) -> Vec<Own> {
        let stale = self.interval * STALE_INTERVALS;
        (0..self.world.devices.len())
            .map(|d| {
                let down: Vec<Span> = self
                    .unavailable(d)
                    .into_iter()
                    .filter(|s| s.end - s.start >= 4 * self.interval)
                    .collect();
                let unknown = self
                    .silences(self.world.devices[d].agent)
                    .into_iter()
                    .filter(|s| !down.iter().any(|o| o.start <= s.start && s.end <= o.end))
                    .map(|s| Span {
                        start: s.start + stale,
                        end: s.end,
                    })
                    .collect();
                Own {
                    first: Some(0),
                    down,
                    unknown,
                    flaps: 0,
                }
            })
            .collect()
    }

    /// The outages the collector should store, by the plan (device down and unknown, service
    /// down), with their planned edges.
    pub fn expected(&self) -> BTreeSet<Expected> {
        let own = self.timelines();
        let mut out = BTreeSet::new();
        for (d, o) in own.iter().enumerate() {
            for (spans, kind) in [(&o.down, "down"), (&o.unknown, "unknown")] {
                for s in spans.iter() {
                    out.insert(Expected {
                        id: self.world.devices[d].id.clone(),
                        kind,
                        start: s.start,
                        end: Some(s.end),
                    });
                }
            }
        }
        for s in &self.world.services {
            for span in oracle::service_down(&own, &s.members, s.need) {
                out.insert(Expected {
                    id: s.id.clone(),
                    kind: "down",
                    start: span.start,
                    end: (span.end != oracle::OPEN).then_some(span.end),
                });
            }
        }
        out
    }

    /// The inventory as the collector reads it: every device one TCP check on its own loopback
    /// port, mail to a local SMTP sink, and the device alerts also to a webhook receiver on
    /// `hook_port` (its HMAC key in `hook.key` beside the configuration).
    pub fn inventory_yaml(
        &self,
        dir: &std::path::Path,
        ports: &[u16],
        smtp_port: u16,
        hook_port: u16,
    ) -> String {
        let base = self.world.inventory_yaml(dir);
        let mut out = String::new();
        let mut device = 0;
        for line in base.lines() {
            if line.contains("checks: [icmp]") {
                let tcp = format!(
                    "checks: [{{ kind: tcp, port: {}, timeout: 1s }}]",
                    ports[device]
                );
                out.push_str(&line.replace("checks: [icmp]", &tcp));
                device += 1;
            } else {
                out.push_str(line);
            }
            out.push('\n');
        }
        out.push_str(&format!(
            "notify:\n  smtp: {{ host: 127.0.0.1, port: {smtp_port}, tls: none, timeout: 5s }}\n  \
             from:\n    default: \"IT-enheten <it@kommun.example.se>\"\n  municipalities:\n"
        ));
        for m in &self.world.municipalities {
            let slug = m.to_lowercase();
            out.push_str(&format!(
                "    {m}:\n      editors: [intranat@{slug}.example.se]\n      service_desk: [servicedesk@{slug}.example.se]\n      on_call: [beredskap@{slug}.example.se]\n"
            ));
        }
        // Every notice its own mail (no digest), retried within seconds of the server's
        // return (and 10 s after a collector killed while sending it: the shortest lease),
        // and a fixed audience for the alerts: Tranemo's service desk is always open
        // (but on holidays), Ulricehamn's never, so its alerts page on-call.
        out.push_str(
            "  hold_down: 0s\n  rate_limit_per_hour: 100000\n  \
             retry: { initial_backoff: 1s, max_backoff: 5s, lease: 10s }\n",
        );
        out.push_str(&format!(
            "  channels:\n    hook: {{ webhook: {{ url: \"http://127.0.0.1:{hook_port}/hook\", \
             secret: {{ file: hook.key }}, timeout: 5s }} }}\n  routes:\n    \
             - {{ kinds: [down], service_desk: [mail, hook], on_call: [mail, hook] }}\n"
        ));
        out.push_str("calendar:\n  office_hours:\n    municipalities:\n");
        for (i, m) in self.world.municipalities.iter().enumerate() {
            let hours = if i == OPEN_DESK {
                "[\"00:00-24:00\"]"
            } else {
                "[]"
            };
            out.push_str(&format!("      {m}:\n"));
            for day in WEEK {
                out.push_str(&format!("        {day}: {hours}\n"));
            }
        }
        out
    }
}

/// The municipality (index) whose service desk is open around the clock; the other's never is.
pub const OPEN_DESK: usize = 0;
const WEEK: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Whether the collector hears nothing it accepts from the agent during the fault.
pub fn is_agent_silence(kind: FaultKind) -> bool {
    matches!(
        kind,
        FaultKind::AgentKill | FaultKind::AgentStop | FaultKind::ClockStep
    )
}

/// Matches the stored outages against the plan's: same entity and kind, each edge within
/// `tol`. Returns (missing, unexpected, edge races): a stored service outage shorter than `tol`
/// next to a planned edge is two members' edges crossing in real time (the exact check against
/// the results made covers it), listed apart.
pub fn match_with_tolerance(
    expected: &BTreeSet<Expected>,
    seen: &BTreeSet<Expected>,
    tol: Ms,
) -> (Vec<Expected>, Vec<Expected>, Vec<Expected>) {
    let near = |a: Option<Ms>, b: Option<Ms>| match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= tol,
        (None, None) => true,
        _ => false,
    };
    let mut left: Vec<&Expected> = seen.iter().collect();
    let mut missing = Vec::new();
    for e in expected {
        let hit = left.iter().position(|s| {
            s.id == e.id
                && s.kind == e.kind
                && near(Some(s.start), Some(e.start))
                && near(s.end, e.end)
        });
        match hit {
            Some(i) => {
                left.remove(i);
            }
            None => missing.push(e.clone()),
        }
    }
    let edges: BTreeSet<Ms> = expected
        .iter()
        .flat_map(|e| [Some(e.start), e.end])
        .flatten()
        .collect();
    let (mut unexpected, mut races) = (Vec::new(), Vec::new());
    for s in left {
        let short = s.end.is_some_and(|end| end - s.start <= tol);
        let at_edge = edges.range(s.start - tol..=s.start + tol).next().is_some();
        if short && at_edge && s.id.contains('-') && !is_device_like(&s.id) {
            races.push(s.clone());
        } else {
            unexpected.push(s.clone());
        }
    }
    (missing, unexpected, races)
}

/// Service ids are `wifi-`, `print-`, `net-`; devices are the rest.
fn is_device_like(id: &str) -> bool {
    !["wifi-", "print-", "net-"]
        .iter()
        .any(|p| id.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dark_edge_is_on_a_slot_boundary_or_a_flap_and_faults_avoid_edges() {
        let p = Plan::generate(3, 10 * 60_000, 30, 5);
        for d in 0..p.world.devices.len() {
            for s in p.unavailable(d) {
                let long = s.end - s.start >= 4 * p.interval;
                if long {
                    assert_eq!(s.start % p.slot, 0, "{s:?}");
                    assert_eq!(s.end % p.slot, 0, "{s:?}");
                }
            }
        }
        for f in &p.faults {
            assert!(f.start % p.slot >= p.interval, "{f:?}");
            assert!(p.slot - f.end % p.slot >= 2 * p.interval, "{f:?}");
        }
        let kinds: BTreeSet<String> = p.faults.iter().map(|f| format!("{:?}", f.kind)).collect();
        assert_eq!(
            kinds.len(),
            7,
            "every kind of fault in ten minutes: {kinds:?}"
        );
    }

    #[test]
    fn a_stopped_agent_inside_an_outage_makes_no_unknown_for_the_dark_devices() {
        let p = Plan::generate(4, 10 * 60_000, 30, 5);
        let stop = p
            .faults
            .iter()
            .find(|f| f.kind == FaultKind::AgentStop)
            .expect("a stop");
        let own = p.timelines();
        let dark_in_stop = (0..p.world.devices.len()).filter(|d| {
            p.world.devices[*d].agent == stop.agent
                && own[*d]
                    .down
                    .iter()
                    .any(|o| o.start <= stop.start && stop.end <= o.end)
        });
        for d in dark_in_stop {
            assert!(
                own[d].unknown.iter().all(|u| u.end != stop.end),
                "{}",
                p.world.devices[d].id
            );
        }
    }
}
