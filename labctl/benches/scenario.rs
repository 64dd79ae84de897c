//! `cargo bench -p labctl --bench scenario` (root; `make bench`): what a
//! scenario run costs, in two parts.
//!
//! 1. **End to end**: `labctl up topologies/hawk.yaml`, `labctl run
//!    scenarios/high-bandwidth` on it, `labctl down`, each a whole process,
//!    timed by wall clock, ROUNDS times; next to them the time of the
//!    traffic step itself (from the run's `run.json`: its start and end), so
//!    the reader sees what the run adds around the 10 MB it moves. Every run
//!    must pass (exit 0), or the benchmark stops.
//! 2. **Capture analysis**: the asserter (`asserter::judge`) on a large
//!    generated high-bandwidth run (`tests/runs`, the generator the
//!    asserter's tests use: an exchange is a request and a reply carried hop
//!    by hop with End performed where the SID is owned), every verdict
//!    passing; packets per second = captured packets / median judge time,
//!    against a baseline interleaved in the same rounds: decoding every
//!    frame once with `srh::decode_captured` (what the asserter builds on),
//!    judging nothing; the ratio of medians is judge / decode.
//!
//! Prints medians. Without `--bench` (`cargo test --all-targets`) it runs
//! part 2 once on a small run, as a smoke test of this code.
#![allow(clippy::unwrap_used)]

#[path = "../tests/runs/mod.rs"]
mod runs;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use labctl::asserter::{judge, Outcome, RunRecord};

const LABCTL: &str = env!("CARGO_BIN_EXE_labctl");
const ROUNDS: usize = 3;

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Run labctl with `args`, which must succeed; its wall time.
fn timed(args: &[&str]) -> Duration {
    let t = Instant::now();
    let out = Command::new(LABCTL).args(args).output().unwrap();
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "labctl {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

/// The traffic step's duration in the one run under `results`.
fn traffic_time(results: &Path) -> Duration {
    let scenario = results.join("high-bandwidth");
    let run = std::fs::read_dir(&scenario)
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let text = std::fs::read_to_string(run.path().join("run.json")).unwrap();
    let record: RunRecord = serde_json::from_str(&text).unwrap();
    // high-bandwidth: step 0 waits for the path, step 1 is the traffic.
    let step = &record.steps[1];
    step.end - step.start
}

fn end_to_end(root: &Path, tmp: &Path) {
    let lab = format!("bench{}", std::process::id());
    let hawk = root.join("topologies/hawk.yaml");
    let scenario = root.join("scenarios/high-bandwidth");
    let (mut up, mut run, mut down, mut traffic) = (vec![], vec![], vec![], vec![]);
    for round in 0..ROUNDS {
        let results = tmp.join(format!("results-{round}"));
        let results_arg = results.to_str().unwrap();
        up.push(timed(&["up", "-q", hawk.to_str().unwrap(), "--name", &lab]));
        run.push(timed(&[
            "run",
            "-q",
            scenario.to_str().unwrap(),
            "--name",
            &lab,
            "--output",
            "json",
            "--results",
            results_arg,
        ]));
        down.push(timed(&["down", "-q", &lab]));
        traffic.push(traffic_time(&results));
        eprintln!(
            "round {round}: up {:.2} s, run {:.2} s (traffic {:.2} s), down {:.2} s",
            secs(up[round]),
            secs(run[round]),
            secs(traffic[round]),
            secs(down[round])
        );
    }
    let (up, run, down, traffic) = (median(up), median(run), median(down), median(traffic));
    println!("end to end, hawk + high-bandwidth, median of {ROUNDS} rounds:");
    println!(
        "  up {:.2} s | run {:.2} s (of which the traffic step {:.2} s) | down {:.2} s | total {:.2} s",
        secs(up),
        secs(run),
        secs(traffic),
        secs(down),
        secs(up + run + down)
    );
}

fn capture_analysis(exchanges: usize, rounds: usize) {
    let (s, topo) = runs::shipped("high-bandwidth");
    let (sids, back) = (runs::upper_sids(), runs::rev(&runs::upper_sids()));
    let back_path = runs::reversed(&runs::UPPER);
    let mut run = runs::web_run(
        &topo,
        &s,
        exchanges,
        &runs::leg(&runs::UPPER, Some(&sids)),
        &runs::leg(&back_path, Some(&back)),
        &runs::no_tamper,
    );
    run.counters(2, "host-a", &[("too_big", 0)]);
    run.counters(2, "host-b", &[("too_big", 0)]);
    let captures = run.captures();
    // The traffic step lasts as long as its packets (the generator's
    // slots are 100 ms); the expect step follows it.
    let last = captures
        .iter()
        .flat_map(|c| c.packets.iter().map(|p| p.ts))
        .max()
        .unwrap();
    let mut record = run.record.clone();
    record.steps[1].end = last + Duration::from_millis(1);
    record.steps[2].start = record.steps[1].end;
    record.steps[2].end = record.steps[2].start + Duration::from_millis(1);
    let packets: usize = captures.iter().map(|c| c.packets.len()).sum();
    let (mut times, mut base) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        // Baseline, interleaved: decoding every frame once (srh's decoder,
        // which the asserter uses), nothing judged.
        let t = Instant::now();
        let decoded = captures
            .iter()
            .flat_map(|c| &c.packets)
            .filter(|p| srh::decode_captured(&p.frame, p.orig_len as usize).is_ok())
            .count();
        base.push(t.elapsed());
        assert_eq!(decoded, packets);
        let t = Instant::now();
        let j = judge(&s, &topo, &record, &captures);
        times.push(t.elapsed());
        let failed: Vec<_> = j
            .verdicts
            .iter()
            .filter(|v| v.outcome != Outcome::Pass)
            .collect();
        assert!(failed.is_empty(), "{failed:#?}");
        assert_eq!(j.verdicts.len(), 22);
    }
    let (m, b) = (median(times), median(base));
    println!(
        "capture analysis: {packets} packets on {} links, 22 verdicts, median of {rounds}: \
         judge {:.1} ms = {:.0} packets/s; decode only {:.1} ms = {:.0} packets/s; ratio {:.2}",
        captures.len(),
        m.as_secs_f64() * 1e3,
        packets as f64 / m.as_secs_f64(),
        b.as_secs_f64() * 1e3,
        packets as f64 / b.as_secs_f64(),
        m.as_secs_f64() / b.as_secs_f64()
    );
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    if !bench {
        capture_analysis(10, 1);
        return;
    }
    let tmp = std::env::temp_dir().join(format!("labctl-bench-scenario-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    capture_analysis(20_000, 5);
    end_to_end(&root, &tmp);
    let _ = std::fs::remove_dir_all(&tmp);
}
