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
//! the path may come back through the router it hangs off.

use std::cmp::Ordering;
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::fmt;
use std::net::Ipv6Addr;

use ipnet::Ipv6Net;
use serde::Serialize;

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
}

/// Work (labels created plus dominance comparisons) one search may do
/// before it gives up. Constrained shortest path is NP-hard: on hostile
/// inputs Pareto sets can grow exponentially. This bounds time (well under
/// a second) and memory per request; the answer is then an error, never a
/// silently worse path. Normal requests on 1000 nodes use ~10^4.
pub const MAX_WORK: usize = 20_000_000;

/// The search ran out of its label budget.
#[derive(Debug)]
struct GaveUp;

#[derive(Debug, Clone)]
struct Label {
    node: NodeId,
    stage: usize,
    crit: Criteria,
    parent: Option<usize>,
    edge: EdgeId,
    alive: bool,
}

/// Components of the key kept in the queue (a prefix of the full key).
const PREFIX: usize = 4;

/// f64 as u64 with the same order as `f64::total_cmp`.
fn ordered_bits(x: f64) -> u64 {
    let b = x.to_bits();
    if b >> 63 == 1 {
        !b
    } else {
        b | (1 << 63)
    }
}

/// The first components of the key as numbers where less is better. Queue
/// entries carry this instead of whole criteria (cheap to move and compare).
/// It is a coarsening of the key order: a < b by the key implies
/// prefix(a) <= prefix(b).
fn key_prefix(key: &[Metric], c: &Criteria) -> [u64; PREFIX] {
    let mut out = [0u64; PREFIX];
    for (slot, m) in out.iter_mut().zip(key) {
        *slot = match m {
            Metric::Latency => c.latency_us,
            Metric::Jitter => c.jitter_us,
            Metric::Loss => ordered_bits(c.loss_cost),
            Metric::WidestBottleneck => u64::MAX - c.bottleneck_kbps,
            Metric::NarrowestLink => c.widest_links_kbps[0],
            Metric::MaxUtilization => ordered_bits(c.max_utilization_pct),
            Metric::Igp => c.igp,
            Metric::Hops => u64::from(c.hops),
        };
        // NarrowestLink is itself lexicographic: only its first element is
        // a safe prefix, nothing after it.
        if *m == Metric::NarrowestLink {
            break;
        }
    }
    out
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

    /// Whether an existing path is still usable for `query` (links up, nodes
    /// allowed, waypoints in order, constraints met) and its criteria now.
    pub fn evaluate(&self, path: &Path, query: &Query) -> Option<Criteria> {
        if path
            .edges
            .iter()
            .any(|&e| !self.edge_usable(e, query.flex_algo))
        {
            return None;
        }
        let crit = self.measure(&path.edges);
        if !query.constraints.met_by(&crit) {
            return None;
        }
        Some(crit)
    }

    /// The best path from `src` to `dst` for `query`.
    pub fn best_path(&self, src: NodeId, dst: NodeId, query: &Query) -> Result<Path, NoPath> {
        self.best_path_within(src, dst, query, MAX_WORK)
    }

    /// [`Graph::best_path`] with an explicit work budget.
    pub fn best_path_within(
        &self,
        src: NodeId,
        dst: NodeId,
        query: &Query,
        max_work: usize,
    ) -> Result<Path, NoPath> {
        let from = self.nodes[src].name.clone();
        let to = self.nodes[dst].name.clone();
        let too_hard = |GaveUp| NoPath::TooHard {
            from: from.clone(),
            to: to.clone(),
            work: max_work,
        };
        if let Some(p) = self.search(src, dst, query, max_work).map_err(too_hard)? {
            return Ok(p);
        }
        let within = match query.flex_algo {
            Some(a) => format!(" within flex-algo {a}"),
            None => String::new(),
        };
        let within = if query.waypoints.is_empty() {
            within
        } else {
            let names: Vec<&str> = query.waypoints.iter().map(|w| w.name.as_str()).collect();
            format!("{within} through {}", names.join(", "))
        };
        if query.constraints.is_empty() {
            return Err(NoPath::Disconnected { from, to, within });
        }
        // Why: is there any path at all (same flex-algo and chain)? Fewest
        // hops is additive, so this is one Dijkstra.
        let any = Query {
            objective: vec![Metric::Hops],
            constraints: Constraints::default(),
            ..query.clone()
        };
        if self
            .search(src, dst, &any, max_work)
            .map_err(too_hard)?
            .is_none()
        {
            return Err(NoPath::Disconnected { from, to, within });
        }
        Err(NoPath::Constraints {
            from,
            to,
            constraints: query.constraints.to_string(),
            within,
        })
    }

    fn may_enter(&self, node: NodeId, stage: usize, dst: NodeId, query: &Query) -> Option<usize> {
        let n = &self.nodes[node];
        let next_wp = query.waypoints.get(stage);
        let is_wp = next_wp.is_some_and(|w| w.nodes.contains(&node));
        let stage = if is_wp { stage + 1 } else { stage };
        if node == dst {
            // The destination ends the path; it counts only once every waypoint is visited.
            return Some(stage);
        }
        match n.kind {
            NodeKind::EndSystem => None,
            NodeKind::ServiceFunction if !is_wp => None,
            _ => {
                if let Some(algo) = query.flex_algo {
                    if !n.flex_algos.contains(&algo) {
                        return None;
                    }
                }
                Some(stage)
            }
        }
    }

    fn search(
        &self,
        src: NodeId,
        dst: NodeId,
        query: &Query,
        max_work: usize,
    ) -> Result<Option<Path>, GaveUp> {
        if !query.constraints.met_by(&Criteria::EMPTY) {
            return Ok(None);
        }
        let key = query.key();
        let stages = query.waypoints.len() + 1;
        let final_stage = query.waypoints.len();
        let mut relevant: Vec<Metric> = key.clone();
        for m in query.constraints.metrics() {
            if !relevant.contains(&m) {
                relevant.push(m);
            }
        }
        // With no constraints and an additive key the lexicographic order is
        // isotone: one label per state suffices (plain Dijkstra).
        let total_order = query.constraints.is_empty() && key.iter().all(|m| m.additive());

        let start_stage = if query
            .waypoints
            .first()
            .is_some_and(|w| w.nodes.contains(&src))
        {
            1
        } else {
            0
        };
        let mut labels: Vec<Label> = Vec::with_capacity(self.nodes.len() * 2);
        let mut at: Vec<Vec<usize>> = vec![Vec::new(); self.nodes.len() * stages];
        let mut heap: BinaryHeap<Reverse<([u64; PREFIX], usize)>> = BinaryHeap::new();
        labels.push(Label {
            node: src,
            stage: start_stage,
            crit: Criteria::EMPTY,
            parent: None,
            edge: usize::MAX,
            alive: true,
        });
        at[src * stages + start_stage].push(0);
        heap.push(Reverse((key_prefix(&key, &Criteria::EMPTY), 0)));

        // Labels leave the queue in key-prefix order. The best destination
        // label seen so far is kept; once the queue's next prefix is worse
        // than its prefix nothing better can come (keys only worsen along a
        // path), so it is the optimum.
        let mut best: Option<usize> = None;
        let mut work = 0usize;
        while let Some(Reverse((prefix, li))) = heap.pop() {
            if let Some(b) = best {
                if prefix > key_prefix(&key, &labels[b].crit) {
                    break;
                }
            }
            if !labels[li].alive {
                continue;
            }
            let (node, stage, crit) = (labels[li].node, labels[li].stage, labels[li].crit);
            if node == dst && stage == final_stage {
                let better = best
                    .is_none_or(|b| compare_key(&key, &crit, &labels[b].crit) == Ordering::Less);
                if better {
                    best = Some(li);
                }
                continue;
            }
            if node == dst && node != src {
                // Reached the destination before the chain was done: a path
                // may not run through its own destination.
                continue;
            }
            for &e in &self.out[node] {
                if !self.edge_usable(e, query.flex_algo) {
                    continue;
                }
                let edge = &self.edges[e];
                let Some(next_stage) = self.may_enter(edge.to, stage, dst, query) else {
                    continue;
                };
                if edge.to == src {
                    continue;
                }
                let c = crit.extend(&edge.props, self.links[edge.link].igp_metric);
                if !query.constraints.met_by(&c) {
                    continue;
                }
                let slot = edge.to * stages + next_stage;
                work += at[slot].len() + 1;
                if work > max_work {
                    return Err(GaveUp);
                }
                let dominated = at[slot].iter().any(|&o| {
                    let oc = &labels[o].crit;
                    if total_order {
                        compare_key(&key, oc, &c) != Ordering::Greater
                    } else {
                        relevant.iter().all(|m| m.cmp(oc, &c) != Ordering::Greater)
                    }
                });
                if dominated {
                    continue;
                }
                let new = labels.len();
                at[slot].retain(|&o| {
                    let oc = labels[o].crit;
                    let worse = if total_order {
                        true
                    } else {
                        relevant.iter().all(|m| m.cmp(&c, &oc) != Ordering::Greater)
                    };
                    if worse {
                        labels[o].alive = false;
                    }
                    !worse
                });
                at[slot].push(new);
                labels.push(Label {
                    node: edge.to,
                    stage: next_stage,
                    crit: c,
                    parent: Some(li),
                    edge: e,
                    alive: true,
                });
                heap.push(Reverse((key_prefix(&key, &c), new)));
            }
        }
        Ok(best.map(|b| self.rebuild(&labels, b, query)))
    }

    fn rebuild(&self, labels: &[Label], last: usize, query: &Query) -> Path {
        let mut nodes = Vec::new();
        let mut edges = Vec::new();
        let mut cur = Some(last);
        while let Some(i) = cur {
            nodes.push(labels[i].node);
            if labels[i].parent.is_some() {
                edges.push(labels[i].edge);
            }
            cur = labels[i].parent;
        }
        nodes.reverse();
        edges.reverse();
        let waypoint_positions = waypoint_positions(&nodes, &query.waypoints);
        Path {
            nodes,
            edges,
            waypoint_positions,
            criteria: labels[last].crit,
        }
    }

    /// Underlay distances (IGP, up links, transit through routers and service
    /// functions) from `src`, with the number of equal-cost shortest paths
    /// (saturating at 2: only "unique or not" matters).
    pub fn igp_tree(&self, src: NodeId) -> (Vec<u64>, Vec<u8>) {
        let n = self.nodes.len();
        let mut dist = vec![u64::MAX; n];
        let mut count = vec![0u8; n];
        let mut done = vec![false; n];
        let mut heap = BinaryHeap::new();
        dist[src] = 0;
        count[src] = 1;
        heap.push(Reverse((0u64, src)));
        while let Some(Reverse((d, u))) = heap.pop() {
            if done[u] {
                continue;
            }
            done[u] = true;
            if u != src && self.nodes[u].kind == NodeKind::EndSystem {
                continue;
            }
            for &e in &self.out[u] {
                let link = &self.links[self.edges[e].link];
                if !link.up {
                    continue;
                }
                let v = self.edges[e].to;
                let nd = d.saturating_add(u64::from(link.igp_metric));
                match nd.cmp(&dist[v]) {
                    Ordering::Less => {
                        dist[v] = nd;
                        count[v] = count[u];
                        heap.push(Reverse((nd, v)));
                    }
                    Ordering::Equal => count[v] = count[v].saturating_add(count[u]).min(2),
                    Ordering::Greater => {}
                }
            }
        }
        (dist, count)
    }
}

