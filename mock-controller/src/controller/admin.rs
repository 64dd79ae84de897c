//! Admin operations: link changes and static entries (each a new network
//! generation, then the affected sessions recomputed outside the lock), and
//! the listings.

use std::collections::HashMap;
use std::ops::Bound;
use std::sync::Arc;

use intent_proto::api;
use prost::Message;
use topology::units::check_igp_metric;
use tracing::info;

use super::answer::{self, Network};
use super::{Controller, Inner, Session, SessionId, Source, Update};
use crate::intents::quote;
use crate::intents::Plan;
use crate::pathcomp::{Budget, Graph, LinkProps, Path, SidMode};

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
    /// The path in use (for hysteresis).
    path: Option<Arc<Path>>,
}

/// The sessions a change can affect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    All,
    /// Only the sessions whose path uses this link: it got worse for every
    /// intent and nothing else changed, so every other path stays as good as
    /// it was and no session can gain by moving onto it.
    UsersOf(usize),
}

/// Sessions per admin listing page at most (and by default).
pub const MAX_SESSIONS_PAGE: usize = 1000;
/// Encoded bytes a listing page stops at (a client's default limit is 4 MiB).
pub const MAX_PAGE_BYTES: usize = 1 << 20;

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
        change: impl FnOnce(&Source) -> Result<(Source, R, Scope), AdminError>,
    ) -> Result<(R, Recomputed), AdminError> {
        let _one_at_a_time = self.admin.lock().unwrap_or_else(|e| e.into_inner());
        let (next, out, scope) = change(&self.network().source)?;
        let (net, pending) = {
            let mut inner = self.lock();
            let net = Arc::new(Network {
                generation: inner.net.generation + 1,
                source: next,
            });
            inner.net = Arc::clone(&net);
            (Arc::clone(&net), affected(&inner, &net, scope))
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
            let mut next = graph.clone();
            let link = apply_link_change(&mut next, req)?;
            let state = link_state(&next, link);
            info!(link, a = %req.a, b = %req.b, up = state.up, "link changed");
            let scope = scope_of(graph, &next, link, self.options.sid_mode);
            Ok((Source::Computed(next), state, scope))
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
            Ok((Source::Static(table), (), Scope::All))
        })?;
        Ok(done.pushed)
    }

    /// Answer from `source` from now on; recompute everything. Returns
    /// (recomputed, pushed).
    pub fn replace_source(&self, source: Source) -> (u32, u32) {
        match self.change_network(|_| Ok((source, (), Scope::All))) {
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

    /// Every open session with its current result and path (all pages of
    /// [`Controller::list_sessions_page`]).
    pub fn list_sessions(&self) -> Vec<api::Session> {
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let (page, next) = self.list_sessions_page(after, MAX_SESSIONS_PAGE, MAX_PAGE_BYTES);
            all.extend(page);
            match next {
                Some(n) => after = Some(n),
                None => return all,
            }
        }
    }

    /// Sessions with an id above `after`, in id order: at most `max` and
    /// about `max_bytes` encoded (at least one). The second value is the
    /// `after` of the next page, if sessions follow.
    pub fn list_sessions_page(
        &self,
        after: Option<SessionId>,
        max: usize,
        max_bytes: usize,
    ) -> (Vec<api::Session>, Option<SessionId>) {
        let inner = self.lock();
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut page = Vec::new();
        let mut bytes = 0;
        let mut rest = inner.sessions.range((start, Bound::Unbounded)).peekable();
        while let Some((&id, s)) = rest.peek() {
            if page.len() >= max.max(1) || (!page.is_empty() && bytes >= max_bytes) {
                let next = last_id(&page);
                return (page, Some(next));
            }
            let session = listed(&inner, id, s);
            bytes += session.encoded_len();
            page.push(session);
            rest.next();
        }
        (page, None)
    }
}

fn last_id(page: &[api::Session]) -> SessionId {
    page.last().map_or(0, |s| s.session_id)
}

/// A session as the admin listing shows it.
fn listed(inner: &Inner, id: SessionId, s: &Session) -> api::Session {
    let path_nodes = match (&inner.net.source, &s.path) {
        (Source::Computed(g), Some(p)) => {
            p.nodes.iter().map(|&n| g.nodes[n].name.clone()).collect()
        }
        _ => Vec::new(),
    };
    api::Session {
        session_id: id,
        stream_id: s.stream,
        peer: inner
            .streams
            .get(&s.stream)
            .map(|st| st.peer.clone())
            .unwrap_or_default(),
        request: Some((*s.request).clone()),
        current: Some(s.current.clone()),
        path_nodes,
    }
}

/// The sessions `scope` names, as a change recomputes them.
fn affected(inner: &Inner, net: &Network, scope: Scope) -> Vec<Pending> {
    let uses = |path: &Option<Arc<Path>>| match (scope, &net.source) {
        (Scope::All, _) => true,
        (Scope::UsersOf(link), Source::Computed(g)) => path
            .as_ref()
            .is_some_and(|p| p.edges.iter().any(|&e| g.edges[e].link == link)),
        (Scope::UsersOf(_), Source::Static(_)) => true,
    };
    inner
        .sessions
        .iter()
        .filter(|(_, s)| uses(&s.path))
        .map(|(&id, s)| Pending {
            id,
            key: Arc::clone(&s.key),
            request: Arc::clone(&s.request),
            path: s.path.clone().filter(|_| s.current.error.is_none()),
        })
        .collect()
}

/// Which sessions a change of `link` from `old` to `new` can affect.
fn scope_of(old: &Graph, new: &Graph, link: usize, mode: SidMode) -> Scope {
    let (o, n) = (&old.links[link], &new.links[link]);
    let underlay_changed = o.up != n.up || o.igp_metric != n.igp_metric;
    if mode == SidMode::Minimal && underlay_changed {
        // Minimal SID lists rest on the whole underlay.
        return Scope::All;
    }
    let link_worse = (o.up || !n.up) && n.igp_metric >= o.igp_metric;
    let directions_worse = [o.forward, o.forward + 1]
        .iter()
        .all(|&e| no_better(&old.edges[e].props, &new.edges[e].props));
    if link_worse && directions_worse {
        Scope::UsersOf(link)
    } else {
        Scope::All
    }
}

/// Whether `new` is better than `old` for no intent: latency, jitter, loss
/// and utilisation no lower, bandwidth unchanged (a wider link attracts
/// high-bandwidth sessions, a narrower one low-bandwidth sessions).
fn no_better(old: &LinkProps, new: &LinkProps) -> bool {
    let at_least = |n: Option<u64>, o: Option<u64>| n.unwrap_or(0) >= o.unwrap_or(0);
    let at_least_pct = |n: Option<f64>, o: Option<f64>| n.unwrap_or(0.0) >= o.unwrap_or(0.0);
    new.bandwidth_kbps == old.bandwidth_kbps
        && at_least(new.latency_us, old.latency_us)
        && at_least(new.jitter_us, old.jitter_us)
        && at_least_pct(new.loss_pct, old.loss_pct)
        && at_least_pct(new.utilization_pct, old.utilization_pct)
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
