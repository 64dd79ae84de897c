//! Rust mirrors of the map layouts and counters in `bpf/include/srv6.h`.
//!
//! The C header is the definition; these `#[repr(C)]` types copy it field for
//! field (no implicit padding: explicit `pad` fields, `u32` rather than
//! `bool`). Tests check the sizes against the object files' maps and the
//! counter values against the header text.
use std::fmt;
use std::net::Ipv6Addr;

use srh::{self, Srh, SrhError};

/// Mirrors `MAX_SRH_LEN`: an SRH of `MAX_SEGMENTS` segments without TLVs.
pub const MAX_SRH_LEN: usize = srh::srh_len(srh::MAX_SEGMENTS);
/// Mirrors `DNS_NAME_LEN`.
pub const DNS_NAME_LEN: usize = 256;

pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;

/// Map names: the `SEC(".maps")` variables of `bpf/*.bpf.c` and
/// `bpf/include/srv6_helpers.h`, named once here (a test checks each against
/// the compiled objects, so a renamed map fails a test, not a call at run time).
pub mod map_name {
    /// `enum counter` → packets, per CPU (both objects).
    pub const COUNTERS: &str = "counters";
    /// Per-CPU scratch space of the programs (both objects).
    pub const SCRATCH: &str = "scratch_map";
    /// This host's addresses (both objects).
    pub const LOCAL_ADDRS: &str = "local_addrs";
    pub const CLIENT_PATHS: &str = "client_paths";
    pub const CLIENT_SERVICE_PATHS: &str = "client_service_paths";
    pub const CLIENT_NAMES: &str = "client_names";
    pub const CLIENT_DNS: &str = "client_dns";
    pub const CLIENT_RESOLVERS: &str = "client_resolvers";
    pub const DNS_QUERIES: &str = "dns_queries";
    pub const CLIENT_CONFIG: &str = "client_config";
    pub const SERVER_FLOWS: &str = "server_flows";
    pub const TRUSTED_PREFIXES: &str = "trusted_prefixes";
    pub const SERVER_CONFIG: &str = "server_config";

    /// Every map of the client object.
    pub const CLIENT_OBJECT: &[&str] = &[
        COUNTERS,
        SCRATCH,
        LOCAL_ADDRS,
        CLIENT_PATHS,
        CLIENT_SERVICE_PATHS,
        CLIENT_NAMES,
        CLIENT_DNS,
        CLIENT_RESOLVERS,
        DNS_QUERIES,
        CLIENT_CONFIG,
    ];
    /// Every map of the server object.
    pub const SERVER_OBJECT: &[&str] = &[
        COUNTERS,
        SCRATCH,
        LOCAL_ADDRS,
        SERVER_FLOWS,
        TRUSTED_PREFIXES,
        SERVER_CONFIG,
    ];
}

/// Transport protocols a path can be keyed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub const fn number(self) -> u8 {
        match self {
            Proto::Tcp => IPPROTO_TCP,
            Proto::Udp => IPPROTO_UDP,
        }
    }

    pub const fn from_number(n: u8) -> Option<Proto> {
        match n {
            IPPROTO_TCP => Some(Proto::Tcp),
            IPPROTO_UDP => Some(Proto::Udp),
            _ => None,
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        })
    }
}

/// `struct flow_key`: (address, port, protocol). Port in host byte order.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub addr: [u8; 16],
    pub port: u16,
    pub proto: u8,
    pub pad: u8,
}

impl FlowKey {
    pub fn new(addr: Ipv6Addr, port: u16, proto: Proto) -> Self {
        FlowKey {
            addr: addr.octets(),
            port,
            proto: proto.number(),
            pad: 0,
        }
    }

    pub fn address(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.addr)
    }
}

/// `struct service_key`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServiceKey {
    pub service_id: u32,
    pub port: u16,
    pub proto: u8,
    pub pad: u8,
}

impl ServiceKey {
    pub fn new(service_id: u32, port: u16, proto: Proto) -> Self {
        ServiceKey {
            service_id,
            port,
            proto: proto.number(),
            pad: 0,
        }
    }
}

/// `struct srh_blob`: a ready-to-insert SRH (see the C header for why).
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SrhBlob {
    pub srh_len: u16,
    pub n_segments: u8,
    /// `enum handoff` ([`wire_handoff`]).
    pub handoff: u8,
    /// `HANDOFF_UNLESS_VIA`: the neighbour a learned flow's request came from.
    pub via_mac: [u8; 6],
    /// User space only: 1 when the path writer chose the handoff from the
    /// routes ([`Handoff::Auto`]), so that it re-chooses it when they change.
    pub routed: u8,
    pub pad: [u8; 5],
    pub first_hop: [u8; 16],
    pub srh: [u8; MAX_SRH_LEN],
}

