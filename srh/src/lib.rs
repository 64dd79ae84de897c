//! Segment Routing Header codec (RFC 8754): build, parse, validate, reverse,
//! insert and strip; the SID limit every crate shares ([`MAX_SIDS`]) and the
//! MTU arithmetic of an inserted SRH ([`mtu`]). Pure Rust, no I/O, no aya, no
//! C toolchain: the controller, the agent and labctl import it without the
//! dataplane (as `aya-obj` sits beside `aya`).
//!
//! Written by hand because no maintained crate parses and builds RFC 8754
//! headers (etherparse stops at the generic IPv6 extension header; it is used
//! here for the Ethernet and IPv6 headers around the SRH).
//!
//! This is the reference the BPF programs' output is compared against byte
//! for byte, and what labctl uses to read captures, so it is strict where the
//! programs are strict and says so where it chooses.
//!
//! # Layout
//! - `mod.rs`: constants, [`SrhError`], the friendly [`Srh`] (build, parse,
//!   emit, reverse).
//! - [`wire`]: the fixed 8-byte header as laid out on the wire.
//! - [`tlv`]: walking the optional TLVs after the segment list.
//! - [`mtu`]: the bytes an inserted SRH adds, the MSS and route MTU that keep
//!   full-size packets fitting.
//! - `frame`: the same header inside Ethernet II + IPv6 frames ([`insert`],
//!   [`strip`], [`find`], [`apply_end`]).
//! - [`mod@decode`]: one captured frame -> addresses, SRH, ports, payload range
//!   ([`decode()`], [`Decoded`], [`DecodeError`]), for the scenario asserter.
//!
//! # Segment order
//! The wire holds segments backwards: `segments[0]` is the final destination
//! and `segments[last_entry]` the first SID visited. A path as a controller
//! hands it out ("travel order") is the reverse of `segments[1..]`.
//!
//! # Validation rules (see `docs/srh.md`)
//! [`Srh::parse`] accepts a header iff: at least 8 bytes, routing type 4,
//! `hdr_ext_len >= 2 * (last_entry + 1)` (the segment list fits in the
//! announced length: RFC 8986 §4.1 S08/S09's `max_LE = hdr_ext_len / 2 - 1`),
//! `segments_left <= last_entry` (RFC 8754 §4.3.1.1), and all
//! `(hdr_ext_len + 1) * 8` bytes are present. `hdr_ext_len` need not be even:
//! the bytes after the segment list are TLVs, which come in 8-octet multiples
//! of any parity (one 40-byte HMAC TLV makes it odd). The TLV area is kept raw
//! and not walked; see [`tlv`].

use std::fmt;
use std::net::Ipv6Addr;

pub mod decode;
mod frame;
pub mod mtu;
pub mod tlv;
pub mod wire;

#[cfg(test)]
mod tests;

pub use decode::{decode, DecodeError, Decoded, TcpFlags, Upper};
pub use frame::{apply_end, find, insert, insert_raw, strip, ETHERNET_LEN, IPV6_LEN, SRH_OFFSET};
pub use tlv::{Tlv, TlvIter, TlvType};
pub use wire::SrhFixed;

/// Routing type of the Segment Routing Header (RFC 8754 §2).
pub const ROUTING_TYPE_SRH: u8 = 4;
/// IPv6 next-header value of a routing header.
pub const IPPROTO_ROUTING: u8 = 43;
/// SIDs a path may hold (travel order, without the final destination).
pub const MAX_SIDS: usize = 16;
/// Segments in an SRH we build: final destination + SIDs.
pub const MAX_SEGMENTS: usize = MAX_SIDS + 1;
/// Largest header `hdr_ext_len` (a `u8` of 8-octet units) can announce.
pub const MAX_WIRE_LEN: usize = (u8::MAX as usize + 1) * 8;
/// Bytes of one segment.
pub const SEGMENT_LEN: usize = 16;

/// Length in bytes of an SRH with `n_segments` segments and no TLVs.
pub const fn srh_len(n_segments: usize) -> usize {
    SrhFixed::LEN + SEGMENT_LEN * n_segments
}

