//! Exact path computation on a directed graph (pure: no I/O, no gRPC).
//!
//! The graph holds nodes (routers, service functions, end systems) and one
//! directed edge per link direction with that direction's properties. A
//! [`Query`] names a lexicographic objective (a list of [`Metric`]s), hard
//! [`Constraints`], an optional flex-algo and an ordered list of service
//! function waypoints. [`Graph::best_path`] solves it exactly:
//!
//! * **Label setting with Pareto labels** (resource-constrained shortest
//!   path). A label is a partial path from the source with its accumulated
//!   [`Criteria`]. Every criterion is monotone under extension (sums only grow,
//!   a bottleneck only narrows, a maximum only grows), so a prefix that breaks
//!   a constraint can never become feasible (dropping it loses nothing), and a
//!   label that is no better than another label at the same (node, stage) in
//!   every *relevant* criterion (objective + constrained ones) can be dropped:
//!   every completion of it is matched by the same completion of the other.
//!   Labels leave the queue in objective order and the objective strictly
//!   worsens along a path (hop count is the last tie-break), so the first
//!   label to reach the destination is optimal.
//! * With no constraints and only additive metrics the lexicographic order is
//!   itself isotone, and the same loop keeps one label per state (Dijkstra).
//!
//! Paths are simple in (node, stage): a service function may be visited and
//! the path may come back through the router it hangs off. Leaves (end
//! systems, service functions) send only over their default route's link,
//! as the underlay (`topology::routes`) makes them.
//!
//! # Layout
//! - this file: the graph, measures, queries and paths;
//! - `search`: the label-setting search ([`Graph::best_path`]);
//! - `sids`: SID lists for a path ([`Graph::sid_list`]), on the underlay
//!   of `topology::routes` ([`Graph::underlay`]).

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::net::Ipv6Addr;

use ipnet::Ipv6Net;
use serde::Serialize;
use topology::routes::{self, Underlay};

mod search;
mod sids;
#[cfg(test)]
pub(crate) mod tests;

pub use search::{Budget, MAX_WORK};
pub use sids::{SidListError, SidMode};

/// Index of a node in [`Graph::nodes`].
pub type NodeId = usize;
/// Index of a directed edge in [`Graph::edges`].
pub type EdgeId = usize;

/// What a node may do on a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeKind {
    /// Forwards; transit allowed; its SID is used in SID lists.
    Router,
    /// Applies a function; transit only where an SFC names it.
    ServiceFunction,
    /// Host, DNS, controller: only the first or last node of a path.
    EndSystem,
}

/// A node of the path-computation graph.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Node {
    pub name: String,
    pub kind: NodeKind,
    /// End SID (routers and service functions).
    pub sid: Option<Ipv6Addr>,
    /// Service address (end systems).
    pub address: Option<Ipv6Addr>,
    /// Routed prefix (end systems).
    pub prefix: Option<Ipv6Net>,
    /// Function name (service functions).
    pub function: Option<String>,
    /// Flex-algos the node takes part in.
    pub flex_algos: BTreeSet<u8>,
}

impl Node {
    /// A router with a SID.
    pub fn router(name: &str, sid: Option<Ipv6Addr>) -> Node {
        Node {
            name: name.to_owned(),
            kind: NodeKind::Router,
            sid,
            address: None,
            prefix: None,
            function: None,
            flex_algos: BTreeSet::new(),
        }
    }

    /// An end system with an address and the /48 around it.
    pub fn host(name: &str, address: Ipv6Addr) -> Node {
        Node {
            name: name.to_owned(),
            kind: NodeKind::EndSystem,
            sid: None,
            address: Some(address),
            prefix: Ipv6Net::new(address, 48).ok().map(|n| n.trunc()),
            function: None,
            flex_algos: BTreeSet::new(),
        }
    }

    /// A service function with a SID.
    pub fn service_function(name: &str, sid: Ipv6Addr, function: &str) -> Node {
        Node {
            kind: NodeKind::ServiceFunction,
            function: Some(function.to_owned()),
            ..Node::router(name, Some(sid))
        }
    }