/// How a packet leaves once its SRH is in: the stack chose the route and
/// neighbour for the final destination, and the packet now goes to the
/// first SID (see `enum handoff` in the C header and docs/dataplane.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Handoff {
    /// Decide when the path is written. Client paths: compare the routes
    /// the first SID and the final destination take (device and gateway,
    /// `ip route get`); the same gateway on the same device means the
    /// stack's neighbour leads to the SID ([`Handoff::Stack`]), anything
    /// else ([`Handoff::Neighbour`]). Learned flows: the stack's neighbour
    /// is kept when the request arrived from it.
    #[default]
    Auto,
    /// Hand every packet to the first SID's neighbour (`bpf_redirect_neigh`:
    /// a route lookup and a second pass through the egress path per packet).
    /// Right whatever the routes do later.
    Neighbour,
    /// Keep the stack's route and neighbour: only where they reach the first SID.
    Stack,
}

/// Values of `enum handoff` (and of `server_config.handoff`, `enum
/// learned_handoff`), mirrored from the C header (a test checks them).
pub mod wire_handoff {
    pub const STACK: u8 = 0;
    pub const NEIGHBOUR: u8 = 1;
    pub const UNLESS_VIA: u8 = 2;
    pub const LEARNED_AUTO: u32 = 0;
    pub const LEARNED_NEIGHBOUR: u32 = 1;
    pub const LEARNED_STACK: u32 = 2;
}

impl fmt::Debug for SrhBlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_srh() {
            Ok(srh) => write!(f, "SrhBlob({srh})"),
            Err(err) => write!(f, "SrhBlob(invalid: {err})"),
        }
    }
}

impl SrhBlob {
    /// The blob a source inserts for `sids` (travel order) in front of a
    /// `next_header` payload. Segment 0 (the final destination) is written
    /// per packet by the program, so it is left unspecified here.
    pub fn for_path(next_header: u8, sids: &[Ipv6Addr]) -> Result<Self, SrhError> {
        let srh = Srh::from_travel_order(next_header, Ipv6Addr::UNSPECIFIED, sids)?;
        Self::from_srh(&srh)
    }

    /// The blob for an SRH as the source inserts it (`segments_left ==
    /// last_entry`; TLVs are not carried).
    pub fn from_srh(srh: &Srh) -> Result<Self, SrhError> {
        if srh.segments.len() > srh::MAX_SEGMENTS {
            return Err(SrhError::TooManySegments {
                got: srh.segments.len(),
                max: srh::MAX_SEGMENTS,
            });
        }
        let first_hop = srh.active_segment().ok_or(SrhError::EmptySidList)?;
        let mut plain = srh.clone();
        plain.tlvs.clear();
        let mut blob = SrhBlob {
            srh_len: 0,
            n_segments: 0,
            handoff: wire_handoff::NEIGHBOUR,
            via_mac: [0; 6],
            routed: 0,
            pad: [0; 5],
            first_hop: first_hop.octets(),
            srh: [0; MAX_SRH_LEN],
        };
        let len = plain.write_into(&mut blob.srh)?;
        // Bounded by MAX_SRH_LEN (280) and MAX_SEGMENTS (17) above.
        blob.srh_len = len as u16;
        blob.n_segments = plain.segments.len() as u8;
        Ok(blob)
    }

    /// The blob with the handoff of a client path: `decided` (`Auto`
    /// counts as `Neighbour`), chosen from the routes or not (`routed`).
    pub fn with_handoff(mut self, decided: Handoff, routed: bool) -> Self {
        self.handoff = match decided {
            Handoff::Stack => wire_handoff::STACK,
            Handoff::Neighbour | Handoff::Auto => wire_handoff::NEIGHBOUR,
        };
        self.routed = u8::from(routed);
        self
    }

    /// The handoff stored in the blob (a learned flow's `UNLESS_VIA` is `Auto`).
    pub fn handoff(&self) -> Handoff {
        match self.handoff {
            wire_handoff::STACK => Handoff::Stack,
            wire_handoff::NEIGHBOUR => Handoff::Neighbour,
            _ => Handoff::Auto,
        }
    }

