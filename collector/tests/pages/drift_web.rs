//! The operator web (`/drift/`) through the real binary: accounts made with `driftvakt-collector
//! user add`, the login (local) and the proxy's headers (trusted proxy, from a second loopback
//! address), an incident registered, updated and closed in the forms, the intranet page, its
//! JSON and its feed showing it once, an ad-hoc window added and cancelled, the next secondary
//! window activated; and the refusals
//! (no session, a viewer posting, a missing and a wrong CSRF token, the user header from an
//! address that is not the proxy, a locked account): each a clear page, nothing changed, and a
//! line in the audit log (`/drift/logg`).

use driftvakt_collector_testkit::ports::free_port;
use driftvakt_collector_testkit::process::Proc;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const OPERATOR_TOKEN: &str = "drift-operator-token-0123456789abcd";

const INVENTORY: &str = r#"
collector:
  database: DATABASE
  operator_token: { env: DV_DRIFT_OPERATOR }
  web: WEB
sites:
  - { id: kommunhuset, name: Kommunhuset, municipality: Tranemo, node: true }
  - { id: stadshuset, name: Stadshuset, municipality: Ulricehamn }
devices:
  - { id: sw-t1, class: switch, site: kommunhuset, address: 10.40.0.2, interval: 300s, checks: [icmp] }
  - { id: sw-u1, class: switch, site: stadshuset, address: 10.50.0.2, interval: 300s, checks: [icmp] }
services:
  - { id: tele-tranemo, name: Telefoni Tranemo, members: [sw-t1] }
"#;

const PASSWORD: &str = "ett riktigt långt lösenord";

/// One HTTP/1.0 exchange from `from` to the collector: (status, head, body).
fn exchange(port: u16, from: IpAddr, request: &str) -> (u16, String, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stream = rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(from, 0)).unwrap();
        socket
            .connect(SocketAddr::from(([127, 0, 0, 1], port)))
            .await
            .unwrap()
            .into_std()
            .unwrap()
    });
    let mut s: TcpStream = stream;
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_string(), body.to_string())
}

/// A client of the operator web: its address, its cookies and its extra headers.
struct Browser {
    port: u16,
    from: IpAddr,
    cookies: Vec<(String, String)>,
    headers: String,
}

impl Browser {
    fn new(port: u16) -> Browser {
        Browser {
            port,
            from: [127, 0, 0, 1].into(),
            cookies: Vec::new(),
            headers: String::new(),
        }
    }

    fn request(&mut self, method: &str, path: &str, body: &str) -> (u16, String, String) {
        let cookie = if self.cookies.is_empty() {
            String::new()
        } else {
            let pairs: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            format!("Cookie: {}\r\n", pairs.join("; "))
        };
        let form = if method == "POST" {
            format!(
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
                body.len()
            )
        } else {
            String::new()
        };
        let r = exchange(
            self.port,
            self.from,
            &format!(
                "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n{cookie}{}{form}\r\n{body}",
                self.headers
            ),
        );
        self.take_cookies(&r.1);
        r
    }

    fn take_cookies(&mut self, head: &str) {
        for line in head.lines() {
            let Some(v) = line.strip_prefix("set-cookie: ") else {
                continue;
            };
            assert!(
                v.contains("Secure") && v.contains("HttpOnly") && v.contains("SameSite=Strict"),
                "{v}"
            );
            let (pair, _) = v.split_once(';').unwrap();
            let (k, val) = pair.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != k);
            if !val.is_empty() {
                self.cookies.push((k.to_string(), val.to_string()));
            }
        }
    }

    fn get(&mut self, path: &str) -> (u16, String, String) {
        self.request("GET", path, "")
    }

    fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> (u16, String, String) {
        let body = serde_urlencoded::to_string(fields).unwrap();
        self.request("POST", path, &body)
    }

    /// Logs in as `name` through the form; the status of the answer.
    fn login(&mut self, name: &str, password: &str) -> (u16, String, String) {
        let (status, _, page) = self.get("/drift/logga-in");
        assert_eq!(status, 200, "{page}");
        let csrf = csrf_of(&page);
        self.post(
            "/drift/logga-in",
            &[("csrf", &csrf), ("namn", name), ("losenord", password)],
        )
    }

    /// The CSRF token of the overview.
    fn csrf(&mut self) -> String {
        let (status, _, page) = self.get("/drift/");
        assert_eq!(status, 200, "{page}");
        meta_csrf(&page)
    }
}

