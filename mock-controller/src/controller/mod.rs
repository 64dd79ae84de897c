//! The controller's state: the network (or the static table), the open
//! streams and their sessions, and what happens on a request or a change.
//!
//! Every stream has its own bounded result queue; a session belongs to
//! exactly one stream and its results go only there (the original
//! controller shared channels between streams).
//!
//! # Concurrency
//! One mutex guards streams, sessions and the current [`Network`] (an
//! `Arc`'d generation). It is held only for bookkeeping, never while a path
//! is searched: a request takes a snapshot of the network, computes its
//! answer without the lock, then commits under a short lock. An admin change
//! builds the next generation, swaps it in and snapshots the sessions it
//! affects in one short lock, recomputes them without the lock, and commits.
//! Each session remembers the generation its result was computed on; a
//! commit only ever moves a session to a newer generation, and a request
//! answered on a generation that was replaced meanwhile is brought up to
//! date at once (as if the change had seen it). So one hard request never
//! stalls other streams or the admin API.
//!
//! # Layout
//! - this file: streams, sessions, requests;
//! - `answer`: one request's answer on one network version (pure);
//! - `admin`: link changes, static entries, listings (the admin API).

mod admin;
mod answer;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use intent_proto::api;
use prost::Message;
use tokio::sync::{mpsc, oneshot, Notify};
use tracing::{debug, info};

use crate::intents::quote;
use crate::pathcomp::{Budget, Graph, Path, SidMode, MAX_WORK};
use crate::static_table::StaticTable;
use answer::{Answer, Network};

pub use admin::{AdminError, MAX_PAGE_BYTES, MAX_SESSIONS_PAGE};

/// Identifies one GetIntentPath stream.
pub type StreamId = u64;
/// Identifies one session (stable while it lives; the admin listing pages by it).
pub type SessionId = u64;

/// Where answers come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Paths computed on this graph.
    Computed(Graph),
    /// Answers looked up in a table.
    Static(StaticTable),
}

/// Sessions one stream may hold by default: a client cannot grow the
/// controller's memory and event work without bound (an agent needs one per
/// service address and intent set).
pub const MAX_SESSIONS_PER_STREAM: usize = 4096;

/// Sessions the whole controller holds by default (a session of a valid
/// request takes at most a few kB).
pub const MAX_SESSIONS: usize = 16_384;

/// Bounds on what clients can make the controller hold or do.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Sessions of all streams together; more are answered with an `error`.
    pub sessions: usize,
    /// Sessions one stream may hold; more are answered with an `error`.
    pub sessions_per_stream: usize,
    /// Results queued for a stream and not yet read by its client. Answers
    /// wait for room (the stream's requests are not read meanwhile); a push
    /// that finds the queue full ends the stream with RESOURCE_EXHAUSTED.
    pub results_per_stream: usize,
    /// Work budget of one path search ([`MAX_WORK`]).
    pub search_work: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            sessions: MAX_SESSIONS,
            sessions_per_stream: MAX_SESSIONS_PER_STREAM,
            // Two full rounds of pushes to a stream at its session limit.
            results_per_stream: 2 * MAX_SESSIONS_PER_STREAM,
            search_work: MAX_WORK,
        }
    }
}

/// Knobs of the controller.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    pub sid_mode: SidMode,
    /// Keep a session's current path after a change unless the new best path
    /// improves the objective's first measure by more than this many percent
    /// (the current path must still be usable and meet every constraint).
    pub hysteresis_pct: Option<f64>,
    pub limits: Limits,
}

/// Why the controller ended a stream.
#[derive(Debug)]
pub enum StreamEnd {
    /// The client left `limit` results unread: its sessions are dropped.
    Overflow { limit: usize },
    /// The request stream failed (e.g. a message over the size limit).
    Broken(tonic::Status),
}

/// Set once a stream is closed: its reader stops, its search gives up.
#[derive(Debug, Default)]
pub struct StreamSignal {
    closed: AtomicBool,
    notify: Notify,
}

impl StreamSignal {
    fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        self.notify.notify_waiters();
    }

    /// Whether the stream is closed.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// Completes once the stream is closed.
    pub async fn closed(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Register before looking, so a close in between is not missed.
            notified.as_mut().enable();
            if self.is_closed() {
                return;
            }
            notified.await;
        }
    }
}