    pub fn to_srh(&self) -> Result<Srh, SrhError> {
        let len = usize::from(self.srh_len).min(MAX_SRH_LEN);
        Srh::parse(&self.srh[..len]).map(|(srh, _)| srh)
    }
}

/// `struct path_value`: a client path behind the lock that lets user space
/// replace it in place (`BPF_F_LOCK`) while programs copy it out.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathValue {
    /// `struct bpf_spin_lock`: the kernel skips it on copies; always 0 here.
    pub lock: u32,
    pub pad: u32,
    pub blob: SrhBlob,
}

impl PathValue {
    pub fn new(blob: SrhBlob) -> Self {
        PathValue {
            lock: 0,
            pad: 0,
            blob,
        }
    }
}

/// `struct flow_value`: a learned return path in two copies and the
/// sequence word saying which is in use (see the C header).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowValue {
    /// Bit 0: a writer is at work; the rest: the generation, whose low bit
    /// names the copy in use.
    pub seq: u32,
    pub pad: u32,
    pub blob: [SrhBlob; 2],
}

impl FlowValue {
    /// The SRH the flow uses now.
    pub fn in_use(&self) -> &SrhBlob {
        &self.blob[((self.seq >> 1) & 1) as usize]
    }

    /// Whether the path was withdrawn (an empty SRH: replies go plain).
    pub fn withdrawn(&self) -> bool {
        self.in_use().n_segments == 0
    }
}

/// `struct dns_name`: lower-case wire format, zero padded.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DnsName {
    pub wire: [u8; DNS_NAME_LEN],
}

impl fmt::Debug for DnsName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DnsName({})", self.to_text())
    }
}

/// A DNS name the dataplane refuses: the rule is the DNS library's
/// (`hickory_proto::rr::Name::from_ascii`, shared with the topology's
/// records through `topology::names`), never a second one written here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("DNS name {name:?} is not valid: {reason}")]
pub struct DnsNameError {
    pub name: String,
    pub reason: String,
}

impl DnsName {
    /// Encode `name` ("wb.hawk.net" or "wb.hawk.net.") in lower-case wire format.
    pub fn new(name: &str) -> Result<Self, DnsNameError> {
        let parsed =
            hickory_proto::rr::Name::from_ascii(name.trim()).map_err(|e| DnsNameError {
                name: name.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(Self::from_name(&parsed))
    }

    /// Encode a parsed name in lower-case wire format. A parsed name is at
    /// most 255 bytes on the wire (the library's rule), which the buffer holds.
    pub fn from_name(name: &hickory_proto::rr::Name) -> Self {
        let mut wire = [0u8; DNS_NAME_LEN];
        let mut pos = 0usize;
        for label in name.to_lowercase().iter() {
            if pos + 1 + label.len() >= DNS_NAME_LEN {
                break;
            }
            wire[pos] = label.len() as u8;
            wire[pos + 1..pos + 1 + label.len()].copy_from_slice(label);
            pos += 1 + label.len();
        }
        DnsName { wire }
    }

    /// The dotted text form (for status output).
    pub fn to_text(&self) -> String {
        let mut labels = Vec::new();
        let mut pos = 0usize;
        while pos < DNS_NAME_LEN {
            let len = usize::from(self.wire[pos]);
            if len == 0 || pos + 1 + len > DNS_NAME_LEN {
                break;
            }
            labels.push(String::from_utf8_lossy(&self.wire[pos + 1..pos + 1 + len]).into_owned());
            pos += 1 + len;
        }
        labels.join(".")
    }
}

/// `struct service_value`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceValue {
    pub service_id: u32,
    pub pad: u32,
}

/// `struct dns_entry`: a DNS-learned address's service and expiry.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DnsEntry {
    /// CLOCK_MONOTONIC nanoseconds (`bpf_ktime_get_ns`).
    pub expires_ns: u64,
    pub service_id: u32,
    pub pad: u32,
}

/// `struct client_config`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClientConfig {
    pub dns_names: u32,
    pub pad: u32,
}

/// `struct server_config`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServerConfig {
    /// 1: learn from any source; 0 (a fresh map): only from trusted prefixes.
    /// u32, not bool, to match the C layout exactly.
    pub trust_any: u32,
    /// `enum learned_handoff` ([`wire_handoff`]`::LEARNED_*`).
    pub handoff: u32,
}

