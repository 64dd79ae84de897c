//! `labctl link set A B [--down|--up] [--bandwidth ..] [--latency ..]
//! [--jitter ..] [--loss ..] [--utilization ..] [--metric ..]`: change a link
//! of a running lab, in one command, in the kernel where it can be enforced
//! and at the controller (its admin API) always.
//!
//! | change | kernel | controller |
//! |---|---|---|
//! | `--down` / `--up` | both ends set down / up (then carrier awaited) | link state |
//! | bandwidth | the sending interface's tbf replaced | bandwidth |
//! | loss | the BPF dropper on the sending interface replaced (0: removed) | loss |
//! | latency, jitter | the qdisc tree rebuilt with netem where the kernel has it ([`crate::shaping`]), else declared ([`LATENCY_HOW`]) | latency, jitter |
//! | utilization | declared | utilization |
//! | metric | the underlay recomputed | IGP metric |
//!
//! After a change of state or metric the underlay's shortest paths are
//! computed again (`topology::routes`, as `up` does) and every node whose
//! routes changed gets them replaced: the static routes stand for an IGP
//! that converged at once (a link taken down would otherwise keep
//! blackholing the routes through it, the controller's included).
//!
//! Each change is recorded in the state directory (`links.json`), so
//! `status` shows the link as it is now, a controller started later is told
//! again ([`replay`]), and [`restore`] puts a link back as the topology
//! file has it.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::Path;
use std::time::Duration;

use ipnet::Ipv6Net;
use labns::Wait;
use serde::{Deserialize, Serialize};
use topology::{Link, LinkProps, Topology};

use crate::deploy::{self, Deployment};
use crate::error::{Error, Result};
use crate::nl::{self, Nl};
use crate::plan::{self, netns_name, Forwarding, RoutePlan, TbfPlan};
use crate::procs;
use crate::scenario::{LinkChange, LinkDirection};
use crate::shaping::{self, Features};
use crate::state;

/// Why latency and jitter are only declared (where the kernel has netem,
/// they are enforced: [`crate::shaping`]).
pub const LATENCY_HOW: &str = "known to the controller only (this kernel has no netem)";
/// How long a link brought up gets for its carrier.
const CARRIER_WAIT: Duration = Duration::from_secs(10);
/// The file of a lab's link changes.
const OVERRIDES: &str = "links.json";

/// A link as changed since `up` (unset: as the topology file has it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LinkOverride {
    pub up: Option<bool>,
    pub igp_metric: Option<u32>,
    pub a_to_b: LinkProps,
    pub b_to_a: LinkProps,
}

/// Every changed link of a lab, by link id.
pub type Overrides = BTreeMap<usize, LinkOverride>;

/// Read `links.json` (none: no change).
pub fn read_overrides(state_dir: &Path) -> Result<Overrides> {
    state::read_json(state_dir, OVERRIDES)
}

fn write_overrides(state_dir: &Path, o: &Overrides) -> Result<()> {
    state::write_json(state_dir, OVERRIDES, o)
}

/// `topo` with the lab's link changes applied (what the links are now).
pub fn apply_overrides(topo: &mut Topology, o: &Overrides) {
    for (id, ov) in o {
        if let Some(l) = topo.links.get_mut(*id) {
            l.up = ov.up.unwrap_or(l.up);
            l.igp_metric = ov.igp_metric.unwrap_or(l.igp_metric);
            l.a_to_b = l.a_to_b.overlay(&ov.a_to_b);
            l.b_to_a = l.b_to_a.overlay(&ov.b_to_a);
        }
    }
}

/// One property of one direction as `link set` applied it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Applied {
    /// `a->b`, `b->a` or `both`.
    pub direction: String,
    pub property: String,
    pub value: String,
    /// `enforced` or `declared`.
    pub enforcement: String,
    pub how: String,
}

/// What the controller said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ControllerTold {
    /// The lab has no controller.
    NoController,
    /// The lab's controller is not running (stopped): told when it starts.
    NotRunning,
    /// Told: the sessions it recomputed and the results it pushed.
    Told {
        sessions_recomputed: u32,
        results_pushed: u32,
    },
}

