//! One function per check kind; each returns its verdict (see the module
//! docs of `asserter` for the rules).

use std::net::{IpAddr, Ipv6Addr};

use super::index::{Index, Packet, TimeWindow};
use super::{Outcome, Verdict};
use crate::report::counted;
use crate::scenario::{Cmp, FlowDirection, HopCheck, HopCheckAll, Proto};
use crate::traffic::{human_bytes, human_rate};

fn segments_text(list: &[Ipv6Addr]) -> String {
    let items: Vec<String> = list.iter().map(Ipv6Addr::to_string).collect();
    format!("[{}]", items.join(", "))
}

/// What a hop check expects, in words.
fn expected_text(
    present: bool,
    segments: &Option<Vec<Ipv6Addr>>,
    sl: Option<u8>,
    dst: Option<Ipv6Addr>,
) -> String {
    let mut parts = vec![if present {
        "SRH".to_owned()
    } else {
        "no SRH".to_owned()
    }];
    if let Some(s) = segments {
        parts.push(segments_text(s));
    }
    if let Some(sl) = sl {
        parts.push(format!("SL {sl}"));
    }
    if let Some(d) = dst {
        parts.push(format!("dst {d}"));
    }
    parts.join(" ")
}

/// How the packet breaks the hop rule, if it does.
fn hop_problem(
    p: &Packet<'_>,
    present: bool,
    segments: &Option<Vec<Ipv6Addr>>,
    sl: Option<u8>,
    dst: Option<Ipv6Addr>,
) -> Option<String> {
    let d = &p.decoded;
    match (present, d.srh()) {
        (true, None) => return Some("has no SRH".into()),
        (false, Some(s)) => return Some(format!("carries an SRH (SL {})", s.segments_left)),
        (true, Some(srh)) => {
            if let Some(want) = segments.as_ref().filter(|w| **w != srh.segments) {
                return Some(segments_differ(want, &srh.segments));
            }
            if let Some(want) = sl.filter(|w| *w != srh.segments_left) {
                return Some(format!(
                    "has segments_left {}, expected {want}",
                    srh.segments_left
                ));
            }
        }
        (false, None) => {}
    }
    dst.filter(|w| *w != d.dst)
        .map(|w| format!("goes to {}, expected {w}", d.dst))
}

fn segments_differ(want: &[Ipv6Addr], got: &[Ipv6Addr]) -> String {
    match want.iter().zip(got).position(|(a, b)| a != b) {
        Some(i) => format!("has segment [{i}] {}, expected {}", got[i], want[i]),
        None => format!(
            "has {} segments {}, expected {} {}",
            got.len(),
            segments_text(got),
            want.len(),
            segments_text(want)
        ),
    }
}

/// The first packet that breaks `rule`, as a failing verdict; a pass otherwise.
fn all_packets<'p, 'a: 'p>(
    ix: &Index<'_>,
    mut v: Verdict,
    packets: &[&'p Packet<'a>],
    empty: String,
    rule: impl Fn(&Packet<'_>) -> Option<String>,
) -> Verdict {
    let Some(first) = packets.first() else {
        v.observed = empty;
        return v;
    };
    let n = packets.len();
    v.capture_drops = ix.drops_on(packets.iter().map(|p| p.link));
    if let Some((p, why)) = packets.iter().find_map(|p| rule(p).map(|why| (p, why))) {
        v.observed = format!(
            "{}; {}→{} #{} {why}",
            counted(n, "packet"),
            p.from,
            p.to,
            p.frame_no
        );
        v.offending = Some(ix.describe(p));
        return v;
    }
    let d = &first.decoded;
    v.observed = match d.srh() {
        Some(s) => format!(
            "{}, all as expected (SRH SL {}, dst {})",
            counted(n, "packet"),
            s.segments_left,
            d.dst
        ),
        None => format!(
            "{}, all as expected (no SRH, dst {})",
            counted(n, "packet"),
            d.dst
        ),
    };
    v.outcome = Outcome::Pass;
    v
}

pub(super) fn srh_hop(
    ix: &Index<'_>,
    w: TimeWindow,
    flow: &str,
    dir: FlowDirection,
    h: &HopCheck,
    base: &impl Fn(String, String) -> Verdict,
) -> Verdict {
    let mut v = base(
        format!("{flow} {}: SRH on {}", dir.as_str(), h.hop),
        expected_text(h.present, &h.segments, h.segments_left, h.destination),
    );
    v.line = h.line;
    let packets: Vec<&Packet<'_>> = ix
        .flow(flow, dir, w)
        .filter(|p| p.link == h.hop.link && p.from == h.hop.from)
        .collect();
    let empty = format!("no packet of {flow} ({}) crossed {}", dir.as_str(), h.hop);
    let mut v = all_packets(ix, v, &packets, empty, |p| {
        hop_problem(p, h.present, &h.segments, h.segments_left, h.destination)
    });
    if packets.is_empty() {
        v.capture_drops = ix.drops_on([h.hop.link]);
    }
    v
}