    /// Builder: the node takes part in these flex-algos.
    pub fn with_algos(mut self, algos: &[u8]) -> Node {
        self.flex_algos = algos.iter().copied().collect();
        self
    }
}

/// Properties of one direction of a link (kbit/s, µs, µs, %, %): the
/// topology model's type. `None` means not declared: unlimited bandwidth,
/// zero latency, jitter, loss and utilisation.
pub use topology::LinkProps;

/// One direction of a link.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Edge {
    pub from: NodeId,
    pub to: NodeId,
    /// The link this direction belongs to (index in [`Graph::links`]).
    pub link: usize,
    pub props: LinkProps,
}

/// A bidirectional link: two edges sharing state, metric and flex-algos.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Link {
    /// Edge a -> b; `forward + 1` is b -> a.
    pub forward: EdgeId,
    pub igp_metric: u32,
    pub up: bool,
    pub flex_algos: BTreeSet<u8>,
}

/// The graph paths are computed on.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    pub links: Vec<Link>,
    /// Outgoing edges per node.
    out: Vec<Vec<EdgeId>>,
    #[serde(skip)]
    by_name: HashMap<String, NodeId>,
}

/// A criterion a path is measured by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Metric {
    /// Sum of latencies (less is better).
    Latency,
    /// Sum of jitters (less is better).
    Jitter,
    /// Sum of −ln(1 − p) (less is better): path loss 1 − ∏(1 − p).
    Loss,
    /// Bottleneck bandwidth (more is better): widest path.
    WidestBottleneck,
    /// The path's link bandwidths from the widest down, compared
    /// lexicographically (less is better; "leximax" over the
    /// [`WIDEST_LINKS`] widest links): the narrowest path, leaving fat links
    /// to those who need them. Links every path shares (access links) tie
    /// and the next widest decides.
    NarrowestLink,
    /// Utilisation of the most utilised link (less is better).
    MaxUtilization,
    /// Sum of IGP metrics (less is better).
    Igp,
    /// Number of links (less is better).
    Hops,
}

impl Metric {
    fn additive(self) -> bool {
        matches!(
            self,
            Metric::Latency | Metric::Jitter | Metric::Loss | Metric::Igp | Metric::Hops
        )
    }

    /// Less = `a` is better than `b`.
    fn cmp(self, a: &Criteria, b: &Criteria) -> Ordering {
        match self {
            Metric::Latency => a.latency_us.cmp(&b.latency_us),
            Metric::Jitter => a.jitter_us.cmp(&b.jitter_us),
            Metric::Loss => a.loss_cost.total_cmp(&b.loss_cost),
            Metric::WidestBottleneck => b.bottleneck_kbps.cmp(&a.bottleneck_kbps),
            Metric::NarrowestLink => a.widest_links_kbps.cmp(&b.widest_links_kbps),
            Metric::MaxUtilization => a.max_utilization_pct.total_cmp(&b.max_utilization_pct),
            Metric::Igp => a.igp.cmp(&b.igp),
            Metric::Hops => a.hops.cmp(&b.hops),
        }
    }
}

/// Hard limits every returned path meets.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Constraints {
    /// Every link's bandwidth ≥ this (kbit/s).
    pub min_bandwidth_kbps: Option<u64>,
    /// Sum of latencies ≤ this (µs).
    pub max_latency_us: Option<u64>,
    /// Sum of jitters ≤ this (µs).
    pub max_jitter_us: Option<u64>,
    /// End-to-end loss 1 − ∏(1 − p) ≤ this (%).
    pub max_loss_pct: Option<f64>,
}

impl Constraints {
    fn is_empty(&self) -> bool {
        *self == Constraints::default()
    }

