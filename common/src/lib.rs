//! Shared between the Driftvakt agent and collector: the probe result as it crosses the wire
//! ([`wire`]), the device classes ([`DeviceClass`]), and strict YAML loading with errors that
//! name file, line and key ([`config`]), the configuration schema both use ([`schema`]: devices,
//! checks, SNMP credentials, secrets), the stable hash both use ([`hash`]), the names of the
//! readings and findings both rely on ([`readings`]), what text XML can carry ([`xml`]), the
//! checks of TLS certificate files ([`tls`]), and the one clock of a process ([`clock`]).

pub mod clock;
pub mod config;
pub mod hash;
pub mod limits;
pub mod readings;
pub mod reply;
pub mod schema;
pub mod tls;
pub mod wire;
pub mod xml;

use serde::{Deserialize, Serialize};
use std::fmt;

/// The device classes the municipal IT runs on its networks, and `service`: a function that is
/// not a network device (e-mail, telephony, remote access, storage), watched by host name over
/// HTTP, TCP or ICMP and reported like the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceClass {
    Switch,
    Ups,
    AccessPoint,
    Printer,
    Screen,
    Service,
}

impl DeviceClass {
    pub const ALL: [DeviceClass; 6] = [
        DeviceClass::Switch,
        DeviceClass::Ups,
        DeviceClass::AccessPoint,
        DeviceClass::Printer,
        DeviceClass::Screen,
        DeviceClass::Service,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeviceClass::Switch => "switch",
            DeviceClass::Ups => "ups",
            DeviceClass::AccessPoint => "access_point",
            DeviceClass::Printer => "printer",
            DeviceClass::Screen => "screen",
            DeviceClass::Service => "service",
        }
    }
}

impl fmt::Display for DeviceClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
