//! Intefunktion through the real collector binary: batches posted to `POST /api/v1/results`
//! as an agent posts them, a function (`kind: function`, the agreement's login item) down from
//! Friday 15:00 to Monday 09:00 in Tranemo, the service desk's own case about it registered
//! over the real API (linked, not a second case), and the binary's tertial report (JSON and
//! CSV): one case for Tranemo of 2.50 working hours, within one working day. And a function
//! going down now and back, and a case the service desk registers by hand, linked to an
//! incident and closed: each mailed by the real binary (through a real SMTP server) to the
//! municipality's service desk as an intefunktion case opened and closed, and shown on the
//! municipality's intranet page as a disturbance of the function.

use chrono::{DateTime, Duration, Utc};
use driftvakt_collector_testkit::files::secret_file;
use driftvakt_collector_testkit::http::{get, http, post_json};
use driftvakt_collector_testkit::inventory::Inventory;
use driftvakt_collector_testkit::ports::free_port;
use driftvakt_collector_testkit::process::start_collector;
use driftvakt_collector_testkit::smtp::{Eml, SmtpPeer};
use driftvakt_common::wire::{Batch, ProbeResult};

const AGENT: &str = "intefunktion-agent-token-0123456789";
const OPERATOR: &str = "intefunktion-operator-token-0123456789";

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// The LDAP server's result at `time` as the agent reports it (a TCP check here: the
/// collector does not care which probe kind a function's member uses).
fn ldap(time: DateTime<Utc>, ok: bool) -> ProbeResult {
    ProbeResult {
        target: "dc-tranemo".into(),
        check: "tcp".into(),
        time,
        ok,
        duration_ms: 2.0,
        error: (!ok).then(|| "connection_refused".to_string()),
        detail: None,
        findings: Vec::new(),
        values: Default::default(),
    }
}

/// `PATCH path` with a JSON body and `token` as bearer: (status, body).
fn patch_json(port: u16, path: &str, token: &str, json: &str) -> (u16, String) {
    let (status, _, body) = http(
        port,
        &format!(
            "PATCH {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{json}",
            json.len()
        ),
    )
    .expect("the collector answers");
    (status, body)
}

/// The notify section: editors and service desk of Tranemo, mail to `peer`, no hold-down.
fn notify_section(peer: &SmtpPeer) -> String {
    format!(
        "notify:\n  smtp: {{ host: 127.0.0.1, port: {}, tls: none, timeout: 5s }}\n  from:\n    \
         default: \"IT Tranemo <it@tranemo.example.se>\"\n  municipalities:\n    Tranemo:\n      \
         editors: [intranat@tranemo.example.se]\n      service_desk: [servicedesk@tranemo.example.se]\n  \
         hold_down: 0s\n",
        peer.port
    )
}

