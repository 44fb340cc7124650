//! The mail oracle of the real-time run: from the plan alone, which notices must arrive, to
//! whom and with which subject, and the comparison with what the SMTP server received.
//!
//! Its own small model of the README's notice rules (it imports nothing of the collector):
//!
//! - a service down: one *störning* when it fails and one *åtgärdat* when it is back, to the
//!   editors of its municipality ("Driftmeddelande – störning: {service}, {site}");
//! - a node site whose switch is down (the devices behind it unreachable): one *störning* and
//!   one *åtgärdat* for the site ("… Nätverket, {site}");
//! - a device down itself while no parent is down (the root cause): one *alarm* ("Larm:
//!   {device}, {site} – Enheten svarar inte") and one *upphört* ("Larm upphört: …") to the
//!   service desk in office hours and to on-call outside them; a device behind a dark parent
//!   is unreachable, not down, so its alarm ends when the parent goes dark and a new one starts
//!   when the parent is back and the device is still dark;
//! - nothing for flaps (never confirmed), unknown time (a silence neither ends nor opens
//!   anything) or what starts inside a service window (announced at the window's end if it
//!   outlasts it); *Planerat underhåll* to every editor for each window starting within three
//!   days of any moment of the run.
//!
//! The plan's office hours are fixed (see [`crate::plan::OPEN_DESK`]): one municipality's desk
//! is open around the clock but on Swedish holidays (our own few lines below), the other's
//! never. Each notice is its own mail (no digest: the rate limit is set out of reach).
//!
//! Real time cannot order two edges planned for the same instant: where two of a notice's
//! inputs (a device and its parent, two members of a service) change at one planned instant,
//! the collector may see a moment between them and tell of it (a short extra outage: one more
//! pair of notices). Such instants are counted per notice as its allowed *races*; a count
//! above the expected one by at most them is reported (`mail_races`), not failed.

use crate::plan::{is_agent_silence, FaultKind, Plan, OPEN_DESK};
use crate::schedule::{service_windows, Ms, Span};
use chrono::{DateTime, Datelike, NaiveDate, Weekday};
use chrono_tz::Europe::Stockholm;
use std::collections::{BTreeMap, BTreeSet};

/// What must arrive at one recipient under one subject: how many, and how many more races may
/// add.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expect {
    pub count: usize,
    pub races: usize,
}

/// (recipient, subject) → what must arrive.
pub type Mails = BTreeMap<(String, String), Expect>;

/// Who reads what in one municipality (the plan's notify section).
pub fn editors(municipality: &str) -> String {
    format!("intranat@{}.example.se", municipality.to_lowercase())
}
pub fn service_desk(municipality: &str) -> String {
    format!("servicedesk@{}.example.se", municipality.to_lowercase())
}
pub fn on_call(municipality: &str) -> String {
    format!("beredskap@{}.example.se", municipality.to_lowercase())
}

/// One thing people are told about: its spans (ms after the run's start), the subjects that
/// open and close it, who reads them (`None`: the alert's audience at the moment it is told).
struct Told {
    spans: Vec<Span>,
    races: usize,
    open: String,
    close: String,
    editors_of: Option<String>,
    municipality: usize,
    /// A device alert's device: its alarm and recovery also go to the webhook.
    device: Option<String>,
}

