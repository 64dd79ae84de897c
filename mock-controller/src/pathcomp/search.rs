//! Label setting with Pareto labels (the module docs of [`super`] say why it
//! is exact), with a work budget and a cancel flag.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};

use super::{
    compare_key, Constraints, Criteria, EdgeId, Graph, Metric, NoPath, NodeId, NodeKind, Path,
    Query, Waypoint,
};

/// Work (labels created plus dominance comparisons) one search may do
/// before it gives up. Constrained shortest path is NP-hard: on hostile
/// inputs Pareto sets can grow exponentially. This bounds time (well under
/// a second) and memory per request; the answer is then an error, never a
/// silently worse path. Normal requests on 1000 nodes use ~10^4.
pub const MAX_WORK: usize = 20_000_000;

/// How much one search may do, and a flag that stops it early (the client
/// that asked went away).
#[derive(Debug, Clone, Copy)]
pub struct Budget<'a> {
    pub max_work: usize,
    pub cancel: Option<&'a AtomicBool>,
}

impl Default for Budget<'_> {
    fn default() -> Self {
        Budget {
            max_work: MAX_WORK,
            cancel: None,
        }
    }
}

/// Work between two looks at the cancel flag.
const CANCEL_CHECK_EVERY: usize = 1 << 14;

/// Why the search stopped without an answer.
#[derive(Debug)]
enum Stopped {
    /// The work budget ran out.
    GaveUp,
    /// The cancel flag was set.
    Cancelled,
}

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

/// " within flex-algo N through F1, F2" for messages.
fn scope(query: &Query) -> String {
    let mut within = match query.flex_algo {
        Some(a) => format!(" within flex-algo {a}"),
        None => String::new(),
    };
    if !query.waypoints.is_empty() {
        let names: Vec<&str> = query.waypoints.iter().map(|w| w.name.as_str()).collect();
        within.push_str(&format!(" through {}", names.join(", ")));
    }
    within
}

impl Graph {
    /// The best path from `src` to `dst` for `query`.
    pub fn best_path(&self, src: NodeId, dst: NodeId, query: &Query) -> Result<Path, NoPath> {
        self.best_path_with(src, dst, query, Budget::default())
    }

    /// [`Graph::best_path`] with an explicit work budget.
    pub fn best_path_within(
        &self,
        src: NodeId,
        dst: NodeId,
        query: &Query,
        max_work: usize,
    ) -> Result<Path, NoPath> {
        let budget = Budget {
            max_work,
            cancel: None,
        };
        self.best_path_with(src, dst, query, budget)
    }

    /// [`Graph::best_path`] within `budget`.
    pub fn best_path_with(
        &self,
        src: NodeId,
        dst: NodeId,
        query: &Query,
        budget: Budget<'_>,
    ) -> Result<Path, NoPath> {
        let from = self.nodes[src].name.clone();
        let to = self.nodes[dst].name.clone();
        let stopped = |s: Stopped| match s {
            Stopped::GaveUp => NoPath::TooHard {
                from: from.clone(),
                to: to.clone(),
                work: budget.max_work,
            },
            Stopped::Cancelled => NoPath::Cancelled,
        };
        if let Some(p) = Search::new(self, src, dst, query, budget)
            .run()
            .map_err(stopped)?
        {
            return Ok(p);
        }
        let within = scope(query);
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
        let found = Search::new(self, src, dst, &any, budget)
            .run()
            .map_err(stopped)?;
        if found.is_none() {
            return Err(NoPath::Disconnected { from, to, within });
        }
        Err(NoPath::Constraints {
            from,
            to,
            constraints: query.constraints.to_string(),
            within,
        })
    }

    /// The stage after entering `node` at `stage`, or `None` if the path may
    /// not enter it: end systems only as the destination, service functions
    /// only as the waypoint due, routers outside the flex-algo never.
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

    /// The one link traffic at `node` may leave over: `None` for a router
    /// (any link); for a leaf (end system, service function) its default
    /// route's link, as the underlay sends it (`Some(None)`: none is up).
    pub(crate) fn sole_exit(&self, node: NodeId) -> Option<Option<usize>> {
        (self.nodes[node].kind != NodeKind::Router).then(|| self.default_link(node))
    }

    /// Whether traffic at `node` can leave over edge `e` ([`Graph::sole_exit`]).
    pub(crate) fn may_leave(&self, node: NodeId, e: EdgeId) -> bool {
        self.sole_exit(node)
            .is_none_or(|only| only == Some(self.edges[e].link))
    }
}

/// Whether `a` is at least as good as `b` in every measure of `relevant`.
fn no_worse(relevant: &[Metric], a: &Criteria, b: &Criteria) -> bool {
    relevant.iter().all(|m| m.cmp(a, b) != Ordering::Greater)
}

/// One run of the label-setting search.
struct Search<'g, 'q> {
    g: &'g Graph,
    src: NodeId,
    dst: NodeId,
    query: &'q Query,
    budget: Budget<'q>,
    /// The full lexicographic key.
    key: Vec<Metric>,
    /// Key plus constrained metrics: what dominance compares.
    relevant: Vec<Metric>,
    /// No constraints and an additive key: the lexicographic order is
    /// isotone and one label per state suffices (plain Dijkstra).
    total_order: bool,
    stages: usize,
    labels: Vec<Label>,
    /// Live labels per (node, stage).
    at: Vec<Vec<usize>>,
    heap: BinaryHeap<Reverse<([u64; PREFIX], usize)>>,
    work: usize,
}

