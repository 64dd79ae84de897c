//! The scenario file as written: serde structs that keep source locations.
//!
//! Stage one of three (file -> raw -> resolved [`Scenario`](super::Scenario)),
//! as in `topology::raw`: nothing is checked here beyond YAML syntax, field
//! names and basic types; names, addresses and units stay strings with their
//! [`Spanned`] location so that `resolve` reports every problem at its line
//! and column. Steps and expectations are structs with one optional field
//! per kind (not tagged enums: serde-saphyr loses locations inside those);
//! `resolve` checks that exactly one is set. The JSON Schema
//! (`scenarios/scenario.schema.json`) is generated from these structs.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;
use topology::raw::{Scalar, SpannedMap};

/// A scenario file (`scenarios/NAME/scenario.yaml`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "labctl scenario",
    description = "An end-to-end test of the SRv6 lab: agents, controller, traffic, events, expectations (see docs/scenarios.md)"
)]
pub struct RawScenario {
    /// What the scenario proves, for the report.
    #[schemars(with = "Option<String>")]
    pub description: Option<Spanned<String>>,
    /// The topology file it runs on, relative to this file.
    #[schemars(with = "String")]
    pub topology: Spanned<String>,
    /// How the controller runs (default: computed on the topology when it has a controller node).
    #[schemars(with = "Option<RawController>")]
    pub controller: Option<Spanned<RawController>>,
    /// Per-host agent overrides, applied for the run and restored after.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, RawAgent>")]
    pub agents: SpannedMap<Spanned<RawAgent>>,
    /// What happens, in order.
    #[schemars(with = "Vec<RawStep>")]
    pub steps: Spanned<Vec<Spanned<RawStep>>>,
}

/// How the controller runs.
#[derive(Debug, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum RawControllerMode {
    /// Paths computed on the topology (`mock-controller --topology`).
    Computed,
    /// Paths from a table (`mock-controller --static TABLE`); `controller_push` changes them.
    Static,
    /// No controller runs (standalone agents).
    None,
}

/// `controller:`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawController {
    #[schemars(with = "RawControllerMode")]
    pub mode: Spanned<RawControllerMode>,
    /// Static mode: the table file, relative to the scenario file.
    #[schemars(with = "Option<String>")]
    pub table: Option<Spanned<String>>,
    /// `--minimal-sids` (computed mode).
    #[schemars(with = "Option<bool>")]
    pub minimal_sids: Option<Spanned<bool>>,
}

/// Agent role of a host.
#[derive(Debug, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum RawAgentRole {
    Client,
    Server,
}

/// Where a client agent's paths come from.
#[derive(Debug, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum RawAgentMode {
    /// Paths from the controller (fail-static), the config's `sid` lists as fallback.
    Controller,
    /// SID lists from the config only; destinations learned by DNS snooping.
    Standalone,
}

/// `agents.HOST`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAgent {
    /// Role (default: the topology's `agent:` of the host).
    #[schemars(with = "Option<RawAgentRole>")]
    pub role: Option<Spanned<RawAgentRole>>,
    /// Client config (hawkwing format), relative to the scenario file.
    #[schemars(with = "Option<String>")]
    pub config: Option<Spanned<String>>,
    /// Client mode (default: controller when a controller runs, else standalone).
    #[schemars(with = "Option<RawAgentMode>")]
    pub mode: Option<Spanned<RawAgentMode>>,
}

