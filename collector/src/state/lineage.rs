//! A device's lineage: its parent, the parent's parent, and so on up to a root (parents as
//! [`Inventory::parent_of`] gives them: hand-kept, or discovered with `topology.parents:
//! auto`). The inventory refuses parent cycles at load and leaves out discovered parents that
//! would close one, but the walk is bounded by the number of devices anyway, so a cycle can
//! never hang a reader.

use crate::inventory::{Device, Inventory};

/// The ancestors of device `id`, nearest first (empty for an unknown device or a root).
pub fn ancestors<'a>(inv: &'a Inventory, id: &str) -> Ancestors<'a> {
    Ancestors {
        inv,
        next: inv.device(id).and_then(|d| inv.parent_of(d)),
        left: inv.devices.len(),
    }
}

/// Iterator returned by [`ancestors`].
pub struct Ancestors<'a> {
    inv: &'a Inventory,
    next: Option<String>,
    left: usize,
}

impl<'a> Iterator for Ancestors<'a> {
    type Item = &'a Device;

    fn next(&mut self) -> Option<&'a Device> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let device = self.inv.device(self.next.as_deref()?)?;
        self.next = self.inv.parent_of(device);
        Some(device)
    }
}
