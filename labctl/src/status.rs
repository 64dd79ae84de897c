//! `labctl status [NAME] [--output table|json]`: what a lab is made of and
//! whether it is still there: nodes (namespace present?), addresses, SIDs,
//! processes (alive?), and links with each property marked **enforced**
//! (bandwidth: a tbf qdisc on the sending interface; loss: a BPF dropper on
//! its TC egress) or **declared** (latency, jitter: this kernel has no netem,
//! so they are only known to the controller; utilization is always a
//! controller input).

use comfy_table::{presets, Table};
use serde::Serialize;
use topology::{LinkProps, Topology};

use crate::error::{Error, Result};
use crate::netns;
use crate::plan::{self, Forwarding};
use crate::state::{self, Entry};

/// Status of one lab.
#[derive(Debug, Clone, Serialize)]
pub struct LabStatus {
    pub name: String,
    pub source: String,
    pub created_unix: u64,
    /// `up` finished (false: still running, or crashed halfway).
    pub complete: bool,
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
    pub properties: Vec<PropStatus>,
}

/// One declared property of one direction of a link.
#[derive(Debug, Clone, Serialize)]
pub struct PropStatus {
    /// `a->b` or `b->a`.
    pub direction: String,
    pub property: String,
    pub value: String,
    /// `enforced` or `declared`.
    pub enforcement: String,
    /// How (tbf) or why not (no netem).
    pub how: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProcStatus {
    pub name: String,
    pub pid: i32,
    pub alive: bool,
}

fn props(direction: &str, p: &LinkProps) -> Vec<PropStatus> {
    let mut out = Vec::new();
    let mut push = |property: &str, value: String, enforced: bool, how: &str| {
        out.push(PropStatus {
            direction: direction.to_string(),
            property: property.to_string(),
            value,
            enforcement: if enforced { "enforced" } else { "declared" }.to_string(),
            how: how.to_string(),
        })
    };
    if let Some(v) = p.bandwidth_kbps {
        push(
            "bandwidth",
            format!("{v} kbit/s"),
            true,
            "tbf qdisc on the sending interface",
        );
    }
    if let Some(v) = p.latency_us {
        push(
            "latency",
            format!("{v} us"),
            false,
            "no netem in this kernel",
        );
    }
    if let Some(v) = p.jitter_us {
        push(
            "jitter",
            format!("{v} us"),
            false,
            "no netem in this kernel",
        );
    }
    if let Some(v) = p.loss_pct {
        push(
            "loss",
            format!("{v} %"),
            v > 0.0,
            "BPF dropper on the sending interface's TC egress (no netem)",
        );
    }
    if let Some(v) = p.utilization_pct {
        push(
            "utilization",
            format!("{v} %"),
            false,
            "controller input only",
        );
    }
    out
}

fn load(lab: &str) -> Result<(state::LabMeta, Topology, Vec<Entry>)> {
    let dir = state::lab_dir(lab);
    if !dir.is_dir() {
        return Err(Error::NoSuchLab(lab.to_string()));
    }
    let meta = state::read_meta(&dir)?;
    let p = dir.join("topology.yaml");
    let text = std::fs::read_to_string(&p).map_err(Error::io("read", &p))?;
    let topo = topology::parse_str(&text, &meta.source.display().to_string())
        .map_err(|e| Error::Topology(e.to_string()))?;
    Ok((meta, topo, state::read_journal(&dir)?))
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
    let mut live = crate::live::probe_all(&names).into_iter();
    let nodes: Vec<NodeStatus> = plan
        .namespaces
        .iter()
        .map(|ns| {
            let live = live.next().and_then(|r| r.ok());
            let node = topo.nodes.get(&ns.node);
            let mut addresses: Vec<String> = ns
                .ifaces
                .iter()
                .flat_map(|i| {
                    i.addrs
                        .iter()
                        .map(move |(a, l)| format!("{} {a}/{l}", i.name))
                })
                .collect();
            addresses.extend(ns.lo_addrs.iter().map(|(a, l)| format!("lo {a}/{l}")));
            if let Some(l) = &live {
                addresses = l
                    .ifaces
                    .iter()
                    .flat_map(|i| i.addrs.iter().map(move |a| format!("{} {a}", i.name)))
                    .collect();
            }
            NodeStatus {
                name: ns.node.clone(),
                kind: node
                    .map(|n| n.kind.as_str().to_string())
                    .unwrap_or_default(),
                netns: ns.netns.clone(),
                netns_present: netns::exists(&ns.netns),
                forwarding: ns.forwarding,
                addresses,
                live,
                sid: ns.sids.first().map(|s| s.sid.to_string()),
                sid_behavior: ns.sids.first().map(|s| s.label.clone()),
                routes: ns.routes.len(),
            }
        })
        .collect();
    let running = |node: &str, ifname: &str| {
        nodes
            .iter()
            .find(|n| n.name == node)
            .and_then(|n| n.live.as_ref())
            .and_then(|l| l.ifaces.iter().find(|i| i.name == ifname))
            .map(|i| i.running)
    };
    let links = topo
        .links
        .iter()
        .map(|l| {
            let state = match (
                running(&l.a.node, &l.a.ifname),
                running(&l.b.node, &l.b.ifname),
            ) {
                (Some(true), Some(true)) => "up",
                (Some(_), Some(_)) => "down",
                _ => "missing",
            };
            let mut properties = props("a->b", &l.a_to_b);
            properties.extend(props("b->a", &l.b_to_a));
            LinkStatus {
                id: l.id,
                a: format!("{}:{}", l.a.node, l.a.ifname),
                b: format!("{}:{}", l.b.node, l.b.ifname),
                mtu: l.mtu,
                up: l.up,
                state: state.to_string(),
                properties,
            }
        })
        .collect();
    let processes = journal
        .iter()
        .filter_map(|e| match e {
            Entry::Proc { name, pid, start } => Some(ProcStatus {
                name: name.clone(),
                pid: *pid,
                alive: state::proc_alive(*pid, *start),
            }),
            _ => None,
        })
        .collect();
    Ok(LabStatus {
        name: lab.to_string(),
        source: meta.source.display().to_string(),
        created_unix: meta.created_unix,
        complete: journal.contains(&Entry::Complete),
        nodes,
        links,
        processes,
    })
}

/// Output format of `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Table,
    Json,
}