/// A new stream as its reader and its response see it.
#[derive(Debug)]
pub struct StreamHandle {
    pub id: StreamId,
    /// Answers and pushes, in order.
    pub results: mpsc::Receiver<api::PathResult>,
    /// Fires if the controller ends the stream (not on a normal close).
    pub ended: oneshot::Receiver<StreamEnd>,
    pub signal: Arc<StreamSignal>,
}

/// Room reserved on a stream's result queue for one answer.
#[derive(Debug)]
pub struct Slot(mpsc::OwnedPermit<api::PathResult>);

#[derive(Debug)]
struct Session {
    stream: StreamId,
    /// The request's canonical bytes (a stream's same request again
    /// replaces the session).
    key: Arc<[u8]>,
    request: Arc<api::PathRequest>,
    path: Option<Arc<Path>>,
    /// The last result sent.
    current: api::PathResult,
    /// The network generation `current` was computed on.
    generation: u64,
}

#[derive(Debug)]
struct StreamState {
    peer: String,
    tx: mpsc::Sender<api::PathResult>,
    ended: Option<oneshot::Sender<StreamEnd>>,
    signal: Arc<StreamSignal>,
    sessions: HashMap<Arc<[u8]>, SessionId>,
}

#[derive(Debug)]
struct Inner {
    net: Arc<Network>,
    streams: HashMap<StreamId, StreamState>,
    sessions: BTreeMap<SessionId, Session>,
    next_stream: StreamId,
    next_session: SessionId,
}

/// A session's new answer, computed on `generation`.
#[derive(Debug)]
struct Update {
    session: SessionId,
    generation: u64,
    answer: Answer,
}

/// The shared controller (cheap to clone).
#[derive(Debug, Clone)]
pub struct Controller {
    inner: Arc<Mutex<Inner>>,
    options: Options,
    /// Admin changes one at a time (requests and listings never wait for it).
    admin: Arc<Mutex<()>>,
    /// Path computations running now (requests and refreshes).
    computing: Arc<AtomicUsize>,
    /// Set once at shutdown: stream readers stop reading.
    stopping: Arc<tokio::sync::watch::Sender<bool>>,
}

/// Counts a computation while it runs.
struct Computing<'a>(&'a AtomicUsize);

impl<'a> Computing<'a> {
    fn start(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Computing(counter)
    }
}

impl Drop for Computing<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Send one result; `false` if the queue is full (the client does not read).
fn deliver(s: &StreamState, result: api::PathResult, slot: Option<Slot>) -> bool {
    match slot {
        Some(Slot(permit)) => {
            permit.send(result);
            true
        }
        None => !matches!(
            s.tx.try_send(result),
            Err(mpsc::error::TrySendError::Full(_))
        ),
    }
}

impl Inner {
    /// Remove a stream and its sessions; tell its reader and response why.
    fn end_stream(&mut self, id: StreamId, reason: Option<StreamEnd>) {
        let Some(mut s) = self.streams.remove(&id) else {
            return;
        };
        for session in s.sessions.values() {
            self.sessions.remove(session);
        }
        s.signal.close();
        if let (Some(reason), Some(ended)) = (reason, s.ended.take()) {
            let _ = ended.send(reason);
        }
        debug!(stream = id, "stream closed");
    }
}

