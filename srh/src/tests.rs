//! Unit tests: every error variant is produced by some input (the exhaustive
//! `match` in `every_variant_is_reachable` stops compiling when a variant is
//! added without a case here), plus the behaviour of each operation.

use std::net::Ipv6Addr;

use etherparse::{EtherType, Ethernet2Header, IpNumber, Ipv6Header};

use super::*;

fn a(s: &str) -> Ipv6Addr {
    s.parse().expect("test address")
}

fn sids(n: usize) -> Vec<Ipv6Addr> {
    (0..n)
        .map(|i| Ipv6Addr::new(0xfcbb, 0xbb00, i as u16 + 1, 0, 0, 0, 0, 2))
        .collect()
}

/// Ethernet + IPv6 frame with `next_header` and a raw payload. Built from
/// etherparse's header structs: its PacketBuilder panics on a bare
/// hop-by-hop next header.
fn frame(next_header: u8, payload: &[u8]) -> Vec<u8> {
    let eth = Ethernet2Header {
        source: [2, 0, 0, 0, 0, 1],
        destination: [2, 0, 0, 0, 0, 2],
        ether_type: EtherType::IPV6,
    };
    let ip = Ipv6Header {
        payload_length: u16::try_from(payload.len()).expect("payload fits"),
        next_header: IpNumber(next_header),
        hop_limit: 64,
        source: a("fcbb:cc00:1::a").octets(),
        destination: a("fcbb:cc00:2::a").octets(),
        ..Default::default()
    };
    [&eth.to_bytes()[..], &ip.to_bytes()[..], payload].concat()
}

fn udp_frame() -> Vec<u8> {
    frame(
        17,
        &[0x9c, 0x40, 0x13, 0x88, 0, 12, 0, 0, b'h', b'i', b'!', b'!'],
    )
}

fn srh3() -> Srh {
    Srh::from_travel_order(17, a("fcbb:cc00:2::a"), &sids(3)).expect("3 sids")
}

/// One input per variant that produces it.
fn reach(variant: &SrhError) -> SrhError {
    let err = |r: Result<(), SrhError>| r.expect_err("should fail");
    let good = srh3().to_bytes();
    let with = |i: usize, v: u8| {
        let mut b = good.clone();
        b[i] = v;
        b
    };
    match variant {
        SrhError::Truncated { .. } => err(Srh::parse(&good[..good.len() - 1]).map(drop)),
        SrhError::WrongRoutingType(_) => err(Srh::parse(&with(2, 0)).map(drop)),
        SrhError::HdrExtLenTooSmall { .. } => err(Srh::parse(&with(1, 5)).map(drop)),
        SrhError::SegmentsLeftBeyondLastEntry { .. } => err(Srh::parse(&with(3, 4)).map(drop)),
        SrhError::TooManySegments { .. } => {
            err(Srh::from_travel_order(6, a("::1"), &sids(MAX_SIDS + 1)).map(drop))
        }
        SrhError::EmptySidList => err(Srh::from_travel_order(6, a("::1"), &[]).map(drop)),
        SrhError::LastEntryMismatch { .. } => {
            let mut s = srh3();
            s.last_entry = 2;
            err(s.validate())
        }
        SrhError::TlvsNotAligned { .. } => {
            let mut s = srh3();
            s.tlvs = vec![4, 1, 0];
            err(s.validate())
        }
        SrhError::HeaderTooLong { .. } => {
            let mut s = srh3();
            s.segments = vec![a("::1"); 128];
            s.last_entry = 127;
            err(s.write_into(&mut [0u8; 4096]).map(drop))
        }
        SrhError::BufferTooSmall { .. } => err(srh3().write_into(&mut [0u8; 16]).map(drop)),
        SrhError::MalformedTlv { .. } => {
            let mut s = srh3();
            s.tlvs = vec![5, 38, 0, 0, 0, 0, 0, 0];
            err(s.tlv_iter().try_for_each(|t| t.map(drop)))
        }
        SrhError::NotIpv6 { .. } => {
            let mut f = udp_frame();
            f[ETHERNET_LEN] = 0x45;
            err(strip(&f).map(drop))
        }
        SrhError::NotEthernetIpv6 { .. } => {
            let mut f = udp_frame();
            f[12..14].copy_from_slice(&[0x08, 0x06]);
            err(find(&f).map(drop))
        }
        SrhError::NoSrh { .. } => err(strip(&udp_frame()).map(drop)),
        SrhError::SrhAlreadyPresent => {
            let once = insert(&udp_frame(), &srh3()).expect("first insert");
            err(insert(&once, &srh3()).map(drop))
        }
        SrhError::RoutingHeaderPresent { .. } => {
            // A type-2 routing header (Mobile IPv6), well formed.
            let mut rh2 = vec![59, 2, 2, 1, 0, 0, 0, 0];
            rh2.extend_from_slice(&a("2001:db8::1").octets());
            err(insert(&frame(43, &rh2), &srh3()).map(drop))
        }
        SrhError::HopByHopPresent => {
            err(insert(&frame(0, &[59, 0, 1, 4, 0, 0, 0, 0]), &srh3()).map(drop))
        }
        SrhError::PayloadTooLong { .. } => {
            err(insert(&frame(59, &vec![0u8; 65500]), &srh3()).map(drop))
        }
        SrhError::NoSegmentLeft => {
            let mut s = srh3();
            s.segments_left = 0;
            let f = insert(&udp_frame(), &s).expect("insert SL 0");
            err(apply_end(&f).map(drop))
        }
    }
}

