//! What a lab runs besides its DNS server: the intent controller
//! (`mock-controller`) on the `controller` node and the agents
//! (`srv6-agent`) on hosts with `agent:`, as journalled processes inside
//! their namespaces ([`crate::procs`]).
//!
//! - The controller computes paths on the lab's own topology (the copy in
//!   the state directory): `mock-controller --topology STATE/topology.yaml
//!   --listen [ADDRESS]:5001 --admin [::1]:5002`. The admin API listens on
//!   the namespace's loopback only: labctl calls it from a thread inside
//!   that namespace ([`controller`]).
//! - A client agent runs `srv6-agent client --interface IF --config
//!   STATE/agents/NODE.yaml` (the topology's `agent_config`, copied), with
//!   `--controller http://[ADDRESS]:5001` when the lab has a controller
//!   (controller mode), standalone otherwise; with the lab's resolv.conf.
//! - A server agent runs `srv6-agent server --interface IF` trusting the
//!   routed prefixes of the lab's hosts (`--trusted-prefix` each).
//!
//! Readiness is a condition, never a sleep: the controller accepts on both
//! ports (from its own namespace); an agent's status answers
//! ([`agent::status`], so its programs are attached) and a client in
//! controller mode is connected, has resolved its names and holds the
//! controller's answer (or its reason for having none) for every path.
//!
//! The binaries are looked up next to labctl's own executable (cargo puts
//! every binary of the workspace in the same `target/<profile>/`), then in
//! `PATH` ([`find_binary`]).
//!
//! # Layout
//! - this file: [`Deployment`] (pure: what runs where, with which
//!   arguments; `deploy.json` in the state directory), the binaries, start
//!   and readiness.
//! - [`agent`]: a running agent's status (`srv6-agent status --output json`).
//! - [`controller`]: the controller's admin API from its namespace.

pub mod agent;
pub mod controller;

use std::net::{Ipv6Addr, SocketAddr};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::Ipv6Net;
use serde::{Deserialize, Serialize};
use topology::{AgentRole, NodeKind, Topology};

use crate::error::{Error, Result};
use crate::plan::netns_name;
use crate::procs::{self, Spec, Started};
use crate::state::Journal;

/// The controller's intent port (the original's).
pub const CONTROLLER_PORT: u16 = 5001;
/// The controller's admin API, on its namespace's loopback.
pub const ADMIN_ADDR: &str = "[::1]:5002";
/// How long the controller gets to accept.
pub const CONTROLLER_READY: Duration = Duration::from_secs(10);
/// How long the agents get to attach and (controller mode) receive their paths.
pub const AGENTS_READY: Duration = Duration::from_secs(30);
/// Journal name of the controller.
pub const CONTROLLER: &str = "controller";
/// The controller's binary.
pub const CONTROLLER_BIN: &str = "mock-controller";
/// The agent's binary.
pub const AGENT_BIN: &str = "srv6-agent";

/// Where the binaries a deployment runs are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binaries {
    pub controller: Option<PathBuf>,
    pub agent: Option<PathBuf>,
}

/// How the controller runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ControllerRun {
    /// Paths computed on a topology file.
    Computed {
        topology: PathBuf,
        minimal_sids: bool,
    },
    /// Paths from a static table (`--static`).
    Static { table: PathBuf },
}

/// The controller of a lab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControllerSpec {
    pub node: String,
    pub netns: String,
    pub address: Ipv6Addr,
    pub run: ControllerRun,
}

impl ControllerSpec {
    /// Where agents reach it.
    pub fn listen(&self) -> SocketAddr {
        SocketAddr::from((self.address, CONTROLLER_PORT))
    }

    /// The URL agents are given.
    pub fn url(&self) -> String {
        format!("http://{}", self.listen())
    }

    fn args(&self) -> Vec<String> {
        let mut args = match &self.run {
            ControllerRun::Computed {
                topology,
                minimal_sids,
            } => {
                let mut a = vec!["--topology".to_string(), topology.display().to_string()];
                if *minimal_sids {
                    a.push("--minimal-sids".to_string());
                }
                a
            }
            ControllerRun::Static { table } => {
                vec!["--static".to_string(), table.display().to_string()]
            }
        };
        args.extend([
            "--listen".to_string(),
            self.listen().to_string(),
            "--admin".to_string(),
            ADMIN_ADDR.to_string(),
        ]);
        args
    }
}

/// How an agent runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentRun {
    /// `srv6-agent client`: `controller` is the URL in controller mode.
    Client {
        config: PathBuf,
        controller: Option<String>,
    },
    /// `srv6-agent server` trusting these prefixes.
    Server { trusted: Vec<Ipv6Net> },
}

