//! The inventory register: its table on both backends (the same suite), billing across two
//! tertials from the history `sync` records (a unit moved between owners, one decommissioned,
//! one added mid-period, one moved to another municipality), renewals at the window's edge
//! across a leap day, and a CSV of 2,000 devices that imports to an include file which loads,
//! lists and imports back to the same text.

use chrono::NaiveDate;
use driftvakt_collector::inventory::Inventory;
use driftvakt_collector::register::billing::{billing, ChangeKind, Tertial};
use driftvakt_collector::register::{import, list, renewals, sync};
use driftvakt_collector::store::{Database, Location, RegisterChange, RegisterStore};
use driftvakt_collector_testkit::backends::PgLocation;
use driftvakt_collector_testkit::pg;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn change(device: &str, d: &str, owner: &str, status: &str) -> RegisterChange {
    RegisterChange {
        device: device.into(),
        day: day(d),
        municipality: "Ulricehamn".into(),
        owner: owner.into(),
        status: status.into(),
    }
}

/// Every backend keeps the history in order: by device, day, then as recorded.
fn register_suite(s: &dyn RegisterStore) {
    assert!(s.history().unwrap().is_empty());
    s.record(&[
        change("tv2", "2026-05-01", "Kultur och fritid", "active"),
        change("tv1", "2026-06-15", "Vård och omsorg", "active"),
        change("tv1", "2026-05-01", "Barn och utbildning", "active"),
    ])
    .unwrap();
    s.record(&[change("tv1", "2026-06-15", "Socialtjänsten", "active")])
        .unwrap();
    s.record(&[]).unwrap();
    let got: Vec<(String, NaiveDate, String)> = s
        .history()
        .unwrap()
        .into_iter()
        .map(|c| (c.device, c.day, c.owner))
        .collect();
    assert_eq!(
        got,
        [
            (
                "tv1".into(),
                day("2026-05-01"),
                "Barn och utbildning".into()
            ),
            ("tv1".into(), day("2026-06-15"), "Vård och omsorg".into()),
            ("tv1".into(), day("2026-06-15"), "Socialtjänsten".into()),
            ("tv2".into(), day("2026-05-01"), "Kultur och fritid".into()),
        ]
    );
}

fn run_suite(location: Location) {
    let db = Database::open(&location).unwrap();
    register_suite(&*db.register().unwrap());
}

#[test]
fn sqlite_register_table() {
    let dir = tempfile::tempdir().unwrap();
    run_suite(dir.path().join("dv.db").into());
}

#[test]
fn postgres_register_table() {
    let db = pg::database();
    run_suite(db.location());
}

const SITES: &str = "snmp_credentials: [{ id: only, version: v2c, community: { env: C } }]\n\
                     sites:\n  - { id: s1, municipality: Ulricehamn }\n  \
                     - { id: t1, municipality: Tranemo }\n";

