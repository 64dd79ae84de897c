//! `labctl run` end to end, as root: every shipped scenario passes in a lab
//! of its own (unique names `t<pid>-<n>`, so the tests run in parallel),
//! brought up and taken down by the run; a wrong expectation fails with
//! the offending packet; an invalid scenario exits 2 and a scenario this
//! kernel cannot run (a SID flavour its lab uses, netem it `requires`)
//! exits 3, both with JSON and JUnit that say so; a
//! running lab is reused and handed back as it was; `--keep` leaves the
//! lab up. Results go under cargo's target tmpdir (kept for inspection).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::Value;

fn scenarios() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

fn results_root() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("scenario-results")
}

/// What one `labctl run` did.
struct Ran {
    code: Option<i32>,
    report: Value,
    junit: String,
    stderr: String,
}

/// Takes a lab down on drop if it is still up (a run that failed midway).
struct DownOnDrop(String);

impl Drop for DownOnDrop {
    fn drop(&mut self) {
        if Path::new("/run/labctl").join(&self.0).exists() {
            let _ = labctl(&["down", "-q", &self.0]);
        }
    }
}

/// `labctl run DIR --name LAB --output json --junit ... --results ...`.
fn run(dir: &Path, lab: &str, extra: &[&str]) -> Ran {
    ensure_binaries();
    let junit = tempfile::NamedTempFile::new().unwrap();
    let mut cmd = Command::new(LABCTL);
    cmd.arg("run")
        .arg(dir)
        .args(["--name", lab, "--output", "json", "--junit"])
        .arg(junit.path())
        .arg("--results")
        .arg(results_root())
        .args(extra);
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {stderr}"));
    Ran {
        code: out.status.code(),
        report,
        junit: std::fs::read_to_string(junit.path()).unwrap_or_default(),
        stderr,
    }
}

/// The verdicts of a report that did not pass, one line each.
fn not_passed(report: &Value) -> Vec<String> {
    report["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["outcome"] != "pass")
        .map(|v| format!("{}: {} / {}", v["name"], v["observed"], v["offending"]))
        .collect()
}

/// Exit 0: else the verdicts that did not pass, the run's error and stderr.
fn assert_passed(ran: &Ran) {
    assert_eq!(
        ran.code,
        Some(0),
        "{:?} error {}\n{}",
        not_passed(&ran.report),
        ran.report["error"],
        ran.stderr
    );
}

/// Exit 3 for want of `feature`: said on stderr, in the report and in JUnit;
/// lab `lab` was never made.
fn assert_skipped(ran: &Ran, lab: &str, feature: &str) {
    assert_eq!(ran.code, Some(3), "{}", ran.stderr);
    let skipped = ran.report["skipped"].as_str().unwrap();
    assert!(skipped.contains(&format!("needs {feature}")), "{skipped}");
    assert!(ran.stderr.contains(feature), "{}", ran.stderr);
    assert!(ran.junit.contains("<skipped"), "{}", ran.junit);
    assert!(!Path::new("/run/labctl").join(lab).exists());
    assert!(namespaces_of(lab).is_empty());
}

/// Run a shipped scenario in a lab of its own: every expectation passes
/// and the lab is gone afterwards.
fn passes(name: &str) {
    require_lab_binaries();
    let lab = unique_name();
    let _guard = DownOnDrop(lab.clone());
    let ran = run(&scenarios().join(name), &lab, &[]);
    assert_passed(&ran);
    let verdicts = ran.report["verdicts"].as_array().unwrap().len();
    assert!(verdicts > 0, "{name}: nothing judged");
    assert!(ran.report["error"].is_null());
    assert!(
        ran.junit.contains(&format!("tests=\"{verdicts}\""))
            && ran.junit.contains("failures=\"0\""),
        "{}",
        ran.junit
    );
    assert!(
        !Path::new("/run/labctl").join(&lab).exists(),
        "lab {lab} left up"
    );
    assert!(namespaces_of(&lab).is_empty());
}

macro_rules! shipped_scenarios_pass {
    ($($test:ident => $dir:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                passes($dir);
            }
        )*
    };
}

shipped_scenarios_pass! {
    high_bandwidth_passes => "high-bandwidth",
    low_latency_passes => "low-latency",
    standalone_passes => "standalone",
    return_path_passes => "return-path",
    path_change_passes => "path-change",
    dns_change_passes => "dns-change",
    controller_restart_passes => "controller-restart",
    no_intent_passes => "no-intent",
    mtu_passes => "mtu",
    hawkwing_config_passes => "hawkwing-config",
    sfc_passes => "sfc",
}

#[test]
fn every_shipped_scenario_has_its_test() {
    let this =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/run.rs")).unwrap();
    for e in std::fs::read_dir(scenarios()).unwrap() {
        let e = e.unwrap();
        if e.path().join("scenario.yaml").exists() {
            let name = e.file_name().into_string().unwrap();
            assert!(
                this.contains(&format!("=> \"{name}\"")),
                "no test runs {name}"
            );
        }
    }
}

/// A copy of a shipped scenario in a temporary directory, its topology
/// made absolute and `edit` applied to its text.
fn edited_scenario(name: &str, edit: impl Fn(String) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in std::fs::read_dir(scenarios().join(name)).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, dir.path().join(f.file_name().unwrap())).unwrap();
    }
    let file = dir.path().join("scenario.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let hawk = topo("hawk.yaml").canonicalize().unwrap();
    let text = text.replace("../../topologies/hawk.yaml", hawk.to_str().unwrap());
    std::fs::write(&file, edit(text)).unwrap();
    dir
}

