//! Packet builders shared by the BPF program tests, the fuzz test and the benchmarks.
#![allow(dead_code, clippy::unwrap_used)]
use std::net::Ipv6Addr;

pub mod netns;

use dataplane::srh::Srh;
use etherparse::{PacketBuilder, TcpOptionElement};

pub const CLIENT: &str = "fcbb:cc00:1::a";
pub const SERVER: &str = "fcbb:cc00:2::a";
/// The reference high-bandwidth path of DESIGN §1, travel order.
pub const REFERENCE_SIDS: [&str; 4] = [
    "fcbb:bb00:1::2",
    "fcbb:bb00:2::2",
    "fcbb:bb00:4::2",
    "fcbb:bb00:6::2",
];
pub const CLIENT_PORT: u16 = 40000;

pub fn addr(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

pub fn reference_sids() -> Vec<Ipv6Addr> {
    REFERENCE_SIDS.iter().map(|s| addr(s)).collect()
}

/// `n` distinct SIDs for benchmarks and length tests.
pub fn sids(n: usize) -> Vec<Ipv6Addr> {
    (0..n)
        .map(|i| Ipv6Addr::new(0xfcbb, 0xbb00, i as u16 + 1, 0, 0, 0, 0, 2))
        .collect()
}

fn builder(src: Ipv6Addr, dst: Ipv6Addr) -> etherparse::PacketBuilderStep<etherparse::IpHeaders> {
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]).ipv6(
        src.octets(),
        dst.octets(),
        64,
    )
}

/// A TCP SYN with an MSS option, as a stack sends it.
pub fn tcp_syn(src: Ipv6Addr, dst: Ipv6Addr, sport: u16, dport: u16, mss: u16) -> Vec<u8> {
    let mut out = Vec::new();
    builder(src, dst)
        .tcp(sport, dport, 1000, 64000)
        .syn()
        .options(&[
            TcpOptionElement::MaximumSegmentSize(mss),
            TcpOptionElement::Noop,
            TcpOptionElement::WindowScale(7),
        ])
        .unwrap()
        .write(&mut out, &[])
        .unwrap();
    out
}

/// A TCP segment carrying `payload`.
pub fn tcp(src: Ipv6Addr, dst: Ipv6Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    builder(src, dst)
        .tcp(sport, dport, 1000, 64000)
        .ack(1)
        .write(&mut out, payload)
        .unwrap();
    out
}

pub fn udp(src: Ipv6Addr, dst: Ipv6Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    builder(src, dst)
        .udp(sport, dport)
        .write(&mut out, payload)
        .unwrap();
    out
}

pub fn icmpv6_echo(src: Ipv6Addr, dst: Ipv6Addr, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    builder(src, dst)
        .icmpv6_echo_request(7, 1)
        .write(&mut out, payload)
        .unwrap();
    out
}

/// The SRH host-a inserts on the reference path.
pub fn reference_srh(next_header: u8) -> Srh {
    Srh::from_travel_order(next_header, addr(SERVER), &reference_sids()).unwrap()
}

/// A frame as it arrives at the server: SRH inserted by the client, then one
/// `End` per SID, so SL 0 and destination = the server.
pub fn arrived_at_server(plain: &[u8], srh: &Srh) -> Vec<u8> {
    let mut frame = dataplane::srh::insert(plain, srh).unwrap();
    for _ in 0..srh.segments_left {
        frame = dataplane::srh::apply_end(&frame).unwrap();
    }
    frame
}

/// Minimal DNS message writer for snooping tests (the programs parse raw
/// bytes, so the tests control every byte, including broken ones).
pub struct Dns {
    pub bytes: Vec<u8>,
    /// TTL of the answers added next.
    pub ttl: u32,
}

/// The resolver of the snooping tests.
pub const RESOLVER: &str = "fcbb:cc00:4::f";
/// The client's port and the ID of its query (and of `Dns::response`).
pub const QUERY_PORT: u16 = 5353;
pub const QUERY_ID: u16 = 0x1234;

pub const TYPE_AAAA: u16 = 28;
pub const TYPE_CNAME: u16 = 5;
pub const TYPE_A: u16 = 1;

impl Dns {
    /// A response header (QR=1, RD, RA) with one question for `qname`/AAAA.
    pub fn response(qname: &str, flags: u16, ancount: u16) -> Dns {
        let mut bytes = QUERY_ID.to_be_bytes().to_vec();
        bytes.extend_from_slice(&flags.to_be_bytes());
        bytes.extend_from_slice(&1u16.to_be_bytes());
        bytes.extend_from_slice(&ancount.to_be_bytes());
        bytes.extend_from_slice(&[0, 0, 0, 0]);
        bytes.extend_from_slice(&encode_name(qname));
        bytes.extend_from_slice(&TYPE_AAAA.to_be_bytes());
        bytes.extend_from_slice(&1u16.to_be_bytes());
        Dns { bytes, ttl: 60 }
    }

    /// Answers added from here on carry `ttl`.
    pub fn with_ttl(mut self, ttl: u32) -> Dns {
        self.ttl = ttl;
        self
    }

    pub const OK: u16 = 0x8180;

    /// An answer whose owner is a compression pointer to `offset`.
    pub fn answer_ptr(mut self, offset: u16, rtype: u16, rdata: &[u8]) -> Dns {
        self.bytes
            .extend_from_slice(&(0xC000 | offset).to_be_bytes());
        self.rr_tail(rtype, rdata)
    }

    /// An answer whose owner is written out in full.
    pub fn answer_name(mut self, owner: &str, rtype: u16, rdata: &[u8]) -> Dns {
        self.bytes.extend_from_slice(&encode_name(owner));
        self.rr_tail(rtype, rdata)
    }

    fn rr_tail(mut self, rtype: u16, rdata: &[u8]) -> Dns {
        self.bytes.extend_from_slice(&rtype.to_be_bytes());
        self.bytes.extend_from_slice(&1u16.to_be_bytes());
        self.bytes.extend_from_slice(&self.ttl.to_be_bytes());
        self.bytes
            .extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        self.bytes.extend_from_slice(rdata);
        self
    }
}

pub fn encode_name(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name.trim_end_matches('.').split('.') {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

/// The resolver answering the client's query.
pub fn dns_reply(dns: &Dns) -> Vec<u8> {
    udp(addr(RESOLVER), addr(CLIENT), 53, QUERY_PORT, &dns.bytes)
}

/// The client's query (ID `QUERY_ID`, recursion desired) for `qname`/AAAA.
pub fn dns_query(qname: &str) -> Vec<u8> {
    let mut bytes = QUERY_ID.to_be_bytes().to_vec();
    bytes.extend_from_slice(&0x0100u16.to_be_bytes());
    bytes.extend_from_slice(&1u16.to_be_bytes());
    bytes.extend_from_slice(&[0; 6]);
    bytes.extend_from_slice(&encode_name(qname));
    bytes.extend_from_slice(&TYPE_AAAA.to_be_bytes());
    bytes.extend_from_slice(&1u16.to_be_bytes());
    udp(addr(CLIENT), addr(RESOLVER), QUERY_PORT, 53, &bytes)
}
