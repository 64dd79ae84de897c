//! The shape of the network, once every node and link is known: no
//! duplicate links or interface names, end systems hang off exactly one
//! router, at most one dns and one controller, everything connected.

use std::collections::{BTreeSet, HashMap, VecDeque};

use serde_saphyr::Location;

use super::links::Links;
use super::nodes::{Drafts, NodeDraft};
use super::Cx;
use crate::model::{Link, NodeKind};

/// Link structure: duplicates, interface names, how end systems attach.
pub(super) fn check_links(cx: &mut Cx, drafts: &Drafts, links: &Links) {
    check_duplicates(cx, links);
    check_attachments(cx, drafts, links);
    check_singletons(cx, drafts);
}

/// One link per node pair; interface names unique in the lab.
fn check_duplicates(cx: &mut Cx, links: &Links) {
    let mut pairs: HashMap<(&str, &str), usize> = HashMap::new();
    let mut ifnames: HashMap<&str, (usize, &str)> = HashMap::new();
    for (l, at) in links.links.iter().zip(&links.at) {
        let f = format!("links[{}]", l.id);
        let key = if l.a.node <= l.b.node {
            (l.a.node.as_str(), l.b.node.as_str())
        } else {
            (l.b.node.as_str(), l.a.node.as_str())
        };
        if let Some(first) = pairs.insert(key, l.id) {
            cx.err(
                at,
                &f,
                format!(
                    "duplicate link: links[{first}] already joins {} and {}",
                    key.0, key.1
                ),
            );
        }
        // (Written names were checked where they were read; derived ones are valid.)
        for ep in [&l.a, &l.b] {
            if let Some((first, node)) =
                ifnames.insert(ep.ifname.as_str(), (l.id, ep.node.as_str()))
            {
                cx.err(at, format!("{f}.endpoints"), format!("interface name {:?} on {} is already used by links[{first}] on {node} (interface names are unique in a lab)", ep.ifname, ep.node));
            }
        }
    }
}

/// Every node but a router has exactly one link, and it leads to a router.
fn check_attachments(cx: &mut Cx, drafts: &Drafts, links: &Links) {
    let at_of: HashMap<usize, Location> = links
        .links
        .iter()
        .map(|l| l.id)
        .zip(links.at.iter().copied())
        .collect();
    // Links by node, in link order (one pass, not one per node: labs have thousands).
    let mut by_node: HashMap<&str, Vec<&Link>> = HashMap::new();
    for l in &links.links {
        by_node.entry(&l.a.node).or_default().push(l);
        if l.b.node != l.a.node {
            by_node.entry(&l.b.node).or_default().push(l);
        }
    }
    // A link between two end systems is reported once, not from both ends.
    let mut reported: BTreeSet<usize> = BTreeSet::new();
    for (name, d) in drafts {
        if d.node.kind == NodeKind::Router {
            continue;
        }
        let kind = d.node.kind.as_str();
        let attached = by_node.get(name.as_str()).map_or(&[][..], Vec::as_slice);
        match attached {
            [] => cx.err(&d.at, format!("nodes.{name}"), format!("{kind} node {name} has no link: attach it to a router")),
            [l] => {
                let peer = l.peer(name).map(|p| p.node.as_str()).unwrap_or_default();
                let peer_kind = drafts.get(peer).map(|p| p.node.kind);
                if peer_kind.is_some_and(|k| k != NodeKind::Router) && reported.insert(l.id) {
                    let at = at_of.get(&l.id).copied().unwrap_or(d.at);
                    cx.err(&at, format!("links[{}]", l.id), format!("{kind} node {name} is linked to {peer}, which is not a router (only routers forward)"));
                }
            }
            many => cx.err(&d.at, format!("nodes.{name}"), format!("{kind} node {name} has {} links (links[{}]); it must attach to exactly one router", many.len(), many.iter().map(|l| l.id.to_string()).collect::<Vec<_>>().join("], links["))),
        }
    }
}

/// At most one dns and one controller node (the second one is reported).
fn check_singletons(cx: &mut Cx, drafts: &Drafts) {
    for kind in [NodeKind::Dns, NodeKind::Controller] {
        let mut of_kind = drafts.iter().filter(|(_, d)| d.node.kind == kind);
        if let Some((name, d)) = of_kind.nth(1) {
            cx.err(
                &d.at,
                format!("nodes.{name}"),
                format!("a lab has at most one {} node", kind.as_str()),
            );
        }
    }
}

/// Every node reaches every other over the declared links (up or not).
pub(super) fn check_connected(cx: &mut Cx, drafts: &Drafts, links: &[Link]) {
    let Some(start) = drafts.keys().next() else {
        return;
    };
    let mut adj: HashMap<&str, Vec<&str>> = HashMap::new();
    for l in links {
        adj.entry(&l.a.node).or_default().push(&l.b.node);
        adj.entry(&l.b.node).or_default().push(&l.a.node);
    }
    let mut seen: BTreeSet<&str> = BTreeSet::from([start.as_str()]);
    let mut queue = VecDeque::from([start.as_str()]);
    while let Some(n) = queue.pop_front() {
        for &m in adj.get(n).into_iter().flatten() {
            if seen.insert(m) {
                queue.push_back(m);
            }
        }
    }
    let unreachable: Vec<&str> = drafts
        .keys()
        .map(String::as_str)
        .filter(|n| !seen.contains(n))
        .collect();
    // Isolated end systems already have their own "no link" problem.
    let isolated_end_system = |n: &str| {
        drafts
            .get(n)
            .is_some_and(|d: &NodeDraft| d.node.kind != NodeKind::Router)
            && !adj.contains_key(n)
    };
    if let Some(first) = unreachable.iter().find(|n| !isolated_end_system(n)) {
        if let Some(d) = drafts.get(*first) {
            cx.err(
                &d.at,
                format!("nodes.{first}"),
                format!(
                    "the network is not connected: {} cannot be reached from {start}",
                    unreachable.join(", ")
                ),
            );
        }
    }
}
