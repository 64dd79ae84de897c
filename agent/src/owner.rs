//! The one thread that owns the dataplane handle.
//!
//! Everything that changes the maps or reads them arrives here as an
//! [`Update`] on one bounded channel: controller results, DNS answers,
//! connection state, report requests. The client owner keeps the inputs of
//! the planner, replans on every change and lets the applier write the
//! difference; answers with no current request are ignored. On `Stop` (or
//! when every sender is gone) it removes what it wrote and drops the
//! dataplane, which detaches the programs.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv6Addr;
use std::time::{Instant, SystemTime};

use intent_proto::api;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, error, info, warn};

use crate::apply::Applier;
use crate::config::{Config, Target};
use crate::plan::{self, Inputs, Mode, Wanted};
use crate::port::{ClientPort, PortError, PortState};
use crate::request::{read_result, Answer, RequestKey};
use crate::resolve::{DnsAnswer, LookupOutcome};
use crate::status::{
    unix_seconds, AgentCounters, ControllerReport, LearnedAddress, NameReport, PathReport, Report,
    ReportRequest,
};

/// Capacity of the owner's channel: producers wait when it is full.
pub const UPDATE_QUEUE: usize = 1024;

/// What the owner is told.
#[derive(Debug)]
pub enum Update {
    /// A controller result (first answer or push), with its arrival time.
    Result {
        result: api::PathResult,
        received: Instant,
    },
    /// A DNS answer for a configured name.
    Dns(DnsAnswer),
    /// The controller connection changed.
    Controller(ControllerReport),
    /// resolv.conf's resolvers (whenever the file changes).
    Resolvers(Vec<Ipv6Addr>),
    /// The interface's addresses (whenever they change).
    LocalAddresses(Vec<Ipv6Addr>),
    /// The namespace's IPv6 routes changed: paths' handoffs are chosen again.
    RoutesChanged,
    /// Answer with the current report.
    Report(ReportRequest),
    /// Remove everything written, release the dataplane, end.
    Stop,
}

/// Who the agent is, for reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub mode: String,
    pub interface: String,
    pub programs: String,
    pub started: SystemTime,
}

/// The client owner's state.
#[derive(Debug)]
pub struct ClientOwner<P> {
    config: Config,
    mode: Mode,
    source: Ipv6Addr,
    identity: Identity,
    applier: Applier<P>,
    answers: HashMap<RequestKey, Answer>,
    dns: BTreeMap<String, BTreeSet<Ipv6Addr>>,
    names: BTreeMap<String, NameReport>,
    wanted: Wanted,
    requests: watch::Sender<BTreeSet<RequestKey>>,
    controller: Option<ControllerReport>,
    counters: AgentCounters,
}

impl<P: ClientPort> ClientOwner<P> {
    pub fn new(
        config: Config,
        mode: Mode,
        source: Ipv6Addr,
        identity: Identity,
        port: P,
        requests: watch::Sender<BTreeSet<RequestKey>>,
    ) -> ClientOwner<P> {
        let names = names_of(&config);
        let mut owner = ClientOwner {
            config,
            mode,
            source,
            identity,
            applier: Applier::new(port),
            answers: HashMap::new(),
            dns: BTreeMap::new(),
            names,
            wanted: Wanted::default(),
            requests,
            controller: None,
            counters: AgentCounters::default(),
        };
        owner.replan();
        owner
    }

    /// Handle one update; false when the owner should stop.
    pub fn handle(&mut self, update: Update) -> bool {
        match update {
            Update::Result { result, received } => self.on_result(&result, received),
            Update::Dns(answer) => self.on_dns(answer),
            Update::Controller(report) => self.controller = Some(report),
            Update::Resolvers(resolvers) => self.on_resolvers(&resolvers),
            Update::LocalAddresses(addresses) => {
                match self.applier.port_mut().set_local_addresses(&addresses) {
                    Ok(()) => info!(?addresses, "local addresses changed"),
                    Err(err) => error!(error = %err, "local addresses not updated"),
                }
            }
            Update::RoutesChanged => match self.applier.port_mut().refresh_routes() {
                Ok(0) => debug!("routes changed; every path keeps its handoff"),
                Ok(changed) => info!(changed, "routes changed; paths' handoffs chosen again"),
                Err(err) => error!(error = %err, "handoffs not refreshed after a route change"),
            },
            Update::Report(reply) => {
                let _ = reply.send(self.report());
            }
            Update::Stop => return false,
        }
        true
    }

