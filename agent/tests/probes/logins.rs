//! The login probes (`ldap`, `imap`, `smtp`, `smb`) against real servers the tests start from
//! Debian's packages (slapd, dovecot, aiosmtpd, smbd; `driftvakt_testkit`): each passes, and
//! fails with its reason when the server is stopped, the account is wrong, the certificate has
//! expired (or, for LDAP, the test account is not in the group).

use driftvakt_agent::config::AgentConfig;
use driftvakt_agent::probe::Probers;
use driftvakt_common::clock::SystemClock;
use driftvakt_common::wire::ProbeResult;
use driftvakt_testkit::dovecot::{self, Dovecot};
use driftvakt_testkit::files::secret_file;
use driftvakt_testkit::pki::{Pki, Validity};
use driftvakt_testkit::samba::{self, Samba};
use driftvakt_testkit::slapd::{self, Slapd};
use driftvakt_testkit::smtp::SmtpPeer;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Runs every check of every device in `devices` (YAML list items) once, in order.
async fn probe(dir: &Path, devices: &str) -> Vec<ProbeResult> {
    let path = dir.join("agent.yaml");
    std::fs::write(&path, format!("agent:\n  id: t\ndevices:\n{devices}")).unwrap();
    let cfg = AgentConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let probers = Probers::new(&cfg.probe_settings(), Arc::new(SystemClock)).unwrap();
    let mut out = Vec::new();
    for d in &cfg.file.devices {
        for c in d.checks() {
            out.push(probers.run(d, &c, Duration::from_secs(5)).await);
        }
    }
    out
}

/// One device at 127.0.0.1 with one check (`check` is a YAML flow map without its braces).
fn device(id: &str, check: &str) -> String {
    format!("  - {{ id: {id}, class: service, address: 127.0.0.1, checks: [{{ {check} }}] }}\n")
}

fn ok(r: &ProbeResult) {
    assert!(r.ok, "{} should pass: {r:?}", r.target);
    assert!(r.findings.is_empty(), "{r:?}");
}

fn failed(r: &ProbeResult, reason: &str) {
    assert!(!r.ok, "{} should fail: {r:?}", r.target);
    assert_eq!(r.error.as_deref(), Some(reason), "{r:?}");
}

fn num(r: &ProbeResult, k: &str) -> f64 {
    r.number(k)
        .unwrap_or_else(|| panic!("{k} missing in {r:?}"))
}

