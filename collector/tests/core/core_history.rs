//! Hand-computed histories, asserted to the second and to the availability ratio; each on
//! SQLite (`sqlite::…`) and on a throwaway PostgreSQL (`postgres::…`, the test kit's `pg`).

use driftvakt_collector::app::App;
use driftvakt_collector::availability::{NoWindows, Period, PlannedWindows};
use driftvakt_collector::report::{build, Report};
use driftvakt_collector::state::Health;
use driftvakt_collector::store::{EntityKind, Outage};
use driftvakt_collector_testkit::backends::Backend;
use driftvakt_collector_testkit::both_backends;
use driftvakt_collector_testkit::fixtures::*;
use driftvakt_common::wire::ProbeResult;

const DAY: f64 = 86_400.0;

fn day() -> Period {
    Period::between(minute(0), minute(24 * 60)).unwrap()
}

fn ingest_all(app: &App, results: Vec<ProbeResult>, prefix: &str) {
    for b in batches(prefix, results, 120) {
        let r = app.ingest_blocking("a1", &b).unwrap();
        assert!(r.rejected.is_empty(), "{:?}", r.rejected);
    }
}

fn report(app: &App, windows: &dyn PlannedWindows) -> Report {
    build(
        &app.inventory,
        &*app.store,
        windows,
        &day(),
        minute(24 * 60),
    )
    .unwrap()
}

fn device<'a>(r: &'a Report, id: &str) -> &'a driftvakt_collector::report::DeviceRow {
    r.devices.iter().find(|d| d.id == id).unwrap()
}

fn service<'a>(r: &'a Report, id: &str) -> &'a driftvakt_collector::report::ServiceRow {
    r.services.iter().find(|d| d.id == id).unwrap()
}

/// The whole site up all day, except what `fails` says for `target`.
fn day_with(target: &str, fails: impl Fn(i64) -> bool + Copy) -> Vec<ProbeResult> {
    let mut all = Vec::new();
    for d in ["sw", "ap1", "ap2", "ap3", "prn"] {
        if d == target {
            all.extend(history(d, 0, 1440, fails));
        } else {
            all.extend(history(d, 0, 1440, |_| false));
        }
    }
    all.sort_by_key(|r| r.time);
    all
}

fn outages(app: &App, id: &str) -> Vec<Outage> {
    app.store
        .outages(EntityKind::Device, Some(id), i64::MIN / 2, i64::MAX / 2)
        .unwrap()
}

fn outage_straddling_a_service_window_is_half_planned(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = backend.fresh(dir.path(), "dv");
    let app = open_app_at(dir.path(), &db.location);
    // Printer down 10:00-11:00 (60 failed results, success at 11:00); window 10:30-14:30.
    ingest_all(&app, day_with("prn", |m| (600..660).contains(&m)), "d");
    let windows = FixedWindows(vec![(minute(630), minute(870))]);
    let r = report(&app, &windows);
    let prn = device(&r, "prn");
    assert_eq!(prn.figures.downtime_s, 3600.0);
    assert_eq!(prn.figures.planned_downtime_s, 1800.0);
    assert_eq!(prn.figures.unplanned_downtime_s, 1800.0);
    assert_eq!(prn.figures.unknown_s, 0.0);
    assert_eq!(prn.figures.observed_s, DAY);
    assert_eq!(prn.figures.availability, Some(1.0 - 3600.0 / DAY));
    assert_eq!(prn.figures.meets_target, Some(false));
    assert_eq!(prn.outages, 1);
    assert_eq!(prn.flaps, 0);
    // The service follows; its outage is an incident (only half of it was planned).
    let print = service(&r, "print");
    assert_eq!(print.figures.downtime_s, 3600.0);
    assert_eq!(print.figures.planned_downtime_s, 1800.0);
    assert_eq!(r.incidents.period, 1);
    assert_eq!(r.incidents.list[0].start, minute(600));
    assert_eq!(r.incidents.list[0].end, Some(minute(660)));
    assert_eq!(r.incidents.list[0].planned_s, 1800.0);
    // Error budget: 0.9 % of 365 days, of which one hour is used.
    assert_eq!(prn.figures.error_budget_s, (0.009f64 * 365.0 * DAY).round());
    assert_eq!(prn.figures.error_budget_used_s, 3600.0);
    // Everything else was up all day.
    assert_eq!(device(&r, "sw").figures.availability, Some(1.0));
    assert_eq!(service(&r, "wifi").figures.availability, Some(1.0));
    // Site: device-time availability over five devices.
    let site = &r.sites[0];
    assert_eq!(site.figures.downtime_s, 3600.0);
    assert_eq!(site.figures.availability, Some(1.0 - 3600.0 / (5.0 * DAY)));
    assert_eq!(r.municipalities[0].id, "Ulricehamn");
    // The service outage is also stored, for alerting and history.
    let stored: Vec<_> = app
        .store
        .outages(EntityKind::Service, Some("print"), 0, i64::MAX / 2)
        .unwrap()
        .into_iter()
        .filter(|o| o.kind == Health::Down)
        .map(|o| (o.start, o.end))
        .collect();
    let ms = |m: i64| minute(m).timestamp_millis();
    assert_eq!(stored, vec![(ms(600), Some(ms(660)))]);
    // An outage entirely inside the window is not an incident.
    let inside = FixedWindows(vec![(minute(590), minute(700))]);
    assert_eq!(report(&app, &inside).incidents.period, 0);
}