/// Waits (up to 60 s) for the service desk's mails whose subject starts with `prefix`.
async fn desk_mails(peer: &SmtpPeer, prefix: &str) -> Vec<Eml> {
    for _ in 0..600 {
        let found: Vec<Eml> = peer
            .messages()
            .into_iter()
            .filter(|m| m.to() == "servicedesk@tranemo.example.se" && m.subject.starts_with(prefix))
            .collect();
        if !found.is_empty() {
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let all: Vec<String> = peer
        .messages()
        .iter()
        .map(|m| format!("{} {}", m.to(), m.subject))
        .collect();
    panic!("no mail to the service desk starting {prefix:?}, of {all:?}");
}

/// Tranemo's intranet page.
fn tranemo_page(port: u16) -> String {
    get(port, "/driftinfo/tranemo").expect("the page answers 200")
}

/// Runs the collector binary with `args` after `--config` and returns its stdout.
fn binary(config: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_driftvakt-collector"))
        .arg(args[0])
        .arg("--config")
        .arg(config)
        .args(&args[1..])
        .output()
        .expect("run driftvakt-collector");
    assert!(
        out.status.success(),
        "driftvakt-collector {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn a_login_outage_from_friday_afternoon_to_monday_morning_is_one_case_of_two_and_a_half_working_hours(
) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let database = dir.join("collector.db");
    let operator = secret_file(dir, "operator.token", OPERATOR);
    let config = Inventory::new()
        .collector("database", database.display())
        .collector("operator_token", format!("{{ file: {operator} }}"))
        .site("kommunhuset", "Kommunhuset Tranemo", "Tranemo")
        .device(
            "{ id: dc-tranemo, class: service, site: kommunhuset, address: 127.0.0.1, \
             interval: 1h, checks: [{ kind: tcp, port: 636 }] }",
        )
        .service(
            "{ id: inloggning-tranemo, name: Inloggning, kind: function, function: login, \
             municipality: Tranemo, members: [dc-tranemo] }",
        )
        .agent(dir, "a1", AGENT, "municipalities: [Tranemo]")
        .write(dir);
    let port = free_port();
    let mut collector = start_collector(&config, port, &database, &dir.join("collector.log")).await;

    // Friday 27 November 2026 15:00 in Tranemo (UTC+1): hourly results, failing from then,
    // back on Monday 30 November 09:00; one batch a day as a catching-up agent sends them.
    let start = utc("2026-11-27T14:00:00Z");
    let results: Vec<ProbeResult> = (-2..=66)
        .map(|h| ldap(start + Duration::hours(h), !(0..66).contains(&h)))
        .collect();
    for (n, chunk) in results.chunks(24).enumerate() {
        let batch = Batch {
            agent: "a1".into(),
            batch_id: format!("a1-1-{n}"),
            results: chunk.to_vec(),
        };
        let body = serde_json::to_string(&batch).unwrap();
        let (status, _, answer) =
            post_json(port, "/api/v1/results", AGENT, &body).expect("the collector answers");
        assert_eq!(status, 200, "{answer}");
        assert!(answer.contains("\"rejected\":[]"), "{answer}");
    }

    // The service desk registered its own case when the first user phoned (Friday 15:20):
    // the same function at the same time, so the same case.
    let registration = r#"{"function": "inloggning-tranemo", "start": "2026-11-27T14:20:00Z",
        "end": "2026-11-30T07:45:00Z", "title": "Kan inte logga in", "by": "servicedesk"}"#;
    let (status, _, created) =
        post_json(port, "/api/v1/intefunktion", OPERATOR, registration).unwrap();
    assert_eq!(status, 201, "{created}");
    let unknown = r#"{"function": "natverk", "start": "2026-11-27T14:20:00Z", "title": "x"}"#;
    let (status, _, refused) = post_json(port, "/api/v1/intefunktion", OPERATOR, unknown).unwrap();
    assert_eq!(status, 400, "{refused}");
    assert!(refused.contains("unknown function `natverk`"), "{refused}");
    let (status, _, _) = post_json(port, "/api/v1/intefunktion", AGENT, registration).unwrap();
    assert_eq!(status, 401, "an agent's token may not register cases");

    // The report the API serves while it runs.
    let (status, _, body) = http(
        port,
        "GET /api/v1/report?period=2026-T3 HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n",
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let live: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        live["intefunktion"]["cases"].as_array().unwrap().len(),
        1,
        "{live}"
    );
    collector.terminate(std::time::Duration::from_secs(10));

    // The tertial report from the binary, as of the day after.
    let now = "2026-12-01T12:00:00Z";
    let json: serde_json::Value = serde_json::from_str(&binary(
        &config,
        &[
            "report", "--period", "2026-T3", "--format", "json", "--now", now,
        ],
    ))
    .unwrap();
    let f = &json["intefunktion"];
    let cases = f["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 1, "{f}");
    let c = &cases[0];
    assert_eq!(c["function"], "inloggning-tranemo");
    assert_eq!(c["item"], "login");
    assert_eq!(c["municipality"], "Tranemo");
    assert_eq!(c["tertial"], "2026-T3");
    assert_eq!(c["start"], "2026-11-27T14:00:00Z");
    assert_eq!(c["end"], "2026-11-30T08:00:00Z");
    assert_eq!(c["opened_by"], "probes");
    assert_eq!(c["manual_ids"], serde_json::json!([1]));
    // Friday 15:00–16:00 and Monday 07:30–09:00 against Friday's 07:30–16:00.
    assert_eq!(c["working_time_s"], 9_000.0);
    assert_eq!(c["handling_goal_s"], 30_600.0);
    assert_eq!(c["within_goal"], true);
    // A function down is an avbrott too (`counts_as_incident` defaults to true): one incident
    // against the yearly goal, with the desk's registration linked to the case, not to it.
    let incidents = json["incidents"]["list"].as_array().unwrap();
    assert_eq!(incidents.len(), 1, "{}", json["incidents"]);
    assert_eq!(
        incidents[0]["services"],
        serde_json::json!(["inloggning-tranemo"])
    );
    assert_eq!(
        incidents[0]["municipalities"],
        serde_json::json!(["Tranemo"])
    );
    let tranemo = &f["by_municipality"][0];
    assert_eq!(
        (
            &tranemo["municipality"],
            &tranemo["tertial"],
            &tranemo["cases"]
        ),
        (&"Tranemo".into(), &"2026-T3".into(), &1.into())
    );
    assert_eq!(tranemo["handling"]["within"], 1);
    assert_eq!(tranemo["handling"]["over"], 0);
    assert_eq!(tranemo["handling"]["median_working_s"], 9_000.0);

    let csv = binary(
        &config,
        &[
            "report", "--period", "2026-T3", "--format", "csv", "--now", now,
        ],
    );
    let table = |name: &str| -> Vec<String> {
        let head = format!("# tabell: {name}\n");
        let from = csv.find(&head).unwrap_or_else(|| panic!("{name} in {csv}")) + head.len();
        csv[from..]
            .lines()
            .take_while(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        table("intefunktion-per-kommun"),
        [
            "kommun,tertial,antal_arenden,inom_en_arbetsdag,over_en_arbetsdag,pagaende,median_arbetstid_h",
            "Tranemo,2026-T3,1,1,0,0,2.50",
        ]
    );
    let rows = table("intefunktion");
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        rows[1],
        "2026-11-27 15:00,2026-11-30 09:00,Tranemo,2026-T3,inloggning-tranemo,Inloggning,login,probes,66.00,2.50,8.50,ja,1"
    );
    let html = binary(
        &config,
        &[
            "report", "--period", "2026-T3", "--format", "html", "--now", now,
        ],
    );
    assert!(
        html.contains("<td>Datorarbetsplats och inloggning – Inloggning (registrerad)</td>"),
        "{html}"
    );
}

/// A function going down now reaches the service desk (an intefunktion case is theirs) as a
/// case opened, naming the function and its municipality, while the editors get the störning;
/// the intranet page shows it as a disturbance of the function; when it works again the desk
/// gets the case closed. The real binary sends them through a real SMTP server.
#[tokio::test]
async fn a_function_going_down_and_back_is_a_case_opened_and_closed_for_the_service_desk() {
    use driftvakt_collector::clock::{Clock, SystemClock};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let database = dir.join("collector.db");
    let peer = SmtpPeer::start(&dir.join("mail"));
    // The printers' server stands in Ulricehamn; the function serves Tranemo.
    let config = Inventory::new()
        .collector("database", database.display())
        .site("kommunhuset", "Kommunhuset Tranemo", "Tranemo")
        .site("stadshuset", "Stadshuset Ulricehamn", "Ulricehamn")
        .device(
            "{ id: print-server, class: service, site: stadshuset, address: 127.0.0.1, \
             interval: 60s, checks: [{ kind: tcp, port: 9100 }] }",
        )
        .service(
            "{ id: utskrift-tranemo, name: Utskrift Tranemo, kind: function, function: printing, \
             municipality: Tranemo, members: [print-server] }",
        )
        .agent(dir, "a1", AGENT, "municipalities: [Ulricehamn]")
        .section(&notify_section(&peer))
        .write(dir);
    let port = free_port();
    let mut collector = start_collector(&config, port, &database, &dir.join("collector.log")).await;
    let print_server = |time, ok| {
        let mut r = ldap(time, ok);
        r.target = "print-server".into();
        r
    };
    let post = |n: usize, results: Vec<ProbeResult>| {
        let batch = Batch {
            agent: "a1".into(),
            batch_id: format!("a1-1-{n}"),
            results,
        };
        let body = serde_json::to_string(&batch).unwrap();
        let (status, _, answer) = post_json(port, "/api/v1/results", AGENT, &body).unwrap();
        assert_eq!(status, 200, "{answer}");
    };
    let now = SystemClock.now();
    post(
        0,
        (0..6)
            .map(|m| print_server(now - Duration::minutes(6 - m), m == 0))
            .collect(),
    );
    let opened = desk_mails(&peer, "Intefunktion – nytt ärende").await;
    assert_eq!(opened.len(), 1);
    assert_eq!(
        opened[0].subject,
        "Intefunktion – nytt ärende: Utskrift Tranemo, Tranemo"
    );
    for want in [
        "Utskrift Tranemo fungerar inte i Tranemo sedan",
        "Funktion enligt uppdraget: Utskrift på nätverksskrivare",
        "Ärendet är upptäckt av Driftvakts mätningar.",
        "inom en arbetsdag",
    ] {
        assert!(
            opened[0].text.contains(want),
            "{want} in {}",
            opened[0].text
        );
    }
    let mails: Vec<String> = peer
        .messages()
        .iter()
        .map(|m| format!("{} {}", m.to(), m.subject))
        .collect();
    assert!(
        mails
            .iter()
            .any(|m| m.starts_with("intranat@tranemo.example.se")
                && m.contains("störning: Utskrift Tranemo")),
        "the editors get the störning: {mails:?}"
    );
    assert!(
        !mails
            .iter()
            .any(|m| m.starts_with("servicedesk@") && m.contains("störning")),
        "the desk gets its own notice, not the editors': {mails:?}"
    );
    let page = tranemo_page(port);
    assert!(
        page.contains("Intefunktion: Utskrift på nätverksskrivare"),
        "{page}"
    );
    assert!(page.contains("Utskrift Tranemo"), "{page}");
    // Where: the function's municipality, not the server's site in Ulricehamn.
    assert!(page.contains("<dt>Var</dt><dd>Tranemo</dd>"), "{page}");
    assert!(!page.contains("Stadshuset"), "{page}");

    // It prints again.
    post(1, vec![print_server(SystemClock.now(), true)]);
    let closed = desk_mails(&peer, "Intefunktion – ärendet avslutat").await;
    collector.terminate(std::time::Duration::from_secs(10));
    assert_eq!(closed.len(), 1);
    assert_eq!(
        closed[0].subject,
        "Intefunktion – ärendet avslutat: Utskrift Tranemo, Tranemo"
    );
    assert!(
        closed[0]
            .text
            .contains("Utskrift Tranemo i Tranemo fungerar igen sedan"),
        "{}",
        closed[0].text
    );
}

/// The service desk registers a case by hand (a user phoned; the probes see nothing): the
/// desk's mail says the case is open with its title, the intranet page shows the function
/// disturbed, the desk links it to the incident it registered and closes it (mailed as
/// closed), and `GET /api/v1/intefunktion` lists it with its link.
#[tokio::test]
async fn a_case_registered_by_hand_is_mailed_shown_linked_and_listed() {
    use driftvakt_collector::clock::{Clock, SystemClock};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let database = dir.join("collector.db");
    let operator = secret_file(dir, "operator.token", OPERATOR);
    let peer = SmtpPeer::start(&dir.join("mail"));
    let config = Inventory::new()
        .collector("database", database.display())
        .collector("operator_token", format!("{{ file: {operator} }}"))
        .site("kommunhuset", "Kommunhuset Tranemo", "Tranemo")
        .device(
            "{ id: print-server, class: service, site: kommunhuset, address: 127.0.0.1, \
             interval: 60s, checks: [{ kind: tcp, port: 9100 }] }",
        )
        .service(
            "{ id: tranemo-utskrift, name: Utskrift, kind: function, function: printing, \
             municipality: Tranemo, members: [print-server] }",
        )
        .agent(dir, "a1", AGENT, "municipalities: [Tranemo]")
        .section(&notify_section(&peer))
        .write(dir);
    let port = free_port();
    let mut collector = start_collector(&config, port, &database, &dir.join("collector.log")).await;
    let start = (SystemClock.now() - Duration::minutes(10))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let registration = format!(
        r#"{{"function": "tranemo-utskrift", "start": "{start}", "title": "Ingen kan skriva ut",
            "by": "servicedesk"}}"#
    );
    let (status, _, created) =
        post_json(port, "/api/v1/intefunktion", OPERATOR, &registration).unwrap();
    assert_eq!(status, 201, "{created}");
    let case: serde_json::Value = serde_json::from_str(&created).unwrap();
    let id = case["id"].as_i64().unwrap();

    let opened = desk_mails(&peer, "Intefunktion – nytt ärende").await;
    assert_eq!(
        opened[0].subject,
        "Intefunktion – nytt ärende: Utskrift, Tranemo"
    );
    assert!(
        opened[0]
            .text
            .contains("Ärendet är registrerat av servicedesken: Ingen kan skriva ut."),
        "{}",
        opened[0].text
    );
    let page = tranemo_page(port);
    assert!(
        page.contains("Intefunktion: Utskrift på nätverksskrivare. Servicedeskens ärende: Ingen kan skriva ut"),
        "{page}"
    );

    // The incident it belongs to, registered by the desk, then linked.
    let incident = format!(
        r#"{{"municipalities": ["Tranemo"], "start": "{start}", "title": "Utskriftsservern"}}"#
    );
    let (status, _, body) = post_json(port, "/api/v1/incidents", OPERATOR, &incident).unwrap();
    assert_eq!(status, 201, "{body}");
    let incident_id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/v1/intefunktion/{id}");
    let (status, body) = patch_json(port, &path, OPERATOR, r#"{"incident": 999}"#);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("no incident with id 999"), "{body}");
    let (status, body) = patch_json(port, &path, AGENT, r#"{"incident": 1}"#);
    assert_eq!(status, 401, "an agent may not link: {body}");
    let (status, body) = patch_json(
        port,
        &path,
        OPERATOR,
        &format!(r#"{{"incident": {incident_id}}}"#),
    );
    assert_eq!(status, 200, "{body}");
    let linked: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(linked["incident"], incident_id);
    assert_eq!(linked["end"], serde_json::Value::Null);

    // The list of the day's cases, measured, with what the desk registered.
    let today = SystemClock.now().date_naive();
    let list_path = format!(
        "/api/v1/intefunktion?from={}T00:00:00Z&to={}T00:00:00Z",
        today - chrono::Days::new(1),
        today + chrono::Days::new(1)
    );
    let listed: serde_json::Value =
        serde_json::from_str(&get(port, &list_path).expect("the list answers 200")).unwrap();
    let cases = listed["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 1, "{listed}");
    assert_eq!(cases[0]["function"], "tranemo-utskrift");
    assert_eq!(cases[0]["opened_by"], "service_desk");
    assert_eq!(cases[0]["manual_ids"], serde_json::json!([id]));
    assert_eq!(cases[0]["incident_ids"], serde_json::json!([incident_id]));
    assert_eq!(listed["registered"][0]["title"], "Ingen kan skriva ut");
    assert_eq!(listed["by_municipality"][0]["municipality"], "Tranemo");
    let one: serde_json::Value =
        serde_json::from_str(&get(port, &path).expect("one case answers 200")).unwrap();
    assert_eq!(one["incident"], incident_id);

    // Closed by the desk: mailed as closed, resolved on the page; a second close is refused.
    let end = SystemClock
        .now()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (status, body) = patch_json(port, &path, OPERATOR, &format!(r#"{{"end": "{end}"}}"#));
    assert_eq!(status, 200, "{body}");
    let closed = desk_mails(&peer, "Intefunktion – ärendet avslutat").await;
    assert_eq!(
        closed[0].subject,
        "Intefunktion – ärendet avslutat: Utskrift, Tranemo"
    );
    let (status, body) = patch_json(port, &path, OPERATOR, &format!(r#"{{"end": "{end}"}}"#));
    assert_eq!(status, 409, "{body}");
    let page = tranemo_page(port);
    collector.terminate(std::time::Duration::from_secs(10));
    assert!(
        page.contains(r#"Åtgärdat</span><span class="dold">:</span> Utskrift</h3>"#),
        "resolved: {page}"
    );
    assert_eq!(
        desk_mails(&peer, "Intefunktion – nytt ärende").await.len(),
        1,
        "opened once"
    );
}