/// A certificate's days left, as the probe reports it, for one valid 30 days.
fn thirty_days_left(r: &ProbeResult) {
    let days = num(r, "tls_cert_days_left");
    assert!((29.0..=30.5).contains(&days), "days left {days}: {r:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn ldap_binds_and_proves_group_membership_over_ldaps_and_starttls() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("pki"));
    let (cert, key) = pki.issue("slapd", Validity::Days(30));
    let mut server = Slapd::start(&tmp.path().join("slapd"), &cert, &key);
    let good = secret_file(tmp.path(), "bind.pw", slapd::SERVICE_PASSWORD);
    let bad = secret_file(tmp.path(), "wrong.pw", "not-the-password");
    let ca = pki.ca().display().to_string();
    let check = |tls: &str, port: u16, pw: &str, group: &str| {
        format!(
            "kind: ldap, tls: {tls}, port: {port}, bind_dn: \"{}\", bind_password: {{ file: {pw} }}, \
             group: \"{group}\", member: \"{}\", ca_file: {ca}",
            slapd::SERVICE_DN,
            slapd::TEST_DN
        )
    };
    let devices = [
        device(
            "ldaps",
            &check("implicit", server.ldaps_port, &good, slapd::GROUP_DN),
        ),
        device(
            "starttls",
            &check("starttls", server.ldap_port, &good, slapd::GROUP_DN),
        ),
        device(
            "wrong-password",
            &check("implicit", server.ldaps_port, &bad, slapd::GROUP_DN),
        ),
        device(
            "other-group",
            &check("implicit", server.ldaps_port, &good, slapd::OTHER_GROUP_DN),
        ),
        device(
            "no-group",
            &check(
                "implicit",
                server.ldaps_port,
                &good,
                "cn=G-Finns-inte,ou=grupper,dc=kommun,dc=test",
            ),
        ),
    ]
    .concat();
    let r = probe(tmp.path(), &devices).await;
    for pass in &r[..2] {
        ok(pass);
        thirty_days_left(pass);
        assert_eq!(num(pass, "ldap_member"), 1.0);
        for step in [
            "ldap_connect_seconds",
            "ldap_bind_seconds",
            "ldap_search_seconds",
        ] {
            assert!((0.0..5.0).contains(&num(pass, step)), "{step}: {pass:?}");
        }
    }
    failed(&r[2], "auth_failed");
    failed(&r[3], "not_member");
    assert!(
        r[3].detail
            .as_deref()
            .unwrap()
            .contains("is not a member of cn=G-Ekonomi"),
        "{:?}",
        r[3]
    );
    failed(&r[4], "not_member");
    assert!(
        r[4].detail.as_deref().unwrap().contains("does not exist"),
        "{:?}",
        r[4]
    );

    server.stop();
    let r = probe(
        tmp.path(),
        &device(
            "stopped",
            &check("implicit", server.ldaps_port, &good, slapd::GROUP_DN),
        ),
    )
    .await;
    failed(&r[0], "connection_refused");
}

#[tokio::test(flavor = "multi_thread")]
async fn ldap_with_an_expired_certificate_is_a_tls_error_on_both_ways_in() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("pki"));
    let (cert, key) = pki.issue("slapd", Validity::Expired);
    let server = Slapd::start(&tmp.path().join("slapd"), &cert, &key);
    let pw = secret_file(tmp.path(), "bind.pw", slapd::SERVICE_PASSWORD);
    let ca = pki.ca().display().to_string();
    let check = |tls: &str, port: u16| {
        format!(
            "kind: ldap, tls: {tls}, port: {port}, bind_dn: \"{}\", bind_password: {{ file: {pw} }}, ca_file: {ca}",
            slapd::SERVICE_DN
        )
    };
    let devices = [
        device("ldaps", &check("implicit", server.ldaps_port)),
        device("starttls", &check("starttls", server.ldap_port)),
    ]
    .concat();
    let r = probe(tmp.path(), &devices).await;
    for f in &r {
        failed(f, "tls_error");
        assert!(
            f.detail
                .as_deref()
                .unwrap()
                .to_lowercase()
                .contains("expired"),
            "{f:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn imap_logs_in_over_imaps_and_starttls_and_fails_by_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("pki"));
    let (cert, key) = pki.issue("dovecot", Validity::Days(30));
    let (old_cert, old_key) = pki.issue("dovecot-old", Validity::Expired);
    let mut server = Dovecot::start(&tmp.path().join("dovecot"), &cert, &key);
    let expired = Dovecot::start(&tmp.path().join("dovecot-old"), &old_cert, &old_key);
    let good = secret_file(tmp.path(), "imap.pw", dovecot::PASSWORD);
    let bad = secret_file(tmp.path(), "wrong.pw", "not-the-password");
    let ca = pki.ca().display().to_string();
    let check = |tls: &str, port: u16, pw: &str| {
        format!(
            "kind: imap, tls: {tls}, port: {port}, username: {}, password: {{ file: {pw} }}, ca_file: {ca}",
            dovecot::USER
        )
    };
    let devices = [
        device("imaps", &check("implicit", server.imaps_port, &good)),
        device("starttls", &check("starttls", server.imap_port, &good)),
        device(
            "wrong-password",
            &check("implicit", server.imaps_port, &bad),
        ),
        device("expired", &check("implicit", expired.imaps_port, &good)),
        device(
            "expired-starttls",
            &check("starttls", expired.imap_port, &good),
        ),
    ]
    .concat();
    let r = probe(tmp.path(), &devices).await;
    for pass in &r[..2] {
        ok(pass);
        thirty_days_left(pass);
        for step in [
            "imap_connect_seconds",
            "imap_tls_seconds",
            "imap_login_seconds",
        ] {
            assert!((0.0..5.0).contains(&num(pass, step)), "{step}: {pass:?}");
        }
    }
    failed(&r[2], "auth_failed");
    assert!(
        !r[2].detail.as_deref().unwrap().contains("not-the-password"),
        "{:?}",
        r[2]
    );
    failed(&r[3], "tls_error");
    failed(&r[4], "tls_error");

    server.stop();
    let r = probe(
        tmp.path(),
        &device("stopped", &check("implicit", server.imaps_port, &good)),
    )
    .await;
    failed(&r[0], "connection_refused");
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_logs_in_with_plain_and_login_over_starttls_and_smtps_and_fails_by_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("pki"));
    let (cert, key) = pki.issue("smtp", Validity::Days(30));
    let (old_cert, old_key) = pki.issue("smtp-old", Validity::Expired);
    let accounts = secret_file(tmp.path(), "accounts", "testanvandare:Smtp-losen-1\n");
    let accounts = Path::new(&accounts);
    let mail = tmp.path().join("mail");
    let submission = SmtpPeer::start_login(&mail, accounts, &cert, &key, false);
    let smtps = SmtpPeer::start_login(&mail, accounts, &cert, &key, true);
    let expired = SmtpPeer::start_login(&mail, accounts, &old_cert, &old_key, false);
    let good = secret_file(tmp.path(), "smtp.pw", "Smtp-losen-1");
    let bad = secret_file(tmp.path(), "wrong.pw", "not-the-password");
    let ca = pki.ca().display().to_string();
    let check = |tls: &str, port: u16, pw: &str, auth: &str| {
        format!(
            "kind: smtp, tls: {tls}, port: {port}, username: testanvandare, password: {{ file: {pw} }}, \
             ca_file: {ca}{auth}"
        )
    };
    let devices = [
        device(
            "starttls-plain",
            &check("starttls", submission.port, &good, ""),
        ),
        device(
            "starttls-login",
            &check("starttls", submission.port, &good, ", auth: login"),
        ),
        device("smtps", &check("implicit", smtps.port, &good, "")),
        device(
            "wrong-password",
            &check("starttls", submission.port, &bad, ""),
        ),
        device(
            "wrong-password-login",
            &check("starttls", submission.port, &bad, ", auth: login"),
        ),
        device("expired", &check("starttls", expired.port, &good, "")),
    ]
    .concat();
    let r = probe(tmp.path(), &devices).await;
    for pass in &r[..3] {
        ok(pass);
        thirty_days_left(pass);
        for step in [
            "smtp_connect_seconds",
            "smtp_tls_seconds",
            "smtp_login_seconds",
        ] {
            assert!((0.0..5.0).contains(&num(pass, step)), "{step}: {pass:?}");
        }
    }
    failed(&r[3], "auth_failed");
    failed(&r[4], "auth_failed");
    failed(&r[5], "tls_error");
    assert!(
        submission.messages().is_empty(),
        "a login probe sends no mail"
    );

    let stopped = submission.port;
    drop(submission);
    let r = probe(
        tmp.path(),
        &device("stopped", &check("starttls", stopped, &good, "")),
    )
    .await;
    failed(&r[0], "connection_refused");
    // A server that offers no STARTTLS (the plain sink) is refused before any password is sent.
    let plain = SmtpPeer::start(&tmp.path().join("plain"));
    let r = probe(
        tmp.path(),
        &device("no-starttls", &check("starttls", plain.port, &good, "")),
    )
    .await;
    failed(&r[0], "protocol_error");
}