/// One step: `id` plus exactly one action.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    /// A label that expectation windows (`after`, `before`) refer to.
    #[schemars(with = "Option<String>")]
    pub id: Option<Spanned<String>>,
    /// Start traffic (a named flow).
    #[schemars(with = "Option<RawTraffic>")]
    pub traffic: Option<Spanned<RawTraffic>>,
    /// Wait until a background flow has finished.
    #[schemars(with = "Option<String>")]
    pub join: Option<Spanned<String>>,
    /// Change a link (`labctl link set`): state, properties, IGP metric.
    #[schemars(with = "Option<RawLinkChange>")]
    pub link: Option<Spanned<RawLinkChange>>,
    /// Change a DNS record of the lab server.
    #[schemars(with = "Option<RawDnsChange>")]
    pub dns: Option<Spanned<RawDnsChange>>,
    /// Stop or start the controller.
    #[schemars(with = "Option<RawControllerAction>")]
    pub controller: Option<Spanned<RawControllerAction>>,
    /// Static mode: push a SID list for a client's requests.
    #[schemars(with = "Option<RawPathPush>")]
    pub controller_push: Option<Spanned<RawPathPush>>,
    /// Restart a host's agent.
    #[schemars(with = "Option<String>")]
    pub agent_restart: Option<Spanned<String>>,
    /// Wait for a condition, failing the run at the deadline.
    #[schemars(with = "Option<RawWait>")]
    pub wait: Option<Spanned<RawWait>>,
    /// Check what happened so far.
    #[schemars(with = "Option<Vec<RawExpectation>>")]
    pub expect: Option<Spanned<Vec<Spanned<RawExpectation>>>>,
}

/// Transport protocol of a flow.
#[derive(Debug, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum RawProto {
    Tcp,
    Udp,
}

/// `traffic:`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTraffic {
    /// Flow name, unique in the scenario; expectations refer to it.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// tcp (default) or udp.
    #[schemars(with = "Option<RawProto>")]
    pub proto: Option<Spanned<RawProto>>,
    /// The host that sends.
    #[schemars(with = "String")]
    pub from: Spanned<String>,
    /// A DNS name of the lab, a node name or an IPv6 address.
    #[schemars(with = "String")]
    pub to: Spanned<String>,
    /// Destination port.
    #[schemars(with = "u16")]
    pub port: Spanned<i64>,
    /// Bytes each flow sends (`10MB`, `1MiB`, `1500`); or `duration`.
    #[schemars(with = "Option<Scalar>")]
    pub bytes: Option<Spanned<Scalar>>,
    /// How long each flow sends (`2s`); or `bytes`.
    #[schemars(with = "Option<Scalar>")]
    pub duration: Option<Spanned<Scalar>>,
    /// Concurrent connections (TCP) or sockets (UDP), default 1.
    #[schemars(with = "Option<u32>")]
    pub flows: Option<Spanned<i64>>,
    /// The server sends every byte back; both directions are checked.
    #[schemars(with = "Option<bool>")]
    pub echo: Option<Spanned<bool>>,
    /// Do not wait for the flow to end (a later `join` does).
    #[schemars(with = "Option<bool>")]
    pub background: Option<Spanned<bool>>,
    /// UDP: payload bytes per datagram (default 1200).
    #[schemars(with = "Option<u32>")]
    pub datagram_size: Option<Spanned<i64>>,
    /// UDP: sending rate per flow (`10mbit`, default 10mbit).
    #[schemars(with = "Option<Scalar>")]
    pub rate: Option<Spanned<Scalar>>,
}

/// Which direction of a link a change applies to.
#[derive(Debug, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RawLinkDirection {
    Both,
    /// From the first node of `between` to the second.
    AToB,
    /// From the second node of `between` to the first.
    BToA,
}

/// `link:` (what `labctl link set A B ...` does).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLinkChange {
    /// The two nodes the link joins.
    #[schemars(with = "[String; 2]")]
    pub between: Spanned<Vec<Spanned<String>>>,
    /// Direction of the property changes (default both).
    #[schemars(with = "Option<RawLinkDirection>")]
    pub direction: Option<Spanned<RawLinkDirection>>,
    /// Link state.
    #[schemars(with = "Option<bool>")]
    pub up: Option<Spanned<bool>>,
    #[schemars(with = "Option<Scalar>")]
    pub bandwidth: Option<Spanned<Scalar>>,
    #[schemars(with = "Option<Scalar>")]
    pub latency: Option<Spanned<Scalar>>,
    #[schemars(with = "Option<Scalar>")]
    pub jitter: Option<Spanned<Scalar>>,
    #[schemars(with = "Option<Scalar>")]
    pub loss: Option<Spanned<Scalar>>,
    #[schemars(with = "Option<Scalar>")]
    pub utilization: Option<Spanned<Scalar>>,
    #[schemars(with = "Option<u32>")]
    pub igp_metric: Option<Spanned<i64>>,
}

