//! The resolved, validated scenario: every name checked against the
//! topology, every unit converted, every reference (flows, step ids) known.
//! The runner and the asserter read only this.

use std::collections::BTreeMap;
use std::net::Ipv6Addr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use topology::{AgentRole, LinkProps};

/// A whole scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scenario {
    /// The directory name of `scenarios/NAME/scenario.yaml` (else the file stem).
    pub name: String,
    pub file: PathBuf,
    pub description: Option<String>,
    /// The topology file, resolved against the scenario's directory.
    pub topology_file: PathBuf,
    pub controller: ControllerSetup,
    /// Hosts whose agent the scenario sets up, by name.
    pub agents: BTreeMap<String, AgentSetup>,
    pub steps: Vec<Step>,
}

/// How the controller runs for the scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ControllerSetup {
    pub mode: ControllerMode,
    /// Static mode: the table file.
    pub table: Option<PathBuf>,
    pub minimal_sids: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ControllerMode {
    Computed,
    Static,
    None,
}

/// One host's agent for the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentSetup {
    pub role: AgentRole,
    /// Client config (hawkwing format); `None`: the topology's deployment decides.
    pub config: Option<PathBuf>,
    /// Clients only.
    pub mode: Option<AgentMode>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AgentMode {
    Controller,
    Standalone,
}

/// One step in order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// Position in `steps` (0-based).
    pub index: usize,
    pub id: Option<String>,
    /// Line of the step in the file, for progress and report.
    pub line: u32,
    pub action: Action,
}

impl Step {
    /// `steps[3] (id change, line 40)`-style label for messages.
    pub fn label(&self) -> String {
        match &self.id {
            Some(id) => format!("step {} `{id}`", self.index + 1),
            None => format!("step {}", self.index + 1),
        }
    }
}

/// What a step does.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Traffic(Traffic),
    /// Wait for the end of this background flow.
    Join(String),
    Link(LinkChange),
    Dns(DnsChange),
    ControllerStop,
    ControllerStart,
    ControllerPush(PathPush),
    AgentRestart(String),
    Wait(Wait),
    Expect(Vec<Expectation>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    /// IP protocol number.
    pub fn number(self) -> u8 {
        match self {
            Proto::Tcp => 6,
            Proto::Udp => 17,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// A destination as written plus the address it has when the scenario starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    /// A DNS name, node name or address, as written.
    pub written: String,
    /// How it was read.
    pub kind: TargetKind,
    /// The address at the start (a DNS name can change with a `dns` step).
    pub address: Ipv6Addr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetKind {
    DnsName,
    Node,
    Address,
}

/// How much a flow sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Amount {
    Bytes(u64),
    Duration(Duration),
}

/// A named flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Traffic {
    pub name: String,
    pub proto: Proto,
    pub from: String,
    pub to: Target,
    pub port: u16,
    pub amount: Amount,
    /// Concurrent connections / sockets.
    pub flows: u32,
    pub echo: bool,
    pub background: bool,
    /// UDP only: payload bytes per datagram.
    pub datagram_size: u32,
    /// UDP only: kbit/s per flow.
    pub rate_kbps: u64,
}

/// Default UDP payload per datagram.
pub const DEFAULT_DATAGRAM_SIZE: u32 = 1200;
/// Default UDP rate per flow (kbit/s).
pub const DEFAULT_UDP_RATE_KBPS: u64 = 10_000;
/// Default `wait` deadline.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(10);
/// Most concurrent connections of one traffic step.
pub const MAX_FLOWS: u32 = 64;

/// Direction of a link change, relative to the link as the topology has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkDirection {
    Both,
    AToB,
    BToA,
}

/// A link change: what `labctl link set` applies and tells the controller.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkChange {
    /// Link id in the topology.
    pub link: usize,
    /// The two nodes as written in the step.
    pub between: [String; 2],
    /// Relative to the topology's link orientation (`a`, `b`).
    pub direction: LinkDirection,
    pub up: Option<bool>,
    /// The properties to set (unset = unchanged).
    pub props: LinkProps,
    pub igp_metric: Option<u32>,
}

/// A DNS record change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsChange {
    /// Lower case, no trailing dot.
    pub name: String,
    pub address: Ipv6Addr,
}

