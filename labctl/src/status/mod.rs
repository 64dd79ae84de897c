//! `labctl status [NAME] [--output table|json]`: what a lab is made of and
//! whether it is still there: nodes (namespace present?), addresses, SIDs,
//! processes (alive?), and links with each property marked **enforced**
//! (bandwidth: a tbf qdisc on the sending interface; loss: a BPF dropper on
//! its TC egress; latency, jitter: a netem qdisc where `up` found netem) or
//! **declared** (latency and jitter without netem are only known to the
//! controller; utilization is always a controller input):
//! [`crate::shaping::enforcement`] with the features `up` recorded.
//!
//! A lab is **healthy** when `up` finished, every namespace exists and
//! every lab process works: it exists, is not stopped, and answers — the
//! DNS server a query from its own namespace within [`DNS_PROBE_WAIT`], the
//! controller a connection on its intent and admin ports, an agent its
//! `srv6-agent status`. A process restarted under the same name (by `labctl
//! run`) counts as its last journal line. Otherwise [`LabStatus::problems`] says why, and
//! `labctl status` exits with [`EXIT_UNHEALTHY`].
//!
//! Layout: this file collects a [`LabStatus`] (what JSON prints, every
//! detail); [`table`] renders it compact or wide.

use std::net::SocketAddr;
use std::time::Duration;

pub mod table;

use labns::{netns, ProcState};
use serde::Serialize;
use topology::{units, LinkProps, Topology};

use crate::deploy::{self, Deployment};
use crate::error::{Error, Result};
use crate::plan::{self, Forwarding, LabPlan};
use crate::shaping::Features;
use crate::state::{self, Entry};

/// How long the lab DNS server gets to answer the liveness query.
pub const DNS_PROBE_WAIT: Duration = Duration::from_secs(1);

/// Exit status of `labctl status` when a lab it reports is not healthy
/// (1 is an error reading the status; 0 all healthy).
pub const EXIT_UNHEALTHY: u8 = 3;