pub(super) fn srh_everywhere(
    ix: &Index<'_>,
    w: TimeWindow,
    flow: &str,
    dir: FlowDirection,
    all: &HopCheckAll,
    base: &impl Fn(String, String) -> Verdict,
) -> Verdict {
    let name = if all.present {
        format!("{flow} {}: SRH on every link", dir.as_str())
    } else {
        format!("{flow} {}: no SRH on any link", dir.as_str())
    };
    let v = base(name, expected_text(all.present, &all.segments, None, None));
    let packets: Vec<&Packet<'_>> = ix.flow(flow, dir, w).collect();
    let empty = format!("no packet of {flow} ({}) was captured", dir.as_str());
    all_packets(ix, v, &packets, empty, |p| {
        hop_problem(p, all.present, &all.segments, None, None)
    })
}

pub(super) fn path(
    ix: &Index<'_>,
    w: TimeWindow,
    flow: &str,
    dir: FlowDirection,
    nodes: &[String],
    base: &impl Fn(String, String) -> Verdict,
) -> Verdict {
    let mut v = base(format!("{flow} {}: path", dir.as_str()), nodes.join(" → "));
    let links: Vec<usize> = ix.flow(flow, dir, w).map(|p| p.link).collect();
    v.capture_drops = ix.drops_on(links);
    let Some(seen) = ix.observed_path(flow, dir, Some(w)) else {
        v.observed = format!("no packet of {flow} ({}) was captured", dir.as_str());
        return v;
    };
    v.observed = seen.describe();
    if seen.nodes == nodes && seen.stray.is_empty() {
        v.outcome = Outcome::Pass;
    } else if let Some(i) = seen.nodes.iter().zip(nodes).position(|(a, b)| a != b) {
        v.observed = format!(
            "{} (hop {i} is {}, expected {})",
            v.observed, seen.nodes[i], nodes[i]
        );
    }
    v
}

pub(super) fn reply_reversed(
    ix: &Index<'_>,
    w: TimeWindow,
    flow: &str,
    base: &impl Fn(String, String) -> Verdict,
) -> Verdict {
    let mut v = base(
        format!("{flow}: replies carry the reversed list"),
        "every reply: the request's segments reversed, [0] = client".to_owned(),
    );
    let requests: Vec<&Packet<'_>> = ix
        .flow(flow, FlowDirection::Request, w)
        .filter(|p| p.decoded.srh().is_some())
        .collect();
    let Some(first) = requests.first() else {
        v.observed = "no request packet carried an SRH".into();
        return v;
    };
    let Some(request) = first.decoded.srh() else {
        return v;
    };
    if let Some(other) = requests
        .iter()
        .find(|p| p.decoded.srh().map(|s| &s.segments) != Some(&request.segments))
    {
        v.observed = format!(
            "the requests carried different segment lists; {}",
            segments_differ(
                &request.segments,
                other.decoded.srh().map_or(&[][..], |s| &s.segments)
            )
        );
        v.offending = Some(ix.describe(other));
        return v;
    }
    let want = request.reversed(first.decoded.src).segments;
    v.expected = format!("every reply: SRH {}", segments_text(&want));
    let replies: Vec<&Packet<'_>> = ix.flow(flow, FlowDirection::Reply, w).collect();
    let empty = format!("no reply of {flow} was captured");
    let rule = |p: &Packet<'_>| hop_problem(p, true, &Some(want.clone()), None, None);
    all_packets(ix, v, &replies, empty, rule)
}

pub(super) fn quiet(
    ix: &Index<'_>,
    w: TimeWindow,
    flow: Option<&str>,
    links: &[(usize, [String; 2])],
    base: &impl Fn(String, String) -> Verdict,
) -> Verdict {
    let names: Vec<String> = links.iter().map(|(_, [a, b])| format!("{a}–{b}")).collect();
    let whose = flow.map_or("any flow".to_owned(), |f| f.to_owned());
    let mut v = base(
        format!("quiet: {}", names.join(", ")),
        format!("no packet of {whose}"),
    );
    v.capture_drops = ix.drops_on(links.iter().map(|(l, _)| *l));
    let on_links = |p: &&Packet<'_>| links.iter().any(|(l, _)| *l == p.link);
    let seen: Vec<&Packet<'_>> = ix.any(flow, w).into_iter().filter(on_links).collect();
    match seen.first() {
        None => {
            v.observed = "none".into();
            v.outcome = Outcome::Pass;
        }
        Some(p) => {
            v.observed = counted(seen.len(), "packet");
            v.offending = Some(ix.describe(p));
        }
    }
    v
}

pub(super) fn server_no_srh(
    ix: &Index<'_>,
    w: TimeWindow,
    step: usize,
    flow: &str,
    base: &impl Fn(String, String) -> Verdict,
) -> Verdict {
    let mut v = base(
        format!("{flow}: server application saw no SRH"),
        "no routing header reached the server's socket".to_owned(),
    );
    let (Some(report), Some(traffic)) = (ix.run.flows.get(flow), ix.scenario.flow(flow)) else {
        v.observed = format!("flow {flow} did not run");
        return v;
    };
    if traffic.proto == Proto::Udp {
        let seen: Vec<_> = report
            .flows
            .iter()
            .map(|f| (f.local, f.server_routing_header))
            .collect();
        match seen.iter().find(|(_, rh)| *rh != Some(false)) {
            None => {
                v.observed = format!(
                    "{}: IPV6_RECVRTHDR delivered no routing header",
                    counted(seen.len(), "socket")
                );
                v.outcome = Outcome::Pass;
            }
            Some((local, Some(_))) => {
                v.observed = format!("the server socket received a routing header from {local}")
            }
            Some((local, None)) => v.observed = format!("no server summary for {local}"),
        }
        return v;
    }
    tcp_server_no_srh(ix, w, step, flow, report, v)
}

