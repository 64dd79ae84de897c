//! Underlay routes: what every node needs so that every SID and every host
//! prefix is reachable. Pure function of the model; labctl installs exactly
//! these routes (netlink for Linux routers, `ip route add` CLI for VPP), and
//! the controller writes SID lists for exactly this underlay.
//!
//! # Public API
//! - [`compute`]`(&Topology) -> BTreeMap<node, Vec<Route>>`
//! - [`count`] / [`count_by_node`]: how many routes [`compute`] gives, in
//!   memory and time linear in the topology (the table itself is quadratic:
//!   a chain of 5,000 routers has 25 million routes).
//! - [`Route`] `{ prefix, via, dev, target, kind, cost, mtu }`, [`RouteKind`]
//! - [`trace`]: the nodes a packet visits from a node to an address,
//!   following a computed table hop by hop.
//! - [`Underlay`]: the same routing on live link state (the controller's
//!   admin API changes links at run time): [`Underlay::shortest_paths`]
//!   gives costs, the chosen first link and whether the shortest path is
//!   unique, from any node. [`default_link`]: the rule for leaves.
//!
//! # Rules
//! - Routers get one route per routed prefix of every other node: each
//!   router's and service function's locator, each host/dns/controller
//!   prefix. The next hop is the first hop of the shortest path on the IGP
//!   metric, over links that are up, transiting routers only.
//! - Equal-cost paths: the one whose first link has the lowest link id wins
//!   (deterministic, no ECMP).
//! - Hosts, dns, controller and service functions (leaves) get one default
//!   route (`::/0`) over their first link that is up (lowest link id) to the
//!   node at its other end; end systems carry their `route_mtu` on it so an
//!   inserted SRH still fits into the link MTU. Whatever a leaf sends leaves
//!   over that link.
//! - A node's own prefix gets no route (its SID and addresses are local), and
//!   a destination that is unreachable because links are down gets none.

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BinaryHeap};
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
    /// The default route of a leaf (host, dns, controller, service function).
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

/// The link a leaf's default route uses: the lowest id among its links that
/// are up, given as `(link id, up)`.
pub fn default_link(links: impl IntoIterator<Item = (usize, bool)>) -> Option<usize> {
    links
        .into_iter()
        .filter(|&(_, up)| up)
        .map(|(id, _)| id)
        .min()
}

/// One link as seen from one of its ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Adjacent {
    link: usize,
    peer: usize,
    igp_metric: u32,
}

/// The graph routing runs on: nodes by index, which of them are routers
/// (only routers forward transit traffic), and the links that are up with
/// their IGP metric. [`Underlay::of`] builds it from a topology (node index
/// = position in `Topology::nodes`, link id = `Topology::links` index); a
/// consumer with live link state adds the links itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Underlay {
    routers: Vec<bool>,
    /// Links that are up, per node, in the order they were added.
    adj: Vec<Vec<Adjacent>>,
}

/// Shortest paths from one node (see [`Underlay::shortest_paths`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShortestPaths {
    cost: Vec<u64>,
    first_link: Vec<usize>,
    /// Number of shortest paths, saturating at 2 (only "unique or not" matters).
    count: Vec<u8>,
}

const UNREACHED: u64 = u64::MAX;
const NO_LINK: usize = usize::MAX;

impl ShortestPaths {
    /// Sum of IGP metrics to `node`; `None` if unreachable (0 for the source).
    pub fn cost(&self, node: usize) -> Option<u64> {
        self.cost.get(node).copied().filter(|&c| c != UNREACHED)
    }

    /// The link the source sends over towards `node` (lowest id among the
    /// shortest paths' first links); `None` for the source and unreachable nodes.
    pub fn first_link(&self, node: usize) -> Option<usize> {
        self.first_link.get(node).copied().filter(|&l| l != NO_LINK)
    }

    /// Whether exactly one shortest path reaches `node` (so the route to it
    /// is the same whatever tie-break or ECMP a router applies).
    pub fn unique(&self, node: usize) -> bool {
        self.count.get(node) == Some(&1)
    }
}

impl Underlay {
    /// Nodes `0..routers.len()`, without links; `routers[n]` = node n forwards.
    pub fn new(routers: Vec<bool>) -> Underlay {
        Underlay {
            adj: vec![Vec::new(); routers.len()],
            routers,
        }
    }