/// What one `link set` did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SetReport {
    /// `vpp2–vpp4` (the topology's order).
    pub link: String,
    pub applied: Vec<Applied>,
    pub controller: ControllerTold,
}

impl SetReport {
    /// The lines `labctl link set` prints.
    pub fn lines(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .applied
            .iter()
            .map(|a| {
                format!(
                    "{} {} {} {} [{}]: {}",
                    self.link, a.direction, a.property, a.value, a.enforcement, a.how
                )
            })
            .collect();
        out.push(match &self.controller {
            ControllerTold::NoController => format!("{}: the lab has no controller", self.link),
            ControllerTold::NotRunning => format!(
                "{}: the controller is not running: it is told when it starts",
                self.link
            ),
            ControllerTold::Told {
                sessions_recomputed,
                results_pushed,
            } => format!(
                "{}: controller told: {sessions_recomputed} sessions recomputed, {results_pushed} results pushed",
                self.link
            ),
        });
        out
    }
}

/// The change `labctl link set A B ...` asks for, on `topo`.
pub fn change_between(
    topo: &Topology,
    a: &str,
    b: &str,
    direction: LinkDirection,
    up: Option<bool>,
    props: LinkProps,
    igp_metric: Option<u32>,
) -> Result<LinkChange> {
    let link = topo.link_between(a, b).ok_or_else(|| Error::NoSuchLink {
        a: a.to_string(),
        b: b.to_string(),
    })?;
    // `direction` is relative to A B as given; the model's to the topology's (a, b).
    let direction = match (direction, link.a.node == a) {
        (LinkDirection::Both, _) => LinkDirection::Both,
        (d, true) => d,
        (LinkDirection::AToB, false) => LinkDirection::BToA,
        (LinkDirection::BToA, false) => LinkDirection::AToB,
    };
    Ok(LinkChange {
        link: link.id,
        between: [a.to_string(), b.to_string()],
        direction,
        up,
        props,
        igp_metric,
    })
}

/// The running lab's topology with its link changes, and its state directory.
fn lab_topology(lab: &str) -> Result<(Topology, std::path::PathBuf, Overrides)> {
    let dir = state::lab_dir(lab);
    if !dir.is_dir() {
        return Err(Error::NoSuchLab(lab.to_string()));
    }
    let topo = state::read_topology(&dir)?;
    let o = read_overrides(&dir)?;
    Ok((topo, dir, o))
}

/// Apply `change` to the running lab `lab` (module docs).
pub fn set(lab: &str, change: &LinkChange) -> Result<SetReport> {
    let (topo, dir, mut overrides) = lab_topology(lab)?;
    let mut now = topo.clone();
    apply_overrides(&mut now, &overrides);
    let link = now
        .links
        .get(change.link)
        .ok_or_else(|| Error::NoSuchLink {
            a: change.between[0].clone(),
            b: change.between[1].clone(),
        })?;
    let features: Features = state::read_json(&state::lab_dir(lab), state::FEATURES)?;
    let mut applied = enforce(lab, link, change, features)?;
    applied.extend(declared(change, features));
    let entry = overrides.entry(change.link).or_default();
    record(entry, change);
    write_overrides(&dir, &overrides)?;
    if change.up.is_some() || change.igp_metric.is_some() {
        let mut after = topo.clone();
        apply_overrides(&mut after, &overrides);
        // A device taken down loses its routes and SIDs in the kernel: its
        // two nodes get all of theirs again.
        let ends = [link.a.node.as_str(), link.b.node.as_str()];
        applied.push(reroute(lab, &now, &after, &ends)?);
    }
    let controller = tell_controller(lab, &dir, &topo, change)?;
    Ok(SetReport {
        link: format!("{}–{}", link.a.node, link.b.node),
        applied,
        controller,
    })
}