impl Controller {
    /// A controller answering from `source`.
    pub fn new(source: Source, options: Options) -> Controller {
        Controller {
            inner: Arc::new(Mutex::new(Inner {
                net: Arc::new(Network {
                    generation: 0,
                    source,
                }),
                streams: HashMap::new(),
                sessions: BTreeMap::new(),
                next_stream: 1,
                next_session: 1,
            })),
            options,
            admin: Arc::new(Mutex::new(())),
            computing: Arc::new(AtomicUsize::new(0)),
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

    fn network(&self) -> Arc<Network> {
        Arc::clone(&self.lock().net)
    }

    /// Path computations running now (requests and their refreshes).
    pub fn computing(&self) -> usize {
        self.computing.load(Ordering::SeqCst)
    }

    /// Register a new stream.
    pub fn open_stream(&self, peer: String) -> StreamHandle {
        let (tx, results) = mpsc::channel(self.options.limits.results_per_stream.max(1));
        let (ended_tx, ended) = oneshot::channel();
        let signal = Arc::new(StreamSignal::default());
        let mut inner = self.lock();
        let id = inner.next_stream;
        inner.next_stream += 1;
        debug!(stream = id, %peer, "stream opened");
        inner.streams.insert(
            id,
            StreamState {
                peer,
                tx,
                ended: Some(ended_tx),
                signal: Arc::clone(&signal),
                sessions: HashMap::new(),
            },
        );
        StreamHandle {
            id,
            results,
            ended,
            signal,
        }
    }

    /// Forget a stream and its sessions (idempotent).
    pub fn close_stream(&self, id: StreamId) {
        self.lock().end_stream(id, None);
    }

    /// End a stream for `reason` (its response ends with that status).
    pub fn end_stream(&self, id: StreamId, reason: StreamEnd) {
        self.lock().end_stream(id, Some(reason));
    }

    /// Close every stream (shutdown): their response streams end.
    pub fn close_all(&self) {
        self.stopping.send_replace(true);
        let mut inner = self.lock();
        let ids: Vec<StreamId> = inner.streams.keys().copied().collect();
        for id in ids {
            inner.end_stream(id, None);
        }
    }

    /// Number of open streams and sessions.
    pub fn counts(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.streams.len(), inner.sessions.len())
    }

    /// Answer a request without opening a session (tests, benchmarks).
    pub fn answer(&self, req: &api::PathRequest) -> api::PathResult {
        let net = self.network();
        let budget = Budget {
            max_work: self.options.limits.search_work,
            cancel: None,
        };
        let (_, answer) = answer::compute(&net, &self.options, req, budget);
        answer.result_for(req)
    }

    /// Wait for room for one answer on the stream's queue (`None` if the
    /// stream is gone).
    pub async fn reserve(&self, stream: StreamId) -> Option<Slot> {
        let tx = self.lock().streams.get(&stream)?.tx.clone();
        tx.reserve_owned().await.ok().map(Slot)
    }

    /// Answer one request of a stream: the result goes to that stream only;
    /// a valid request becomes (or replaces) a session that follows changes.
    /// The answer needs room on the stream's queue: a full queue ends the
    /// stream ([`Controller::handle_request_in`] waits for room first).
    pub fn handle_request(&self, stream: StreamId, req: api::PathRequest) {
        self.handle(stream, req, None);
    }

    /// [`Controller::handle_request`] with room already reserved.
    pub fn handle_request_in(&self, stream: StreamId, req: api::PathRequest, slot: Slot) {
        self.handle(stream, req, Some(slot));
    }

    fn handle(&self, stream: StreamId, req: api::PathRequest, slot: Option<Slot>) {
        let key: Arc<[u8]> = req.encode_to_vec().into();
        let Some((net, signal, refused)) = self.begin(stream, &key) else {
            return;
        };
        let answer = match refused {
            Some(error) => Answer {
                valid: false,
                path: None,
                sids: Vec::new(),
                error: Some(error),
            },
            None => {
                let _running = Computing::start(&self.computing);
                let budget = Budget {
                    max_work: self.options.limits.search_work,
                    cancel: Some(&signal.closed),
                };
                answer::compute(&net, &self.options, &req, budget).1
            }
        };
        log_answer(stream, &req, &answer);
        let request = Arc::new(req);
        if let Some(session) = self.commit_request(stream, key, request, answer, &net, slot) {
            self.refresh(session);
        }
    }

    /// Snapshot for a request: the network, the stream's signal, and why
    /// the request is refused before any work (a session limit).
    fn begin(
        &self,
        stream: StreamId,
        key: &Arc<[u8]>,
    ) -> Option<(Arc<Network>, Arc<StreamSignal>, Option<String>)> {
        let inner = self.lock();
        let s = inner.streams.get(&stream)?;
        let refused = self.session_refusal(&inner, s, key);
        Some((Arc::clone(&inner.net), Arc::clone(&s.signal), refused))
    }

    /// Why a new session may not be opened on `s`, if it may not.
    fn session_refusal(&self, inner: &Inner, s: &StreamState, key: &Arc<[u8]>) -> Option<String> {
        if s.sessions.contains_key(key) {
            return None;
        }
        let limits = &self.options.limits;
        if s.sessions.len() >= limits.sessions_per_stream {
            return Some(format!(
                "this stream already has {} sessions: open another stream",
                limits.sessions_per_stream
            ));
        }
        if inner.sessions.len() >= limits.sessions {
            return Some(format!(
                "the controller holds {} sessions, its limit: try again later",
                limits.sessions
            ));
        }
        None
    }

    /// Send the answer and keep the session (valid requests only). Returns
    /// the session if it must be brought up to a newer network generation.
    fn commit_request(
        &self,
        stream: StreamId,
        key: Arc<[u8]>,
        request: Arc<api::PathRequest>,
        mut answer: Answer,
        net: &Network,
        slot: Option<Slot>,
    ) -> Option<SessionId> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let s = inner.streams.get(&stream)?;
        if answer.valid {
            if let Some(error) = self.session_refusal(inner, s, &key) {
                answer = Answer {
                    valid: false,
                    path: None,
                    sids: Vec::new(),
                    error: Some(error),
                };
            }
        }
        let result = answer.result_for(&request);
        let delivered = deliver(s, result.clone(), slot);
        if !delivered {
            let limit = self.options.limits.results_per_stream;
            inner.end_stream(stream, Some(StreamEnd::Overflow { limit }));
            return None;
        }
        // Invalid requests are answered but never followed.
        if !answer.valid {
            return None;
        }
        let id = inner.upsert_session(Session {
            stream,
            key,
            request,
            path: answer.path,
            current: result,
            generation: net.generation,
        })?;
        (net.generation < inner.net.generation).then_some(id)
    }

