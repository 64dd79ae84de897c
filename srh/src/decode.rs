//! Decoding one captured Ethernet II frame into what the scenario asserter
//! checks: MACs, IPv6 addresses, hop limit, the SRH (anywhere in the
//! extension-header chain), the upper-layer protocol with its ports, and
//! where the upper-layer payload sits in the frame.
//!
//! etherparse slices the Ethernet header, the IPv6 header, the extension
//! headers and the transport header (it checks every length); the routing
//! header it finds is parsed by [`Srh::parse`], so a capture is judged by
//! the same strict rules as everything else that reads an SRH. A frame that
//! cannot be read yields a typed [`DecodeError`], never a panic.
//!
//! Frames must be whole: the IPv6 payload length must be covered by the
//! captured bytes (bytes past it are Ethernet padding and ignored). A
//! payload length of 0 on a longer frame is read as "the rest of the frame",
//! as etherparse does for jumbo and GSO super-packets.

use std::fmt;
use std::net::Ipv6Addr;
use std::ops::Range;

use etherparse::{
    err::packet::SliceError, IpNumber, Ipv6ExtensionSlice, LinkSlice, NetSlice, SlicedPacket,
    TransportSlice,
};

use crate::{Srh, SrhError, ROUTING_TYPE_SRH};

/// Why a frame could not be decoded.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// etherparse refused the Ethernet, IPv6, extension or transport header
    /// (too short, wrong version, hop-by-hop not first, bad TCP offset, ...).
    #[error("malformed frame: {0}")]
    Malformed(#[from] SliceError),
    /// The frame is not Ethernet II.
    #[error("not an Ethernet II frame")]
    NotEthernet,
    /// An Ethernet frame that does not carry IPv6 (ARP, IPv4, ...).
    #[error("not IPv6: ethertype {ether_type:#06x}")]
    NotIpv6 { ether_type: u16 },
    /// The routing header is an SRH that [`Srh::parse`] refuses; `offset`
    /// is where it starts in the frame.
    #[error("malformed SRH at byte {offset}: {source}")]
    Srh {
        offset: usize,
        #[source]
        source: SrhError,
    },
}

/// TCP flags (the low 8 bits of the flags field: CWR ECE URG ACK PSH RST SYN FIN).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;

    /// Whether every flag of `mask` is set.
    pub fn has(self, mask: u8) -> bool {
        self.0 & mask == mask
    }
}

/// `SYN,ACK`; `-` when no flag is set.
impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(u8, &str); 8] = [
            (TcpFlags::SYN, "SYN"),
            (TcpFlags::FIN, "FIN"),
            (TcpFlags::RST, "RST"),
            (TcpFlags::PSH, "PSH"),
            (TcpFlags::ACK, "ACK"),
            (TcpFlags::URG, "URG"),
            (TcpFlags::ECE, "ECE"),
            (TcpFlags::CWR, "CWR"),
        ];
        let names: Vec<&str> = NAMES
            .iter()
            .filter(|(bit, _)| self.has(*bit))
            .map(|(_, name)| *name)
            .collect();
        if names.is_empty() {
            f.write_str("-")
        } else {
            f.write_str(&names.join(","))
        }
    }
}

/// The upper-layer header after the IPv6 header and every extension header.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Upper {
    Tcp {
        src_port: u16,
        dst_port: u16,
        seq: u32,
        ack: u32,
        flags: TcpFlags,
    },
    Udp {
        src_port: u16,
        dst_port: u16,
        /// The UDP length field (header + payload).
        length: u16,
    },
    Icmpv6 {
        icmp_type: u8,
        code: u8,
    },
    /// A fragment other than the first, or a first fragment too short for
    /// its transport header: no ports (DESIGN §10).
    Fragment {
        protocol: u8,
    },
    /// Any other protocol (ESP, an unknown next header, ...).
    Other {
        protocol: u8,
    },
}

impl Upper {
    /// IP protocol number.
    pub fn protocol(&self) -> u8 {
        match self {
            Upper::Tcp { .. } => IpNumber::TCP.0,
            Upper::Udp { .. } => IpNumber::UDP.0,
            Upper::Icmpv6 { .. } => IpNumber::IPV6_ICMP.0,
            Upper::Fragment { protocol } | Upper::Other { protocol } => *protocol,
        }
    }

