//! What the controller answers to one request on one version of the
//! network: validation, the path search, the SID list and hysteresis. Pure
//! functions of their arguments; the callers hold no lock while these run.

use std::sync::Arc;

use intent_proto::api;

use super::{Options, Source};
use crate::intents::{self, Plan};
use crate::pathcomp::{Budget, Criteria, Graph, Metric, Path};

/// One version of the network. Admin changes replace it (a new
/// generation), they never change it in place, so a computation can run on
/// a snapshot without holding the controller's lock.
#[derive(Debug)]
pub(crate) struct Network {
    pub generation: u64,
    pub source: Source,
}

/// What a computation gives for one request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Answer {
    /// The request passed validation (it may still have no path).
    pub valid: bool,
    /// The path the answer is about: in use when `error` is `None`; the
    /// best path, without a SID list the dataplane takes, otherwise.
    pub path: Option<Arc<Path>>,
    /// The SID list as the wire has it.
    pub sids: Vec<String>,
    pub error: Option<String>,
}

impl Answer {
    fn failed(valid: bool, error: String) -> Answer {
        Answer {
            valid,
            path: None,
            sids: Vec::new(),
            error: Some(error),
        }
    }

    /// The result on the wire: the request echoed, with this answer.
    pub fn result_for(&self, req: &api::PathRequest) -> api::PathResult {
        api::PathResult {
            ipv6_source_address: req.ipv6_source_address.clone(),
            ipv6_destination_address: req.ipv6_destination_address.clone(),
            intents: req.intents.clone(),
            ipv6_sid_addresses: self.sids.clone(),
            error: self.error.clone(),
        }
    }

    /// Whether a session whose last result is `current` would see a change.
    pub fn differs_from(&self, current: &api::PathResult) -> bool {
        current.ipv6_sid_addresses != self.sids || current.error != self.error
    }
}

/// Validate `req` and answer it on `net`; the plan is kept for hysteresis.
pub(crate) fn compute(
    net: &Network,
    options: &Options,
    req: &api::PathRequest,
    budget: Budget<'_>,
) -> (Option<Plan>, Answer) {
    let valid = match intents::validate(req) {
        Ok(v) => v,
        Err(e) => return (None, Answer::failed(false, e.to_string())),
    };
    match &net.source {
        Source::Static(table) => {
            let answer = match table.lookup(&valid) {
                Some(sids) => Answer {
                    valid: true,
                    path: None,
                    sids: sids.iter().map(ToString::to_string).collect(),
                    error: None,
                },
                None => Answer::failed(
                    true,
                    format!(
                        "no static entry for destination {} with these intents",
                        valid.dst
                    ),
                ),
            };
            (None, answer)
        }
        // Unknown hosts or functions: nodes never change at run time, so
        // this is as final as a validation error.
        Source::Computed(graph) => match intents::plan(&valid, graph) {
            Err(e) => (None, Answer::failed(false, e.to_string())),
            Ok(plan) => {
                let answer = solve(graph, options, &plan, budget);
                (Some(plan), answer)
            }
        },
    }
}

fn solve(graph: &Graph, options: &Options, plan: &Plan, budget: Budget<'_>) -> Answer {
    match graph.best_path_with(plan.src, plan.dst, &plan.query, budget) {
        Err(e) => Answer::failed(true, e.to_string()),
        Ok(path) => write(graph, options, path),
    }
}

/// The answer for a known path: its SID list, or why it has none.
fn write(graph: &Graph, options: &Options, path: Path) -> Answer {
    match graph.sid_list(&path, options.sid_mode) {
        Ok(sids) => Answer {
            valid: true,
            path: Some(Arc::new(path)),
            sids: sids.iter().map(ToString::to_string).collect(),
            error: None,
        },
        Err(e) => Answer {
            path: Some(Arc::new(path)),
            ..Answer::failed(true, e.to_string())
        },
    }
}

impl Answer {
    /// The path traffic takes now (none when the answer is an error).
    pub fn path_in_use(&self) -> Option<&Path> {
        self.path.as_deref().filter(|_| self.error.is_none())
    }
}

/// A session's new answer after a change: the best answer, or (with
/// hysteresis) its current path when that is still good enough.
pub(crate) fn refreshed(
    net: &Network,
    options: &Options,
    best: (&Option<Plan>, &Answer),
    current: Option<&Path>,
) -> Answer {
    let (plan, answer) = best;
    let kept = match (&net.source, options.hysteresis_pct, current, plan) {
        (Source::Computed(graph), Some(pct), Some(old), Some(plan)) => {
            keep_current(graph, options, pct, old, answer, plan)
        }
        _ => None,
    };
    kept.unwrap_or_else(|| answer.clone())
}

/// Hysteresis: the current path as the answer if it is still usable and
/// the new best is not better than it by more than `pct` percent on the
/// objective's first measure (ties and small gains never move traffic).
fn keep_current(
    graph: &Graph,
    options: &Options,
    pct: f64,
    old: &Path,
    best: &Answer,
    plan: &Plan,
) -> Option<Answer> {
    let new = best.path_in_use()?;
    let old_crit = graph.evaluate(old, &plan.query)?;
    let metric = plan.query.key()[0];
    let (o, larger_better) = primary(metric, &old_crit);
    let (n, _) = primary(metric, &new.criteria);
    let gain = if larger_better { n - o } else { o - n };
    let clearly_better = gain > 0.0 && (o == 0.0 || gain / o.abs() * 100.0 > pct);
    if clearly_better {
        return None;
    }
    Some(write(graph, options, old.clone()))
}

/// The first measure of the objective as a number, and whether larger is
/// better.
fn primary(metric: Metric, c: &Criteria) -> (f64, bool) {
    match metric {
        Metric::Latency => (c.latency_us as f64, false),
        Metric::Jitter => (c.jitter_us as f64, false),
        Metric::Loss => (c.loss_cost, false),
        Metric::WidestBottleneck => (c.bottleneck_kbps as f64, true),
        Metric::NarrowestLink => (
            c.widest_links_kbps
                .iter()
                .find(|&&b| b < u64::MAX)
                .copied()
                .unwrap_or(0) as f64,
            false,
        ),
        Metric::MaxUtilization => (c.max_utilization_pct, false),
        Metric::Igp => (c.igp as f64, false),
        Metric::Hops => (f64::from(c.hops), false),
    }
}
