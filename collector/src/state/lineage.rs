//! A device's lineage: its parent, the parent's parent, and so on up to a root. The inventory
//! refuses parent cycles at load, but the walk is bounded by the number of devices anyway, so a
//! cycle can never hang a reader.

use crate::inventory::{Device, Inventory};

/// The ancestors of device `id`, nearest first (empty for an unknown device or a root).
pub fn ancestors<'a>(inv: &'a Inventory, id: &str) -> Ancestors<'a> {
    Ancestors {
        inv,
        next: inv.device(id).and_then(|d| d.parent.as_deref()),
        left: inv.devices.len(),
    }
}

/// Iterator returned by [`ancestors`].
pub struct Ancestors<'a> {
    inv: &'a Inventory,
    next: Option<&'a str>,
    left: usize,
}

impl<'a> Iterator for Ancestors<'a> {
    type Item = &'a Device;

    fn next(&mut self) -> Option<&'a Device> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let device = self.inv.device(self.next?)?;
        self.next = device.parent.as_deref();
        Some(device)
    }
}
