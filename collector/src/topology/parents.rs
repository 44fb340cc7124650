//! Parents from links: each device's parent is the neighbour one hop closer to a root (a
//! breadth-first search from all roots over the links, any depth). A device with two
//! neighbours equally close (redundant uplinks) gets no proposal but both as candidates; links
//! on a port with more than one neighbour (an unmanaged switch between) are left out.

use super::links::Link;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// What the links say of one device's parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proposal {
    /// A root (node site or `topology.roots`).
    Root,
    /// The neighbour one hop closer to a root, with the link it was learnt from.
    Parent(Link),
    /// More than one neighbour equally close: not guessed.
    Ambiguous(Vec<String>),
}

/// Each reachable device's proposal; devices no link reaches from a root are absent.
pub fn propose(roots: &[String], links: &[Link]) -> BTreeMap<String, Proposal> {
    let graph = adjacency(links);
    let depth = depths(roots, &graph);
    let mut out = BTreeMap::new();
    for (id, d) in &depth {
        if *d == 0 {
            out.insert(id.clone(), Proposal::Root);
            continue;
        }
        let closer: BTreeMap<&String, &Link> = graph
            .get(id)
            .into_iter()
            .flatten()
            .filter(|(n, _)| depth.get(*n) == Some(&(d - 1)))
            .map(|(n, l)| (n, *l))
            .collect();
        let proposal = match closer.len() {
            1 => Proposal::Parent(
                closer
                    .values()
                    .next()
                    .map(|l| (*l).clone())
                    .unwrap_or_default(),
            ),
            _ => Proposal::Ambiguous(closer.keys().map(|k| (*k).clone()).collect()),
        };
        out.insert(id.clone(), proposal);
    }
    out
}

/// Undirected neighbours per device, each with one link between them (the one reported by the
/// device closer to... either end; the first found in report order).
fn adjacency(links: &[Link]) -> BTreeMap<String, BTreeMap<String, &Link>> {
    let mut graph: BTreeMap<String, BTreeMap<String, &Link>> = BTreeMap::new();
    let blocked: BTreeSet<(&str, &str)> = links
        .iter()
        .filter(|l| l.ambiguous_port)
        .filter_map(|l| Some((l.device.as_str(), l.neighbor.as_deref()?)))
        .collect();
    for l in links.iter().filter(|l| !l.ambiguous_port) {
        let Some(n) = l.neighbor.as_deref() else {
            continue;
        };
        let (a, b) = (l.device.as_str(), n);
        if a == b || blocked.contains(&(a, b)) || blocked.contains(&(b, a)) {
            continue;
        }
        graph
            .entry(a.into())
            .or_default()
            .entry(b.into())
            .or_insert(l);
        graph
            .entry(b.into())
            .or_default()
            .entry(a.into())
            .or_insert(l);
    }
    graph
}

fn depths(
    roots: &[String],
    graph: &BTreeMap<String, BTreeMap<String, &Link>>,
) -> BTreeMap<String, usize> {
    let mut depth: BTreeMap<String, usize> = BTreeMap::new();
    let mut queue = VecDeque::new();
    for r in roots {
        if depth.insert(r.clone(), 0).is_none() {
            queue.push_back(r.clone());
        }
    }
    while let Some(id) = queue.pop_front() {
        let d = depth[&id];
        for n in graph.get(&id).into_iter().flat_map(BTreeMap::keys) {
            if !depth.contains_key(n) {
                depth.insert(n.clone(), d + 1);
                queue.push_back(n.clone());
            }
        }
    }
    depth
}
