//! Property tests of the SRH codec. The acceptance rule is restated here from
//! RFC 8754 on raw bytes, independently of the codec, so "never accepts an
//! invalid header" and "never rejects a valid one" are both checked.

use std::net::Ipv6Addr;

use etherparse::{EtherType, Ethernet2Header, IpNumber, Ipv6FlowLabel, Ipv6Header};
use proptest::collection::vec;
use proptest::prelude::*;
use srh::{Srh, SrhError, MAX_SIDS, SRH_OFFSET};

const DST: std::ops::Range<usize> = 14 + 24..14 + 40;

fn addr() -> impl Strategy<Value = Ipv6Addr> {
    any::<[u8; 16]>().prop_map(Ipv6Addr::from)
}

/// Any header `parse` must accept: 1..=40 segments, SL anywhere in range,
/// TLV bytes in 8-byte multiples.
fn valid_srh() -> impl Strategy<Value = Srh> {
    (
        any::<u8>(),
        vec(addr(), 1..=40),
        any::<u8>(),
        any::<u8>(),
        any::<u16>(),
        vec(any::<u8>(), 0..=48),
    )
        .prop_map(|(next_header, segments, sl, flags, tag, mut tlvs)| {
            let last_entry = u8::try_from(segments.len() - 1).expect("<= 40");
            tlvs.truncate(tlvs.len() / 8 * 8);
            Srh {
                next_header,
                segments_left: sl % (last_entry + 1),
                last_entry,
                flags,
                tag,
                segments,
                tlvs,
            }
        })
}

/// Bytes shaped like an SRH with fields near the limits, so that both
/// acceptance and every rejection happen often.
fn srh_like_bytes() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<u8>(),
        prop_oneof![0u8..=40, any::<u8>()],
        prop_oneof![3 => Just(4u8), 1 => any::<u8>()],
        0u8..=21,
        0u8..=21,
        any::<[u8; 3]>(),
        vec(any::<u8>(), 0..=400),
    )
        .prop_map(|(nh, hel, rt, sl, le, rest, tail)| {
            let mut b = vec![nh, hel, rt, sl, le, rest[0], rest[1], rest[2]];
            b.extend(tail);
            b
        })
}

/// RFC 8754 acceptance, from the raw bytes.
fn rfc_accepts(b: &[u8]) -> bool {
    b.len() >= 8
        && b[2] == 4
        && usize::from(b[1]) >= 2 * (usize::from(b[4]) + 1)
        && b[3] <= b[4]
        && b.len() >= (usize::from(b[1]) + 1) * 8
}

/// Everything an accepted header must satisfy, checked against its bytes.
fn check_accepted(bytes: &[u8], srh: &Srh, len: usize) {
    assert!(
        rfc_accepts(bytes),
        "accepted an invalid header {bytes:02x?}"
    );
    assert_eq!(len, (usize::from(bytes[1]) + 1) * 8);
    assert_eq!(srh.segments.len(), usize::from(srh.last_entry) + 1);
    assert!(srh.segments_left <= srh.last_entry);
    assert_eq!(srh.tlvs.len() % 8, 0);
    assert_eq!(srh.wire_len(), len);
    assert!(srh.active_segment().is_some());
    assert_eq!(srh.validate(), Ok(()));
    assert_eq!(srh.to_bytes(), &bytes[..len], "re-emit is byte exact");
}

/// An Ethernet + IPv6 frame with an upper-layer next header (not hop-by-hop
/// or routing, which insert refuses), payload and Ethernet padding.
fn plain_frame() -> impl Strategy<Value = Vec<u8>> {
    (
        addr(),
        addr(),
        prop_oneof![Just(6u8), Just(17), Just(58), Just(59), 60u8..=255],
        any::<u8>(),
        0u32..=0xfffff,
        1u8..=255,
        vec(any::<u8>(), 0..=200),
        0usize..=8,
    )
        .prop_map(|(src, dst, nh, tc, fl, hop, payload, pad)| {
            let eth = Ethernet2Header {
                source: [2, 0, 0, 0, 0, 1],
                destination: [2, 0, 0, 0, 0, 2],
                ether_type: EtherType::IPV6,
            };
            let ip = Ipv6Header {
                traffic_class: tc,
                flow_label: Ipv6FlowLabel::try_new(fl).expect("20 bits"),
                payload_length: u16::try_from(payload.len()).expect("small"),
                next_header: IpNumber(nh),
                hop_limit: hop,
                source: src.octets(),
                destination: dst.octets(),
            };
            let mut f = [&eth.to_bytes()[..], &ip.to_bytes()[..], &payload].concat();
            f.resize(f.len() + pad, 0);
            f
        })
}

fn dst_of(frame: &[u8]) -> Ipv6Addr {
    Ipv6Addr::from(<[u8; 16]>::try_from(&frame[DST]).expect("16 bytes"))
}

