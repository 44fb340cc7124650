//! IF-MIB `linkDown` / `linkUp` (snmpTraps.3 / .4): an uplink going down is a finding on the
//! switch; the poll of the switch's uplinks confirms it (a non-uplink port is not confirmed).

use super::{Confirm, Mib, Trap};

pub const MIB: Mib = Mib {
    name: "IF-MIB",
    traps: &[
        Trap {
            oid: &[1, 3, 6, 1, 6, 3, 1, 1, 5, 3],
            name: "linkDown",
            confirm: Confirm::Finding("uplink_down"),
        },
        Trap {
            oid: &[1, 3, 6, 1, 6, 3, 1, 1, 5, 4],
            name: "linkUp",
            confirm: Confirm::Cleared("uplink_down"),
        },
    ],
};
