//! Raw scenario -> resolved, validated [`Scenario`], checked against its
//! topology. Problems are collected, never returned early (as the topology
//! crate does), so one run reports all of them; a model is returned only
//! when there are none.
//!
//! - `mod.rs`: the context (problems, the topology, what earlier steps
//!   defined), file references, the `controller` and `agents` sections.
//! - `steps`: every step kind but `expect`.
//! - `expect`: expectations and their windows.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde_saphyr::{Location, Spanned};
use topology::raw::Scalar;
use topology::{AgentRole, LoadError, NodeKind, Problem, Topology};

use super::model::*;
use super::raw::*;

mod expect;
mod steps;

/// Parse and resolve scenario YAML; `path` names the file in problems and
/// anchors relative paths (topology, agent configs, tables).
pub(crate) fn parse(text: &str, path: &Path) -> Result<(Scenario, Topology), LoadError> {
    let file = path.display().to_string();
    let raw: RawScenario = topology::parse_document(
        text,
        &file,
        "a scenario needs at least `topology` and `steps`",
    )?;
    let dir = path.parent().unwrap_or(Path::new("")).to_owned();
    let mut cx = Cx::new(dir);
    let topo = cx.topology(&raw.topology);
    cx.topo = topo.as_ref();
    let scenario = resolve(&raw, path, &mut cx);
    let mut problems = cx.problems;
    match (scenario, topo) {
        (Some(s), Some(t)) if problems.is_empty() => Ok((s, t)),
        _ => {
            problems.sort_by_key(|p| (p.line, p.column));
            Err(LoadError::Invalid {
                file: file.clone(),
                problems,
            })
        }
    }
}

/// The scenario's name: `NAME` of `scenarios/NAME/scenario.yaml`, else the file stem.
pub(crate) fn scenario_name(path: &Path) -> String {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
    match stem.as_deref() {
        Some("scenario") => path
            .parent()
            .and_then(Path::file_name)
            .map(|d| d.to_string_lossy().into_owned())
            .unwrap_or_else(|| "scenario".to_owned()),
        Some(stem) => stem.to_owned(),
        None => "scenario".to_owned(),
    }
}

fn resolve(raw: &RawScenario, path: &Path, cx: &mut Cx<'_>) -> Option<Scenario> {
    let controller = cx.controller(raw.controller.as_ref());
    cx.controller_mode = controller.mode;
    let agents = cx.agents(&raw.agents);
    cx.agents = agents.clone();
    cx.collect_ids(&raw.steps.value);
    let steps: Vec<Option<Step>> = raw
        .steps
        .value
        .iter()
        .enumerate()
        .map(|(i, s)| cx.step(i, s))
        .collect();
    if raw.steps.value.is_empty() {
        cx.err(
            &raw.steps.referenced,
            "steps",
            "no steps: a scenario needs at least one",
        );
    }
    let topology_file = cx.dir.join(&raw.topology.value);
    Some(Scenario {
        name: scenario_name(path),
        file: path.to_owned(),
        description: raw.description.as_ref().map(|d| d.value.clone()),
        topology_file,
        controller,
        agents,
        steps: steps.into_iter().collect::<Option<Vec<_>>>()?,
    })
}

/// A flow defined by an earlier traffic step.
#[derive(Debug, Clone)]
pub(super) struct FlowDef {
    pub(super) from: Option<String>,
    /// The node owning the destination address when the flow starts, if any.
    pub(super) to_node: Option<String>,
    pub(super) background: bool,
    pub(super) joined: bool,
}

