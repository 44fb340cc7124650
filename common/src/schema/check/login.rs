//! The checks that log in with an account, as a user meets a function: `ldap` (bind and a
//! group membership), `imap` and `smtp` (login over TLS), `smb` (a file written, read back and
//! deleted in a share). Passwords are [`SecretRef`]s, read at probe time, never written here.

use crate::config::Duration;
use crate::schema::secret::SecretRef;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// How a login probe reaches TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsMode {
    /// TLS from the first byte: LDAPS (636), IMAPS (993), SMTPS (465).
    Implicit,
    /// Plain, then STARTTLS before any credential is sent: LDAP (389), IMAP (143), submission
    /// (587).
    Starttls,
}

impl TlsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Implicit => "implicit",
            TlsMode::Starttls => "starttls",
        }
    }
}

/// The SASL mechanism an `smtp` check logs in with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpAuth {
    Plain,
    Login,
}

check_struct!(
    /// LDAP: bind with a service account over LDAPS or StartTLS, a search proving that a test
    /// account is a member of a group, the certificate's days left.
    LdapCheck {
        /// TCP port (default 636 with `tls: implicit`, 389 with `tls: starttls`).
        port: Option<u16>,
        /// `implicit` (LDAPS, the default) or `starttls`.
        tls: Option<TlsMode>,
        /// The service account's DN.
        bind_dn: Option<String>,
        /// The service account's password: `{ file: PATH }` or `{ env: NAME }`.
        bind_password: Option<SecretRef>,
        /// The group's DN (with `member:`): the probe fails with `not_member` unless the group
        /// lists `member`.
        group: Option<String>,
        /// The test account's DN.
        member: Option<String>,
        /// The group's attribute that lists members (default `member`; `uniqueMember` for
        /// groupOfUniqueNames).
        member_attribute: Option<String>,
        /// PEM file with the CA certificates to trust (default: the system's).
        ca_file: Option<PathBuf>,
        /// Accept any certificate; days left is still reported.
        insecure_skip_verify: Option<bool>,
        /// Days of certificate validity under which the function is degraded (default 14).
        cert_min_days: Option<u32>,
    }
);

check_struct!(
    /// IMAP: CAPABILITY, STARTTLS (or implicit TLS), LOGIN, LOGOUT.
    ImapCheck {
        /// TCP port (default 993 with `tls: implicit`, 143 with `tls: starttls`).
        port: Option<u16>,
        /// `implicit` (the default) or `starttls`.
        tls: Option<TlsMode>,
        /// The test account.
        username: Option<String>,
        /// Its password: `{ file: PATH }` or `{ env: NAME }`.
        password: Option<SecretRef>,
        /// PEM file with the CA certificates to trust (default: the system's).
        ca_file: Option<PathBuf>,
        /// Accept any certificate; days left is still reported.
        insecure_skip_verify: Option<bool>,
        /// Days of certificate validity under which the function is degraded (default 14).
        cert_min_days: Option<u32>,
    }
);

check_struct!(
    /// SMTP submission: EHLO, STARTTLS (or implicit TLS), AUTH PLAIN or LOGIN, QUIT.
    SmtpCheck {
        /// TCP port (default 465 with `tls: implicit`, 587 with `tls: starttls`).
        port: Option<u16>,
        /// `starttls` (the default) or `implicit`.
        tls: Option<TlsMode>,
        /// The test account.
        username: Option<String>,
        /// Its password: `{ file: PATH }` or `{ env: NAME }`.
        password: Option<SecretRef>,
        /// `plain` or `login` (default: PLAIN when the server offers it, else LOGIN).
        auth: Option<SmtpAuth>,
        /// The name given in EHLO (default `driftvakt-agent`).
        helo: Option<String>,
        /// PEM file with the CA certificates to trust (default: the system's).
        ca_file: Option<PathBuf>,
        /// Accept any certificate; days left is still reported.
        insecure_skip_verify: Option<bool>,
        /// Days of certificate validity under which the function is degraded (default 14).
        cert_min_days: Option<u32>,
    }
);

