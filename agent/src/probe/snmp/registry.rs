//! The built-in SNMP profiles by name and by device class: the one list a new profile is
//! registered in (its file beside this one defines its `PROFILE`).

use super::profiles::{Profile, ACCESS_POINT, SCREEN};
use super::{printer, switch, ups};
use driftvakt_common::DeviceClass;

impl Profile {
    /// The built-in profile called `name`.
    pub fn by_name(name: &str) -> Option<Profile> {
        ALL.iter().copied().find(|p| p.name == name)
    }

    /// The default profile of a device class.
    pub fn for_class(class: DeviceClass) -> Profile {
        match class {
            DeviceClass::Switch => switch::PROFILE,
            DeviceClass::Ups => ups::PROFILE,
            DeviceClass::Printer => printer::PROFILE,
            DeviceClass::AccessPoint => ACCESS_POINT,
            // A function (e-mail, telephony) answering SNMP gets only sysUpTime, as a screen.
            DeviceClass::Screen | DeviceClass::Service => SCREEN,
        }
    }

    /// The names of all built-in profiles, for error messages.
    pub fn names() -> Vec<&'static str> {
        ALL.iter().map(|p| p.name).collect()
    }
}

const ALL: &[Profile] = &[
    switch::PROFILE,
    ups::PROFILE,
    printer::PROFILE,
    ACCESS_POINT,
    SCREEN,
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::snmp::client::Oid;

    #[test]
    fn profiles_by_name_and_class() {
        assert_eq!(Profile::for_class(DeviceClass::Ups).name, "ups");
        assert_eq!(Profile::for_class(DeviceClass::Screen).name, "screen");
        assert!(Profile::by_name("printer").is_some());
        assert!(Profile::by_name("toaster").is_none());
        for p in ALL {
            for o in p.scalars.iter().chain(p.columns) {
                assert!(o.oid.parse::<Oid>().is_ok(), "{}", o.oid);
            }
        }
    }
}
