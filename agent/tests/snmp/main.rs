//! The SNMP probe against real agents, one test binary: net-snmp's `snmpd` and `snmpsimd`
//! with device recordings (`rig`), v2c and v3, failures, device profiles and UPS units.

mod rig;
mod snmp_devices;
mod snmp_failures;
mod snmp_lldp;
mod snmp_snmpd;
mod snmp_snmpsim;
mod snmp_ups;
