//! The asserter on generated captures (`runs/`): a correct run of each
//! shipped scenario tried here passes every expectation, and each broken
//! run fails exactly where it is broken, naming the offending packet in
//! one line. The captures go through real pcap files and back.
#![allow(clippy::unwrap_used)]

mod runs;

use labctl::asserter::{judge, Judgement, Outcome, Verdict};
use labctl::capture::{read_captures, write_captures, LinkCapture};
use labctl::scenario::Scenario;
use runs::*;
use topology::Topology;

/// Judge a run after writing its captures as pcap files and reading them back.
fn judge_via_pcap(s: &Scenario, topo: &Topology, run: &Run<'_>) -> Judgement {
    let dir = TempDir::new();
    write_captures(&dir.0, topo, &run.captures()).unwrap();
    let captures: Vec<LinkCapture> = read_captures(&dir.0).unwrap();
    assert_eq!(
        captures,
        run.captures(),
        "pcap round trip changed the captures"
    );
    judge(s, topo, &run.record, &captures)
}

fn failed(j: &Judgement) -> Vec<&Verdict> {
    j.verdicts
        .iter()
        .filter(|v| v.outcome != Outcome::Pass)
        .collect()
}

fn verdict<'j>(j: &'j Judgement, name: &str) -> &'j Verdict {
    j.verdicts
        .iter()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("no verdict {name:?} in {:#?}", j.verdicts))
}

fn names(vs: &[&Verdict]) -> Vec<String> {
    vs.iter().map(|v| v.name.clone()).collect()
}

#[test]
fn a_correct_high_bandwidth_run_passes_every_expectation() {
    let (s, topo) = shipped("high-bandwidth");
    let run = high_bandwidth(&topo, &s, &no_tamper);
    let j = judge_via_pcap(&s, &topo, &run);
    assert!(failed(&j).is_empty(), "{:#?}", failed(&j));
    assert_eq!(j.verdicts.len(), 22);
    let hop = verdict(&j, "web request: SRH on vpp2→vpp4");
    assert_eq!(
        hop.observed,
        "5 packets, all as expected (SRH SL 2, dst fcbb:bb00:4::2)"
    );
    let path = verdict(&j, "web reply: path");
    assert_eq!(
        path.observed,
        "host-b → site-b → vpp6 → vpp4 → vpp2 → vpp1 → site-a → host-a"
    );
    // Observed paths for the drawing: both directions of the flow.
    assert_eq!(j.paths.len(), 2);
    assert_eq!(j.paths[0].nodes, UPPER);
}

/// Rewrite segment `i` of the SRH right after the IPv6 header.
fn set_segment(frame: &mut [u8], i: usize, to: &str) {
    let at = srh::SRH_OFFSET + 8 + 16 * i;
    frame[at..at + 16].copy_from_slice(&a(to).octets());
}

#[test]
fn a_wrong_sid_fails_on_its_link() {
    let (s, topo) = shipped("high-bandwidth");
    let tamper = |from: &str, to: &str, mut f: Vec<u8>| {
        if (from, to) == ("vpp2", "vpp4") && srh::find(&f).unwrap().is_some() {
            set_segment(&mut f, 2, "fcbb:bb00:5::2");
        }
        f
    };
    let j = judge_via_pcap(&s, &topo, &high_bandwidth(&topo, &s, &tamper));
    let bad = verdict(&j, "web request: SRH on vpp2→vpp4");
    assert_eq!(bad.outcome, Outcome::Fail);
    assert!(
        bad.observed
            .contains("has segment [2] fcbb:bb00:5::2, expected fcbb:bb00:4::2"),
        "{}",
        bad.observed
    );
    let line = bad.offending.as_deref().unwrap();
    assert!(line.starts_with("vpp2→vpp4 #1 t+"), "{line}");
    assert!(
        line.contains("fcbb:bb00:5::2") && !line.contains('\n'),
        "{line}"
    );
    // The requests no longer carry one list, so the reply check cannot pass either.
    assert_eq!(
        names(&failed(&j)),
        [
            "web request: SRH on vpp2→vpp4",
            "web: replies carry the reversed list"
        ]
    );
}