    /// The topology's underlay as declared in the file.
    pub fn of(topo: &Topology) -> Underlay {
        let index: BTreeMap<&str, usize> = topo
            .nodes
            .keys()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        let mut u = Underlay::new(
            topo.nodes
                .values()
                .map(|n| n.kind == NodeKind::Router)
                .collect(),
        );
        for l in &topo.links {
            if let (Some(&a), Some(&b)) =
                (index.get(l.a.node.as_str()), index.get(l.b.node.as_str()))
            {
                u.add_link(l.id, a, b, l.igp_metric, l.up);
            }
        }
        u
    }

    /// Add a link; links that are down carry nothing and are left out. IGP
    /// metrics are at least 1 everywhere ([`crate::units::check_igp_metric`]);
    /// a 0 counts as 1 here so costs strictly grow along a path.
    pub fn add_link(&mut self, id: usize, a: usize, b: usize, igp_metric: u32, up: bool) {
        if !up || a >= self.adj.len() || b >= self.adj.len() {
            return;
        }
        let igp_metric = igp_metric.max(1);
        self.adj[a].push(Adjacent {
            link: id,
            peer: b,
            igp_metric,
        });
        self.adj[b].push(Adjacent {
            link: id,
            peer: a,
            igp_metric,
        });
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.routers.len()
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.routers.is_empty()
    }

    /// The link a leaf's default route uses ([`default_link`]), with the
    /// node at its other end.
    pub fn default_link(&self, node: usize) -> Option<(usize, usize)> {
        let link = default_link(self.adj.get(node)?.iter().map(|a| (a.link, true)))?;
        self.adj[node]
            .iter()
            .find(|a| a.link == link)
            .map(|a| (a.link, a.peer))
    }

    /// The links `node` sends over: every link for a router, the default
    /// link for a leaf.
    fn exits(&self, node: usize) -> &[Adjacent] {
        if self.routers[node] {
            return &self.adj[node];
        }
        match self.default_link(node) {
            Some((link, _)) => {
                let at = self.adj[node].iter().position(|a| a.link == link);
                at.map_or(&[], |i| std::slice::from_ref(&self.adj[node][i]))
            }
            None => &[],
        }
    }

    /// Dijkstra on the IGP metric from `src`: transit through routers only;
    /// a leaf source sends over its default link only. Equal costs: the
    /// lowest first link id wins, as in [`compute`].
    pub fn shortest_paths(&self, src: usize) -> ShortestPaths {
        let n = self.routers.len();
        let mut sp = ShortestPaths {
            cost: vec![UNREACHED; n],
            first_link: vec![NO_LINK; n],
            count: vec![0; n],
        };
        if src >= n {
            return sp;
        }
        sp.cost[src] = 0;
        sp.count[src] = 1;
        let mut done = vec![false; n];
        let mut heap = BinaryHeap::from([Reverse((0u64, src))]);
        while let Some(Reverse((cost, node))) = heap.pop() {
            if std::mem::replace(&mut done[node], true) {
                continue;
            }
            // Only routers forward; a leaf source still sends.
            if node != src && !self.routers[node] {
                continue;
            }
            for &a in self.exits(node) {
                let first = if node == src {
                    a.link
                } else {
                    sp.first_link[node]
                };
                let next = cost.saturating_add(u64::from(a.igp_metric));
                // Metrics are >= 1: every shortest-path predecessor of a node
                // is settled before it, so its count and first link are final.
                match next.cmp(&sp.cost[a.peer]) {
                    Ordering::Less => {
                        sp.cost[a.peer] = next;
                        sp.first_link[a.peer] = first;
                        sp.count[a.peer] = sp.count[node];
                        heap.push(Reverse((next, a.peer)));
                    }
                    Ordering::Equal => {
                        sp.first_link[a.peer] = sp.first_link[a.peer].min(first);
                        sp.count[a.peer] = sp.count[a.peer].saturating_add(sp.count[node]).min(2);
                    }
                    Ordering::Greater => {}
                }
            }
        }
        sp
    }
}