/// The CSRF token of a form on `page` (every form of a page has the same).
fn csrf_of(page: &str) -> String {
    let field = "name=\"csrf\" value=\"";
    let at = page
        .find(field)
        .unwrap_or_else(|| panic!("no CSRF field in {page}"));
    let rest = &page[at + field.len()..];
    let token = rest[..rest.find('"').unwrap()].to_string();
    assert_eq!(meta_csrf(page), token);
    token
}

/// The CSRF token in the page's head (pages without a form have it too).
fn meta_csrf(page: &str) -> String {
    let meta = "<meta name=\"csrf-token\" content=\"";
    let at = page
        .find(meta)
        .unwrap_or_else(|| panic!("no CSRF meta in {page}"));
    let rest = &page[at + meta.len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

fn location(head: &str) -> &str {
    head.lines()
        .find_map(|l| l.strip_prefix("location: "))
        .unwrap_or("")
}

fn user(config: &Path, args: &[&str], password: &str) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_driftvakt-collector"))
        .arg("user")
        .args(args)
        .arg("--config")
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    child.wait_with_output().unwrap()
}

fn inventory(dir: &Path, web: &str) -> String {
    let db = dir.join("collector.db");
    INVENTORY
        .replace("WEB", web)
        .replace("DATABASE", &db.display().to_string())
}

fn start(dir: &Path, web: &str) -> (Proc, u16, PathBuf) {
    let config = dir.join("collector.yaml");
    std::fs::write(&config, inventory(dir, web)).unwrap();
    let port = free_port();
    (spawn(&config, port, dir), port, config)
}

fn spawn(config: &Path, port: u16, dir: &Path) -> Proc {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_driftvakt-collector"));
    cmd.args(["run", "--config"])
        .arg(config)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("DV_DRIFT_OPERATOR", OPERATOR_TOKEN);
    let mut proc = Proc::spawn("collector", &mut cmd, &dir.join("collector.log"));
    for _ in 0..600 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return proc;
        }
        proc.assert_running();
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the collector did not listen on 127.0.0.1:{port} within a minute");
}

/// The open incidents as the API lists them.
fn ongoing(port: u16) -> Vec<Value> {
    let (status, _, body) = Browser::new(port).get("/api/v1/incidents?ongoing=true");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str::<Vec<Value>>(&body).unwrap()
}

fn audit_page(b: &mut Browser) -> String {
    let (status, _, page) = b.get("/drift/logg");
    assert_eq!(status, 200, "{page}");
    page
}