check_struct!(
    /// SMB2/3: log in with a service account, write a small file into a folder of a share (the
    /// P or G folder), read it back, delete it; the time of each step.
    SmbCheck {
        /// TCP port (default 445).
        port: Option<u16>,
        /// The share's name (`P`, `G`, `hem$`).
        share: Option<String>,
        /// A folder inside the share the file is written to (default its top), `/`-separated.
        folder: Option<String>,
        /// The account's domain or workgroup (default none).
        domain: Option<String>,
        /// The service account.
        username: Option<String>,
        /// Its password: `{ file: PATH }` or `{ env: NAME }`.
        password: Option<SecretRef>,
    }
);

/// What a login check lacks or has wrong, as `check-config` and `run` say it.
pub(in crate::schema) fn ldap_problem(c: &LdapCheck) -> Option<String> {
    if c.bind_dn.as_deref().is_none_or(str::is_empty) {
        return Some("ldap check needs `bind_dn:` (the service account's DN)".into());
    }
    if c.bind_password.is_none() {
        return Some("ldap check needs `bind_password: { file: PATH }` or `{ env: NAME }`".into());
    }
    if c.group.is_some() != c.member.is_some() {
        return Some(
            "ldap check needs both `group:` and `member:` (the test account's DN), or neither"
                .into(),
        );
    }
    if c.member_attribute.is_some() && c.group.is_none() {
        return Some("ldap check: `member_attribute` needs `group:` and `member:`".into());
    }
    None
}

pub(in crate::schema) fn imap_problem(c: &ImapCheck) -> Option<String> {
    account_problem("imap", c.username.as_deref(), c.password.as_ref())
}

pub(in crate::schema) fn smtp_problem(c: &SmtpCheck) -> Option<String> {
    if let Some(h) = &c.helo {
        if h.is_empty() || !h.chars().all(|ch| ch.is_ascii_graphic()) {
            return Some(format!(
                "smtp check: `helo` `{}` must be one word of ASCII",
                h.escape_debug()
            ));
        }
    }
    account_problem("smtp", c.username.as_deref(), c.password.as_ref())
}

pub(in crate::schema) fn smb_problem(c: &SmbCheck) -> Option<String> {
    match c.share.as_deref() {
        None | Some("") => return Some("smb check needs `share:` (the share's name, e.g. P)".into()),
        Some(s) if s.contains(['/', '\\']) => {
            return Some(format!(
                "smb check: `share` `{s}` is a share's name, without slashes (put the folder in `folder:`)"
            ))
        }
        Some(_) => {}
    }
    if let Some(f) = &c.folder {
        if f.contains('\\') || f.split('/').any(|p| p == "..") {
            return Some(format!(
                "smb check: `folder` `{f}` must be a `/`-separated path inside the share, without `..`"
            ));
        }
    }
    account_problem("smb", c.username.as_deref(), c.password.as_ref())
}

fn account_problem(kind: &str, user: Option<&str>, password: Option<&SecretRef>) -> Option<String> {
    if user.is_none_or(str::is_empty) {
        return Some(format!("{kind} check needs `username:`"));
    }
    if password.is_none() {
        return Some(format!(
            "{kind} check needs `password: {{ file: PATH }}` or `{{ env: NAME }}`"
        ));
    }
    None
}

impl super::CheckSpec {
    /// The secrets this check reads at probe time, by key, for `check-config` to resolve.
    pub fn secrets(&self) -> Vec<(&'static str, &SecretRef)> {
        use super::CheckSpec as C;
        let found: [Option<(&'static str, &SecretRef)>; 2] = match self {
            C::Icmp(_) | C::Snmp(_) | C::Http(_) | C::Tcp(_) | C::Dns(_) | C::Sip(_) => {
                [None, None]
            }
            C::Radius(c) => [
                c.secret.as_ref().map(|s| ("secret", s)),
                c.password.as_ref().map(|s| ("password", s)),
            ],
            C::Ldap(c) => [c.bind_password.as_ref().map(|s| ("bind_password", s)), None],
            C::Imap(c) => [c.password.as_ref().map(|s| ("password", s)), None],
            C::Smtp(c) => [c.password.as_ref().map(|s| ("password", s)), None],
            C::Smb(c) => [c.password.as_ref().map(|s| ("password", s)), None],
        };
        found.into_iter().flatten().collect()
    }
}
