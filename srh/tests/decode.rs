//! `srh::decode` on frames built independently of the decoder: etherparse's
//! `PacketBuilder` for the Ethernet/IPv6/TCP/UDP part, hand-written bytes for
//! extension headers, and the DESIGN §1 values for the SRH.

use std::net::Ipv6Addr;

use etherparse::PacketBuilder;
use proptest::collection::vec;
use proptest::prelude::*;
use srh::{decode, DecodeError, Srh, SrhError, TcpFlags, Upper};

fn a(s: &str) -> Ipv6Addr {
    s.parse().expect("test address")
}

const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x0a];
const ROUTER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x01];
const CLIENT: &str = "fcbb:cc00:1::a";
const SERVER: &str = "fcbb:cc00:2::a";
/// DESIGN §1: the high-bandwidth path in travel order.
const TRAVEL: [&str; 4] = [
    "fcbb:bb00:1::2",
    "fcbb:bb00:2::2",
    "fcbb:bb00:4::2",
    "fcbb:bb00:6::2",
];

fn tcp_syn(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, ROUTER_MAC)
        .ipv6(a(CLIENT).octets(), a(SERVER).octets(), 64)
        .tcp(45678, 80, 1000, 64240)
        .syn()
        .write(&mut out, payload)
        .expect("build");
    out
}

fn udp(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, ROUTER_MAC)
        .ipv6(a(CLIENT).octets(), a(SERVER).octets(), 63)
        .udp(40000, 5000)
        .write(&mut out, payload)
        .expect("build");
    out
}

fn design_srh() -> Srh {
    let travel: Vec<Ipv6Addr> = TRAVEL.iter().map(|s| a(s)).collect();
    Srh::from_travel_order(6, a(SERVER), &travel).expect("4 SIDs")
}

#[test]
fn tcp_syn_with_the_design_srh() {
    let frame = srh::insert(&tcp_syn(b"hello"), &design_srh()).expect("insert");
    let d = decode(&frame).expect("decodes");
    assert_eq!(d.src_mac, CLIENT_MAC);
    assert_eq!(d.dst_mac, ROUTER_MAC);
    assert_eq!(d.src, a(CLIENT));
    assert_eq!(d.dst, a("fcbb:bb00:1::2"));
    assert_eq!(d.final_destination(), a(SERVER));
    assert_eq!(d.hop_limit, 64);
    assert_eq!(usize::from(d.payload_len), 88 + 20 + 5);
    let (srh, offset) = d.srh.as_ref().expect("SRH");
    assert_eq!(*offset, 54);
    assert_eq!(
        srh.segments,
        [
            a(SERVER),
            a("fcbb:bb00:6::2"),
            a("fcbb:bb00:4::2"),
            a("fcbb:bb00:2::2"),
            a("fcbb:bb00:1::2")
        ]
    );
    assert_eq!((srh.segments_left, srh.last_entry), (4, 4));
    assert_eq!((srh.flags, srh.tag, srh.tlvs.len()), (0, 0, 0));
    assert_eq!(
        d.upper,
        Upper::Tcp {
            src_port: 45678,
            dst_port: 80,
            seq: 1000,
            ack: 0,
            flags: TcpFlags(TcpFlags::SYN),
        }
    );
    assert_eq!(d.upper.ports(), Some((45678, 80)));
    assert_eq!(d.upper.protocol(), 6);
    assert_eq!(&frame[d.payload.clone()], b"hello");
    assert_eq!(
        d.to_string(),
        "[fcbb:cc00:1::a]:45678 -> [fcbb:bb00:1::2]:80 TCP SYN seq 1000 ack 0 len 5 \
         | SRH SL 4 [fcbb:cc00:2::a, fcbb:bb00:6::2, fcbb:bb00:4::2, fcbb:bb00:2::2, fcbb:bb00:1::2] \
         | hl 64 | 02:00:00:00:00:0a -> 02:00:00:00:00:01"
    );
}

#[test]
fn after_two_end_steps_the_destination_follows_sl() {
    let frame = srh::insert(&udp(b"x"), &design_srh()).expect("insert");
    let frame = srh::apply_end(&srh::apply_end(&frame).expect("end")).expect("end");
    let d = decode(&frame).expect("decodes");
    assert_eq!(d.srh().map(|s| s.segments_left), Some(2));
    assert_eq!(d.dst, a("fcbb:bb00:4::2"));
    assert_eq!(d.final_destination(), a(SERVER));
}

#[test]
fn udp_without_srh_and_ethernet_padding() {
    let mut frame = udp(b"srv6-codec");
    frame.extend_from_slice(&[0xee; 6]); // padding past the IPv6 payload length
    let d = decode(&frame).expect("decodes");
    assert!(d.srh.is_none());
    assert_eq!(d.other_routing_type, None);
    assert_eq!(
        d.upper,
        Upper::Udp {
            src_port: 40000,
            dst_port: 5000,
            length: 18
        }
    );
    assert_eq!(&frame[d.payload.clone()], b"srv6-codec");
    assert_eq!(d.final_destination(), a(SERVER));
    assert!(d.to_string().contains("UDP len 18 | no SRH | hl 63"), "{d}");
}

#[test]
fn icmpv6_echo_request() {
    let mut frame = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, ROUTER_MAC)
        .ipv6(a(CLIENT).octets(), a(SERVER).octets(), 64)
        .icmpv6_echo_request(7, 1)
        .write(&mut frame, b"ping")
        .expect("build");
    let d = decode(&frame).expect("decodes");
    assert_eq!(
        d.upper,
        Upper::Icmpv6 {
            icmp_type: 128,
            code: 0
        }
    );
    assert_eq!(d.upper.ports(), None);
    assert_eq!(&frame[d.payload.clone()], b"ping");
}