/// Where along `nodes` each waypoint is visited (first match after the
/// previous one), as the search counted them.
fn waypoint_positions(nodes: &[NodeId], waypoints: &[Waypoint]) -> Vec<usize> {
    let mut pos = Vec::with_capacity(waypoints.len());
    let mut i = 0;
    for w in waypoints {
        while i < nodes.len() && !w.nodes.contains(&nodes[i]) {
            i += 1;
        }
        if i < nodes.len() {
            pos.push(i);
            i += 1;
        }
    }
    pos
}

/// Which SIDs a path is written with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SidMode {
    /// Every router and service function on the path except the access
    /// routers of the two end systems (hawkwing's lists).
    #[default]
    AllRouters,
    /// The fewest SIDs that still force the path, given underlay
    /// shortest-path routing on the IGP metric; waypoints always kept.
    Minimal,
}

/// Why a path cannot be written as a SID list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the path cannot be forced with SIDs: {node} has no SID and underlay routing would not follow the path")]
pub struct Unforceable {
    pub node: String,
}

impl Graph {
    /// The SID list (travel order) that makes traffic follow `path`.
    pub fn sid_list(&self, path: &Path, mode: SidMode) -> Result<Vec<Ipv6Addr>, Unforceable> {
        match mode {
            SidMode::AllRouters => Ok(self.all_router_sids(path)),
            SidMode::Minimal => self.minimal_sids(path),
        }
    }

