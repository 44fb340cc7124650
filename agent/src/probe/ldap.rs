//! LDAP probe (ldap3 over rustls), the "can log in" and "has the role's permissions" items: a
//! simple bind with a service account over LDAPS or StartTLS, then a base search of a group for
//! a test account (`(member=<dn>)`) that proves the membership, and the certificate's days
//! left. Values: the time of the connect (with TLS), the bind and the search; `auth_failed`
//! when the bind is refused, `not_member` when the group does not list the account (or does
//! not exist), `tls_error` for an expired or untrusted certificate.

use super::account::{seconds, Account};
use super::{tls, FailureReason, Outcome, Prober, Target};
use crate::config::{LdapCheck, TlsMode};
use ldap3::{ldap_escape, LdapConnAsync, LdapConnSettings, LdapError, Scope};
use std::time::{Duration, Instant};

/// LDAP result codes the probe tells apart.
const INVALID_CREDENTIALS: u32 = 49;
const NO_SUCH_OBJECT: u32 = 32;

pub struct LdapProber {
    pub account: Account,
}

impl Prober for LdapProber {
    type Spec = LdapCheck;

    async fn probe(&self, target: &Target<'_>, spec: &LdapCheck, timeout: Duration) -> Outcome {
        super::account::within("ldap", timeout, self.session(target, spec, timeout)).await
    }
}

impl LdapProber {
    async fn session(
        &self,
        target: &Target<'_>,
        spec: &LdapCheck,
        timeout: Duration,
    ) -> Result<Outcome, Outcome> {
        let mode = spec.tls.unwrap_or(TlsMode::Implicit);
        let (scheme, default_port) = match mode {
            TlsMode::Implicit => ("ldaps", 636),
            TlsMode::Starttls => ("ldap", 389),
        };
        let port = spec.port.unwrap_or(default_port);
        let password = self
            .account
            .secret(spec.bind_password.as_ref(), "bind_password")?;
        let config = self.account.tls.get(
            spec.ca_file.as_deref(),
            spec.insecure_skip_verify.unwrap_or(false),
        )?;
        let host = match target.address().parse::<std::net::Ipv6Addr>() {
            Ok(ip) => format!("[{ip}]"),
            Err(_) => target.address().to_string(),
        };
        let url = format!("{scheme}://{host}:{port}");
        let settings = LdapConnSettings::new()
            .set_conn_timeout(timeout)
            .set_starttls(mode == TlsMode::Starttls)
            .set_config(config);
        let mut out = Outcome::success();
        let started = Instant::now();
        let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &url)
            .await
            .map_err(|e| classify(&e, &format!("connect {url}")))?;
        ldap3::drive!(conn);
        out.number("ldap_connect_seconds", seconds(started));
        let cert = ldap.get_peer_certificate().await.ok().flatten();
        tls::judge_certificate(
            &mut out,
            cert.as_deref(),
            self.account.now(),
            spec.cert_min_days,
        );
        let bind_dn = spec.bind_dn.as_deref().unwrap_or_default();
        let started = Instant::now();
        ldap.simple_bind(bind_dn, password.expose())
            .await
            .and_then(|r| r.success())
            .map_err(|e| classify(&e, &format!("bind as {bind_dn}")))?;
        out.number("ldap_bind_seconds", seconds(started));
        if let (Some(group), Some(member)) = (&spec.group, &spec.member) {
            let attr = spec.member_attribute.as_deref().unwrap_or("member");
            let started = Instant::now();
            let filter = format!("({attr}={})", ldap_escape(member.as_str()));
            let found = ldap
                .search(group, Scope::Base, &filter, vec!["1.1"])
                .await
                .and_then(|r| r.success());
            out.number("ldap_search_seconds", seconds(started));
            let members = match found {
                Ok((entries, _)) => entries.len(),
                Err(LdapError::LdapResult { result }) if result.rc == NO_SUCH_OBJECT => {
                    return Err(Outcome::failure(
                        FailureReason::NotMember,
                        format!("the group {group} does not exist"),
                    ))
                }
                Err(e) => return Err(classify(&e, &format!("search {group}"))),
            };
            out.number("ldap_member", if members > 0 { 1.0 } else { 0.0 });
            if members == 0 {
                return Err(Outcome::failure(
                    FailureReason::NotMember,
                    format!("{member} is not a member of {group} ({attr})"),
                ));
            }
        }
        let _ = ldap.unbind().await;
        Ok(out)
    }
}

/// An ldap3 error as a failure reason: a refused bind is `auth_failed`, TLS refusals
/// `tls_error`, socket errors by their kind, other result codes `protocol_error`.
fn classify(e: &LdapError, step: &str) -> Outcome {
    let reason = match e {
        LdapError::LdapResult { result } if result.rc == INVALID_CREDENTIALS => {
            FailureReason::AuthFailed
        }
        LdapError::LdapResult { .. } => FailureReason::ProtocolError,
        LdapError::Rustls { .. } | LdapError::DNSName { .. } => FailureReason::TlsError,
        LdapError::Io { source } => tls::classify_io(source, step)
            .error
            .unwrap_or(FailureReason::IoError),
        LdapError::Timeout { .. } => FailureReason::Timeout,
        _ => FailureReason::ProtocolError,
    };
    Outcome::failure(reason, format!("{step}: {e}"))
}
