//! What a running agent reports (`srv6-agent status`, `--metrics`), its
//! control socket under `/run/srv6-agent/`, and the table rendering.
//!
//! Protocol: connect to the Unix socket; the agent writes one JSON
//! [`Report`] and closes. Nothing is read from the client.

use std::collections::BTreeMap;
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

use crate::owner::Update;
use crate::plan::Origin;

/// Seconds since the epoch.
pub fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A running agent's state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// `client (controller)`, `client (standalone)` or `server`.
    pub mode: String,
    pub interface: String,
    pub pid: u32,
    pub started_unix: u64,
    /// Programs and their hooks.
    pub programs: String,
    /// Source address of path requests (client).
    pub source: Option<Ipv6Addr>,
    pub controller: Option<ControllerReport>,
    /// Every (service, address, port, protocol) of the configuration.
    pub paths: Vec<PathReport>,
    /// Names the agent resolves (client).
    pub dns: Vec<NameReport>,
    /// Addresses learned by DNS snooping (client, standalone).
    pub dns_learned: Vec<LearnedAddress>,
    /// The resolvers whose DNS replies snooping believes (client; the
    /// namespace's resolv.conf, followed while the agent runs).
    #[serde(default)]
    pub resolvers: Vec<Ipv6Addr>,
    /// This host's addresses as the dataplane holds them (the interface's,
    /// followed while the agent runs).
    #[serde(default)]
    pub local_addresses: Vec<Ipv6Addr>,
    /// Route MTU the agent gave each steered destination (client; the MTU
    /// duty of whoever writes paths).
    #[serde(default)]
    pub route_mtus: BTreeMap<Ipv6Addr, u32>,
    /// Return paths learned (server).
    pub flows: Vec<FlowReport>,
    /// Whose packets may set return paths (server).
    pub trust: Option<String>,
    /// Dataplane decision counters.
    pub counters: BTreeMap<String, u64>,
    /// The agent's own counters.
    pub agent: AgentCounters,
    /// Problems reading the dataplane for this report.
    pub errors: Vec<String>,
}

/// The controller connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControllerReport {
    pub url: String,
    /// `connecting`, `connected` or `disconnected`.
    pub state: String,
    pub since_unix: u64,
    pub last_error: Option<String>,
    /// Requests the agent wants answered now.
    pub requests: usize,
    /// Connections made so far (1 + reconnects).
    pub connections: u64,
}

/// One (service, address, port, protocol).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathReport {
    pub service: String,
    pub destination: Ipv6Addr,
    pub port: u16,
    pub proto: String,
    /// The SID list the map holds (travel order; empty: not steered).
    pub sids: Vec<Ipv6Addr>,
    pub origin: Origin,
    /// Whether the map holds what the plan wants.
    pub applied: bool,
    /// The intents asked for (controller mode).
    pub intents: Option<String>,
    /// Why the controller's path is not used.
    pub note: Option<String>,
    /// How its packets reach the first SID (`stack`: the stack's neighbour,
    /// `neighbour`: handed to the SID's), as the map holds it.
    pub handoff: Option<String>,
}

/// A name the agent resolves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameReport {
    pub name: String,
    pub service: String,
    pub addresses: Vec<Ipv6Addr>,
    pub resolved_unix: Option<u64>,
    /// When the agent asks again.
    pub next_lookup_unix: Option<u64>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LearnedAddress {
    pub address: Ipv6Addr,
    pub service_id: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowReport {
    pub peer: Ipv6Addr,
    pub port: u16,
    pub proto: u8,
    /// The reversed list, wire order: `[0]` is the peer.
    pub segments: Vec<Ipv6Addr>,
}

/// Counters of the agent itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentCounters {
    /// Results received from the controller.
    pub results: u64,
    /// Results that answered no current request (stale, foreign) and were ignored.
    pub results_ignored: u64,
    /// DNS answers received.
    pub dns_answers: u64,
    /// Applies that changed the maps.
    pub applies: u64,
    /// Applies that failed (and were undone).
    pub apply_errors: u64,
}

/// A request for the current report, answered by the dataplane's owner.
pub type ReportRequest = oneshot::Sender<Report>;