/// Status of one lab.
#[derive(Debug, Clone, Serialize)]
pub struct LabStatus {
    pub name: String,
    pub source: String,
    pub created_unix: u64,
    /// `up` finished (false: still running, or crashed halfway).
    pub complete: bool,
    /// Complete, every namespace present, every process working.
    pub healthy: bool,
    /// Why the lab is not healthy (empty when it is).
    pub problems: Vec<String>,
    pub nodes: Vec<NodeStatus>,
    pub links: Vec<LinkStatus>,
    pub processes: Vec<ProcStatus>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NodeStatus {
    pub name: String,
    pub kind: String,
    pub netns: String,
    pub netns_present: bool,
    pub forwarding: Forwarding,
    /// `if address/len` strings: what the kernel has (what the plan says
    /// when the namespace cannot be read).
    pub addresses: Vec<String>,
    /// The namespace as the kernel reports it (None: missing or unreadable).
    pub live: Option<crate::live::LiveNs>,
    pub sid: Option<String>,
    pub sid_behavior: Option<String>,
    /// The node's own address (a router's loopback, an end system's
    /// service address): what its name resolves to.
    pub address: Option<String>,
    pub routes: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct LinkStatus {
    pub id: usize,
    pub a: String,
    pub b: String,
    pub mtu: u32,
    /// Declared state.
    pub up: bool,
    /// Kernel state: `up` (both ends running), `down`, or `missing`.
    pub state: String,
    /// Both directions have the same properties.
    pub symmetric: bool,
    pub properties: Vec<PropStatus>,
}

/// One declared property of one direction of a link.
#[derive(Debug, Clone, Serialize)]
pub struct PropStatus {
    /// `a->b` or `b->a`.
    pub direction: String,
    pub property: String,
    /// The number, in [`PropStatus::unit`].
    pub value: serde_json::Number,
    /// `kbit/s`, `us` or `%`.
    pub unit: String,
    /// The value in the topology file's notation (`1gbit`, `4ms`, `0.5%`).
    pub text: String,
    /// `enforced` or `declared`.
    pub enforcement: String,
    /// How (tbf) or why not (no netem).
    pub how: String,
}

impl PropStatus {
    fn enforced(&self) -> bool {
        self.enforcement == "enforced"
    }
}

/// One lab process (journalled by `up`).
#[derive(Debug, Clone, Serialize)]
pub struct ProcStatus {
    pub name: String,
    pub pid: i32,
    /// It works: it exists, is not stopped, and answers where it can be asked.
    pub alive: bool,
    /// `running`, `stopped`, `zombie` or `gone` (pid + start time checked).
    pub state: String,
    /// The functional probe (the DNS server answered a query); `None`
    /// where there is none or the process is not running.
    pub answers: Option<bool>,
}

fn props(direction: &str, p: &LinkProps, features: Features) -> Vec<PropStatus> {
    let mut out = Vec::new();
    let mut push = |property: &str, value: serde_json::Number, unit: &str, text: String| {
        let (enforced, how) = crate::shaping::enforcement(property, p, features);
        out.push(PropStatus {
            direction: direction.to_string(),
            property: property.to_string(),
            value,
            unit: unit.to_string(),
            text,
            enforcement: if enforced { "enforced" } else { "declared" }.to_string(),
            how: how.to_string(),
        })
    };
    let percent = |v: f64| serde_json::Number::from_f64(v).unwrap_or_else(|| 0.into());
    if let Some(v) = p.bandwidth_kbps {
        push(
            "bandwidth",
            v.into(),
            "kbit/s",
            units::format_bandwidth_kbps(v),
        );
    }
    if let Some(v) = p.latency_us {
        push("latency", v.into(), "us", units::format_duration_us(v));
    }
    if let Some(v) = p.jitter_us {
        push("jitter", v.into(), "us", units::format_duration_us(v));
    }
    if let Some(v) = p.loss_pct {
        push("loss", percent(v), "%", format!("{v}%"));
    }
    if let Some(v) = p.utilization_pct {
        push("utilization", percent(v), "%", format!("{v}%"));
    }
    out
}

/// A running lab's metadata, its topology with the link changes made since
/// `up` (`labctl link set`), and its journal.
pub fn load(lab: &str) -> Result<(state::LabMeta, Topology, Vec<Entry>)> {
    let dir = state::lab_dir(lab);
    if !dir.is_dir() {
        return Err(Error::NoSuchLab(lab.to_string()));
    }
    let meta = state::read_meta(&dir)?;
    let mut topo = state::read_topology(&dir)?;
    crate::link::apply_overrides(&mut topo, &crate::link::read_overrides(&dir)?);
    Ok((meta, topo, state::read_journal(&dir, lab)?.entries))
}

/// A running lab's topology as it is now (with its link changes).
pub fn lab_topology(lab: &str) -> Result<Topology> {
    load(lab).map(|(_, t, _)| t)
}

/// Node names of a running lab (for error messages); empty if unreadable.
pub fn node_names(lab: &str) -> Vec<String> {
    load(lab)
        .map(|(_, t, _)| t.nodes.keys().cloned().collect())
        .unwrap_or_default()
}

/// Collect the status of `lab`.
pub fn collect(lab: &str) -> Result<LabStatus> {
    let (meta, topo, journal) = load(lab)?;
    let plan = plan::from_topology(&topo, lab);
    let names: Vec<String> = plan.namespaces.iter().map(|n| n.netns.clone()).collect();
    let live = crate::live::probe_all(&names);
    let nodes: Vec<NodeStatus> = plan
        .namespaces
        .iter()
        .zip(live)
        .map(|(ns, live)| node_status(&topo, ns, live.ok()))
        .collect();
    let features: Features = state::read_json(&state::lab_dir(lab), state::FEATURES)?;
    let links = topo
        .links
        .iter()
        .map(|l| link_status(&nodes, l, features))
        .collect();
    let deployment = Deployment::read(&state::lab_dir(lab))?;
    let processes = process_status(&plan, &topo, &journal, &deployment);
    let complete = journal.contains(&Entry::Complete);
    let problems = problems(complete, &nodes, &processes);
    Ok(LabStatus {
        name: lab.to_string(),
        source: meta.source.display().to_string(),
        created_unix: meta.created_unix,
        complete,
        healthy: problems.is_empty(),
        problems,
        nodes,
        links,
        processes,
    })
}

/// A node as planned and, where the namespace could be read, as the kernel has it.
fn node_status(
    topo: &Topology,
    ns: &plan::NsPlan,
    live: Option<crate::live::LiveNs>,
) -> NodeStatus {
    let addresses: Vec<String> = match &live {
        Some(l) => l
            .ifaces
            .iter()
            .flat_map(|i| i.addrs.iter().map(move |a| format!("{} {a}", i.name)))
            .collect(),
        None => ns
            .ifaces
            .iter()
            .flat_map(|i| {
                i.addrs
                    .iter()
                    .map(move |(a, l)| format!("{} {a}/{l}", i.name))
            })
            .chain(ns.lo_addrs.iter().map(|(a, l)| format!("lo {a}/{l}")))
            .collect(),
    };
    NodeStatus {
        name: ns.node.clone(),
        kind: topo
            .nodes
            .get(&ns.node)
            .map(|n| n.kind.as_str().to_string())
            .unwrap_or_default(),
        netns: ns.netns.clone(),
        netns_present: netns::exists(&ns.netns),
        forwarding: ns.forwarding,
        addresses,
        live,
        sid: ns.sids.first().map(|s| s.sid.to_string()),
        sid_behavior: ns.sids.first().map(|s| s.label.clone()),
        address: topo
            .nodes
            .get(&ns.node)
            .and_then(|n| n.address)
            .map(|a| a.to_string()),
        routes: ns.routes.len(),
    }
}

/// A link: its ends, the kernel's state of both, its properties.
fn link_status(nodes: &[NodeStatus], l: &topology::Link, features: Features) -> LinkStatus {
    let running = |node: &str, ifname: &str| {
        nodes
            .iter()
            .find(|n| n.name == node)
            .and_then(|n| n.live.as_ref())
            .and_then(|l| l.ifaces.iter().find(|i| i.name == ifname))
            .map(|i| i.running)
    };
    let state = match (
        running(&l.a.node, &l.a.ifname),
        running(&l.b.node, &l.b.ifname),
    ) {
        (Some(true), Some(true)) => "up",
        (Some(_), Some(_)) => "down",
        _ => "missing",
    };
    let mut properties = props("a->b", &l.a_to_b, features);
    properties.extend(props("b->a", &l.b_to_a, features));
    LinkStatus {
        id: l.id,
        a: format!("{}:{}", l.a.node, l.a.ifname),
        b: format!("{}:{}", l.b.node, l.b.ifname),
        mtu: l.mtu,
        up: l.up,
        state: state.to_string(),
        symmetric: l.a_to_b == l.b_to_a,
        properties,
    }
}

/// Every lab process (the last journal line of each name): its state by
/// pid + start time, and whether it answers: the DNS server a query, the
/// controller a connection on both its ports, an agent its status.
fn process_status(
    plan: &LabPlan,
    topo: &Topology,
    journal: &[Entry],
    deployment: &Deployment,
) -> Vec<ProcStatus> {
    crate::procs::latest(journal)
        .into_iter()
        .map(|(name, id)| {
            let state = id.state();
            let answers = match state {
                ProcState::Running => answers(&name, plan, topo, deployment),
                _ => None,
            };
            ProcStatus {
                name,
                pid: id.pid,
                alive: state == ProcState::Running && answers != Some(false),
                state: state.to_string(),
                answers,
            }
        })
        .collect()
}

/// The functional probe of the running process `name`, where it has one.
fn answers(name: &str, plan: &LabPlan, topo: &Topology, d: &Deployment) -> Option<bool> {
    if name == "dns" {
        return dns_answers(plan, topo);
    }
    if name == deploy::CONTROLLER {
        let c = d.controller.as_ref()?;
        return Some(matches!(
            deploy::controller::accepting(c),
            Ok(std::ops::ControlFlow::Break(()))
        ));
    }
    let agent = d.agents.iter().find(|a| a.proc_name() == name)?;
    let bin = d.binaries.agent.as_ref()?;
    Some(deploy::agent::status(bin, &agent.netns, &agent.interface).is_ok())
}

/// Ask the lab DNS server, from its own namespace, for the first record
/// (any answer counts: it is serving). `None` when the lab has no DNS node.
fn dns_answers(plan: &LabPlan, topo: &Topology) -> Option<bool> {
    let dns = plan.dns.as_ref()?;
    let server = SocketAddr::from((dns.listen, 53));
    let name = topo
        .dns_records
        .keys()
        .next()
        .cloned()
        .unwrap_or_else(|| ".".to_string());
    let asked = labns::run_in(&plan.namespaces[dns.ns].netns, move || {
        crate::dns::answers(server, &name, DNS_PROBE_WAIT)
    });
    Some(asked.unwrap_or(false))
}

/// Why a lab is not healthy.
fn problems(complete: bool, nodes: &[NodeStatus], processes: &[ProcStatus]) -> Vec<String> {
    let mut out = Vec::new();
    if !complete {
        out.push("up did not finish; run labctl down".to_string());
    }
    for n in nodes.iter().filter(|n| !n.netns_present) {
        out.push(format!(
            "namespace {} of node {} is missing",
            n.netns, n.name
        ));
    }
    for p in processes.iter().filter(|p| !p.alive) {
        let why = match p.answers {
            Some(false) if p.name == "dns" => format!(
                "does not answer a query within {} ms",
                DNS_PROBE_WAIT.as_millis()
            ),
            Some(false) => "runs but does not answer".to_string(),
            _ => format!("is {}", p.state),
        };
        out.push(format!("process {} (pid {}) {why}", p.name, p.pid));
    }
    out
}

/// Output format of `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// One row per node, link and the processes on one line, in the file's
    /// units ([`table::Style`] says how wide, whether coloured).
    Table(table::Style),
    /// Every detail: each address, namespace, property per direction.
    Wide(table::Style),
    /// Every detail, always a list of labs (one when NAME is given).
    Json,
}

/// What `labctl status` prints, and whether every lab in it is healthy.
#[derive(Debug, Clone)]
pub struct Report {
    pub text: String,
    pub healthy: bool,
}

/// Run `labctl status`: the named lab or every running lab.
pub fn run(name: Option<&str>, output: Output) -> Result<Report> {
    let labs = match name {
        Some(n) => {
            state::validate_name(n)?;
            vec![n.to_string()]
        }
        None => state::list_labs(),
    };
    let all = labs
        .iter()
        .map(|l| collect(l))
        .collect::<Result<Vec<_>>>()?;
    let text = match output {
        Output::Json => serde_json::to_string_pretty(&all)? + "\n",
        _ if all.is_empty() => "no lab is running\n".to_string(),
        Output::Table(style) => table::render_all(&all, style, false),
        Output::Wide(style) => table::render_all(&all, style, true),
    };
    Ok(Report {
        text,
        healthy: all.iter().all(|s| s.healthy),
    })
}
