//! APC PowerNet-MIB traps (enterprise `apc`, 1.3.6.1.4.1.318; SMIv1 traps, so `apc.0.N`).

use super::{Confirm, Mib, Trap};
use driftvakt_common::readings;

pub const MIB: Mib = Mib {
    name: "PowerNet-MIB",
    traps: &[
        Trap {
            oid: &[1, 3, 6, 1, 4, 1, 318, 0, 3],
            name: "upsDiagnosticsFailed",
            confirm: Confirm::Finding("ups_self_test_failed"),
        },
        Trap {
            oid: &[1, 3, 6, 1, 4, 1, 318, 0, 5],
            name: "upsOnBattery",
            confirm: Confirm::Finding(readings::UPS_ON_BATTERY),
        },
        Trap {
            oid: &[1, 3, 6, 1, 4, 1, 318, 0, 7],
            name: "lowBattery",
            confirm: Confirm::Finding("ups_battery_low"),
        },
        Trap {
            oid: &[1, 3, 6, 1, 4, 1, 318, 0, 9],
            name: "powerRestored",
            confirm: Confirm::Cleared(readings::UPS_ON_BATTERY),
        },
        Trap {
            oid: &[1, 3, 6, 1, 4, 1, 318, 0, 17],
            name: "upsBatteryNeedsReplacement",
            confirm: Confirm::Finding("ups_battery_replace"),
        },
    ],
};