impl<'g, 'q> Search<'g, 'q> {
    fn new(
        g: &'g Graph,
        src: NodeId,
        dst: NodeId,
        query: &'q Query,
        budget: Budget<'q>,
    ) -> Search<'g, 'q> {
        let key = query.key();
        let mut relevant = key.clone();
        for m in query.constraints.metrics() {
            if !relevant.contains(&m) {
                relevant.push(m);
            }
        }
        let total_order = query.constraints.is_empty() && key.iter().all(|m| m.additive());
        let stages = query.waypoints.len() + 1;
        Search {
            g,
            src,
            dst,
            query,
            budget,
            key,
            relevant,
            total_order,
            stages,
            labels: Vec::with_capacity(g.nodes.len() * 2),
            at: vec![Vec::new(); g.nodes.len() * stages],
            heap: BinaryHeap::new(),
            work: 0,
        }
    }

    /// Labels leave the queue in key-prefix order. The best destination
    /// label seen so far is kept; once the queue's next prefix is worse than
    /// its prefix nothing better can come (keys only worsen along a path),
    /// so it is the optimum.
    fn run(mut self) -> Result<Option<Path>, Stopped> {
        if !self.query.constraints.met_by(&Criteria::EMPTY) {
            return Ok(None);
        }
        let start_stage = usize::from(
            self.query
                .waypoints
                .first()
                .is_some_and(|w| w.nodes.contains(&self.src)),
        );
        self.push(self.src, start_stage, Criteria::EMPTY, None, usize::MAX);
        let final_stage = self.query.waypoints.len();
        let mut best: Option<usize> = None;
        while let Some(Reverse((prefix, li))) = self.heap.pop() {
            if best.is_some_and(|b| prefix > key_prefix(&self.key, &self.labels[b].crit)) {
                break;
            }
            let Label {
                node,
                stage,
                crit,
                alive,
                ..
            } = self.labels[li];
            if !alive {
                continue;
            }
            if node == self.dst && stage == final_stage {
                let better = best.is_none_or(|b| {
                    compare_key(&self.key, &crit, &self.labels[b].crit) == Ordering::Less
                });
                if better {
                    best = Some(li);
                }
                continue;
            }
            if node == self.dst && node != self.src {
                // Reached the destination before the chain was done: a path
                // may not run through its own destination.
                continue;
            }
            self.expand(li)?;
        }
        Ok(best.map(|b| self.rebuild(b)))
    }

    /// Extend label `li` over every edge the path may take next.
    fn expand(&mut self, li: usize) -> Result<(), Stopped> {
        let Label {
            node, stage, crit, ..
        } = self.labels[li];
        let g = self.g;
        let sole_exit = g.sole_exit(node);
        for &e in g.out_edges(node) {
            let edge = &g.edges[e];
            if sole_exit.is_some_and(|only| only != Some(edge.link))
                || !g.edge_usable(e, self.query.flex_algo)
            {
                continue;
            }
            let Some(next_stage) = g.may_enter(edge.to, stage, self.dst, self.query) else {
                continue;
            };
            if edge.to == self.src {
                continue;
            }
            let c = crit.extend(&edge.props, g.links[edge.link].igp_metric);
            if !self.query.constraints.met_by(&c) {
                continue;
            }
            self.offer(edge.to, next_stage, c, li, e)?;
        }
        Ok(())
    }

    /// Keep a new label unless one at the same state is at least as good;
    /// drop the labels it is at least as good as.
    fn offer(
        &mut self,
        node: NodeId,
        stage: usize,
        c: Criteria,
        parent: usize,
        edge: EdgeId,
    ) -> Result<(), Stopped> {
        let slot = node * self.stages + stage;
        self.charge(self.at[slot].len() + 1)?;
        let Search {
            at,
            labels,
            relevant,
            key,
            total_order,
            ..
        } = self;
        let dominated = at[slot].iter().any(|&o| {
            let oc = &labels[o].crit;
            if *total_order {
                compare_key(key, oc, &c) != Ordering::Greater
            } else {
                no_worse(relevant, oc, &c)
            }
        });
        if dominated {
            return Ok(());
        }
        at[slot].retain(|&o| {
            let worse = *total_order || no_worse(relevant, &c, &labels[o].crit);
            if worse {
                labels[o].alive = false;
            }
            !worse
        });
        self.push(node, stage, c, Some(parent), edge);
        Ok(())
    }

    fn push(
        &mut self,
        node: NodeId,
        stage: usize,
        crit: Criteria,
        parent: Option<usize>,
        edge: EdgeId,
    ) {
        let id = self.labels.len();
        self.labels.push(Label {
            node,
            stage,
            crit,
            parent,
            edge,
            alive: true,
        });
        self.at[node * self.stages + stage].push(id);
        self.heap.push(Reverse((key_prefix(&self.key, &crit), id)));
    }

    /// Count work against the budget; look at the cancel flag now and then.
    fn charge(&mut self, work: usize) -> Result<(), Stopped> {
        let before = self.work;
        self.work += work;
        if self.work > self.budget.max_work {
            return Err(Stopped::GaveUp);
        }
        if before / CANCEL_CHECK_EVERY != self.work / CANCEL_CHECK_EVERY
            && self
                .budget
                .cancel
                .is_some_and(|c| c.load(AtomicOrdering::Relaxed))
        {
            return Err(Stopped::Cancelled);
        }
        Ok(())
    }

    fn rebuild(&self, last: usize) -> Path {
        let mut nodes = Vec::new();
        let mut edges = Vec::new();
        let mut cur = Some(last);
        while let Some(i) = cur {
            nodes.push(self.labels[i].node);
            if self.labels[i].parent.is_some() {
                edges.push(self.labels[i].edge);
            }
            cur = self.labels[i].parent;
        }
        nodes.reverse();
        edges.reverse();
        let waypoint_positions = waypoint_positions(&nodes, &self.query.waypoints);
        Path {
            nodes,
            edges,
            waypoint_positions,
            criteria: self.labels[last].crit,
        }
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