/// Everything that can go wrong, with the values that made it go wrong.
///
/// Offsets and lengths in errors from the frame functions ([`insert`],
/// [`strip`], [`find`], [`apply_end`]) are counted from the first byte of
/// the frame, and what a frame "has" ends where the IPv6 payload length says
/// the packet ends.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
#[non_exhaustive]
pub enum SrhError {
    #[error("truncated: need {need} bytes, have {have}")]
    Truncated { need: usize, have: usize },
    #[error("routing type {0} is not a segment routing header (type 4)")]
    WrongRoutingType(u8),
    #[error(
        "hdr_ext_len {hdr_ext_len} is too small for last_entry {last_entry}: \
         {} segments need hdr_ext_len >= {}",
        usize::from(*last_entry) + 1,
        2 * (usize::from(*last_entry) + 1)
    )]
    HdrExtLenTooSmall { hdr_ext_len: u8, last_entry: u8 },
    #[error("segments_left {segments_left} is beyond last_entry {last_entry}")]
    SegmentsLeftBeyondLastEntry { segments_left: u8, last_entry: u8 },
    #[error("{got} segments, at most {max} allowed")]
    TooManySegments { got: usize, max: usize },
    #[error("empty SID list: a path needs at least one SID")]
    EmptySidList,
    #[error("last_entry {last_entry} does not match {segments} segments")]
    LastEntryMismatch { last_entry: u8, segments: usize },
    #[error("TLV area of {len} bytes is not a multiple of 8")]
    TlvsNotAligned { len: usize },
    #[error("header of {len} bytes is longer than hdr_ext_len can say ({MAX_WIRE_LEN})")]
    HeaderTooLong { len: usize },
    #[error("output buffer too small: need {need} bytes, have {have}")]
    BufferTooSmall { need: usize, have: usize },
    #[error("malformed TLV of type {tlv_type} at offset {offset} of the TLV area")]
    MalformedTlv { offset: usize, tlv_type: u8 },
    #[error("not IPv6: IP version field is {version}")]
    NotIpv6 { version: u8 },
    #[error("not an Ethernet II IPv6 frame: ethertype {ether_type:#06x}")]
    NotEthernetIpv6 { ether_type: u16 },
    #[error("no SRH after the IPv6 header (next header {next_header})")]
    NoSrh { next_header: u8 },
    #[error("the packet already has an SRH")]
    SrhAlreadyPresent,
    #[error("the packet already has a routing header (type {routing_type})")]
    RoutingHeaderPresent { routing_type: u8 },
    #[error("hop-by-hop options must stay first after the IPv6 header; not inserting before them")]
    HopByHopPresent,
    #[error("IPv6 payload length {len} would exceed {max}")]
    PayloadTooLong { len: usize, max: usize },
    #[error("segments_left is 0: no segment left to visit")]
    NoSegmentLeft,
}

/// A Segment Routing Header, friendly form.
///
/// The fields are public so tests can build malformed headers on purpose;
/// [`Srh::to_bytes`] and [`Srh::write_into`] emit them as they are, and
/// [`Srh::validate`] says whether they make a header [`Srh::parse`] accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Srh {
    pub next_header: u8,
    pub segments_left: u8,
    pub last_entry: u8,
    pub flags: u8,
    pub tag: u16,
    /// Wire order: `[0]` is the final destination.
    pub segments: Vec<Ipv6Addr>,
    /// Raw bytes after the segment list (TLVs and padding).
    pub tlvs: Vec<u8>,
}

impl Srh {
    /// Build the SRH a source inserts: `segments = [final_dst, sids reversed]`,
    /// `segments_left = last_entry = n - 1`, flags, tag and TLVs empty.
    ///
    /// `sids` is in travel order (the first router visited first), the form
    /// the controller and the agent's config use. The final destination goes
    /// into segment 0 (RFC 8754 §4.1 lets a source do this), which keeps the
    /// upper-layer checksum valid: the pseudo-header uses the final address.
    pub fn from_travel_order(
        next_header: u8,
        final_dst: Ipv6Addr,
        sids: &[Ipv6Addr],
    ) -> Result<Srh, SrhError> {
        if sids.is_empty() {
            return Err(SrhError::EmptySidList);
        }
        if sids.len() > MAX_SIDS {
            return Err(SrhError::TooManySegments {
                got: sids.len(),
                max: MAX_SIDS,
            });
        }
        let segments = std::iter::once(final_dst).chain(sids.iter().rev().copied());
        Ok(Srh::fresh(next_header, segments.collect()))
    }