fn two_failures_are_a_flap_not_an_outage(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = backend.fresh(dir.path(), "dv");
    let app = open_app_at(dir.path(), &db.location);
    ingest_all(&app, day_with("prn", |m| m == 300 || m == 301), "d");
    let r = report(&app, &NoWindows);
    let prn = device(&r, "prn");
    assert_eq!(prn.figures.downtime_s, 0.0);
    assert_eq!(prn.figures.availability, Some(1.0));
    assert_eq!(prn.outages, 0);
    assert_eq!(prn.flaps, 1);
    assert_eq!(r.incidents.year_to_date, 0);
    assert!(outages(&app, "prn")
        .iter()
        .all(|o| o.kind == Health::Unknown && o.end.is_none()));
}

fn parent_down_makes_children_unreachable(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = backend.fresh(dir.path(), "dv");
    let app = open_app_at(dir.path(), &db.location);
    let mut all = Vec::new();
    for d in ["sw", "ap1", "ap2", "ap3"] {
        all.extend(history(d, 0, 1440, |m| (600..660).contains(&m)));
    }
    all.extend(history("prn", 0, 1440, |_| false));
    all.sort_by_key(|r| r.time);
    ingest_all(&app, all, "d");
    let r = report(&app, &NoWindows);
    assert_eq!(device(&r, "sw").figures.downtime_s, 3600.0);
    for ap in ["ap1", "ap2", "ap3"] {
        let d = device(&r, ap);
        assert_eq!(
            d.figures.downtime_s, 3600.0,
            "{ap}: unreachable is unavailable"
        );
        assert_eq!(d.figures.availability, Some(1.0 - 3600.0 / DAY));
    }
    let wifi = service(&r, "wifi");
    assert_eq!(wifi.figures.downtime_s, 3600.0);
    assert_eq!(wifi.outages, 1);
    // At 10:30 the switch is the root cause, the access points are unreachable.
    let (now, _) = clock(minute(630));
    let at_1030 = App::new((*app.inventory).clone(), app.store.clone(), now).unwrap();
    let s = at_1030.status().unwrap();
    let sw = s.devices.iter().find(|d| d.id == "sw").unwrap();
    assert_eq!(sw.state, Health::Down);
    assert_eq!(sw.since, Some(minute(600)));
    assert_eq!(sw.root_cause, None);
    for ap in ["ap1", "ap2", "ap3"] {
        let d = s.devices.iter().find(|d| d.id == ap).unwrap();
        assert_eq!(d.state, Health::Unreachable, "{ap}");
        assert_eq!(d.root_cause.as_deref(), Some("sw"));
    }
    let wifi = s.services.iter().find(|d| d.id == "wifi").unwrap();
    assert_eq!(wifi.state, Health::Down);
    assert_eq!(wifi.since, Some(minute(600)));
}

/// A deterministic shuffle (no extra crates): a fixed-seed linear congruential generator.
fn shuffle<T>(v: &mut [T], mut seed: u64) {
    for i in (1..v.len()).rev() {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        v.swap(i, (seed >> 33) as usize % (i + 1));
    }
}