    fn all_router_sids(&self, path: &Path) -> Vec<Ipv6Addr> {
        let n = path.nodes.len();
        let is_access = |i: usize| {
            let node = &self.nodes[path.nodes[i]];
            node.kind == NodeKind::Router
                && ((i == 1 && self.nodes[path.nodes[0]].kind == NodeKind::EndSystem)
                    || (i + 2 == n && self.nodes[path.nodes[n - 1]].kind == NodeKind::EndSystem))
        };
        (1..n.saturating_sub(1))
            .filter(|&i| !is_access(i) || path.waypoint_positions.contains(&i))
            .filter_map(|i| self.nodes[path.nodes[i]].sid)
            .collect()
    }

    fn minimal_sids(&self, path: &Path) -> Result<Vec<Ipv6Addr>, Unforceable> {
        let last = path.nodes.len() - 1;
        let mut prefix_cost = Vec::with_capacity(path.nodes.len());
        let mut acc = 0u64;
        prefix_cost.push(0);
        for &e in &path.edges {
            acc = acc.saturating_add(u64::from(self.links[self.edges[e].link].igp_metric));
            prefix_cost.push(acc);
        }
        let mut sids = Vec::new();
        let mut cur = 0;
        while cur < last {
            let (dist, count) = self.igp_tree(path.nodes[cur]);
            // The next mandatory stop: the first waypoint after `cur`, else the end.
            let limit = path
                .waypoint_positions
                .iter()
                .copied()
                .find(|&p| p > cur)
                .unwrap_or(last);
            let forced = |j: usize| {
                let v = path.nodes[j];
                dist[v] == prefix_cost[j] - prefix_cost[cur] && count[v] == 1
            };
            // Furthest j ≤ limit such that the underlay follows the path from
            // cur to j (every prefix forced too: unique shortest paths are
            // closed under prefixes, so checking j suffices) and j is
            // addressable (has a SID or is the end).
            let mut next = None;
            for j in (cur + 1..=limit).rev() {
                if forced(j) && (j == last || self.nodes[path.nodes[j]].sid.is_some()) {
                    next = Some(j);
                    break;
                }
            }
            let Some(j) = next else {
                return Err(Unforceable {
                    node: self.nodes[path.nodes[cur + 1]].name.clone(),
                });
            };
            if j != last {
                if let Some(sid) = self.nodes[path.nodes[j]].sid {
                    sids.push(sid);
                }
            }
            cur = j;
        }
        Ok(sids)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;

    fn p(bw: u64, lat: u64) -> LinkProps {
        LinkProps {
            bandwidth_kbps: Some(bw),
            latency_us: Some(lat),
            ..Default::default()
        }
    }

    /// a - r1 = { r2 (upper: 1 Gbit/s, 2 x 5 ms) | r3 (lower: 100 Mbit/s,
    /// 2 x 1 ms) } = r4 - b; access links 10 Gbit/s, 10 us. SIDs fc00:N::2.
    pub(crate) fn diamond() -> Graph {
        let mut g = Graph::new();
        g.add_node(Node::host("a", "2001:db8:1::a".parse().unwrap()));
        g.add_node(Node::host("b", "2001:db8:2::a".parse().unwrap()));
        for (i, r) in ["r1", "r2", "r3", "r4"].iter().enumerate() {
            g.add_node(Node::router(
                r,
                Some(format!("fc00:{}::2", i + 1).parse().unwrap()),
            ));
        }
        g.connect("a", "r1", p(10_000_000, 10)).unwrap();
        g.connect("r1", "r2", p(1_000_000, 5000)).unwrap();
        g.connect("r2", "r4", p(1_000_000, 5000)).unwrap();
        g.connect("r1", "r3", p(100_000, 1000)).unwrap();
        g.connect("r3", "r4", p(100_000, 1000)).unwrap();
        g.connect("r4", "b", p(10_000_000, 10)).unwrap();
        g
    }

    fn names(g: &Graph, path: &Path) -> Vec<String> {
        path.nodes
            .iter()
            .map(|&n| g.nodes[n].name.clone())
            .collect()
    }

    fn solve(g: &Graph, q: &Query) -> Result<Path, NoPath> {
        g.best_path(g.node_id("a").unwrap(), g.node_id("b").unwrap(), q)
    }

    #[test]
    fn widest_and_fastest_differ() {
        let g = diamond();
        let wide = solve(&g, &Query::new(&[Metric::WidestBottleneck])).unwrap();
        assert_eq!(names(&g, &wide), ["a", "r1", "r2", "r4", "b"]);
        assert_eq!(wide.criteria.bottleneck_kbps, 1_000_000);
        let fast = solve(&g, &Query::new(&[Metric::Latency])).unwrap();
        assert_eq!(names(&g, &fast), ["a", "r1", "r3", "r4", "b"]);
        assert_eq!(fast.criteria.latency_us, 2020);
        let narrow = solve(&g, &Query::new(&[Metric::NarrowestLink])).unwrap();
        // Access links are 10 Gbit/s on both and tie; then 100 Mbit/s < 1 Gbit/s.
        assert_eq!(names(&g, &narrow), ["a", "r1", "r3", "r4", "b"]);
        let mut g2 = g.clone();
        let fast = g2.links_between(g2.node_id("r1").unwrap(), g2.node_id("r3").unwrap())[0];
        // Make the lower path slow: the narrowest path still takes it.
        for e in [g2.links[fast].forward, g2.links[fast].forward + 1] {
            g2.edges[e].props.latency_us = Some(1_000_000);
        }
        let narrow = solve(&g2, &Query::new(&[Metric::NarrowestLink])).unwrap();
        assert_eq!(names(&g2, &narrow), ["a", "r1", "r3", "r4", "b"]);
        assert_eq!(
            narrow.criteria.widest_links_kbps[..3],
            [10_000_000, 10_000_000, 100_000]
        );
    }

    #[test]
    fn max_latency_forces_a_worse_bottleneck() {
        let g = diamond();
        let mut q = Query::new(&[Metric::WidestBottleneck]);
        q.constraints.max_latency_us = Some(3000);
        let path = solve(&g, &q).unwrap();
        assert_eq!(names(&g, &path), ["a", "r1", "r3", "r4", "b"]);
        q.constraints.max_latency_us = Some(2000);
        let err = solve(&g, &q).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no path from a to b meets latency <= 2000 us"
        );
    }

