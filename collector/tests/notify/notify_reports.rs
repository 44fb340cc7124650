//! Cron-scheduled reports: the tertial follow-up goes out on the first working day after the
//! tertial (not on New Year's Day), once, as HTML with each table attached as a CSV file,
//! rendered by a `ReportSource` (a small fake here; `followup.rs` mails the real report).

use chrono::{DateTime, Utc};
use driftvakt_collector::notify::config::{ReportPeriod, ReportSchedule};
use driftvakt_collector::notify::ReportSource;
use driftvakt_collector_testkit::notify::*;
use driftvakt_collector_testkit::smtp::*;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct FakeReports(Mutex<Vec<String>>);

impl ReportSource for FakeReports {
    fn render(
        &self,
        period: &str,
        _now: DateTime<Utc>,
    ) -> Result<(String, Vec<(String, String)>), String> {
        self.0.lock().unwrap().push(period.to_string());
        Ok((
            format!("<table><tr><td>Tillgänglighet {period}</td><td>99,4 %</td></tr></table>"),
            vec![
                (
                    "tjanster".into(),
                    "tjanst,tillganglighet_procent\nTrådlöst nätverk,99.400\n".into(),
                ),
                ("kommuner".into(), "kommun,enheter\nTranemo,12\n".into()),
            ],
        ))
    }
}

#[tokio::test]
async fn the_tertial_report_goes_out_on_the_first_working_day_once() {
    let tmp = tempfile::tempdir().unwrap();
    let peer = SmtpPeer::start(&tmp.path().join("mail"));
    let mut c = config(peer.port);
    c.reports.push(ReportSchedule {
        name: "tertial".into(),
        cron: "0 0 7 1-7 1,5,9 *".into(),
        period: ReportPeriod::PreviousTertial,
        working_days_only: true,
        to: vec!["it-chef@kommun.example.se".into()],
    });
    let source = Arc::new(FakeReports::default());
    let clock = ManualClock::at("2025-12-31T12:00:00+01:00");
    let n = smtp_notifier(c, &tmp.path().join("c.db"), clock.clone()).with_reports(source.clone());
    assert!(
        n.tick().unwrap().reports.is_empty(),
        "first tick sets the mark"
    );
    // New Year's Day is a holiday: nothing.
    clock.set("2026-01-01T12:00:00+01:00");
    assert!(n.tick().unwrap().reports.is_empty());
    // Friday 2 January 07:00: the report for September–December.
    clock.set("2026-01-02T07:00:05+01:00");
    assert_eq!(n.tick().unwrap().reports.len(), 1);
    // Monday 5 January fires again, but the period was sent.
    clock.set("2026-01-05T08:00:00+01:00");
    assert!(n.tick().unwrap().reports.is_empty());
    assert_eq!(*source.0.lock().unwrap(), ["2025-T3"]);

    let mails = deliver_until(&n, &peer, 1).await;
    let m = &mails[0];
    assert_eq!(
        m.subject,
        "Tillgänglighetsrapport: tertial 3 2025 (september–december)"
    );
    assert!(m
        .header("content-type")
        .unwrap()
        .starts_with("multipart/mixed"));
    assert!(
        m.html.contains("<td>Tillgänglighet 2025-T3</td>"),
        "{}",
        m.html
    );
    assert_eq!(m.attachments.len(), 2, "one file per table");
    let (ct, name, body) = &m.attachments[0];
    assert!(ct.starts_with("text/csv"));
    assert_eq!(name, "tillganglighet-2025-T3-tjanster.csv");
    assert!(body.contains("Trådlöst nätverk,99.400"));
    assert_eq!(m.attachments[1].1, "tillganglighet-2025-T3-kommuner.csv");
    assert!(
        m.text.contains("tillganglighet-2025-T3-kommuner.csv"),
        "{}",
        m.text
    );
}