/// An inventory of `devices` (YAML list entries) in `dir`.
fn inventory(dir: &Path, devices: &str) -> Inventory {
    let path = dir.join("inventory.yaml");
    std::fs::write(&path, format!("{SITES}devices:\n{devices}")).unwrap();
    Inventory::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn device(id: &str, site: &str, owner: &str, status: &str, n: u8) -> String {
    format!(
        "  - {{ id: {id}, class: screen, site: {site}, address: 10.0.0.{n}, status: {status}, \
         register: {{ owner: {owner} }} }}\n"
    )
}

#[test]
fn billing_uses_the_register_as_it_was_in_each_tertial() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(&dir.path().join("dv.db").into()).unwrap();
    let store = db.register().unwrap();
    let bou = "Barn och utbildning";
    let steps = [
        // T2 begins: two screens active, an access point planned.
        (
            "2026-05-01",
            device("tv1", "s1", bou, "active", 1)
                + &device("tv2", "s1", "Kultur och fritid", "active", 2)
                + &device("ap1", "s1", bou, "planned", 3),
        ),
        // tv1 moves to another owner.
        (
            "2026-06-15",
            device("tv1", "s1", "Vård och omsorg", "active", 1)
                + &device("tv2", "s1", "Kultur och fritid", "active", 2)
                + &device("ap1", "s1", bou, "planned", 3),
        ),
        // tv2 is decommissioned, ap1 delivered.
        (
            "2026-07-10",
            device("tv1", "s1", "Vård och omsorg", "active", 1)
                + &device("tv2", "s1", "Kultur och fritid", "decommissioned", 2)
                + &device("ap1", "s1", bou, "active", 3),
        ),
        // T3: tv2 leaves the YAML, ap1 moves to a Tranemo site.
        (
            "2026-09-20",
            device("tv1", "s1", "Vård och omsorg", "active", 1)
                + &device("ap1", "t1", bou, "active", 3),
        ),
    ];
    for (d, devices) in &steps {
        let inv = inventory(dir.path(), devices);
        assert!(!sync(&*store, &inv, day(d)).unwrap().is_empty(), "{d}");
        assert!(
            sync(&*store, &inv, day(d)).unwrap().is_empty(),
            "{d}: nothing new"
        );
    }
    let history = store.history().unwrap();
    let none = BTreeSet::new();
    let after = day("2027-01-15");

    let t2 = billing(&history, Tertial::parse("2026-T2").unwrap(), after, &none);
    let lines: Vec<(&str, &str, &str, i64)> = t2
        .lines
        .iter()
        .map(|l| {
            (
                l.municipality.as_str(),
                l.owner.as_str(),
                l.device.as_str(),
                l.days,
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("Ulricehamn", bou, "ap1", 22 + 31),
            ("Ulricehamn", bou, "tv1", 31 + 14),
            ("Ulricehamn", "Kultur och fritid", "tv2", 31 + 30 + 9),
            ("Ulricehamn", "Vård och omsorg", "tv1", 16 + 31 + 31),
        ]
    );
    let changes: Vec<(NaiveDate, &str, ChangeKind)> = t2
        .changes
        .iter()
        .map(|c| (c.day, c.device.as_str(), c.kind))
        .collect();
    assert_eq!(
        changes,
        [
            (day("2026-05-01"), "ap1", ChangeKind::Status),
            (day("2026-05-01"), "tv1", ChangeKind::Added),
            (day("2026-05-01"), "tv2", ChangeKind::Added),
            (day("2026-06-15"), "tv1", ChangeKind::Moved),
            (day("2026-07-10"), "ap1", ChangeKind::Added),
            (day("2026-07-10"), "tv2", ChangeKind::Removed),
        ]
    );
    let moved = &t2.changes[3];
    assert_eq!(
        (moved.from_owner.as_str(), moved.to_owner.as_str()),
        (bou, "Vård och omsorg")
    );
    assert_eq!(t2.changes[5].to_status, "decommissioned");
    let totals: Vec<(&str, usize, i64)> = t2
        .totals
        .iter()
        .map(|t| (t.owner.as_str(), t.units, t.days))
        .collect();
    assert_eq!(
        totals,
        [
            (bou, 2, 53 + 45),
            ("Kultur och fritid", 1, 70),
            ("Vård och omsorg", 1, 78)
        ]
    );

    let quiet = BTreeSet::from(["ap1".to_string()]);
    let t3 = billing(&history, Tertial::parse("2026-T3").unwrap(), after, &quiet);
    let lines: Vec<(&str, &str, &str, i64, bool)> = t3
        .lines
        .iter()
        .map(|l| {
            (
                l.municipality.as_str(),
                l.owner.as_str(),
                l.device.as_str(),
                l.days,
                l.quiet,
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("Tranemo", bou, "ap1", 11 + 31 + 30 + 31, true),
            ("Ulricehamn", bou, "ap1", 19, true),
            ("Ulricehamn", "Vård och omsorg", "tv1", 122, false),
        ]
    );
    let changes: Vec<(NaiveDate, &str, ChangeKind, &str)> = t3
        .changes
        .iter()
        .map(|c| (c.day, c.device.as_str(), c.kind, c.to_status.as_str()))
        .collect();
    assert_eq!(
        changes,
        [
            (day("2026-09-20"), "ap1", ChangeKind::Moved, "active"),
            (day("2026-09-20"), "tv2", ChangeKind::Status, "removed"),
        ]
    );
    assert_eq!(t3.previous, "2026-T2");

    // While the tertial runs, days count up to today.
    let running = billing(
        &history,
        Tertial::parse("2026-T3").unwrap(),
        day("2026-10-01"),
        &none,
    );
    assert_eq!(running.until, day("2026-10-02"));
    let tv1: i64 = running
        .lines
        .iter()
        .filter(|l| l.device == "tv1")
        .map(|l| l.days)
        .sum();
    assert_eq!(tv1, 31);
}

#[test]
fn renewals_fall_due_48_months_after_a_leap_day() {
    let dir = tempfile::tempdir().unwrap();
    let inv = inventory(
        dir.path(),
        "  - { id: tv, class: screen, site: s1, address: 10.0.0.1, \
           register: { purchased: 2024-02-29, warranty_until: 2027-02-28 } }\n  \
         - { id: sw, class: switch, site: s1, address: 10.0.0.2, \
           register: { purchased: 2024-02-29, depreciation_months: 36 } }\n  \
         - { id: old, class: screen, site: s1, address: 10.0.0.3, status: decommissioned, \
           register: { purchased: 2019-01-01 } }\n",
    );
    let today = day("2027-09-01");
    let due = |days| -> Vec<(String, &'static str, NaiveDate, bool)> {
        renewals::renewals(&inv, today, days)
            .into_iter()
            .map(|r| (r.device, r.due.as_str(), r.date, r.passed))
            .collect()
    };
    // 2027-09-01 + 180 days is 2028-02-28: the renewal on the leap day is one day out.
    assert_eq!(
        due(180),
        [
            ("sw".to_string(), "depreciation", day("2027-02-28"), true),
            ("tv".to_string(), "warranty", day("2027-02-28"), true),
        ]
    );
    // The report's "Livscykel": past renewal on 2028-03-01, warranties ending within 180 days.
    let at = |t: &str| t.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    let l = driftvakt_collector::report::lifecycle::lifecycle(&inv, at("2028-02-29T23:30:00Z"));
    let ids = |v: &[renewals::Renewal]| v.iter().map(|r| r.device.clone()).collect::<Vec<_>>();
    assert_eq!(
        ids(&l.past_renewal),
        ["tv"],
        "the first Stockholm day after the renewal"
    );
    let l = driftvakt_collector::report::lifecycle::lifecycle(&inv, at("2026-09-01T12:00:00Z"));
    assert!(l.past_renewal.is_empty());
    assert_eq!(ids(&l.warranty_ending), ["tv"]);
    let within_181 = due(181);
    assert_eq!(within_181.len(), 3);
    assert_eq!(
        within_181[2],
        ("tv".into(), "renewal", day("2028-02-29"), false)
    );
}

/// A CSV of `n` devices using every register column, quotes, commas and non-ASCII text.
fn big_csv(n: usize) -> String {
    let owners = [
        "Barn och utbildning",
        "Vård och omsorg",
        "Kultur, fritid",
        "Samhällsbyggnad",
    ];
    let statuses = ["", "active", "planned", "in_stock", "decommissioned"];
    let classes = ["screen", "access_point", "switch", "printer", "ups"];
    let mut out = import::COLUMNS.join(",") + "\n";
    for i in 0..n {
        let purchased =
            NaiveDate::from_ymd_opt(2020, 2, 29).unwrap() + chrono::Days::new(i as u64 % 1500);
        let row = [
            format!("dev-{i:05}"),
            classes[i % 5].to_string(),
            if i % 2 == 0 { "s1" } else { "t1" }.to_string(),
            format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256),
            String::new(),
            if i % 7 == 0 {
                format!("\"Rum {i}, \"\"plan 2\"\"\"")
            } else {
                String::new()
            },
            statuses[i % 5].to_string(),
            format!("SN{i:08}"),
            if i % 3 == 0 {
                "Samsung QM55C".into()
            } else {
                String::new()
            },
            format!("UH-{i}"),
            if i % 11 == 0 {
                String::new()
            } else {
                format!("\"{}\"", owners[i % 4])
            },
            purchased.to_string(),
            if i % 4 == 0 {
                format!("{}.5", 1000 + i)
            } else {
                format!("{}", 2000 + i)
            },
            "60".into(),
            (purchased + chrono::Days::new(1095)).to_string(),
            if i % 5 == 0 {
                "Kommunförsäkring 2024/17".into()
            } else {
                String::new()
            },
            if i % 6 == 0 {
                "36".into()
            } else {
                String::new()
            },
        ];
        out += &row.join(",");
        out.push('\n');
    }
    out
}

#[test]
fn a_csv_of_2000_devices_imports_loads_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let imported = import::from_csv(&big_csv(2000)).unwrap();
    assert!(imported.skipped.is_empty(), "{:?}", imported.skipped);
    assert_eq!(imported.devices, 2000);
    std::fs::write(dir.path().join("register.yaml"), &imported.yaml).unwrap();
    let main = dir.path().join("main.yaml");
    std::fs::write(&main, format!("include: [register.yaml]\n{SITES}")).unwrap();
    let inv = Inventory::load(&main).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(inv.devices.len(), 2000);
    let d7 = inv.device("dev-00007").unwrap();
    let r = d7.config.register.as_ref().unwrap();
    assert_eq!(d7.config.description.as_deref(), Some("Rum 7, \"plan 2\""));
    assert_eq!(r.owner(), Some("Samhällsbyggnad"));
    assert_eq!(r.purchased(), Some(day("2020-03-07")));
    assert_eq!(d7.config.status().as_str(), "planned");
    assert_eq!(d7.municipality, "Tranemo");

    // Export (the list) and import again: the same file, byte for byte.
    let listed = list::to_csv(&list::rows(&inv, &BTreeMap::new()));
    let again = import::from_csv(&listed).unwrap();
    assert!(again.skipped.is_empty(), "{:?}", again.skipped);
    assert_eq!(again.yaml, imported.yaml);
}