#[tokio::test(flavor = "multi_thread")]
async fn smb_writes_reads_back_and_deletes_in_the_p_and_g_shares() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Samba::start(&tmp.path().join("samba"));
    let good = secret_file(tmp.path(), "smb.pw", samba::PASSWORD);
    let bad = secret_file(tmp.path(), "wrong.pw", "not-the-password");
    let port = server.port;
    let check = |share: &str, folder: &str, pw: &str| {
        format!(
            "kind: smb, port: {port}, share: {share}{folder}, domain: {}, username: {}, password: {{ file: {pw} }}",
            samba::WORKGROUP,
            samba::USER
        )
    };
    let devices = [
        device("p", &check("P", ", folder: driftvakt", &good)),
        device("g", &check("G", "", &good)),
        device("wrong-password", &check("P", "", &bad)),
        device("no-share", &check("H", "", &good)),
        device("no-folder", &check("G", ", folder: finns-inte", &good)),
    ]
    .concat();
    let r = probe(tmp.path(), &devices).await;
    for pass in &r[..2] {
        ok(pass);
        for step in [
            "smb_login_seconds",
            "smb_write_seconds",
            "smb_read_seconds",
            "smb_delete_seconds",
        ] {
            assert!((0.0..5.0).contains(&num(pass, step)), "{step}: {pass:?}");
        }
        assert!(num(pass, "smb_file_bytes") > 10.0);
    }
    let left = |dir: &Path| {
        std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| {
                let name = e.unwrap().file_name().to_string_lossy().into_owned();
                name.starts_with("driftvakt-probe-").then_some(name)
            })
            .collect::<Vec<_>>()
    };
    assert!(
        left(&server.p.join("driftvakt")).is_empty(),
        "the probe's file was deleted"
    );
    assert!(left(&server.g).is_empty(), "the probe's file was deleted");
    failed(&r[2], "auth_failed");
    failed(&r[3], "file_error");
    failed(&r[4], "file_error");

    server.stop();
    let r = probe(tmp.path(), &device("stopped", &check("P", "", &good))).await;
    failed(&r[0], "connection_refused");
}
