//! The fixed 8-byte part of the SRH exactly as it sits on the wire.
//!
//! Kept apart from the friendly [`Srh`](super::Srh) (which owns a
//! `Vec<Ipv6Addr>`) so that the byte layout is stated once, next to the RFC
//! drawing, and the parser and emitter cannot disagree about offsets.

/// RFC 8754 §2:
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Next Header   |  Hdr Ext Len  | Routing Type  | Segments Left |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  Last Entry   |     Flags     |              Tag              |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |            Segment List[0] (128-bit IPv6 address)             |
/// |                              ...                              |
/// ```
///
/// Same layout as the kernel's `struct ipv6_sr_hdr` (`first_segment` there is
/// `last_entry` here). All fields are bytes, so `repr(C)` has no padding and
/// no alignment; `tag` stays a big-endian byte pair so nobody can forget the
/// byte swap.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SrhFixed {
    pub next_header: u8,
    /// Length of the header in 8-octet units, not counting the first 8 octets.
    pub hdr_ext_len: u8,
    pub routing_type: u8,
    pub segments_left: u8,
    /// Zero-based index of the last element of the segment list.
    pub last_entry: u8,
    pub flags: u8,
    /// Big-endian.
    pub tag: [u8; 2],
}

impl SrhFixed {
    /// Size on the wire.
    pub const LEN: usize = 8;

    /// Reads the fixed part; `None` when fewer than [`SrhFixed::LEN`] bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<SrhFixed> {
        let b: &[u8; Self::LEN] = bytes.get(..Self::LEN)?.try_into().ok()?;
        Some(SrhFixed {
            next_header: b[0],
            hdr_ext_len: b[1],
            routing_type: b[2],
            segments_left: b[3],
            last_entry: b[4],
            flags: b[5],
            tag: [b[6], b[7]],
        })
    }

    pub fn to_bytes(self) -> [u8; Self::LEN] {
        [
            self.next_header,
            self.hdr_ext_len,
            self.routing_type,
            self.segments_left,
            self.last_entry,
            self.flags,
            self.tag[0],
            self.tag[1],
        ]
    }

    /// Total header length in bytes that `hdr_ext_len` announces.
    pub fn total_len(self) -> usize {
        (usize::from(self.hdr_ext_len) + 1) * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_the_kernel_struct() {
        // struct ipv6_sr_hdr is 8 bytes with no padding; the BPF side mirrors it.
        assert_eq!(std::mem::size_of::<SrhFixed>(), SrhFixed::LEN);
        assert_eq!(std::mem::align_of::<SrhFixed>(), 1);
    }

    #[test]
    fn from_slice_then_to_bytes_is_identity() {
        let bytes = [17, 10, 4, 3, 4, 0x80, 0x12, 0x34, 0xff];
        let fixed = SrhFixed::from_slice(&bytes).expect("8 bytes present");
        assert_eq!(fixed.tag, [0x12, 0x34]);
        assert_eq!(fixed.total_len(), 88);
        assert_eq!(fixed.to_bytes(), bytes[..8]);
        assert_eq!(SrhFixed::from_slice(&bytes[..7]), None);
    }
}
