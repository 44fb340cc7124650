//! The inventory as the collector uses it: sites, devices, services and agents resolved from
//! every file, with lookups. Built only by [`Inventory::load`].

use super::file::{CalendarSection, Rule};
use super::functions::Function;
use super::notify::NotifyConfig;
use super::settings::CollectorSettings;
use super::topology::{Discovered, ParentsMode, TopologyConfig};
use crate::availability::DeviceRules;
use driftvakt_common::config::ConfigError;
use driftvakt_common::schema::{DeviceConfig, Secret, SnmpCredentials};
use driftvakt_common::DeviceClass;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

/// A site, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub id: String,
    pub name: String,
    pub municipality: String,
    pub node: bool,
    pub crisis_site: bool,
    /// Minutes of backup runtime required (nodes and crisis sites; 240 unless set).
    pub required_runtime_minutes: Option<u32>,
    /// The department (verksamheten) its on-call cases are billed to, when set.
    pub department: Option<String>,
}

/// The backup runtime nodes and crisis sites need unless they set their own (four hours).
pub const DEFAULT_REQUIRED_RUNTIME_MINUTES: u32 = 240;

/// A device, resolved.
#[derive(Debug, Clone)]
pub struct Device {
    pub id: String,
    pub class: DeviceClass,
    pub site: String,
    pub municipality: String,
    pub parent: Option<String>,
    /// Check names results carry.
    pub checks: Vec<String>,
    pub rules: DeviceRules,
    pub config: DeviceConfig,
}

/// A service, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub id: String,
    pub name: String,
    pub members: Vec<String>,
    pub rule: Rule,
    pub counts_as_incident: bool,
    /// Set for a service of `kind: function` (an "intefunktion" item).
    pub function: Option<Function>,
}

/// An agent, resolved: its token and the devices it may report.
#[derive(Debug, Clone)]
pub struct Agent {
    pub id: String,
    pub token: Secret,
    pub devices: HashSet<String>,
    /// Runs inside the collector (its token is random and never leaves the process).
    pub embedded: bool,
    /// Where its token is configured (none for an embedded agent).
    pub token_source: Option<TokenSource>,
}

/// Where an agent's token is configured: the place of its `token_file:` or `token_env:` and
/// the file or variable the token is read from.
#[derive(Debug, Clone)]
pub struct TokenSource {
    pub place: ConfigError,
    pub file: Option<PathBuf>,
    pub env: Option<String>,
}

/// The whole inventory, validated.
#[derive(Debug, Clone)]
pub struct Inventory {
    pub path: PathBuf,
    pub settings: CollectorSettings,
    pub sites: Vec<Site>,
    pub devices: Vec<Device>,
    pub services: Vec<Service>,
    pub agents: Vec<Agent>,
    pub snmp_credentials: Vec<SnmpCredentials>,
    pub calendar: Option<CalendarSection>,
    /// The `notify:` section of the main file, validated.
    pub notify: Option<NotifyConfig>,
    /// The `topology:` section of the main file, validated.
    pub topology: TopologyConfig,
    /// Parents found over LLDP/CDP (used with `topology.parents: auto`), shared by clones.
    pub discovered: Discovered,
    pub(super) device_index: HashMap<String, usize>,
    pub(super) site_index: HashMap<String, usize>,
    /// Ids of the devices that are some device's parent.
    pub(super) parents: HashSet<String>,
    /// Ids of the SNMP credentials the main file defines (errors about them get its places).
    pub(super) main_credentials: HashSet<String>,
}