fn late_and_reordered_batches_give_the_same_outages(backend: Backend) {
    let fails = |m: i64| (600..660).contains(&m) || m == 300 || m == 301 || (900..905).contains(&m);
    let in_order = tempfile::tempdir().unwrap();
    let db_a = backend.fresh(in_order.path(), "dv");
    let a = open_app_at(in_order.path(), &db_a.location);
    ingest_all(&a, day_with("prn", fails), "d");

    let late = tempfile::tempdir().unwrap();
    let db_b = backend.fresh(late.path(), "dv");
    let b = open_app_at(late.path(), &db_b.location);
    let mut list = batches("d", day_with("prn", fails), 30);
    shuffle(&mut list, 7);
    for batch in &list {
        b.ingest_blocking("a1", batch).unwrap();
    }
    // Also results reordered inside a batch: the last batch's results reversed, re-sent
    // under a new id (all already stored, so nothing changes, and the answer says so: none
    // accepted, all duplicate results).
    let mut again = list[0].clone();
    again.batch_id = "again".into();
    again.results.reverse();
    let answer = b.ingest_blocking("a1", &again).unwrap();
    assert_eq!(
        (answer.accepted, answer.duplicate_results),
        (0, again.results.len())
    );

    for id in ["prn", "sw", "ap1"] {
        assert_eq!(outages(&a, id), outages(&b, id), "{id}");
    }
    let services = |app: &App| {
        app.store
            .outages(EntityKind::Service, None, i64::MIN / 2, i64::MAX / 2)
            .unwrap()
    };
    assert_eq!(services(&a), services(&b));
    let down: Vec<_> = outages(&b, "prn")
        .into_iter()
        .filter(|o| o.kind == Health::Down)
        .map(|o| (o.start, o.end))
        .collect();
    let ms = |m: i64| minute(m).timestamp_millis();
    assert_eq!(
        down,
        vec![(ms(600), Some(ms(660))), (ms(900), Some(ms(905)))]
    );
    let (ra, rb) = (report(&a, &NoWindows), report(&b, &NoWindows));
    assert_eq!(
        serde_json::to_value(&ra).unwrap(),
        serde_json::to_value(&rb).unwrap()
    );
    let prn = device(&rb, "prn");
    assert_eq!(prn.figures.downtime_s, 3900.0);
    assert_eq!(prn.flaps, 1);
    assert_eq!(prn.figures.availability, Some(1.0 - 3900.0 / DAY));
}

fn duplicate_batch_is_applied_once(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = backend.fresh(dir.path(), "dv");
    let app = open_app_at(dir.path(), &db.location);
    let list = batches("d", day_with("prn", |m| m == 300 || m == 301), 30);
    for b in &list {
        app.ingest_blocking("a1", b).unwrap();
    }
    let before = outages(&app, "prn");
    let again = app.ingest_blocking("a1", &list[10]).unwrap();
    assert!(again.duplicate);
    assert_eq!(again.accepted, 0);
    assert_eq!(outages(&app, "prn"), before);
    let r = report(&app, &NoWindows);
    assert_eq!(device(&r, "prn").flaps, 1);
}

fn restart_mid_history_resumes_without_losing_or_inventing(backend: Backend) {
    let fails = |m: i64| (600..660).contains(&m);
    let all = day_with("prn", fails);
    let (first, second): (Vec<_>, Vec<_>) = all.into_iter().partition(|r| r.time < minute(630));
    let dir = tempfile::tempdir().unwrap();
    let db = backend.fresh(dir.path(), "dv");
    {
        let app = open_app_at(dir.path(), &db.location);
        ingest_all(&app, first, "first");
        // Mid-outage: down since 10:00.
        let (now, _) = clock(minute(629));
        let mid = App::new((*app.inventory).clone(), app.store.clone(), now).unwrap();
        let s = mid.status().unwrap();
        let prn = s.devices.iter().find(|d| d.id == "prn").unwrap();
        assert_eq!((prn.state, prn.since), (Health::Down, Some(minute(600))));
    } // the app and its database connection are dropped here
    let app = open_app_at(dir.path(), &db.location);
    let (now, _) = clock(minute(640));
    let later = App::new((*app.inventory).clone(), app.store.clone(), now).unwrap();
    let s = later.status().unwrap();
    let prn = s.devices.iter().find(|d| d.id == "prn").unwrap();
    // Results stopped at 10:29; unknown after three intervals, original start kept before.
    assert_eq!((prn.state, prn.since), (Health::Unknown, Some(minute(632))));
    ingest_all(&app, second, "second");
    let r = report(&app, &NoWindows);
    let prn = device(&r, "prn");
    assert_eq!(prn.figures.downtime_s, 3600.0);
    assert_eq!(prn.outages, 1);
    assert_eq!(prn.figures.unknown_s, 0.0);
    assert_eq!(prn.figures.availability, Some(1.0 - 3600.0 / DAY));
}

