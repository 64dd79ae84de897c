//! The report of generated runs (`runs/`): the verdict table, JSON and
//! JUnit under insta; exit codes; the results directory (pcaps readable
//! again, the run judged again offline, the paths drawn) and the CLI verbs
//! that read files: `labctl graph --overlay`, `labctl validate` on scenarios.
#![allow(clippy::unwrap_used)]

mod runs;

use std::path::Path;
use std::process::Command;

use labctl::asserter::{judge, Outcome, Verdict};
use labctl::capture::read_captures;
use labctl::report::{
    read_report, write_results, Report, EXIT_FAILED, EXIT_INVALID, EXIT_PASSED, EXIT_SKIPPED,
};
use runs::*;

/// The high-bandwidth report, correct or with vpp1's End missing.
fn report(
    broken: bool,
) -> (
    Report,
    labctl::asserter::RunRecord,
    Vec<labctl::capture::LinkCapture>,
) {
    let (s, topo) = shipped("high-bandwidth");
    let tamper = move |from: &str, to: &str, mut f: Vec<u8>| {
        if broken && (from, to) == ("vpp1", "vpp2") {
            f[srh::SRH_OFFSET + 3] = 4;
        }
        f
    };
    let run = high_bandwidth(&topo, &s, &tamper);
    let captures = run.captures();
    let judgement = judge(&s, &topo, &run.record, &captures);
    (
        Report::new(&s, &topo, judgement, &run.record, None),
        run.record,
        captures,
    )
}

#[test]
fn passing_table() {
    let (r, _, _) = report(false);
    assert_eq!(r.exit_code(), EXIT_PASSED);
    insta::assert_snapshot!(r.table(150));
}

#[test]
fn failing_table_json_and_junit() {
    let (r, _, _) = report(true);
    assert_eq!(r.exit_code(), EXIT_FAILED);
    let table = r.table(150);
    assert!(
        table.contains(
            "\n#3: vpp1→vpp2 #1 t+0.101030s [fcbb:cc00:1::a]:40000 -> [fcbb:bb00:2::2]:80 TCP"
        ),
        "{table}"
    );
    insta::assert_snapshot!("failing_table", table);
    let failing: Vec<&Verdict> = r
        .verdicts
        .iter()
        .filter(|v| v.outcome == Outcome::Fail)
        .collect();
    insta::assert_json_snapshot!("failing_verdicts", failing);
    insta::assert_snapshot!("failing_junit", r.junit());
    let json: serde_json::Value = serde_json::from_str(&r.json()).unwrap();
    assert_eq!(json["scenario"], "high-bandwidth");
    assert_eq!(json["verdicts"].as_array().unwrap().len(), 22);
}

#[test]
fn exit_codes() {
    let (mut r, _, _) = report(false);
    r.error = Some("wait for host-a's path: deadline of 15s passed".into());
    assert_eq!(r.exit_code(), EXIT_INVALID);
    r.error = None;
    r.verdicts[0].outcome = Outcome::Skipped;
    assert_eq!(r.exit_code(), EXIT_SKIPPED);
    r.verdicts[1].outcome = Outcome::Fail;
    r.error = Some("anything".into());
    // A failed expectation wins over a run error and over skips.
    assert_eq!(r.exit_code(), EXIT_FAILED);
    assert!(r.junit().contains("<skipped"));
}

#[test]
fn results_directory_round_trip_and_overlay() {
    let (s, topo) = shipped("high-bandwidth");
    let (r, record, captures) = report(false);
    let dir = TempDir::new();
    write_results(&dir.0, &r, &topo, &record, &captures).unwrap();
    let mut files: Vec<String> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files.iter().filter(|f| f.ends_with(".pcap")).count(),
        topo.links.len()
    );
    for f in [
        "captures.json",
        "junit.xml",
        "paths.dot",
        "paths.mmd",
        "report.json",
        "run.json",
        "site-a_vpp1.pcap",
    ] {
        assert!(files.iter().any(|x| x == f), "{f} missing: {files:?}");
    }
    // Classic pcap, nanosecond timestamps, little-endian magic.
    let pcap = std::fs::read(dir.0.join("vpp1_vpp2.pcap")).unwrap();
    assert_eq!(pcap[..4], [0x4d, 0x3c, 0xb2, 0xa1]);
    assert_eq!(read_report(&dir.0).unwrap(), r);
    // Judged again offline from the files alone: the same verdicts.
    let run: labctl::asserter::RunRecord =
        serde_json::from_str(&std::fs::read_to_string(dir.0.join("run.json")).unwrap()).unwrap();
    let again = judge(&s, &topo, &run, &read_captures(&dir.0).unwrap());
    assert_eq!(again.verdicts, r.verdicts);

    let overlay_arg = format!("--overlay={}", dir.0.display());
    let out = labctl(
        &["graph", "--format", "dot", &overlay_arg],
        &repo("topologies/hawk.yaml"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dot = String::from_utf8(out.stdout).unwrap();
    let overlay: Vec<&str> = dot.lines().filter(|l| l.contains("dir=forward")).collect();
    insta::assert_snapshot!("overlay_dot", overlay.join("\n"));
    let mermaid = std::fs::read_to_string(dir.0.join("paths.mmd")).unwrap();
    assert!(
        mermaid.contains("  n_vpp1 ==>|\"web request 3\"| n_vpp2"),
        "{mermaid}"
    );
    assert!(
        mermaid.contains("  linkStyle 14,15,16,17,18,19,20 stroke:#e11d48,stroke-width:3px"),
        "{mermaid}"
    );
}

fn labctl(args: &[&str], file: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_labctl"))
        .args(args)
        .arg(file)
        .output()
        .unwrap()
}

#[test]
fn validate_accepts_scenario_files_and_directories() {
    for path in [
        repo("scenarios/sfc"),
        repo("scenarios/high-bandwidth/scenario.yaml"),
    ] {
        let out = labctl(&["validate"], &path);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(stdout.contains(": ok: scenario "), "{stdout}");
    }
    let bad = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/scenarios/invalid/many-problems.yaml");
    let out = labctl(&["validate"], &bad);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let expected = labctl::scenario::load(&bad).unwrap_err();
    assert_eq!(stderr.lines().count(), expected.problems().len());
    for p in expected.problems() {
        let place = format!(
            "{}:{}:{}: {}: {}",
            bad.display(),
            p.line,
            p.column,
            p.field,
            p.message
        );
        assert!(stderr.contains(&place), "{place} missing from:\n{stderr}");
    }
    // A topology file is still validated as one.
    let out = labctl(&["validate"], &repo("topologies/hawk.yaml"));
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .contains("ok: lab hawk"));
}
