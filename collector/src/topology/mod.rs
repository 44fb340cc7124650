//! Topology from LLDP and CDP: links between inventory devices, and the parents they imply.
//!
//! Pure (no I/O, no clock, no store): it takes the inventory's devices ([`Known`]) and what
//! each device last reported of its neighbours ([`Report`], from the agent's `neighbors`
//! series), and gives
//! - [`links`]: every reported neighbour with the inventory device it is ([`matching`]), a
//!   port with more than one neighbour marked `ambiguous_port` (an unmanaged switch between:
//!   which of them is behind which is not known, so none of its links is used for parents);
//! - [`parents::propose`]: the parent of each device reached from the roots (node sites, or
//!   `topology.roots`): the neighbour one hop closer to a root, chains of any depth;
//! - [`review`]: the proposals that differ from a hand-kept `parent:` (listed, never
//!   applied), and [`moved`]: devices whose discovered parent changed between two walks (a
//!   re-cabled switch, a moved access point): one line to the service desk each.

pub mod links;
pub mod matching;
pub mod parents;

pub use links::{Known, Link, Neighbor, Protocol, Report};
pub use matching::{Directory, Match};
pub use parents::{propose, Proposal};

use std::collections::BTreeMap;

/// Every reported neighbour of every device, in device and port order.
pub fn links(known: &[Known], reports: &BTreeMap<String, Report>) -> Vec<Link> {
    let directory = Directory::new(known, reports);
    let mut out = Vec::new();
    for (device, report) in reports {
        let mut per_port: BTreeMap<&str, usize> = BTreeMap::new();
        for n in &report.neighbors {
            *per_port.entry(port_key(n)).or_default() += 1;
        }
        for n in &report.neighbors {
            let (neighbor, candidates) = match directory.find(n) {
                Match::Device(id) => (Some(id), Vec::new()),
                Match::Ambiguous(c) => (None, c),
                Match::Unknown => (None, Vec::new()),
            };
            out.push(Link {
                device: device.clone(),
                if_name: n.if_name.clone(),
                if_index: n.if_index.clone(),
                protocol: n.protocol,
                neighbor,
                candidates,
                reported: if n.sys_name.is_empty() {
                    n.chassis_id.clone()
                } else {
                    n.sys_name.clone()
                },
                remote_port: n.port.clone(),
                ambiguous_port: per_port[port_key(n)] > 1,
            });
        }
    }
    out
}

/// A port by ifIndex, or by name when unmapped.
fn port_key(n: &Neighbor) -> &str {
    if n.if_index.is_empty() {
        &n.if_name
    } else {
        &n.if_index
    }
}

/// A proposal that differs from a hand-kept `parent:`: for review, never applied silently.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Review {
    pub device: String,
    /// The hand-kept parent (`None`: `parent: null` or none written).
    pub kept: Option<String>,
    pub proposed: String,
}

/// The proposals to review: devices with a hand-kept parent (`kept`, `Some(None)` for
/// `parent: null`) whose discovered parent is another device.
pub fn review(
    kept: &BTreeMap<String, Option<String>>,
    proposals: &BTreeMap<String, Proposal>,
) -> Vec<Review> {
    proposals
        .iter()
        .filter_map(|(device, p)| {
            let Proposal::Parent(link) = p else {
                return None;
            };
            let proposed = parent_of(device, link)?;
            let kept = kept.get(device)?;
            (kept.as_deref() != Some(proposed.as_str())).then(|| Review {
                device: device.clone(),
                kept: kept.clone(),
                proposed,
            })
        })
        .collect()
}

/// The parent a link proposes for `device`: its other end.
pub fn parent_of(device: &str, link: &Link) -> Option<String> {
    if link.device == device {
        link.neighbor.clone()
    } else {
        Some(link.device.clone())
    }
}

/// The discovered parent of each device that has one.
pub fn discovered(proposals: &BTreeMap<String, Proposal>) -> BTreeMap<String, String> {
    proposals
        .iter()
        .filter_map(|(d, p)| match p {
            Proposal::Parent(l) => Some((d.clone(), parent_of(d, l)?)),
            _ => None,
        })
        .collect()
}

/// [`discovered`] with where each parent was learnt (`lldp`, `cdp`).
pub fn discovered_with_source(
    proposals: &BTreeMap<String, Proposal>,
) -> BTreeMap<String, (String, String)> {
    proposals
        .iter()
        .filter_map(|(d, p)| match p {
            Proposal::Parent(l) => {
                let source = l.protocol.unwrap_or(Protocol::Lldp).as_str().to_string();
                Some((d.clone(), (parent_of(d, l)?, source)))
            }
            _ => None,
        })
        .collect()
}

