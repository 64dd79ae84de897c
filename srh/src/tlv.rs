//! Walking the optional TLVs that follow the segment list (RFC 8754 §2.1).
//!
//! [`Srh::parse`](super::Srh::parse) keeps the TLV area as raw bytes and does
//! not walk it: the BPF programs never look inside TLVs (they drop them on
//! strip, DESIGN §3), and the codec must accept exactly what they accept.
//! Code that cares (labctl reading a capture, tests) walks them here.

use super::SrhError;

const PAD1: u8 = 0;
const PADN: u8 = 4;
const HMAC: u8 = 5;

/// A TLV type. Unknown types survive as `Other` so nothing is lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlvType {
    /// One byte of padding: type only, no length, no value (RFC 8754 §2.1.1.1).
    Pad1,
    /// 2 to 7 bytes of padding (RFC 8754 §2.1.1.2).
    PadN,
    /// HMAC TLV (RFC 8754 §2.1.2).
    Hmac,
    Other(u8),
}

impl From<u8> for TlvType {
    fn from(value: u8) -> Self {
        match value {
            PAD1 => TlvType::Pad1,
            PADN => TlvType::PadN,
            HMAC => TlvType::Hmac,
            v => TlvType::Other(v),
        }
    }
}

impl From<TlvType> for u8 {
    fn from(value: TlvType) -> Self {
        match value {
            TlvType::Pad1 => PAD1,
            TlvType::PadN => PADN,
            TlvType::Hmac => HMAC,
            TlvType::Other(v) => v,
        }
    }
}

/// One TLV, borrowing its value from the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    pub tlv_type: TlvType,
    /// `offset` is counted from the start of the TLV area.
    pub offset: usize,
    pub value: &'a [u8],
}

/// Iterator over a TLV area; yields one error and stops on a TLV whose length
/// runs past the end of the area.
#[derive(Debug, Clone)]
pub struct TlvIter<'a> {
    area: &'a [u8],
    pos: usize,
    failed: bool,
}

impl<'a> TlvIter<'a> {
    pub fn new(area: &'a [u8]) -> Self {
        TlvIter {
            area,
            pos: 0,
            failed: false,
        }
    }
}

impl<'a> Iterator for TlvIter<'a> {
    type Item = Result<Tlv<'a>, SrhError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let offset = self.pos;
        let rest = self.area.get(offset..).filter(|r| !r.is_empty())?;
        let tlv_type = TlvType::from(rest[0]);
        if tlv_type == TlvType::Pad1 {
            self.pos += 1;
            return Some(Ok(Tlv {
                tlv_type,
                offset,
                value: &[],
            }));
        }
        let value = rest
            .get(1)
            .and_then(|&len| rest.get(2..2 + usize::from(len)));
        match value {
            Some(value) => {
                self.pos += 2 + value.len();
                Some(Ok(Tlv {
                    tlv_type,
                    offset,
                    value,
                }))
            }
            None => {
                self.failed = true;
                Some(Err(SrhError::MalformedTlv {
                    offset,
                    tlv_type: rest[0],
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_pad1_padn_and_unknown() {
        let area = [0, 4, 1, 0, 0x80, 2, 0xaa, 0xbb];
        let tlvs: Vec<_> = TlvIter::new(&area)
            .collect::<Result<_, _>>()
            .expect("well formed");
        assert_eq!(tlvs.len(), 3);
        assert_eq!(tlvs[0].tlv_type, TlvType::Pad1);
        assert_eq!((tlvs[1].tlv_type, tlvs[1].offset), (TlvType::PadN, 1));
        assert_eq!(tlvs[1].value, &[0]);
        assert_eq!(tlvs[2].tlv_type, TlvType::Other(0x80));
        assert_eq!(tlvs[2].value, &[0xaa, 0xbb]);
        assert_eq!(u8::from(tlvs[2].tlv_type), 0x80);
    }

    #[test]
    fn overlong_tlv_is_one_error_then_stop() {
        let area = [0, 0, 5, 9, 1, 2, 3, 4];
        let items: Vec<_> = TlvIter::new(&area).collect();
        assert_eq!(items.len(), 3);
        assert_eq!(
            items[2],
            Err(SrhError::MalformedTlv {
                offset: 2,
                tlv_type: 5
            })
        );
        // A lone type byte at the end has no length byte.
        let items: Vec<_> = TlvIter::new(&[4]).collect();
        assert_eq!(
            items,
            vec![Err(SrhError::MalformedTlv {
                offset: 0,
                tlv_type: 4
            })]
        );
    }
}