/// The notices the plan makes, for a run that started at `epoch0` (Unix ms) and ended at
/// `end_abs`.
pub fn expected(plan: &Plan, epoch0: Ms, end_abs: Ms) -> Mails {
    let world = &plan.world;
    let long = |spans: Vec<Span>| -> Vec<Span> {
        spans
            .into_iter()
            .filter(|s| s.end - s.start >= 4 * plan.interval)
            .collect()
    };
    let unavailable: Vec<Vec<Span>> = (0..world.devices.len())
        .map(|d| long(plan.unavailable(d)))
        .collect();
    let mut told = Vec::new();
    let own = plan.timelines();
    for s in &world.services {
        let site = &world.sites[world.devices[s.members[0]].site];
        let m = &world.municipalities[site.municipality];
        let inputs: Vec<&[Span]> = s.members.iter().map(|d| &unavailable[*d][..]).collect();
        let what = format!("{}, {}", s.name, site.name);
        told.push(Told {
            spans: crate::oracle::service_down(&own, &s.members, s.need),
            races: coincident(&inputs),
            open: format!("Driftmeddelande – störning: {what}"),
            close: format!("Driftmeddelande – åtgärdat: {what}"),
            editors_of: Some(m.clone()),
            municipality: site.municipality,
            device: None,
        });
    }
    for (i, site) in world.sites.iter().enumerate() {
        let m = &world.municipalities[site.municipality];
        let sw = world.switch_of(i);
        let has_children = world.devices.iter().any(|d| d.parent == Some(sw));
        if site.node && has_children {
            told.push(Told {
                spans: unavailable[sw].clone(),
                races: 0,
                open: format!("Driftmeddelande – störning: Nätverket, {}", site.name),
                close: format!("Driftmeddelande – åtgärdat: Nätverket, {}", site.name),
                editors_of: Some(m.clone()),
                municipality: site.municipality,
                device: None,
            });
        }
    }
    for (d, dev) in world.devices.iter().enumerate() {
        let site = &world.sites[dev.site];
        let (spans, races) = match dev.parent {
            None => (unavailable[d].clone(), 0),
            Some(p) => (
                long(subtract(&unavailable[d], &unavailable[p])),
                coincident(&[&unavailable[d], &unavailable[p]]),
            ),
        };
        let what = format!("{}, {} – Enheten svarar inte", dev.id, site.name);
        told.push(Told {
            spans,
            races,
            open: format!("Larm: {what}"),
            close: format!("Larm upphört: {what}"),
            editors_of: None,
            municipality: site.municipality,
            device: Some(dev.id.clone()),
        });
    }
    let windows = service_windows(epoch0 - 86_400_000, end_abs + 4 * 86_400_000);
    let mut out = Mails::new();
    for t in &told {
        add_told(t, plan, epoch0, &windows, world, &mut out);
    }
    for w in windows {
        let announced = w.start > epoch0 && w.start <= end_abs + 3 * 86_400_000;
        if !announced {
            continue;
        }
        let subject = format!(
            "Planerat underhåll: {} kl. {}–{}",
            date_sv(w.start),
            time_sv(w.start),
            time_sv(w.end)
        );
        for m in &world.municipalities {
            out.entry((editors(m), subject.clone())).or_default().count += 1;
        }
    }
    out
}

/// Adds one told thing's notices: each span opened when it starts (or, begun inside a service
/// window, when the window ends if it outlasts it) and closed when it ends.
fn add_told(
    t: &Told,
    plan: &Plan,
    epoch0: Ms,
    windows: &[Span],
    world: &crate::schedule::World,
    out: &mut Mails,
) {
    let m = &world.municipalities[t.municipality];
    let mail_away = away(&[&plan.smtp_down, &plan.smtp_refusing]);
    let hook_away = away(&[&plan.webhook_failing]);
    for s in &t.spans {
        // Told once confirmed (later when the agent or the collector was away then), as the
        // window rule sees it.
        let seen = told_at(plan, t.municipality, s.start);
        let (start, end) = (epoch0 + seen.1, epoch0 + s.end);
        let told = match windows.iter().find(|w| w.contains(start)) {
            Some(w) if end <= w.end => continue,
            Some(w) => w.end,
            None => start,
        };
        let to = match &t.editors_of {
            Some(m) => editors(m),
            None if t.municipality == OPEN_DESK && !holiday(told) => service_desk(m),
            None => on_call(m),
        };
        let over = learned_at(plan, t.municipality, s.end, 1);
        let mails = [(to.clone(), t.open.clone()), (to, t.close.clone())];
        let events: Vec<(String, String)> = hook_events(t)
            .into_iter()
            .map(|e| (WEBHOOK.to_string(), e))
            .collect();
        let channels = [(mail_away.as_slice(), mails.to_vec()), (&hook_away, events)];
        for (spans, keys) in channels {
            let fate = fate(sent_at(seen, spans), over);
            for key in keys {
                let e = out.entry(key).or_default();
                match fate {
                    Fate::Told => e.count += 1,
                    Fate::Unsure => e.races += 1,
                    Fate::Dropped => {}
                }
            }
        }
    }
    if t.races > 0 {
        let to: Vec<String> = match &t.editors_of {
            Some(m) => vec![editors(m)],
            None => vec![service_desk(m), on_call(m)],
        };
        let mails = to
            .into_iter()
            .flat_map(|to| [(to.clone(), t.open.clone()), (to, t.close.clone())]);
        let events = hook_events(t).into_iter().map(|e| (WEBHOOK.to_string(), e));
        for key in mails.chain(events) {
            out.entry(key).or_default().races += t.races;
        }
    }
}

