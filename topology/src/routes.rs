//! Underlay routes: what every node needs so that every SID and every host
//! prefix is reachable. Pure function of the model; labctl installs exactly
//! these routes (netlink for Linux routers, `ip route add` CLI for VPP).
//!
//! # Public API
//! - [`compute`]`(&Topology) -> BTreeMap<node, Vec<Route>>`
//! - [`count`] / [`count_by_node`]: how many routes [`compute`] gives, in
//!   memory and time linear in the topology (the table itself is quadratic:
//!   a chain of 5,000 routers has 25 million routes).
//! - [`Route`] `{ prefix, via, dev, target, kind, cost, mtu }`, [`RouteKind`]
//!
//! # Rules
//! - Routers get one route per routed prefix of every other node: each
//!   router's and service function's locator, each host/dns/controller
//!   prefix. The next hop is the first hop of the shortest path on the IGP
//!   metric, over links that are declared up, transiting routers only.
//! - Equal-cost paths: the one whose first link has the lowest link id wins
//!   (deterministic, no ECMP).
//! - Hosts, dns, controller and service functions get one default route
//!   (`::/0`) to the router they attach to; end systems carry their
//!   `route_mtu` on it so an inserted SRH still fits into the link MTU.
//! - A node's own prefix gets no route (its SID and addresses are local), and
//!   a destination that is unreachable because links are down gets none.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::net::Ipv6Addr;

use ipnet::Ipv6Net;
use serde::Serialize;

use crate::model::{Node, NodeKind, Topology};

/// Why a route exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RouteKind {
    /// Towards a router's or service function's locator (holds its SID).
    Locator,
    /// Towards a host's, dns's or controller's prefix.
    EndSystemPrefix,
    /// The default route of a node with a single link.
    Default,
}

/// One static route on one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route {
    /// Destination (`::/0` for default routes).
    pub prefix: Ipv6Net,
    /// Next hop: the neighbour's address on the link subnet.
    pub via: Ipv6Addr,
    /// Outgoing interface on this node.
    pub dev: String,
    /// The node owning `prefix` (empty for default routes).
    pub target: String,
    pub kind: RouteKind,
    /// Sum of IGP metrics to the target (0 for default routes).
    pub cost: u64,
    /// Route MTU (end systems' default route), `None` = the link's.
    pub mtu: Option<u32>,
}

/// The underlay routes of every node, key = node name (every node has an entry).
pub fn compute(topo: &Topology) -> BTreeMap<String, Vec<Route>> {
    let g = Index::new(topo);
    let mut out = BTreeMap::new();
    for (i, (name, node)) in topo.nodes.iter().enumerate() {
        let routes = if forwards(node) {
            router_routes(topo, &g, i)
        } else {
            default_route(topo, &g, i).into_iter().collect()
        };
        out.insert(name.clone(), routes);
    }
    out
}

/// The number of routes [`compute`] gives, summed over every node.
pub fn count(topo: &Topology) -> usize {
    counts(topo, &Index::new(topo)).iter().sum()
}

/// The number of routes [`compute`] gives each node (`compute(t)[n].len()`),
/// without building any route.
pub fn count_by_node(topo: &Topology) -> BTreeMap<String, usize> {
    let counts = counts(topo, &Index::new(topo));
    topo.nodes.keys().cloned().zip(counts).collect()
}

/// Only routers forward: end systems and service functions are leaves.
fn forwards(node: &Node) -> bool {
    node.kind == NodeKind::Router
}

/// The graph by integer ids (node index = position in `topo.nodes`), so the
/// per-router searches neither hash nor compare names.
struct Index<'t> {
    nodes: Vec<&'t Node>,
    /// node -> [(link id, peer node)] over links that are up.
    adj: Vec<Vec<(usize, usize)>>,
    /// node -> position in `topo.links` of the first up link touching it
    /// (a leaf's default route goes there).
    first_up: Vec<Option<usize>>,
}

impl<'t> Index<'t> {
    fn new(topo: &'t Topology) -> Self {
        let id: HashMap<&str, usize> = topo
            .nodes
            .keys()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        let mut adj = vec![Vec::new(); topo.nodes.len()];
        let mut first_up = vec![None; topo.nodes.len()];
        for (pos, l) in topo.links.iter().enumerate().filter(|(_, l)| l.up) {
            let (a, b) = (id.get(l.a.node.as_str()), id.get(l.b.node.as_str()));
            for &end in [a, b].into_iter().flatten() {
                first_up[end].get_or_insert(pos);
            }
            if let (Some(&a), Some(&b)) = (a, b) {
                adj[a].push((l.id, b));
                adj[b].push((l.id, a));
            }
        }
        Index {
            nodes: topo.nodes.values().collect(),
            adj,
            first_up,
        }
    }
}

