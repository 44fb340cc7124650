//! The simulated world, from a seed: a municipality's inventory (written as a real collector
//! YAML inventory) and what happens to it over N days.
//!
//! - **Inventory**: two municipalities (Tranemo, Ulricehamn), sites of which every tenth is a
//!   node site (*knutpunkt*), each site a switch with the other devices behind it (access
//!   points, a UPS, printers, screens, and a `service` device at the node sites), services over
//!   members (`all`, `any`, `at_least`), one agent per municipality, office hours and on-call in
//!   the calendar.
//! - **Faults of the devices**: devices dark for spans (a probe of a dark device, or of one
//!   behind a dark parent, fails), whole sites dark (their switch), flaps shorter than the
//!   confirmation count, members dark inside and outside the service window (third Tuesday
//!   18–22 Europe/Stockholm), runs that cross the DST change and Swedish holidays.
//! - **Faults of the system**: an agent stopped for a while and restarted (a new incarnation;
//!   its scheduler starts again from the restart), an agent cut off from the collector (it
//!   keeps probing into its spool and delivers when the link is back), a batch replayed, a
//!   batch delivered hours late.
//!
//! Probe times follow the agent's scheduler: each (device, check) starts at a fixed offset in
//! its interval (FNV-1a of `device\0check` modulo the interval) after the agent's start, then
//! every interval. Everything here is a pure function of the seed and the parameters, so a seed
//! replays exactly.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use chrono_tz::Europe::Stockholm;
use std::fmt::Write as _;

/// Milliseconds since the Unix epoch.
pub type Ms = i64;

const MIN: Ms = 60_000;
const HOUR: Ms = 60 * MIN;
const DAY: Ms = 24 * HOUR;

/// SplitMix64: a small PRNG whose sequence is fixed by this code, so a seed means the same
/// world in every build.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        lo + (self.next_u64() % (hi - lo) as u64) as i64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// A half-open time span `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span {
    pub start: Ms,
    pub end: Ms,
}

impl Span {
    pub fn contains(&self, t: Ms) -> bool {
        self.start <= t && t < self.end
    }
}

/// What a run is made of.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    pub seed: u64,
    pub days: u32,
    pub devices: usize,
    /// The primary check's interval of access points, printers, screens and services;
    /// switches and UPS units are probed twice as often (the classes' default ratio).
    pub interval_s: u32,
    /// Seconds between an agent's pushes (the agent's `push_interval`).
    pub push_s: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Switch,
    AccessPoint,
    Ups,
    Printer,
    Screen,
    Service,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Switch => "switch",
            Class::AccessPoint => "access_point",
            Class::Ups => "ups",
            Class::Printer => "printer",
            Class::Screen => "screen",
            Class::Service => "service",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Site {
    pub id: String,
    pub name: String,
    pub municipality: usize,
    pub node: bool,
}

#[derive(Debug, Clone)]
pub struct Device {
    pub id: String,
    pub class: Class,
    pub site: usize,
    /// Index of the parent device.
    pub parent: Option<usize>,
    pub interval_ms: Ms,
    pub agent: usize,
}

/// How many members a service needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    All,
    Any,
    AtLeast(usize),
}