#[test]
fn a_wrong_expectation_fails_naming_the_offending_packet() {
    require_lab_binaries();
    // vpp1 -> vpp2 really carries SL 3 (DESIGN §1); expect 2 there.
    let hop = r#"{link: [vpp1, vpp2], segments_left: 3, destination: "fcbb:bb00:2::2"}"#;
    let dir = edited_scenario("high-bandwidth", |t| {
        assert!(t.contains(hop), "high-bandwidth changed: update this test");
        t.replace(hop, &hop.replace("segments_left: 3", "segments_left: 2"))
    });
    let lab = unique_name();
    let _guard = DownOnDrop(lab.clone());
    let ran = run(dir.path(), &lab, &[]);
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    let failed = not_passed(&ran.report);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0].contains("vpp1→vpp2"), "{failed:?}");
    assert!(
        failed[0].contains("SRH SL 3"),
        "the packet as captured: {failed:?}"
    );
    assert!(ran.junit.contains("failures=\"1\""), "{}", ran.junit);
}

#[test]
fn an_invalid_scenario_exits_2_with_its_problems_and_creates_nothing() {
    let dir = edited_scenario("high-bandwidth", |t| {
        t.replace("from: host-a", "from: host-z")
    });
    let lab = unique_name();
    let ran = run(dir.path(), &lab, &[]);
    assert_eq!(ran.code, Some(2));
    assert!(
        ran.stderr
            .contains("steps[1].traffic.from: unknown node \"host-z\""),
        "{}",
        ran.stderr
    );
    assert!(ran.report["error"].as_str().unwrap().contains("host-z"));
    assert!(ran.junit.contains("<error"), "{}", ran.junit);
    assert!(!Path::new("/run/labctl").join(&lab).exists());
}

#[test]
fn a_scenario_this_kernel_cannot_run_is_skipped_with_exit_3() {
    // No Linux implements the USD flavour (docs/labctl.md, Doctor).
    let line = std::fs::read_to_string(topo("line.yaml")).unwrap();
    let plain = r#"r1: {kind: router, sid: "fcbb:bb00:1::2"}"#;
    assert!(line.contains(plain), "line.yaml changed: update this test");
    let t = TempTopology::new(&line.replace(
        plain,
        r#"r1: {kind: router, sid: "fcbb:bb00:1::2", sid_flavors: [usd]}"#,
    ));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("scenario.yaml"),
        format!(
            "topology: {}\nsteps:\n  - traffic: {{name: web, from: h1, to: h2, port: 80, bytes: 1kB}}\n",
            t.path()
        ),
    )
    .unwrap();
    let lab = unique_name();
    let ran = run(dir.path(), &lab, &[]);
    assert_skipped(&ran, &lab, "seg6local-end-usd");
}

/// Whether this kernel has netem, tried directly (iproute2 in a namespace
/// of its own), not through labctl's probe.
fn kernel_has_netem() -> bool {
    Command::new("unshare")
        .args([
            "--net", "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms",
        ])
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn a_scenario_that_requires_netem_runs_only_where_the_kernel_has_it() {
    // line without agents: the run needs nothing this workspace may lack.
    let line = std::fs::read_to_string(topo("line.yaml")).unwrap();
    let t = TempTopology::new(&without_agents(&line));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("scenario.yaml"),
        format!(
            "topology: {}\nrequires: [netem]\nsteps:\n  \
             - traffic: {{name: web, from: h1, to: h2, port: 80, bytes: 10kB, echo: true}}\n  \
             - expect: [{{intact: web}}]\n",
            t.path()
        ),
    )
    .unwrap();
    let lab = unique_name();
    let _guard = DownOnDrop(lab.clone());
    let ran = run(dir.path(), &lab, &[]);
    if kernel_has_netem() {
        assert_passed(&ran);
        return;
    }
    assert_skipped(&ran, &lab, "netem");
    assert!(ran.report["skipped"]
        .as_str()
        .unwrap()
        .contains("`requires` in"));
}

#[test]
fn a_running_lab_is_reused_and_handed_back_as_it_was() {
    let lab = Lab::up("hawk.yaml");
    let dir = Path::new("/run/labctl").join(&lab.name);
    let deployed = std::fs::read_to_string(dir.join("deploy.json")).unwrap();
    // standalone stops the controller and restarts host-a's agent standalone.
    let ran = run(&scenarios().join("standalone"), &lab.name, &[]);
    assert_passed(&ran);
    assert_eq!(
        std::fs::read_to_string(dir.join("deploy.json")).unwrap(),
        deployed
    );
    let (v, names) = healthy_processes(&lab.name);
    assert_eq!(names, ["agent-host-a", "agent-host-b", "controller", "dns"]);
    // host-a's agent runs as up started it again: in controller mode.
    let names = journal_names(&lab.name);
    assert!(
        names.iter().filter(|n| *n == "agent-host-a").count() >= 3,
        "{names:?}"
    );
    let host_a = v["processes"][0]["pid"].as_i64().unwrap();
    let cmdline = std::fs::read_to_string(format!("/proc/{host_a}/cmdline")).unwrap();
    assert!(cmdline.contains("--controller"), "{cmdline}");
}

#[test]
fn keep_leaves_the_lab_the_run_brought_up() {
    require_lab_binaries();
    let lab = unique_name();
    let _guard = DownOnDrop(lab.clone());
    let ran = run(&scenarios().join("no-intent"), &lab, &["--keep"]);
    assert_passed(&ran);
    let status = labctl(&["status", &lab]);
    assert_eq!(
        status.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&status.stdout)
    );
}