proptest! {
    #[test]
    fn emit_then_parse_round_trips(s in valid_srh(), tail in vec(any::<u8>(), 0..16)) {
        let mut bytes = s.to_bytes();
        prop_assert_eq!(bytes.len(), s.wire_len());
        bytes.extend(tail);
        let (back, len) = Srh::parse(&bytes).expect("valid header");
        check_accepted(&bytes, &back, len);
        prop_assert_eq!(back, s);
    }

    #[test]
    fn travel_order_round_trips(
        nh in any::<u8>(), dst in addr(), sids in vec(addr(), 1..=MAX_SIDS),
    ) {
        let s = Srh::from_travel_order(nh, dst, &sids).expect("1..=16 sids");
        prop_assert_eq!(s.travel_order(), sids.clone());
        prop_assert_eq!(s.segments[0], dst);
        prop_assert_eq!(s.active_segment(), Some(sids[0]));
        prop_assert_eq!(Srh::parse(&s.to_bytes()), Ok((s.clone(), s.wire_len())));
    }

    #[test]
    fn reversed_twice_is_identity(
        nh in any::<u8>(), dst in addr(), src in addr(), sids in vec(addr(), 1..=MAX_SIDS),
    ) {
        let x = Srh::from_travel_order(nh, dst, &sids).expect("1..=16 sids");
        let r = x.reversed(src);
        prop_assert_eq!(r.segments[0], src);
        prop_assert_eq!(r.travel_order(), sids.iter().rev().copied().collect::<Vec<_>>());
        prop_assert_eq!(r.validate(), Ok(()));
        prop_assert_eq!(r.reversed(x.segments[0]), x);
    }

    #[test]
    fn parse_agrees_with_the_rfc_on_srh_like_bytes(bytes in srh_like_bytes()) {
        match Srh::parse(&bytes) {
            Ok((s, len)) => check_accepted(&bytes, &s, len),
            Err(e) => prop_assert!(!rfc_accepts(&bytes), "rejected a valid header: {e}"),
        }
    }

    #[test]
    fn parse_never_panics_on_noise(bytes in vec(any::<u8>(), 0..600)) {
        match Srh::parse(&bytes) {
            Ok((s, len)) => check_accepted(&bytes, &s, len),
            Err(_) => prop_assert!(!rfc_accepts(&bytes)),
        }
    }

    #[test]
    fn mutated_valid_headers_are_judged_by_the_rfc(
        s in valid_srh(), flips in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = s.to_bytes();
        for (i, v) in flips {
            let at = i.index(bytes.len());
            bytes[at] = v;
        }
        bytes.truncate(cut.index(bytes.len() + 1).max(bytes.len() / 2));
        match Srh::parse(&bytes) {
            Ok((p, len)) => check_accepted(&bytes, &p, len),
            Err(_) => prop_assert!(!rfc_accepts(&bytes)),
        }
    }

    #[test]
    fn insert_then_strip_gives_back_the_frame(f in plain_frame(), s in valid_srh()) {
        let with = srh::insert(&f, &s).expect("insert into a plain frame");
        prop_assert_eq!(with.len(), f.len() + s.wire_len());
        prop_assert_eq!(Some(dst_of(&with)), s.active_segment());
        let (back, removed) = srh::strip(&with).expect("strip what we inserted");
        prop_assert_eq!(removed.next_header, f[14 + 6]);
        prop_assert_eq!(removed.segments, s.segments.clone());
        // strip leaves the destination alone; everything else is restored.
        let mut want = f.clone();
        want[DST].copy_from_slice(&with[DST]);
        prop_assert_eq!(back, want);
        prop_assert_eq!(srh::insert(&with, &s), Err(SrhError::SrhAlreadyPresent));
    }

    #[test]
    fn end_steps_keep_every_check(f in plain_frame(), sids in vec(addr(), 1..=MAX_SIDS)) {
        let s = Srh::from_travel_order(0, dst_of(&f), &sids).expect("1..=16 sids");
        let mut cur = srh::insert(&f, &s).expect("insert");
        let upper = cur[SRH_OFFSET + s.wire_len()..].to_vec();
        for step in 1..=sids.len() {
            cur = srh::apply_end(&cur).expect("SL > 0");
            let (now, at) = srh::find(&cur).expect("still valid").expect("still there");
            prop_assert_eq!(at, SRH_OFFSET);
            prop_assert_eq!(usize::from(now.segments_left), sids.len() - step);
            prop_assert_eq!(&now.segments, &s.segments);
            prop_assert_eq!(Some(dst_of(&cur)), now.active_segment());
            prop_assert_eq!(&cur[SRH_OFFSET + s.wire_len()..], upper.as_slice());
        }
        prop_assert_eq!(srh::apply_end(&cur), Err(SrhError::NoSegmentLeft));
        // At SL 0 the destination is the final one: strip restores the frame.
        let (back, _) = srh::strip(&cur).expect("strip");
        prop_assert_eq!(back, f);
    }

    #[test]
    fn frame_functions_never_panic(mut f in plain_frame(), s in valid_srh(),
                                   flips in vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
                                   cut in any::<prop::sample::Index>()) {
        // Start from a good SRv6 frame, then damage it anywhere.
        if let Ok(with) = srh::insert(&f, &s) { f = with; }
        for (i, v) in flips {
            let at = i.index(f.len());
            f[at] = v;
        }
        f.truncate(cut.index(f.len() + 1));
        let found = srh::find(&f);
        let stripped = srh::strip(&f);
        let _ = srh::apply_end(&f);
        let _ = srh::insert(&f, &s);
        if let Ok((back, removed)) = stripped {
            prop_assert_eq!(back.len(), f.len() - removed.wire_len());
            let (via_find, _) = found.expect("strip ok implies find ok").expect("present");
            prop_assert_eq!(via_find, removed);
        }
    }
}