    #[test]
    fn min_bandwidth_is_a_hard_constraint() {
        let g = diamond();
        let mut q = Query::new(&[Metric::Latency]);
        q.constraints.min_bandwidth_kbps = Some(500_000);
        let path = solve(&g, &q).unwrap();
        assert_eq!(names(&g, &path), ["a", "r1", "r2", "r4", "b"]);
    }

    #[test]
    fn link_down_reroutes_and_disconnects() {
        let mut g = diamond();
        let l = g.links_between(g.node_id("r1").unwrap(), g.node_id("r3").unwrap())[0];
        g.links[l].up = false;
        let path = solve(&g, &Query::new(&[Metric::Latency])).unwrap();
        assert_eq!(names(&g, &path), ["a", "r1", "r2", "r4", "b"]);
        let l = g.links_between(g.node_id("r1").unwrap(), g.node_id("r2").unwrap())[0];
        g.links[l].up = false;
        assert_eq!(
            solve(&g, &Query::new(&[Metric::Latency])).unwrap_err(),
            NoPath::Disconnected {
                from: "a".into(),
                to: "b".into(),
                within: String::new()
            }
        );
    }

    #[test]
    fn hosts_are_never_transit() {
        let mut g = diamond();
        g.add_node(Node::host("c", "2001:db8:3::a".parse().unwrap()));
        // A zero-latency shortcut through host c must not be used.
        g.connect("r1", "c", p(1, 0)).unwrap();
        g.connect("c", "r4", p(1, 0)).unwrap();
        let path = solve(&g, &Query::new(&[Metric::Latency])).unwrap();
        assert_eq!(names(&g, &path), ["a", "r1", "r3", "r4", "b"]);
    }

