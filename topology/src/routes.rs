//! Underlay routes: what every node needs so that every SID and every host
//! prefix is reachable. Pure function of the model; labctl installs exactly
//! these routes (netlink for Linux routers, `ip route add` CLI for VPP).
//!
//! # Public API
//! - [`compute`]`(&Topology) -> BTreeMap<node, Vec<Route>>`
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
        let routes = if node.kind == NodeKind::Router {
            router_routes(topo, &g, i)
        } else {
            default_route(topo, name).into_iter().collect()
        };
        out.insert(name.clone(), routes);
    }
    out
}

/// The graph by integer ids (node index = position in `topo.nodes`), so the
/// per-router searches neither hash nor compare names.
struct Index<'t> {
    nodes: Vec<&'t Node>,
    /// node -> [(link id, peer node)] over links that are up.
    adj: Vec<Vec<(usize, usize)>>,
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
        for l in topo.links.iter().filter(|l| l.up) {
            if let (Some(&a), Some(&b)) = (id.get(l.a.node.as_str()), id.get(l.b.node.as_str())) {
                adj[a].push((l.id, b));
                adj[b].push((l.id, a));
            }
        }
        Index {
            nodes: topo.nodes.values().collect(),
            adj,
        }
    }
}

fn default_route(topo: &Topology, name: &str) -> Option<Route> {
    let node = topo.nodes.get(name)?;
    let (link, _) = topo.neighbours(name).find(|(l, _)| l.up)?;
    let here = link.endpoint(name)?;
    let peer = link.peer(name)?;
    Some(Route {
        prefix: Ipv6Net::default(),
        via: peer.addr,
        dev: here.ifname.clone(),
        target: String::new(),
        kind: RouteKind::Default,
        cost: 0,
        mtu: node.route_mtu,
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
        // Only routers forward: end systems and service functions are leaves.
        if g.nodes[node].kind == NodeKind::Router {
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