    fn metrics(&self) -> impl Iterator<Item = Metric> + '_ {
        [
            self.min_bandwidth_kbps.map(|_| Metric::WidestBottleneck),
            self.max_latency_us.map(|_| Metric::Latency),
            self.max_jitter_us.map(|_| Metric::Jitter),
            self.max_loss_pct.map(|_| Metric::Loss),
        ]
        .into_iter()
        .flatten()
    }

    /// Whether accumulated criteria still meet every limit.
    pub fn met_by(&self, c: &Criteria) -> bool {
        self.min_bandwidth_kbps
            .is_none_or(|m| c.bottleneck_kbps >= m)
            && self.max_latency_us.is_none_or(|m| c.latency_us <= m)
            && self.max_jitter_us.is_none_or(|m| c.jitter_us <= m)
            && self
                .max_loss_pct
                .is_none_or(|m| c.loss_cost <= loss_cost(m))
    }
}

impl fmt::Display for Constraints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(m) = self.min_bandwidth_kbps {
            parts.push(format!("bandwidth >= {m} kbit/s"));
        }
        if let Some(m) = self.max_latency_us {
            parts.push(format!("latency <= {m} us"));
        }
        if let Some(m) = self.max_jitter_us {
            parts.push(format!("jitter <= {m} us"));
        }
        if let Some(m) = self.max_loss_pct {
            parts.push(format!("loss <= {m} %"));
        }
        f.write_str(&parts.join(", "))
    }
}

/// −ln(1 − p/100): additive per link, sums to −ln(end-to-end delivery).
pub fn loss_cost(pct: f64) -> f64 {
    -(1.0 - (pct / 100.0).clamp(0.0, 1.0)).ln()
}

/// One waypoint of a service function chain: any node of the set will do.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Waypoint {
    /// As the request named it (function or node name).
    pub name: String,
    pub nodes: BTreeSet<NodeId>,
}

/// What to compute.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Query {
    /// Lexicographic objective; `Latency` then `Hops` are appended as final
    /// tie-breaks when absent.
    pub objective: Vec<Metric>,
    pub constraints: Constraints,
    /// Only nodes and router-to-router links of this flex-algo.
    pub flex_algo: Option<u8>,
    /// Visit these in order.
    pub waypoints: Vec<Waypoint>,
}

impl Query {
    /// A query with just an objective.
    pub fn new(objective: &[Metric]) -> Query {
        Query {
            objective: objective.to_vec(),
            constraints: Constraints::default(),
            flex_algo: None,
            waypoints: Vec::new(),
        }
    }

    /// The full lexicographic key: objective, then latency, then hops.
    pub fn key(&self) -> Vec<Metric> {
        let mut key: Vec<Metric> = Vec::with_capacity(self.objective.len() + 2);
        for m in self
            .objective
            .iter()
            .copied()
            .chain([Metric::Latency, Metric::Hops])
        {
            if !key.contains(&m) {
                key.push(m);
            }
        }
        key
    }

    /// Compare two paths' criteria by the key (Less = `a` better).
    pub fn compare(&self, a: &Criteria, b: &Criteria) -> Ordering {
        compare_key(&self.key(), a, b)
    }
}

fn compare_key(key: &[Metric], a: &Criteria, b: &Criteria) -> Ordering {
    for m in key {
        match m.cmp(a, b) {
            Ordering::Equal => continue,
            o => return o,
        }
    }
    Ordering::Equal
}

/// How many of a path's widest links the low-bandwidth measure compares.
/// Keeping the top few (not all) keeps [`Criteria`] `Copy`; the measure is
/// still monotone and isotone, so the search stays exact for it.
pub const WIDEST_LINKS: usize = 8;

/// Insert into a widest-first array, dropping the narrowest.
fn insert_desc(mut top: [u64; WIDEST_LINKS], bw: u64) -> [u64; WIDEST_LINKS] {
    let mut carry = bw;
    for slot in top.iter_mut() {
        if carry > *slot {
            std::mem::swap(&mut carry, slot);
        }
    }
    top
}

/// Accumulated measures of a (partial) path.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Criteria {
    pub latency_us: u64,
    pub jitter_us: u64,
    /// Sum of −ln(1 − p) over links.
    pub loss_cost: f64,
    /// Smallest link bandwidth (u64::MAX: none declared).
    pub bottleneck_kbps: u64,
    /// The widest link bandwidths, widest first, 0-padded (u64::MAX: not
    /// declared).
    pub widest_links_kbps: [u64; WIDEST_LINKS],
    pub max_utilization_pct: f64,
    pub igp: u64,
    pub hops: u32,
}