    #[test]
    fn loss_multiplies() {
        let mut g = diamond();
        for e in &mut g.edges {
            e.props.loss_pct = Some(10.0);
        }
        let path = solve(&g, &Query::new(&[Metric::Loss])).unwrap();
        assert_eq!(path.criteria.hops, 4);
        assert!((path.criteria.loss_pct() - (1.0 - 0.9f64.powi(4)) * 100.0).abs() < 1e-9);
        let mut q = Query::new(&[Metric::Loss]);
        // Four links at 10 %: 1 - 0.9^4 = 34.39 % end to end.
        q.constraints.max_loss_pct = Some(34.0);
        assert!(matches!(solve(&g, &q), Err(NoPath::Constraints { .. })));
        q.constraints.max_loss_pct = Some(35.0);
        assert!(solve(&g, &q).is_ok());
    }

    #[test]
    fn sid_lists_default_and_minimal() {
        let g = diamond();
        let path = solve(&g, &Query::new(&[Metric::WidestBottleneck])).unwrap();
        let all = g.sid_list(&path, SidMode::AllRouters).unwrap();
        assert_eq!(all, vec!["fc00:2::2".parse::<Ipv6Addr>().unwrap()]);
        // IGP metric 1 everywhere: r1-r2-r4 and r1-r3-r4 tie, so r2 is needed.
        let min = g.sid_list(&path, SidMode::Minimal).unwrap();
        assert_eq!(min, vec!["fc00:2::2".parse::<Ipv6Addr>().unwrap()]);
        let mut g2 = g.clone();
        let l = g2.links_between(g2.node_id("r1").unwrap(), g2.node_id("r3").unwrap())[0];
        g2.links[l].igp_metric = 10;
        // Now the underlay itself takes the upper path: nothing to force.
        assert!(g2.sid_list(&path, SidMode::Minimal).unwrap().is_empty());
    }