/// Time for a push, the alerting check and a delivery round (ms).
const SETTLE_MS: Ms = 3_000;
/// The longest retry backoff the plan configures (`notify.retry.max_backoff`), in ms.
const BACKOFF_MS: Ms = 5_000;

/// What becomes of an outage's notices on one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// The opening notice goes out before the outage ends: both are told.
    Told,
    /// The opening notice is still held (its channel away) when the outage ends: the notifier
    /// cancels it and nobody hears of it.
    Dropped,
    /// Too close to tell.
    Unsure,
}

/// An instant known only within bounds: (earliest, latest), ms after the run's start.
type Between = (Ms, Ms);

/// The notices' fate when the opening one goes out within `sent` and the collector learns
/// that the outage is over within `over`.
fn fate(sent: Between, over: Between) -> Fate {
    const MARGIN_MS: Ms = 1_000;
    if sent.1 + MARGIN_MS < over.0 {
        Fate::Told
    } else if sent.0 > over.1 + MARGIN_MS {
        Fate::Dropped
    } else {
        Fate::Unsure
    }
}

/// When the collector tells of an outage of municipality `agent`'s devices that began at
/// `start`: after its third failed probe.
fn told_at(plan: &Plan, agent: usize, start: Ms) -> Between {
    learned_at(plan, agent, start, 3)
}

/// When the collector learns of an edge of municipality `agent`'s devices at `edge` (ms after
/// the run's start) that takes `probes` probes to see: at the earliest when the last of them
/// can be made, at the latest a whole interval for each, a push and a check later. An agent
/// away (killed, stopped, its clock ahead) or the collector away (killed, stopped, its disk
/// full) before the
/// latest moment may delay it until after its return; before the earliest, it surely does.
fn learned_at(plan: &Plan, agent: usize, edge: Ms, probes: i64) -> Between {
    let confirm = probes * plan.interval + SETTLE_MS;
    let (mut early, mut late) = (edge + (probes - 1) * plan.interval, edge + confirm);
    for f in &plan.faults {
        if f.start >= late || f.end <= edge {
            continue;
        }
        let after = match f.kind {
            k if is_agent_silence(k) && f.agent == agent => f.end + 2_000 + confirm,
            // The agents' pushes failed meanwhile: they retry with a backoff doubling from 1 s
            // (full jitter, its bounds adding up to about the time failed), so the next may come
            // about as long after the return as the fault lasted.
            // With the pair, a notice may wait for the killed or frozen leader's lease.
            FaultKind::CollectorKill
            | FaultKind::CollectorStop
            | FaultKind::DiskFull
            | FaultKind::PostgresStop => {
                f.end + (f.end - f.start) + 2_000 + SETTLE_MS + plan.takeover_ms
            }
            _ => continue,
        };
        // A full disk may not stop every write (a file may still have room).
        if f.start < early && !matches!(f.kind, FaultKind::DiskFull | FaultKind::PostgresStop) {
            early = early.max(f.end);
        }
        late = late.max(after);
    }
    (early, late)
}

/// When a notice due within `due` goes out on a channel that is away over `spans`: at once,
/// or when it is back (within a retry backoff).
fn sent_at(due: Between, spans: &[Span]) -> Between {
    let one = |t: Ms| match spans.iter().find(|s| s.contains(t)) {
        Some(s) => (s.end, s.end + BACKOFF_MS),
        None => (t, t),
    };
    (one(due.0).0, one(due.1).1)
}

