//! SNMPv2-MIB `coldStart` / `warmStart` (snmpTraps.1 / .2): the device restarted.

use super::{Confirm, Mib, Trap};

pub const MIB: Mib = Mib {
    name: "SNMPv2-MIB",
    traps: &[
        Trap {
            oid: &[1, 3, 6, 1, 6, 3, 1, 1, 5, 1],
            name: "coldStart",
            confirm: Confirm::Rebooted,
        },
        Trap {
            oid: &[1, 3, 6, 1, 6, 3, 1, 1, 5, 2],
            name: "warmStart",
            confirm: Confirm::Rebooted,
        },
    ],
};
