//! The controller's state: the network (or the static table), the open
//! streams and their sessions, and what happens on a request or a change.
//!
//! Every stream has its own sender; a session belongs to exactly one stream
//! and its results go only there (the original controller shared channels
//! between streams). All state sits behind one mutex that is never held
//! across an `.await`, so a request and an admin change never interleave:
//! each session's result is computed on the network it was answered on.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv6Addr;
use std::sync::{Arc, Mutex, MutexGuard};

use intent_proto::api;
use prost::Message;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::intents::{self, Plan, Request};
use crate::pathcomp::{Graph, LinkProps, Metric, Path, SidMode};
use crate::static_table::StaticTable;

/// Identifies one GetIntentPath stream.
pub type StreamId = u64;

/// Where answers come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Paths computed on this graph.
    Computed(Graph),
    /// Answers looked up in a table.
    Static(StaticTable),
}

/// Knobs of the computed mode.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    pub sid_mode: SidMode,
    /// Keep a session's current path after a change unless the new best path
    /// improves the objective's first measure by more than this many percent
    /// (the current path must still be usable and meet every constraint).
    pub hysteresis_pct: Option<f64>,
}

/// Errors of admin operations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    #[error("unknown node {0:?}")]
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

#[derive(Debug)]
struct Session {
    request: api::PathRequest,
    path: Option<Path>,
    current: api::PathResult,
}

#[derive(Debug)]
struct Stream {
    peer: String,
    tx: mpsc::UnboundedSender<api::PathResult>,
    sessions: usize,
}

/// Sessions one stream may hold: a client cannot grow the controller's
/// memory and event work without bound (an agent needs one per service
/// address and intent set).
pub const MAX_SESSIONS_PER_STREAM: usize = 4096;

#[derive(Debug)]
struct Inner {
    source: Source,
    streams: HashMap<StreamId, Stream>,
    /// (stream, canonical request bytes) -> session.
    sessions: BTreeMap<(StreamId, Vec<u8>), Session>,
    next_stream: StreamId,
}

/// What a computation gives for one request.
#[derive(Debug, Clone)]
struct Answer {
    /// The request passed validation (it may still have no path).
    valid: bool,
    path: Option<Path>,
    sids: Vec<Ipv6Addr>,
    error: Option<String>,
}

/// One request's answer in an event, shared by its sessions.
struct Computed {
    plan: Option<Plan>,
    answer: Answer,
    /// `answer.sids` as the wire has them.
    sids: Vec<String>,
}

/// The shared controller (cheap to clone).
#[derive(Debug, Clone)]
pub struct Controller {
    inner: Arc<Mutex<Inner>>,
    options: Options,
    /// Set once at shutdown: stream readers stop reading.
    stopping: Arc<tokio::sync::watch::Sender<bool>>,
}

fn result_for(req: &api::PathRequest, answer: &Answer) -> api::PathResult {
    api::PathResult {
        ipv6_source_address: req.ipv6_source_address.clone(),
        ipv6_destination_address: req.ipv6_destination_address.clone(),
        intents: req.intents.clone(),
        ipv6_sid_addresses: answer.sids.iter().map(Ipv6Addr::to_string).collect(),
        error: answer.error.clone(),
    }
}

/// The first measure of the objective, as a number where larger is better
/// or worse, and whether larger is better.
fn primary(metric: Metric, c: &crate::pathcomp::Criteria) -> (f64, bool) {
    match metric {
        Metric::Latency => (c.latency_us as f64, false),
        Metric::Jitter => (c.jitter_us as f64, false),
        Metric::Loss => (c.loss_cost, false),
        Metric::WidestBottleneck => (c.bottleneck_kbps as f64, true),
        Metric::NarrowestLink => (
            c.widest_links_kbps
                .iter()
                .find(|&&b| b < u64::MAX)
                .copied()
                .unwrap_or(0) as f64,
            false,
        ),
        Metric::MaxUtilization => (c.max_utilization_pct, false),
        Metric::Igp => (c.igp as f64, false),
        Metric::Hops => (f64::from(c.hops), false),
    }
}

impl Controller {
    /// A controller answering from `source`.
    pub fn new(source: Source, options: Options) -> Controller {
        Controller {
            inner: Arc::new(Mutex::new(Inner {
                source,
                streams: HashMap::new(),
                sessions: BTreeMap::new(),
                next_stream: 1,
            })),
            options,
            stopping: Arc::new(tokio::sync::watch::channel(false).0),
        }
    }