    /// `(source, destination)` ports of TCP and UDP.
    pub fn ports(&self) -> Option<(u16, u16)> {
        match self {
            Upper::Tcp {
                src_port, dst_port, ..
            }
            | Upper::Udp {
                src_port, dst_port, ..
            } => Some((*src_port, *dst_port)),
            _ => None,
        }
    }
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub src: Ipv6Addr,
    /// The IPv6 destination as on the wire (the active segment when an SRH is present).
    pub dst: Ipv6Addr,
    pub hop_limit: u8,
    /// The IPv6 payload length field.
    pub payload_len: u16,
    /// The SRH and its offset in the frame, wherever it sits in the extension chain.
    pub srh: Option<(Srh, usize)>,
    /// The type of a routing header that is not an SRH (it is then not parsed).
    pub other_routing_type: Option<u8>,
    pub upper: Upper,
    /// Bytes of the upper-layer payload in the frame: after the TCP/UDP/ICMPv6
    /// header, or the whole IP payload for other protocols and fragments.
    pub payload: Range<usize>,
}

impl Decoded {
    /// Where the packet finally goes: segment 0 of its SRH, else the IPv6 destination.
    pub fn final_destination(&self) -> Ipv6Addr {
        self.srh
            .as_ref()
            .and_then(|(srh, _)| srh.segments.first().copied())
            .unwrap_or(self.dst)
    }

    /// The SRH without its offset.
    pub fn srh(&self) -> Option<&Srh> {
        self.srh.as_ref().map(|(srh, _)| srh)
    }
}

/// Decode one frame (see the module docs).
pub fn decode(frame: &[u8]) -> Result<Decoded, DecodeError> {
    let sliced = SlicedPacket::from_ethernet(frame)?;
    let Some(LinkSlice::Ethernet2(eth)) = &sliced.link else {
        return Err(DecodeError::NotEthernet);
    };
    let ether_type = sliced.payload_ether_type().unwrap_or(eth.ether_type());
    let Some(NetSlice::Ipv6(ip)) = &sliced.net else {
        return Err(DecodeError::NotIpv6 {
            ether_type: ether_type.0,
        });
    };
    let header = ip.header();
    let (srh, other_routing_type) = routing_header(frame, ip.extensions())?;
    let ip_payload = ip.payload();
    let (upper, payload) = match &sliced.transport {
        Some(t) => transport(t),
        None if ip_payload.fragmented => (
            Upper::Fragment {
                protocol: ip_payload.ip_number.0,
            },
            ip_payload.payload,
        ),
        None => (
            Upper::Other {
                protocol: ip_payload.ip_number.0,
            },
            ip_payload.payload,
        ),
    };
    Ok(Decoded {
        src_mac: eth.source(),
        dst_mac: eth.destination(),
        src: header.source_addr(),
        dst: header.destination_addr(),
        hop_limit: header.hop_limit(),
        payload_len: header.payload_length(),
        srh,
        other_routing_type,
        upper,
        payload: offset_in(frame, payload),
    })
}

/// The routing header of a packet: an SRH with its offset, or another type.
type RoutingHeader = (Option<(Srh, usize)>, Option<u8>);

/// The routing header of the extension chain, parsed when it is an SRH.
fn routing_header(
    frame: &[u8],
    extensions: &etherparse::Ipv6ExtensionsSlice<'_>,
) -> Result<RoutingHeader, DecodeError> {
    for ext in extensions.clone() {
        let Ipv6ExtensionSlice::Routing(rh) = ext else {
            continue;
        };
        let bytes = rh.slice();
        let offset = offset_in(frame, bytes).start;
        // Byte 2 of every routing header is its type (RFC 8200 §4.4);
        // etherparse has checked that at least 8 bytes are there.
        let routing_type = bytes.get(2).copied().unwrap_or_default();
        if routing_type != ROUTING_TYPE_SRH {
            return Ok((None, Some(routing_type)));
        }
        let (srh, _) = Srh::parse(bytes).map_err(|source| DecodeError::Srh { offset, source })?;
        return Ok((Some((srh, offset)), None));
    }
    Ok((None, None))
}