fn degraded_is_available_but_visible(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = backend.fresh(dir.path(), "dv");
    let app = open_app_at(dir.path(), &db.location);
    let mut all = day_with("nobody", |_| false);
    // The printer's port 9100 stops answering for ten minutes; ping keeps working.
    all.extend((0..1440).map(|m| result("prn", "tcp", m, !(100..110).contains(&m))));
    // One ping answer with a finding (e.g. toner low) at minute 200.
    let with_finding = all
        .iter_mut()
        .find(|r| r.target == "prn" && r.check == "icmp" && r.time == minute(200))
        .unwrap();
    with_finding.findings.push(driftvakt_common::wire::Finding {
        code: "supply_low".into(),
        message: "Toner under 10 %".into(),
    });
    all.sort_by_key(|r| r.time);
    ingest_all(&app, all, "d");
    let r = report(&app, &NoWindows);
    let prn = device(&r, "prn");
    assert_eq!(prn.figures.degraded_s, 660.0);
    assert_eq!(prn.figures.downtime_s, 0.0);
    assert_eq!(prn.figures.availability, Some(1.0));
    assert_eq!(service(&r, "print").figures.degraded_s, 660.0);
    let degraded: Vec<_> = outages(&app, "prn")
        .into_iter()
        .filter(|o| o.kind == Health::Degraded)
        .map(|o| o.cause)
        .collect();
    assert_eq!(
        degraded,
        vec![Some("timeout".to_string()), Some("supply_low".to_string())]
    );
}

fn silence_becomes_unknown_after_three_intervals(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = backend.fresh(dir.path(), "dv");
    let app = open_app_at(dir.path(), &db.location);
    // No results for the printer from 05:00 to 05:30; failing just before the silence.
    let all: Vec<_> = day_with("prn", |m| (298..300).contains(&m))
        .into_iter()
        .filter(|r| !(r.target == "prn" && (300..330).contains(&minute_of(r))))
        .collect();
    ingest_all(&app, all, "d");
    let r = report(&app, &NoWindows);
    let prn = device(&r, "prn");
    // The last result before the silence is at 04:59: unknown from three intervals later
    // (05:02) until the next result at 05:30, 28 minutes.
    assert_eq!(prn.figures.unknown_s, 28.0 * 60.0);
    assert_eq!(prn.figures.observed_s, DAY - 28.0 * 60.0);
    assert_eq!(prn.figures.downtime_s, 0.0);
    assert_eq!(prn.figures.availability, Some(1.0));
    // Two failures, then silence, then a success: a flap (silence does not break a run).
    assert_eq!(prn.flaps, 1);
    assert_eq!(prn.outages, 0);
}

fn silence_inside_an_outage_does_not_split_it(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = backend.fresh(dir.path(), "dv");
    let app = open_app_at(dir.path(), &db.location);
    // The printer fails from 10:00; its agent is silent from 10:10 to 10:40 (an upgrade) and
    // comes back still seeing it fail until 11:00.
    let all: Vec<_> = day_with("prn", |m| (600..660).contains(&m))
        .into_iter()
        .filter(|r| !(r.target == "prn" && (610..640).contains(&minute_of(r))))
        .collect();
    ingest_all(&app, all, "d");
    let r = report(&app, &NoWindows);
    let prn = device(&r, "prn");
    assert_eq!(prn.outages, 1, "one outage across the silence");
    assert_eq!(prn.figures.downtime_s, 60.0 * 60.0, "down 10:00-11:00");
    assert_eq!(prn.figures.unknown_s, 0.0);
    let stored: Vec<_> = outages(&app, "prn")
        .into_iter()
        .filter(|o| o.kind == Health::Down)
        .collect();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(
        (stored[0].start, stored[0].end),
        (
            minute(600).timestamp_millis(),
            Some(minute(660).timestamp_millis())
        )
    );
}

