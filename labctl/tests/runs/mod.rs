//! Generated runs for the asserter and report tests, independent of the
//! asserter: frames built with etherparse's `PacketBuilder` and the SRH
//! codec, carried hop by hop along a path written in the test by a tiny
//! router model (a node that owns the IPv6 destination performs `End` with
//! `srh::apply_end` before forwarding), each hop captured with its
//! direction and a timestamp inside the step it belongs to. A `tamper`
//! hook edits the copy captured on one hop, the way a broken router would.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::time::Duration;

use etherparse::PacketBuilder;
use labctl::asserter::{RunRecord, StepTiming};
use labctl::capture::{CapturedPacket, Direction, LinkCapture};
use labctl::scenario::{Proto, Scenario};
use labctl::traffic::{ClientReport, FlowReport};
use srh::Srh;
use topology::Topology;

pub fn a(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

pub fn repo(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel)
}

/// A shipped scenario and its topology.
pub fn shipped(name: &str) -> (Scenario, Topology) {
    labctl::scenario::load(&repo(&format!("scenarios/{name}"))).unwrap()
}

/// 2023-11-14T22:13:20Z: any fixed wall-clock start.
pub const T0: Duration = Duration::from_secs(1_700_000_000);
/// Each step of a generated run gets this much time.
pub const SLOT: Duration = Duration::from_millis(100);

/// The time slot of step `i`.
pub fn slot(i: usize) -> (Duration, Duration) {
    let start = T0 + SLOT * u32::try_from(i).unwrap();
    (start, start + SLOT - Duration::from_millis(1))
}

/// Edits the frame captured on hop (from, to); the unedited frame travels on.
pub type Tamper<'t> = &'t dyn Fn(&str, &str, Vec<u8>) -> Vec<u8>;

pub fn no_tamper(_: &str, _: &str, f: Vec<u8>) -> Vec<u8> {
    f
}

/// One TCP connection of a flow.
#[derive(Debug, Clone)]
pub struct Conn {
    pub proto: Proto,
    pub client: SocketAddrV6,
    pub server: SocketAddrV6,
}

pub fn conn(client: &str, cport: u16, server: &str, sport: u16) -> Conn {
    Conn {
        proto: Proto::Tcp,
        client: SocketAddrV6::new(a(client), cport, 0, 0),
        server: SocketAddrV6::new(a(server), sport, 0, 0),
    }
}

pub fn udp_conn(client: &str, cport: u16, server: &str, sport: u16) -> Conn {
    Conn {
        proto: Proto::Udp,
        ..conn(client, cport, server, sport)
    }
}

/// One direction of an exchange: the nodes crossed and the SRH's SIDs
/// (travel order; `None`: no SRH).
pub struct Leg<'a> {
    pub path: &'a [&'a str],
    pub sids: Option<&'a [Ipv6Addr]>,
}

pub fn leg<'a>(path: &'a [&'a str], sids: Option<&'a [Ipv6Addr]>) -> Leg<'a> {
    Leg { path, sids }
}

/// `frame` with the SRH a source builds for `sids`, if any.
fn with_srh(
    frame: Vec<u8>,
    proto: Proto,
    final_dst: Ipv6Addr,
    sids: Option<&[Ipv6Addr]>,
) -> Vec<u8> {
    match sids {
        Some(sids) => {
            let srh = Srh::from_travel_order(proto.number(), final_dst, sids).unwrap();
            srh::insert(&frame, &srh).unwrap()
        }
        None => frame,
    }
}

/// A directory removed when dropped, unique per process and call.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "labctl-runs-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Builds a run: captures per link, the run record.
pub struct Run<'t> {
    pub topo: &'t Topology,
    pub captures: BTreeMap<usize, LinkCapture>,
    pub record: RunRecord,
    clock: Duration,
    seq: u32,
}

fn mac(n: usize) -> [u8; 6] {
    [2, 0, 0, 0, (n >> 8) as u8, n as u8]
}

