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
//! - [`validate`]: checks across values (ids, parents, references, addresses).

pub mod check;
pub mod credentials;
pub mod device;
pub mod secret;
pub mod validate;

pub use check::{CheckCommon, CheckEntry, CheckSpec, HttpCheck, IcmpCheck, SnmpCheck, TcpCheck};
pub use credentials::{AuthProtocol, PrivProtocol, SnmpCredentials, SnmpVersion};
pub use device::{class_timing, default_checks, DeviceConfig, Timing};
pub use secret::{Secret, SecretRef};
pub use validate::{validate_address, validate_credentials, validate_devices};