fn failures_on_both_sides_of_a_silence_confirm_one_outage(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = backend.fresh(dir.path(), "dv");
    let app = open_app_at(dir.path(), &db.location);
    // The printer goes dark at 10:00 as its agent stops: two failures (10:00, 10:01), silence
    // until 10:30, then failures until the printer answers at 11:00. The confirming failures
    // come after the silence, in later batches than the first two.
    let all: Vec<_> = day_with("prn", |m| (600..660).contains(&m))
        .into_iter()
        .filter(|r| !(r.target == "prn" && (602..630).contains(&minute_of(r))))
        .collect();
    let (before, after): (Vec<_>, Vec<_>) = all.into_iter().partition(|r| minute_of(r) < 630);
    ingest_all(&app, before, "d");
    ingest_all(&app, after, "e");
    let r = report(&app, &NoWindows);
    let prn = device(&r, "prn");
    assert_eq!(prn.outages, 1, "one outage from the first failure");
    assert_eq!(prn.figures.downtime_s, 60.0 * 60.0, "down 10:00-11:00");
    assert_eq!(prn.figures.unknown_s, 0.0);
    assert_eq!(prn.flaps, 0);
    // Down once, and nothing unknown before the day's end (the open unknown after the last
    // result is the run's end).
    let stored: Vec<_> = outages(&app, "prn")
        .into_iter()
        .filter(|o| o.end.is_some())
        .collect();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].kind, Health::Down);
    assert_eq!(
        (stored[0].start, stored[0].end),
        (
            minute(600).timestamp_millis(),
            Some(minute(660).timestamp_millis())
        )
    );
}

fn silence_then_success_ends_the_outage_at_the_success(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = backend.fresh(dir.path(), "dv");
    let app = open_app_at(dir.path(), &db.location);
    // Failing from 10:00, silent from 10:10; the first result after, at 10:40, succeeds.
    let all: Vec<_> = day_with("prn", |m| (600..610).contains(&m))
        .into_iter()
        .filter(|r| !(r.target == "prn" && (610..640).contains(&minute_of(r))))
        .collect();
    ingest_all(&app, all, "d");
    let r = report(&app, &NoWindows);
    let prn = device(&r, "prn");
    assert_eq!(prn.outages, 1);
    assert_eq!(
        prn.figures.downtime_s,
        40.0 * 60.0,
        "down to the first success"
    );
    assert_eq!(prn.figures.unknown_s, 0.0);
}

fn minute_of(r: &ProbeResult) -> i64 {
    (r.time - minute(0)).num_minutes()
}

fn with_two_agents_down_needs_both(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = backend.fresh(dir.path(), "dv");
    let app = open_app_at(dir.path(), &db.location);
    ingest_all(&app, day_with("prn", |m| (600..660).contains(&m)), "d");
    // A second agent sees the printer fail from 10:30 to 11:40.
    let seen_by_a2: Vec<_> = history("prn", 0, 1440, |m| (630..700).contains(&m));
    for mut b in batches("a2", seen_by_a2, 120) {
        b.agent = "a2".into();
        let r = app.ingest_blocking("a2", &b).unwrap();
        assert!(r.rejected.is_empty(), "{:?}", r.rejected);
    }
    let r = report(&app, &NoWindows);
    let prn = device(&r, "prn");
    assert_eq!(prn.figures.downtime_s, 1800.0);
    assert_eq!(prn.figures.availability, Some(1.0 - 1800.0 / DAY));
    assert_eq!(prn.outages, 1);
    // a2 may not report a1's devices.
    let mut b = batches("x", history("sw", 0, 1, |_| false), 1).remove(0);
    b.agent = "a2".into();
    let r = app.ingest_blocking("a2", &b).unwrap();
    assert_eq!(r.rejected[0].reason, "device not assigned to this agent");
}

both_backends!(
    outage_straddling_a_service_window_is_half_planned,
    two_failures_are_a_flap_not_an_outage,
    parent_down_makes_children_unreachable,
    late_and_reordered_batches_give_the_same_outages,
    duplicate_batch_is_applied_once,
    restart_mid_history_resumes_without_losing_or_inventing,
    degraded_is_available_but_visible,
    silence_becomes_unknown_after_three_intervals,
    silence_inside_an_outage_does_not_split_it,
    failures_on_both_sides_of_a_silence_confirm_one_outage,
    silence_then_success_ends_the_outage_at_the_success,
    with_two_agents_down_needs_both,
);
