//! The codec against fixed truths: the reference example of DESIGN §1 and
//! packets the Linux kernel built itself.

use std::net::Ipv6Addr;

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use srh::{Srh, SRH_OFFSET};

fn a(s: &str) -> Ipv6Addr {
    s.parse().expect("test address")
}

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).expect("ascii"), 16).expect("hex"))
        .collect()
}

const FINAL: &str = "fcbb:cc00:2::a";
const CLIENT: &str = "fcbb:cc00:1::a";
const TRAVEL: [&str; 4] = [
    "fcbb:bb00:1::2",
    "fcbb:bb00:2::2",
    "fcbb:bb00:4::2",
    "fcbb:bb00:6::2",
];

fn travel() -> Vec<Ipv6Addr> {
    TRAVEL.iter().map(|s| a(s)).collect()
}

/// A UDP packet leaving the client, captured on its link with `tcpdump -xx`
/// in a throwaway namespace (kernel 6.18, iproute2, 2026-11-25):
///
/// ```text
/// ip -n C -6 addr add fcbb:cc00:1::a/64 dev c0 nodad
/// ip -n C -6 route add fcbb:bb00::/32 dev c0
/// ip -n C -6 neigh add fcbb:bb00:1::2 lladdr 02:00:00:00:00:01 dev c0
/// ip -n C -6 route add fcbb:cc00:2::a/128 encap seg6 mode inline \
///     segs fcbb:bb00:1::2,fcbb:bb00:2::2,fcbb:bb00:4::2,fcbb:bb00:6::2 dev c0
/// # python3: bind [fcbb:cc00:1::a]:40000, sendto [fcbb:cc00:2::a]:5000 b"srv6-codec"
/// ```
///
/// The UDP checksum (0x91b3) is the partial one of a checksum-offloading
/// veth, captured before completion; it plays no part here.
const KERNEL_INLINE: &str = "
    0200 0000 0001 0200 0000 000c 86dd 600e
    67dc 006a 2b40 fcbb cc00 0001 0000 0000
    0000 0000 000a fcbb bb00 0001 0000 0000
    0000 0000 0002 110a 0404 0400 0000 fcbb
    cc00 0002 0000 0000 0000 0000 000a fcbb
    bb00 0006 0000 0000 0000 0000 0002 fcbb
    bb00 0004 0000 0000 0000 0000 0002 fcbb
    bb00 0002 0000 0000 0000 0000 0002 fcbb
    bb00 0001 0000 0000 0000 0000 0002 9c40
    1388 0012 91b3 7372 7636 2d63 6f64 6563";

/// The same packet after a kernel router in a second namespace (forwarding
/// on, `ip -6 route add fcbb:bb00:1::2/128 encap seg6local action End dev
/// r0`, a route to fcbb:bb00:2::/48 out of veth d0), captured on d0: SL 3,
/// destination fcbb:bb00:2::2, hop limit 63, new MAC addresses.
const KERNEL_AFTER_END: &str = "
    0200 0000 0022 0200 0000 00d0 86dd 600e
    67dc 006a 2b3f fcbb cc00 0001 0000 0000
    0000 0000 000a fcbb bb00 0002 0000 0000
    0000 0000 0002 110a 0403 0400 0000 fcbb
    cc00 0002 0000 0000 0000 0000 000a fcbb
    bb00 0006 0000 0000 0000 0000 0002 fcbb
    bb00 0004 0000 0000 0000 0000 0002 fcbb
    bb00 0002 0000 0000 0000 0000 0002 fcbb
    bb00 0001 0000 0000 0000 0000 0002 9c40
    1388 0012 91b3 7372 7636 2d63 6f64 6563";

const HOP_LIMIT_AT: usize = 14 + 7;
const DESTINATION_AT: usize = 14 + 24;