/// Put link `id` back as the topology file has it (kernel and controller),
/// and forget its changes.
pub fn restore(lab: &str, id: usize) -> Result<Vec<SetReport>> {
    let (topo, dir, mut overrides) = lab_topology(lab)?;
    let Some(link) = topo.links.get(id) else {
        return Ok(Vec::new());
    };
    let mut reports = Vec::new();
    for (direction, props) in [
        (LinkDirection::AToB, &link.a_to_b),
        (LinkDirection::BToA, &link.b_to_a),
    ] {
        let change = LinkChange {
            link: id,
            between: [link.a.node.clone(), link.b.node.clone()],
            direction,
            up: (direction == LinkDirection::AToB).then_some(link.up),
            props: props.clone(),
            igp_metric: (direction == LinkDirection::AToB).then_some(link.igp_metric),
        };
        reports.push(set(lab, &change)?);
    }
    overrides = read_overrides(&dir).unwrap_or(overrides);
    overrides.remove(&id);
    write_overrides(&dir, &overrides)?;
    Ok(reports)
}

/// Tell a controller that just started every change made to the lab's links.
pub fn replay(lab: &str) -> Result<()> {
    let (topo, dir, overrides) = lab_topology(lab)?;
    for (id, ov) in &overrides {
        let Some(l) = topo.links.get(*id) else {
            continue;
        };
        for (direction, props) in [
            (LinkDirection::AToB, &ov.a_to_b),
            (LinkDirection::BToA, &ov.b_to_a),
        ] {
            let change = LinkChange {
                link: *id,
                between: [l.a.node.clone(), l.b.node.clone()],
                direction,
                up: ov.up,
                props: props.clone(),
                igp_metric: ov.igp_metric,
            };
            tell_controller(lab, &dir, &topo, &change)?;
        }
    }
    Ok(())
}

/// Put `change` into a link's recorded changes.
fn record(entry: &mut LinkOverride, change: &LinkChange) {
    entry.up = change.up.or(entry.up);
    entry.igp_metric = change.igp_metric.or(entry.igp_metric);
    if change.direction != LinkDirection::BToA {
        entry.a_to_b = entry.a_to_b.overlay(&change.props);
    }
    if change.direction != LinkDirection::AToB {
        entry.b_to_a = entry.b_to_a.overlay(&change.props);
    }
}

/// The sending ends a change touches: (node, interface, direction label).
fn senders(link: &Link, d: LinkDirection) -> Vec<(&str, &str, &'static str)> {
    let ab = (link.a.node.as_str(), link.a.ifname.as_str(), "a->b");
    let ba = (link.b.node.as_str(), link.b.ifname.as_str(), "b->a");
    match d {
        LinkDirection::Both => vec![ab, ba],
        LinkDirection::AToB => vec![ab],
        LinkDirection::BToA => vec![ba],
    }
}

/// Apply what the kernel enforces; returns what was enforced.
fn enforce(
    lab: &str,
    link: &Link,
    change: &LinkChange,
    features: Features,
) -> Result<Vec<Applied>> {
    let mut out = Vec::new();
    let p = &change.props;
    let delays = features.netem && (p.latency_us.is_some() || p.jitter_us.is_some());
    for (node, ifname, label) in senders(link, change.direction) {
        let old = link.props_from(node).cloned().unwrap_or_default();
        let job = ShapeJob {
            ifname: ifname.to_string(),
            mtu: link.mtu,
            bandwidth_kbps: p.bandwidth_kbps,
            loss_pct: p.loss_pct,
            had_loss: old.loss_pct.is_some_and(|l| l > 0.0),
            tree: (delays || (features.netem && p.bandwidth_kbps.is_some())).then(|| Tree {
                had_root: !shaping::plan(&old, link.mtu, features).qdiscs.is_empty(),
                new: shaping::plan(&old.overlay(p), link.mtu, features),
            }),
        };
        let ns = netns_name(lab, node);
        let ns2 = ns.clone();
        labns::run_in(&ns, move || job.run(&ns2))??;
        let at = format!("{node}:{ifname}");
        if let Some(kbps) = p.bandwidth_kbps {
            out.push(enforced(
                label,
                "bandwidth",
                format!("{kbps} kbit/s"),
                format!("tbf on {at}"),
            ));
        }
        for (property, value) in [("latency", p.latency_us), ("jitter", p.jitter_us)] {
            if let Some(v) = value.filter(|_| delays) {
                out.push(enforced(
                    label,
                    property,
                    format!("{v} us"),
                    format!("netem on {at}"),
                ));
            }
        }
        if let Some(loss) = p.loss_pct {
            let how = match loss > 0.0 {
                true => format!("BPF dropper on {at} egress"),
                false => format!("dropper removed from {at}"),
            };
            out.push(enforced(label, "loss", format!("{loss} %"), how));
        }
    }
    if let Some(up) = change.up {
        set_state(lab, link, up)?;
        let state = if up { "up" } else { "down" };
        let how = format!(
            "{}:{} and {}:{} set {state}",
            link.a.node, link.a.ifname, link.b.node, link.b.ifname
        );
        out.push(enforced("both", "state", state.to_string(), how));
    }
    Ok(out)
}