/// Ethernet + IPv6 header with next header `nh` and payload `rest`.
fn raw_ipv6(nh: u8, rest: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&ROUTER_MAC);
    f.extend_from_slice(&CLIENT_MAC);
    f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
    f.extend_from_slice(&u16::try_from(rest.len()).expect("short").to_be_bytes());
    f.extend_from_slice(&[nh, 64]);
    f.extend_from_slice(&a(CLIENT).octets());
    f.extend_from_slice(&a("fcbb:bb00:1::2").octets());
    f.extend_from_slice(rest);
    f
}

fn udp_header(len_payload: u16) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&40000u16.to_be_bytes());
    h.extend_from_slice(&5000u16.to_be_bytes());
    h.extend_from_slice(&(8 + len_payload).to_be_bytes());
    h.extend_from_slice(&[0, 0]);
    h
}

#[test]
fn srh_after_hop_by_hop_is_found() {
    let mut srh = design_srh();
    srh.next_header = 17;
    // Hop-by-hop: next header 43 (routing), length 0, PadN of 4 bytes.
    let mut rest = vec![43, 0, 1, 4, 0, 0, 0, 0];
    rest.extend(srh.to_bytes());
    rest.extend(udp_header(2));
    rest.extend_from_slice(b"ok");
    let frame = raw_ipv6(0, &rest);
    let d = decode(&frame).expect("decodes");
    let (found, offset) = d.srh.as_ref().expect("SRH after HBH");
    assert_eq!(*offset, 54 + 8);
    assert_eq!(found.segments, srh.segments);
    assert_eq!(d.upper.ports(), Some((40000, 5000)));
    assert_eq!(&frame[d.payload.clone()], b"ok");
}

#[test]
fn other_routing_types_are_reported_not_parsed() {
    // Type 2 routing header (Mobile IPv6): 24 bytes, SL 1, a home address.
    let mut rest = vec![17, 2, 2, 1, 0, 0, 0, 0];
    rest.extend_from_slice(&a(CLIENT).octets());
    rest.extend(udp_header(0));
    let d = decode(&raw_ipv6(43, &rest)).expect("decodes");
    assert!(d.srh.is_none());
    assert_eq!(d.other_routing_type, Some(2));
    assert!(d.to_string().contains("routing header type 2"), "{d}");
}

#[test]
fn malformed_srh_is_a_typed_error_with_its_offset() {
    let mut bytes = design_srh().to_bytes();
    bytes[3] = 5; // segments_left beyond last_entry 4
    let frame = srh::insert_raw(&udp(b"x"), &bytes, a("fcbb:bb00:1::2")).expect("splice");
    assert_eq!(
        decode(&frame),
        Err(DecodeError::Srh {
            offset: 54,
            source: SrhError::SegmentsLeftBeyondLastEntry {
                segments_left: 5,
                last_entry: 4
            }
        })
    );
}

#[test]
fn truncated_and_foreign_frames_are_errors() {
    let frame = tcp_syn(b"");
    // Cut inside the TCP header: the IPv6 payload length is not covered.
    assert!(matches!(
        decode(&frame[..frame.len() - 4]),
        Err(DecodeError::Malformed(_))
    ));
    assert!(matches!(
        decode(&frame[..10]),
        Err(DecodeError::Malformed(_))
    ));
    let mut arp = frame.clone();
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    assert_eq!(
        decode(&arp),
        Err(DecodeError::NotIpv6 { ether_type: 0x0806 })
    );
    let mut v4 = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, ROUTER_MAC)
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .udp(1, 2)
        .write(&mut v4, b"")
        .expect("build");
    assert_eq!(
        decode(&v4),
        Err(DecodeError::NotIpv6 { ether_type: 0x0800 })
    );
}

#[test]
fn a_later_fragment_has_no_ports() {
    // Fragment header: next header UDP, offset 8 (x 8 bytes), more = 0.
    let mut rest = vec![17, 0, 0, 8 << 3, 0, 0, 0, 1];
    rest.extend_from_slice(b"tail of a datagram");
    let frame = raw_ipv6(44, &rest);
    let d = decode(&frame).expect("decodes");
    assert_eq!(d.upper, Upper::Fragment { protocol: 17 });
    assert_eq!(d.upper.ports(), None);
    assert_eq!(&frame[d.payload.clone()], b"tail of a datagram");
}

#[test]
fn tcp_flags_print_in_a_fixed_order() {
    assert_eq!(
        TcpFlags(TcpFlags::SYN | TcpFlags::ACK).to_string(),
        "SYN,ACK"
    );
    assert_eq!(TcpFlags(0).to_string(), "-");
    assert!(TcpFlags(TcpFlags::FIN | TcpFlags::ACK).has(TcpFlags::FIN));
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_bytes(bytes in vec(any::<u8>(), 0..400)) {
        if let Ok(d) = decode(&bytes) {
            prop_assert!(d.payload.end <= bytes.len());
        }
    }

    #[test]
    fn never_panics_on_mutated_srh_frames(
        flips in vec((0usize..400, any::<u8>()), 1..8),
        cut in 0usize..400,
    ) {
        let mut frame = srh::insert(&tcp_syn(b"payload"), &design_srh()).expect("insert");
        for (at, byte) in flips {
            let i = at % frame.len();
            frame[i] = byte;
        }
        frame.truncate(cut.max(1).min(frame.len()));
        if let Ok(d) = decode(&frame) {
            prop_assert!(d.payload.start <= d.payload.end);
            prop_assert!(d.payload.end <= frame.len());
            if let Some((srh, offset)) = &d.srh {
                prop_assert!(srh.validate().is_ok());
                prop_assert!(*offset >= 54);
            }
        }
    }
}
