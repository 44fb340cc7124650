//! Checks that need more than one value: unique ids, known parents and credentials, addresses,
//! each check's settings. Every problem is recorded with its place in the file.

use super::check::{imap_problem, ldap_problem, smb_problem, smtp_problem, CheckSpec};
use super::credentials::{SnmpCredentials, SnmpVersion};
use super::device::DeviceConfig;
use crate::config::Validator;
use crate::limits;
use std::borrow::Borrow;
use std::collections::HashSet;

/// The wire's rule for an id ([`limits::id_problem`]: length, no control or bidirectional
/// formatting characters, no `/`), as a configuration message: `device id `…`: 200
/// characters, at most 128`. `what` names the id (`device`, `agent`, `site`).
pub fn id_problem(what: &str, id: &str) -> Option<String> {
    let shown: String = id
        .chars()
        .take(40)
        .collect::<String>()
        .escape_debug()
        .to_string();
    let shown = if id.chars().count() > 40 {
        format!("{shown}…")
    } else {
        shown
    };
    limits::id_problem(id, limits::ID).map(|p| format!("{what} id `{shown}`: {p}"))
}

/// The wire's rule for a check's name ([`limits::id_problem`] with [`limits::NAME`]).
pub fn check_name_problem(name: &str) -> Option<String> {
    let shown = name
        .chars()
        .take(40)
        .collect::<String>()
        .escape_debug()
        .to_string();
    limits::id_problem(name, limits::NAME).map(|p| format!("check name `{shown}`: {p}"))
}

/// Checks ids, addresses, parents, check settings and credential references.
/// Takes the devices as they are held (`DeviceConfig`, or shared as `Arc<DeviceConfig>`).
pub fn validate_devices<D: Borrow<DeviceConfig>>(
    v: &mut Validator,
    devices: &[D],
    creds: &[SnmpCredentials],
) {
    let devices: Vec<&DeviceConfig> = devices.iter().map(Borrow::borrow).collect();
    let mut seen = HashSet::new();
    for d in devices.iter().copied() {
        if d.id.value.trim().is_empty() {
            v.error_at(&d.id.referenced, "device id must not be empty");
        } else if let Some(p) = id_problem("device", &d.id.value) {
            v.error_at(&d.id.referenced, p);
        } else if !seen.insert(d.id.value.as_str()) {
            v.error_at(
                &d.id.referenced,
                format!("duplicate device id `{}`", d.id.value),
            );
        }
        if let Err(msg) = validate_address(&d.address.value) {
            v.error_at(&d.address.referenced, msg);
        }
        if let Some(r) = &d.register {
            super::register::validate_register(v, &d.id.value, r);
        }
    }
    let ids: HashSet<&str> = devices.iter().map(|d| d.id.value.as_str()).collect();
    let cred_ids: HashSet<&str> = creds.iter().map(|c| c.id.value.as_str()).collect();
    for d in devices {
        if let Some(p) = &d.parent {
            if !ids.contains(p.value.as_str()) {
                v.error_at(
                    &p.referenced,
                    format!("unknown parent device `{}`", p.value),
                );
            } else if p.value == d.id.value {
                v.error_at(&p.referenced, "a device cannot be its own parent");
            }
        }
        let place = d
            .checks
            .as_ref()
            .map(|c| c.referenced)
            .unwrap_or(d.id.referenced);
        if let (Some(i), Some(t)) = (d.interval, d.timeout) {
            if t > i {
                v.error_at(
                    &d.id.referenced,
                    format!(
                        "device `{}`: timeout {} is longer than its interval {}",
                        d.id.value,
                        t.humane(),
                        i.humane()
                    ),
                );
            }
        }
        for check in d.checks() {
            let common = check.common();
            if let Some(p) = common.name.as_deref().and_then(check_name_problem) {
                v.error_at(&place, format!("device `{}`: {p}", d.id.value));
            }
            let interval = common.interval.or(d.interval);
            let timeout = common.timeout.or(d.timeout);
            let explicit = common.interval.is_some() != common.timeout.is_some();
            if let (Some(i), Some(t), true) = (interval, timeout, explicit) {
                if t > i {
                    v.error_at(
                        &place,
                        format!(
                            "device `{}`: {} check: timeout {} is longer than its interval {}",
                            d.id.value,
                            check.kind(),
                            t.humane(),
                            i.humane()
                        ),
                    );
                }
            }
            if let Err(msg) = validate_check(&check, &cred_ids) {
                v.error_at(&place, format!("device `{}`: {msg}", d.id.value));
            }
        }
    }
}

