//! Admin operations: link changes and static entries (each a new network
//! generation, then the affected sessions recomputed outside the lock), and
//! the listings.

use std::collections::HashMap;
use std::sync::Arc;

use intent_proto::api;
use topology::units::check_igp_metric;
use tracing::info;

use super::answer::{self, Network};
use super::{Controller, SessionId, Source, Update};
use crate::intents::quote;
use crate::intents::Plan;
use crate::pathcomp::{Budget, Graph, LinkProps, Path};

/// Errors of admin operations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    /// The name as the request gave it, quoted short ([`crate::intents::quote`]).
    #[error("unknown node {0}")]
    UnknownNode(String),
    #[error("no link between {0} and {1}")]
    NoLink(String, String),
    #[error("link {id} does not join {a} and {b}")]
    WrongLink { id: u32, a: String, b: String },
    #[error("{a} and {b} are joined by links {ids:?}: give link_id")]
    Ambiguous {
        a: String,
        b: String,
        ids: Vec<usize>,
    },
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("the controller runs in {0} mode")]
    WrongMode(&'static str),
}

/// A session as an admin change recomputes it.
struct Pending {
    id: SessionId,
    key: Arc<[u8]>,
    request: Arc<api::PathRequest>,
    path: Option<Arc<Path>>,
}

/// What an admin change did to the sessions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Recomputed {
    pub sessions: u32,
    pub pushed: u32,
}

impl Controller {
    /// Replace the network by `change` of it (validated there), then
    /// recompute the sessions and push what changed. Admin changes run one
    /// at a time; requests and listings go on meanwhile.
    fn change_network<R>(
        &self,
        change: impl FnOnce(&Source) -> Result<(Source, R), AdminError>,
    ) -> Result<(R, Recomputed), AdminError> {
        let _one_at_a_time = self.admin.lock().unwrap_or_else(|e| e.into_inner());
        let (next, out) = change(&self.network().source)?;
        let (net, pending) = {
            let mut inner = self.lock();
            let net = Arc::new(Network {
                generation: inner.net.generation + 1,
                source: next,
            });
            inner.net = Arc::clone(&net);
            let pending: Vec<Pending> = inner
                .sessions
                .iter()
                .map(|(&id, s)| Pending {
                    id,
                    key: Arc::clone(&s.key),
                    request: Arc::clone(&s.request),
                    path: s.path.clone(),
                })
                .collect();
            (net, pending)
        };
        let sessions = u32::try_from(pending.len()).unwrap_or(u32::MAX);
        let updates = self.recompute(&net, pending);
        let pushed = self.commit_updates(updates);
        info!(
            sessions_recomputed = sessions,
            results_pushed = pushed,
            "sessions recomputed"
        );
        Ok((out, Recomputed { sessions, pushed }))
    }

    /// New answers for `pending` on `net` (identical requests, on any
    /// stream, are computed once).
    fn recompute(&self, net: &Network, pending: Vec<Pending>) -> Vec<Update> {
        let budget = Budget {
            max_work: self.options.limits.search_work,
            cancel: None,
        };
        let mut memo: HashMap<Arc<[u8]>, (Option<Plan>, answer::Answer)> = HashMap::new();
        pending
            .into_iter()
            .map(|p| {
                let (plan, best) = memo
                    .entry(p.key)
                    .or_insert_with(|| answer::compute(net, &self.options, &p.request, budget));
                Update {
                    session: p.id,
                    generation: net.generation,
                    answer: answer::refreshed(net, &self.options, (plan, best), p.path.as_deref()),
                }
            })
            .collect()
    }

    /// Change a link (state and/or metrics) and push what changed.
    pub fn set_link(&self, req: &api::SetLinkRequest) -> Result<api::SetLinkReply, AdminError> {
        let (state, done) = self.change_network(|source| {
            let Source::Computed(graph) = source else {
                return Err(AdminError::WrongMode("static"));
            };
            let mut graph = graph.clone();
            let link = apply_link_change(&mut graph, req)?;
            let state = link_state(&graph, link);
            info!(link, a = %req.a, b = %req.b, up = state.up, "link changed");
            Ok((Source::Computed(graph), state))
        })?;
        Ok(api::SetLinkReply {
            link: Some(state),
            sessions_recomputed: done.sessions,
            results_pushed: done.pushed,
        })
    }

    /// Static mode: set one table entry and push to the sessions it answers.
    pub fn set_static_path(&self, req: &api::SetStaticPathRequest) -> Result<u32, AdminError> {
        let ((), done) = self.change_network(|source| {
            let Source::Static(table) = source else {
                return Err(AdminError::WrongMode("computed"));
            };
            let mut table = table.clone();
            table.set(req).map_err(|e| AdminError::Invalid {
                field: e.field,
                message: e.message,
            })?;
            Ok((Source::Static(table), ()))
        })?;
        Ok(done.pushed)
    }

    /// Answer from `source` from now on; recompute everything. Returns
    /// (recomputed, pushed).
    pub fn replace_source(&self, source: Source) -> (u32, u32) {
        match self.change_network(|_| Ok((source, ()))) {
            Ok(((), done)) => (done.sessions, done.pushed),
            Err(_) => (0, 0),
        }
    }