fn enforced(direction: &str, property: &str, value: String, how: String) -> Applied {
    Applied {
        direction: direction.to_string(),
        property: property.to_string(),
        value,
        enforcement: "enforced".to_string(),
        how,
    }
}

/// The underlay after a link's state or metric changed: every node whose
/// shortest-path routes changed gets them replaced (and the ones that
/// vanished deleted), as an IGP that converged at once would leave them;
/// the nodes of `ends` get every route and SID of theirs again.
fn reroute(lab: &str, before: &Topology, after: &Topology, ends: &[&str]) -> Result<Applied> {
    let old = plan::from_topology(before, lab);
    let new = plan::from_topology(after, lab);
    let (mut changed, mut nodes) = (0, Vec::new());
    for (o, n) in old.namespaces.iter().zip(&new.namespaces) {
        let all = ends.contains(&n.node.as_str());
        let same = o.routes == n.routes && o.sids == n.sids;
        // A VPP router's FIB is its own (configured at start): not rewritten here.
        if (same && !all) || n.forwarding == Forwarding::Vpp {
            continue;
        }
        let job = RouteJob {
            fresh: n
                .routes
                .iter()
                .filter(|r| all || !o.routes.contains(r))
                .cloned()
                .collect(),
            gone: o
                .routes
                .iter()
                .map(|r| r.dst)
                .filter(|d| !n.routes.iter().any(|r| r.dst == *d))
                .collect(),
            sids: if all || o.sids != n.sids {
                n.sids.clone()
            } else {
                Vec::new()
            },
        };
        changed += job.fresh.len() + job.gone.len();
        nodes.push(n.node.clone());
        let ns = n.netns.clone();
        labns::run_in(&n.netns, move || job.run(&ns))??;
    }
    let how = format!(
        "{changed} routes replaced or removed on {}",
        nodes.join(", ")
    );
    Ok(enforced("both", "underlay", "recomputed".to_string(), how))
}

/// Routes and SIDs of one namespace to put in (replacing) or take out.
struct RouteJob {
    fresh: Vec<RoutePlan>,
    gone: Vec<Ipv6Net>,
    sids: Vec<plan::SidPlan>,
}

impl RouteJob {
    fn run(self, netns: &str) -> Result<()> {
        let (rt, nl) = Nl::connect_here(netns)?;
        rt.block_on(async {
            let idx = nl.link_indexes().await?;
            // A route on a device that is down cannot be (ENETDOWN): an end
            // system's one default route while its link is down.
            let down = libc::ENETDOWN;
            for r in &self.fresh {
                let oif = nl.index_in(&idx, &r.dev, &format!("route {}", r.dst))?;
                let what = format!("replace route {}", r.dst);
                nl.send_allowing(nl::route(r, oif), nl::REPLACE, what, down)
                    .await?;
            }
            for s in &self.sids {
                let oif = nl.index_in(&idx, &s.dev, &format!("SID {}", s.sid))?;
                let what = format!("replace SID {}", s.sid);
                nl.send_allowing(nl::seg6local_end(s, oif), nl::REPLACE, what, down)
                    .await?;
            }
            for d in self.gone {
                let what = format!("delete route {d}");
                nl.send_allowing(nl::route_delete(d), nl::REQUEST, what, libc::ESRCH)
                    .await?;
            }
            Ok(())
        })
    }
}

