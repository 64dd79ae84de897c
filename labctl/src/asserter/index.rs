//! Decoded frames sorted into flows and directions, and time windows.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use srh::Decoded;
use topology::{Link, Topology};

use super::{LinkDrop, RunRecord};
use crate::capture::{Direction, LinkCapture};
use crate::scenario::{FlowDirection, Scenario, Window};

/// One decoded frame that belongs to a flow.
#[derive(Debug)]
pub(super) struct Packet<'a> {
    pub link: usize,
    /// The node that sent it onto the link, and the one it went to.
    pub from: &'a str,
    pub to: &'a str,
    /// 1-based position in the link's pcap file.
    pub frame_no: usize,
    pub ts: Duration,
    pub decoded: Decoded,
}

/// Capture timestamps a window admits: after `from`, before `to`.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct TimeWindow {
    from: Option<Duration>,
    to: Option<Duration>,
}

impl TimeWindow {
    fn admits(self, ts: Duration) -> bool {
        self.from.is_none_or(|f| ts > f) && self.to.is_none_or(|t| ts < t)
    }
}

type ConnKey = (Ipv6Addr, u16, Ipv6Addr, u16, u8);

/// Every flow packet of a run, by flow and direction, in time order.
pub(super) struct Index<'a> {
    pub scenario: &'a Scenario,
    pub topo: &'a Topology,
    pub run: &'a RunRecord,
    drops: BTreeMap<usize, u64>,
    packets: Vec<Packet<'a>>,
    by_flow: BTreeMap<(&'a str, FlowDirection), Vec<usize>>,
    /// The run's start, for `t+` times in messages.
    t0: Duration,
}

fn v6(ip: IpAddr) -> Option<Ipv6Addr> {
    match ip {
        IpAddr::V6(a) => Some(a),
        IpAddr::V4(_) => None,
    }
}

/// Each connection's 5-tuple, both ways, to its flow and direction.
fn connections(run: &RunRecord) -> HashMap<ConnKey, (&str, FlowDirection)> {
    let mut keys = HashMap::new();
    for (name, report) in &run.flows {
        for f in &report.flows {
            let (Some(c), Some(s)) = (v6(f.local.ip()), v6(f.server.ip())) else {
                continue;
            };
            let (cp, sp, proto) = (f.local.port(), f.server.port(), f.proto.number());
            keys.insert(
                (c, cp, s, sp, proto),
                (name.as_str(), FlowDirection::Request),
            );
            keys.insert((s, sp, c, cp, proto), (name.as_str(), FlowDirection::Reply));
        }
    }
    keys
}

/// The frames of one link's capture that belong to a flow, with the flow
/// and direction. Frames that do not decode or carry no ports belong to no
/// flow (neighbour discovery, noise).
fn flow_packets<'a>(
    link: &'a Link,
    capture: &LinkCapture,
    keys: &HashMap<ConnKey, (&'a str, FlowDirection)>,
) -> Vec<(&'a str, FlowDirection, Packet<'a>)> {
    let mut out = Vec::new();
    for (i, p) in capture.packets.iter().enumerate() {
        let Ok(decoded) = srh::decode(&p.frame) else {
            continue;
        };
        let Some((sp, dp)) = decoded.upper.ports() else {
            continue;
        };
        let proto = decoded.upper.protocol();
        let key = (decoded.src, sp, decoded.final_destination(), dp, proto);
        let Some(&(flow, direction)) = keys.get(&key) else {
            continue;
        };
        let (from, to) = match p.direction {
            Direction::AToB => (link.a.node.as_str(), link.b.node.as_str()),
            Direction::BToA => (link.b.node.as_str(), link.a.node.as_str()),
        };
        let packet = Packet {
            link: link.id,
            from,
            to,
            frame_no: i + 1,
            ts: p.ts,
            decoded,
        };
        out.push((flow, direction, packet));
    }
    out
}

impl<'a> Index<'a> {
    pub fn build(
        scenario: &'a Scenario,
        topo: &'a Topology,
        run: &'a RunRecord,
        captures: &[LinkCapture],
    ) -> Index<'a> {
        let keys = connections(run);
        let mut packets = Vec::new();
        let mut drops = BTreeMap::new();
        for c in captures {
            let Some(link) = topo.links.get(c.link) else {
                continue;
            };
            drops.insert(c.link, c.dropped);
            packets.extend(flow_packets(link, c, &keys));
        }
        packets.sort_by_key(|(_, _, p)| (p.ts, p.link, p.frame_no));
        let mut by_flow: BTreeMap<(&str, FlowDirection), Vec<usize>> = BTreeMap::new();
        let packets: Vec<Packet<'a>> = packets
            .into_iter()
            .enumerate()
            .map(|(i, (flow, dir, p))| {
                by_flow.entry((flow, dir)).or_default().push(i);
                p
            })
            .collect();
        let t0 = run
            .steps
            .iter()
            .map(|s| s.start)
            .min()
            .or_else(|| packets.first().map(|p| p.ts))
            .unwrap_or_default();
        Index {
            scenario,
            topo,
            run,
            drops,
            packets,
            by_flow,
            t0,
        }
    }

    /// The capture times an expectation's window admits.
    pub fn window(&self, w: Window) -> TimeWindow {
        let timing = |i: usize| self.run.steps.iter().find(|s| s.index == i);
        TimeWindow {
            from: w.after.and_then(|a| timing(a).map(|t| t.end)),
            to: timing(w.before).map(|t| t.start),
        }
    }

    /// The flow's packets in one direction within the window, in time order.
    pub fn flow(
        &self,
        flow: &str,
        direction: FlowDirection,
        window: TimeWindow,
    ) -> impl Iterator<Item = &Packet<'a>> + use<'_, 'a> {
        let list: &[usize] = self
            .by_flow
            .iter()
            .find(|((f, d), _)| *f == flow && *d == direction)
            .map_or(&[], |(_, v)| v.as_slice());
        list.iter()
            .map(|&i| &self.packets[i])
            .filter(move |p| window.admits(p.ts))
    }

    /// Packets of any flow (or of `flow` only), either direction, within the window.
    pub fn any(&self, flow: Option<&str>, window: TimeWindow) -> Vec<&Packet<'a>> {
        self.by_flow
            .iter()
            .filter(|((f, _), _)| flow.is_none_or(|want| *f == want))
            .flat_map(|(_, v)| v.iter().map(|&i| &self.packets[i]))
            .filter(|p| window.admits(p.ts))
            .collect()
    }

    /// One line naming a packet: link, direction, frame number, time, decode.
    pub fn describe(&self, p: &Packet<'_>) -> String {
        let t = p.ts.saturating_sub(self.t0).as_secs_f64();
        format!(
            "{}→{} #{} t+{t:.6}s {}",
            p.from, p.to, p.frame_no, p.decoded
        )
    }

    /// The drops of the captures of these links (those that dropped anything).
    pub fn drops_on(&self, links: impl IntoIterator<Item = usize>) -> Vec<LinkDrop> {
        let mut links: Vec<usize> = links.into_iter().collect();
        links.sort_unstable();
        links.dedup();
        links
            .into_iter()
            .filter_map(|l| {
                let dropped = *self.drops.get(&l).filter(|d| **d > 0)?;
                let link = self.topo.links.get(l)?;
                Some(LinkDrop {
                    link: format!("{}–{}", link.a.node, link.b.node),
                    dropped,
                })
            })
            .collect()
    }
}
