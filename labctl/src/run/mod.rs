//! `labctl run SCENARIO`: run a scenario in a lab and judge it.
//!
//! 1. Load the scenario (invalid: every problem on stderr, exit 2).
//! 2. Probe what the lab, the agents and the scenario's steps need, and
//!    what the scenario `requires` ([`crate::doctor::require`]); a feature
//!    this machine lacks skips the run (exit 3, JUnit skipped).
//! 3. Reuse the running lab of the scenario's topology or bring one up
//!    ([`session`]); set up the controller and agents the scenario asks for.
//! 4. Open a capture ring on every link ([`captures`]), run the steps in
//!    order ([`steps`]: traffic from the nodes' namespaces, events, waits,
//!    counters at `expect`), join every flow, stop the captures.
//! 5. Put the lab back (or take it down), judge the captures
//!    ([`crate::asserter::judge`]), write `results/<scenario>/<run>/`,
//!    print the verdict table (or `--output json`), write `--junit`.
//!
//! Exit codes: [`crate::report`] (0 passed, 1 failed, 2 invalid or not
//! made, 3 skipped). Progress goes to stderr, one line per step.
//!
//! # Layout
//! `session` (the lab and what the run changes in it), `captures`,
//! `flows` (servers and clients), `steps` (the step runner), `push` (the
//! controller's admin API in steps).

mod captures;
mod flows;
mod push;
mod session;
mod steps;

use std::path::{Path, PathBuf};

use topology::Topology;

use crate::asserter::{judge, Judgement, RunRecord};
use crate::capture::LinkCapture;
use crate::doctor::Needs;
use crate::error::Error;
use crate::report::{Report, EXIT_INVALID, EXIT_SKIPPED};
use crate::scenario::{self, Action, Scenario};

pub use session::LabChoice;
pub use steps::wall_clock;

/// Options of `labctl run`.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// A scenario directory or file.
    pub scenario: PathBuf,
    pub lab: LabChoice,
    /// Leave a lab this run brought up running.
    pub keep: bool,
    /// Print the report as JSON instead of the table.
    pub json: bool,
    pub junit: Option<PathBuf>,
    /// Where `<scenario>/<run>/` goes (default `results`).
    pub results: PathBuf,
    /// Width of the table.
    pub width: u16,
}

/// What a run printed and wrote.
#[derive(Debug)]
pub struct RunOutcome {
    pub exit: u8,
    pub report: Option<Report>,
    /// `results/<scenario>/<run>/`, when written.
    pub results: Option<PathBuf>,
}

/// Run a scenario (module docs); prints the report on stdout.
pub fn run(opts: &RunOptions) -> RunOutcome {
    let (scenario, topo) = match scenario::load(&opts.scenario) {
        Ok(x) => x,
        Err(e) => return not_made(opts, EXIT_INVALID, &e.to_string()),
    };
    let mut lab_topo = topo.clone();
    crate::state::with_router_backend(&mut lab_topo, opts.lab.router_backend);
    let mut needs = Needs::for_up(&lab_topo);
    needs.extend(Needs::for_agents(&lab_topo));
    needs.extend(Needs::for_scenario(&scenario));
    if let Err(missing) = crate::doctor::require(&needs) {
        return not_made(opts, EXIT_SKIPPED, &format!("skipped: {missing}"));
    }
    let (record, captures, error) = execute(opts, &scenario, &topo);
    finish(opts, &scenario, &topo, record, &captures, error)
}

/// Steps 3 and 4 of the module docs: what was recorded and captured, and
/// why the run could not be completed (if it could not).
fn execute(
    opts: &RunOptions,
    s: &Scenario,
    topo: &Topology,
) -> (RunRecord, Vec<LinkCapture>, Option<String>) {
    let mut session = match session::Session::open(s, topo, &opts.lab) {
        Ok(x) => x,
        Err(e) => return (RunRecord::default(), Vec::new(), Some(format!("{e:#}"))),
    };
    // Ctrl-C from here on: stop at the next step, put the lab back.
    let deferred = labns::signals::Deferred::block();
    if let Err(e) = session.setup(s, topo) {
        let closed = session.close(opts.keep).err();
        return (RunRecord::default(), Vec::new(), Some(joined(e, closed)));
    }
    let lab = session.lab.clone();
    let caps = match captures::Captures::start(&lab, topo) {
        Ok(c) => c,
        Err(e) => {
            let closed = session.close(opts.keep).err();
            return (RunRecord::default(), Vec::new(), Some(joined(e, closed)));
        }
    };
    let mut runner = match steps::Runner::new(s, topo, session, opts.lab.quiet) {
        Ok(r) => r,
        Err(e) => {
            return (
                RunRecord::default(),
                caps.finish().unwrap_or_default(),
                Some(e.to_string()),
            )
        }
    };
    let mut error = runner.steps().err().map(|e| e.to_string());
    let steps::Runner {
        session,
        flows,
        mut record,
        ..
    } = runner;
    match flows.finish() {
        Ok(reports) => record.flows = reports,
        Err(e) => error = error.or(Some(format!("joining the flows: {e}"))),
    }
    let captures = caps.finish().unwrap_or_else(|e| {
        error.get_or_insert(format!("captures: {e}"));
        Vec::new()
    });
    if let Err(e) = session.close(opts.keep) {
        error.get_or_insert(format!("putting lab {lab} back: {e}"));
    }
    drop(deferred);
    (record, captures, error)
}

