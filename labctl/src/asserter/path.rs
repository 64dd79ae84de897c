//! The ordered nodes a flow crossed, from which links saw it in which
//! direction.
//!
//! Each directed link that saw the flow is an edge, stamped with the first
//! time it saw it. The path is a walk from the sender that uses every edge
//! exactly once (an SFC path may pass a router twice, so nodes repeat but
//! edges do not); where several edges leave a node, the one that saw the
//! flow first is tried first, and the search backtracks if that choice
//! strands edges. Edges no walk can use are reported as stray (traffic on
//! two paths in one window, or a loop).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::index::{Index, TimeWindow};
use crate::scenario::FlowDirection;

/// The path a flow was seen taking in one direction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedPath {
    pub flow: String,
    pub direction: FlowDirection,
    /// Nodes in order, the sender first.
    pub nodes: Vec<String>,
    /// Directed links `(from, to)` that saw the flow but are not on the walk.
    pub stray: Vec<(String, String)>,
}

impl ObservedPath {
    /// `host-a → site-a → vpp1`, plus `(also seen: vpp1→vpp3)` when some links are stray.
    pub fn describe(&self) -> String {
        let mut text = if self.nodes.is_empty() {
            "not seen on any link".to_owned()
        } else {
            self.nodes.join(" → ")
        };
        if !self.stray.is_empty() {
            let stray: Vec<String> = self.stray.iter().map(|(a, b)| format!("{a}→{b}")).collect();
            text.push_str(&format!(" (also seen: {})", stray.join(", ")));
        }
        text
    }
}

/// Most search steps before the longest walk found so far is taken.
const SEARCH_BUDGET: usize = 100_000;

struct Edge<'a> {
    from: &'a str,
    to: &'a str,
}

struct Search<'e, 'a> {
    edges: &'e [Edge<'a>],
    /// Edge indexes leaving each node, first seen first.
    out: BTreeMap<&'a str, Vec<usize>>,
    used: Vec<bool>,
    trail: Vec<usize>,
    best: Vec<usize>,
    budget: usize,
}

impl Search<'_, '_> {
    /// Extend the trail from `node`; true once it uses every edge.
    fn extend(&mut self, node: &str) -> bool {
        if self.trail.len() > self.best.len() {
            self.best = self.trail.clone();
        }
        if self.trail.len() == self.edges.len() {
            return true;
        }
        if self.budget == 0 {
            return false;
        }
        self.budget -= 1;
        let candidates = self.out.get(node).cloned().unwrap_or_default();
        for e in candidates {
            if self.used[e] {
                continue;
            }
            self.used[e] = true;
            self.trail.push(e);
            if self.extend(self.edges[e].to) {
                return true;
            }
            self.trail.pop();
            self.used[e] = false;
        }
        false
    }
}

/// The walk from `start` over `edges` (sorted by first sighting): nodes and
/// the indexes of the edges it could not use.
fn walk<'a>(start: &'a str, edges: &[Edge<'a>]) -> (Vec<&'a str>, Vec<usize>) {
    let mut out: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, e) in edges.iter().enumerate() {
        out.entry(e.from).or_default().push(i);
    }
    let mut search = Search {
        edges,
        out,
        used: vec![false; edges.len()],
        trail: Vec::new(),
        best: Vec::new(),
        budget: SEARCH_BUDGET,
    };
    search.extend(start);
    let mut nodes = vec![start];
    nodes.extend(search.best.iter().map(|&e| edges[e].to));
    let unused = (0..edges.len())
        .filter(|i| !search.best.contains(i))
        .collect();
    (nodes, unused)
}

impl Index<'_> {
    /// The flow's observed path in one direction within the window (the
    /// whole run when `None`); `None` when no packet of it was captured.
    pub fn observed_path(
        &self,
        flow: &str,
        direction: FlowDirection,
        window: Option<TimeWindow>,
    ) -> Option<ObservedPath> {
        let mut first_seen: BTreeMap<(&str, &str), Duration> = BTreeMap::new();
        for p in self.flow(flow, direction, window.unwrap_or_default()) {
            first_seen.entry((p.from, p.to)).or_insert(p.ts);
        }
        let mut seen: Vec<((&str, &str), Duration)> = first_seen.into_iter().collect();
        seen.sort_by_key(|(_, ts)| *ts);
        let ((first_from, _), _) = *seen.first()?;
        let start = self.sender(flow, direction).unwrap_or(first_from);
        let edges: Vec<Edge<'_>> = seen
            .iter()
            .map(|((from, to), _)| Edge { from, to })
            .collect();
        let (nodes, unused) = walk(start, &edges);
        Some(ObservedPath {
            flow: flow.to_owned(),
            direction,
            nodes: nodes.into_iter().map(str::to_owned).collect(),
            stray: unused
                .into_iter()
                .map(|i| (edges[i].from.to_owned(), edges[i].to.to_owned()))
                .collect(),
        })
    }

    /// The node that sends the flow's packets in `direction`: the client's
    /// host for requests, the host of the server's address for replies.
    fn sender(&self, flow: &str, direction: FlowDirection) -> Option<&str> {
        match direction {
            FlowDirection::Request => self.scenario.flow(flow).map(|t| t.from.as_str()),
            FlowDirection::Reply => {
                let server = self.run.flows.get(flow)?.flows.first()?.server.ip();
                let std::net::IpAddr::V6(server) = server else {
                    return None;
                };
                self.topo.node_for_address(server).map(|n| n.name.as_str())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edges<'a>(list: &[(&'a str, &'a str)]) -> Vec<Edge<'a>> {
        list.iter().map(|&(from, to)| Edge { from, to }).collect()
    }

    #[test]
    fn a_straight_path() {
        let e = edges(&[("a", "b"), ("b", "c"), ("c", "d")]);
        assert_eq!(walk("a", &e), (vec!["a", "b", "c", "d"], vec![]));
    }

    #[test]
    fn a_service_function_detour_uses_every_edge() {
        // r2 is left twice: first to the function (seen first), then onward.
        let e = edges(&[("a", "r2"), ("r2", "sf"), ("sf", "r2"), ("r2", "b")]);
        assert_eq!(walk("a", &e).0, vec!["a", "r2", "sf", "r2", "b"]);
        // Seen in the other order, backtracking still finds the full walk.
        let e = edges(&[("a", "r2"), ("r2", "b"), ("r2", "sf"), ("sf", "r2")]);
        assert_eq!(walk("a", &e), (vec!["a", "r2", "sf", "r2", "b"], vec![]));
    }

    #[test]
    fn two_paths_in_one_window_leave_stray_edges() {
        let e = edges(&[
            ("a", "r1"),
            ("r1", "up"),
            ("up", "b"),
            ("r1", "down"),
            ("down", "b"),
        ]);
        let (nodes, unused) = walk("a", &e);
        assert_eq!(nodes, vec!["a", "r1", "up", "b"]);
        assert_eq!(unused, vec![3, 4]);
    }
}