    #[test]
    fn service_function_waypoint() {
        let mut g = diamond();
        g.add_node(Node::service_function(
            "fw",
            "fc00:f::2".parse().unwrap(),
            "firewall",
        ));
        g.connect("r2", "fw", p(1_000_000, 1)).unwrap();
        let fw = g.node_id("fw").unwrap();
        // Without a chain the function node is not transit.
        let plain = solve(&g, &Query::new(&[Metric::Latency])).unwrap();
        assert!(!plain.nodes.contains(&fw));
        let mut q = Query::new(&[Metric::Latency]);
        q.waypoints.push(Waypoint {
            name: "firewall".into(),
            nodes: [fw].into(),
        });
        let path = solve(&g, &q).unwrap();
        assert_eq!(names(&g, &path), ["a", "r1", "r2", "fw", "r2", "r4", "b"]);
        assert_eq!(path.waypoint_positions, vec![3]);
        let sids = g.sid_list(&path, SidMode::AllRouters).unwrap();
        let expect: Vec<Ipv6Addr> = ["fc00:2::2", "fc00:f::2", "fc00:2::2"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(sids, expect);
        let min = g.sid_list(&path, SidMode::Minimal).unwrap();
        assert_eq!(min, vec!["fc00:f::2".parse::<Ipv6Addr>().unwrap()]);
    }

    /// A ladder of 40 rungs, each with a fast-but-jittery and a slow-but-
    /// steady link: 2^40 mutually non-dominated partial paths. The search
    /// must give up with an error, not hang.
    #[test]
    fn exploding_pareto_sets_give_up() {
        let mut g = Graph::new();
        g.add_node(Node::host("a", "2001:db8:1::a".parse().unwrap()));
        g.add_node(Node::host("b", "2001:db8:2::a".parse().unwrap()));
        let rungs = 40;
        for i in 0..=rungs {
            g.add_node(Node::router(&format!("n{i}"), None));
            if i < rungs {
                g.add_node(Node::router(&format!("x{i}"), None));
                g.add_node(Node::router(&format!("y{i}"), None));
            }
        }
        let lj = |l, j| LinkProps {
            latency_us: Some(l),
            jitter_us: Some(j),
            ..Default::default()
        };
        g.connect("a", "n0", lj(0, 0)).unwrap();
        g.connect(&format!("n{rungs}"), "b", lj(0, 0)).unwrap();
        for i in 0..rungs {
            let w = 1u64 << (i % 30);
            let (n, m) = (format!("n{i}"), format!("n{}", i + 1));
            g.connect(&n, &format!("x{i}"), lj(w, 0)).unwrap();
            g.connect(&format!("x{i}"), &m, lj(0, 0)).unwrap();
            g.connect(&n, &format!("y{i}"), lj(0, w)).unwrap();
            g.connect(&format!("y{i}"), &m, lj(0, 0)).unwrap();
        }
        // Half the total jitter: the fastest feasible path needs about half
        // the slow links, and every cheaper prefix is explored first.
        let total: u64 = (0..rungs).map(|i| 1u64 << (i % 30)).sum();
        let mut q = Query::new(&[Metric::Latency]);
        q.constraints.max_jitter_us = Some(total / 2);
        let (a, b) = (g.node_id("a").unwrap(), g.node_id("b").unwrap());
        let err = g.best_path_within(a, b, &q, 200_000).unwrap_err();
        assert_eq!(
            err.to_string(),
            "path search from a to b gave up after 200000 label comparisons (constraints too hard on this graph)"
        );
        // Unconstrained it is a plain Dijkstra.
        assert_eq!(
            solve(&g, &Query::new(&[Metric::Latency]))
                .unwrap()
                .criteria
                .latency_us,
            0
        );
    }

    #[test]
    fn flex_algo_subgraph() {
        let mut g = Graph::new();
        g.add_node(Node::host("a", "2001:db8:1::a".parse().unwrap()));
        g.add_node(Node::host("b", "2001:db8:2::a".parse().unwrap()));
        g.add_node(Node::router("r1", None).with_algos(&[128, 129]));
        g.add_node(Node::router("r2", None).with_algos(&[128]));
        g.add_node(Node::router("r3", None).with_algos(&[129]));
        g.add_node(Node::router("r4", None).with_algos(&[128, 129]));
        let id = |g: &Graph, n: &str| g.node_id(n).unwrap();
        let algos = |a: &[u8]| a.iter().copied().collect::<BTreeSet<u8>>();
        let (a, b, r1, r2, r3, r4) = (
            id(&g, "a"),
            id(&g, "b"),
            id(&g, "r1"),
            id(&g, "r2"),
            id(&g, "r3"),
            id(&g, "r4"),
        );
        let d = LinkProps::default();
        g.add_link(a, r1, 1, d.clone(), d.clone(), algos(&[]));
        g.add_link(r1, r2, 1, d.clone(), d.clone(), algos(&[128]));
        g.add_link(r2, r4, 1, d.clone(), d.clone(), algos(&[128]));
        g.add_link(r1, r3, 5, d.clone(), d.clone(), algos(&[129]));
        g.add_link(r3, r4, 5, d.clone(), d.clone(), algos(&[129]));
        g.add_link(r4, b, 1, d.clone(), d, algos(&[]));
        let mut q = Query::new(&[Metric::Igp]);
        q.flex_algo = Some(129);
        assert_eq!(
            names(&g, &solve(&g, &q).unwrap()),
            ["a", "r1", "r3", "r4", "b"]
        );
        q.flex_algo = Some(128);
        assert_eq!(
            names(&g, &solve(&g, &q).unwrap()),
            ["a", "r1", "r2", "r4", "b"]
        );
        q.flex_algo = Some(130);
        assert!(matches!(solve(&g, &q), Err(NoPath::Disconnected { .. })));
    }
}