impl<'t> Run<'t> {
    /// A run of `scenario` where every step ran in its slot and every
    /// link was captured (even if it saw nothing).
    pub fn new(topo: &'t Topology, scenario: &Scenario) -> Run<'t> {
        let steps = (0..scenario.steps.len())
            .map(|index| {
                let (start, end) = slot(index);
                StepTiming { index, start, end }
            })
            .collect();
        let captures = topo
            .links
            .iter()
            .map(|l| {
                (
                    l.id,
                    LinkCapture {
                        link: l.id,
                        packets: Vec::new(),
                        dropped: 0,
                    },
                )
            })
            .collect();
        Run {
            topo,
            captures,
            record: RunRecord {
                steps,
                ..RunRecord::default()
            },
            clock: T0,
            seq: 1000,
        }
    }

    /// Frames sent from now on are captured inside step `i`.
    pub fn at_step(&mut self, i: usize) {
        self.clock = slot(i).0 + Duration::from_millis(1);
    }

    fn frame(
        &mut self,
        proto: Proto,
        src: SocketAddrV6,
        dst: SocketAddrV6,
        payload: &[u8],
    ) -> Vec<u8> {
        let mut out = Vec::new();
        self.seq += 1;
        let ip =
            PacketBuilder::ethernet2(mac(1), mac(2)).ipv6(src.ip().octets(), dst.ip().octets(), 64);
        match proto {
            Proto::Tcp => ip
                .tcp(src.port(), dst.port(), self.seq, 64240)
                .ack(1)
                .write(&mut out, payload),
            Proto::Udp => ip.udp(src.port(), dst.port()).write(&mut out, payload),
        }
        .unwrap();
        out
    }

    /// Carry `frame` along `path`, capturing it on every hop.
    fn carry(&mut self, mut frame: Vec<u8>, path: &[&str], tamper: Tamper<'_>) {
        for hop in path.windows(2) {
            let (from, to) = (hop[0], hop[1]);
            let node = &self.topo.nodes[from];
            // A router owning the active segment performs End before forwarding.
            if let Ok(Some((srh, _))) = srh::find(&frame) {
                if srh.segments_left > 0 && node.sid == srh.active_segment() {
                    frame = srh::apply_end(&frame).unwrap();
                }
            }
            let link = self.topo.link_between(from, to).unwrap();
            let direction = if link.a.node == from {
                Direction::AToB
            } else {
                Direction::BToA
            };
            let captured = tamper(from, to, frame.clone());
            self.clock += Duration::from_micros(10);
            self.captures
                .get_mut(&link.id)
                .unwrap()
                .packets
                .push(CapturedPacket {
                    ts: self.clock,
                    direction,
                    orig_len: u32::try_from(captured.len()).unwrap(),
                    frame: captured,
                });
        }
    }

    /// `n` request/reply exchanges of a connection: requests along
    /// `request`, replies along `reply`.
    pub fn exchange(
        &mut self,
        c: &Conn,
        n: usize,
        request: &Leg<'_>,
        reply: &Leg<'_>,
        tamper: Tamper<'_>,
    ) {
        for _ in 0..n {
            let req = self.frame(c.proto, c.client, c.server, b"request bytes");
            let req = with_srh(req, c.proto, *c.server.ip(), request.sids);
            self.carry(req, request.path, tamper);
            let rep = self.frame(c.proto, c.server, c.client, b"reply bytes");
            let rep = with_srh(rep, c.proto, *c.client.ip(), reply.sids);
            self.carry(rep, reply.path, tamper);
        }
    }

    /// Record a flow's traffic report: every connection intact.
    pub fn flow_report(&mut self, name: &str, conns: &[Conn], bytes: u64) {
        let flows = conns
            .iter()
            .map(|c| (c.proto, c))
            .map(|(proto, c)| FlowReport {
                proto,
                local: SocketAddr::V6(c.client),
                server: SocketAddr::V6(c.server),
                echo: false,
                bytes_sent: bytes,
                bytes_verified: bytes,
                bytes_echoed: 0,
                corrupt: None,
                datagrams_sent: if proto == Proto::Udp { bytes / 1000 } else { 0 },
                datagrams_received: if proto == Proto::Udp { bytes / 1000 } else { 0 },
                datagrams_echoed: 0,
                server_routing_header: (proto == Proto::Udp).then_some(false),
                elapsed: Duration::from_millis(80),
                error: None,
            })
            .collect();
        self.record
            .flows
            .insert(name.to_owned(), ClientReport { flows });
    }

    /// Agent counters read at expect step `step`.
    pub fn counters(&mut self, step: usize, host: &str, values: &[(&str, u64)]) {
        self.record.counters.entry(step).or_default().insert(
            host.to_owned(),
            values.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
        );
    }

    pub fn captures(&self) -> Vec<LinkCapture> {
        self.captures.values().cloned().collect()
    }
}

/// hawk's upper path and its SIDs (DESIGN §1), both ways.
pub const UPPER: [&str; 8] = [
    "host-a", "site-a", "vpp1", "vpp2", "vpp4", "vpp6", "site-b", "host-b",
];
pub const LOWER: [&str; 8] = [
    "host-a", "site-a", "vpp1", "vpp3", "vpp5", "vpp6", "site-b", "host-b",
];

pub fn reversed<'a>(path: &[&'a str]) -> Vec<&'a str> {
    path.iter().rev().copied().collect()
}

pub fn upper_sids() -> Vec<Ipv6Addr> {
    [
        "fcbb:bb00:1::2",
        "fcbb:bb00:2::2",
        "fcbb:bb00:4::2",
        "fcbb:bb00:6::2",
    ]
    .map(a)
    .to_vec()
}

pub fn lower_sids() -> Vec<Ipv6Addr> {
    [
        "fcbb:bb00:1::2",
        "fcbb:bb00:3::2",
        "fcbb:bb00:5::2",
        "fcbb:bb00:6::2",
    ]
    .map(a)
    .to_vec()
}

pub fn rev(sids: &[Ipv6Addr]) -> Vec<Ipv6Addr> {
    sids.iter().rev().copied().collect()
}

/// A run of one connection of flow `web` (host-a:40000 → host-b:80) in
/// step 1: `n` exchanges along `request` and `reply`.
pub fn web_run<'t>(
    topo: &'t Topology,
    s: &Scenario,
    n: usize,
    request: &Leg<'_>,
    reply: &Leg<'_>,
    tamper: Tamper<'_>,
) -> Run<'t> {
    let mut run = Run::new(topo, s);
    let web = conn("fcbb:cc00:1::a", 40000, "fcbb:cc00:2::a", 80);
    run.at_step(1);
    run.exchange(&web, n, request, reply, tamper);
    run.flow_report("web", &[web], 10_000_000);
    run
}

/// A correct run of the shipped high-bandwidth scenario: 5 exchanges on
/// the upper path, the reversed list on the way back, counters read.
pub fn high_bandwidth<'t>(topo: &'t Topology, s: &Scenario, tamper: Tamper<'_>) -> Run<'t> {
    let (sids, back) = (upper_sids(), rev(&upper_sids()));
    let back_path = reversed(&UPPER);
    let mut run = web_run(
        topo,
        s,
        5,
        &leg(&UPPER, Some(&sids)),
        &leg(&back_path, Some(&back)),
        tamper,
    );
    run.counters(2, "host-a", &[("too_big", 0), ("encapsulated", 5)]);
    run.counters(2, "host-b", &[("too_big", 0), ("malformed", 0)]);
    run
}