#[test]
fn local_login_registers_updates_and_closes_an_incident_and_refuses_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let web = "{ auth: local, users_file: users.yaml, lockout_after: 3 }";
    std::fs::write(
        dir.path().join("collector.yaml"),
        inventory(dir.path(), web),
    )
    .unwrap();
    let config = dir.path().join("collector.yaml");
    for (name, role) in [("anna", "operator"), ("eva", "viewer"), ("redd", "editor")] {
        let out = user(&config, &["add", name, "--role", role], PASSWORD);
        assert!(out.status.success(), "{out:?}");
    }
    let out = user(&config, &["add", "kort", "--role", "viewer"], "kort");
    assert!(!out.status.success(), "a short password is refused");
    let listed = user(&config, &["list"], "");
    assert_eq!(
        String::from_utf8_lossy(&listed.stdout),
        "anna\toperator\neva\tviewer\nredd\teditor\n"
    );
    let users = std::fs::read_to_string(dir.path().join("users.yaml")).unwrap();
    assert_eq!(users.matches("$argon2id$").count(), 3, "{users}");
    assert!(!users.contains(PASSWORD));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join("users.yaml"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let port = free_port();
    let _collector = spawn(&config, port, dir.path());

    // Nobody: the overview sends to the login, a change is refused and nothing is made.
    let mut nobody = Browser::new(port);
    let (status, head, _) = nobody.get("/drift/");
    assert_eq!((status, location(&head)), (303, "/drift/logga-in"));
    let (status, head, page) = nobody.post(
        "/drift/incidenter",
        &[("csrf", "x"), ("titel", "Smuggel"), ("kommun", "Tranemo")],
    );
    assert_eq!(status, 401, "{page}");
    assert!(page.contains("Du är inte inloggad"), "{page}");
    let csp = head
        .lines()
        .find_map(|l| l.strip_prefix("content-security-policy: "))
        .unwrap();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(ongoing(port).is_empty());

    // Anna: a wrong password, then the right one.
    let mut anna = Browser::new(port);
    let (status, _, page) = anna.login("anna", "fel lösenord igen");
    assert_eq!(status, 401);
    assert!(page.contains("Fel användarnamn eller lösenord"), "{page}");
    let (status, head, _) = anna.login("anna", PASSWORD);
    assert_eq!((status, location(&head)), (303, "/drift/"));
    let (status, _, page) = anna.get("/drift/");
    assert_eq!(status, 200);
    assert!(page.contains("Inloggad som anna (operatör)"), "{page}");
    assert!(!page.contains("<script"), "no script on the operator web");
    let csrf = csrf_of(&page);

    // A missing and a wrong CSRF token: refused, nothing made.
    let fields = [("titel", "Telefonin är nere"), ("kommun", "Tranemo")];
    let (status, _, page) = anna.post("/drift/incidenter", &fields);
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("kontrollkod"), "{page}");
    let wrong = [("csrf", "0123abcd"), fields[0], fields[1]];
    let (status, _, _) = anna.post("/drift/incidenter", &wrong);
    assert_eq!(status, 403);
    assert!(ongoing(port).is_empty());

    // Register, update, close.
    let (status, head, page) = anna.post(
        "/drift/incidenter",
        &[
            ("csrf", &csrf),
            ("titel", "Telefonin är nere"),
            ("beskrivning", "Inga samtal kommer fram till växeln."),
            ("kommun", "Tranemo"),
        ],
    );
    assert_eq!((status, location(&head)), (303, "/drift/"), "{page}");
    let open = ongoing(port);
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0]["created_by"], "anna");
    let id = open[0]["id"].as_i64().unwrap();
    let (status, _, page) = anna.get("/drift/");
    assert_eq!(status, 200);
    assert!(page.contains("Telefonin är nere"), "{page}");
    let (status, _, _) = anna.post(
        &format!("/drift/incidenter/{id}"),
        &[
            ("csrf", &csrf),
            ("text", "Leverantören felsöker, klart 14.00."),
        ],
    );
    assert_eq!(status, 303);
    let open = ongoing(port);
    assert_eq!(open[0]["updates"].as_array().unwrap().len(), 1, "{open:?}");
    assert_eq!(open[0]["updates"][0]["by"], "anna");

    // The intranet page, its JSON and its feed show it once.
    let (status, _, json) = anna.get("/driftinfo/tranemo.json");
    assert_eq!(status, 200);
    assert_eq!(json.matches("Telefonin är nere").count(), 1, "{json}");
    let (status, _, html) = anna.get("/driftinfo/tranemo?embed=1");
    assert_eq!(status, 200);
    assert_eq!(html.matches("Telefonin är nere").count(), 1, "{html}");
    assert_eq!(html.matches("Leverantören felsöker").count(), 1, "{html}");
    let (status, _, feed) = anna.get("/driftinfo/tranemo/feed.atom");
    assert_eq!(status, 200);
    // One störning entry and one uppdatering entry, each once.
    let entries: Vec<&str> = feed.split("<entry>").skip(1).collect();
    let titled = |t: &str| entries.iter().filter(|e| e.contains(t)).count();
    assert_eq!(
        titled("<title>Störning: Telefonin är nere (Tranemo)</title>"),
        1,
        "{feed}"
    );
    assert_eq!(
        titled("<title>Uppdatering: Telefonin är nere (Tranemo)</title>"),
        1,
        "{feed}"
    );
    assert_eq!(
        titled("<summary>Leverantören felsöker, klart 14.00.</summary>"),
        1,
        "{feed}"
    );

    // A viewer may read but not post.
    let mut eva = Browser::new(port);
    let (status, _, _) = eva.login("eva", PASSWORD);
    assert_eq!(status, 303);
    let eva_csrf = eva.csrf();
    let (status, _, page) = eva.post(
        &format!("/drift/incidenter/{id}"),
        &[("csrf", &eva_csrf), ("text", "Läsaren skriver")],
    );
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("Din roll (läsare) får inte"), "{page}");
    assert_eq!(ongoing(port)[0]["updates"].as_array().unwrap().len(), 1);

    // An editor may post an update but not close.
    let mut redd = Browser::new(port);
    assert_eq!(redd.login("redd", PASSWORD).0, 303);
    let redd_csrf = redd.csrf();
    let (status, _, _) = redd.post(
        &format!("/drift/incidenter/{id}"),
        &[("csrf", &redd_csrf), ("stang", "ja")],
    );
    assert_eq!(status, 403);
    assert_eq!(ongoing(port).len(), 1);

    // Anna closes it.
    let (status, _, page) = anna.post(
        &format!("/drift/incidenter/{id}"),
        &[("csrf", &csrf), ("text", "Åtgärdat."), ("stang", "ja")],
    );
    assert_eq!(status, 303, "{page}");
    assert!(ongoing(port).is_empty());

    // An ad-hoc window: added with what falls inside shown, then cancelled.
    let start = (chrono::Utc::now() + chrono::Duration::days(7))
        .with_timezone(&chrono_tz::Europe::Stockholm)
        .format("%Y-%m-%dT18:00")
        .to_string();
    let end = start.replace("T18:00", "T20:00");
    let (status, _, page) = anna.post(
        "/drift/fonster",
        &[
            ("csrf", &csrf),
            ("start", &start),
            ("slut", &end),
            ("omfattning", "site:kommunhuset"),
            ("orsak", "Byte av växelns nätaggregat"),
        ],
    );
    assert_eq!(status, 303, "{page}");
    let (status, _, page) = anna.get("/drift/fonster");
    assert_eq!(status, 200);
    assert!(page.contains("Byte av växelns nätaggregat"), "{page}");
    assert!(page.contains("Platser: Kommunhuset<br>"), "{page}");
    let at = page.find("/ta-bort\"").expect("a cancel button");
    let window_id: i64 = page[..at].rsplit('/').next().unwrap().parse().unwrap();
    let (status, _, _) = anna.post(
        &format!("/drift/fonster/{window_id}/ta-bort"),
        &[("csrf", &csrf)],
    );
    assert_eq!(status, 303);
    let (_, _, page) = anna.get("/drift/fonster");
    assert!(!page.contains("Byte av växelns nätaggregat"), "{page}");

    // The next secondary window: activated from its button, then shown active, by anna.
    let (_, _, page) = anna.get("/drift/fonster");
    let button = "Aktivera sekundärt fönster ";
    let at = page
        .find(button)
        .expect("a secondary window in the next two months")
        + button.len();
    let date = page[at..at + 10].to_string();
    let (status, _, answer) = anna.post(
        "/drift/fonster/sekundart",
        &[("csrf", &csrf), ("datum", &date)],
    );
    assert_eq!(status, 303, "{answer}");
    let (_, _, page) = anna.get("/drift/fonster");
    assert!(!page.contains(&format!("{button}{date}")), "{page}");
    assert!(page.contains("Sekundärt (aktivt)"), "{page}");
    let (status, _, windows) = anna.get(&format!("/api/v1/windows?from={date}&to={date}"));
    assert_eq!(status, 200);
    assert!(windows.contains("\"activated_by\":\"anna\""), "{windows}");

    // A locked account: three wrong passwords, then the right one is refused too.
    let mut guess = Browser::new(port);
    for _ in 0..2 {
        assert_eq!(guess.login("redd", "gissat lösenord nu").0, 401);
    }
    let (status, _, page) = guess.login("redd", "gissat lösenord nu");
    assert_eq!(status, 403);
    assert!(page.contains("Kontot är låst"), "{page}");
    let (status, _, page) = guess.login("redd", PASSWORD);
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("Kontot är låst"), "{page}");

    // The audit log has the changes and the refusals.
    let log = audit_page(&mut anna);
    for line in [
        "<td>-</td><td>incident.register</td><td></td><td>127.0.0.1</td><td class=\"nekad\">refused: no session</td>",
        "<td>anna</td><td>incident.register</td><td></td><td>127.0.0.1</td><td class=\"nekad\">refused: missing CSRF token</td>",
        "<td>anna</td><td>incident.register</td><td></td><td>127.0.0.1</td><td class=\"nekad\">refused: wrong CSRF token</td>",
        &format!("<td>anna</td><td>incident.register</td><td>incident {id}: Telefonin är nere</td><td>127.0.0.1</td><td>ok</td>"),
        &format!("<td>anna</td><td>incident.update</td><td>incident {id}: Telefonin är nere</td><td>127.0.0.1</td><td>ok</td>"),
        &format!("<td>anna</td><td>incident.close</td><td>incident {id}: Telefonin är nere</td><td>127.0.0.1</td><td>ok</td>"),
        &format!("<td>eva</td><td>incident.update</td><td>incident {id}</td><td>127.0.0.1</td><td class=\"nekad\">refused: role viewer may not</td>"),
        &format!("<td>redd</td><td>incident.close</td><td>incident {id}</td><td>127.0.0.1</td><td class=\"nekad\">refused: role editor may not</td>"),
        "<td>redd</td><td>login</td><td></td><td>127.0.0.1</td><td class=\"nekad\">refused: account locked</td>",
        "<td>anna</td><td>login</td><td></td><td>127.0.0.1</td><td class=\"nekad\">refused: wrong user name or password</td>",
        "<td>anna</td><td>window.cancel</td>",
        &format!("<td>anna</td><td>window.secondary</td><td>secondary window {date}</td>"),
    ] {
        assert!(log.contains(line), "no line {line} in the audit log:\n{log}");
    }

    // Logging out ends the session.
    let (status, head, _) = anna.post("/drift/logga-ut", &[("csrf", &csrf)]);
    assert_eq!((status, location(&head)), (303, "/drift/logga-in"));
    let (status, _, _) = anna.get("/drift/");
    assert_eq!(status, 303);
}