/// One NetBox device object as the API returns it (the fields the import reads, and others).
fn netbox_device(
    n: u32,
    name: &str,
    status: &str,
    role: &str,
    ip: Option<&str>,
) -> serde_json::Value {
    serde_json::json!({
        "id": n,
        "url": format!("http://netbox/api/dcim/devices/{n}/"),
        "name": name,
        "status": { "value": status, "label": status },
        "role": { "id": 3, "slug": role, "name": role },
        "site": { "id": 1, "slug": "s1", "name": "Stadshuset" },
        "tenant": { "id": 9, "name": "Barn och utbildning", "slug": "bou" },
        "primary_ip": ip.map(|a| serde_json::json!({ "id": n, "family": 4, "address": a })),
        "serial": format!("SN-{n}"),
        "asset_tag": null,
        "device_type": { "id": 2, "model": "Aruba AP-515", "slug": "ap-515" },
        "custom_fields": {
            "purchased": "2024-02-29",
            "price": 4990,
            "warranty_until": null,
            "renew_after_months": if n == 1 { serde_json::json!(36) } else { serde_json::Value::Null },
        },
        "comments": "",
    })
}

/// Serves NetBox's paginated answers (`pages(base)`, by `offset`) on 127.0.0.1; records the
/// requests' `Authorization` headers.
type Seen = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

