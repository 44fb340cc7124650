//! Eaton XUPS-MIB traps: `xupsTrapDefined` (1.3.6.1.4.1.534.1.11.4.1) and the same numbers
//! under `xupsTrapPortN` (…11.4.2) that ConnectUPS cards send, each as `.0.N`.

use super::{Confirm, Mib, Trap};
use driftvakt_common::readings;

pub const MIB: Mib = Mib {
    name: "XUPS-MIB",
    traps: &[
        Trap {
            oid: &[1, 3, 6, 1, 4, 1, 534, 1, 11, 4, 1, 0, 3],
            name: "xupstdOnBattery",
            confirm: Confirm::Finding(readings::UPS_ON_BATTERY),
        },
        Trap {
            oid: &[1, 3, 6, 1, 4, 1, 534, 1, 11, 4, 1, 0, 4],
            name: "xupstdLowBattery",
            confirm: Confirm::Finding("ups_battery_low"),
        },
        Trap {
            oid: &[1, 3, 6, 1, 4, 1, 534, 1, 11, 4, 1, 0, 5],
            name: "xupstdUtilityPowerRestored",
            confirm: Confirm::Cleared(readings::UPS_ON_BATTERY),
        },
        Trap {
            oid: &[1, 3, 6, 1, 4, 1, 534, 1, 11, 4, 2, 0, 3],
            name: "xupstdOnBattery",
            confirm: Confirm::Finding(readings::UPS_ON_BATTERY),
        },
        Trap {
            oid: &[1, 3, 6, 1, 4, 1, 534, 1, 11, 4, 2, 0, 4],
            name: "xupstdLowBattery",
            confirm: Confirm::Finding("ups_battery_low"),
        },
        Trap {
            oid: &[1, 3, 6, 1, 4, 1, 534, 1, 11, 4, 2, 0, 5],
            name: "xupstdUtilityPowerRestored",
            confirm: Confirm::Cleared(readings::UPS_ON_BATTERY),
        },
    ],
};