impl Inventory {
    pub fn device(&self, id: &str) -> Option<&Device> {
        self.device_index.get(id).map(|&i| &self.devices[i])
    }
    pub fn site(&self, id: &str) -> Option<&Site> {
        self.site_index.get(id).map(|&i| &self.sites[i])
    }
    /// Whether some device is reached through `id` (names it as its parent, or has it as its
    /// discovered parent).
    pub fn has_children(&self, id: &str) -> bool {
        self.parents.contains(id)
            || self.discovered.is_accepted_parent(id)
            || (self.auto_parents() && self.discovered.is_parent(id))
    }
    /// Whether discovered parents are used (`topology.parents: auto`).
    pub fn auto_parents(&self) -> bool {
        self.topology.parents == ParentsMode::Auto
    }
    /// The parent of device `d`: an accepted proposal, else its `parent:` line, else with
    /// `topology.parents: auto` the discovered one.
    pub fn parent_of(&self, d: &Device) -> Option<String> {
        if let Some(p) = self.discovered.accepted(&d.id) {
            return Some(p);
        }
        match &d.parent {
            Some(p) => Some(p.clone()),
            None if self.auto_parents() => self.discovered.get(&d.id),
            None => None,
        }
    }
    /// Where the parent of `d` comes from: `accepted`, `inventory` for a `parent:` line, else
    /// (with `topology.parents: auto`) how the discovered one was learnt (`lldp`, `cdp`).
    pub fn parent_source(&self, d: &Device) -> Option<String> {
        if self.discovered.accepted(&d.id).is_some() {
            return Some("accepted".into());
        }
        match &d.parent {
            Some(_) => Some("inventory".into()),
            None if self.auto_parents() => self.discovered.source(&d.id),
            None => None,
        }
    }
    /// The parents not found over LLDP/CDP: accepted proposals, else `parent:` lines.
    pub fn kept_parents(&self) -> BTreeMap<String, String> {
        self.devices
            .iter()
            .filter_map(|d| {
                let p = self
                    .discovered
                    .accepted(&d.id)
                    .or_else(|| d.parent.clone())?;
                Some((d.id.clone(), p))
            })
            .collect()
    }
    /// Sets the accepted proposals (device -> parent, from the store), leaving out unknown
    /// devices and parents and any that would close a cycle.
    pub fn set_accepted(&self, accepted: BTreeMap<String, String>) {
        let mut kept: BTreeMap<String, String> = self
            .devices
            .iter()
            .filter(|d| !accepted.contains_key(&d.id))
            .filter_map(|d| Some((d.id.clone(), d.parent.clone()?)))
            .collect();
        for (device, parent) in accepted {
            if self.device(&device).is_none() || self.device(&parent).is_none() {
                continue;
            }
            if !closes_cycle(
                &device,
                &parent,
                &kept,
                &BTreeMap::new(),
                self.devices.len(),
            ) {
                kept.insert(device.clone(), parent.clone());
            }
        }
        let hand: BTreeMap<String, String> = self
            .devices
            .iter()
            .filter_map(|d| Some((d.id.clone(), d.parent.clone()?)))
            .collect();
        let chosen = kept
            .into_iter()
            .filter(|(d, p)| hand.get(d) != Some(p))
            .collect();
        self.discovered.replace_accepted(chosen);
    }
    /// Sets the discovered parents (device -> parent and source), leaving out devices with a
    /// `parent:` line, unknown parents and any that would close a cycle with the hand-kept ones.
    pub fn set_discovered(&self, found: BTreeMap<String, (String, String)>) {
        let kept = self.kept_parents();
        let mut chosen: BTreeMap<String, (String, String)> = BTreeMap::new();
        for (device, (parent, source)) in found {
            if kept.contains_key(&device) || self.device(&parent).is_none() {
                continue;
            }
            if !closes_cycle(&device, &parent, &kept, &chosen, self.devices.len()) {
                chosen.insert(device, (parent, source));
            }
        }
        self.discovered.replace(chosen);
    }
    pub fn agent(&self, id: &str) -> Option<&Agent> {
        self.agents.iter().find(|a| a.id == id)
    }
    /// Devices ordered so that every parent comes before its children.
    pub fn devices_parents_first(&self) -> Vec<&Device> {
        let mut done: HashSet<&str> = HashSet::new();
        let mut out = Vec::with_capacity(self.devices.len());
        while out.len() < self.devices.len() {
            let before = out.len();
            for d in &self.devices {
                let parent = self.parent_of(d);
                let ready = parent.as_deref().is_none_or(|p| done.contains(p));
                if !done.contains(d.id.as_str()) && ready {
                    done.insert(&d.id);
                    out.push(d);
                }
            }
            if out.len() == before {
                break; // cycles are rejected when loading; never loop forever
            }
        }
        out
    }
    /// The services of `kind: function`.
    pub fn functions(&self) -> impl Iterator<Item = (&Service, &Function)> {
        self.services
            .iter()
            .filter_map(|s| s.function.as_ref().map(|f| (s, f)))
    }
    /// Municipalities in order of first appearance.
    pub fn municipalities(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in &self.sites {
            if !out.contains(&s.municipality) {
                out.push(s.municipality.clone());
            }
        }
        out
    }
}

/// Whether `device` with parent `parent` would be its own ancestor.
fn closes_cycle(
    device: &str,
    parent: &str,
    kept: &BTreeMap<String, String>,
    chosen: &BTreeMap<String, (String, String)>,
    bound: usize,
) -> bool {
    let mut at = Some(parent.to_string());
    for _ in 0..=bound {
        match at {
            Some(a) if a == device => return true,
            Some(a) => {
                at = kept
                    .get(&a)
                    .or_else(|| chosen.get(&a).map(|(p, _)| p))
                    .cloned()
            }
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Folder, BASIC};

    #[test]
    fn lookups_and_orders() {
        let f = Folder::new();
        // A parent written after its child.
        let yaml = BASIC.replace(
            "address: 10.0.0.1, checks",
            "address: 10.0.0.1, parent: prn2, checks",
        ) + "";
        let yaml = yaml.replace(
            "devices:\n",
            "devices:\n  - { id: later, class: switch, site: s2, address: 10.1.0.8, parent: prn2, checks: [icmp] }\n",
        );
        let yaml = yaml.replace(
            "services:\n",
            "  - { id: prn2, class: printer, site: s2, address: 10.1.0.9, checks: [icmp] }\nservices:\n",
        );
        let inv = f.load(&yaml).unwrap_or_else(|e| panic!("{e}"));
        let order: Vec<&str> = inv
            .devices_parents_first()
            .iter()
            .map(|d| d.id.as_str())
            .collect();
        let at = |id| order.iter().position(|d| *d == id).unwrap();
        assert!(
            at("prn2") < at("later") && at("prn2") < at("sw"),
            "{order:?}"
        );
        assert!(at("sw") < at("ap") && at("sw") < at("prn"), "{order:?}");
        assert_eq!(inv.municipalities(), ["Ulricehamn", "Tranemo"]);
        assert_eq!(inv.site("s2").unwrap().name, "s2");
        assert!(inv.device("nowhere").is_none());
        assert_eq!(inv.services[0].members, ["sw", "ap"]);
    }
}