    /// A header as a source emits it: the first segment visited active
    /// (`segments_left = last_entry = n - 1`), no flags, tag or TLVs.
    fn fresh(next_header: u8, segments: Vec<Ipv6Addr>) -> Srh {
        // n <= 256 for every list a header can hold; a longer hand-built one
        // gets 255 and fails validate().
        let last = u8::try_from(segments.len().saturating_sub(1)).unwrap_or(u8::MAX);
        Srh {
            next_header,
            segments_left: last,
            last_entry: last,
            flags: 0,
            tag: 0,
            segments,
            tlvs: Vec::new(),
        }
    }

    /// Strict RFC 8754 parse of the routing header at the start of `bytes`
    /// (rules in the module docs). Returns the header and its total length in
    /// bytes, so the caller knows where the next header starts. Bytes after
    /// that length are ignored.
    pub fn parse(bytes: &[u8]) -> Result<(Srh, usize), SrhError> {
        let fixed = SrhFixed::from_slice(bytes).ok_or(SrhError::Truncated {
            need: SrhFixed::LEN,
            have: bytes.len(),
        })?;
        if fixed.routing_type != ROUTING_TYPE_SRH {
            return Err(SrhError::WrongRoutingType(fixed.routing_type));
        }
        let n_segments = usize::from(fixed.last_entry) + 1;
        if usize::from(fixed.hdr_ext_len) < 2 * n_segments {
            return Err(SrhError::HdrExtLenTooSmall {
                hdr_ext_len: fixed.hdr_ext_len,
                last_entry: fixed.last_entry,
            });
        }
        if fixed.segments_left > fixed.last_entry {
            return Err(SrhError::SegmentsLeftBeyondLastEntry {
                segments_left: fixed.segments_left,
                last_entry: fixed.last_entry,
            });
        }
        let len = fixed.total_len();
        let header = bytes.get(..len).ok_or(SrhError::Truncated {
            need: len,
            have: bytes.len(),
        })?;
        let (list, tlvs) = header[SrhFixed::LEN..].split_at(SEGMENT_LEN * n_segments);
        let segments = list
            .chunks_exact(SEGMENT_LEN)
            .map(|c| {
                let mut a = [0u8; SEGMENT_LEN];
                a.copy_from_slice(c);
                Ipv6Addr::from(a)
            })
            .collect();
        Ok((
            Srh {
                next_header: fixed.next_header,
                segments_left: fixed.segments_left,
                last_entry: fixed.last_entry,
                flags: fixed.flags,
                tag: u16::from_be_bytes(fixed.tag),
                segments,
                tlvs: tlvs.to_vec(),
            },
            len,
        ))
    }

    /// Whether this header, emitted, is one [`Srh::parse`] accepts and reads
    /// back as the same value. Parsed and built headers always are; a
    /// hand-edited one may not be.
    pub fn validate(&self) -> Result<(), SrhError> {
        if self.segments.is_empty() {
            return Err(SrhError::EmptySidList);
        }
        if usize::from(self.last_entry) + 1 != self.segments.len() {
            return Err(SrhError::LastEntryMismatch {
                last_entry: self.last_entry,
                segments: self.segments.len(),
            });
        }
        if self.segments_left > self.last_entry {
            return Err(SrhError::SegmentsLeftBeyondLastEntry {
                segments_left: self.segments_left,
                last_entry: self.last_entry,
            });
        }
        if !self.tlvs.len().is_multiple_of(8) {
            return Err(SrhError::TlvsNotAligned {
                len: self.tlvs.len(),
            });
        }
        let len = self.wire_len();
        if len > MAX_WIRE_LEN {
            return Err(SrhError::HeaderTooLong { len });
        }
        Ok(())
    }

    /// Bytes this header takes on the wire: fixed part, segments, and TLVs
    /// padded up to a multiple of 8 (an extension header is always a whole
    /// number of 8-octet units, RFC 8200 §4).
    pub fn wire_len(&self) -> usize {
        srh_len(self.segments.len()) + self.tlvs.len().next_multiple_of(8)
    }