    /// Every link with its state.
    pub fn list_links(&self) -> Result<Vec<api::LinkState>, AdminError> {
        let net = self.network();
        let Source::Computed(graph) = &net.source else {
            return Err(AdminError::WrongMode("static"));
        };
        Ok((0..graph.links.len())
            .map(|l| link_state(graph, l))
            .collect())
    }

    /// Every open session with its current result and path.
    pub fn list_sessions(&self) -> Vec<api::Session> {
        let inner = self.lock();
        let names = |p: &Option<Arc<Path>>| match (&inner.net.source, p) {
            (Source::Computed(g), Some(p)) => {
                p.nodes.iter().map(|&n| g.nodes[n].name.clone()).collect()
            }
            _ => Vec::new(),
        };
        inner
            .sessions
            .values()
            .map(|s| api::Session {
                stream_id: s.stream,
                peer: inner
                    .streams
                    .get(&s.stream)
                    .map(|st| st.peer.clone())
                    .unwrap_or_default(),
                request: Some((*s.request).clone()),
                current: Some(s.current.clone()),
                path_nodes: names(&s.path),
            })
            .collect()
    }
}

/// Find the link a request names: by its ends, and `link_id` when several
/// links join them.
fn find_link(graph: &Graph, req: &api::SetLinkRequest) -> Result<usize, AdminError> {
    let node = |name: &str| {
        graph
            .node_id(name)
            .ok_or_else(|| AdminError::UnknownNode(quote(name)))
    };
    let (a, b) = (node(&req.a)?, node(&req.b)?);
    let links = graph.links_between(a, b);
    match (req.link_id, links.as_slice()) {
        (Some(id), _) if links.contains(&(id as usize)) => Ok(id as usize),
        (Some(id), _) => Err(AdminError::WrongLink {
            id,
            a: req.a.clone(),
            b: req.b.clone(),
        }),
        (None, []) => Err(AdminError::NoLink(req.a.clone(), req.b.clone())),
        (None, [one]) => Ok(*one),
        (None, _) => Err(AdminError::Ambiguous {
            a: req.a.clone(),
            b: req.b.clone(),
            ids: links,
        }),
    }
}

/// Apply a link change to `graph`; returns the link's index.
fn apply_link_change(graph: &mut Graph, req: &api::SetLinkRequest) -> Result<usize, AdminError> {
    let link = find_link(graph, req)?;
    let change = LinkProps {
        bandwidth_kbps: req.bandwidth_kbps,
        latency_us: req.latency_us,
        jitter_us: req.jitter_us,
        loss_pct: req.loss_pct,
        utilization_pct: req.utilization_pct,
    };
    // The topology file's rules (`topology::units`), for the admin API too.
    change.check().map_err(|e| AdminError::Invalid {
        field: e.field.into(),
        message: e.message,
    })?;
    if let Some(m) = req.igp_metric {
        check_igp_metric(m).map_err(|message| AdminError::Invalid {
            field: "igp_metric".into(),
            message,
        })?;
    }
    let direction =
        api::LinkDirection::try_from(req.direction).map_err(|_| AdminError::Invalid {
            field: "direction".into(),
            message: format!("unknown direction {}", req.direction),
        })?;
    let end = |name: &str| {
        graph
            .node_id(name)
            .and_then(|n| graph.link_edge_from(link, n))
    };
    let (Some(ab), Some(ba)) = (end(&req.a), end(&req.b)) else {
        return Err(AdminError::NoLink(req.a.clone(), req.b.clone()));
    };
    let edges = match direction {
        api::LinkDirection::Both => vec![ab, ba],
        api::LinkDirection::AToB => vec![ab],
        api::LinkDirection::BToA => vec![ba],
    };
    for e in edges {
        let p = &mut graph.edges[e].props;
        *p = p.overlay(&change);
    }
    if let Some(up) = req.up {
        graph.links[link].up = up;
    }
    if let Some(m) = req.igp_metric {
        graph.links[link].igp_metric = m;
    }
    Ok(link)
}

fn link_state(graph: &Graph, link: usize) -> api::LinkState {
    let l = &graph.links[link];
    let dir = |e: usize| {
        let p = &graph.edges[e].props;
        api::LinkDirectionState {
            bandwidth_kbps: p.bandwidth_kbps,
            latency_us: p.latency_us,
            jitter_us: p.jitter_us,
            loss_pct: p.loss_pct,
            utilization_pct: p.utilization_pct,
        }
    };
    let fwd = &graph.edges[l.forward];
    api::LinkState {
        link_id: u32::try_from(link).unwrap_or(u32::MAX),
        a: graph.nodes[fwd.from].name.clone(),
        b: graph.nodes[fwd.to].name.clone(),
        up: l.up,
        igp_metric: l.igp_metric,
        a_to_b: Some(dir(l.forward)),
        b_to_a: Some(dir(l.forward + 1)),
    }
}