/// Resolution context: problems so far and what earlier parts defined.
pub(super) struct Cx<'t> {
    pub(super) problems: Vec<Problem>,
    pub(super) topo: Option<&'t Topology>,
    /// The scenario file's directory.
    pub(super) dir: PathBuf,
    pub(super) controller_mode: ControllerMode,
    pub(super) agents: BTreeMap<String, AgentSetup>,
    /// Step id -> step index (every step, collected before the steps are resolved).
    pub(super) ids: BTreeMap<String, usize>,
    /// Flows defined so far, by name.
    pub(super) flows: BTreeMap<String, FlowDef>,
    /// The lab's DNS records as the steps so far left them.
    pub(super) records: BTreeMap<String, Ipv6Addr>,
}

fn loc(at: &Location) -> (u32, u32) {
    (
        u32::try_from(at.line()).unwrap_or(u32::MAX),
        u32::try_from(at.column()).unwrap_or(u32::MAX),
    )
}

impl<'t> Cx<'t> {
    fn new(dir: PathBuf) -> Cx<'t> {
        Cx {
            problems: Vec::new(),
            topo: None,
            dir,
            controller_mode: ControllerMode::None,
            agents: BTreeMap::new(),
            ids: BTreeMap::new(),
            flows: BTreeMap::new(),
            records: BTreeMap::new(),
        }
    }

    pub(super) fn err(
        &mut self,
        at: &Location,
        field: impl Into<String>,
        message: impl Into<String>,
    ) {
        let (line, column) = loc(at);
        self.problems.push(Problem {
            line,
            column,
            field: field.into(),
            message: message.into(),
        });
    }

    /// The one field of `options` (name, is set) that is set; a problem
    /// naming them all when none or several are (`what`: "a step needs one
    /// of ...").
    pub(super) fn one_of(
        &mut self,
        at: &Location,
        field: &str,
        what: &str,
        options: &[(&'static str, bool)],
    ) -> Option<&'static str> {
        let set: Vec<&'static str> = options
            .iter()
            .filter(|(_, s)| *s)
            .map(|(n, _)| *n)
            .collect();
        if let [one] = set.as_slice() {
            return Some(one);
        }
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        let message = if set.is_empty() {
            format!("{what} needs one of: {}", names.join(", "))
        } else {
            format!(
                "{what} takes exactly one of {}; found {}",
                names.join(", "),
                set.join(" and ")
            )
        };
        self.err(at, field, message);
        None
    }

    /// Load the topology the scenario names; a problem at `topology` if it cannot be.
    fn topology(&mut self, raw: &Spanned<String>) -> Option<Topology> {
        let path = self.dir.join(&raw.value);
        match topology::load(&path) {
            Ok(t) => {
                self.records = t.dns_records.clone();
                Some(t)
            }
            Err(LoadError::Read(e)) => {
                self.err(&raw.referenced, "topology", e.to_string());
                None
            }
            Err(e) => {
                let first = e.to_string().lines().next().unwrap_or_default().to_owned();
                self.err(
                    &raw.referenced,
                    "topology",
                    format!(
                        "{} is not a valid topology ({} problems; `labctl validate` lists them), the first: {first}",
                        path.display(),
                        e.problems().len()
                    ),
                );
                None
            }
        }
    }

    /// A file the scenario refers to, relative to its directory; must exist.
    pub(super) fn file(&mut self, raw: &Spanned<String>, field: &str) -> PathBuf {
        let path = self.dir.join(&raw.value);
        if !path.is_file() {
            self.err(
                &raw.referenced,
                field,
                format!(
                    "no file {} (paths are relative to the scenario file)",
                    path.display()
                ),
            );
        }
        path
    }

    fn controller(&mut self, raw: Option<&Spanned<RawController>>) -> ControllerSetup {
        let has_node = self
            .topo
            .map(|t| t.nodes_of_kind(NodeKind::Controller).next().is_some());
        let Some(raw) = raw else {
            let mode = if has_node == Some(true) {
                ControllerMode::Computed
            } else {
                ControllerMode::None
            };
            return ControllerSetup {
                mode,
                table: None,
                minimal_sids: false,
            };
        };
        let c = &raw.value;
        let mode = match c.mode.value {
            RawControllerMode::Computed => ControllerMode::Computed,
            RawControllerMode::Static => ControllerMode::Static,
            RawControllerMode::None => ControllerMode::None,
        };
        if mode != ControllerMode::None && has_node == Some(false) {
            self.err(
                &c.mode.referenced,
                "controller.mode",
                "the topology has no controller node to run the controller in",
            );
        }
        let table = c.table.as_ref().map(|t| {
            if mode != ControllerMode::Static {
                self.err(
                    &t.referenced,
                    "controller.table",
                    "only static mode reads a table",
                );
            }
            self.file(t, "controller.table")
        });
        if mode == ControllerMode::Static && table.is_none() {
            self.err(
                &raw.referenced,
                "controller.table",
                "static mode needs a table file",
            );
        }
        let minimal_sids = c.minimal_sids.as_ref().is_some_and(|m| {
            if mode != ControllerMode::Computed {
                self.err(
                    &m.referenced,
                    "controller.minimal_sids",
                    "only computed mode computes SID lists",
                );
            }
            m.value
        });
        ControllerSetup {
            mode,
            table,
            minimal_sids,
        }
    }

    fn agents(
        &mut self,
        raw: &topology::raw::SpannedMap<Spanned<RawAgent>>,
    ) -> BTreeMap<String, AgentSetup> {
        let mut out = BTreeMap::new();
        for (host, agent) in &raw.0 {
            let field = format!("agents.{}", host.value);
            if out.contains_key(&host.value) {
                self.err(&host.referenced, &field, "this host is listed twice");
                continue;
            }
            if let Some(setup) = self.agent(host, &agent.value, &field) {
                out.insert(host.value.clone(), setup);
            }
        }
        out
    }

    fn agent(&mut self, host: &Spanned<String>, raw: &RawAgent, field: &str) -> Option<AgentSetup> {
        let node = self.node_of(host, field, &[NodeKind::Host])?;
        let role = match (&raw.role, node.agent) {
            (Some(r), _) => match r.value {
                RawAgentRole::Client => AgentRole::Client,
                RawAgentRole::Server => AgentRole::Server,
            },
            (None, Some(role)) => role,
            (None, None) => {
                self.err(
                    &host.referenced,
                    field,
                    format!("{} runs no agent in the topology; set `role`", host.value),
                );
                return None;
            }
        };
        let client = role == AgentRole::Client;
        let config = raw.config.as_ref().map(|c| {
            if !client {
                self.err(
                    &c.referenced,
                    format!("{field}.config"),
                    "only a client agent takes a config",
                );
            }
            self.file(c, &format!("{field}.config"))
        });
        let mode = match (&raw.mode, client) {
            (Some(m), false) => {
                self.err(
                    &m.referenced,
                    format!("{field}.mode"),
                    "only a client agent has a mode",
                );
                None
            }
            (Some(m), true) => Some(self.agent_mode(m, field)),
            (None, true) if self.controller_mode == ControllerMode::None => {
                Some(AgentMode::Standalone)
            }
            (None, true) => Some(AgentMode::Controller),
            (None, false) => None,
        };
        Some(AgentSetup { role, config, mode })
    }

    fn agent_mode(&mut self, m: &Spanned<RawAgentMode>, field: &str) -> AgentMode {
        match m.value {
            RawAgentMode::Standalone => AgentMode::Standalone,
            RawAgentMode::Controller => {
                if self.controller_mode == ControllerMode::None {
                    self.err(
                        &m.referenced,
                        format!("{field}.mode"),
                        "controller mode, but no controller runs (controller.mode is none)",
                    );
                }
                AgentMode::Controller
            }
        }
    }

    /// First pass over the steps: every `id`, so windows can refer forward
    /// and backward alike (the order is checked where they are used).
    fn collect_ids(&mut self, steps: &[Spanned<RawStep>]) {
        for (i, step) in steps.iter().enumerate() {
            let Some(id) = &step.value.id else { continue };
            let field = format!("steps[{i}].id");
            let ok = !id.value.is_empty()
                && id
                    .value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !ok {
                self.err(
                    &id.referenced,
                    &field,
                    format!(
                        "{:?} is not a step id: use letters, digits, '-' and '_'",
                        id.value
                    ),
                );
            } else if let Some(first) = self.ids.get(&id.value) {
                let first = *first;
                self.err(
                    &id.referenced,
                    &field,
                    format!("id {:?} is already used by steps[{first}]", id.value),
                );
            } else {
                self.ids.insert(id.value.clone(), i);
            }
        }
    }

    /// A node of the topology of one of `kinds` (any kind when empty).
    /// `None` (and no problem) when the topology itself could not be loaded.
    pub(super) fn node_of(
        &mut self,
        name: &Spanned<String>,
        field: &str,
        kinds: &[NodeKind],
    ) -> Option<&'t topology::Node> {
        let topo = self.topo?;
        let Some(node) = topo.nodes.get(&name.value) else {
            let known: Vec<&str> = topo
                .nodes
                .values()
                .filter(|n| kinds.is_empty() || kinds.contains(&n.kind))
                .map(|n| n.name.as_str())
                .collect();
            self.err(
                &name.referenced,
                field,
                format!(
                    "unknown node {:?} (known: {})",
                    name.value,
                    known.join(", ")
                ),
            );
            return None;
        };
        if !kinds.is_empty() && !kinds.contains(&node.kind) {
            let wanted: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
            self.err(
                &name.referenced,
                field,
                format!(
                    "{} is a {}, not a {}",
                    name.value,
                    node.kind.as_str(),
                    wanted.join(" or ")
                ),
            );
            return None;
        }
        Some(node)
    }

    /// A destination: an IPv6 address, a node with an address, or a DNS name
    /// of the lab (as earlier `dns` steps left the records).
    pub(super) fn target(&mut self, raw: &Spanned<String>, field: &str) -> Option<Target> {
        let written = raw.value.trim().to_owned();
        if let Ok(address) = Ipv6Addr::from_str(&written) {
            return Some(Target {
                written,
                kind: TargetKind::Address,
                address,
            });
        }
        let topo = self.topo?;
        if let Some(node) = topo.nodes.get(&written) {
            let Some(address) = node.address.or(node.sid) else {
                self.err(
                    &raw.referenced,
                    field,
                    format!("node {written} has no address"),
                );
                return None;
            };
            return Some(Target {
                written,
                kind: TargetKind::Node,
                address,
            });
        }
        let name = written.trim_end_matches('.').to_ascii_lowercase();
        if let Some(address) = self.records.get(&name) {
            return Some(Target {
                written,
                kind: TargetKind::DnsName,
                address: *address,
            });
        }
        let names: Vec<&str> = self.records.keys().map(String::as_str).collect();
        self.err(
            &raw.referenced,
            field,
            format!(
                "{written:?} is not an IPv6 address, a node or a DNS name of the lab (names: {})",
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            ),
        );
        None
    }

    pub(super) fn addr(&mut self, raw: &Spanned<String>, field: &str) -> Option<Ipv6Addr> {
        match Ipv6Addr::from_str(raw.value.trim()) {
            Ok(a) => Some(a),
            Err(_) => {
                self.err(
                    &raw.referenced,
                    field,
                    format!("{:?} is not an IPv6 address", raw.value),
                );
                None
            }
        }
    }

    /// A list of addresses; `None` if any is wrong (each reported).
    pub(super) fn addrs(
        &mut self,
        raw: &Spanned<Vec<Spanned<String>>>,
        field: &str,
    ) -> Option<Vec<Ipv6Addr>> {
        let parsed: Vec<Option<Ipv6Addr>> = raw
            .value
            .iter()
            .enumerate()
            .map(|(i, a)| self.addr(a, &format!("{field}[{i}]")))
            .collect();
        parsed.into_iter().collect()
    }

    /// A SID list in travel order: 1..=MAX_SIDS addresses.
    pub(super) fn sids(
        &mut self,
        raw: &Spanned<Vec<Spanned<String>>>,
        field: &str,
    ) -> Option<Vec<Ipv6Addr>> {
        let n = raw.value.len();
        if n == 0 || n > srh::MAX_SIDS {
            self.err(
                &raw.referenced,
                field,
                format!("{n} SIDs: a path holds 1..={} SIDs", srh::MAX_SIDS),
            );
            return None;
        }
        self.addrs(raw, field)
    }

    pub(super) fn port(&mut self, raw: &Spanned<i64>, field: &str) -> Option<u16> {
        match u16::try_from(raw.value) {
            Ok(p) if p > 0 => Some(p),
            _ => {
                self.err(
                    &raw.referenced,
                    field,
                    format!("port {} is outside 1..=65535", raw.value),
                );
                None
            }
        }
    }

    /// A whole number within `range`.
    pub(super) fn int_in(
        &mut self,
        raw: &Spanned<i64>,
        field: &str,
        range: std::ops::RangeInclusive<i64>,
    ) -> Option<i64> {
        if range.contains(&raw.value) {
            Some(raw.value)
        } else {
            self.err(
                &raw.referenced,
                field,
                format!(
                    "{} is outside {}..={}",
                    raw.value,
                    range.start(),
                    range.end()
                ),
            );
            None
        }
    }

    /// A quantity with a unit, through one of `topology::units`' parsers.
    pub(super) fn unit<T>(
        &mut self,
        raw: &Spanned<Scalar>,
        field: &str,
        parse: fn(&str) -> Result<T, String>,
    ) -> Option<T> {
        match parse(&raw.value.0) {
            Ok(v) => Some(v),
            Err(message) => {
                self.err(&raw.referenced, field, message);
                None
            }
        }
    }

    /// `[from, to]`: two nodes joined by a link.
    pub(super) fn hop(&mut self, raw: &Spanned<Vec<Spanned<String>>>, field: &str) -> Option<Hop> {
        let [from, to] = raw.value.as_slice() else {
            self.err(
                &raw.referenced,
                field,
                format!(
                    "{} entries: a link is written [node, node]",
                    raw.value.len()
                ),
            );
            return None;
        };
        let a = self.node_of(from, &format!("{field}[0]"), &[]);
        let b = self.node_of(to, &format!("{field}[1]"), &[]);
        let (a, b) = (a?, b?);
        let link = self.topo?.link_between(&a.name, &b.name);
        let Some(link) = link else {
            self.err(
                &raw.referenced,
                field,
                format!("no link between {} and {}", a.name, b.name),
            );
            return None;
        };
        Some(Hop {
            from: a.name.clone(),
            to: b.name.clone(),
            link: link.id,
        })
    }

    /// A flow defined by an earlier traffic step.
    pub(super) fn flow(&mut self, raw: &Spanned<String>, field: &str) -> Option<FlowDef> {
        match self.flows.get(&raw.value) {
            Some(f) => Some(f.clone()),
            None => {
                let known: BTreeSet<&str> = self.flows.keys().map(String::as_str).collect();
                let known: Vec<&str> = known.into_iter().collect();
                self.err(
                    &raw.referenced,
                    field,
                    format!(
                        "no flow {:?} is started before this step (flows so far: {})",
                        raw.value,
                        if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        }
                    ),
                );
                None
            }
        }
    }

    /// The host runs an agent in this scenario (scenario override or topology role).
    pub(super) fn agent_role(&self, host: &str) -> Option<AgentRole> {
        self.agents
            .get(host)
            .map(|a| a.role)
            .or_else(|| self.topo?.nodes.get(host)?.agent)
    }
}