// SAFETY: all of these are `#[repr(C)]`, made only of integers and byte
// arrays, with every padding byte spelled out as a field.
unsafe impl aya::Pod for FlowKey {}
unsafe impl aya::Pod for ServiceKey {}
unsafe impl aya::Pod for SrhBlob {}
unsafe impl aya::Pod for PathValue {}
unsafe impl aya::Pod for FlowValue {}
unsafe impl aya::Pod for DnsName {}
unsafe impl aya::Pod for ServiceValue {}
unsafe impl aya::Pod for DnsEntry {}
unsafe impl aya::Pod for ServerConfig {}
unsafe impl aya::Pod for ClientConfig {}

/// Decision counters, `enum counter` in the C header. Values never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u32)]
pub enum Counter {
    Passed = 0,
    Encapsulated = 1,
    Decapsulated = 2,
    Learned = 3,
    Malformed = 4,
    TooBig = 5,
    Fragment = 6,
    NotLocal = 7,
    Untrusted = 8,
    DnsLearned = 9,
    DnsIgnored = 10,
    Error = 11,
    MssClamped = 12,
    LearnUnchanged = 13,
    UnsafePath = 14,
    DnsUnsolicited = 15,
    DnsExpired = 16,
    Withdrawn = 17,
}

impl Counter {
    pub const ALL: [Counter; 18] = [
        Counter::Passed,
        Counter::Encapsulated,
        Counter::Decapsulated,
        Counter::Learned,
        Counter::Malformed,
        Counter::TooBig,
        Counter::Fragment,
        Counter::NotLocal,
        Counter::Untrusted,
        Counter::DnsLearned,
        Counter::DnsIgnored,
        Counter::Error,
        Counter::MssClamped,
        Counter::LearnUnchanged,
        Counter::UnsafePath,
        Counter::DnsUnsolicited,
        Counter::DnsExpired,
        Counter::Withdrawn,
    ];

    /// The C enumerator's name, e.g. `CNT_TOO_BIG`.
    pub const fn c_name(self) -> &'static str {
        match self {
            Counter::Passed => "CNT_PASSED",
            Counter::Encapsulated => "CNT_ENCAPSULATED",
            Counter::Decapsulated => "CNT_DECAPSULATED",
            Counter::Learned => "CNT_LEARNED",
            Counter::Malformed => "CNT_MALFORMED",
            Counter::TooBig => "CNT_TOO_BIG",
            Counter::Fragment => "CNT_FRAGMENT",
            Counter::NotLocal => "CNT_NOT_LOCAL",
            Counter::Untrusted => "CNT_UNTRUSTED",
            Counter::DnsLearned => "CNT_DNS_LEARNED",
            Counter::DnsIgnored => "CNT_DNS_IGNORED",
            Counter::Error => "CNT_ERROR",
            Counter::MssClamped => "CNT_MSS_CLAMPED",
            Counter::LearnUnchanged => "CNT_LEARN_UNCHANGED",
            Counter::UnsafePath => "CNT_UNSAFE_PATH",
            Counter::DnsUnsolicited => "CNT_DNS_UNSOLICITED",
            Counter::DnsExpired => "CNT_DNS_EXPIRED",
            Counter::Withdrawn => "CNT_WITHDRAWN",
        }
    }

    /// A short name for status output, e.g. `too_big`.
    pub fn name(self) -> String {
        self.c_name()
            .trim_start_matches("CNT_")
            .to_ascii_lowercase()
    }
}

/// Counter values summed over all CPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    pub values: [u64; Counter::ALL.len()],
}

impl Counters {
    pub fn get(&self, counter: Counter) -> u64 {
        self.values[counter as usize]
    }

    /// Counters that changed from `before` to `self` (for tests and status).
    pub fn delta(&self, before: &Counters) -> Counters {
        let mut values = [0u64; Counter::ALL.len()];
        for (i, v) in values.iter_mut().enumerate() {
            *v = self.values[i].saturating_sub(before.values[i]);
        }
        Counters { values }
    }