#[test]
fn a_wrong_segments_left_fails_on_its_link() {
    let (s, topo) = shipped("high-bandwidth");
    // vpp1 forgot its End: SL stays 4 on vpp1→vpp2.
    let tamper = |from: &str, to: &str, mut f: Vec<u8>| {
        if (from, to) == ("vpp1", "vpp2") && srh::find(&f).unwrap().is_some() {
            f[srh::SRH_OFFSET + 3] = 4;
        }
        f
    };
    let j = judge_via_pcap(&s, &topo, &high_bandwidth(&topo, &s, &tamper));
    assert_eq!(names(&failed(&j)), ["web request: SRH on vpp1→vpp2"]);
    let bad = &failed(&j)[0];
    assert_eq!(
        bad.observed,
        "5 packets; vpp1→vpp2 #1 has segments_left 4, expected 3"
    );
    assert!(bad.offending.as_deref().unwrap().contains("| SRH SL 4 ["));
}

#[test]
fn a_missing_srh_fails_on_its_link() {
    let (s, topo) = shipped("high-bandwidth");
    let tamper = |from: &str, to: &str, f: Vec<u8>| {
        if (from, to) == ("vpp6", "site-b") {
            return srh::strip(&f).unwrap().0;
        }
        f
    };
    let j = judge_via_pcap(&s, &topo, &high_bandwidth(&topo, &s, &tamper));
    assert_eq!(names(&failed(&j)), ["web request: SRH on vpp6→site-b"]);
    let bad = &failed(&j)[0];
    assert_eq!(bad.observed, "5 packets; vpp6→site-b #1 has no SRH");
    assert!(bad.offending.as_deref().unwrap().contains("| no SRH |"));
}

#[test]
fn a_reply_without_the_reversed_list_fails() {
    let (s, topo) = shipped("high-bandwidth");
    let sids = upper_sids();
    let back = reversed(&UPPER);
    // The server sends the request's list back unreversed.
    let run = web_run(
        &topo,
        &s,
        3,
        &leg(&UPPER, Some(&sids)),
        &leg(&back, Some(&sids)),
        &no_tamper,
    );
    let j = judge_via_pcap(&s, &topo, &run);
    let bad = verdict(&j, "web: replies carry the reversed list");
    assert_eq!(bad.outcome, Outcome::Fail);
    assert!(
        bad.observed
            .contains("has segment [1] fcbb:bb00:6::2, expected fcbb:bb00:1::2"),
        "{}",
        bad.observed
    );
    let line = bad.offending.as_deref().unwrap();
    // Frame 1 on that link is the request coming in; frame 2 the first reply.
    assert!(line.starts_with("host-b→site-b #2 t+"), "{line}");
    // The requests are fine.
    assert_eq!(
        verdict(&j, "web request: SRH on vpp2→vpp4").outcome,
        Outcome::Pass
    );
}

#[test]
fn a_flow_on_the_wrong_path_fails_path_quiet_and_hops() {
    let (s, topo) = shipped("high-bandwidth");
    let (sids, back) = (upper_sids(), rev(&upper_sids()));
    let back_path = reversed(&UPPER);
    let run = web_run(
        &topo,
        &s,
        2,
        &leg(&LOWER, Some(&sids)),
        &leg(&back_path, Some(&back)),
        &no_tamper,
    );
    let j = judge_via_pcap(&s, &topo, &run);
    let path = verdict(&j, "web request: path");
    assert_eq!(path.outcome, Outcome::Fail);
    assert_eq!(
        path.observed,
        "host-a → site-a → vpp1 → vpp3 → vpp5 → vpp6 → site-b → host-b (hop 3 is vpp3, expected vpp2)"
    );
    let quiet = verdict(&j, "quiet: vpp1–vpp3, vpp3–vpp5, vpp5–vpp6");
    assert_eq!(
        (quiet.outcome, quiet.observed.as_str()),
        (Outcome::Fail, "6 packets")
    );
    assert!(quiet
        .offending
        .as_deref()
        .unwrap()
        .starts_with("vpp1→vpp3 #1"));
    let hop = verdict(&j, "web request: SRH on vpp1→vpp2");
    assert_eq!(hop.observed, "no packet of web (request) crossed vpp1→vpp2");
}