    /// Serve updates until `Stop` or until every sender is gone, then
    /// remove everything written.
    pub fn run(mut self, mut updates: mpsc::Receiver<Update>) {
        while let Some(update) = updates.blocking_recv() {
            if !self.handle(update) {
                break;
            }
        }
        match self.applier.clear() {
            Ok(done) => info!(removed = done.removed, "removed every path the agent wrote"),
            Err(err) => error!(error = %err, "removing the agent's paths"),
        }
    }

    fn on_result(&mut self, result: &api::PathResult, received: Instant) {
        self.counters.results += 1;
        let received_result = match read_result(result) {
            Ok(r) => r,
            Err(e) => {
                self.counters.results_ignored += 1;
                warn!(error = %e, "ignoring a controller result that names no request");
                return;
            }
        };
        let key = received_result.key;
        if received_result.source != self.source || !self.wanted.requests.contains(&key) {
            self.counters.results_ignored += 1;
            debug!(request = %key, "ignoring a result for no current request (stale or foreign)");
            return;
        }
        match &received_result.answer {
            Answer::Path(sids) => info!(request = %key, ?sids, "path from the controller"),
            Answer::Error(e) if e.starts_with("refused") => {
                error!(request = %key, reason = %e, "controller path refused; the fallback (if any) stays")
            }
            Answer::Error(e) => {
                warn!(request = %key, error = %e, "controller has no path; the fallback (if any) stays")
            }
        }
        if self.answers.get(&key) == Some(&received_result.answer) {
            return;
        }
        self.answers.insert(key, received_result.answer);
        self.replan();
        debug!(elapsed = ?received.elapsed(), "result applied");
    }

    fn on_resolvers(&mut self, resolvers: &[Ipv6Addr]) {
        match self.applier.port_mut().set_resolvers(resolvers) {
            Ok(()) if resolvers.is_empty() => {
                warn!("resolv.conf names no IPv6 resolver: DNS snooping learns nothing")
            }
            Ok(()) => info!(?resolvers, "DNS replies believed from these resolvers"),
            Err(err) => error!(error = %err, "resolvers not updated"),
        }
    }

    fn on_dns(&mut self, answer: DnsAnswer) {
        self.counters.dns_answers += 1;
        let Some(report) = self.names.get_mut(&answer.name) else {
            return;
        };
        report.resolved_unix = Some(unix_seconds(answer.at));
        report.next_lookup_unix = Some(unix_seconds(answer.next));
        let addresses = match answer.outcome {
            LookupOutcome::Found { addresses, .. } => {
                report.error = None;
                addresses
            }
            LookupOutcome::NoAddresses { reason, .. } => {
                report.error = Some(reason);
                BTreeSet::new()
            }
            LookupOutcome::Failed(e) => {
                report.error = Some(e);
                return;
            }
        };
        report.addresses = addresses.iter().copied().collect();
        if self.dns.get(&answer.name) == Some(&addresses) {
            return;
        }
        info!(name = %answer.name, ?addresses, "addresses changed");
        self.dns.insert(answer.name, addresses);
        self.replan();
    }

    /// Plan from the current inputs, publish the requests, apply.
    fn replan(&mut self) {
        let wanted = plan::plan(Inputs {
            config: &self.config,
            mode: self.mode,
            answers: &self.answers,
            dns: &self.dns,
        });
        for conflict in &wanted.conflicts {
            if !self.wanted.conflicts.contains(conflict) {
                warn!("{conflict}");
            }
        }
        // Answers of requests no longer wanted are stale: forget them.
        self.answers.retain(|k, _| wanted.requests.contains(k));
        self.requests.send_if_modified(|current| {
            let changed = *current != wanted.requests;
            if changed {
                current.clone_from(&wanted.requests);
            }
            changed
        });
        match self.applier.apply(&wanted) {
            Ok(done) if done.written + done.removed > 0 => {
                self.counters.applies += 1;
                info!(
                    written = done.written,
                    removed = done.removed,
                    "maps updated"
                );
            }
            Ok(_) => {}
            Err(err) => {
                self.counters.apply_errors += 1;
                error!(error = %err, "maps not updated");
            }
        }
        self.wanted = wanted;
    }