    /// The header's bytes; see [`Srh::write_into`].
    ///
    /// # Panics
    /// If the header is longer than `hdr_ext_len` can announce
    /// ([`MAX_WIRE_LEN`], about 127 segments): that is a programming error,
    /// as neither [`Srh::parse`] nor [`Srh::from_travel_order`] can make one.
    /// Use [`Srh::write_into`] to get an error instead.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![0u8; self.wire_len()];
        match self.write_into(&mut out) {
            Ok(_) => out,
            Err(e) => panic!("Srh::to_bytes: {e}"),
        }
    }

    /// Writes the header at the start of `out` without allocating and returns
    /// its length. `hdr_ext_len` is computed from the segments and TLVs;
    /// every other field is written as it is, unchecked, so tests can emit
    /// malformed headers ([`Srh::validate`] first for untrusted values). TLVs
    /// whose length is not a multiple of 8 are followed by zero bytes, which
    /// are Pad1 TLVs (RFC 8754 §2.1.1.1).
    pub fn write_into(&self, out: &mut [u8]) -> Result<usize, SrhError> {
        let len = self.wire_len();
        if len > MAX_WIRE_LEN {
            return Err(SrhError::HeaderTooLong { len });
        }
        let have = out.len();
        let out = out
            .get_mut(..len)
            .ok_or(SrhError::BufferTooSmall { need: len, have })?;
        let fixed = SrhFixed {
            next_header: self.next_header,
            // len <= MAX_WIRE_LEN, so len / 8 - 1 <= 255.
            hdr_ext_len: u8::try_from(len / 8 - 1).map_err(|_| SrhError::HeaderTooLong { len })?,
            routing_type: ROUTING_TYPE_SRH,
            segments_left: self.segments_left,
            last_entry: self.last_entry,
            flags: self.flags,
            tag: self.tag.to_be_bytes(),
        };
        out[..SrhFixed::LEN].copy_from_slice(&fixed.to_bytes());
        let (list, tlvs) = out[SrhFixed::LEN..].split_at_mut(SEGMENT_LEN * self.segments.len());
        for (chunk, seg) in list.chunks_exact_mut(SEGMENT_LEN).zip(&self.segments) {
            chunk.copy_from_slice(&seg.octets());
        }
        let (raw, pad) = tlvs.split_at_mut(self.tlvs.len());
        raw.copy_from_slice(&self.tlvs);
        pad.fill(0);
        Ok(len)
    }

    /// The SRH the server sends back: `[0] = source` (the client, the reply's
    /// final destination), then the SIDs the request visited, in the order
    /// the reply must visit them: `[i] = self.segments[n - i]` for
    /// `i in 1..n`. `segments_left = last_entry = n - 1`, same `next_header`
    /// (it is rewritten on insert anyway), flags, tag and TLVs empty because
    /// they described the request's header, not ours.
    pub fn reversed(&self, source: Ipv6Addr) -> Srh {
        let segments = std::iter::once(source).chain(self.segments.iter().skip(1).rev().copied());
        Srh::fresh(self.next_header, segments.collect())
    }

    /// `segments[segments_left]`: the address the packet is heading to now.
    pub fn active_segment(&self) -> Option<Ipv6Addr> {
        self.segments.get(usize::from(self.segments_left)).copied()
    }

    /// The SIDs in travel order, without segment 0 (the final destination):
    /// the inverse of [`Srh::from_travel_order`].
    pub fn travel_order(&self) -> Vec<Ipv6Addr> {
        self.segments.iter().skip(1).rev().copied().collect()
    }

    /// The TLVs after the segment list. Parse does not check their framing
    /// (see the module docs); this does, item by item.
    pub fn tlv_iter(&self) -> TlvIter<'_> {
        TlvIter::new(&self.tlvs)
    }
}

/// One line, for logs and capture listings:
/// `SRH nh 17 SL 4/4 [fcbb:cc00:2::a, ...]`.
impl fmt::Display for Srh {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SRH nh {} SL {}/{} [",
            self.next_header, self.segments_left, self.last_entry
        )?;
        for (i, s) in self.segments.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{s}")?;
        }
        f.write_str("]")?;
        if self.flags != 0 || self.tag != 0 {
            write!(f, " flags {:#04x} tag {}", self.flags, self.tag)?;
        }
        if !self.tlvs.is_empty() {
            write!(f, " tlvs {}B", self.tlvs.len())?;
        }
        Ok(())
    }
}