fn default_route(topo: &Topology, g: &Index<'_>, node: usize) -> Option<Route> {
    let link = &topo.links[g.first_up[node]?];
    let name = g.nodes[node].name.as_str();
    let here = link.endpoint(name)?;
    let peer = link.peer(name)?;
    Some(Route {
        prefix: Ipv6Net::default(),
        via: peer.addr,
        dev: here.ifname.clone(),
        target: String::new(),
        kind: RouteKind::Default,
        cost: 0,
        mtu: g.nodes[node].route_mtu,
    })
}
/// Dijkstra from `src` with labels (cost, first link id): lexicographic
/// order keeps the result independent of map and heap iteration order.
fn router_routes(topo: &Topology, g: &Index<'_>, src: usize) -> Vec<Route> {
    const UNSEEN: (u64, usize) = (u64::MAX, usize::MAX);
    let mut best = vec![UNSEEN; g.nodes.len()];
    let mut heap = BinaryHeap::new();
    for &(link_id, peer) in &g.adj[src] {
        heap.push(Reverse((
            u64::from(topo.links[link_id].igp_metric),
            link_id,
            peer,
        )));
    }
    while let Some(Reverse((cost, first, node))) = heap.pop() {
        if node == src || best[node] != UNSEEN {
            continue;
        }
        best[node] = (cost, first);
        if forwards(g.nodes[node]) {
            for &(link_id, peer) in &g.adj[node] {
                if best[peer] == UNSEEN {
                    let next = cost + u64::from(topo.links[link_id].igp_metric);
                    heap.push(Reverse((next, first, peer)));
                }
            }
        }
    }
    let src_name = g.nodes[src].name.as_str();
    let mut routes = Vec::new();
    for (node, &(cost, first)) in g.nodes.iter().zip(&best) {
        let Some(prefix) = node.routed_prefix().filter(|_| cost != u64::MAX) else {
            continue;
        };
        let link = &topo.links[first];
        let (Some(here), Some(peer)) = (link.endpoint(src_name), link.peer(src_name)) else {
            continue;
        };
        routes.push(Route {
            prefix,
            via: peer.addr,
            dev: here.ifname.clone(),
            target: node.name.clone(),
            kind: if node.kind.has_sid() {
                RouteKind::Locator
            } else {
                RouteKind::EndSystemPrefix
            },
            cost,
            mtu: None,
        });
    }
    routes.sort_unstable_by_key(|r| (r.prefix.network(), r.prefix.prefix_len()));
    routes
}

/// Route counts by node index. A router's routes go to every routed prefix
/// its search reaches: the routers of its component (routers joined by up
/// links) and the leaves attached to them, not itself. So one pass over
/// the components counts for every router at once; a leaf has its default
/// route when an up link touches it.
fn counts(topo: &Topology, g: &Index<'_>) -> Vec<usize> {
    let component = router_components(g);
    let mut prefixes_in = vec![0usize; component.iter().flatten().max().map_or(0, |c| c + 1)];
    let mut leaf_components = Vec::new();
    for (v, node) in g.nodes.iter().enumerate() {
        if node.routed_prefix().is_none() {
            continue;
        }
        leaf_components.clear();
        if let Some(c) = component[v] {
            leaf_components.push(c);
        } else {
            // A leaf counts once in each component it hangs off.
            leaf_components.extend(g.adj[v].iter().filter_map(|&(_, peer)| component[peer]));
            leaf_components.sort_unstable();
            leaf_components.dedup();
        }
        for &c in &leaf_components {
            prefixes_in[c] += 1;
        }
    }
    (0..g.nodes.len())
        .map(|v| match component[v] {
            Some(c) => prefixes_in[c] - usize::from(g.nodes[v].routed_prefix().is_some()),
            None => usize::from(default_route(topo, g, v).is_some()),
        })
        .collect()
}

/// node -> its router component (`None` for leaves).
fn router_components(g: &Index<'_>) -> Vec<Option<usize>> {
    let mut component = vec![None; g.nodes.len()];
    let mut next = 0;
    let mut stack = Vec::new();
    for start in (0..g.nodes.len()).filter(|&v| forwards(g.nodes[v])) {
        if component[start].is_some() {
            continue;
        }
        component[start] = Some(next);
        stack.push(start);
        while let Some(v) = stack.pop() {
            for &(_, peer) in &g.adj[v] {
                if forwards(g.nodes[peer]) && component[peer].is_none() {
                    component[peer] = Some(next);
                    stack.push(peer);
                }
            }
        }
        next += 1;
    }
    component
}
