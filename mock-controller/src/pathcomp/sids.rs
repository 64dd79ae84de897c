//! SID lists that make traffic follow a computed path.

use std::net::Ipv6Addr;

use serde::Serialize;

use super::{Graph, NodeKind, Path};

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

/// Why a path has no SID list the dataplane can carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SidListError {
    #[error("the path cannot be forced with SIDs: {node} has no SID and underlay routing would not follow the path")]
    Unforceable { node: String },
    /// More SIDs than an SRH the dataplane builds holds (`srh::MAX_SIDS`),
    /// in the shortest encoding that forces the path.
    #[error("path needs {needed} SIDs, the dataplane holds at most {max}")]
    TooMany { needed: usize, max: usize },
}

impl Graph {
    /// The SID list (travel order) that makes traffic follow `path`, in
    /// `mode`; when that list is longer than the dataplane holds
    /// ([`srh::MAX_SIDS`]), the minimal list of the same path if it fits.
    pub fn sid_list(&self, path: &Path, mode: SidMode) -> Result<Vec<Ipv6Addr>, SidListError> {
        let sids = match mode {
            SidMode::AllRouters => self.all_router_sids(path),
            SidMode::Minimal => self.minimal_sids(path)?,
        };
        if sids.len() <= srh::MAX_SIDS {
            return Ok(sids);
        }
        let needed = match mode {
            SidMode::AllRouters => match self.minimal_sids(path) {
                Ok(minimal) if minimal.len() <= srh::MAX_SIDS => return Ok(minimal),
                Ok(minimal) => minimal.len(),
                Err(_) => sids.len(),
            },
            SidMode::Minimal => sids.len(),
        };
        Err(SidListError::TooMany {
            needed,
            max: srh::MAX_SIDS,
        })
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

    fn minimal_sids(&self, path: &Path) -> Result<Vec<Ipv6Addr>, SidListError> {
        let underlay = self.underlay();
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
            let tree = underlay.shortest_paths(path.nodes[cur]);
            // The next mandatory stop: the first waypoint after `cur`, else the end.
            let limit = path
                .waypoint_positions
                .iter()
                .copied()
                .find(|&p| p > cur)
                .unwrap_or(last);
            // The underlay follows the path from cur to j: the path's cost
            // is the shortest and no other path ties with it.
            let forced = |j: usize| {
                let v = path.nodes[j];
                tree.cost(v) == Some(prefix_cost[j] - prefix_cost[cur]) && tree.unique(v)
            };
            // Furthest j ≤ limit that is forced (unique shortest paths are
            // closed under prefixes, so checking j suffices) and addressable
            // (has a SID or is the end).
            let next = (cur + 1..=limit)
                .rev()
                .find(|&j| forced(j) && (j == last || self.nodes[path.nodes[j]].sid.is_some()));
            let Some(j) = next else {
                return Err(SidListError::Unforceable {
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
