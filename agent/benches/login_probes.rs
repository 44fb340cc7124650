//! What one probe of each login kind costs the agent, beside `tcp`: the login probes' servers
//! from the test kit (slapd, dovecot, aiosmtpd, smbd; the same as `tests/probes/logins.rs`),
//! then `ROUNDS` probes of each kind one after another, and the median wall time and the agent
//! process's CPU time per probe (user + system, from getrusage; the servers are other
//! processes). Prints a Markdown table for BENCHMARKS.md.
//!
//! `cargo bench -p driftvakt-agent --bench login_probes` (as root: the servers drop privileges;
//! `ROUNDS=N` in the environment changes the default of 200).

use driftvakt_agent::config::AgentConfig;
use driftvakt_agent::probe::Probers;
use driftvakt_common::clock::SystemClock;
use driftvakt_testkit::dovecot::{self, Dovecot};
use driftvakt_testkit::files::secret_file;
use driftvakt_testkit::pki::{Pki, Validity};
use driftvakt_testkit::samba::{self, Samba};
use driftvakt_testkit::slapd::{self, Slapd};
use driftvakt_testkit::smtp::SmtpPeer;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the struct we own.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

fn main() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(200);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let pki = Pki::new(&dir.join("pki"));
    let (cert, key) = pki.issue("server", Validity::Days(30));
    let ldap = Slapd::start(&dir.join("slapd"), &cert, &key);
    let imap = Dovecot::start(&dir.join("dovecot"), &cert, &key);
    let accounts = secret_file(dir, "accounts", "testanvandare:Smtp-losen-1\n");
    let smtp = SmtpPeer::start_login(&dir.join("mail"), accounts.as_ref(), &cert, &key, false);
    let smb = Samba::start(&dir.join("samba"));
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_port = tcp.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for c in tcp.incoming() {
            drop(c)
        }
    });
    let ca = pki.ca().display().to_string();
    let pw = |name: &str, value: &str| secret_file(dir, name, value);
    let checks = [
        ("tcp", format!("kind: tcp, port: {tcp_port}")),
        ("ldap (LDAPS, bind, group search)", format!(
            "kind: ldap, port: {}, bind_dn: \"{}\", bind_password: {{ file: {} }}, group: \"{}\", member: \"{}\", ca_file: {ca}",
            ldap.ldaps_port, slapd::SERVICE_DN, pw("l.pw", slapd::SERVICE_PASSWORD), slapd::GROUP_DN, slapd::TEST_DN
        )),
        ("ldap (StartTLS, bind, group search)", format!(
            "kind: ldap, tls: starttls, port: {}, bind_dn: \"{}\", bind_password: {{ file: {} }}, group: \"{}\", member: \"{}\", ca_file: {ca}",
            ldap.ldap_port, slapd::SERVICE_DN, pw("l.pw", slapd::SERVICE_PASSWORD), slapd::GROUP_DN, slapd::TEST_DN
        )),
        ("imap (IMAPS, LOGIN)", format!(
            "kind: imap, port: {}, username: {}, password: {{ file: {} }}, ca_file: {ca}",
            imap.imaps_port, dovecot::USER, pw("i.pw", dovecot::PASSWORD)
        )),
        ("smtp (STARTTLS, AUTH PLAIN)", format!(
            "kind: smtp, port: {}, username: testanvandare, password: {{ file: {} }}, ca_file: {ca}",
            smtp.port, pw("s.pw", "Smtp-losen-1")
        )),
        ("smb (login, write, read, delete)", format!(
            "kind: smb, port: {}, share: P, folder: driftvakt, username: {}, password: {{ file: {} }}",
            smb.port, samba::USER, pw("b.pw", samba::PASSWORD)
        )),
    ];
    let devices: String = checks
        .iter()
        .enumerate()
        .map(|(i, (_, c))| {
            format!("  - {{ id: d{i}, class: service, address: 127.0.0.1, checks: [{{ {c} }}] }}\n")
        })
        .collect();
    let path = dir.join("agent.yaml");
    std::fs::write(&path, format!("agent:\n  id: bench\ndevices:\n{devices}")).unwrap();
    let cfg = AgentConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // The ICMP prober's socket registers with the runtime: build the probers inside it.
    let _inside = rt.enter();
    let probers = Probers::new(&cfg.probe_settings(), Arc::new(SystemClock)).unwrap();
    println!("| probe | rounds | median wall ms | p90 wall ms | agent CPU ms per probe |");
    println!("|---|---|---|---|---|");
    for ((label, _), device) in checks.iter().zip(&cfg.file.devices) {
        let check = device.checks().remove(0);
        let mut walls = Vec::with_capacity(rounds);
        let cpu0 = cpu_seconds();
        for _ in 0..rounds {
            let started = Instant::now();
            let r = rt.block_on(probers.run(device, &check, Duration::from_secs(5)));
            walls.push(started.elapsed().as_secs_f64() * 1000.0);
            assert!(r.ok, "{label}: {r:?}");
        }
        let cpu_ms = (cpu_seconds() - cpu0) * 1000.0 / rounds as f64;
        walls.sort_by(f64::total_cmp);
        let at = |q: f64| walls[((walls.len() - 1) as f64 * q) as usize];
        println!(
            "| {label} | {rounds} | {:.2} | {:.2} | {cpu_ms:.2} |",
            at(0.5),
            at(0.9)
        );
    }
}
