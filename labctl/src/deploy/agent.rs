//! A running agent's status, read the way an operator reads it: `srv6-agent
//! status --interface IF --output json`, run inside the agent's namespace
//! (its status socket is named after the interface and the namespace).
//!
//! Only the fields labctl acts on are read (the JSON report is the agent's
//! contract, docs/agent.md "Operations"; unknown fields are ignored): the
//! programs, the controller connection, each path with its SID list and
//! origin, the names it resolves, and the counters.

use std::collections::BTreeMap;
use std::net::Ipv6Addr;
use std::ops::ControlFlow;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use labns::{SpawnOptions, Wait};
use serde::Deserialize;

use crate::error::{Error, Result};

/// How long `srv6-agent status` may take.
pub const STATUS_WAIT: Duration = Duration::from_secs(2);

/// What labctl reads of `srv6-agent status --output json`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AgentStatus {
    /// `client (controller)`, `client (standalone)` or `server`.
    pub mode: String,
    /// The programs and their hooks (empty: nothing attached).
    pub programs: String,
    pub controller: Option<ControllerConn>,
    #[serde(default)]
    pub paths: Vec<AgentPath>,
    #[serde(default)]
    pub dns: Vec<AgentName>,
    /// Dataplane decision counters by name (`too_big`, `encapsulated`, ...).
    #[serde(default)]
    pub counters: BTreeMap<String, u64>,
}

/// The agent's controller connection.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ControllerConn {
    /// `connecting`, `connected` or `disconnected`.
    pub state: String,
}

/// One (service, address, port, protocol) and what the map holds for it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AgentPath {
    pub destination: Ipv6Addr,
    pub port: u16,
    pub proto: String,
    /// Travel order; empty: not steered.
    pub sids: Vec<Ipv6Addr>,
    /// `config`, `controller`, `fallback` or `none`.
    pub origin: String,
    /// Why the controller's path is not used.
    pub note: Option<String>,
}

/// A name the agent resolves.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AgentName {
    pub name: String,
    pub addresses: Vec<Ipv6Addr>,
    pub resolved_unix: Option<u64>,
    pub error: Option<String>,
}

impl AgentStatus {
    /// Why a client in controller mode is not yet settled (`None`: it is
    /// connected, every name has an answer and every path holds the
    /// controller's list or the reason it has none).
    pub fn waiting_for_controller(&self) -> Option<String> {
        match &self.controller {
            Some(c) if c.state == "connected" => {}
            Some(c) => return Some(format!("controller {}", c.state)),
            None => return Some("no controller connection".to_string()),
        }
        if let Some(n) = self
            .dns
            .iter()
            .find(|n| n.resolved_unix.is_none() && n.error.is_none())
        {
            return Some(format!("{} not resolved yet", n.name));
        }
        if self.paths.is_empty() {
            return Some("no paths yet".to_string());
        }
        self.paths
            .iter()
            .find(|p| p.origin != "controller" && p.note.is_none())
            .map(|p| {
                format!(
                    "no answer yet for [{}]:{}/{} ({})",
                    p.destination, p.port, p.proto, p.origin
                )
            })
    }

    /// The SID list the agent holds for (`destination`, `port`), any protocol.
    pub fn path(&self, destination: Ipv6Addr, port: u16) -> Option<&AgentPath> {
        self.paths
            .iter()
            .find(|p| p.destination == destination && p.port == port && !p.sids.is_empty())
    }
}

/// Read the status of the agent on `interface` in namespace `netns`.
pub fn status(bin: &Path, netns: &str, interface: &str) -> Result<AgentStatus> {
    let mut cmd = Command::new(bin);
    cmd.args(["status", "--interface", interface, "--output", "json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = labns::spawn_command_in(netns, &mut cmd, &SpawnOptions::new())?.child;
    let what = format!("srv6-agent status in {netns}");
    let done = Wait::new(&what, STATUS_WAIT)
        .every(Duration::from_millis(5))
        .try_until(|| match child.try_wait() {
            Ok(Some(_)) => Ok(ControlFlow::Break(())),
            Ok(None) => Ok(ControlFlow::Continue("running")),
            Err(source) => Err(Error::Sys {
                op: "wait",
                what: what.clone(),
                source,
            }),
        });
    if let Err(e) = done {
        let _ = child.kill();
        let _ = child.wait();
        return Err(e);
    }
    let out = child.wait_with_output().map_err(|source| Error::Sys {
        op: "read",
        what: what.clone(),
        source,
    })?;
    if !out.status.success() {
        return Err(Error::Agent(format!(
            "{what}: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    serde_json::from_slice(&out.stdout)
        .map_err(|e| Error::Agent(format!("{what}: not a status report: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report as `srv6-agent status --output json` prints it (docs/agent.md).
    const CLIENT: &str = r#"{
      "mode": "client (controller)", "interface": "site-a-9", "pid": 42, "started_unix": 1,
      "programs": "egress tcx, ingress tc", "source": "fcbb:cc00:1::a",
      "controller": {"url": "http://[fcbb:cc00:5::f]:5001", "state": "connected",
                     "since_unix": 1, "last_error": null, "requests": 1, "connections": 1},
      "paths": [{"service": "webserver-b", "destination": "fcbb:cc00:2::a", "port": 80,
                 "proto": "tcp", "sids": ["fcbb:bb00:1::2", "fcbb:bb00:2::2"],
                 "origin": "controller", "applied": true, "intents": "high-bandwidth",
                 "note": null}],
      "dns": [{"name": "wb.hawk.net", "service": "webserver-b", "addresses": ["fcbb:cc00:2::a"],
               "resolved_unix": 5, "next_lookup_unix": 65, "error": null}],
      "dns_learned": [], "flows": [], "trust": null,
      "counters": {"encapsulated": 10, "too_big": 0},
      "agent": {"results": 1, "results_ignored": 0, "dns_answers": 1, "applies": 1, "apply_errors": 0},
      "errors": []
    }"#;

    #[test]
    fn a_connected_client_with_its_answers_is_settled() {
        let s: AgentStatus = serde_json::from_str(CLIENT).unwrap();
        assert_eq!(s.waiting_for_controller(), None);
        let dst: Ipv6Addr = "fcbb:cc00:2::a".parse().unwrap();
        assert_eq!(s.path(dst, 80).unwrap().sids.len(), 2);
        assert!(s.path(dst, 81).is_none());
        assert_eq!(s.counters["too_big"], 0);
    }

    #[test]
    fn a_client_still_waiting_says_for_what() {
        let mut s: AgentStatus = serde_json::from_str(CLIENT).unwrap();
        s.paths[0].origin = "fallback".into();
        assert_eq!(
            s.waiting_for_controller().unwrap(),
            "no answer yet for [fcbb:cc00:2::a]:80/tcp (fallback)"
        );
        s.paths[0].note = Some("no path".into());
        assert_eq!(s.waiting_for_controller(), None, "an answer with a reason");
        s.dns[0].resolved_unix = None;
        assert_eq!(
            s.waiting_for_controller().unwrap(),
            "wb.hawk.net not resolved yet"
        );
        s.controller.as_mut().unwrap().state = "connecting".into();
        assert_eq!(s.waiting_for_controller().unwrap(), "controller connecting");
    }
}