/// `dns:`: the record `name` now points to `to`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDnsChange {
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// A node name (its address) or an IPv6 address.
    #[schemars(with = "String")]
    pub to: Spanned<String>,
}

/// `controller:` step.
#[derive(Debug, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum RawControllerAction {
    Stop,
    Start,
}

/// `controller_push:`: answer `host`'s requests for `to` (the intents its
/// config gives `port`) with `sids`, and push it to its session.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPathPush {
    #[schemars(with = "String")]
    pub host: Spanned<String>,
    #[schemars(with = "String")]
    pub to: Spanned<String>,
    #[schemars(with = "u16")]
    pub port: Spanned<i64>,
    /// Travel order.
    #[schemars(with = "Vec<String>")]
    pub sids: Spanned<Vec<Spanned<String>>>,
}

/// `wait:`: exactly one condition and an optional deadline.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawWait {
    /// The agent of `host` holds a path for (`to`, `port`) (with exactly `sids`, if given).
    #[schemars(with = "Option<RawPathCondition>")]
    pub agent_path: Option<Spanned<RawPathCondition>>,
    /// The controller holds a session from `host` to `to` (answered with `sids`, if given).
    #[schemars(with = "Option<RawPathCondition>")]
    pub controller_path: Option<Spanned<RawPathCondition>>,
    /// A flow has sent `at_least` bytes, or `more` bytes since the wait began.
    #[schemars(with = "Option<RawFlowBytes>")]
    pub flow_bytes: Option<Spanned<RawFlowBytes>>,
    /// Default 10s.
    #[schemars(with = "Option<Scalar>")]
    pub deadline: Option<Spanned<Scalar>>,
}

/// A path an agent or the controller holds.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPathCondition {
    #[schemars(with = "String")]
    pub host: Spanned<String>,
    /// A DNS name of the lab, a node name or an IPv6 address.
    #[schemars(with = "String")]
    pub to: Spanned<String>,
    /// Agent paths: the destination port.
    #[schemars(with = "Option<u16>")]
    pub port: Option<Spanned<i64>>,
    /// Travel order; any non-empty list when absent.
    #[schemars(with = "Option<Vec<String>>")]
    pub sids: Option<Spanned<Vec<Spanned<String>>>>,
}

/// `flow_bytes:`: exactly one of `at_least` and `more`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawFlowBytes {
    #[schemars(with = "String")]
    pub flow: Spanned<String>,
    /// Bytes sent since the flow started (`2MB`).
    #[schemars(with = "Option<Scalar>")]
    pub at_least: Option<Spanned<Scalar>>,
    /// Bytes sent since this wait began.
    #[schemars(with = "Option<Scalar>")]
    pub more: Option<Spanned<Scalar>>,
}

/// Which packets of a flow: client to server, or server to client.
#[derive(Debug, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum RawFlowDirection {
    Request,
    Reply,
}