#[test]
fn every_variant_is_reachable() {
    let all = [
        SrhError::Truncated { need: 0, have: 0 },
        SrhError::WrongRoutingType(0),
        SrhError::HdrExtLenTooSmall {
            hdr_ext_len: 0,
            last_entry: 0,
        },
        SrhError::SegmentsLeftBeyondLastEntry {
            segments_left: 0,
            last_entry: 0,
        },
        SrhError::TooManySegments { got: 0, max: 0 },
        SrhError::EmptySidList,
        SrhError::LastEntryMismatch {
            last_entry: 0,
            segments: 0,
        },
        SrhError::TlvsNotAligned { len: 0 },
        SrhError::HeaderTooLong { len: 0 },
        SrhError::BufferTooSmall { need: 0, have: 0 },
        SrhError::MalformedTlv {
            offset: 0,
            tlv_type: 0,
        },
        SrhError::NotIpv6 { version: 0 },
        SrhError::NotEthernetIpv6 { ether_type: 0 },
        SrhError::NoSrh { next_header: 0 },
        SrhError::SrhAlreadyPresent,
        SrhError::RoutingHeaderPresent { routing_type: 0 },
        SrhError::HopByHopPresent,
        SrhError::PayloadTooLong { len: 0, max: 0 },
        SrhError::NoSegmentLeft,
    ];
    for variant in &all {
        let got = reach(variant);
        assert_eq!(
            std::mem::discriminant(&got),
            std::mem::discriminant(variant),
            "wanted {variant:?}, got {got:?}"
        );
        assert!(!got.to_string().is_empty());
    }
}

#[test]
fn error_context_names_the_values() {
    let good = srh3().to_bytes();
    assert_eq!(
        Srh::parse(&good[..30]),
        Err(SrhError::Truncated { need: 72, have: 30 })
    );
    assert_eq!(
        Srh::parse(&good[..5]),
        Err(SrhError::Truncated { need: 8, have: 5 })
    );
    let mut b = good.clone();
    b[1] = 7;
    let e = Srh::parse(&b).expect_err("hdr_ext_len 7 < 8");
    assert_eq!(
        e,
        SrhError::HdrExtLenTooSmall {
            hdr_ext_len: 7,
            last_entry: 3
        }
    );
    assert_eq!(
        e.to_string(),
        "hdr_ext_len 7 is too small for last_entry 3: 4 segments need hdr_ext_len >= 8"
    );
    let mut f = udp_frame();
    f[12..14].copy_from_slice(&[0x81, 0x00]);
    assert_eq!(
        find(&f).expect_err("vlan").to_string(),
        "not an Ethernet II IPv6 frame: ethertype 0x8100"
    );
}