impl Criteria {
    /// The empty path.
    pub const EMPTY: Criteria = Criteria {
        latency_us: 0,
        jitter_us: 0,
        loss_cost: 0.0,
        bottleneck_kbps: u64::MAX,
        widest_links_kbps: [0; WIDEST_LINKS],
        max_utilization_pct: 0.0,
        igp: 0,
        hops: 0,
    };

    /// The path extended by one link direction.
    pub fn extend(&self, props: &LinkProps, igp_metric: u32) -> Criteria {
        let bw = props.bandwidth_kbps.unwrap_or(u64::MAX);
        Criteria {
            latency_us: self
                .latency_us
                .saturating_add(props.latency_us.unwrap_or(0)),
            jitter_us: self.jitter_us.saturating_add(props.jitter_us.unwrap_or(0)),
            loss_cost: self.loss_cost + loss_cost(props.loss_pct.unwrap_or(0.0)),
            bottleneck_kbps: self.bottleneck_kbps.min(bw),
            widest_links_kbps: insert_desc(self.widest_links_kbps, bw),
            max_utilization_pct: self
                .max_utilization_pct
                .max(props.utilization_pct.unwrap_or(0.0)),
            igp: self.igp.saturating_add(u64::from(igp_metric)),
            hops: self.hops.saturating_add(1),
        }
    }

    /// End-to-end loss in percent.
    pub fn loss_pct(&self) -> f64 {
        (1.0 - (-self.loss_cost).exp()) * 100.0
    }
}

/// A computed path.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Path {
    /// Nodes in travel order, source first.
    pub nodes: Vec<NodeId>,
    /// Edges in travel order (`nodes.len() - 1` of them).
    pub edges: Vec<EdgeId>,
    /// Index in `nodes` where each waypoint was visited.
    pub waypoint_positions: Vec<usize>,
    pub criteria: Criteria,
}