/// What is only declared (to the controller).
fn declared(change: &LinkChange, features: Features) -> Vec<Applied> {
    let direction = match change.direction {
        LinkDirection::Both => "both",
        LinkDirection::AToB => "a->b",
        LinkDirection::BToA => "b->a",
    };
    let p = &change.props;
    let undelayed = |v: Option<u64>| v.filter(|_| !features.netem).map(|v| format!("{v} us"));
    let rows = [
        ("latency", undelayed(p.latency_us), LATENCY_HOW),
        ("jitter", undelayed(p.jitter_us), LATENCY_HOW),
        (
            "utilization",
            p.utilization_pct.map(|v| format!("{v} %")),
            "controller input only",
        ),
        (
            "igp_metric",
            change.igp_metric.map(|v| v.to_string()),
            "controller input (and the underlay: see below)",
        ),
    ];
    rows.into_iter()
        .filter_map(|(property, value, how)| {
            Some(Applied {
                direction: direction.to_string(),
                property: property.to_string(),
                value: value?,
                enforcement: "declared".to_string(),
                how: how.to_string(),
            })
        })
        .collect()
}

/// The kernel side of one sending interface, run inside its namespace.
struct ShapeJob {
    ifname: String,
    mtu: u32,
    bandwidth_kbps: Option<u64>,
    loss_pct: Option<f64>,
    /// A dropper is attached (so clsact exists).
    had_loss: bool,
    /// With netem, the whole qdisc tree is rebuilt instead of the tbf
    /// replaced (a tbf replaced with a new limit drops its netem child).
    tree: Option<Tree>,
}

/// The qdisc tree of one sending interface, rebuilt.
struct Tree {
    /// labctl installed a root qdisc (to delete first).
    had_root: bool,
    new: shaping::Shaping,
}

impl ShapeJob {
    fn run(self, netns: &str) -> Result<()> {
        let (rt, nl) = Nl::connect_here(netns)?;
        rt.block_on(async {
            let index = nl.index(&self.ifname).await?;
            if let Some(tree) = &self.tree {
                if tree.had_root {
                    let what = format!("delete the root qdisc of {}", self.ifname);
                    nl.send(nl::qdisc_delete_root(index), nl::REQUEST, what)
                        .await?;
                }
                // Root before child, one at a time.
                for q in &tree.new.qdiscs {
                    let (msg, what) = crate::apply::qdisc_request(index, &self.ifname, q);
                    nl.send(msg, nl::REPLACE, what).await?;
                }
            } else if let Some(kbps) = self.bandwidth_kbps {
                let t = TbfPlan::for_rate(kbps, self.mtu);
                let what = format!(
                    "replace tbf on {} ({} B/s)",
                    self.ifname, t.rate_bytes_per_sec
                );
                nl.send(nl::tbf(index, &t), nl::REPLACE, what).await?;
            }
            if let Some(loss) = self.loss_pct {
                self.dropper(&nl, index, loss).await?;
            }
            Ok(())
        })
    }

    /// Replace the loss dropper: the old filter out, a new one (loss > 0) in.
    async fn dropper(&self, nl: &Nl, index: u32, loss: f64) -> Result<()> {
        let name = &self.ifname;
        if self.had_loss {
            let what = format!("remove the loss dropper from {name}");
            nl.send_allowing(
                nl::dropper_filter_delete(index),
                nl::REQUEST,
                what,
                libc::ENOENT,
            )
            .await?;
        }
        if loss <= 0.0 {
            return Ok(());
        }
        let what = format!("add clsact qdisc on {name}");
        nl.send_allowing(nl::clsact(index), nl::REPLACE, what, libc::EEXIST)
            .await?;
        let prog = crate::bpf::load_dropper(loss)?;
        let fd = std::os::fd::AsRawFd::as_raw_fd(&prog);
        let what = format!("attach loss dropper ({loss} %) to {name}");
        let done = nl
            .send(nl::dropper_filter(index, fd), nl::REPLACE, what)
            .await;
        drop(prog);
        done
    }
}

