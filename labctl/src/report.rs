//! The report of a scenario run: a verdict table for the terminal, JSON,
//! JUnit XML, the exit code, and the results directory.
//!
//! Exit codes: 0 every expectation passed; 1 an expectation failed; 2 the
//! input was invalid or the run could not be made; 3 something was skipped
//! (a feature this kernel lacks) and nothing failed — never counted as
//! passed. A failed expectation wins over a run error (the run proved
//! something wrong), which wins over skips.
//!
//! # Public API
//! - [`Report::new`]`(&Scenario, &Topology, Judgement, &RunRecord, error)`
//! - [`Report::table`]`(width)`, [`Report::json`], [`Report::junit`], [`Report::exit_code`]
//! - [`write_results`]`(dir, &Report, &Topology, &RunRecord, &[LinkCapture])`:
//!   `results/<scenario>/<run>/` with every pcap, `captures.json`,
//!   `run.json`, `report.json`, `junit.xml`, `paths.dot`, `paths.mmd`
//! - [`read_report`]`(dir)`: `report.json` back (for `labctl graph --overlay`)
//! - [`EXIT_PASSED`], [`EXIT_FAILED`], [`EXIT_INVALID`], [`EXIT_SKIPPED`]
//! - [`counted`]`(n, noun)`: `1 packet`, `3 packets`

use std::path::{Path, PathBuf};

use comfy_table::{presets, ContentArrangement, Table};
use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
use serde::{Deserialize, Serialize};
use topology::graph::GraphFormat;
use topology::Topology;

use crate::asserter::{Judgement, ObservedPath, Outcome, RunRecord, Verdict};
use crate::capture::{self, CaptureError, LinkCapture};
use crate::scenario::Scenario;
use crate::traffic::{human_bytes, human_rate};

/// `1 packet`, `3 packets`: a count with its noun (plural by `s`).
pub fn counted(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

pub const EXIT_PASSED: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_INVALID: u8 = 2;
pub const EXIT_SKIPPED: u8 = 3;

/// One flow's traffic, for the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrafficLine {
    pub flow: String,
    pub proto: String,
    pub connections: usize,
    pub bytes_sent: u64,
    pub bytes_verified: u64,
    pub throughput_bps: f64,
    pub intact: bool,
}

/// Everything a run produced, as printed and stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub scenario: String,
    pub topology: String,
    /// The topology file, so the paths can be drawn again later.
    pub topology_file: PathBuf,
    pub description: Option<String>,
    pub verdicts: Vec<Verdict>,
    /// Each flow's path as the captures show it.
    pub paths: Vec<ObservedPath>,
    pub traffic: Vec<TrafficLine>,
    /// Why the run could not be completed, if it could not.
    pub error: Option<String>,
}

impl Report {
    pub fn new(
        scenario: &Scenario,
        topo: &Topology,
        judgement: Judgement,
        run: &RunRecord,
        error: Option<String>,
    ) -> Report {
        let traffic = scenario
            .traffic()
            .filter_map(|t| {
                let r = run.flows.get(&t.name)?;
                Some(TrafficLine {
                    flow: t.name.clone(),
                    proto: t.proto.as_str().to_owned(),
                    connections: r.flows.len(),
                    bytes_sent: r.flows.iter().map(|f| f.bytes_sent).sum(),
                    bytes_verified: r.flows.iter().map(|f| f.bytes_verified).sum(),
                    throughput_bps: r.throughput_bps(),
                    intact: r.intact(),
                })
            })
            .collect();
        Report {
            scenario: scenario.name.clone(),
            topology: topo.name.clone(),
            topology_file: scenario.topology_file.clone(),
            description: scenario.description.clone(),
            verdicts: judgement.verdicts,
            paths: judgement.paths,
            traffic,
            error,
        }
    }

    fn count(&self, outcome: Outcome) -> usize {
        self.verdicts
            .iter()
            .filter(|v| v.outcome == outcome)
            .count()
    }

    /// The process exit code (module docs).
    pub fn exit_code(&self) -> u8 {
        if self.count(Outcome::Fail) > 0 {
            EXIT_FAILED
        } else if self.error.is_some() {
            EXIT_INVALID
        } else if self.count(Outcome::Skipped) > 0 {
            EXIT_SKIPPED
        } else {
            EXIT_PASSED
        }
    }

    /// `scenario high-bandwidth on hawk: 20 expectations, 20 passed`.
    pub fn headline(&self) -> String {
        let (pass, fail, skip) = (
            self.count(Outcome::Pass),
            self.count(Outcome::Fail),
            self.count(Outcome::Skipped),
        );
        let mut text = format!(
            "scenario {} on {}: {}, {pass} passed",
            self.scenario,
            self.topology,
            counted(self.verdicts.len(), "expectation")
        );
        if fail > 0 {
            text.push_str(&format!(", {fail} FAILED"));
        }
        if skip > 0 {
            text.push_str(&format!(", {skip} skipped"));
        }
        if let Some(e) = &self.error {
            text.push_str(&format!("; the run could not be completed: {e}"));
        }
        text
    }

