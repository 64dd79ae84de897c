//! The SRH inside an Ethernet II + IPv6 frame: insert, strip, find, End.
//!
//! Only the position the BPF programs use is handled: the SRH directly after
//! the 40-byte IPv6 header of an untagged Ethernet frame. etherparse checks
//! the Ethernet and IPv6 headers; the functions then patch the few IPv6
//! fields they change in place (payload length, next header, destination),
//! so every other byte of the frame (flow label, hop limit, trailing Ethernet
//! padding) comes out exactly as it went in.

use std::net::Ipv6Addr;

use etherparse::err::ipv6::{HeaderError, HeaderSliceError};
use etherparse::{EtherType, Ethernet2Header, Ipv6Header};

use super::{Srh, SrhError, IPPROTO_ROUTING, ROUTING_TYPE_SRH};

/// Ethernet II header length.
pub const ETHERNET_LEN: usize = Ethernet2Header::LEN;
/// IPv6 fixed header length.
pub const IPV6_LEN: usize = Ipv6Header::LEN;
/// Where an SRH directly after the IPv6 header starts in a frame.
pub const SRH_OFFSET: usize = ETHERNET_LEN + IPV6_LEN;

const HOP_BY_HOP: u8 = 0;
// Offsets of the IPv6 fields we rewrite, from the start of the frame.
const PAYLOAD_LENGTH: usize = ETHERNET_LEN + 4;
const NEXT_HEADER: usize = ETHERNET_LEN + 6;
const DESTINATION: usize = ETHERNET_LEN + 24;
// Routing type and segments left, from the start of the routing header.
const RH_TYPE: usize = 2;
const RH_SEGMENTS_LEFT: usize = 3;

/// The checked IPv6 header of a frame and where its packet ends.
struct Ipv6Frame {
    header: Ipv6Header,
    /// `SRH_OFFSET + payload_length`: bytes past this are Ethernet padding.
    end: usize,
}

fn ipv6_frame(frame: &[u8]) -> Result<Ipv6Frame, SrhError> {
    let (eth, rest) = Ethernet2Header::from_slice(frame).map_err(|_| SrhError::Truncated {
        need: ETHERNET_LEN,
        have: frame.len(),
    })?;
    if eth.ether_type != EtherType::IPV6 {
        return Err(SrhError::NotEthernetIpv6 {
            ether_type: eth.ether_type.0,
        });
    }
    let (header, _) = Ipv6Header::from_slice(rest).map_err(|e| match e {
        HeaderSliceError::Content(HeaderError::UnexpectedVersion { version_number }) => {
            SrhError::NotIpv6 {
                version: version_number,
            }
        }
        HeaderSliceError::Len(_) => SrhError::Truncated {
            need: SRH_OFFSET,
            have: frame.len(),
        },
    })?;
    let end = SRH_OFFSET + usize::from(header.payload_length);
    if frame.len() < end {
        return Err(SrhError::Truncated {
            need: end,
            have: frame.len(),
        });
    }
    Ok(Ipv6Frame { header, end })
}

/// Parses the SRH at `SRH_OFFSET`, within the IPv6 packet, with error
/// offsets counted from the frame start.
fn parse_in_frame(frame: &[u8], ip: &Ipv6Frame) -> Result<(Srh, usize), SrhError> {
    Srh::parse(&frame[SRH_OFFSET..ip.end]).map_err(|e| match e {
        SrhError::Truncated { need, have } => SrhError::Truncated {
            need: SRH_OFFSET + need,
            have: SRH_OFFSET + have,
        },
        e => e,
    })
}

fn set_payload_length(out: &mut [u8], len: u16) {
    out[PAYLOAD_LENGTH..PAYLOAD_LENGTH + 2].copy_from_slice(&len.to_be_bytes());
}

fn set_destination(out: &mut [u8], dst: Ipv6Addr) {
    out[DESTINATION..DESTINATION + 16].copy_from_slice(&dst.octets());
}

/// Insert `srh` right after the IPv6 header, as the client egress program
/// does: the SRH's next header becomes the packet's old next header (the
/// `next_header` in `srh` is ignored), the IPv6 next header becomes 43, the
/// payload length grows by the SRH length and the destination becomes
/// `srh.active_segment()`.
///
/// Refuses a header that [`Srh::validate`] rejects, a packet that already has
/// a routing header (RFC 8200 §4.1: at most one), one that starts with
/// hop-by-hop options (they must stay first), a payload that would pass
/// 65535 bytes, and anything not Ethernet II + IPv6 or truncated.
pub fn insert(frame: &[u8], srh: &Srh) -> Result<Vec<u8>, SrhError> {
    srh.validate()?;
    let destination = srh
        .active_segment()
        .ok_or(SrhError::SegmentsLeftBeyondLastEntry {
            segments_left: srh.segments_left,
            last_entry: srh.last_entry,
        })?;
    let mut header = vec![0u8; srh.wire_len()];
    srh.write_into(&mut header)?;
    insert_raw(frame, &header, destination)
}