#[test]
fn a_capture_that_dropped_marks_its_verdicts() {
    let (s, topo) = shipped("high-bandwidth");
    let mut run = high_bandwidth(&topo, &s, &no_tamper);
    let link = topo.link_between("vpp1", "vpp2").unwrap().id;
    run.captures.get_mut(&link).unwrap().dropped = 3;
    let j = judge_via_pcap(&s, &topo, &run);
    let hop = verdict(&j, "web request: SRH on vpp1→vpp2");
    assert_eq!(hop.outcome, Outcome::Pass);
    assert_eq!(hop.capture_drops.len(), 1);
    assert_eq!(
        (
            hop.capture_drops[0].link.as_str(),
            hop.capture_drops[0].dropped
        ),
        ("vpp1–vpp2", 3)
    );
    assert!(verdict(&j, "web request: path").capture_drops.len() == 1);
    assert!(verdict(&j, "web request: SRH on vpp2→vpp4")
        .capture_drops
        .is_empty());
    assert!(verdict(&j, "quiet: vpp1–vpp3, vpp3–vpp5, vpp5–vpp6")
        .capture_drops
        .is_empty());
}

#[test]
fn tcp_server_no_srh_fails_when_an_srh_reaches_the_server_unstrippable() {
    let (s, topo) = shipped("high-bandwidth");
    let tamper = |from: &str, to: &str, mut f: Vec<u8>| {
        if (from, to) == ("site-b", "host-b") {
            f[srh::SRH_OFFSET + 3] = 1;
        }
        f
    };
    let j = judge_via_pcap(&s, &topo, &high_bandwidth(&topo, &s, &tamper));
    let v = verdict(&j, "web: server application saw no SRH");
    assert_eq!(v.outcome, Outcome::Fail);
    assert!(
        v.observed
            .contains("reaches host-b with an SRH its ingress does not strip"),
        "{}",
        v.observed
    );
    assert!(v
        .offending
        .as_deref()
        .unwrap()
        .starts_with("site-b→host-b #1"));
}

#[test]
fn counters_and_integrity_come_from_the_run_record() {
    let (s, topo) = shipped("high-bandwidth");
    let mut run = high_bandwidth(&topo, &s, &no_tamper);
    run.counters(2, "host-a", &[("too_big", 2)]);
    run.record.counters.get_mut(&2).unwrap().remove("host-b");
    let flow = &mut run.record.flows.get_mut("web").unwrap().flows[0];
    flow.corrupt = Some("the server received a wrong byte at offset 77".into());
    let j = judge(&s, &topo, &run.record, &run.captures());
    let too_big = j
        .verdicts
        .iter()
        .filter(|v| v.name.ends_with("counter too_big"))
        .collect::<Vec<_>>();
    assert_eq!(
        (too_big[0].outcome, too_big[0].observed.as_str()),
        (Outcome::Fail, "2")
    );
    assert_eq!(
        too_big[1].observed,
        "no counters of host-b's agent were read at this step"
    );
    let intact = verdict(&j, "web: payload intact");
    assert_eq!(intact.outcome, Outcome::Fail);
    assert!(intact
        .observed
        .ends_with("the server received a wrong byte at offset 77"));
}

/// path-change: windows cut the run at the steps; packets queued on the
/// old path while the agent switched are outside both windows.
fn path_change_run<'t>(topo: &'t Topology, s: &Scenario, late_upper: bool) -> Run<'t> {
    let mut run = Run::new(topo, s);
    let bulk = conn("fcbb:cc00:1::a", 41000, "fcbb:cc00:2::a", 80);
    let (up, low) = (upper_sids(), lower_sids());
    let (up_back, low_back) = (rev(&up), rev(&low));
    let (upper_back, lower_back) = (reversed(&UPPER), reversed(&LOWER));
    let upper = leg(&UPPER, Some(&up));
    let lower = leg(&LOWER, Some(&low));
    let upper_reply = leg(&upper_back, Some(&up_back));
    let lower_reply = leg(&lower_back, Some(&low_back));
    run.at_step(2); // before `change`
    run.exchange(&bulk, 3, &upper, &upper_reply, &no_tamper);
    run.at_step(4); // while the agent switches: judged by neither window
    run.exchange(&bulk, 2, &upper, &lower_reply, &no_tamper);
    run.at_step(6); // after `settled`
    run.exchange(&bulk, 3, &lower, &lower_reply, &no_tamper);
    if late_upper {
        run.exchange(&bulk, 1, &upper, &lower_reply, &no_tamper);
    }
    run.flow_report("bulk", &[bulk], 5_000_000);
    run.counters(7, "host-a", &[("too_big", 0)]);
    run
}