fn transport<'a>(t: &TransportSlice<'a>) -> (Upper, &'a [u8]) {
    match t {
        TransportSlice::Tcp(tcp) => {
            let bits = [
                (tcp.fin(), TcpFlags::FIN),
                (tcp.syn(), TcpFlags::SYN),
                (tcp.rst(), TcpFlags::RST),
                (tcp.psh(), TcpFlags::PSH),
                (tcp.ack(), TcpFlags::ACK),
                (tcp.urg(), TcpFlags::URG),
                (tcp.ece(), TcpFlags::ECE),
                (tcp.cwr(), TcpFlags::CWR),
            ];
            let flags = bits
                .iter()
                .filter(|(set, _)| *set)
                .fold(0u8, |acc, (_, bit)| acc | bit);
            (
                Upper::Tcp {
                    src_port: tcp.source_port(),
                    dst_port: tcp.destination_port(),
                    seq: tcp.sequence_number(),
                    ack: tcp.acknowledgment_number(),
                    flags: TcpFlags(flags),
                },
                tcp.payload(),
            )
        }
        TransportSlice::Udp(udp) => (
            Upper::Udp {
                src_port: udp.source_port(),
                dst_port: udp.destination_port(),
                length: udp.length(),
            },
            udp.payload(),
        ),
        TransportSlice::Icmpv6(icmp) => {
            let header = icmp.slice();
            (
                Upper::Icmpv6 {
                    icmp_type: header.first().copied().unwrap_or_default(),
                    code: header.get(1).copied().unwrap_or_default(),
                },
                icmp.payload(),
            )
        }
        // An IPv6 frame never yields ICMPv4; keep the protocol number.
        TransportSlice::Icmpv4(icmp) => (
            Upper::Other {
                protocol: IpNumber::ICMP.0,
            },
            icmp.payload(),
        ),
    }
}

/// The position of `part` (a subslice of `frame`) inside `frame`.
fn offset_in(frame: &[u8], part: &[u8]) -> Range<usize> {
    // Plain address arithmetic on two slices of one buffer; clamped so a
    // slice that were not a subslice could not produce an absurd range.
    let start = (part.as_ptr() as usize)
        .saturating_sub(frame.as_ptr() as usize)
        .min(frame.len());
    start..(start + part.len()).min(frame.len())
}

fn fmt_mac(f: &mut fmt::Formatter<'_>, mac: &[u8; 6]) -> fmt::Result {
    for (i, b) in mac.iter().enumerate() {
        if i > 0 {
            f.write_str(":")?;
        }
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

/// One line for failure messages and listings:
/// `[fcbb:cc00:1::a]:40000 -> [fcbb:bb00:1::2]:5000 UDP len 18 | SRH SL 4 [fcbb:cc00:2::a, ...] | hl 64 | 02:00:00:00:00:0c -> 02:00:00:00:00:01`.
impl fmt::Display for Decoded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.upper.ports() {
            Some((sp, dp)) => write!(f, "[{}]:{sp} -> [{}]:{dp} ", self.src, self.dst)?,
            None => write!(f, "{} -> {} ", self.src, self.dst)?,
        }
        match &self.upper {
            Upper::Tcp {
                seq, ack, flags, ..
            } => write!(
                f,
                "TCP {flags} seq {seq} ack {ack} len {}",
                self.payload.len()
            )?,
            Upper::Udp { length, .. } => write!(f, "UDP len {length}")?,
            Upper::Icmpv6 { icmp_type, code } => write!(f, "ICMPv6 type {icmp_type} code {code}")?,
            Upper::Fragment { protocol } => write!(f, "fragment of protocol {protocol}")?,
            Upper::Other { protocol } => write!(f, "protocol {protocol}")?,
        }
        match (&self.srh, self.other_routing_type) {
            (Some((srh, _)), _) => {
                write!(f, " | SRH SL {} [", srh.segments_left)?;
                for (i, s) in srh.segments.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{s}")?;
                }
                f.write_str("]")?;
                if srh.flags != 0 || srh.tag != 0 || !srh.tlvs.is_empty() {
                    write!(
                        f,
                        " flags {:#04x} tag {} tlvs {}B",
                        srh.flags,
                        srh.tag,
                        srh.tlvs.len()
                    )?;
                }
            }
            (None, Some(t)) => write!(f, " | routing header type {t}")?,
            (None, None) => f.write_str(" | no SRH")?,
        }
        write!(f, " | hl {} | ", self.hop_limit)?;
        fmt_mac(f, &self.src_mac)?;
        f.write_str(" -> ")?;
        fmt_mac(f, &self.dst_mac)
    }
}