/// Like [`insert`] for arbitrary header bytes, which are not validated: the
/// way tests put malformed SRHs into otherwise good packets. Byte 0 of
/// `header` is replaced by the packet's old next header so the chain stays
/// intact; `destination` becomes the IPv6 destination.
pub fn insert_raw(frame: &[u8], header: &[u8], destination: Ipv6Addr) -> Result<Vec<u8>, SrhError> {
    let ip = ipv6_frame(frame)?;
    let old_next = ip.header.next_header.0;
    match old_next {
        IPPROTO_ROUTING => {
            let routing_type = *frame
                .get(SRH_OFFSET + RH_TYPE)
                .filter(|_| SRH_OFFSET + RH_TYPE < ip.end)
                .ok_or(SrhError::Truncated {
                    need: SRH_OFFSET + RH_TYPE + 1,
                    have: ip.end,
                })?;
            return Err(if routing_type == ROUTING_TYPE_SRH {
                SrhError::SrhAlreadyPresent
            } else {
                SrhError::RoutingHeaderPresent { routing_type }
            });
        }
        HOP_BY_HOP => return Err(SrhError::HopByHopPresent),
        _ => {}
    }
    let new_payload = usize::from(ip.header.payload_length) + header.len();
    let payload_length = u16::try_from(new_payload).map_err(|_| SrhError::PayloadTooLong {
        len: new_payload,
        max: usize::from(u16::MAX),
    })?;

    let mut out = Vec::with_capacity(frame.len() + header.len());
    out.extend_from_slice(&frame[..SRH_OFFSET]);
    out.extend_from_slice(header);
    out.extend_from_slice(&frame[SRH_OFFSET..]);
    if let Some(next) = out.get_mut(SRH_OFFSET).filter(|_| !header.is_empty()) {
        *next = old_next;
    }
    out[NEXT_HEADER] = IPPROTO_ROUTING;
    set_payload_length(&mut out, payload_length);
    set_destination(&mut out, destination);
    Ok(out)
}

/// Remove the SRH that directly follows the IPv6 header, as the ingress
/// programs do: the IPv6 next header becomes the SRH's next header (TCP,
/// UDP, ICMPv6 or anything else), the payload length shrinks by the SRH's
/// whole length, TLVs included. The destination is left alone: at the end of
/// the path it already is the final destination (segment 0).
///
/// Returns the new frame and the header removed. Errors if there is no SRH
/// there or it is malformed (see [`Srh::parse`]).
pub fn strip(frame: &[u8]) -> Result<(Vec<u8>, Srh), SrhError> {
    let ip = ipv6_frame(frame)?;
    let next_header = ip.header.next_header.0;
    if next_header != IPPROTO_ROUTING {
        return Err(SrhError::NoSrh { next_header });
    }
    let (srh, len) = parse_in_frame(frame, &ip)?;
    let mut out = Vec::with_capacity(frame.len() - len);
    out.extend_from_slice(&frame[..SRH_OFFSET]);
    out.extend_from_slice(&frame[SRH_OFFSET + len..]);
    out[NEXT_HEADER] = srh.next_header;
    // parse_in_frame read `len` bytes inside the payload, so this cannot wrap.
    set_payload_length(
        &mut out,
        ip.header.payload_length.saturating_sub(len as u16),
    );
    Ok((out, srh))
}

/// For captures: the SRH directly after the IPv6 header of an Ethernet
/// frame, with its byte offset in the frame. `Ok(None)` for an IPv6 packet
/// without one (including one whose routing header is of another type);
/// an error for non-IPv6 frames and malformed SRHs.
pub fn find(frame: &[u8]) -> Result<Option<(Srh, usize)>, SrhError> {
    let ip = ipv6_frame(frame)?;
    if ip.header.next_header.0 != IPPROTO_ROUTING {
        return Ok(None);
    }
    match parse_in_frame(frame, &ip) {
        Ok((srh, _)) => Ok(Some((srh, SRH_OFFSET))),
        Err(SrhError::WrongRoutingType(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// One `End` operation as a router performs it (RFC 8986 §4.1, for tests):
/// `segments_left − 1`, destination = `segments[segments_left]`. The hop limit is
/// left alone (the router's forwarding step that follows decrements it), as
/// are the MAC addresses. Errors if there is no valid SRH or SL is already 0.
pub fn apply_end(frame: &[u8]) -> Result<Vec<u8>, SrhError> {
    let ip = ipv6_frame(frame)?;
    let next_header = ip.header.next_header.0;
    if next_header != IPPROTO_ROUTING {
        return Err(SrhError::NoSrh { next_header });
    }
    let (srh, _) = parse_in_frame(frame, &ip)?;
    let sl = srh
        .segments_left
        .checked_sub(1)
        .ok_or(SrhError::NoSegmentLeft)?;
    // parse guarantees segments.len() == last_entry + 1 > segments_left > sl.
    let destination = srh
        .segments
        .get(usize::from(sl))
        .copied()
        .ok_or(SrhError::NoSegmentLeft)?;
    let mut out = frame.to_vec();
    out[SRH_OFFSET + RH_SEGMENTS_LEFT] = sl;
    set_destination(&mut out, destination);
    Ok(out)
}