/// Why the status of an agent could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a status report: {source}", path.display())]
    Decode {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// Serve reports on `listener` until the task is dropped: each connection
/// gets one JSON report from the dataplane's owner.
pub async fn serve(listener: UnixListener, owner: mpsc::Sender<Update>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(err) => {
                warn!(error = %err, "status socket accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let owner = owner.clone();
        tokio::spawn(async move {
            if let Err(err) = answer(stream, owner).await {
                debug!(error = %err, "status client");
            }
        });
    }
}

/// The owner's current report, or None when it has stopped.
pub async fn current(owner: &mpsc::Sender<Update>) -> Option<Report> {
    let (tx, rx) = oneshot::channel();
    owner.send(Update::Report(tx)).await.ok()?;
    rx.await.ok()
}

async fn answer(mut stream: UnixStream, owner: mpsc::Sender<Update>) -> std::io::Result<()> {
    let report = current(&owner)
        .await
        .ok_or_else(|| std::io::Error::other("the agent is stopping"))?;
    let json = serde_json::to_vec(&report).map_err(std::io::Error::other)?;
    stream.write_all(&json).await?;
    stream.shutdown().await
}

/// Read the report of the agent listening on `socket`.
pub async fn query(socket: &Path) -> Result<Report, StatusError> {
    let io = |source| StatusError::Io {
        path: socket.to_owned(),
        source,
    };
    let mut stream = UnixStream::connect(socket).await.map_err(io)?;
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).await.map_err(io)?;
    serde_json::from_slice(&bytes).map_err(|source| StatusError::Decode {
        path: socket.to_owned(),
        source,
    })
}

fn list(addrs: &[Ipv6Addr]) -> String {
    if addrs.is_empty() {
        return "-".to_owned();
    }
    addrs
        .iter()
        .map(Ipv6Addr::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

fn ago(now: u64, then: u64) -> String {
    format!("{}s ago", now.saturating_sub(then))
}

/// The report as text tables (the `--output table` of `status`).
pub fn render(report: &Report) -> String {
    let now = unix_seconds(SystemTime::now());
    let mut out = render_identity(report, now);
    if !report.paths.is_empty() {
        out.push_str(&format!("{}\n", paths_table(&report.paths)));
    }
    if !report.dns.is_empty() {
        out.push_str(&format!("{}\n", names_table(&report.dns, now)));
    }
    out.push_str(&render_dns_and_routes(report));
    if !report.flows.is_empty() {
        out.push_str(&format!("{}\n", flows_table(&report.flows)));
    }
    out.push_str(&render_counters(&report.counters));
    for e in &report.errors {
        out.push_str(&format!("error: {e}\n"));
    }
    out
}

/// Mode, interface, uptime and programs; source, controller and trust.
fn render_identity(report: &Report, now: u64) -> String {
    let mut out = format!(
        "{} on {} (pid {}, up {}s): {}\n",
        report.mode,
        report.interface,
        report.pid,
        now.saturating_sub(report.started_unix),
        report.programs
    );
    if let Some(source) = report.source {
        out.push_str(&format!("source address {source}\n"));
    }
    if let Some(c) = &report.controller {
        out.push_str(&format!(
            "controller {}: {} since {}, {} requests, {} connections{}\n",
            c.url,
            c.state,
            ago(now, c.since_unix),
            c.requests,
            c.connections,
            c.last_error
                .as_ref()
                .map(|e| format!(", last error: {e}"))
                .unwrap_or_default()
        ));
    }
    if let Some(trust) = &report.trust {
        out.push_str(&format!("return paths learned from {trust}\n"));
    }
    out
}

fn paths_table(paths: &[PathReport]) -> Table {
    let mut t = table(&[
        "service",
        "destination",
        "port",
        "SIDs (travel order)",
        "origin",
        "note",
    ]);
    for p in paths {
        let note = match (&p.note, p.applied) {
            (_, false) => "not applied (see the log)".to_owned(),
            (Some(n), true) => n.clone(),
            (None, true) => p.intents.clone().unwrap_or_default(),
        };
        t.add_row(vec![
            p.service.clone(),
            p.destination.to_string(),
            format!("{}/{}", p.port, p.proto),
            list(&p.sids),
            p.origin.as_str().to_owned(),
            note,
        ]);
    }
    t
}

fn names_table(names: &[NameReport], now: u64) -> Table {
    let mut t = table(&["name", "service", "addresses", "resolved", "error"]);
    for n in names {
        t.add_row(vec![
            n.name.clone(),
            n.service.clone(),
            list(&n.addresses),
            n.resolved_unix
                .map(|r| ago(now, r))
                .unwrap_or_else(|| "never".into()),
            n.error.clone().unwrap_or_default(),
        ]);
    }
    t
}

/// Believed resolvers, route MTUs and snooped answers, a line each when any.
fn render_dns_and_routes(report: &Report) -> String {
    let mut out = String::new();
    if !report.resolvers.is_empty() {
        out.push_str(&format!(
            "DNS replies believed from {}\n",
            list(&report.resolvers)
        ));
    }
    if !report.route_mtus.is_empty() {
        let mtus: Vec<String> = report
            .route_mtus
            .iter()
            .map(|(d, m)| format!("{d} {m}"))
            .collect();
        out.push_str(&format!("route MTUs: {}\n", mtus.join(", ")));
    }
    if !report.dns_learned.is_empty() {
        let learned: Vec<String> = report
            .dns_learned
            .iter()
            .map(|l| format!("{} (service {})", l.address, l.service_id))
            .collect();
        out.push_str(&format!("snooped DNS answers: {}\n", learned.join(", ")));
    }
    out
}

fn flows_table(flows: &[FlowReport]) -> Table {
    let mut t = table(&["peer", "port", "proto", "return path (wire order)"]);
    for f in flows {
        t.add_row(vec![
            f.peer.to_string(),
            f.port.to_string(),
            f.proto.to_string(),
            list(&f.segments),
        ]);
    }
    t
}

/// The counters that are not 0, or `all 0`.
fn render_counters(counters: &BTreeMap<String, u64>) -> String {
    let nonzero: Vec<String> = counters
        .iter()
        .filter(|(_, v)| **v > 0)
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    let text = if nonzero.is_empty() {
        "all 0".to_owned()
    } else {
        nonzero.join(", ")
    };
    format!("counters: {text}\n")
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_header(header.to_vec());
    t
}