/// A static path pushed through the controller's admin API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathPush {
    pub host: String,
    pub to: Target,
    pub port: u16,
    /// Travel order.
    pub sids: Vec<Ipv6Addr>,
}

/// Wait for a condition or fail at the deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Wait {
    pub condition: Condition,
    pub deadline: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// The agent of `host` holds a path for (`to`, `port`).
    AgentPath {
        host: String,
        to: Target,
        port: u16,
        sids: Option<Vec<Ipv6Addr>>,
    },
    /// The controller holds a session from `host` to `to`.
    ControllerPath {
        host: String,
        to: Target,
        sids: Option<Vec<Ipv6Addr>>,
    },
    /// A flow has sent `bytes` bytes: since it started, or since the wait
    /// began (`since_wait`).
    FlowBytes {
        flow: String,
        bytes: u64,
        since_wait: bool,
    },
}

/// Client → server (`Request`) or server → client (`Reply`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlowDirection {
    Request,
    Reply,
}

impl FlowDirection {
    pub fn as_str(self) -> &'static str {
        match self {
            FlowDirection::Request => "request",
            FlowDirection::Reply => "reply",
        }
    }
}

/// Which captured packets an expectation judges: captured after the end of
/// step `after` (the run's start when `None`) and before the start of step
/// `before` (indexes into `Scenario::steps`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    pub after: Option<usize>,
    pub before: usize,
}

/// One expectation of an `expect` step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Expectation {
    /// Line in the file.
    pub line: u32,
    pub window: Window,
    pub check: Check,
}

/// A directed link: packets sent by `from` to `to`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Hop {
    pub from: String,
    pub to: String,
    /// Link id in the topology.
    pub link: usize,
}

impl std::fmt::Display for Hop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}→{}", self.from, self.to)
    }
}

/// What is checked on one link of an `srh` check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HopCheck {
    /// Line of the hop in the file.
    pub line: u32,
    pub hop: Hop,
    pub present: bool,
    pub segments: Option<Vec<Ipv6Addr>>,
    pub segments_left: Option<u8>,
    pub destination: Option<Ipv6Addr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// Per-link SRH checks; an empty `hops` with `present: false` means no
    /// SRH on any link (`everywhere`).
    Srh {
        flow: String,
        direction: FlowDirection,
        hops: Vec<HopCheck>,
        /// When no hops are written: the same check on every link the flow crossed.
        everywhere: Option<HopCheckAll>,
    },
    Path {
        flow: String,
        direction: FlowDirection,
        nodes: Vec<String>,
    },
    ReplyReversed {
        flow: String,
    },
    Quiet {
        flow: Option<String>,
        /// Link ids with the nodes as written.
        links: Vec<(usize, [String; 2])>,
    },
    ServerNoSrh {
        flow: String,
    },
    Intact {
        flow: String,
    },
    Counter {
        host: String,
        name: String,
        cmp: Cmp,
        value: u64,
    },
}

/// An `srh` check applied to every link a flow crossed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HopCheckAll {
    pub present: bool,
    pub segments: Option<Vec<Ipv6Addr>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cmp {
    Equals,
    AtMost,
    AtLeast,
}

impl Cmp {
    pub fn holds(self, observed: u64, value: u64) -> bool {
        match self {
            Cmp::Equals => observed == value,
            Cmp::AtMost => observed <= value,
            Cmp::AtLeast => observed >= value,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Cmp::Equals => "=",
            Cmp::AtMost => "≤",
            Cmp::AtLeast => "≥",
        }
    }
}

impl Scenario {
    /// The traffic step that defines flow `name`.
    pub fn flow(&self, name: &str) -> Option<&Traffic> {
        self.traffic().find(|t| t.name == name)
    }

    /// Every traffic step's flow, in order.
    pub fn traffic(&self) -> impl Iterator<Item = &Traffic> {
        self.steps.iter().filter_map(|s| match &s.action {
            Action::Traffic(t) => Some(t),
            _ => None,
        })
    }

    /// Every expectation with the index of its step.
    pub fn expectations(&self) -> impl Iterator<Item = (usize, &Expectation)> {
        self.steps.iter().flat_map(|s| {
            let list: &[Expectation] = match &s.action {
                Action::Expect(list) => list,
                _ => &[],
            };
            list.iter().map(move |e| (s.index, e))
        })
    }
}