#[test]
fn truncation_in_a_frame_counts_from_the_frame_start() {
    let f = insert(&udp_frame(), &srh3()).expect("insert");
    // Frame cut inside the SRH: the IPv6 payload length no longer fits.
    assert_eq!(
        strip(&f[..70]),
        Err(SrhError::Truncated {
            need: f.len(),
            have: 70
        })
    );
    // Payload length too small for the SRH it carries.
    let mut g = f.clone();
    g[PAYLOAD_LEN_AT..PAYLOAD_LEN_AT + 2].copy_from_slice(&20u16.to_be_bytes());
    assert_eq!(
        find(&g),
        Err(SrhError::Truncated {
            need: SRH_OFFSET + 72,
            have: SRH_OFFSET + 20
        })
    );
    assert_eq!(
        strip(&f[..20]),
        Err(SrhError::Truncated {
            need: SRH_OFFSET,
            have: 20
        })
    );
    assert_eq!(
        find(&f[..10]),
        Err(SrhError::Truncated {
            need: ETHERNET_LEN,
            have: 10
        })
    );
}

const PAYLOAD_LEN_AT: usize = ETHERNET_LEN + 4;

#[test]
fn odd_hdr_ext_len_with_tlvs_is_accepted() {
    // One segment + a 40-byte HMAC-sized TLV: hdr_ext_len 2 + 5 = 7.
    let mut s = Srh::from_travel_order(6, a("::2"), &sids(1)).expect("1 sid");
    s.tlvs = vec![5, 38];
    s.tlvs.resize(40, 0xab);
    let bytes = s.to_bytes();
    assert_eq!(bytes[1], 2 * 2 + 5);
    let (back, len) = Srh::parse(&bytes).expect("valid");
    assert_eq!((back, len), (s.clone(), bytes.len()));
    let tlvs: Vec<_> = s.tlv_iter().collect::<Result<_, _>>().expect("framed");
    assert_eq!(tlvs.len(), 1);
    assert_eq!(tlvs[0].tlv_type, TlvType::Hmac);
    assert_eq!(tlvs[0].value.len(), 38);
}

#[test]
fn parse_ignores_bytes_after_the_header() {
    let mut bytes = srh3().to_bytes();
    let len = bytes.len();
    bytes.extend_from_slice(b"upper layer");
    assert_eq!(Srh::parse(&bytes), Ok((srh3(), len)));
}

#[test]
fn to_bytes_pads_unaligned_tlvs_with_pad1() {
    let mut s = srh3();
    s.tlvs = vec![4, 1, 0];
    assert_eq!(s.wire_len(), srh_len(4) + 8);
    let bytes = s.to_bytes();
    assert_eq!(&bytes[srh_len(4)..], &[4, 1, 0, 0, 0, 0, 0, 0]);
    let (back, _) = Srh::parse(&bytes).expect("padded header is valid");
    assert_eq!(back.tlvs.len(), 8);
    assert!(back.tlv_iter().all(|t| t.is_ok()));
}

#[test]
fn write_into_writes_exactly_wire_len_bytes() {
    let s = srh3();
    let mut buf = [0xeeu8; 100];
    let n = s.write_into(&mut buf).expect("fits");
    assert_eq!(n, srh_len(4));
    assert_eq!(&buf[..n], s.to_bytes().as_slice());
    assert!(buf[n..].iter().all(|&b| b == 0xee));
}

#[test]
fn write_into_emits_malformed_fields_as_given() {
    // Tests of the BPF programs need headers parse refuses.
    let mut s = srh3();
    s.segments_left = 9;
    let bytes = s.to_bytes();
    assert_eq!(bytes[3], 9);
    assert_eq!(
        Srh::parse(&bytes),
        Err(SrhError::SegmentsLeftBeyondLastEntry {
            segments_left: 9,
            last_entry: 3
        })
    );
}

