//! SNMP traps and informs against the real agent binary: net-snmp's `snmptrap` and
//! `snmpinform` (Debian package `snmp`) send v1, v2c and v3 traps and informs to the agent's
//! receiver on a free loopback port; snmpsim plays the devices whose poll confirms them.

#[allow(dead_code)]
#[path = "../snmp/rig.rs"]
mod rig;

mod agent;
mod fuzz;
mod receive;
