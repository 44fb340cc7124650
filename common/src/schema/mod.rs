//! The configuration schema the agent and the collector share: devices and their checks, SNMP
//! credentials, secret references, and the validation of them.
//!
//! The infrastructure team writes one schema: the agent's YAML (`devices:`, `snmp_credentials:`,
//! `defaults:`) and the collector's inventory embed these types, and the collector's assignment
//! (`GET /api/v1/assignment`) serializes them for the agent to read back. Durations are
//! [`crate::config::Duration`].
//!
//! - [`device`]: [`DeviceConfig`], per-class [`Timing`], the class defaults.
//! - [`check`]: [`CheckSpec`] and one struct per probe kind.
//! - [`credentials`]: [`SnmpCredentials`] and the SNMP protocol enums.
//! - [`secret`]: [`SecretRef`] (where a secret is) and [`Secret`] (its value, never printed).
//! - [`register`]: a device's `status` and its `register:` facts (the inventory register).
//! - [`validate`]: checks across values (ids, parents, references, addresses).
//!
//! Every type here also serializes (to what it deserializes from): optional settings that are
//! not set are left out, durations are written humanely (`30s`, `1h30m`), secrets only as their
//! references.

pub mod check;
pub mod credentials;
pub mod device;
pub mod register;
pub mod secret;
pub mod validate;

pub use check::{
    CheckCommon, CheckEntry, CheckSpec, DnsCheck, DnsRecord, ExpectBlock, HttpCheck, IcmpCheck,
    ImapCheck, JsonValue, LdapCheck, LoginForm, RadiusCheck, SipCheck, SipTransport, SmbCheck,
    SmtpAuth, SmtpCheck, SnmpCheck, TcpCheck, TlsMode, UpsMib,
};
pub use credentials::{AuthProtocol, PrivProtocol, SnmpCredentials, SnmpVersion};
pub use device::{class_timing, default_checks, DeviceConfig, Timing};
pub use register::{default_renew_after_months, validate_register, Register, Status};
pub use secret::{Secret, SecretRef};
pub use validate::{validate_address, validate_credentials, validate_devices};

/// Whether a setting is unset, and so left out when serializing.
trait Absent {
    fn absent(&self) -> bool;
}

impl<T> Absent for Option<T> {
    fn absent(&self) -> bool {
        self.is_none()
    }
}

impl<T> Absent for Vec<T> {
    fn absent(&self) -> bool {
        self.is_empty()
    }
}

fn absent<T: Absent>(value: &T) -> bool {
    value.absent()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_yaml;
    use std::path::Path;

    #[derive(serde::Deserialize, serde::Serialize)]
    struct File {
        devices: Vec<DeviceConfig>,
        snmp_credentials: Vec<SnmpCredentials>,
    }

    #[test]
    fn the_schema_serializes_to_what_it_reads_back() {
        let yaml = r#"
snmp_credentials:
  - { id: v3, version: v3, user: u, auth_protocol: sha, auth_password: { env: A }, priv_protocol: aes, priv_password: { file: p.txt } }
devices:
  - id: "1001"
    class: ups
    address: 10.0.0.1
    interval: 90s
    min_runtime_minutes: 30
    checks:
      - icmp
      - { kind: icmp, name: slow, count: 2, spacing: 1m30s250ms, fail_loss_ratio: 0.5 }
      - { kind: snmp, credentials: v3, uplinks: [ge-0/0/1], retries: 2 }
      - { kind: http, url: "https://x/", expect_status: [200], ca_file: ca.pem, timeout: 2s }
      - { kind: tcp, port: 9100 }
      - { kind: ldap, tls: starttls, bind_dn: "cn=svc", bind_password: { file: ldap.pw }, group: "cn=g", member: "cn=m" }
      - { kind: imap, username: t, password: { env: IMAP_PW } }
      - { kind: smtp, tls: implicit, auth: login, username: t, password: { file: smtp.pw } }
      - { kind: smb, share: P, folder: driftvakt, domain: KOMMUN, username: svc, password: { file: smb.pw } }
  - { id: sw, class: switch, address: sw.example.org, parent: "1001", description: Hall }
"#;
        let file: File = parse_yaml(yaml, Path::new("t.yaml")).unwrap();
        let json = serde_json::to_string(&file).unwrap();
        assert!(json.contains(r#""id":"1001""#), "ids stay strings: {json}");
        assert!(json.contains(r#""interval":"1m30s""#), "{json}");
        assert!(json.contains(r#""spacing":"1m30s250ms""#), "{json}");
        assert!(
            json.contains(r#""priv_password":{"file":"p.txt"}"#),
            "{json}"
        );
        assert!(
            json.contains(r#""bind_password":{"file":"ldap.pw"}"#)
                && json.contains(r#""tls":"starttls""#),
            "{json}"
        );
        assert!(
            !json.contains("null"),
            "unset settings are left out: {json}"
        );
        let back: File = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), json);
        for (a, b) in file.devices.iter().zip(&back.devices) {
            assert_eq!(a.checks(), b.checks());
            assert_eq!(a.interval, b.interval);
        }
    }
}