#[test]
fn largest_header_fits_and_one_more_segment_does_not() {
    let mut s = srh3();
    s.segments = vec![a("::1"); 127];
    s.last_entry = 126;
    s.segments_left = 0;
    s.tlvs = vec![0; 8];
    assert_eq!(s.wire_len(), MAX_WIRE_LEN);
    let bytes = s.to_bytes();
    assert_eq!(bytes[1], 255);
    assert_eq!(Srh::parse(&bytes), Ok((s.clone(), MAX_WIRE_LEN)));
    s.tlvs.clear();
    s.segments.push(a("::1"));
    s.last_entry = 127;
    assert_eq!(
        s.validate(),
        Err(SrhError::HeaderTooLong {
            len: MAX_WIRE_LEN + 8
        })
    );
}

#[test]
fn from_travel_order_limits() {
    let s = Srh::from_travel_order(6, a("::2"), &sids(MAX_SIDS)).expect("16 sids");
    assert_eq!(s.segments.len(), MAX_SEGMENTS);
    assert_eq!(s.wire_len(), srh_len(MAX_SEGMENTS));
    assert_eq!(s.last_entry as usize, MAX_SIDS);
    assert_eq!(
        Srh::from_travel_order(6, a("::2"), &sids(MAX_SIDS + 1)),
        Err(SrhError::TooManySegments {
            got: MAX_SIDS + 1,
            max: MAX_SIDS
        })
    );
}

#[test]
fn insert_sets_chain_length_and_destination() {
    let plain = udp_frame();
    let s = srh3();
    let f = insert(&plain, &s).expect("insert");
    assert_eq!(f.len(), plain.len() + s.wire_len());
    assert_eq!(f[ETHERNET_LEN + 6], IPPROTO_ROUTING);
    assert_eq!(
        u16::from_be_bytes([f[PAYLOAD_LEN_AT], f[PAYLOAD_LEN_AT + 1]]) as usize,
        12 + s.wire_len()
    );
    assert_eq!(&f[ETHERNET_LEN + 24..SRH_OFFSET], &sids(3)[0].octets());
    let (found, at) = find(&f).expect("valid").expect("present");
    assert_eq!(at, SRH_OFFSET);
    assert_eq!(found.next_header, 17);
    assert_eq!(found.segments, s.segments);
    // The SRH's own next_header was overwritten by the packet's.
    let mut other = s.clone();
    other.next_header = 99;
    assert_eq!(insert(&plain, &other), Ok(f.clone()));
    // At the end of the path (SL 0) the destination is the final one again,
    // so strip gives back the original packet.
    let mut at_end = f;
    for _ in 0..s.segments_left {
        at_end = apply_end(&at_end).expect("End");
    }
    let (back, removed) = strip(&at_end).expect("strip");
    assert_eq!(back, plain);
    assert_eq!(removed.segments, s.segments);
    assert_eq!(removed.segments_left, 0);
}

#[test]
fn insert_refuses_invalid_headers() {
    let mut s = srh3();
    s.segments_left = 4;
    assert_eq!(
        insert(&udp_frame(), &s),
        Err(SrhError::SegmentsLeftBeyondLastEntry {
            segments_left: 4,
            last_entry: 3
        })
    );
}

#[test]
fn insert_raw_splices_unchecked_bytes() {
    let junk = [0xffu8, 0, 0, 0, 0, 0, 0, 0];
    let f = insert_raw(&udp_frame(), &junk, a("::9")).expect("frame is fine");
    assert_eq!(f[SRH_OFFSET], 17, "chain kept: old next header in byte 0");
    assert_eq!(find(&f), Ok(None), "routing type 0 is not an SRH");
    assert_eq!(strip(&f), Err(SrhError::WrongRoutingType(0)));
    let empty = insert_raw(&udp_frame(), &[], a("::9")).expect("empty header");
    assert_eq!(empty.len(), udp_frame().len());
}