#[test]
fn path_change_windows_judge_before_and_after() {
    let (s, topo) = shipped("path-change");
    let j = judge_via_pcap(&s, &topo, &path_change_run(&topo, &s, false));
    assert!(failed(&j).is_empty(), "{:#?}", failed(&j));
    assert_eq!(j.verdicts.len(), 8);

    let j = judge_via_pcap(&s, &topo, &path_change_run(&topo, &s, true));
    let paths: Vec<&Verdict> = j
        .verdicts
        .iter()
        .filter(|v| v.name == "bulk request: path")
        .collect();
    assert_eq!(paths[0].outcome, Outcome::Pass);
    assert_eq!(paths[1].outcome, Outcome::Fail);
    assert_eq!(
        paths[1].observed,
        "host-a → site-a → vpp1 → vpp3 → vpp5 → vpp6 → site-b → host-b (also seen: vpp1→vpp2, vpp2→vpp4, vpp4→vpp6)"
    );
    assert_eq!(
        verdict(&j, "quiet: vpp1–vpp2, vpp2–vpp4, vpp4–vpp6").observed,
        "3 packets"
    );
}

#[test]
fn sfc_path_with_a_router_visited_twice_is_reconstructed() {
    let (s, topo) = shipped("sfc");
    let path = [
        "host-a", "site-a", "xr1", "xr2", "sera-1", "xr2", "xr4", "xr5", "xr6", "snort-1", "xr6",
        "site-b", "host-b",
    ];
    let sids = [
        "fcbb:bb00:1::2",
        "fcbb:bb00:2::2",
        "fcbb:dd00:1::2",
        "fcbb:bb00:2::2",
        "fcbb:bb00:4::2",
        "fcbb:bb00:5::2",
        "fcbb:bb00:6::2",
        "fcbb:dd00:3::2",
        "fcbb:bb00:6::2",
    ]
    .map(a);
    let mut run = Run::new(&topo, &s);
    let web = conn("fcbb:cc00:1::a", 40000, "fcbb:cc00:2::a", 80);
    run.at_step(1);
    let (back, back_sids) = (reversed(&path), rev(&sids));
    run.exchange(
        &web,
        3,
        &leg(&path, Some(&sids)),
        &leg(&back, Some(&back_sids)),
        &no_tamper,
    );
    run.flow_report("web", &[web], 2_000_000);
    let j = judge_via_pcap(&s, &topo, &run);
    assert!(failed(&j).is_empty(), "{:#?}", failed(&j));
    assert_eq!(verdict(&j, "web request: path").observed, path.join(" → "));
}

#[test]
fn udp_server_no_srh_reads_the_receivers_report() {
    let (s, topo) = shipped("low-latency");
    let mut run = Run::new(&topo, &s);
    let (web, voice) = (
        conn("fcbb:cc00:1::a", 40000, "fcbb:cc00:2::a", 80),
        udp_conn("fcbb:cc00:1::a", 40001, "fcbb:cc00:2::a", 5001),
    );
    let low = lower_sids();
    run.at_step(3);
    let (back, back_sids) = (reversed(&LOWER), rev(&low));
    let (request, reply) = (leg(&LOWER, Some(&low)), leg(&back, Some(&back_sids)));
    run.exchange(&web, 2, &request, &reply, &no_tamper);
    run.exchange(&voice, 2, &request, &reply, &no_tamper);
    run.flow_report("web", &[web], 5_000_000);
    run.flow_report("voice", &[voice], 1_000_000);
    let j = judge_via_pcap(&s, &topo, &run);
    assert!(failed(&j).is_empty(), "{:#?}", failed(&j));
    let v = verdict(&j, "voice: server application saw no SRH");
    assert_eq!(v.outcome, Outcome::Pass, "{v:#?}");
    assert_eq!(
        v.observed,
        "1 socket: IPV6_RECVRTHDR delivered no routing header"
    );

    run.record.flows.get_mut("voice").unwrap().flows[0].server_routing_header = Some(true);
    let j = judge(&s, &topo, &run.record, &run.captures());
    let v = verdict(&j, "voice: server application saw no SRH");
    assert_eq!(v.outcome, Outcome::Fail);
    assert!(v
        .observed
        .starts_with("the server socket received a routing header from [fcbb:cc00:1::a]:40001"));
}