/// One agent of a lab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentSpec {
    pub node: String,
    pub netns: String,
    /// The host's interface (its one link).
    pub interface: String,
    pub run: AgentRun,
}

impl AgentSpec {
    /// Journal name: `agent-<node>`.
    pub fn proc_name(&self) -> String {
        agent_proc_name(&self.node)
    }

    /// Whether it is a client waiting for a controller's answers.
    pub fn controller_mode(&self) -> bool {
        matches!(
            &self.run,
            AgentRun::Client {
                controller: Some(_),
                ..
            }
        )
    }

    fn args(&self) -> Vec<String> {
        let mut args = match &self.run {
            AgentRun::Client { config, .. } => vec![
                "client".to_string(),
                "--config".to_string(),
                config.display().to_string(),
            ],
            AgentRun::Server { .. } => vec!["server".to_string()],
        };
        args.extend(["--interface".to_string(), self.interface.clone()]);
        match &self.run {
            AgentRun::Client {
                controller: Some(url),
                ..
            } => args.extend(["--controller".to_string(), url.clone()]),
            AgentRun::Client { .. } => {}
            AgentRun::Server { trusted } => {
                for p in trusted {
                    args.extend(["--trusted-prefix".to_string(), p.to_string()]);
                }
            }
        }
        args
    }
}

/// Journal name of the agent on `node`.
pub fn agent_proc_name(node: &str) -> String {
    format!("agent-{node}")
}

/// Everything a lab runs besides the DNS server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    pub controller: Option<ControllerSpec>,
    pub agents: Vec<AgentSpec>,
    pub binaries: Binaries,
}

/// The copied configuration of the client agent on `node`.
pub fn agent_config_path(state_dir: &Path, node: &str) -> PathBuf {
    state_dir.join("agents").join(format!("{node}.yaml"))
}

/// The controller of `topo` in `lab`, computing on `topology_copy`.
fn controller_of(topo: &Topology, lab: &str, topology_copy: &Path) -> Option<ControllerSpec> {
    let node = topo.nodes_of_kind(NodeKind::Controller).next()?;
    Some(ControllerSpec {
        node: node.name.clone(),
        netns: netns_name(lab, &node.name),
        address: node.address?,
        run: ControllerRun::Computed {
            topology: topology_copy.to_path_buf(),
            minimal_sids: false,
        },
    })
}

/// The interface of an end system: the one its (only) link gives it.
pub fn host_interface(topo: &Topology, node: &str) -> Option<String> {
    topo.links
        .iter()
        .find_map(|l| l.endpoint(node))
        .map(|e| e.ifname.clone())
}

/// The prefixes a server agent trusts: every host's routed prefix.
pub fn trusted_prefixes(topo: &Topology) -> Vec<Ipv6Net> {
    topo.nodes_of_kind(NodeKind::Host)
        .filter_map(|n| n.routed_prefix())
        .collect()
}

impl Deployment {
    /// What `up` runs for `topo` as lab `lab` with state in `state_dir`
    /// (pure: nothing is looked up or started).
    pub fn plan(topo: &Topology, lab: &str, state_dir: &Path, binaries: Binaries) -> Deployment {
        let controller = controller_of(topo, lab, &state_dir.join("topology.yaml"));
        let url = controller.as_ref().map(ControllerSpec::url);
        let agents = topo
            .nodes_of_kind(NodeKind::Host)
            .filter_map(|n| {
                let run = match n.agent? {
                    AgentRole::Client => AgentRun::Client {
                        config: agent_config_path(state_dir, &n.name),
                        controller: url.clone(),
                    },
                    AgentRole::Server => AgentRun::Server {
                        trusted: trusted_prefixes(topo),
                    },
                };
                Some(AgentSpec {
                    node: n.name.clone(),
                    netns: netns_name(lab, &n.name),
                    interface: host_interface(topo, &n.name)?,
                    run,
                })
            })
            .collect();
        Deployment {
            controller,
            agents,
            binaries,
        }
    }

    /// The process spec of the controller.
    pub fn controller_spec(&self, c: &ControllerSpec, state_dir: &Path) -> Result<Spec> {
        Ok(Spec {
            name: CONTROLLER.to_string(),
            netns: c.netns.clone(),
            program: binary(&self.binaries.controller, CONTROLLER_BIN)?,
            args: c.args(),
            etc_overlay: false,
            log: state_dir.join("controller.log"),
        })
    }