fn away(lists: &[&Vec<Span>]) -> Vec<Span> {
    let mut all: Vec<Span> = lists.iter().flat_map(|l| l.iter().copied()).collect();
    all.sort();
    all
}

/// The webhook's "recipient" in [`Mails`]: its events are keyed `("webhook", "EVENT DEVICE")`.
pub const WEBHOOK: &str = "webhook";

/// A device alert's webhook events: `alert` when it opens, `resolved` when it ends.
fn hook_events(t: &Told) -> Vec<String> {
    t.device
        .iter()
        .flat_map(|d| [format!("alert {d}"), format!("resolved {d}")])
        .collect()
}

/// `a` less `b` (both sorted, disjoint).
pub fn subtract(a: &[Span], b: &[Span]) -> Vec<Span> {
    let mut out = Vec::new();
    for s in a {
        let mut from = s.start;
        for c in b.iter().filter(|c| c.end > s.start && c.start < s.end) {
            if c.start > from {
                out.push(Span {
                    start: from,
                    end: c.start,
                });
            }
            from = from.max(c.end);
        }
        if from < s.end {
            out.push(Span {
                start: from,
                end: s.end,
            });
        }
    }
    out
}

/// Instants where two or more of `inputs` change at once.
pub fn coincident(inputs: &[&[Span]]) -> usize {
    let mut by_instant: BTreeMap<Ms, BTreeSet<usize>> = BTreeMap::new();
    for (i, spans) in inputs.iter().enumerate() {
        for s in spans.iter() {
            by_instant.entry(s.start).or_default().insert(i);
            by_instant.entry(s.end).or_default().insert(i);
        }
    }
    by_instant.values().filter(|who| who.len() >= 2).count()
}

/// Whether the Stockholm date of `t` is a Swedish public holiday or one of the eves the
/// collector closes on (midsommarafton, julafton, nyårsafton).
pub fn holiday(t: Ms) -> bool {
    let date = local(t).date_naive();
    let y = date.year();
    let easter = easter_sunday(y);
    let day = |m, d| NaiveDate::from_ymd_opt(y, m, d).expect("a date");
    let from_easter = |n: i64| easter + chrono::Duration::days(n);
    let between = |m, lo, hi, wd: Weekday| {
        (lo..=hi)
            .map(|d| day(m, d))
            .find(|x| x.weekday() == wd)
            .expect("a weekday in seven days")
    };
    let all_saints = (31..=37)
        .map(|d| {
            if d == 31 {
                day(10, 31)
            } else {
                day(11, d - 31)
            }
        })
        .find(|x| x.weekday() == Weekday::Sat)
        .expect("a Saturday");
    [
        day(1, 1),
        day(1, 6),
        from_easter(-2),
        easter,
        from_easter(1),
        day(5, 1),
        from_easter(39),
        from_easter(49),
        day(6, 6),
        between(6, 19, 25, Weekday::Fri),
        between(6, 20, 26, Weekday::Sat),
        all_saints,
        day(12, 24),
        day(12, 25),
        day(12, 26),
        day(12, 31),
    ]
    .contains(&date)
}

/// Easter Sunday (the anonymous Gregorian computus).
fn easter_sunday(y: i32) -> NaiveDate {
    let a = y % 19;
    let (b, c) = (y / 100, y % 100);
    let (d, e) = (b / 4, b % 4);
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let (i, k) = (c / 4, c % 4);
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(y, month as u32, day as u32).expect("Easter")
}

fn local(t: Ms) -> DateTime<chrono_tz::Tz> {
    DateTime::from_timestamp_millis(t)
        .expect("a time")
        .with_timezone(&Stockholm)
}

const WEEKDAYS: [&str; 7] = [
    "måndag", "tisdag", "onsdag", "torsdag", "fredag", "lördag", "söndag",
];
const MONTHS: [&str; 12] = [
    "januari",
    "februari",
    "mars",
    "april",
    "maj",
    "juni",
    "juli",
    "augusti",
    "september",
    "oktober",
    "november",
    "december",
];