/// TCP: the SRHs that reached the server's host are ones its ingress strips.
fn tcp_server_no_srh(
    ix: &Index<'_>,
    w: TimeWindow,
    step: usize,
    flow: &str,
    report: &crate::traffic::ClientReport,
    mut v: Verdict,
) -> Verdict {
    let Some(IpAddr::V6(server)) = report.flows.first().map(|f| f.server.ip()) else {
        v.observed = format!("flow {flow} had no connection");
        return v;
    };
    let Some(node) = ix.topo.node_for_address(server).map(|n| n.name.as_str()) else {
        v.observed = format!("no host owns {server}");
        return v;
    };
    v.expected = format!("every SRH reaching {node}: SL 0, dst {server} (stripped on ingress)");
    let arriving: Vec<&Packet<'_>> = ix
        .flow(flow, FlowDirection::Request, w)
        .filter(|p| p.to == node && p.decoded.srh().is_some())
        .collect();
    v.capture_drops = ix.drops_on(arriving.iter().map(|p| p.link));
    let strippable = |p: &Packet<'_>| {
        p.decoded.srh().is_some_and(|s| s.segments_left == 0) && p.decoded.dst == server
    };
    if let Some(p) = arriving.iter().find(|p| !strippable(p)) {
        v.observed = format!(
            "#{} reaches {node} with an SRH its ingress does not strip",
            p.frame_no
        );
        v.offending = Some(ix.describe(p));
        return v;
    }
    let malformed = ix
        .run
        .counters
        .get(&step)
        .and_then(|h| h.get(node))
        .and_then(|c| c.get("malformed"));
    if let Some(m) = malformed.filter(|m| **m > 0) {
        v.observed =
            format!("the server agent on {node} counted {m} malformed SRHs (passed up unstripped)");
        return v;
    }
    v.observed = format!(
        "{} reached {node} with an SRH, all SL 0 to {server}{}",
        counted(arriving.len(), "packet"),
        malformed.map_or(String::new(), |m| format!("; malformed {m}"))
    );
    v.outcome = Outcome::Pass;
    v
}

pub(super) fn intact(
    ix: &Index<'_>,
    flow: &str,
    base: &impl Fn(String, String) -> Verdict,
) -> Verdict {
    let mut v = base(
        format!("{flow}: payload intact"),
        "every byte verified at the far end".to_owned(),
    );
    let Some(report) = ix.run.flows.get(flow).filter(|r| !r.flows.is_empty()) else {
        v.observed = format!("flow {flow} did not run");
        return v;
    };
    if let Some(bad) = report.flows.iter().find(|f| !f.intact()) {
        let why = bad
            .error
            .clone()
            .or_else(|| bad.corrupt.clone())
            .unwrap_or_else(|| {
                format!(
                    "{} of {} bytes verified",
                    bad.bytes_verified, bad.bytes_sent
                )
            });
        v.observed = format!("{} → {}: {why}", bad.local, bad.server);
        return v;
    }
    let verified: u64 = report.flows.iter().map(|f| f.bytes_verified).sum();
    let echoed: u64 = report.flows.iter().map(|f| f.bytes_echoed).sum();
    let mut text = format!(
        "{}, {} verified",
        counted(report.flows.len(), "connection"),
        human_bytes(verified)
    );
    if echoed > 0 {
        text.push_str(&format!(", {} echoed back", human_bytes(echoed)));
    }
    let lost: u64 = report
        .flows
        .iter()
        .map(|f| f.datagrams_sent.saturating_sub(f.datagrams_received))
        .sum();
    if lost > 0 {
        text.push_str(&format!(", {lost} datagrams lost"));
    }
    v.observed = format!("{text}, {}", human_rate(report.throughput_bps()));
    v.outcome = Outcome::Pass;
    v
}

pub(super) fn counter(
    ix: &Index<'_>,
    step: usize,
    host: &str,
    name: &str,
    cmp: Cmp,
    value: u64,
    base: &impl Fn(String, String) -> Verdict,
) -> Verdict {
    let mut v = base(
        format!("{host}: counter {name}"),
        format!("{} {value}", cmp.symbol()),
    );
    match ix.run.counters.get(&step).and_then(|h| h.get(host)) {
        None => v.observed = format!("no counters of {host}'s agent were read at this step"),
        Some(c) => match c.get(name) {
            None => v.observed = format!("{host}'s agent has no counter {name}"),
            Some(&got) => {
                v.observed = got.to_string();
                if cmp.holds(got, value) {
                    v.outcome = Outcome::Pass;
                }
            }
        },
    }
    v
}