/// One expectation: a window plus exactly one check.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawExpectation {
    /// Judge packets captured after this step (its `id`) ended (default: the run's start).
    #[schemars(with = "Option<String>")]
    pub after: Option<Spanned<String>>,
    /// Judge packets captured before this step (its `id`) started (default: this `expect` step).
    #[schemars(with = "Option<String>")]
    pub before: Option<Spanned<String>>,
    /// The SRH of a flow's packets, link by link.
    #[schemars(with = "Option<RawSrhCheck>")]
    pub srh: Option<Spanned<RawSrhCheck>>,
    /// The ordered nodes a flow's packets crossed, reconstructed from the captures.
    #[schemars(with = "Option<RawPathCheck>")]
    pub path: Option<Spanned<RawPathCheck>>,
    /// Every reply of the flow carries the request's segment list reversed.
    #[schemars(with = "Option<String>")]
    pub reply_reversed: Option<Spanned<String>>,
    /// No packet of the flows on these links, in either direction.
    #[schemars(with = "Option<RawQuiet>")]
    pub quiet: Option<Spanned<RawQuiet>>,
    /// The server application received no routing header.
    #[schemars(with = "Option<String>")]
    pub server_no_srh: Option<Spanned<String>>,
    /// Every byte arrived intact, in both directions for echo flows.
    #[schemars(with = "Option<String>")]
    pub intact: Option<Spanned<String>>,
    /// An agent counter, read when this step runs.
    #[schemars(with = "Option<RawCounter>")]
    pub counter: Option<Spanned<RawCounter>>,
}

/// `srh:`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSrhCheck {
    #[schemars(with = "String")]
    pub flow: Spanned<String>,
    /// request (default) or reply.
    #[schemars(with = "Option<RawFlowDirection>")]
    pub direction: Option<Spanned<RawFlowDirection>>,
    /// Whether the packets carry an SRH (default true). With `false` and no
    /// `hops`: on no link at all.
    #[schemars(with = "Option<bool>")]
    pub present: Option<Spanned<bool>>,
    /// The exact segment list, wire order (`[0]` = final destination).
    #[schemars(with = "Option<Vec<String>>")]
    pub segments: Option<Spanned<Vec<Spanned<String>>>>,
    /// Per-link checks; without them, every link the flow crossed.
    #[schemars(with = "Option<Vec<RawHop>>")]
    pub hops: Option<Vec<Spanned<RawHop>>>,
}

/// One link of an `srh` check, in the flow's direction.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawHop {
    /// `[from, to]`: the link and the direction packets cross it in.
    #[schemars(with = "[String; 2]")]
    pub link: Spanned<Vec<Spanned<String>>>,
    /// Overrides the check's `present`.
    #[schemars(with = "Option<bool>")]
    pub present: Option<Spanned<bool>>,
    /// Overrides the check's `segments`.
    #[schemars(with = "Option<Vec<String>>")]
    pub segments: Option<Spanned<Vec<Spanned<String>>>>,
    #[schemars(with = "Option<u8>")]
    pub segments_left: Option<Spanned<i64>>,
    /// The IPv6 destination on this link.
    #[schemars(with = "Option<String>")]
    pub destination: Option<Spanned<String>>,
}

/// `path:`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPathCheck {
    #[schemars(with = "String")]
    pub flow: Spanned<String>,
    /// request (default) or reply.
    #[schemars(with = "Option<RawFlowDirection>")]
    pub direction: Option<Spanned<RawFlowDirection>>,
    /// Every node in order, the sender first.
    #[schemars(with = "Vec<String>")]
    pub nodes: Spanned<Vec<Spanned<String>>>,
}

/// `quiet:`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawQuiet {
    /// Links as `[node, node]`.
    #[schemars(with = "Vec<[String; 2]>")]
    pub links: Spanned<Vec<Spanned<Vec<Spanned<String>>>>>,
    /// Only this flow's packets count (default: every flow of the scenario).
    #[schemars(with = "Option<String>")]
    pub flow: Option<Spanned<String>>,
}

/// `counter:`: exactly one of `equals`, `at_most`, `at_least`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCounter {
    #[schemars(with = "String")]
    pub host: Spanned<String>,
    /// Counter name as `srv6-agent status` shows it (`too_big`, `encapsulated`, ...).
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    #[schemars(with = "Option<u64>")]
    pub equals: Option<Spanned<i64>>,
    #[schemars(with = "Option<u64>")]
    pub at_most: Option<Spanned<i64>>,
    #[schemars(with = "Option<u64>")]
    pub at_least: Option<Spanned<i64>>,
}