impl Need {
    pub fn count(self, members: usize) -> usize {
        match self {
            Need::All => members,
            Need::Any => 1,
            Need::AtLeast(n) => n.min(members),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Service {
    pub id: String,
    pub name: String,
    pub members: Vec<usize>,
    pub need: Need,
}

/// A system fault of one agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentFault {
    /// The agent is stopped over the span and restarted at its end (a new incarnation).
    Stopped(Span),
    /// The agent probes on, but reaches the collector only at the span's end.
    CutOff(Span),
    /// At this time the agent sends its previous batch again (same id, same content).
    Replay(Ms),
    /// The batch made at this time arrives `delay` later, after the ones made after it.
    Late { at: Ms, delay: Ms },
}

/// The world over the run: inventory and faults.
#[derive(Debug, Clone)]
pub struct World {
    pub params: Params,
    pub start: Ms,
    pub end: Ms,
    pub municipalities: Vec<String>,
    pub sites: Vec<Site>,
    pub devices: Vec<Device>,
    pub services: Vec<Service>,
    /// One agent per municipality: its id.
    pub agents: Vec<String>,
    /// Per device: the spans it is dark itself (sorted, disjoint).
    pub dark: Vec<Vec<Span>>,
    /// Per agent: its system faults, by time.
    pub agent_faults: Vec<Vec<AgentFault>>,
    /// What the schedule is meant to exercise, for the report (e.g. "dst", "window").
    pub notes: Vec<String>,
}

pub const CONFIRM: u32 = 3;
pub const STALE_INTERVALS: i64 = 3;

/// The first day of the run: the Monday before the third Tuesday of March 2026, so the run
/// meets a service window on its second day, the DST change on day 14 and Easter in week 3;
/// seeds move it by whole weeks (odd seeds start the Monday before the October DST change).
fn first_day(seed: u64) -> NaiveDate {
    if seed % 2 == 1 {
        NaiveDate::from_ymd_opt(2026, 10, 19).expect("date")
    } else {
        NaiveDate::from_ymd_opt(2026, 3, 16).expect("date")
    }
}

fn local_ms(date: NaiveDate, hour: u32, minute: u32) -> Ms {
    let naive = date.and_hms_opt(hour, minute, 0).expect("time");
    Stockholm
        .from_local_datetime(&naive)
        .earliest()
        .expect("local time exists")
        .with_timezone(&Utc)
        .timestamp_millis()
}

/// The third Tuesday of the month of `date`.
pub fn third_tuesday(year: i32, month: u32) -> NaiveDate {
    (15..=21)
        .map(|d| NaiveDate::from_ymd_opt(year, month, d).expect("date"))
        .find(|d| d.weekday() == Weekday::Tue)
        .expect("a Tuesday in any seven days")
}

/// The ordinary service windows (third Tuesday 18:00–22:00 Europe/Stockholm) overlapping
/// `[from, to)`.
pub fn service_windows(from: Ms, to: Ms) -> Vec<Span> {
    let mut out = Vec::new();
    let start = DateTime::from_timestamp_millis(from)
        .expect("time")
        .date_naive();
    let (mut y, mut m) = (start.year(), start.month());
    loop {
        let day = third_tuesday(y, m);
        let w = Span {
            start: local_ms(day, 18, 0),
            end: local_ms(day, 22, 0),
        };
        if w.start >= to {
            return out;
        }
        if w.end > from {
            out.push(w);
        }
        (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl World {
    /// The world of `params`.
    pub fn generate(params: Params) -> World {
        let mut rng = Rng::new(params.seed);
        let day0 = first_day(params.seed);
        let start = local_ms(day0, 0, 0);
        let end = start + i64::from(params.days) * DAY;
        let mut w = World {
            params,
            start,
            end,
            municipalities: vec!["Tranemo".into(), "Ulricehamn".into()],
            sites: Vec::new(),
            devices: Vec::new(),
            services: Vec::new(),
            agents: vec!["agent-tranemo".into(), "agent-ulricehamn".into()],
            dark: Vec::new(),
            agent_faults: Vec::new(),
            notes: Vec::new(),
        };
        w.build_inventory(&mut rng);
        w.dark = vec![Vec::new(); w.devices.len()];
        w.agent_faults = vec![Vec::new(); w.agents.len()];
        w.schedule_device_faults(&mut rng);
        w.schedule_system_faults(&mut rng);
        w
    }

    fn build_inventory(&mut self, rng: &mut Rng) {
        let base = i64::from(self.params.interval_s.max(2)) * 1000;
        let layout = [
            Class::AccessPoint,
            Class::Ups,
            Class::Printer,
            Class::AccessPoint,
            Class::Screen,
            Class::Printer,
            Class::AccessPoint,
            Class::Screen,
        ];
        let mut site_no = 0;
        while self.devices.len() < self.params.devices.max(4) {
            let municipality = site_no % 2;
            let node = site_no % 10 < 4 && site_no < 40;
            let site = self.sites.len();
            self.sites.push(Site {
                id: format!("site-{site_no:03}"),
                name: format!("Plats {site_no}"),
                municipality,
                node,
            });
            let switch = self.devices.len();
            self.devices.push(Device {
                id: format!("sw-{site_no:03}"),
                class: Class::Switch,
                site,
                parent: None,
                interval_ms: base / 2,
                agent: municipality,
            });
            let per_site = rng.range(4, 16) as usize;
            let mut members = Vec::new();
            for i in 0..per_site {
                if self.devices.len() >= self.params.devices.max(4) {
                    break;
                }
                let class = if node && i == 0 {
                    Class::Service
                } else {
                    layout[i % layout.len()]
                };
                let interval_ms = if class == Class::Ups { base / 2 } else { base };
                members.push(self.devices.len());
                self.devices.push(Device {
                    id: format!("{}-{site_no:03}-{i}", prefix(class)),
                    class,
                    site,
                    parent: Some(switch),
                    interval_ms,
                    agent: municipality,
                });
            }
            self.site_services(site_no, switch, &members);
            site_no += 1;
        }
    }

    /// The services of a site: its wifi (`at_least` half of its access points and the switch
    /// through them), its printing (`any` printer) and, at node sites, the network (`all`).
    fn site_services(&mut self, site_no: usize, switch: usize, members: &[usize]) {
        let of = |c: Class| -> Vec<usize> {
            members
                .iter()
                .copied()
                .filter(|m| self.devices[*m].class == c)
                .collect()
        };
        let aps = of(Class::AccessPoint);
        if aps.len() >= 2 {
            self.services.push(Service {
                id: format!("wifi-{site_no:03}"),
                name: format!("Trådlöst nätverk, plats {site_no}"),
                need: Need::AtLeast(aps.len().div_ceil(2)),
                members: aps,
            });
        }
        let printers = of(Class::Printer);
        if !printers.is_empty() {
            self.services.push(Service {
                id: format!("print-{site_no:03}"),
                name: format!("Utskrift, plats {site_no}"),
                need: Need::Any,
                members: printers,
            });
        }
        if self.sites.last().is_some_and(|s| s.node) {
            let mut m = vec![switch];
            m.extend(of(Class::Service));
            self.services.push(Service {
                id: format!("net-{site_no:03}"),
                name: format!("Nätverk, plats {site_no}"),
                need: Need::All,
                members: m,
            });
        }
    }

    fn add_dark(&mut self, device: usize, span: Span) {
        let span = Span {
            start: span.start.max(self.start),
            end: span.end.min(self.end),
        };
        if span.end <= span.start {
            return;
        }
        let list = &mut self.dark[device];
        list.push(span);
        list.sort();
        let mut merged: Vec<Span> = Vec::with_capacity(list.len());
        for s in list.drain(..) {
            match merged.last_mut() {
                Some(last) if s.start <= last.end => last.end = last.end.max(s.end),
                _ => merged.push(s),
            }
        }
        *list = merged;
    }

    fn schedule_device_faults(&mut self, rng: &mut Rng) {
        let days = i64::from(self.params.days);
        let n = self.devices.len();
        // Devices dark: about one fault per 40 devices and day, 5 min to 6 h.
        for _ in 0..(n as i64 * days / 40).max(2) {
            let d = rng.range(0, n as i64) as usize;
            let at = rng.range(self.start, self.end);
            let len = rng.range(5 * MIN, 6 * HOUR);
            self.add_dark(
                d,
                Span {
                    start: at,
                    end: at + len,
                },
            );
        }
        // Whole sites dark (their switch): a few per week.
        for _ in 0..(days / 2).max(1) {
            let site = rng.range(0, self.sites.len() as i64) as usize;
            let sw = self.switch_of(site);
            let at = rng.range(self.start, self.end);
            let len = rng.range(10 * MIN, 3 * HOUR);
            self.add_dark(
                sw,
                Span {
                    start: at,
                    end: at + len,
                },
            );
        }
        // Flaps: one or two failed probes (under the confirmation count of three).
        for _ in 0..(n as i64 * days / 20).max(2) {
            let d = rng.range(0, n as i64) as usize;
            let fails = rng.range(1, i64::from(CONFIRM));
            let at = rng.range(self.start, self.end);
            let len = self.devices[d].interval_ms * fails;
            self.add_dark(
                d,
                Span {
                    start: at,
                    end: at + len,
                },
            );
        }
        self.schedule_calendar_faults(rng);
    }

    /// Service members dark inside each service window (planned) and across its edges, and
    /// devices dark across the DST change and on holidays (nights of Easter, 1 May).
    fn schedule_calendar_faults(&mut self, rng: &mut Rng) {
        let windows = service_windows(self.start, self.end);
        let n_services = self.services.len() as i64;
        for w in &windows {
            for _ in 0..3 {
                let s = &self.services[rng.range(0, n_services) as usize];
                let m = s.members[rng.range(0, s.members.len() as i64) as usize];
                let at = rng.range(w.start, w.end - 30 * MIN);
                self.add_dark(
                    m,
                    Span {
                        start: at,
                        end: at + 30 * MIN,
                    },
                );
            }
            // One that starts inside the window and outlasts it.
            let s = &self.services[rng.range(0, n_services) as usize];
            let m = s.members[0];
            self.add_dark(
                m,
                Span {
                    start: w.end - HOUR,
                    end: w.end + HOUR,
                },
            );
            self.notes.push("window".into());
        }
        // Around 03:00 local on the DST days of the run.
        let mut day = DateTime::from_timestamp_millis(self.start)
            .expect("time")
            .date_naive();
        let last = DateTime::from_timestamp_millis(self.end)
            .expect("time")
            .date_naive();
        while day < last {
            let next = day + Duration::days(1);
            let len = local_ms(next, 0, 0) - local_ms(day, 0, 0);
            if len != DAY {
                let d = rng.range(0, self.devices.len() as i64) as usize;
                let at = local_ms(day, 1, 30);
                self.add_dark(
                    d,
                    Span {
                        start: at,
                        end: at + 3 * HOUR,
                    },
                );
                self.notes.push(format!("dst {day}"));
            }
            day = next;
        }
    }

    fn schedule_system_faults(&mut self, rng: &mut Rng) {
        let days = i64::from(self.params.days);
        for a in 0..self.agents.len() {
            let mut faults = Vec::new();
            for _ in 0..(days + 2) / 3 {
                // Stopped (an upgrade, a crash): 20 s to 20 min, then a new incarnation.
                let at = rng.range(self.start + HOUR, self.end - HOUR);
                let len = rng.range(20_000, 20 * MIN);
                faults.push(AgentFault::Stopped(Span {
                    start: at,
                    end: at + len,
                }));
                // Cut off from the collector: 1 min to 2 h; the spool delivers afterwards.
                let at = rng.range(self.start + HOUR, self.end - 3 * HOUR);
                let len = rng.range(MIN, 2 * HOUR);
                faults.push(AgentFault::CutOff(Span {
                    start: at,
                    end: at + len,
                }));
                faults.push(AgentFault::Replay(rng.range(self.start + HOUR, self.end)));
                faults.push(AgentFault::Late {
                    at: rng.range(self.start + HOUR, self.end - 4 * HOUR),
                    delay: rng.range(HOUR, 4 * HOUR),
                });
            }
            // A stop while a member of its municipality is down, so a silence meets an outage.
            if let Some(d) = (0..self.devices.len())
                .find(|d| self.devices[*d].agent == a && self.devices[*d].class == Class::Switch)
            {
                let mid = self.start + (self.end - self.start) / 2;
                let sw_dark = Span {
                    start: mid,
                    end: mid + 2 * HOUR,
                };
                self.add_dark(d, sw_dark);
                let stop = mid + 30 * MIN;
                faults.push(AgentFault::Stopped(Span {
                    start: stop,
                    end: stop + 5 * MIN,
                }));
            }
            faults.sort_by_key(fault_time);
            self.agent_faults[a] = faults;
        }
    }

    pub fn switch_of(&self, site: usize) -> usize {
        self.devices
            .iter()
            .position(|d| d.site == site && d.class == Class::Switch)
            .expect("every site has a switch")
    }

    /// Whether a probe of `device` at `t` succeeds: neither it nor any parent is dark.
    pub fn answers(&self, device: usize, t: Ms) -> bool {
        let mut d = Some(device);
        while let Some(i) = d {
            if dark_at(&self.dark[i], t) {
                return false;
            }
            d = self.devices[i].parent;
        }
        true
    }

    /// The scheduler's offset of a device's check in its interval.
    pub fn offset(&self, device: usize, check: &str) -> Ms {
        let d = &self.devices[device];
        let key = format!("{}\u{0}{check}", d.id);
        (fnv1a(key.as_bytes()) % d.interval_ms as u64) as Ms
    }

    /// The spans an agent runs (between its stops), each with its start (the scheduler's base).
    pub fn agent_runs(&self, agent: usize) -> Vec<Span> {
        let mut runs = Vec::new();
        let mut from = self.start;
        let mut stops: Vec<Span> = self.agent_faults[agent]
            .iter()
            .filter_map(|f| match f {
                AgentFault::Stopped(s) => Some(*s),
                _ => None,
            })
            .collect();
        stops.sort();
        for s in stops {
            if s.start > from {
                runs.push(Span {
                    start: from,
                    end: s.start,
                });
            }
            from = from.max(s.end);
        }
        if from < self.end {
            runs.push(Span {
                start: from,
                end: self.end,
            });
        }
        runs
    }

    /// Every probe time of a device's primary check, in order.
    pub fn probe_times(&self, device: usize) -> Vec<Ms> {
        self.cursor(device).collect()
    }

    /// The probe times of a device's primary check, one at a time.
    pub fn cursor(&self, device: usize) -> ProbeCursor {
        let d = &self.devices[device];
        let runs = self.agent_runs(d.agent);
        let offset = self.offset(device, "icmp");
        let next = runs.first().map(|r| r.start + offset);
        let mut c = ProbeCursor {
            runs,
            run: 0,
            offset,
            interval: d.interval_ms,
            next,
        };
        c.settle();
        c
    }

    /// The inventory as the collector reads it; `dir` holds the token files and the database.
    pub fn inventory_yaml(&self, dir: &std::path::Path) -> String {
        let mut y = String::new();
        let db = dir.join("soak.db");
        let _ = writeln!(y, "collector:");
        let _ = writeln!(y, "  database: {}", db.display());
        let _ = writeln!(y, "  confirm_failures: {CONFIRM}");
        let _ = writeln!(y, "  stale_intervals: {STALE_INTERVALS}");
        let _ = writeln!(y, "  max_past: 400d");
        let _ = writeln!(y, "  retention: {{ results: 3650d }}");
        let _ = writeln!(y, "sites:");
        for s in &self.sites {
            let _ = writeln!(
                y,
                "  - {{ id: {}, name: \"{}\", municipality: {}, node: {} }}",
                s.id, s.name, self.municipalities[s.municipality], s.node
            );
        }
        let _ = writeln!(y, "devices:");
        for d in &self.devices {
            let _ = write!(
                y,
                "  - {{ id: {}, class: {}, site: {}, address: 127.0.0.1, interval: {}ms, checks: [icmp]",
                d.id,
                d.class.as_str(),
                self.sites[d.site].id,
                d.interval_ms
            );
            if let Some(p) = d.parent {
                let _ = write!(y, ", parent: {}", self.devices[p].id);
            }
            let _ = writeln!(y, " }}");
        }
        let _ = writeln!(y, "services:");
        for s in &self.services {
            let members: Vec<&str> = s
                .members
                .iter()
                .map(|m| self.devices[*m].id.as_str())
                .collect();
            let rule = match s.need {
                Need::All => "all".to_string(),
                Need::Any => "any".to_string(),
                Need::AtLeast(n) => format!("{{ at_least: {n} }}"),
            };
            let _ = writeln!(
                y,
                "  - {{ id: {}, name: \"{}\", members: [{}], rule: {rule} }}",
                s.id,
                s.name,
                members.join(", ")
            );
        }
        let _ = writeln!(y, "agents:");
        for (i, a) in self.agents.iter().enumerate() {
            let _ = writeln!(
                y,
                "  - {{ id: {a}, token_file: {a}.token, municipalities: [{}] }}",
                self.municipalities[i]
            );
        }
        y
    }
}

/// The probe times of one check, as the scheduler makes them: at its offset after each start of
/// the agent, then every interval until the agent stops.
#[derive(Debug, Clone)]
pub struct ProbeCursor {
    runs: Vec<Span>,
    run: usize,
    offset: Ms,
    interval: Ms,
    next: Option<Ms>,
}

impl ProbeCursor {
    /// The next probe time without taking it.
    pub fn peek(&self) -> Option<Ms> {
        self.next
    }

    /// Moves `next` into the agent's run it falls in (past the stops).
    fn settle(&mut self) {
        while let Some(t) = self.next {
            if t < self.runs[self.run].end {
                return;
            }
            self.run += 1;
            self.next = self.runs.get(self.run).map(|r| r.start + self.offset);
        }
    }
}

impl Iterator for ProbeCursor {
    type Item = Ms;

    fn next(&mut self) -> Option<Ms> {
        let t = self.next?;
        self.next = Some(t + self.interval);
        self.settle();
        Some(t)
    }
}

fn prefix(c: Class) -> &'static str {
    match c {
        Class::Switch => "sw",
        Class::AccessPoint => "ap",
        Class::Ups => "ups",
        Class::Printer => "prn",
        Class::Screen => "scr",
        Class::Service => "svc",
    }
}

fn dark_at(spans: &[Span], t: Ms) -> bool {
    let i = spans.partition_point(|s| s.end <= t);
    spans.get(i).is_some_and(|s| s.contains(t))
}

pub fn fault_time(f: &AgentFault) -> Ms {
    match f {
        AgentFault::Stopped(s) | AgentFault::CutOff(s) => s.start,
        AgentFault::Replay(t) => *t,
        AgentFault::Late { at, .. } => *at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn third_tuesday_windows_follow_stockholm_time_across_dst() {
        let from = local_ms(NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(), 0, 0);
        let to = from + 60 * DAY;
        let w = service_windows(from, to);
        let utc = |ms: Ms| DateTime::from_timestamp_millis(ms).unwrap().to_rfc3339();
        assert_eq!(utc(w[0].start), "2026-03-17T17:00:00+00:00");
        assert_eq!(utc(w[1].start), "2026-04-21T16:00:00+00:00");
    }

    #[test]
    fn a_seed_is_one_world() {
        let p = Params {
            seed: 7,
            days: 3,
            devices: 50,
            interval_s: 60,
            push_s: 15,
        };
        let (a, b) = (World::generate(p), World::generate(p));
        assert_eq!(a.dark, b.dark);
        assert_eq!(a.agent_faults, b.agent_faults);
        assert_eq!(
            a.inventory_yaml(std::path::Path::new("/x")),
            b.inventory_yaml(std::path::Path::new("/x"))
        );
    }
}