    /// Bring one session up to the current network generation (a request
    /// answered on a generation an admin change replaced meanwhile).
    fn refresh(&self, id: SessionId) {
        loop {
            let (net, request, path) = {
                let inner = self.lock();
                let Some(s) = inner.sessions.get(&id) else {
                    return;
                };
                if s.generation >= inner.net.generation {
                    return;
                }
                (
                    Arc::clone(&inner.net),
                    Arc::clone(&s.request),
                    s.path.clone(),
                )
            };
            let answer = {
                let _running = Computing::start(&self.computing);
                let budget = Budget {
                    max_work: self.options.limits.search_work,
                    cancel: None,
                };
                let (plan, best) = answer::compute(&net, &self.options, &request, budget);
                answer::refreshed(&net, &self.options, (&plan, &best), path.as_deref())
            };
            let update = Update {
                session: id,
                generation: net.generation,
                answer,
            };
            self.commit_updates(vec![update]);
        }
    }

    /// Apply computed answers to their sessions (only to a newer generation)
    /// and push those that changed. Returns the number pushed.
    fn commit_updates(&self, updates: Vec<Update>) -> u32 {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let mut pushed = 0u32;
        let mut overflowed = Vec::new();
        for u in updates {
            let Some(session) = inner.sessions.get_mut(&u.session) else {
                continue;
            };
            if session.generation >= u.generation {
                continue;
            }
            session.generation = u.generation;
            session.path = u.answer.path.clone();
            if !u.answer.differs_from(&session.current) {
                continue;
            }
            session.current.ipv6_sid_addresses = u.answer.sids;
            session.current.error = u.answer.error;
            let Some(s) = inner.streams.get(&session.stream) else {
                continue;
            };
            if deliver(s, session.current.clone(), None) {
                pushed += 1;
            } else {
                overflowed.push(session.stream);
            }
        }
        let limit = self.options.limits.results_per_stream;
        for stream in overflowed {
            inner.end_stream(stream, Some(StreamEnd::Overflow { limit }));
        }
        pushed
    }
}

impl Inner {
    /// Insert `session`, or replace its stream's session for the same request.
    fn upsert_session(&mut self, session: Session) -> Option<SessionId> {
        let s = self.streams.get_mut(&session.stream)?;
        let id = match s.sessions.get(&session.key) {
            Some(&id) => id,
            None => {
                let id = self.next_session;
                self.next_session += 1;
                s.sessions.insert(Arc::clone(&session.key), id);
                id
            }
        };
        self.sessions.insert(id, session);
        Some(id)
    }
}

fn log_answer(stream: StreamId, req: &api::PathRequest, answer: &Answer) {
    match &answer.error {
        // Client input is quoted short: logs never grow with a request.
        Some(e) => info!(
            stream,
            src = %quote(&req.ipv6_source_address),
            dst = %quote(&req.ipv6_destination_address),
            reason = %e,
            "no path"
        ),
        None => debug!(stream, sids = ?answer.sids, "path"),
    }
}

#[cfg(test)]
mod tests;
