//! Backup power: the sites that need it (network nodes and crisis sites) and the UPS units
//! they have, with what `check-config` warns about.

use super::model::{Inventory, DEFAULT_REQUIRED_RUNTIME_MINUTES};
use driftvakt_common::DeviceClass;

/// A site that needs backup power (a node or a crisis site) and the UPS units it has.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BackupSite {
    pub site: String,
    pub name: String,
    pub municipality: String,
    pub node: bool,
    pub crisis_site: bool,
    pub required_runtime_minutes: u32,
    /// UPS devices at the site, with the minimum runtime each is held to (its
    /// `min_runtime_minutes`, default 240).
    pub ups: Vec<BackupUps>,
    /// No UPS in the inventory.
    pub missing_ups: bool,
}

/// One UPS at a site that needs backup power.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BackupUps {
    pub device: String,
    pub min_runtime_minutes: u32,
    /// Held to less than the site requires.
    pub below_requirement: bool,
}

impl BackupSite {
    /// What `check-config` warns about: no UPS, or a UPS held to less than the site needs.
    pub fn warnings(&self) -> Vec<String> {
        let what = match (self.node, self.crisis_site) {
            (true, true) => "network node and crisis site",
            (true, false) => "network node (knutpunkt)",
            _ => "crisis site (ledningsplats)",
        };
        let mut out = Vec::new();
        if self.missing_ups {
            out.push(format!(
                "site `{}` ({what}) has no UPS in the inventory: it needs {} minutes of backup power",
                self.site, self.required_runtime_minutes
            ));
        }
        for u in self.ups.iter().filter(|u| u.below_requirement) {
            out.push(format!(
                "site `{}` ({what}) needs {} minutes of backup power, but UPS `{}` is held to {} (min_runtime_minutes)",
                self.site, self.required_runtime_minutes, u.device, u.min_runtime_minutes
            ));
        }
        out
    }
}

impl Inventory {
    /// Every node and crisis site with its UPS units, in inventory order.
    pub fn backup_power(&self) -> Vec<BackupSite> {
        self.sites
            .iter()
            .filter(|s| s.node || s.crisis_site)
            .map(|s| {
                let required = s
                    .required_runtime_minutes
                    .unwrap_or(DEFAULT_REQUIRED_RUNTIME_MINUTES);
                let ups: Vec<BackupUps> = self
                    .devices
                    .iter()
                    .filter(|d| d.site == s.id && d.class == DeviceClass::Ups)
                    .map(|d| {
                        let min = d
                            .config
                            .min_runtime_minutes
                            .unwrap_or(DEFAULT_REQUIRED_RUNTIME_MINUTES);
                        BackupUps {
                            device: d.id.clone(),
                            min_runtime_minutes: min,
                            below_requirement: min < required,
                        }
                    })
                    .collect();
                BackupSite {
                    site: s.id.clone(),
                    name: s.name.clone(),
                    municipality: s.municipality.clone(),
                    node: s.node,
                    crisis_site: s.crisis_site,
                    required_runtime_minutes: required,
                    missing_ups: ups.is_empty(),
                    ups,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Folder, BASIC};

    #[test]
    fn nodes_and_crisis_sites_list_their_ups_units() {
        let f = Folder::new();
        let yaml = BASIC.replace(
            "{ id: s2, municipality: Tranemo }",
            "{ id: s2, municipality: Tranemo, crisis_site: true, required_runtime_minutes: 480 }",
        );
        let inv = f.load(&yaml).unwrap_or_else(|e| panic!("{e}"));
        let sites = inv.backup_power();
        assert_eq!(sites.len(), 2);
        let (node, crisis) = (&sites[0], &sites[1]);
        assert_eq!(
            (node.site.as_str(), node.required_runtime_minutes),
            ("s1", 240)
        );
        assert_eq!(node.ups.len(), 1);
        assert!(!node.ups[0].below_requirement && !node.missing_ups);
        assert!(node.warnings().is_empty());
        assert!(crisis.missing_ups);
        assert_eq!(
            crisis.warnings(),
            ["site `s2` (crisis site (ledningsplats)) has no UPS in the inventory: it needs 480 \
              minutes of backup power"]
        );
    }
}