/// Why no path was returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoPath {
    #[error("no path from {from} to {to}{within}")]
    Disconnected {
        from: String,
        to: String,
        within: String,
    },
    #[error("no path from {from} to {to} meets {constraints}{within}")]
    Constraints {
        from: String,
        to: String,
        constraints: String,
        within: String,
    },
    #[error("path search from {from} to {to} gave up after {work} label comparisons (constraints too hard on this graph)")]
    TooHard {
        from: String,
        to: String,
        work: usize,
    },
    #[error("path search cancelled (the client went away)")]
    Cancelled,
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Graph {
        Graph::default()
    }

    /// Add a node; names must be unique (a repeated name replaces the lookup).
    pub fn add_node(&mut self, node: Node) -> NodeId {
        let id = self.nodes.len();
        self.by_name.insert(node.name.clone(), id);
        self.nodes.push(node);
        self.out.push(Vec::new());
        id
    }

    /// Add a link (both directions); returns its index.
    pub fn add_link(
        &mut self,
        a: NodeId,
        b: NodeId,
        igp_metric: u32,
        a_to_b: LinkProps,
        b_to_a: LinkProps,
        flex_algos: BTreeSet<u8>,
    ) -> usize {
        let link = self.links.len();
        let forward = self.edges.len();
        self.edges.push(Edge {
            from: a,
            to: b,
            link,
            props: a_to_b,
        });
        self.edges.push(Edge {
            from: b,
            to: a,
            link,
            props: b_to_a,
        });
        self.out[a].push(forward);
        self.out[b].push(forward + 1);
        self.links.push(Link {
            forward,
            igp_metric,
            up: true,
            flex_algos,
        });
        link
    }

    /// Add a symmetric link between two named nodes (test and bench helper).
    pub fn connect(&mut self, a: &str, b: &str, props: LinkProps) -> Option<usize> {
        let (a, b) = (self.node_id(a)?, self.node_id(b)?);
        Some(self.add_link(a, b, 1, props.clone(), props, BTreeSet::new()))
    }

    /// Node by name.
    pub fn node_id(&self, name: &str) -> Option<NodeId> {
        self.by_name.get(name).copied()
    }

    /// The end system whose address equals `addr`, else the one whose prefix
    /// holds it (longest prefix wins).
    pub fn node_for_address(&self, addr: Ipv6Addr) -> Option<NodeId> {
        let ends = || {
            self.nodes
                .iter()
                .enumerate()
                .filter(|(_, n)| n.kind == NodeKind::EndSystem)
        };
        ends()
            .find(|(_, n)| n.address == Some(addr))
            .or_else(|| {
                ends()
                    .filter(|(_, n)| n.prefix.is_some_and(|p| p.contains(&addr)))
                    .max_by_key(|(_, n)| n.prefix.map(|p| p.prefix_len()))
            })
            .map(|(i, _)| i)
    }

    /// The links joining two nodes (either orientation), in index order.
    pub fn links_between(&self, a: NodeId, b: NodeId) -> Vec<usize> {
        self.out[a]
            .iter()
            .filter(|&&e| self.edges[e].to == b)
            .map(|&e| self.edges[e].link)
            .collect()
    }

    /// Edge `a -> b` of a link, if `a` is one of its ends.
    pub fn link_edge_from(&self, link: usize, a: NodeId) -> Option<EdgeId> {
        let f = self.links.get(link)?.forward;
        if self.edges[f].from == a {
            Some(f)
        } else if self.edges[f + 1].from == a {
            Some(f + 1)
        } else {
            None
        }
    }

    /// Outgoing edges of a node.
    pub fn out_edges(&self, node: NodeId) -> &[EdgeId] {
        &self.out[node]
    }

    /// Whether the edge may be used at all under a flex-algo restriction.
    fn edge_usable(&self, e: EdgeId, flex_algo: Option<u8>) -> bool {
        let edge = &self.edges[e];
        let link = &self.links[edge.link];
        if !link.up {
            return false;
        }
        match flex_algo {
            None => true,
            Some(algo) => {
                // Access links (touching an end system) belong to no algo.
                let access = self.nodes[edge.from].kind == NodeKind::EndSystem
                    || self.nodes[edge.to].kind == NodeKind::EndSystem;
                access || link.flex_algos.contains(&algo)
            }
        }
    }

    /// Criteria of a given edge sequence from the empty path.
    pub fn measure(&self, edges: &[EdgeId]) -> Criteria {
        edges.iter().fold(Criteria::EMPTY, |c, &e| {
            let edge = &self.edges[e];
            c.extend(&edge.props, self.links[edge.link].igp_metric)
        })
    }

    /// Whether an existing path is still usable for `query` (links up, leaves
    /// leaving over their default link, constraints met) and its criteria now.
    pub fn evaluate(&self, path: &Path, query: &Query) -> Option<Criteria> {
        let usable = path
            .edges
            .iter()
            .zip(&path.nodes)
            .all(|(&e, &from)| self.edge_usable(e, query.flex_algo) && self.may_leave(from, e));
        if !usable {
            return None;
        }
        let crit = self.measure(&path.edges);
        if !query.constraints.met_by(&crit) {
            return None;
        }
        Some(crit)
    }

    /// The underlay as routing sees it now (links up or down and IGP
    /// metrics as the admin API left them): `topology::routes`' definition,
    /// the one labctl installs routes by. Node ids and link ids are this
    /// graph's.
    pub fn underlay(&self) -> Underlay {
        let mut u = Underlay::new(
            self.nodes
                .iter()
                .map(|n| n.kind == NodeKind::Router)
                .collect(),
        );
        for (id, l) in self.links.iter().enumerate() {
            let e = &self.edges[l.forward];
            u.add_link(id, e.from, e.to, l.igp_metric, l.up);
        }
        u
    }

    /// The link a leaf (end system or service function) sends everything
    /// over: its default route's (`topology::routes::default_link`).
    pub fn default_link(&self, node: NodeId) -> Option<usize> {
        routes::default_link(self.out[node].iter().map(|&e| {
            let link = self.edges[e].link;
            (link, self.links[link].up)
        }))
    }
}