#[test]
fn design_reference_example() {
    let s = Srh::from_travel_order(6, a(FINAL), &travel()).expect("4 sids");
    assert_eq!(
        s.segments,
        vec![
            a("fcbb:cc00:2::a"),
            a("fcbb:bb00:6::2"),
            a("fcbb:bb00:4::2"),
            a("fcbb:bb00:2::2"),
            a("fcbb:bb00:1::2"),
        ]
    );
    assert_eq!((s.segments_left, s.last_entry), (4, 4));
    assert_eq!((s.flags, s.tag), (0, 0));
    let bytes = s.to_bytes();
    assert_eq!(bytes[1], 10, "hdr_ext_len");
    assert_eq!(bytes.len(), srh::srh_len(5));
    assert_eq!(s.wire_len(), 88);
    assert_eq!(s.active_segment(), Some(a("fcbb:bb00:1::2")));
    assert_eq!(s.travel_order(), travel());

    let r = s.reversed(a(CLIENT));
    assert_eq!(
        r.segments,
        vec![
            a("fcbb:cc00:1::a"),
            a("fcbb:bb00:1::2"),
            a("fcbb:bb00:2::2"),
            a("fcbb:bb00:4::2"),
            a("fcbb:bb00:6::2"),
        ]
    );
    assert_eq!((r.segments_left, r.last_entry), (4, 4));
    assert_eq!(r.next_header, 6);
    assert_eq!(r.active_segment(), Some(a("fcbb:bb00:6::2")));
    assert_eq!(r.reversed(a(FINAL)), s);
}

#[test]
fn kernel_inline_encap_equals_codec_insert() {
    let kernel = hex(KERNEL_INLINE);
    let want = Srh::from_travel_order(17, a(FINAL), &travel()).expect("4 sids");

    let (found, at) = srh::find(&kernel).expect("valid").expect("has SRH");
    assert_eq!(at, SRH_OFFSET);
    assert_eq!(found, want);
    assert_eq!(
        want.to_bytes(),
        kernel[SRH_OFFSET..SRH_OFFSET + want.wire_len()]
    );

    // Rebuild the packet as it was before the route encapsulated it: strip,
    // put the final destination back. Inserting must give the kernel's bytes.
    let (mut original, removed) = srh::strip(&kernel).expect("strip");
    assert_eq!(removed, want);
    original[DESTINATION_AT..DESTINATION_AT + 16].copy_from_slice(&a(FINAL).octets());
    let sliced = SlicedPacket::from_ethernet(&original).expect("plain packet parses");
    match (&sliced.net, &sliced.transport) {
        (Some(NetSlice::Ipv6(ip)), Some(TransportSlice::Udp(udp))) => {
            assert_eq!(ip.header().destination_addr(), a(FINAL));
            assert_eq!(ip.header().payload_length(), 18);
            assert_eq!((udp.source_port(), udp.destination_port()), (40000, 5000));
            assert_eq!(udp.payload(), b"srv6-codec");
        }
        other => panic!("expected IPv6/UDP, got {other:?}"),
    }
    assert_eq!(srh::insert(&original, &want).expect("insert"), kernel);
}

#[test]
fn kernel_end_equals_codec_apply_end() {
    let before = hex(KERNEL_INLINE);
    let after = hex(KERNEL_AFTER_END);
    let mut ours = srh::apply_end(&before).expect("End");
    // What the router does besides End: new MACs, hop limit - 1.
    ours[..12].copy_from_slice(&after[..12]);
    ours[HOP_LIMIT_AT] -= 1;
    assert_eq!(ours, after);
    let (srh, _) = srh::find(&after).expect("valid").expect("has SRH");
    assert_eq!(srh.segments_left, 3);
    assert_eq!(srh.active_segment(), Some(a("fcbb:bb00:2::2")));
}

#[test]
fn server_side_walk_of_the_reference_packet() {
    // DESIGN §1 steps 4–6: routers run End to SL 0, the server strips and
    // replies with the reversed list, whose first hop is fcbb:bb00:6::2.
    let mut f = hex(KERNEL_INLINE);
    for _ in 0..4 {
        f = srh::apply_end(&f).expect("End");
    }
    assert_eq!(&f[DESTINATION_AT..DESTINATION_AT + 16], &a(FINAL).octets());
    let (plain, got) = srh::strip(&f).expect("strip");
    assert_eq!(got.segments_left, 0);
    let back = got.reversed(a(CLIENT));
    let reply = srh::insert(&plain, &back).expect("insert reply header");
    let (on_wire, _) = srh::find(&reply).expect("valid").expect("has SRH");
    assert_eq!(on_wire.active_segment(), Some(a("fcbb:bb00:6::2")));
    assert_eq!(
        &reply[DESTINATION_AT..DESTINATION_AT + 16],
        &a("fcbb:bb00:6::2").octets()
    );
    assert_eq!(
        on_wire.travel_order(),
        travel().into_iter().rev().collect::<Vec<_>>()
    );
}
