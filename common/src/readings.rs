//! Names of readings and findings that more than one part of Driftvakt relies on.
//!
//! A probe writes a [`ProbeResult`](crate::wire::ProbeResult) value under one of these keys, or a
//! finding with one of these codes; the collector turns values into `driftvakt_*` gauges
//! (`collector/src/metrics.rs`) and findings into alerts (`collector/src/alerting/snapshot.rs`).
//! The names are part of the wire contract (spooled results and stored history carry them), so
//! they never change; having them here once keeps producer and consumers from drifting apart.
//!
//! Names used by one module only stay literals in that module.

// Values (`ProbeResult::values` keys).

/// ICMP: mean round-trip time of the replies, seconds.
pub const ICMP_RTT_AVG_SECONDS: &str = "icmp_rtt_avg_seconds";
/// HTTP(S): whole and partial days until the server certificate expires.
pub const TLS_CERT_DAYS_LEFT: &str = "tls_cert_days_left";
/// UPS: estimated runtime on battery, minutes.
pub const UPS_RUNTIME_MINUTES: &str = "ups_runtime_minutes";
/// UPS: remaining charge as a ratio of full (0..1).
pub const UPS_CHARGE_RATIO: &str = "ups_charge_ratio";
/// UPS: the MIB the values were read from (`rfc1628`, `apc`, `eaton`, `mge`, `liebert`), text.
pub const UPS_MIB: &str = "ups_mib";
/// UPS: the last self-test's result (`passed`, `warning`, `failed`, `in_progress`, `not_run`,
/// `unknown`), text.
pub const UPS_SELF_TEST: &str = "ups_self_test";
/// Printer: level per supply as a ratio of its capacity, a series labelled [`SUPPLY_LABEL`].
pub const PRINTER_SUPPLY_RATIO: &str = "printer_supply_ratio";
/// Switch: ifOperStatus per interface (a series); also the name of the SNMP column read.
pub const IF_OPER_STATUS: &str = "if_oper_status";
/// Switch: ifAdminStatus per interface (a series); also the name of the SNMP column read.
pub const IF_ADMIN_STATUS: &str = "if_admin_status";

/// LLDP/CDP: the device's neighbours as last walked, a series with one sample (value 1) per
/// neighbour, labelled with the `NEIGHBOR_*` labels below. Only in the results of a walk (once
/// an hour by default, and after a restart); a walk that found none has an empty series.
pub const NEIGHBORS: &str = "neighbors";
/// LLDP: the device's own chassis id (lldpLocChassisId), normalised as [`NEIGHBOR_CHASSIS_ID`].
pub const LLDP_CHASSIS_ID: &str = "lldp_chassis_id";

// Findings (`Finding::code`).

/// UPS: running on battery. Both a value (a flag) and a finding.
pub const UPS_ON_BATTERY: &str = "ups_on_battery";
/// UPS: runtime under the device's minimum (`min_runtime_minutes`, default four hours).
pub const UPS_RUNTIME_BELOW_MINIMUM: &str = "ups_runtime_below_minimum";
/// UPS: the battery is low or depleted.
pub const UPS_BATTERY_LOW: &str = "ups_battery_low";
/// UPS: the UPS says its battery needs replacing. Both a value (a flag) and a finding.
pub const UPS_BATTERY_REPLACE: &str = "ups_battery_replace";
/// UPS: the last self-test failed.
pub const UPS_SELF_TEST_FAILED: &str = "ups_self_test_failed";
/// Printer: a supply under its low ratio.
pub const PRINTER_SUPPLY_LOW: &str = "printer_supply_low";
/// HTTP(S): the certificate expires within `cert_min_days`.
pub const TLS_CERTIFICATE_EXPIRING: &str = "tls_certificate_expiring";

// Labels of series samples.

/// The supply's name in [`PRINTER_SUPPLY_RATIO`] samples.
pub const SUPPLY_LABEL: &str = "supply";

/// [`NEIGHBORS`]: `lldp` or `cdp`.
pub const NEIGHBOR_PROTOCOL: &str = "protocol";
/// [`NEIGHBORS`]: the local interface's ifIndex (empty when it could not be mapped).
pub const NEIGHBOR_IF_INDEX: &str = "ifIndex";
/// [`NEIGHBORS`]: the local interface's ifName (or the LLDP port id when unmapped).
pub const NEIGHBOR_IF_NAME: &str = "ifName";
/// [`NEIGHBORS`]: the neighbour's chassis id: a MAC as `aa:bb:cc:dd:ee:ff`, an address as text,
/// anything else (a serial, a name) as the text sent.
pub const NEIGHBOR_CHASSIS_ID: &str = "chassis_id";
/// [`NEIGHBORS`]: the neighbour's system name (LLDP lldpRemSysName, CDP cdpCacheDeviceId).
pub const NEIGHBOR_SYS_NAME: &str = "sys_name";
/// [`NEIGHBORS`]: the neighbour's port (LLDP lldpRemPortId, CDP cdpCacheDevicePort).
pub const NEIGHBOR_PORT: &str = "port";
/// [`NEIGHBORS`]: the neighbour's management addresses, comma-separated.
pub const NEIGHBOR_ADDRESSES: &str = "addresses";