#[test]
fn strip_keeps_any_next_header_and_drops_tlvs() {
    for nh in [6u8, 17, 58, 59, 200] {
        let plain = frame(nh, b"0123456789abcdef");
        let mut s = srh3();
        s.tlvs = vec![4, 6, 0, 0, 0, 0, 0, 0];
        let f = insert(&plain, &s).expect("insert");
        let (back, removed) = strip(&f).expect("strip");
        assert_eq!(removed.next_header, nh);
        assert_eq!(removed.tlvs.len(), 8);
        assert_eq!(back[ETHERNET_LEN + 6], nh);
        // Destination is the active segment, not restored by strip.
        let mut expect = plain.clone();
        expect[ETHERNET_LEN + 24..SRH_OFFSET].copy_from_slice(&sids(3)[0].octets());
        assert_eq!(back, expect);
    }
}

#[test]
fn trailing_ethernet_padding_is_carried_along() {
    let mut plain = frame(59, &[]);
    plain.extend_from_slice(&[0; 6]); // padded to the 60-byte minimum
    let f = insert(&plain, &srh3()).expect("insert");
    assert_eq!(&f[f.len() - 6..], &[0; 6]);
    assert_eq!(strip(&f).expect("strip").0.len(), plain.len());
}

#[test]
fn find_none_without_srh_or_with_another_routing_type() {
    assert_eq!(find(&udp_frame()), Ok(None));
    let mut rh2 = vec![59, 2, 2, 1, 0, 0, 0, 0];
    rh2.extend_from_slice(&a("2001:db8::1").octets());
    assert_eq!(find(&frame(43, &rh2)), Ok(None));
    assert_eq!(strip(&frame(43, &rh2)), Err(SrhError::WrongRoutingType(2)));
    // Routing type unreadable: the IPv6 payload is two bytes.
    assert_eq!(
        insert(&frame(43, &[59, 0]), &srh3()),
        Err(SrhError::Truncated {
            need: SRH_OFFSET + 3,
            have: SRH_OFFSET + 2
        })
    );
}

#[test]
fn apply_end_walks_the_list_to_the_final_destination() {
    let s = srh3();
    let mut f = insert(&udp_frame(), &s).expect("insert");
    let mut seen = vec![];
    while let Ok(next) = apply_end(&f) {
        f = next;
        let (srh, _) = find(&f).expect("valid").expect("present");
        let dst =
            Ipv6Addr::from(<[u8; 16]>::try_from(&f[ETHERNET_LEN + 24..SRH_OFFSET]).expect("16"));
        assert_eq!(Some(dst), srh.active_segment());
        seen.push(dst);
    }
    let mut want = s.travel_order()[1..].to_vec();
    want.push(a("fcbb:cc00:2::a"));
    assert_eq!(seen, want);
    assert_eq!(apply_end(&f), Err(SrhError::NoSegmentLeft));
    assert_eq!(
        apply_end(&udp_frame()),
        Err(SrhError::NoSrh { next_header: 17 })
    );
}

#[test]
fn reversed_and_travel_order_of_odd_inputs() {
    let mut s = srh3();
    s.segments.clear();
    let r = s.reversed(a("::5"));
    assert_eq!(r.segments, vec![a("::5")]);
    assert_eq!((r.segments_left, r.last_entry), (0, 0));
    assert!(s.travel_order().is_empty());
    assert_eq!(s.active_segment(), None);
}

#[test]
fn display_is_one_line() {
    let mut s = Srh::from_travel_order(6, a("::2"), &sids(1)).expect("1 sid");
    assert_eq!(s.to_string(), "SRH nh 6 SL 1/1 [::2, fcbb:bb00:1::2]");
    s.tag = 7;
    s.tlvs = vec![0; 8];
    assert_eq!(
        s.to_string(),
        "SRH nh 6 SL 1/1 [::2, fcbb:bb00:1::2] flags 0x00 tag 7 tlvs 8B"
    );
}