    /// Completes once the controller is shutting down.
    pub fn stopping(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.stopping.subscribe();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data (every update
        // is a single assignment): keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Register a new stream; results for it arrive on the receiver.
    pub fn open_stream(
        &self,
        peer: String,
    ) -> (StreamId, mpsc::UnboundedReceiver<api::PathResult>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut inner = self.lock();
        let id = inner.next_stream;
        inner.next_stream += 1;
        debug!(stream = id, %peer, "stream opened");
        inner.streams.insert(
            id,
            Stream {
                peer,
                tx,
                sessions: 0,
            },
        );
        (id, rx)
    }

    /// Forget a stream and its sessions (idempotent).
    pub fn close_stream(&self, id: StreamId) {
        let mut inner = self.lock();
        if inner.streams.remove(&id).is_some() {
            inner.sessions.retain(|(s, _), _| *s != id);
            debug!(stream = id, "stream closed");
        }
    }

    /// Close every stream (shutdown): their response streams end.
    pub fn close_all(&self) {
        self.stopping.send_replace(true);
        let mut inner = self.lock();
        inner.streams.clear();
        inner.sessions.clear();
    }

    /// Number of open streams and sessions.
    pub fn counts(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.streams.len(), inner.sessions.len())
    }

    fn compute(&self, source: &Source, req: &api::PathRequest) -> (Option<Plan>, Answer) {
        let fail = |e: String| Answer {
            valid: true,
            path: None,
            sids: Vec::new(),
            error: Some(e),
        };
        let valid: Request = match intents::validate(req) {
            Ok(v) => v,
            Err(e) => {
                let answer = Answer {
                    valid: false,
                    ..fail(e.to_string())
                };
                return (None, answer);
            }
        };
        match source {
            Source::Static(table) => {
                let answer = match table.lookup(&valid) {
                    Some(sids) => Answer {
                        valid: true,
                        path: None,
                        sids,
                        error: None,
                    },
                    None => fail(format!(
                        "no static entry for destination {} with these intents",
                        valid.dst
                    )),
                };
                (None, answer)
            }
            Source::Computed(graph) => match intents::plan(&valid, graph) {
                // Unknown hosts or functions: nodes never change at run
                // time, so this is as final as a validation error.
                Err(e) => {
                    let answer = Answer {
                        valid: false,
                        ..fail(e.to_string())
                    };
                    (None, answer)
                }
                Ok(plan) => {
                    let answer = self.solve(graph, &plan);
                    (Some(plan), answer)
                }
            },
        }
    }

    fn solve(&self, graph: &Graph, plan: &Plan) -> Answer {
        match graph.best_path(plan.src, plan.dst, &plan.query) {
            Err(e) => Answer {
                valid: true,
                path: None,
                sids: Vec::new(),
                error: Some(e.to_string()),
            },
            Ok(path) => self.write(graph, path),
        }
    }

    fn write(&self, graph: &Graph, path: Path) -> Answer {
        match graph.sid_list(&path, self.options.sid_mode) {
            Ok(sids) => Answer {
                valid: true,
                path: Some(path),
                sids,
                error: None,
            },
            Err(e) => Answer {
                valid: true,
                path: None,
                sids: Vec::new(),
                error: Some(e.to_string()),
            },
        }
    }

    /// Answer a request without opening a session (tests, benchmarks).
    pub fn answer(&self, req: &api::PathRequest) -> api::PathResult {
        let inner = self.lock();
        let (_, answer) = self.compute(&inner.source, req);
        result_for(req, &answer)
    }

    /// Answer one request of a stream: the result goes to that stream only;
    /// a valid request becomes (or replaces) a session that follows changes.
    pub fn handle_request(&self, stream: StreamId, req: api::PathRequest) {
        let mut inner = self.lock();
        let Some(count) = inner.streams.get(&stream).map(|s| s.sessions) else {
            return;
        };
        let key = (stream, req.encode_to_vec());
        let (_, mut answer) = self.compute(&inner.source, &req);
        if answer.valid && count >= MAX_SESSIONS_PER_STREAM && !inner.sessions.contains_key(&key) {
            answer = Answer {
                valid: false,
                path: None,
                sids: Vec::new(),
                error: Some(format!(
                    "this stream already has {MAX_SESSIONS_PER_STREAM} sessions: open another stream"
                )),
            };
        }
        let result = result_for(&req, &answer);
        match &answer.error {
            Some(e) => {
                info!(stream, src = %req.ipv6_source_address, dst = %req.ipv6_destination_address, reason = %e, "no path")
            }
            None => debug!(stream, sids = ?result.ipv6_sid_addresses, "path"),
        }
        let Inner {
            streams, sessions, ..
        } = &mut *inner;
        let Some(s) = streams.get_mut(&stream) else {
            return;
        };
        if s.tx.send(result.clone()).is_err() {
            debug!(stream, "receiver gone");
        }
        // Invalid requests are answered but never followed.
        if answer.valid {
            let session = Session {
                request: req,
                path: answer.path,
                current: result,
            };
            if sessions.insert(key, session).is_none() {
                s.sessions += 1;
            }
        }
    }

    /// Recompute every open session on the current source and push the
    /// results that changed. Returns (recomputed, pushed).
    fn recompute(&self, inner: &mut Inner) -> (u32, u32) {
        let Inner {
            source,
            streams,
            sessions,
            ..
        } = inner;
        // Identical requests (on any stream) are computed once per event.
        let mut memo: HashMap<&[u8], Computed> = HashMap::new();
        let (mut recomputed, mut pushed) = (0u32, 0u32);
        for ((stream, key), session) in sessions.iter_mut() {
            recomputed += 1;
            let Computed {
                plan,
                answer: best,
                sids: best_sids,
            } = memo.entry(key.as_slice()).or_insert_with(|| {
                let (plan, answer) = self.compute(source, &session.request);
                let sids = answer.sids.iter().map(Ipv6Addr::to_string).collect();
                Computed { plan, answer, sids }
            });
            let kept = match (&*source, self.options.hysteresis_pct, &session.path, &*plan) {
                (Source::Computed(graph), Some(pct), Some(old), Some(plan)) => {
                    self.keep_current(graph, pct, old, best, plan)
                }
                _ => None,
            };
            let (answer, sids): (&Answer, Vec<String>) = match &kept {
                Some(k) => (k, k.sids.iter().map(Ipv6Addr::to_string).collect()),
                None => (best, best_sids.clone()),
            };
            session.path.clone_from(&answer.path);
            if session.current.ipv6_sid_addresses == sids && session.current.error == answer.error {
                continue;
            }
            session.current.ipv6_sid_addresses = sids;
            session.current.error.clone_from(&answer.error);
            if let Some(s) = streams.get(stream) {
                if s.tx.send(session.current.clone()).is_ok() {
                    pushed += 1;
                }
            }
        }
        (recomputed, pushed)
    }

    /// Hysteresis: the current path as the answer if it is still usable and
    /// the new best is not better than it by more than `pct` percent on the
    /// objective's first measure (ties and small gains never move traffic).
    fn keep_current(
        &self,
        graph: &Graph,
        pct: f64,
        old: &Path,
        best: &Answer,
        plan: &Plan,
    ) -> Option<Answer> {
        let new = best.path.as_ref()?;
        let old_crit = graph.evaluate(old, &plan.query)?;
        let metric = plan.query.key()[0];
        let (o, larger_better) = primary(metric, &old_crit);
        let (n, _) = primary(metric, &new.criteria);
        let gain = if larger_better { n - o } else { o - n };
        let clearly_better = gain > 0.0 && (o == 0.0 || gain / o.abs() * 100.0 > pct);
        if clearly_better {
            return None;
        }
        Some(self.write(graph, old.clone()))
    }

    /// Change a link (state and/or metrics) and push what changed.
    pub fn set_link(&self, req: &api::SetLinkRequest) -> Result<api::SetLinkReply, AdminError> {
        let mut inner = self.lock();
        let Source::Computed(graph) = &mut inner.source else {
            return Err(AdminError::WrongMode("static"));
        };
        let a = graph
            .node_id(&req.a)
            .ok_or_else(|| AdminError::UnknownNode(req.a.clone()))?;
        let b = graph
            .node_id(&req.b)
            .ok_or_else(|| AdminError::UnknownNode(req.b.clone()))?;
        let links = graph.links_between(a, b);
        let link = match req.link_id {
            Some(id) => {
                if !links.contains(&(id as usize)) {
                    return Err(AdminError::WrongLink {
                        id,
                        a: req.a.clone(),
                        b: req.b.clone(),
                    });
                }
                id as usize
            }
            None => match links.as_slice() {
                [] => return Err(AdminError::NoLink(req.a.clone(), req.b.clone())),
                [one] => *one,
                _ => {
                    return Err(AdminError::Ambiguous {
                        a: req.a.clone(),
                        b: req.b.clone(),
                        ids: links,
                    })
                }
            },
        };
        for (field, v) in [
            ("loss_pct", req.loss_pct),
            ("utilization_pct", req.utilization_pct),
        ] {
            if let Some(v) = v {
                if !(0.0..=100.0).contains(&v) {
                    return Err(AdminError::Invalid {
                        field: field.into(),
                        message: format!("a percentage is within 0..=100, got {v}"),
                    });
                }
            }
        }
        let direction =
            api::LinkDirection::try_from(req.direction).map_err(|_| AdminError::Invalid {
                field: "direction".into(),
                message: format!("unknown direction {}", req.direction),
            })?;
        let (ab, ba) = match (graph.link_edge_from(link, a), graph.link_edge_from(link, b)) {
            (Some(ab), Some(ba)) => (ab, ba),
            _ => return Err(AdminError::NoLink(req.a.clone(), req.b.clone())),
        };
        let edges: Vec<usize> = match direction {
            api::LinkDirection::Both => vec![ab, ba],
            api::LinkDirection::AToB => vec![ab],
            api::LinkDirection::BToA => vec![ba],
        };
        let change = LinkProps {
            bandwidth_kbps: req.bandwidth_kbps,
            latency_us: req.latency_us,
            jitter_us: req.jitter_us,
            loss_pct: req.loss_pct,
            utilization_pct: req.utilization_pct,
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
        let state = link_state(graph, link);
        info!(link, a = %req.a, b = %req.b, up = state.up, "link changed");
        let (sessions_recomputed, results_pushed) = self.recompute(&mut inner);
        info!(sessions_recomputed, results_pushed, "sessions recomputed");
        Ok(api::SetLinkReply {
            link: Some(state),
            sessions_recomputed,
            results_pushed,
        })
    }

    /// Every link with its state.
    pub fn list_links(&self) -> Result<Vec<api::LinkState>, AdminError> {
        let inner = self.lock();
        let Source::Computed(graph) = &inner.source else {
            return Err(AdminError::WrongMode("static"));
        };
        Ok((0..graph.links.len())
            .map(|l| link_state(graph, l))
            .collect())
    }

    /// Every open session with its current result and path.
    pub fn list_sessions(&self) -> Vec<api::Session> {
        let inner = self.lock();
        let names = |p: &Option<Path>| match (&inner.source, p) {
            (Source::Computed(g), Some(p)) => {
                p.nodes.iter().map(|&n| g.nodes[n].name.clone()).collect()
            }
            _ => Vec::new(),
        };
        inner
            .sessions
            .iter()
            .map(|((stream, _), s)| api::Session {
                stream_id: *stream,
                peer: inner
                    .streams
                    .get(stream)
                    .map(|s| s.peer.clone())
                    .unwrap_or_default(),
                request: Some(s.request.clone()),
                current: Some(s.current.clone()),
                path_nodes: names(&s.path),
            })
            .collect()
    }

    /// Static mode: set one table entry and push to the sessions it answers.
    pub fn set_static_path(&self, req: &api::SetStaticPathRequest) -> Result<u32, AdminError> {
        let mut inner = self.lock();
        let Source::Static(table) = &mut inner.source else {
            return Err(AdminError::WrongMode("computed"));
        };
        table.set(req).map_err(|e| AdminError::Invalid {
            field: e.field,
            message: e.message,
        })?;
        let (_, pushed) = self.recompute(&mut inner);
        Ok(pushed)
    }

    /// Recompute everything now (e.g. after replacing the source).
    pub fn replace_source(&self, source: Source) -> (u32, u32) {
        let mut inner = self.lock();
        inner.source = source;
        let r = self.recompute(&mut inner);
        if r.1 > 0 {
            warn!(pushed = r.1, "source replaced");
        }
        r
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pathcomp::tests::diamond;
    use api::{Intent, IntentType};

    fn latency(a: &str, b: &str, us: u64) -> api::SetLinkRequest {
        api::SetLinkRequest {
            a: a.into(),
            b: b.into(),
            latency_us: Some(us),
            ..Default::default()
        }
    }

    fn session(
        hysteresis_pct: Option<f64>,
    ) -> (Controller, mpsc::UnboundedReceiver<api::PathResult>) {
        let ctrl = Controller::new(
            Source::Computed(diamond()),
            Options {
                sid_mode: SidMode::AllRouters,
                hysteresis_pct,
            },
        );
        let (id, mut rx) = ctrl.open_stream("test".into());
        ctrl.handle_request(
            id,
            api::PathRequest {
                ipv6_source_address: "2001:db8:1::a".into(),
                ipv6_destination_address: "2001:db8:2::a".into(),
                intents: vec![Intent {
                    r#type: IntentType::LowLatency as i32,
                    values: vec![],
                }],
            },
        );
        assert_eq!(rx.try_recv().unwrap().ipv6_sid_addresses, ["fc00:3::2"]);
        (ctrl, rx)
    }

    #[test]
    fn without_hysteresis_every_improvement_moves() {
        let (ctrl, mut rx) = session(None);
        // Upper becomes 2 x 800 us = 1620 us vs lower 2020 us.
        ctrl.set_link(&latency("r1", "r2", 800)).unwrap();
        let r = ctrl.set_link(&latency("r2", "r4", 800)).unwrap();
        assert_eq!(r.results_pushed, 1);
        assert_eq!(rx.try_recv().unwrap().ipv6_sid_addresses, ["fc00:2::2"]);
    }

    #[test]
    fn hysteresis_keeps_a_usable_path_unless_clearly_better() {
        let (ctrl, mut rx) = session(Some(50.0));
        ctrl.set_link(&latency("r1", "r2", 800)).unwrap();
        let r = ctrl.set_link(&latency("r2", "r4", 800)).unwrap();
        // 20 % better is within the 50 % margin: stay, push nothing.
        assert_eq!(r.results_pushed, 0);
        assert!(rx.try_recv().is_err());
        // The current path gets much worse: upper is now > 50 % better.
        let r = ctrl.set_link(&latency("r1", "r3", 10_000)).unwrap();
        assert_eq!(r.results_pushed, 1);
        assert_eq!(rx.try_recv().unwrap().ipv6_sid_addresses, ["fc00:2::2"]);
        // Back to fast lower links: 1620 -> 2020 would be worse anyway; and
        // making lower only slightly better than upper does not move back.
        ctrl.set_link(&latency("r1", "r3", 700)).unwrap();
        let r = ctrl.set_link(&latency("r3", "r4", 700)).unwrap();
        assert_eq!(r.results_pushed, 0, "1420 vs 1620 us is only 12 % better");
        // A broken current path is replaced at once, margin or not.
        let r = ctrl
            .set_link(&api::SetLinkRequest {
                a: "r2".into(),
                b: "r4".into(),
                up: Some(false),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(r.results_pushed, 1);
        assert_eq!(rx.try_recv().unwrap().ipv6_sid_addresses, ["fc00:3::2"]);
    }

    #[test]
    fn sessions_per_stream_are_bounded() {
        let (ctrl, mut rx) = session(None);
        let (other, mut other_rx) = ctrl.open_stream("other".into());
        let id = 1; // the stream `session` opened
        let ask = |stream, n: usize| {
            ctrl.handle_request(
                stream,
                api::PathRequest {
                    ipv6_source_address: "2001:db8:1::a".into(),
                    ipv6_destination_address: format!("2001:db8:2::1:{n:x}"),
                    intents: vec![Intent {
                        r#type: IntentType::LowLatency as i32,
                        values: vec![],
                    }],
                },
            )
        };
        // The first session of stream 1 exists already.
        for n in 1..MAX_SESSIONS_PER_STREAM {
            ask(id, n);
            assert!(rx.try_recv().unwrap().error.is_none());
        }
        assert_eq!(ctrl.counts(), (2, MAX_SESSIONS_PER_STREAM));
        ask(id, MAX_SESSIONS_PER_STREAM);
        let refused = rx.try_recv().unwrap();
        assert!(refused.ipv6_sid_addresses.is_empty());
        assert!(refused.error.unwrap().contains("already has 4096 sessions"));
        // Asking again for an existing session is still fine, and other
        // streams are not affected.
        ask(id, 1);
        assert!(rx.try_recv().unwrap().error.is_none());
        ask(other, 1);
        assert!(other_rx.try_recv().unwrap().error.is_none());
        assert_eq!(ctrl.counts(), (2, MAX_SESSIONS_PER_STREAM + 1));
        ctrl.close_stream(id);
        assert_eq!(ctrl.counts(), (1, 1));
    }
}
