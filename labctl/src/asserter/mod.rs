//! The asserter: a pure function from what a run recorded to one verdict per
//! expectation. Nothing here touches the system, so every rule is tested on
//! generated captures.
//!
//! Inputs: the resolved scenario, its topology, the run's record (step
//! times, each flow's traffic report with its 5-tuples, agent counters read
//! at `expect` steps) and every link's capture (frames with direction and
//! timestamp, and the ring's drop count). Frames are decoded with
//! `srh::decode`; a frame belongs to a flow when its (source, source port,
//! final destination, destination port, protocol) is one of the flow's
//! connections (request) or the reverse (reply) — the final destination is
//! segment 0 of an SRH, so packets are matched on every hop.
//!
//! Rules (docs/scenarios.md, "The asserter"):
//! - `srh` hop: at least one packet of the flow in that direction crossed
//!   the link in the window, and every one has (or lacks) the SRH, with
//!   exactly the segments, segments_left and IPv6 destination written.
//! - `path`: the ordered nodes are reconstructed from which links saw the
//!   flow in which direction (never from the controller): a walk from the
//!   sender that uses every directed link seen exactly once, preferring the
//!   link that saw the flow first; it must equal the nodes written and use
//!   every link seen.
//! - `reply_reversed`: the requests carry one segment list; every reply on
//!   every link carries it reversed (`Srh::reversed`, segment 0 = the client).
//! - `quiet`: no packet of the flow (or of any flow) on the links.
//! - `server_no_srh`: UDP: the server socket's `IPV6_RECVRTHDR` saw no
//!   routing header; TCP: every SRH that reached the server's host has
//!   SL 0 and the server's address as destination, so the server's ingress
//!   strips it (the shared ingress rule), and the server agent's `malformed`
//!   counter is 0 when counters were read.
//! - `intact`: every connection's bytes arrived intact (both ways for echo).
//! - `counter`: the value read when the `expect` step ran.
//! - A verdict judged on a link whose capture dropped frames lists the drops.
//!
//! # Public API
//! - [`judge`]`(&Scenario, &Topology, &RunRecord, &[LinkCapture]) -> Judgement`
//! - [`RunRecord`], [`StepTiming`], [`Judgement`], [`Verdict`], [`Outcome`],
//!   [`ObservedPath`], [`LinkDrop`]

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use topology::Topology;

use crate::capture::LinkCapture;
use crate::scenario::{Check, Expectation, FlowDirection, Scenario};
use crate::traffic::ClientReport;

mod checks;
mod index;
mod path;

pub use path::ObservedPath;

/// When a step ran (wall clock since the UNIX epoch, as capture timestamps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepTiming {
    pub index: usize,
    pub start: Duration,
    pub end: Duration,
}

/// What a run recorded besides the captures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Every step that ran.
    pub steps: Vec<StepTiming>,
    /// The client side of each flow that ran (its connections' 5-tuples,
    /// bytes, integrity), by flow name.
    pub flows: BTreeMap<String, ClientReport>,
    /// Agent counters read when an `expect` step ran: step index -> host ->
    /// counter name -> value.
    pub counters: BTreeMap<usize, BTreeMap<String, BTreeMap<String, u64>>>,
}

/// Pass, fail, or not judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
    /// Not judged (a feature this kernel lacks); never counted as passed.
    Skipped,
}

/// A capture that lost frames on a link an expectation was judged on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkDrop {
    /// `site-a–vpp1`.
    pub link: String,
    pub dropped: u64,
}

/// The judgement of one expectation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// Index of the `expect` step.
    pub step: usize,
    /// Line of the expectation in the scenario file.
    pub line: u32,
    /// What is checked, e.g. `web request: SRH on vpp1→vpp2`.
    pub name: String,
    pub expected: String,
    pub observed: String,
    pub outcome: Outcome,
    /// The first packet that broke the rule, in one line.
    pub offending: Option<String>,
    pub capture_drops: Vec<LinkDrop>,
}

/// Every verdict, plus the path each flow was seen taking (for the drawing).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Judgement {
    pub verdicts: Vec<Verdict>,
    pub paths: Vec<ObservedPath>,
}

/// Judge every expectation of `scenario` (see the module docs).
pub fn judge(
    scenario: &Scenario,
    topo: &Topology,
    run: &RunRecord,
    captures: &[LinkCapture],
) -> Judgement {
    let packets = index::Index::build(scenario, topo, run, captures);
    let verdicts = scenario
        .expectations()
        .flat_map(|(step, e)| judge_one(step, e, &packets))
        .collect();
    let paths = scenario
        .traffic()
        .flat_map(|t| [FlowDirection::Request, FlowDirection::Reply].map(|d| (t, d)))
        .filter_map(|(t, d)| packets.observed_path(&t.name, d, None))
        .collect();
    Judgement { verdicts, paths }
}

fn judge_one(step: usize, e: &Expectation, packets: &index::Index<'_>) -> Vec<Verdict> {
    let window = packets.window(e.window);
    let base = |name: String, expected: String| Verdict {
        step,
        line: e.line,
        name,
        expected,
        observed: String::new(),
        outcome: Outcome::Fail,
        offending: None,
        capture_drops: Vec::new(),
    };
    match &e.check {
        Check::Srh {
            flow,
            direction,
            hops,
            everywhere,
        } => {
            let mut out: Vec<Verdict> = hops
                .iter()
                .map(|h| checks::srh_hop(packets, window, flow, *direction, h, &base))
                .collect();
            if let Some(all) = everywhere {
                out.push(checks::srh_everywhere(
                    packets, window, flow, *direction, all, &base,
                ));
            }
            out
        }
        Check::Path {
            flow,
            direction,
            nodes,
        } => vec![checks::path(
            packets, window, flow, *direction, nodes, &base,
        )],
        Check::ReplyReversed { flow } => vec![checks::reply_reversed(packets, window, flow, &base)],
        Check::Quiet { flow, links } => {
            vec![checks::quiet(
                packets,
                window,
                flow.as_deref(),
                links,
                &base,
            )]
        }
        Check::ServerNoSrh { flow } => {
            vec![checks::server_no_srh(packets, window, step, flow, &base)]
        }
        Check::Intact { flow } => vec![checks::intact(packets, flow, &base)],
        Check::Counter {
            host,
            name,
            cmp,
            value,
        } => vec![checks::counter(
            packets, step, host, name, *cmp, *value, &base,
        )],
    }
}