/// "tisdag 15 december 2026".
fn date_sv(t: Ms) -> String {
    let l = local(t);
    format!(
        "{} {} {} {}",
        WEEKDAYS[l.weekday().num_days_from_monday() as usize],
        l.day(),
        MONTHS[l.month0() as usize],
        l.year()
    )
}

/// "18.00".
fn time_sv(t: Ms) -> String {
    use chrono::Timelike;
    let l = local(t);
    format!("{:02}.{:02}", l.hour(), l.minute())
}

/// What arrived: (recipient, subject) → distinct messages (by `Message-ID`), and how many
/// arrived more than once.
#[derive(Debug, Default)]
pub struct Received {
    pub mails: BTreeMap<(String, String), usize>,
    pub total: usize,
    pub doubled: usize,
}

/// Reads the SMTP server's folder (one `.eml` per accepted message).
pub fn received(dir: &std::path::Path) -> Received {
    let mut r = Received::default();
    let mut ids = BTreeSet::new();
    for eml in driftvakt_testkit::smtp::read_eml_dir(dir) {
        r.total += 1;
        let id = eml.header("message-id").unwrap_or_default();
        if !id.is_empty() && !ids.insert(id) {
            r.doubled += 1;
            continue;
        }
        for to in eml.to().split(',').map(str::trim).filter(|t| !t.is_empty()) {
            *r.mails
                .entry((to.to_string(), eml.subject.clone()))
                .or_default() += 1;
        }
    }
    r
}

/// Adds the webhook's requests (Idempotency-Key, JSON body) to `r`, distinct by key.
pub fn add_hooks(r: &mut Received, hooks: &[(String, serde_json::Value)]) {
    let mut keys = BTreeSet::new();
    for (key, body) in hooks {
        r.total += 1;
        if !keys.insert(key.clone()) {
            r.doubled += 1;
            continue;
        }
        let event = body["event"].as_str().unwrap_or("?");
        let device = body["device_id"].as_str().unwrap_or("?");
        *r.mails
            .entry((WEBHOOK.into(), format!("{event} {device}")))
            .or_default() += 1;
    }
}

/// The kind of notice a subject is: störning, åtgärdat, larm, upphört, planerat, the webhook's
/// alert and resolved, or other.
pub fn kind(subject: &str) -> &'static str {
    [
        ("alert ", "webhook alert"),
        ("resolved ", "webhook resolved"),
        ("Driftmeddelande – störning", "störning"),
        ("Driftmeddelande – åtgärdat", "åtgärdat"),
        ("Larm upphört", "upphört"),
        ("Larm:", "larm"),
        ("Planerat underhåll", "planerat"),
    ]
    .iter()
    .find(|(prefix, _)| subject.starts_with(prefix))
    .map_or("other", |(_, k)| k)
}

/// Per kind of notice: (expected, received).
pub fn by_kind(expected: &Mails, got: &Received) -> BTreeMap<&'static str, (usize, usize)> {
    let mut out: BTreeMap<&'static str, (usize, usize)> = BTreeMap::new();
    for ((_, subject), e) in expected {
        out.entry(kind(subject)).or_default().0 += e.count;
    }
    for ((_, subject), n) in &got.mails {
        out.entry(kind(subject)).or_default().1 += n;
    }
    out
}