/// A device whose discovered parent changed between two walks.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Move {
    pub device: String,
    pub from: String,
    pub to: String,
}

impl Move {
    /// The service desk's line (Swedish: it is read by people).
    pub fn line(&self) -> String {
        format!(
            "{} har flyttats: ansluten till {} (tidigare {}). Förslaget väntar på granskning.",
            self.device, self.to, self.from
        )
    }
}

/// Devices whose discovered parent is another than before (a device found for the first
/// time, or no longer found, is no move).
pub fn moved(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> Vec<Move> {
    after
        .iter()
        .filter_map(|(device, to)| {
            let from = before.get(device)?;
            (from != to).then(|| Move {
                device: device.clone(),
                from: from.clone(),
                to: to.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;

/// The roots: `configured` (`topology.roots`) when given, else the switches at node sites.
pub fn roots(inventory: &crate::inventory::Inventory, configured: &[String]) -> Vec<String> {
    if !configured.is_empty() {
        return configured.to_vec();
    }
    let nodes: std::collections::BTreeSet<&str> = inventory
        .sites
        .iter()
        .filter(|s| s.node)
        .map(|s| s.id.as_str())
        .collect();
    inventory
        .devices
        .iter()
        .filter(|d| {
            d.class == driftvakt_common::DeviceClass::Switch && nodes.contains(d.site.as_str())
        })
        .map(|d| d.id.clone())
        .collect()
}

/// Where a device's parent comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// `parent:` in the inventory (hand-kept, wins over discovered ones).
    Inventory,
    /// A proposal an operator accepted (stored; wins over `parent:`).
    Accepted,
    Lldp,
    Cdp,
}

/// One device's parent and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ParentOf {
    pub device: String,
    pub parent: String,
    pub source: Source,
}

/// A device that links reach but whose parent is not guessed (redundant uplinks, or a
/// neighbour matching several devices).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Unresolved {
    pub device: String,
    pub candidates: Vec<String>,
}

/// What `/api/v1/topology` shows: the roots, every link, each device's parent with its
/// source, the proposals to review and the devices left unresolved.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct View {
    pub roots: Vec<String>,
    pub links: Vec<Link>,
    pub parents: Vec<ParentOf>,
    pub proposals: Vec<Review>,
    pub unresolved: Vec<Unresolved>,
    /// Every device's proposal (not served: the discovered parents are taken from it).
    #[serde(skip)]
    pub proposed: BTreeMap<String, Proposal>,
}

/// The view from the inventory and the devices' latest walks.
pub fn view(inventory: &crate::inventory::Inventory, reports: &BTreeMap<String, Report>) -> View {
    let known: Vec<Known> = inventory.devices.iter().map(Known::from_device).collect();
    let roots = roots(inventory, &inventory.topology.root_ids());
    let links = links(&known, reports);
    let proposals = propose(&roots, &links);
    // With `parents: auto` only `parent:` lines are reviewed; otherwise every device is.
    let auto = inventory.auto_parents();
    let hand = inventory.kept_parents();
    let kept: BTreeMap<String, Option<String>> = inventory
        .devices
        .iter()
        .filter(|d| hand.contains_key(&d.id) || !auto)
        .map(|d| (d.id.clone(), hand.get(&d.id).cloned()))
        .collect();
    let parents = inventory
        .devices
        .iter()
        .filter_map(|d| parent_with_source(inventory, d, proposals.get(&d.id), auto))
        .collect();
    let unresolved = proposals
        .iter()
        .filter_map(|(d, p)| match p {
            Proposal::Ambiguous(c) => Some(Unresolved {
                device: d.clone(),
                candidates: c.clone(),
            }),
            _ => None,
        })
        .collect();
    View {
        proposals: review(&kept, &proposals),
        roots,
        links,
        parents,
        unresolved,
        proposed: proposals,
    }
}

/// The hand-kept parent, else the discovered one.
fn parent_with_source(
    inventory: &crate::inventory::Inventory,
    d: &crate::inventory::Device,
    p: Option<&Proposal>,
    auto: bool,
) -> Option<ParentOf> {
    let of = |parent: String, source| ParentOf {
        device: d.id.clone(),
        parent,
        source,
    };
    if let Some(accepted) = inventory.discovered.accepted(&d.id) {
        return Some(of(accepted, Source::Accepted));
    }
    if let Some(kept) = &d.parent {
        return Some(of(kept.clone(), Source::Inventory));
    }
    let Some(Proposal::Parent(link)) = p.filter(|_| auto) else {
        return None;
    };
    let source = match link.protocol {
        Some(Protocol::Cdp) => Source::Cdp,
        _ => Source::Lldp,
    };
    Some(of(parent_of(&d.id, link)?, source))
}