    /// The process spec of an agent.
    pub fn agent_spec(&self, a: &AgentSpec, state_dir: &Path) -> Result<Spec> {
        Ok(Spec {
            name: a.proc_name(),
            netns: a.netns.clone(),
            program: binary(&self.binaries.agent, AGENT_BIN)?,
            args: a.args(),
            // The agent resolves names through the lab's DNS server.
            etc_overlay: true,
            log: state_dir.join(format!("{}.log", a.proc_name())),
        })
    }

    /// Read `deploy.json` of a lab's state directory (a lab made before
    /// deployments existed has none: nothing deployed).
    pub fn read(state_dir: &Path) -> Result<Deployment> {
        crate::state::read_json(state_dir, "deploy.json")
    }

    /// Write `deploy.json`.
    pub fn write(&self, state_dir: &Path) -> Result<()> {
        crate::state::write_json(state_dir, "deploy.json", self)
    }
}

/// A binary the deployment found, or the error naming what is missing.
fn binary(found: &Option<PathBuf>, name: &'static str) -> Result<PathBuf> {
    found.clone().ok_or_else(|| Error::MissingBinary {
        name,
        searched: String::from("(not looked up)"),
    })
}

/// `name` next to `exe` (labctl's own executable), else in `PATH`.
pub fn find_binary(name: &'static str, exe: &Path) -> Result<PathBuf> {
    let beside = exe.parent().map(|d| d.join(name));
    if let Some(p) = beside.as_ref().filter(|p| is_executable(p)) {
        return Ok(p.clone());
    }
    let dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(p) = dirs.iter().map(|d| d.join(name)).find(|p| is_executable(p)) {
        return Ok(p);
    }
    let mut searched: Vec<String> = beside.iter().map(|p| p.display().to_string()).collect();
    searched.push("PATH".to_string());
    Err(Error::MissingBinary {
        name,
        searched: searched.join(", "),
    })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Find the binaries `topo`'s deployment needs (before anything is made).
pub fn binaries_for(topo: &Topology, exe: &Path) -> Result<Binaries> {
    let has_controller = topo.nodes_of_kind(NodeKind::Controller).next().is_some();
    let has_agents = topo
        .nodes_of_kind(NodeKind::Host)
        .any(|n| n.agent.is_some());
    Ok(Binaries {
        controller: has_controller
            .then(|| find_binary(CONTROLLER_BIN, exe))
            .transpose()?,
        agent: has_agents
            .then(|| find_binary(AGENT_BIN, exe))
            .transpose()?,
    })
}

/// Start the controller and wait until it accepts on both ports.
pub fn start_controller(
    d: &Deployment,
    c: &ControllerSpec,
    state_dir: &Path,
    journal: &Journal,
) -> Result<Started> {
    let spec = d.controller_spec(c, state_dir)?;
    let mut started = [procs::start(&spec, journal, None)?];
    let what = format!("the controller on {} to accept on {}", c.node, c.listen());
    procs::wait_ready(&what, &mut started, CONTROLLER_READY, |_| {
        controller::accepting(c)
    })?;
    let [s] = started;
    Ok(s)
}

/// Start every agent of `agents`, then wait until all are ready.
pub fn start_agents(
    d: &Deployment,
    agents: &[&AgentSpec],
    state_dir: &Path,
    journal: &Journal,
) -> Result<Vec<Started>> {
    let mut started = Vec::with_capacity(agents.len());
    for a in agents {
        started.push(procs::start(&d.agent_spec(a, state_dir)?, journal, None)?);
    }
    let bin = binary(&d.binaries.agent, AGENT_BIN)?;
    procs::wait_ready("the agents to be ready", &mut started, AGENTS_READY, |i| {
        agent_ready(&bin, agents[i])
    })?;
    Ok(started)
}

/// Whether an agent is ready: its status answers (programs attached); a
/// client in controller mode is connected, has resolved every name and
/// holds the controller's answer (or its reason) for every path.
pub fn agent_ready(bin: &Path, a: &AgentSpec) -> Result<ControlFlow<(), String>> {
    let status = match agent::status(bin, &a.netns, &a.interface) {
        Ok(s) => s,
        Err(e) => return Ok(ControlFlow::Continue(format!("status: {e}"))),
    };
    if status.programs.is_empty() {
        return Ok(ControlFlow::Continue("no programs attached".to_string()));
    }
    if !a.controller_mode() {
        return Ok(ControlFlow::Break(()));
    }
    Ok(match status.waiting_for_controller() {
        Some(why) => ControlFlow::Continue(why),
        None => ControlFlow::Break(()),
    })
}