/// The mismatches between what must arrive and what did, and the races used.
pub fn compare(expected: &Mails, got: &Received) -> (Vec<String>, usize) {
    let keys: BTreeSet<&(String, String)> = expected.keys().chain(got.mails.keys()).collect();
    let (mut wrong, mut races) = (Vec::new(), 0);
    for key in keys {
        let e = expected.get(key).copied().unwrap_or_default();
        let n = got.mails.get(key).copied().unwrap_or(0);
        if n >= e.count && n <= e.count + e.races {
            races += n - e.count;
        } else if n != e.count {
            let allowed = if e.races > 0 {
                format!(" (+{} races allowed)", e.races)
            } else {
                String::new()
            };
            wrong.push(format!(
                "mail: {} \"{}\": expected {}{allowed}, received {n}",
                key.0, key.1, e.count
            ));
        }
    }
    (wrong, races)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> Ms {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    #[test]
    fn holidays_follow_easter_and_the_eves() {
        assert_eq!(
            easter_sunday(2026),
            NaiveDate::from_ymd_opt(2026, 4, 5).unwrap()
        );
        assert!(holiday(ms("2026-04-03T10:00:00+02:00")), "Långfredagen");
        assert!(holiday(ms("2026-06-19T10:00:00+02:00")), "Midsommarafton");
        assert!(holiday(ms("2026-10-31T10:00:00+01:00")), "Alla helgons dag");
        assert!(holiday(ms("2026-12-24T00:30:00+01:00")), "Julafton");
        assert!(!holiday(ms("2026-12-23T23:30:00+01:00")));
        assert!(!holiday(ms("2026-12-07T10:00:00+01:00")));
    }

    #[test]
    fn a_window_announcement_reads_as_the_collector_writes_it() {
        let t = ms("2026-03-17T18:00:00+01:00");
        assert_eq!(date_sv(t), "tisdag 17 mars 2026");
        assert_eq!(time_sv(t), "18.00");
    }

    #[test]
    fn a_child_dark_longer_than_its_parent_is_alarmed_before_and_after() {
        let span = |a, b| Span { start: a, end: b };
        let child = [span(0, 100)];
        let parent = [span(20, 50)];
        assert_eq!(subtract(&child, &parent), vec![span(0, 20), span(50, 100)]);
        assert_eq!(coincident(&[&child, &parent]), 0);
        assert_eq!(coincident(&[&[span(0, 50)], &parent]), 1);
    }

    #[test]
    fn a_notice_held_past_the_outage_s_end_is_never_sent() {
        let away = |a, b| vec![Span { start: a, end: b }];
        // Due 8–10 s, the outage seen over 30–32 s.
        let fate_of = |spans: &[Span]| fate(sent_at((8_000, 10_000), spans), (30_000, 32_000));
        assert_eq!(fate_of(&[]), Fate::Told);
        assert_eq!(fate_of(&away(5_000, 40_000)), Fate::Dropped);
        assert_eq!(fate_of(&away(5_000, 27_000)), Fate::Unsure);
        assert_eq!(fate_of(&away(12_000, 40_000)), Fate::Told);
    }

    #[test]
    fn an_outage_is_told_after_its_agent_or_the_collector_is_back() {
        let plan = Plan::generate(2, 168_000, 24, 2);
        let confirm = 3 * plan.interval + SETTLE_MS;
        for f in &plan.faults {
            let slot_start = f.start / plan.slot * plan.slot;
            let told = told_at(&plan, f.agent, slot_start);
            // A fault one and a half intervals into the slot comes before the third probe.
            let expected = match f.kind {
                FaultKind::SpoolDeleted => (slot_start + 2 * plan.interval, slot_start + confirm),
                FaultKind::DiskFull => (
                    slot_start + 2 * plan.interval,
                    f.end + (f.end - f.start) + 2_000 + SETTLE_MS,
                ),
                k if is_agent_silence(k) => (f.end, f.end + 2_000 + confirm),
                _ => (f.end, f.end + (f.end - f.start) + 2_000 + SETTLE_MS),
            };
            // (later still when the next slot's fault comes before that)
            assert_eq!(told.0, expected.0, "{f:?}");
            assert!(told.1 >= expected.1, "{f:?}: {told:?}");
        }
    }

    #[test]
    fn extra_mails_within_the_races_pass_and_others_fail() {
        let key = ("a@x".to_string(), "Larm: x".to_string());
        let expected: Mails = [(key.clone(), Expect { count: 2, races: 1 })].into();
        let mut got = Received::default();
        got.mails.insert(key.clone(), 3);
        assert_eq!(compare(&expected, &got), (vec![], 1));
        got.mails.insert(key.clone(), 1);
        assert_eq!(compare(&expected, &got).0.len(), 1);
        got.mails.insert(("b@x".into(), "Larm: y".into()), 1);
        assert_eq!(compare(&expected, &got).0.len(), 2);
    }
}