    /// The verdict table, `width` columns wide, with the headline above;
    /// below it each failure's offending packet in one line (`#3: vpp1→vpp2
    /// #17 t+0.1s ...`), then the traffic.
    pub fn table(&self, width: u16) -> String {
        let mut t = Table::new();
        t.load_preset(presets::UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_width(width)
            .force_no_tty()
            .set_header(["#", "expectation", "expected", "observed", "result"]);
        for (i, v) in self.verdicts.iter().enumerate() {
            t.add_row([
                (i + 1).to_string(),
                format!("{} (line {})", v.name, v.line),
                v.expected.clone(),
                v.observed.clone(),
                result_text(v),
            ]);
        }
        let mut out = format!("{}\n{t}\n", self.headline());
        // Offending packets below the table, one unbroken line each.
        for (i, v) in self.verdicts.iter().enumerate() {
            if let Some(p) = &v.offending {
                out.push_str(&format!("#{}: {p}\n", i + 1));
            }
        }
        for l in &self.traffic {
            out.push_str(&format!(
                "traffic {}: {} × {}, {} of {} verified, {}{}\n",
                l.flow,
                l.connections,
                l.proto,
                human_bytes(l.bytes_verified),
                human_bytes(l.bytes_sent),
                human_rate(l.throughput_bps),
                if l.intact { "" } else { ", NOT intact" }
            ));
        }
        out
    }

    /// The report as pretty JSON (`--output json`, `report.json`).
    pub fn json(&self) -> String {
        // A report holds only strings, numbers and lists: serializing cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// JUnit XML: one test suite (the scenario), one test case per verdict.
    pub fn junit(&self) -> String {
        let mut suite = TestSuite::new(self.scenario.as_str());
        for v in &self.verdicts {
            let status = match v.outcome {
                Outcome::Pass => TestCaseStatus::success(),
                Outcome::Fail => {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    s.set_message(format!("expected {}; observed {}", v.expected, v.observed));
                    if let Some(p) = &v.offending {
                        s.set_description(p.as_str());
                    }
                    s
                }
                Outcome::Skipped => {
                    let mut s = TestCaseStatus::skipped();
                    s.set_message(v.observed.as_str());
                    s
                }
            };
            let mut case = TestCase::new(v.name.as_str(), status);
            case.set_classname(format!("{}.step{}", self.scenario, v.step + 1));
            suite.add_test_case(case);
        }
        if let Some(e) = &self.error {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
            s.set_message(e.as_str());
            suite.add_test_case(TestCase::new("run", s));
        }
        let mut report = quick_junit::Report::new("labctl");
        report.add_test_suite(suite);
        report.to_string().unwrap_or_default()
    }
}

fn result_text(v: &Verdict) -> String {
    let mut text = match v.outcome {
        Outcome::Pass => "pass".to_owned(),
        Outcome::Fail => "FAIL".to_owned(),
        Outcome::Skipped => "skipped".to_owned(),
    };
    for d in &v.capture_drops {
        text.push_str(&format!("\n(capture on {} dropped {})", d.link, d.dropped));
    }
    text
}

/// Why results could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Json { path: PathBuf, message: String },
    #[error(transparent)]
    Capture(#[from] CaptureError),
}

fn write(path: PathBuf, text: &str) -> Result<(), ResultsError> {
    std::fs::write(&path, text).map_err(|source| ResultsError::Io { path, source })
}

/// Write a run's results into `dir` (created): pcaps and their index, the
/// run record, the report as JSON and JUnit, and the observed paths drawn.
pub fn write_results(
    dir: &Path,
    report: &Report,
    topo: &Topology,
    run: &RunRecord,
    captures: &[LinkCapture],
) -> Result<(), ResultsError> {
    std::fs::create_dir_all(dir).map_err(|source| ResultsError::Io {
        path: dir.to_owned(),
        source,
    })?;
    capture::write_captures(dir, topo, captures)?;
    let run_json = serde_json::to_string_pretty(run).map_err(|e| ResultsError::Json {
        path: dir.join("run.json"),
        message: e.to_string(),
    })?;
    write(dir.join("run.json"), &run_json)?;
    write(dir.join("report.json"), &report.json())?;
    write(dir.join("junit.xml"), &report.junit())?;
    for (file, format) in [
        ("paths.dot", GraphFormat::Dot),
        ("paths.mmd", GraphFormat::Mermaid),
    ] {
        write(
            dir.join(file),
            &crate::overlay::render(topo, &report.paths, format),
        )?;
    }
    Ok(())
}

/// `report.json` of a results directory.
pub fn read_report(dir: &Path) -> Result<Report, ResultsError> {
    let path = dir.join("report.json");
    let text = std::fs::read_to_string(&path).map_err(|source| ResultsError::Io {
        path: path.clone(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| ResultsError::Json {
        path,
        message: e.to_string(),
    })
}