#[test]
fn trusted_proxy_headers_count_only_from_the_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let web = "{ auth: trusted_proxy, proxies: [127.0.0.2], groups: { operator: [drift], viewer: [it] } }";
    let (_collector, port, _) = start(dir.path(), web);
    let proxy: IpAddr = [127, 0, 0, 2].into();

    let mut per = Browser::new(port);
    per.from = proxy;
    per.headers = "X-Remote-User: per@KOMMUN\r\nX-Remote-Groups: it, drift\r\n".into();
    let (status, _, page) = per.get("/drift/");
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("Inloggad som per@KOMMUN (operatör)"),
        "{page}"
    );
    assert!(
        !page.contains("Logga ut"),
        "the proxy logs out, not the page"
    );
    let csrf = csrf_of(&page);
    let (status, _, page) = per.post(
        "/drift/incidenter",
        &[
            ("csrf", &csrf),
            ("titel", "E-posten är nere"),
            ("tjanst", "tele-tranemo"),
        ],
    );
    assert_eq!(status, 303, "{page}");
    let open = ongoing(port);
    assert_eq!(open.len(), 1);
    assert_eq!(open[0]["created_by"], "per@KOMMUN");

    // The same headers from an address that is not the proxy: refused, nothing changed.
    let mut forged = Browser::new(port);
    forged.headers = per.headers.clone();
    let (status, _, page) = forged.get("/drift/");
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("inte från den betrodda proxyn"), "{page}");
    let (status, _, _) = forged.post(
        "/drift/incidenter",
        &[
            ("csrf", &csrf),
            ("titel", "Förfalskad"),
            ("kommun", "Tranemo"),
        ],
    );
    assert_eq!(status, 403);
    assert_eq!(ongoing(port).len(), 1);

    // A viewer through the proxy reads but may not register.
    let mut it = Browser::new(port);
    it.from = proxy;
    it.headers = "X-Remote-User: ida\r\nX-Remote-Groups: it\r\n".into();
    let it_csrf = it.csrf();
    assert_ne!(it_csrf, csrf, "each person has a token of their own");
    let (status, _, _) = it.post(
        "/drift/incidenter",
        &[
            ("csrf", &it_csrf),
            ("titel", "Läsaren"),
            ("kommun", "Tranemo"),
        ],
    );
    assert_eq!(status, 403);
    // Per's token is not Ida's.
    let (status, _, _) = it.post(
        "/drift/incidenter",
        &[("csrf", &csrf), ("titel", "Läsaren"), ("kommun", "Tranemo")],
    );
    assert_eq!(status, 403);
    assert_eq!(ongoing(port).len(), 1);

    let log = audit_page(&mut per);
    for line in [
        "<td>per@KOMMUN</td><td>incident.register</td>",
        "<td>-</td><td>incident.register</td><td></td><td>127.0.0.1</td><td class=\"nekad\">refused: user header from 127.0.0.1, not a proxy</td>",
        "<td>ida</td><td>incident.register</td><td></td><td>127.0.0.2</td><td class=\"nekad\">refused: role viewer may not</td>",
        "<td>ida</td><td>incident.register</td><td></td><td>127.0.0.2</td><td class=\"nekad\">refused: wrong CSRF token</td>",
    ] {
        assert!(log.contains(line), "no line {line} in the audit log:\n{log}");
    }
}
