//! UPS-MIB (RFC 1628) `upsTraps` (1.3.6.1.2.1.33.2), as `upsTraps.N`; the `upsTraps.0.N` form
//! some devices send (a v1 trap with enterprise `upsTraps`, translated) is found by
//! [`super::lookup`].

use super::{Confirm, Mib, Trap};
use driftvakt_common::readings;

pub const MIB: Mib = Mib {
    name: "UPS-MIB",
    traps: &[
        Trap {
            oid: &[1, 3, 6, 1, 2, 1, 33, 2, 1],
            name: "upsTrapOnBattery",
            confirm: Confirm::Finding(readings::UPS_ON_BATTERY),
        },
        Trap {
            oid: &[1, 3, 6, 1, 2, 1, 33, 2, 2],
            name: "upsTrapTestCompleted",
            confirm: Confirm::Answers,
        },
        Trap {
            oid: &[1, 3, 6, 1, 2, 1, 33, 2, 3],
            name: "upsTrapAlarmEntryAdded",
            confirm: Confirm::Answers,
        },
        Trap {
            oid: &[1, 3, 6, 1, 2, 1, 33, 2, 4],
            name: "upsTrapAlarmEntryRemoved",
            confirm: Confirm::Answers,
        },
    ],
};
