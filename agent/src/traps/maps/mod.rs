//! The trap maps: which notification OIDs the agent knows, one file per MIB (like the UPS
//! profiles), and what a confirming poll of the sender must show.
//!
//! A trap's OID is its SNMPv2 form: `snmpTrapOID.0` for v2c/v3, and for v1 the RFC 3584
//! translation (generic traps under `snmpTraps`, enterprise-specific ones as
//! `enterprise.0.specific`). Adding a MIB is one file here and one line in [`MIBS`].

pub mod if_mib;
pub mod powernet;
pub mod rfc1628;
pub mod snmpv2;
pub mod xups;

/// What the poll that a trap triggers must show for the trap to count as confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    /// The poll answers and carries this finding (`ups_on_battery`, `uplink_down`, ...).
    Finding(&'static str),
    /// The poll answers without this finding (power restored, link up).
    Cleared(&'static str),
    /// The device restarted: the poll carries `rebooted` or an uptime under ten minutes.
    Rebooted,
    /// The poll answers (events a poll cannot see again: a self-test completed, an alarm
    /// table entry added or removed).
    Answers,
}

/// One known notification.
#[derive(Debug, Clone, Copy)]
pub struct Trap {
    /// The notification OID, SNMPv2 form.
    pub oid: &'static [u32],
    /// Its name in the MIB.
    pub name: &'static str,
    pub confirm: Confirm,
}

/// One MIB's notifications.
#[derive(Debug)]
pub struct Mib {
    pub name: &'static str,
    pub traps: &'static [Trap],
}

/// Every MIB the agent knows traps of.
pub const MIBS: [&Mib; 5] = [
    &rfc1628::MIB,
    &powernet::MIB,
    &xups::MIB,
    &if_mib::MIB,
    &snmpv2::MIB,
];

/// A known notification and the MIB it is from.
#[derive(Debug, Clone, Copy)]
pub struct Known {
    pub mib: &'static str,
    pub trap: &'static Trap,
}

/// The known notification with this OID, if any. A notification defined as `prefix.N` also
/// arrives as `prefix.0.N` (a v1 trap with enterprise `prefix`, translated by RFC 3584; UPS
/// units send RFC 1628's traps so), so an OID whose next-to-last arc is 0 that no map lists
/// is looked up without that arc; each map lists a notification once, in its MIB's form.
pub fn lookup(oid: &[u32]) -> Option<Known> {
    exact(oid).or_else(|| match oid {
        [prefix @ .., 0, n] => exact(&[prefix, &[*n]].concat()),
        _ => None,
    })
}

/// The notification listed with exactly this OID.
fn exact(oid: &[u32]) -> Option<Known> {
    MIBS.iter().find_map(|mib| {
        mib.traps.iter().find(|t| t.oid == oid).map(|trap| Known {
            mib: mib.name,
            trap,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_oid_is_known_once() {
        let mut seen = HashSet::new();
        for mib in MIBS {
            for t in mib.traps {
                assert!(seen.insert(t.oid), "{} {} twice", mib.name, t.name);
                assert_eq!(lookup(t.oid).unwrap().trap.name, t.name);
            }
        }
        assert!(lookup(&[1, 3, 6, 1, 4, 1, 99999, 0, 1]).is_none());
    }

    #[test]
    fn both_forms_of_the_rfc_1628_on_battery_trap_are_known() {
        for oid in [
            &[1, 3, 6, 1, 2, 1, 33, 2, 1][..],
            &[1, 3, 6, 1, 2, 1, 33, 2, 0, 1][..],
        ] {
            let k = lookup(oid).unwrap();
            assert_eq!(k.trap.name, "upsTrapOnBattery");
            assert_eq!(k.trap.confirm, Confirm::Finding("ups_on_battery"));
        }
    }
}