/// Run `labctl status`: the named lab or every running lab; returns the text to print.
pub fn run(name: Option<&str>, output: Output) -> Result<String> {
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
    Ok(match output {
        Output::Json => {
            let v = if name.is_some() {
                serde_json::to_string_pretty(&all[0])
            } else {
                serde_json::to_string_pretty(&all)
            };
            v.map_err(|e| Error::Topology(e.to_string()))?
        }
        Output::Table if all.is_empty() => "no lab is running\n".to_string(),
        Output::Table => all.iter().map(render).collect::<Vec<_>>().join("\n"),
    })
}

fn render(s: &LabStatus) -> String {
    let mut out = format!(
        "lab {} ({}){}\n",
        s.name,
        s.source,
        if s.complete {
            ""
        } else {
            " INCOMPLETE: up did not finish; run labctl down"
        }
    );
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED);
    t.set_header(["node", "kind", "namespace", "addresses", "SID", "routes"]);
    // routes: installed (kernel) / planned.
    for n in &s.nodes {
        t.add_row([
            n.name.clone(),
            n.kind.clone(),
            format!(
                "{}{}",
                n.netns,
                if n.netns_present { "" } else { " (MISSING)" }
            ),
            n.addresses.join("\n"),
            match (&n.sid, &n.sid_behavior) {
                (Some(sid), Some(b)) => format!("{sid} {b}"),
                _ => String::new(),
            },
            match &n.live {
                Some(l) => format!("{}/{}", l.static_routes, n.routes),
                None => format!("?/{}", n.routes),
            },
        ]);
    }
    out.push_str(&t.to_string());
    out.push('\n');
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED);
    t.set_header(["link", "a", "b", "mtu", "state", "properties"]);
    // state: kernel state (declared state in parentheses when it differs).
    for l in &s.links {
        let props: Vec<String> = l
            .properties
            .iter()
            .map(|p| {
                format!(
                    "{} {} {} [{}]",
                    p.direction, p.property, p.value, p.enforcement
                )
            })
            .collect();
        t.add_row([
            l.id.to_string(),
            l.a.clone(),
            l.b.clone(),
            l.mtu.to_string(),
            match (l.up, l.state.as_str()) {
                (true, "up") | (false, "down") => l.state.clone(),
                (declared, live) => {
                    format!("{live} (declared {})", if declared { "up" } else { "down" })
                }
            },
            props.join("\n"),
        ]);
    }
    out.push_str(&t.to_string());
    out.push('\n');
    if !s.processes.is_empty() {
        let mut t = Table::new();
        t.load_preset(presets::UTF8_FULL_CONDENSED);
        t.set_header(["process", "pid", "alive"]);
        for p in &s.processes {
            t.add_row([p.name.clone(), p.pid.to_string(), p.alive.to_string()]);
        }
        out.push_str(&t.to_string());
        out.push('\n');
    }
    out
}