fn validate_check(check: &CheckSpec, cred_ids: &HashSet<&str>) -> Result<(), String> {
    let common = check.common();
    if let (Some(i), Some(t)) = (common.interval, common.timeout) {
        if t > i {
            return Err(format!(
                "{} check: timeout {t} is longer than its interval {i}",
                check.kind()
            ));
        }
    }
    match check {
        CheckSpec::Snmp(s) => match &s.credentials {
            Some(c) if !cred_ids.contains(c.as_str()) => Err(format!(
                "snmp check refers to unknown credentials `{c}` (define it under snmp_credentials)"
            )),
            None if cred_ids.len() != 1 => {
                Err("snmp check needs `credentials:` naming an entry under snmp_credentials".into())
            }
            _ => Ok(()),
        },
        CheckSpec::Tcp(t) if t.port.is_none() => Err("tcp check needs `port:`".into()),
        CheckSpec::Ldap(c) => ldap_problem(c).map_or(Ok(()), Err),
        CheckSpec::Imap(c) => imap_problem(c).map_or(Ok(()), Err),
        CheckSpec::Smtp(c) => smtp_problem(c).map_or(Ok(()), Err),
        CheckSpec::Smb(c) => smb_problem(c).map_or(Ok(()), Err),
        CheckSpec::Icmp(i) if i.count == Some(0) => Err("icmp count must be at least 1".into()),
        CheckSpec::Http(h) => validate_http(h),
        CheckSpec::Dns(d) => super::check::validate_dns(d),
        CheckSpec::Sip(c) => super::check::validate_sip(c),
        CheckSpec::Radius(r) => super::check::validate_radius(r),
        _ => Ok(()),
    }
}

fn is_http_url(u: &str) -> bool {
    u.starts_with("http://") || u.starts_with("https://")
}

fn validate_http(h: &super::check::HttpCheck) -> Result<(), String> {
    if let Some(u) = h.url.as_deref().filter(|u| !is_http_url(u)) {
        return Err(format!(
            "http check url `{u}` must start with http:// or https://"
        ));
    }
    if h.expect_block.is_some() && (h.url.is_none() || h.json_value.is_some()) {
        return Err(
            "http check with `expect_block` needs the test `url:` and no `json_value`".into(),
        );
    }
    if let Some(j) = &h.json_value {
        if !j.pointer.starts_with('/') {
            return Err(format!(
                "http check json_value pointer `{}` must start with / (a JSON pointer)",
                j.pointer
            ));
        }
        if j.max_age.std().is_zero() {
            return Err("http check json_value max_age must be more than 0s".into());
        }
    }
    if let Some(l) = &h.login {
        if !is_http_url(&l.url) {
            return Err(format!(
                "http check login url `{}` must start with http:// or https://",
                l.url
            ));
        }
        if l.username.trim().is_empty() {
            return Err("http check login needs a `username:`".into());
        }
    }
    Ok(())
}

/// Checks credential ids and that each version has what it needs.
pub fn validate_credentials(v: &mut Validator, creds: &[SnmpCredentials]) {
    let mut seen = HashSet::new();
    for c in creds {
        if !seen.insert(c.id.value.as_str()) {
            v.error_at(
                &c.id.referenced,
                format!("duplicate snmp_credentials id `{}`", c.id.value),
            );
        }
        let problem = match c.version {
            SnmpVersion::V1 | SnmpVersion::V2c if c.community.is_none() => {
                Some("v1/v2c credentials need `community: { env: NAME }` or `{ file: PATH }`")
            }
            SnmpVersion::V1 | SnmpVersion::V2c if c.context_name.is_some() => {
                Some("`context_name` is SNMPv3 only (v1/v2c select data by community)")
            }
            SnmpVersion::V3 if c.user.is_none() => Some("v3 credentials need `user:`"),
            SnmpVersion::V3 if c.auth_protocol.is_some() != c.auth_password.is_some() => {
                Some("v3 credentials need both `auth_protocol` and `auth_password`, or neither")
            }
            SnmpVersion::V3 if c.priv_protocol.is_some() != c.priv_password.is_some() => {
                Some("v3 credentials need both `priv_protocol` and `priv_password`, or neither")
            }
            SnmpVersion::V3 if c.priv_protocol.is_some() && c.auth_protocol.is_none() => {
                Some("v3 privacy (priv_protocol) requires authentication (auth_protocol)")
            }
            _ => None,
        };
        if let Some(p) = problem {
            v.error_at(
                &c.id.referenced,
                format!("snmp_credentials `{}`: {p}", c.id.value),
            );
        }
    }
}

/// An address is an IP literal or a plausible host name.
pub fn validate_address(addr: &str) -> Result<(), String> {
    if addr.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    let looks_like_ip = addr.chars().all(|c| c.is_ascii_digit() || c == '.');
    let valid_host = !addr.is_empty()
        && addr.len() <= 253
        && addr.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
        });
    if looks_like_ip || !valid_host {
        Err(format!(
            "invalid address `{addr}`: expected an IPv4 or IPv6 address or a host name"
        ))
    } else {
        Ok(())
    }
}