/// Set both ends of `link` up or down; after up, wait for their carrier.
fn set_state(lab: &str, link: &Link, up: bool) -> Result<()> {
    // Both ends first: an end has carrier only once its peer is up too.
    for end in [&link.a, &link.b] {
        on_end(lab, end, move |nl, ifname| async move {
            let index = nl.index(&ifname).await?;
            let (msg, flags) = nl::link_state(index, up);
            let what = format!("set {ifname} {}", if up { "up" } else { "down" });
            nl.send(msg, flags, what).await
        })?;
    }
    if !up {
        return Ok(());
    }
    for end in [&link.a, &link.b] {
        on_end(lab, end, |nl, ifname| async move {
            Wait::new(format!("carrier on {ifname} in {}", nl.netns), CARRIER_WAIT)
                .try_until_async(|| async {
                    let down = nl.links_not_running().await?;
                    Ok::<_, Error>(match down.contains(&ifname) {
                        true => ControlFlow::Continue("no carrier"),
                        false => ControlFlow::Break(()),
                    })
                })
                .await
        })?;
    }
    Ok(())
}

/// Run `job` on a netlink connection inside the namespace of link end `end`.
fn on_end<F, Fut>(lab: &str, end: &topology::Endpoint, job: F) -> Result<()>
where
    F: FnOnce(Nl, String) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<()>>,
{
    let ns = netns_name(lab, &end.node);
    let (ns2, ifname) = (ns.clone(), end.ifname.clone());
    labns::run_in(&ns, move || -> Result<()> {
        let (rt, nl) = Nl::connect_here(&ns2)?;
        rt.block_on(job(nl, ifname))
    })?
}

/// Tell the lab's controller (admin API `SetLink`), if it has one running.
fn tell_controller(
    lab: &str,
    dir: &Path,
    topo: &Topology,
    change: &LinkChange,
) -> Result<ControllerTold> {
    let d = Deployment::read(dir)?;
    let Some(c) = &d.controller else {
        return Ok(ControllerTold::NoController);
    };
    let journal = state::read_journal(dir, lab)?;
    if procs::running(&journal.entries, deploy::CONTROLLER).is_none() {
        return Ok(ControllerTold::NotRunning);
    }
    let Some(link) = topo.links.get(change.link) else {
        return Ok(ControllerTold::NoController);
    };
    let req = set_link_request(link, change);
    let reply = deploy::controller::admin(&c.netns, move |mut client| async move {
        client.set_link(req).await
    })?;
    Ok(ControllerTold::Told {
        sessions_recomputed: reply.sessions_recomputed,
        results_pushed: reply.results_pushed,
    })
}

/// The admin API's request for `change` (ends in the topology's order).
fn set_link_request(link: &Link, change: &LinkChange) -> mock_controller::api::SetLinkRequest {
    use mock_controller::api::LinkDirection as D;
    let p = &change.props;
    mock_controller::api::SetLinkRequest {
        a: link.a.node.clone(),
        b: link.b.node.clone(),
        link_id: u32::try_from(link.id).ok(),
        direction: match change.direction {
            LinkDirection::Both => D::Both,
            LinkDirection::AToB => D::AToB,
            LinkDirection::BToA => D::BToA,
        } as i32,
        up: change.up,
        bandwidth_kbps: p.bandwidth_kbps,
        latency_us: p.latency_us,
        jitter_us: p.jitter_us,
        loss_pct: p.loss_pct,
        utilization_pct: p.utilization_pct,
        igp_metric: change.igp_metric,
    }
}