    /// (name, value) of the non-zero counters.
    pub fn non_zero(&self) -> Vec<(Counter, u64)> {
        Counter::ALL
            .iter()
            .map(|c| (*c, self.get(*c)))
            .filter(|(_, v)| *v != 0)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn layouts_match_the_c_header() {
        assert_eq!(std::mem::size_of::<FlowKey>(), 20);
        assert_eq!(std::mem::size_of::<ServiceKey>(), 8);
        assert_eq!(
            std::mem::size_of::<SrhBlob>(),
            2 + 1 + 1 + 6 + 1 + 5 + 16 + 280
        );
        assert_eq!(std::mem::size_of::<DnsName>(), 256);
        assert_eq!(std::mem::size_of::<ServiceValue>(), 8);
        assert_eq!(std::mem::size_of::<ServerConfig>(), 8);
        assert_eq!(std::mem::size_of::<ClientConfig>(), 8);
        assert_eq!(std::mem::size_of::<DnsEntry>(), 16);
        assert_eq!(std::mem::size_of::<PathValue>(), 8 + 312);
        assert_eq!(std::mem::size_of::<FlowValue>(), 8 + 2 * 312);
    }

    #[test]
    fn counter_values_match_the_c_header() {
        let header = include_str!("../bpf/include/srv6.h");
        for counter in Counter::ALL {
            let needle = format!("{} = {},", counter.c_name(), counter as u32);
            assert!(header.contains(&needle), "srv6.h lacks `{needle}`");
        }
        assert!(header.contains("COUNTER_MAX"));
        // Exactly as many enumerators as Rust knows about.
        let c_count = header
            .lines()
            .filter(|l| l.trim_start().starts_with("CNT_"))
            .count();
        assert_eq!(c_count, Counter::ALL.len());
    }

    #[test]
    fn handoff_values_match_the_c_header() {
        let header = include_str!("../bpf/include/srv6.h");
        for (name, value) in [
            ("HANDOFF_STACK", u32::from(wire_handoff::STACK)),
            ("HANDOFF_NEIGHBOUR", u32::from(wire_handoff::NEIGHBOUR)),
            ("HANDOFF_UNLESS_VIA", u32::from(wire_handoff::UNLESS_VIA)),
            ("LEARNED_HANDOFF_AUTO", wire_handoff::LEARNED_AUTO),
            ("LEARNED_HANDOFF_NEIGHBOUR", wire_handoff::LEARNED_NEIGHBOUR),
            ("LEARNED_HANDOFF_STACK", wire_handoff::LEARNED_STACK),
        ] {
            let needle = format!("{name} = {value},");
            assert!(header.contains(&needle), "srv6.h lacks `{needle}`");
        }
    }

    #[test]
    fn dns_names_encode_in_lower_case_wire_format() {
        let name = DnsName::new("WB.Hawk.net.").unwrap();
        assert_eq!(&name.wire[..13], b"\x02wb\x04hawk\x03net\x00");
        assert!(name.wire[13..].iter().all(|b| *b == 0));
        assert_eq!(name.to_text(), "wb.hawk.net");
        assert!(DnsName::new("a..b").is_err());
        assert!(DnsName::new(&"x".repeat(64)).is_err());
        let long = vec!["abcdefghi"; 26].join(".");
        assert!(DnsName::new(&long).is_err());
        let just_fits = vec!["abcdefghi"; 25].join("."); // 250 + 1 = 251 bytes
        assert!(DnsName::new(&just_fits).is_ok());
    }

    #[test]
    fn blob_round_trips_the_reference_srh() {
        let sids: Vec<Ipv6Addr> = [
            "fcbb:bb00:1::2",
            "fcbb:bb00:2::2",
            "fcbb:bb00:4::2",
            "fcbb:bb00:6::2",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        let srh =
            Srh::from_travel_order(IPPROTO_TCP, "fcbb:cc00:2::a".parse().unwrap(), &sids).unwrap();
        let blob = SrhBlob::from_srh(&srh).unwrap();
        assert_eq!(blob.srh_len, 8 + 16 * 5);
        assert_eq!(blob.n_segments, 5);
        assert_eq!(Ipv6Addr::from(blob.first_hop), sids[0]);
        assert_eq!(blob.to_srh().unwrap(), srh);
    }

    #[test]
    fn map_names_are_the_maps_of_the_compiled_objects() {
        use std::collections::BTreeSet;
        for (object, bytes, names) in [
            (
                "client",
                crate::programs::CLIENT_OBJECT,
                map_name::CLIENT_OBJECT,
            ),
            (
                "server",
                crate::programs::SERVER_OBJECT,
                map_name::SERVER_OBJECT,
            ),
        ] {
            let parsed = aya_obj::Object::parse(bytes).unwrap();
            // Sections such as .rodata are maps to libbpf too; only named maps count.
            let in_object: BTreeSet<&str> = parsed
                .maps
                .keys()
                .map(String::as_str)
                .filter(|name| !name.starts_with('.'))
                .collect();
            let named: BTreeSet<&str> = names.iter().copied().collect();
            assert_eq!(in_object, named, "{object} object");
        }
    }
}