fn netbox_server(pages: impl FnOnce(&str) -> Vec<serde_json::Value>) -> (String, Seen) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let pages = pages(&base);
    let seen = Seen::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            reader.read_line(&mut request).unwrap();
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                if h.trim().is_empty() {
                    break;
                }
                let (name, value) = h.split_once(':').unwrap();
                if name.eq_ignore_ascii_case("authorization") {
                    log.lock().unwrap().push(request.clone() + value.trim());
                }
            }
            let offset: usize = request
                .split(['?', '&', ' '])
                .find_map(|p| p.strip_prefix("offset="))
                .map_or(0, |o| o.parse().unwrap());
            let body = pages[offset / 3].to_string();
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
        }
    });
    (base, seen)
}

#[test]
fn netbox_devices_import_from_every_page_with_every_status() {
    use driftvakt_collector::cli::inventory::{run, InventoryAction, InventoryArgs};
    use driftvakt_collector::cli::GlobalConfigArgs;
    use driftvakt_collector::clock::SystemClock;
    let ip = |n: u8| format!("10.0.0.{n}/24");
    let devices = [
        netbox_device(1, "ap-aulan", "active", "access-point", Some(&ip(1))),
        netbox_device(2, "ap-matsalen", "offline", "access_point", Some(&ip(2))),
        netbox_device(3, "skarm-entre", "planned", "screen", Some(&ip(3))),
        netbox_device(4, "skarm-kontor", "staged", "screen", Some(&ip(4))),
        netbox_device(5, "sw-kallare", "failed", "switch", Some(&ip(5))),
        netbox_device(6, "sw-gammal", "decommissioning", "switch", Some(&ip(6))),
        netbox_device(7, "ap-lager", "inventory", "access-point", Some(&ip(7))),
        netbox_device(8, "brandvagg", "active", "firewall", Some(&ip(8))),
        netbox_device(9, "ap-utan-ip", "active", "access-point", None),
    ];
    // Three per page, linked by `next` as NetBox links them.
    let (base, seen) = netbox_server(|base| {
        devices
            .chunks(3)
            .enumerate()
            .map(|(i, chunk)| {
                let next = (i < 2)
                    .then(|| format!("{base}/api/dcim/devices/?limit=3&offset={}", 3 * (i + 1)));
                serde_json::json!({ "count": 9, "next": next, "previous": null, "results": chunk })
            })
            .collect()
    });
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("netbox.token");
    std::fs::write(&token, "0123456789abcdef\n").unwrap();
    let args = InventoryArgs {
        config: GlobalConfigArgs {
            config: None,
            database: None,
        },
        now: None,
        action: InventoryAction::Import {
            csv: None,
            netbox: Some(base.clone()),
            token_file: Some(token),
            filter: vec!["tenant=bou".into()],
        },
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    run(&args, std::sync::Arc::new(SystemClock), &mut out, &mut err).unwrap();
    let (yaml, report) = (
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    );

    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 3, "{requests:?}");
    assert!(
        requests[0].starts_with("GET /api/dcim/devices/?limit=500&tenant=bou "),
        "{requests:?}"
    );
    assert!(
        requests
            .iter()
            .all(|r| r.ends_with("Token 0123456789abcdef")),
        "{requests:?}"
    );

    // Kept: active probed; offline, planned, staged, failed kept but not probed.
    std::fs::write(dir.path().join("netbox.yaml"), &yaml).unwrap();
    let main = dir.path().join("main.yaml");
    std::fs::write(&main, format!("include: [netbox.yaml]\n{SITES}")).unwrap();
    let inv = Inventory::load(&main).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    let statuses: Vec<(&str, &str)> = inv
        .devices
        .iter()
        .map(|d| (d.id.as_str(), d.config.status().as_str()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("ap-aulan", "active"),
            ("ap-matsalen", "in_stock"),
            ("skarm-entre", "planned"),
            ("skarm-kontor", "planned"),
            ("sw-kallare", "in_stock"),
        ]
    );
    let ap = inv.device("ap-aulan").unwrap();
    assert_eq!(ap.config.address.value, "10.0.0.1");
    assert_eq!(ap.class.as_str(), "access_point");
    let r = ap.config.register.as_ref().unwrap();
    assert_eq!(r.owner(), Some("Barn och utbildning"));
    assert_eq!(r.serial.as_deref(), Some("SN-1"));
    assert_eq!(r.model.as_deref(), Some("Aruba AP-515"));
    assert_eq!(r.purchased(), Some(day("2024-02-29")));
    assert_eq!(r.price(), Some(4990.0));
    assert_eq!(r.renew_after_months(ap.class), Some(36));
    // Dropped, each with why.
    for why in [
        "`sw-gammal`: status `decommissioning` is dropped",
        "`ap-lager`: status `inventory` is dropped",
        "`brandvagg`: role `firewall` is not a class",
        "`ap-utan-ip`: no primary IP",
        "5 devices imported, 4 skipped",
    ] {
        assert!(report.contains(why), "{why}: {report}");
    }
}