    /// The current report (maps read back from the dataplane).
    pub fn report(&self) -> Report {
        let mut report = Report {
            mode: self.identity.mode.clone(),
            interface: self.identity.interface.clone(),
            pid: std::process::id(),
            started_unix: unix_seconds(self.identity.started),
            programs: self.identity.programs.clone(),
            source: Some(self.source),
            controller: self.controller.clone(),
            dns: self.names.values().cloned().collect(),
            agent: self.counters,
            ..Report::default()
        };
        let state = match self.applier.port().read() {
            Ok(state) => state,
            Err(err) => {
                report.errors.push(err.to_string());
                PortState::default()
            }
        };
        report.paths = path_reports(&self.wanted, &state);
        report.dns_learned = state
            .dns_learned
            .iter()
            .map(|(address, service_id)| LearnedAddress {
                address: *address,
                service_id: *service_id,
            })
            .collect();
        report.counters = state.counters.into_iter().collect();
        report.route_mtus = state.route_mtus;
        report.resolvers = state.resolvers;
        report.local_addresses = state.local_addresses;
        report
    }

    pub fn port(&self) -> &P {
        self.applier.port()
    }
}

fn names_of(config: &Config) -> BTreeMap<String, NameReport> {
    config
        .services
        .iter()
        .filter_map(|s| match &s.target {
            Target::Name(name) => Some((
                name.clone(),
                NameReport {
                    name: name.clone(),
                    service: s.name.clone(),
                    addresses: Vec::new(),
                    resolved_unix: None,
                    next_lookup_unix: None,
                    error: None,
                },
            )),
            Target::Addresses(_) => None,
        })
        .collect()
}

fn path_reports(wanted: &Wanted, state: &PortState) -> Vec<PathReport> {
    wanted
        .entries
        .iter()
        .map(|e| {
            let held = state.paths.get(&e.key).cloned().unwrap_or_default();
            PathReport {
                service: e.service.clone(),
                destination: e.key.destination,
                port: e.key.port,
                proto: e.key.proto.to_string(),
                applied: held == e.sids,
                sids: held,
                origin: e.origin,
                intents: e.request.as_ref().map(|r| r.intents.to_string()),
                note: e.note.clone(),
                handoff: state.handoffs.get(&e.key).cloned(),
            }
        })
        .collect()
}

/// The owner thread of a running agent.
#[derive(Debug)]
pub struct OwnerHandle {
    updates: mpsc::Sender<Update>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl OwnerHandle {
    /// Start an owner thread: `make` builds the dataplane handle on that
    /// thread (it never leaves it), then `owner` turns it into the loop.
    /// Returns once the handle exists, or with the error that prevented it.
    pub async fn spawn<T, F, R>(make: F, run: R) -> Result<OwnerHandle, PortError>
    where
        T: 'static,
        F: FnOnce() -> Result<T, PortError> + Send + 'static,
        R: FnOnce(T, mpsc::Receiver<Update>) + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(UPDATE_QUEUE);
        let (ready_tx, ready_rx) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("dataplane".into())
            .spawn(move || match make() {
                Ok(port) => {
                    let _ = ready_tx.send(Ok(()));
                    run(port, rx);
                }
                Err(err) => {
                    let _ = ready_tx.send(Err(err));
                }
            })
            .map_err(|e| PortError::new("start the dataplane thread", e))?;
        let ready = ready_rx.await.unwrap_or_else(|_| {
            Err(PortError::new(
                "the dataplane thread",
                "ended before it was ready",
            ))
        });
        let handle = OwnerHandle {
            updates: tx,
            thread: Some(thread),
        };
        ready.map(|()| handle)
    }

    pub fn sender(&self) -> mpsc::Sender<Update> {
        self.updates.clone()
    }

    /// The current report, or None when the owner has stopped.
    pub async fn report(&self) -> Option<Report> {
        crate::status::current(&self.updates).await
    }

    /// Stop the owner: it removes what it wrote and releases the dataplane;
    /// returns when that is done.
    pub async fn stop(mut self) {
        let _ = self.updates.send(Update::Stop).await;
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}