/// The underlay routes of every node, key = node name (every node has an entry).
pub fn compute(topo: &Topology) -> BTreeMap<String, Vec<Route>> {
    let underlay = Underlay::of(topo);
    let mut out = BTreeMap::new();
    for (i, (name, node)) in topo.nodes.iter().enumerate() {
        let routes = if node.kind == NodeKind::Router {
            router_routes(topo, &underlay.shortest_paths(i), name)
        } else {
            default_route(topo, &underlay, i, name)
                .into_iter()
                .collect()
        };
        out.insert(name.clone(), routes);
    }
    out
}

/// The number of routes [`compute`] gives, summed over every node.
pub fn count(topo: &Topology) -> usize {
    counts(&Underlay::of(topo), topo).iter().sum()
}

/// The number of routes [`compute`] gives each node (`compute(t)[n].len()`),
/// without building any route.
pub fn count_by_node(topo: &Topology) -> BTreeMap<String, usize> {
    let counts = counts(&Underlay::of(topo), topo);
    topo.nodes.keys().cloned().zip(counts).collect()
}

fn default_route(topo: &Topology, underlay: &Underlay, index: usize, name: &str) -> Option<Route> {
    let node = topo.nodes.get(name)?;
    let (link, _) = underlay.default_link(index)?;
    let link = topo.links.get(link)?;
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

/// A router's routes: one per reachable routed prefix of another node.
fn router_routes(topo: &Topology, paths: &ShortestPaths, src: &str) -> Vec<Route> {
    let mut routes = Vec::new();
    for (i, node) in topo.nodes.values().enumerate() {
        let (Some(prefix), Some(cost), Some(first)) =
            (node.routed_prefix(), paths.cost(i), paths.first_link(i))
        else {
            continue;
        };
        let link = &topo.links[first];
        let (Some(here), Some(peer)) = (link.endpoint(src), link.peer(src)) else {
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
fn counts(u: &Underlay, topo: &Topology) -> Vec<usize> {
    let nodes: Vec<&Node> = topo.nodes.values().collect();
    let component = router_components(u);
    let mut prefixes_in = vec![0usize; component.iter().flatten().max().map_or(0, |c| c + 1)];
    let mut leaf_components = Vec::new();
    for (v, node) in nodes.iter().enumerate() {
        if node.routed_prefix().is_none() {
            continue;
        }
        leaf_components.clear();
        if let Some(c) = component[v] {
            leaf_components.push(c);
        } else {
            // A leaf counts once in each component it hangs off.
            leaf_components.extend(u.adj[v].iter().filter_map(|a| component[a.peer]));
            leaf_components.sort_unstable();
            leaf_components.dedup();
        }
        for &c in &leaf_components {
            prefixes_in[c] += 1;
        }
    }
    (0..nodes.len())
        .map(|v| match component[v] {
            Some(c) => prefixes_in[c] - usize::from(nodes[v].routed_prefix().is_some()),
            None => usize::from(u.default_link(v).is_some()),
        })
        .collect()
}

/// node -> its router component (`None` for leaves).
fn router_components(u: &Underlay) -> Vec<Option<usize>> {
    let mut component = vec![None; u.len()];
    let mut next = 0;
    let mut stack = Vec::new();
    for start in (0..u.len()).filter(|&v| u.routers[v]) {
        if component[start].is_some() {
            continue;
        }
        component[start] = Some(next);
        stack.push(start);
        while let Some(v) = stack.pop() {
            for a in &u.adj[v] {
                if u.routers[a.peer] && component[a.peer].is_none() {
                    component[a.peer] = Some(next);
                    stack.push(a.peer);
                }
            }
        }
        next += 1;
    }
    component
}

/// Why [`trace`] could not reach the destination.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceError {
    #[error("{node} has no route to {dst}")]
    NoRoute { node: String, dst: Ipv6Addr },
    #[error("{node}: no link {dev} with next hop {via}")]
    BadNextHop {
        node: String,
        dev: String,
        via: Ipv6Addr,
    },
    #[error("routing loop towards {dst}: {path:?}")]
    Loop { dst: Ipv6Addr, path: Vec<String> },
}

/// The nodes a packet for `dst` visits from `from` (inclusive) to the node
/// owning `dst` (its SID or address), following `table` hop by hop with
/// longest-prefix match.
pub fn trace(
    topo: &Topology,
    table: &BTreeMap<String, Vec<Route>>,
    from: &str,
    dst: Ipv6Addr,
) -> Result<Vec<String>, TraceError> {
    let owns = |name: &str| {
        topo.nodes
            .get(name)
            .is_some_and(|n| n.sid == Some(dst) || n.address == Some(dst))
    };
    let mut path = vec![from.to_owned()];
    for _ in 0..=topo.nodes.len() {
        let at = path[path.len() - 1].clone();
        if owns(&at) {
            return Ok(path);
        }
        let no_route = || TraceError::NoRoute {
            node: at.clone(),
            dst,
        };
        let route = table
            .get(&at)
            .ok_or_else(no_route)?
            .iter()
            .filter(|r| r.prefix.contains(&dst))
            .max_by_key(|r| r.prefix.prefix_len())
            .ok_or_else(no_route)?;
        let peer = topo
            .links
            .iter()
            .filter(|l| l.endpoint(&at).is_some_and(|e| e.ifname == route.dev))
            .find_map(|l| l.peer(&at).filter(|p| p.addr == route.via))
            .ok_or_else(|| TraceError::BadNextHop {
                node: at.clone(),
                dev: route.dev.clone(),
                via: route.via,
            })?;
        path.push(peer.node.clone());
    }
    Err(TraceError::Loop { dst, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 0 = host, 1 = r1, 2 = r2, 3 = r3, 4 = service function on r1 and r3.
    /// r1-r2-r3 costs 20; through the service function it would cost 2.
    fn square() -> Underlay {
        let mut u = Underlay::new(vec![false, true, true, true, false]);
        u.add_link(0, 0, 1, 1, true);
        u.add_link(1, 1, 2, 10, true);
        u.add_link(2, 2, 3, 10, true);
        u.add_link(3, 4, 1, 1, true);
        u.add_link(4, 4, 3, 1, true);
        u
    }

    #[test]
    fn leaves_never_transit_and_send_over_their_default_link() {
        let u = square();
        let from_r1 = u.shortest_paths(1);
        assert_eq!(from_r1.cost(3), Some(20));
        assert_eq!(from_r1.first_link(3), Some(1));
        assert!(from_r1.unique(3));
        assert_eq!(from_r1.cost(4), Some(1));
        // The service function leaves over link 3 (its lowest id) only.
        let from_sf = u.shortest_paths(4);
        assert_eq!(u.default_link(4), Some((3, 1)));
        assert_eq!(from_sf.cost(3), Some(21));
        assert_eq!(from_sf.first_link(3), Some(3));
        assert_eq!(from_sf.cost(4), Some(0));
        assert_eq!(from_sf.first_link(4), None);
        // The host reaches r3 through r1 and r2, never through the function.
        assert_eq!(u.shortest_paths(0).cost(3), Some(21));
    }

    #[test]
    fn equal_costs_are_counted_and_the_lowest_first_link_wins() {
        // r0 reaches r3 over r1 (links 1, 3) or r2 (links 0, 2) at cost 2.
        let mut u = Underlay::new(vec![true; 4]);
        u.add_link(1, 0, 1, 1, true);
        u.add_link(0, 0, 2, 1, true);
        u.add_link(3, 1, 3, 1, true);
        u.add_link(2, 2, 3, 1, true);
        let sp = u.shortest_paths(0);
        assert_eq!(sp.cost(3), Some(2));
        assert!(!sp.unique(3));
        assert_eq!(sp.first_link(3), Some(0));
        assert!(sp.unique(1));
        // A link that is down carries nothing.
        let mut down = Underlay::new(vec![true; 4]);
        down.add_link(1, 0, 1, 1, true);
        down.add_link(0, 0, 2, 1, false);
        down.add_link(3, 1, 3, 1, true);
        down.add_link(2, 2, 3, 1, true);
        let sp = down.shortest_paths(0);
        assert!(sp.unique(3));
        assert_eq!(sp.first_link(3), Some(1));
        assert_eq!(sp.cost(2), Some(3));
    }

    #[test]
    fn default_link_is_the_lowest_up_link() {
        assert_eq!(default_link([(4, true), (2, false), (3, true)]), Some(3));
        assert_eq!(default_link([(2, false)]), None);
    }
}