fn joined(e: Error, closed: Option<Error>) -> String {
    match closed {
        Some(c) => format!("{e}; and putting the lab back: {c}"),
        None => e.to_string(),
    }
}

/// The scenario with only the steps that ran (a failed step ends the run:
/// expectations after it are not judged).
fn ran(s: &Scenario, record: &RunRecord) -> Scenario {
    let mut s = s.clone();
    let n = record.steps.len();
    s.steps.truncate(n);
    // The step that failed ran but did not finish: its expectations would
    // judge a partial run.
    if let Some(last) = s.steps.last() {
        if matches!(last.action, Action::Expect(_)) && n < s.steps.len() {
            s.steps.pop();
        }
    }
    s
}

/// Step 5 of the module docs.
fn finish(
    opts: &RunOptions,
    s: &Scenario,
    topo: &Topology,
    record: RunRecord,
    captures: &[LinkCapture],
    error: Option<String>,
) -> RunOutcome {
    let judged: Judgement = judge(&ran(s, &record), topo, &record, captures);
    let report = Report::new(s, topo, judged, &record, error);
    let dir = results_dir(&opts.results, &s.name);
    let mut results = None;
    match crate::report::write_results(&dir, &report, topo, &record, captures) {
        Ok(()) => results = Some(dir),
        Err(e) => eprintln!("labctl: error: writing the results: {e}"),
    }
    print(opts, &report);
    if let Some(dir) = &results {
        if !opts.lab.quiet {
            eprintln!("labctl: results in {}", dir.display());
        }
    }
    RunOutcome {
        exit: report.exit_code(),
        report: Some(report),
        results,
    }
}

/// The table or JSON on stdout, JUnit to its file.
fn print(opts: &RunOptions, report: &Report) {
    if opts.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.table(opts.width));
    }
    write_junit(opts, &report.junit());
}

fn write_junit(opts: &RunOptions, xml: &str) {
    if let Some(path) = &opts.junit {
        if let Err(e) = std::fs::write(path, xml) {
            eprintln!("labctl: error: writing {}: {e}", path.display());
        }
    }
}

/// A run that was not made (invalid input, exit 2) or skipped (exit 3):
/// the reason on stderr, a JSON document and a JUnit file that say so.
fn not_made(opts: &RunOptions, exit: u8, why: &str) -> RunOutcome {
    eprintln!("{why}");
    let name = scenario::scenario_name(&opts.scenario);
    let report = Report::not_made(&name, exit, why);
    if opts.json {
        println!("{}", report.json());
    }
    write_junit(opts, &report.junit());
    RunOutcome {
        exit,
        report: Some(report),
        results: None,
    }
}

/// `RESULTS/<scenario>/<UTC time>-<pid>/`.
pub fn results_dir(root: &Path, scenario: &str) -> PathBuf {
    let now = wall_clock();
    root.join(scenario).join(format!(
        "{}-{}",
        utc_stamp(now.as_secs()),
        std::process::id()
    ))
}

/// `20261201T143005Z` for a UNIX time (civil from days, Howard Hinnant's algorithm).
pub fn utc_stamp(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_stamps() {
        assert_eq!(utc_stamp(0), "19700101T000000Z");
        // date -u -d @1798727405 +%Y%m%dT%H%M%SZ
        assert_eq!(utc_stamp(1_798_727_405), "20261231T143005Z");
        assert_eq!(utc_stamp(951_782_400), "20000229T000000Z");
    }
}
