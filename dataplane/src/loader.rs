//! Load the client or server programs, attach them to an interface of the
//! calling thread's network namespace, and keep their maps.
//!
//! Everything attached is detached when the [`ClientDataplane`] or
//! [`ServerDataplane`] is dropped (TCX and XDP links close with their file
//! descriptors; a netlink/clsact fallback is removed by aya, by ifindex, so
//! drop it on the thread that attached it, in the same namespace).
use std::net::Ipv6Addr;
use std::time::Duration;

use aya::maps::lpm_trie::{Key as LpmKey, LpmTrie};
use aya::maps::{Array, HashMap, MapData, MapError, PerCpuArray};
use aya::programs::tc::{NlOptions, TcAttachOptions};
use aya::programs::{
    ProgramError, SchedClassifier, TcAttachType, TestRun, TestRunOptions, Xdp, XdpMode,
};
use aya::{Ebpf, EbpfError, EbpfLoader};
use ipnet::Ipv6Net;
use tracing::{debug, warn};

use crate::maps::{
    map_name, wire_handoff, ClientConfig, Counter, Counters, DnsEntry, DnsName, DnsNameError,
    FlowKey, FlowValue, Handoff, Proto, ServerConfig, ServiceValue,
};
pub use crate::paths::{PathEntry, PathWriter};
use crate::programs;
use srh::{self, SrhError};

/// Where the ingress program runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IngressHook {
    /// TC ingress: keeps GRO, measured faster on veth (the lab's default).
    #[default]
    Tc,
    /// XDP in the driver (best on real NICs; on veth it costs GSO/GRO).
    XdpNative,
    /// Generic (skb) XDP: works everywhere, turns GRO off on the device.
    XdpGeneric,
}

impl std::str::FromStr for IngressHook {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "tc" => Ok(IngressHook::Tc),
            "xdp" | "xdp-native" => Ok(IngressHook::XdpNative),
            "xdp-generic" | "xdp-skb" => Ok(IngressHook::XdpGeneric),
            other => Err(format!(
                "unknown ingress hook {other:?}: expected tc, xdp-native or xdp-generic"
            )),
        }
    }
}

/// What can go wrong in the dataplane API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataplaneError {
    #[error("loading the {object} eBPF object: {source}")]
    Load {
        object: &'static str,
        source: Box<EbpfError>,
    },
    #[error("program {program}: {source}")]
    Program {
        program: &'static str,
        source: Box<ProgramError>,
    },
    #[error("attaching {program} to {interface}: {source}")]
    Attach {
        program: &'static str,
        interface: String,
        source: Box<ProgramError>,
    },
    #[error("map {map}: {source}")]
    Map {
        map: &'static str,
        source: Box<MapError>,
    },
    #[error("the object has no {what} named {name}")]
    Missing {
        what: &'static str,
        name: &'static str,
    },
    #[error("invalid path: {0}")]
    Path(#[from] SrhError),
    #[error("{0}")]
    DnsName(#[from] DnsNameError),
    #[error("a path holds at most {max} SIDs, got {got}")]
    TooManySids { got: usize, max: usize },
    #[error("{role} {address} cannot be used in a path: {reason}")]
    UnusableAddress {
        role: &'static str,
        address: Ipv6Addr,
        reason: &'static str,
    },
    #[error("{interface}: {source}")]
    Device {
        interface: String,
        source: crate::netdev::NetdevError,
    },
    #[error(
        "{interface} is not an Ethernet device ({link_type}): the programs parse Ethernet frames"
    )]
    NotEthernet {
        interface: String,
        link_type: String,
    },
    #[error(
        "{interface} has BIG TCP enabled (gso_max_size {gso_max_size}, gro_max_size {gro_max_size}): \
         packets over 64 KiB carry no IPv6 payload length to steer or strip by; \
         cap it first: ip link set {interface} gso_max_size 65536 gro_max_size 65536"
    )]
    BigTcp {
        interface: String,
        gso_max_size: u32,
        gro_max_size: u32,
    },
    #[error("opening a netlink socket for route lookups: {source}")]
    Routes { source: crate::netdev::NetdevError },
    #[error("not attached to an interface")]
    NotAttached,
    #[error("{program} is already attached to {interface}")]
    AlreadyAttached {
        program: &'static str,
        interface: String,
    },
}

pub(crate) type Result<T> = std::result::Result<T, DataplaneError>;

pub(crate) fn map_err(map: &'static str) -> impl Fn(MapError) -> DataplaneError {
    move |source| DataplaneError::Map {
        map,
        source: Box::new(source),
    }
}

fn prog_err(program: &'static str) -> impl Fn(ProgramError) -> DataplaneError {
    move |source| DataplaneError::Program {
        program,
        source: Box::new(source),
    }
}

/// One run of a program under `BPF_PROG_TEST_RUN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutput {
    /// The program's return value (TC_ACT_* or XDP_*).
    pub action: u32,
    /// The packet as the program left it.
    pub frame: Vec<u8>,
    /// The kernel's own measurement of the run.
    pub duration: Duration,
}

/// TC return codes (`linux/pkt_cls.h`).
pub const TC_ACT_OK: u32 = 0;
pub const TC_ACT_SHOT: u32 = 2;
/// An encapsulated packet: handed to the first SID's neighbour (`bpf_redirect_neigh`).
pub const TC_ACT_REDIRECT: u32 = 7;
/// XDP return codes.
pub const XDP_DROP: u32 = 1;
pub const XDP_PASS: u32 = 2;

/// Room the kernel may need to grow a packet in a test run (the largest SRH).
const TEST_RUN_HEADROOM: usize = crate::maps::MAX_SRH_LEN + 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tc,
    Xdp,
}

#[derive(Debug)]
enum Attachment {
    Tc {
        program: &'static str,
        link: aya::programs::tc::SchedClassifierLinkId,
    },
    Xdp {
        program: &'static str,
        link: aya::programs::xdp::XdpLinkId,
    },
}

/// A loaded object with the programs it loaded and the links it holds.
#[derive(Debug)]
struct Loaded {
    object: &'static str,
    ebpf: Ebpf,
    attachments: Vec<Attachment>,
    interface: Option<String>,
}

impl Loaded {
    fn new(
        object: &'static str,
        bytes: &[u8],
        max_entries: &[(&'static str, u32)],
    ) -> Result<Self> {
        let mut loader = EbpfLoader::new();
        for (map, entries) in max_entries {
            loader.map_max_entries(map, *entries);
        }
        let ebpf = loader.load(bytes).map_err(|source| DataplaneError::Load {
            object,
            source: Box::new(source),
        })?;
        Ok(Loaded {
            object,
            ebpf,
            attachments: Vec::new(),
            interface: None,
        })
    }

    fn load_program(&mut self, name: &'static str, kind: Kind) -> Result<()> {
        let program = self.ebpf.program_mut(name).ok_or(DataplaneError::Missing {
            what: "program",
            name,
        })?;
        match kind {
            Kind::Tc => {
                let p: &mut SchedClassifier = program.try_into().map_err(prog_err(name))?;
                p.load().map_err(prog_err(name))?;
            }
            Kind::Xdp => {
                let p: &mut Xdp = program.try_into().map_err(prog_err(name))?;
                p.load().map_err(prog_err(name))?;
            }
        }
        debug!(object = self.object, program = name, "loaded");
        Ok(())
    }

    fn attach_tc(
        &mut self,
        name: &'static str,
        interface: &str,
        direction: TcAttachType,
    ) -> Result<()> {
        let program = self.ebpf.program_mut(name).ok_or(DataplaneError::Missing {
            what: "program",
            name,
        })?;
        let p: &mut SchedClassifier = program.try_into().map_err(prog_err(name))?;
        // TCX on kernels that have it; aya falls back to netlink by itself
        // only on old kernels, so fall back here when TCX is refused.
        let link = match p.attach(interface, direction) {
            Ok(link) => link,
            Err(tcx_err) => {
                warn!(program = name, interface, error = %tcx_err, "TCX attach failed; trying clsact");
                if let Err(err) = aya::programs::tc::qdisc_add_clsact(interface) {
                    // An existing clsact qdisc is fine.
                    debug!(interface, error = %err, "clsact qdisc not added");
                }
                p.attach_with_options(
                    interface,
                    direction,
                    TcAttachOptions::Netlink(NlOptions::default()),
                )
                .map_err(|source| DataplaneError::Attach {
                    program: name,
                    interface: interface.to_string(),
                    source: Box::new(source),
                })?
            }
        };
        self.attachments.push(Attachment::Tc {
            program: name,
            link,
        });
        Ok(())
    }

    fn attach_xdp(&mut self, name: &'static str, interface: &str, mode: XdpMode) -> Result<()> {
        let program = self.ebpf.program_mut(name).ok_or(DataplaneError::Missing {
            what: "program",
            name,
        })?;
        let p: &mut Xdp = program.try_into().map_err(prog_err(name))?;
        let link = p
            .attach(interface, mode)
            .map_err(|source| DataplaneError::Attach {
                program: name,
                interface: interface.to_string(),
                source: Box::new(source),
            })?;
        self.attachments.push(Attachment::Xdp {
            program: name,
            link,
        });
        Ok(())
    }

    /// Attach egress + the chosen ingress program; on any failure detach
    /// what was attached (nothing half-built stays on the interface).
    fn attach(
        &mut self,
        interface: &str,
        egress: &'static str,
        ingress_tc: &'static str,
        ingress_xdp: &'static str,
        hook: IngressHook,
    ) -> Result<()> {
        if let Some(current) = &self.interface {
            return Err(DataplaneError::AlreadyAttached {
                program: egress,
                interface: current.clone(),
            });
        }
        check_device(interface)?;
        let result = (|| {
            self.attach_tc(egress, interface, TcAttachType::Egress)?;
            match hook {
                IngressHook::Tc => self.attach_tc(ingress_tc, interface, TcAttachType::Ingress),
                IngressHook::XdpNative => self.attach_xdp(ingress_xdp, interface, XdpMode::Driver),
                IngressHook::XdpGeneric => self.attach_xdp(ingress_xdp, interface, XdpMode::Skb),
            }
        })();
        match result {
            Ok(()) => {
                self.interface = Some(interface.to_string());
                Ok(())
            }
            Err(err) => {
                self.detach();
                Err(err)
            }
        }
    }

    fn detach(&mut self) {
        for attachment in std::mem::take(&mut self.attachments) {
            let (name, result) = match attachment {
                Attachment::Tc { program, link } => (
                    program,
                    self.ebpf
                        .program_mut(program)
                        .and_then(|p| <&mut SchedClassifier>::try_from(p).ok())
                        .map(|p| p.detach(link)),
                ),
                Attachment::Xdp { program, link } => (
                    program,
                    self.ebpf
                        .program_mut(program)
                        .and_then(|p| <&mut Xdp>::try_from(p).ok())
                        .map(|p| p.detach(link)),
                ),
            };
            if let Some(Err(err)) = result {
                warn!(program = name, error = %err, "detach failed");
            }
        }
        self.interface = None;
    }

    fn test_run(&self, name: &'static str, frame: &[u8]) -> Result<RunOutput> {
        let program = self.ebpf.program(name).ok_or(DataplaneError::Missing {
            what: "program",
            name,
        })?;
        let mut out = vec![0u8; frame.len() + TEST_RUN_HEADROOM];
        let result = if let Ok(p) = <&SchedClassifier>::try_from(program) {
            p.test_run(TestRunOptions {
                data_in: Some(frame),
                data_out: Some(&mut out),
                ..TestRunOptions::new()
            })
        } else {
            let p: &Xdp = program.try_into().map_err(prog_err(name))?;
            p.test_run(TestRunOptions {
                data_in: Some(frame),
                data_out: Some(&mut out),
                ..TestRunOptions::new()
            })
        }
        .map_err(prog_err(name))?;
        out.truncate(result.data_size_out as usize);
        Ok(RunOutput {
            action: result.return_value,
            frame: out,
            duration: result.duration,
        })
    }

    /// The kernel's run statistics of a loaded program.
    fn program_stats(&self, name: &'static str) -> Result<ProgramStats> {
        let program = self.ebpf.program(name).ok_or(DataplaneError::Missing {
            what: "program",
            name,
        })?;
        let info = program.info().map_err(prog_err(name))?;
        Ok(ProgramStats {
            program: name,
            run_count: info.run_count(),
            run_time: info.run_time(),
        })
    }

    fn hash<K: aya::Pod, V: aya::Pod>(
        &self,
        name: &'static str,
    ) -> Result<HashMap<&MapData, K, V>> {
        let map = self
            .ebpf
            .map(name)
            .ok_or(DataplaneError::Missing { what: "map", name })?;
        HashMap::try_from(map).map_err(map_err(name))
    }

    fn hash_mut<K: aya::Pod, V: aya::Pod>(
        &mut self,
        name: &'static str,
    ) -> Result<HashMap<&mut MapData, K, V>> {
        let map = self
            .ebpf
            .map_mut(name)
            .ok_or(DataplaneError::Missing { what: "map", name })?;
        HashMap::try_from(map).map_err(map_err(name))
    }

    fn add_local_address(&mut self, addr: Ipv6Addr) -> Result<()> {
        let mut map = self.hash_mut::<[u8; 16], u32>(map_name::LOCAL_ADDRS)?;
        map.insert(addr.octets(), 1, 0)
            .map_err(map_err(map_name::LOCAL_ADDRS))
    }

    fn remove_local_address(&mut self, addr: Ipv6Addr) -> Result<bool> {
        let mut map = self.hash_mut::<[u8; 16], u32>(map_name::LOCAL_ADDRS)?;
        remove_if_present(&mut map, &addr.octets(), map_name::LOCAL_ADDRS)
    }

    fn local_addresses(&self) -> Result<Vec<Ipv6Addr>> {
        let map = self.hash::<[u8; 16], u32>(map_name::LOCAL_ADDRS)?;
        let mut out: Vec<Ipv6Addr> = map
            .keys()
            .map(|k| k.map(Ipv6Addr::from))
            .collect::<std::result::Result<_, _>>()
            .map_err(map_err(map_name::LOCAL_ADDRS))?;
        out.sort();
        Ok(out)
    }

    /// Entry 0 of a one-entry configuration array.
    fn config<V: aya::Pod>(&self, name: &'static str) -> Result<V> {
        let map = self
            .ebpf
            .map(name)
            .ok_or(DataplaneError::Missing { what: "map", name })?;
        let array: Array<&MapData, V> = Array::try_from(map).map_err(map_err(name))?;
        array.get(&0, 0).map_err(map_err(name))
    }

    /// Write entry 0 of a one-entry configuration array.
    fn set_config<V: aya::Pod>(&mut self, name: &'static str, value: V) -> Result<()> {
        let map = self
            .ebpf
            .map_mut(name)
            .ok_or(DataplaneError::Missing { what: "map", name })?;
        let mut array: Array<&mut MapData, V> = Array::try_from(map).map_err(map_err(name))?;
        array.set(0, value, 0).map_err(map_err(name))
    }

    fn counters(&self) -> Result<Counters> {
        let name = map_name::COUNTERS;
        let map = self
            .ebpf
            .map(name)
            .ok_or(DataplaneError::Missing { what: "map", name })?;
        let array: PerCpuArray<&MapData, u64> =
            PerCpuArray::try_from(map).map_err(map_err(name))?;
        let mut counters = Counters::default();
        for counter in Counter::ALL {
            let per_cpu = array.get(&(counter as u32), 0).map_err(map_err(name))?;
            counters.values[counter as usize] = per_cpu.iter().sum();
        }
        Ok(counters)
    }
}

impl Drop for Loaded {
    fn drop(&mut self) {
        self.detach();
    }
}

/// The devices the programs can work on: Ethernet framing (they parse a
/// 14-byte header), and no BIG TCP (a packet over 64 KiB has IPv6 payload
/// length 0, so it could be neither steered nor stripped).
fn check_device(interface: &str) -> Result<crate::netdev::LinkInfo> {
    let info = crate::netdev::link_info(interface).map_err(|source| DataplaneError::Device {
        interface: interface.to_string(),
        source,
    })?;
    if !info.is_ethernet() {
        return Err(DataplaneError::NotEthernet {
            interface: interface.to_string(),
            link_type: format!("{:?}", info.link_type),
        });
    }
    if info.big_tcp() {
        return Err(DataplaneError::BigTcp {
            interface: interface.to_string(),
            gso_max_size: info.gso_max_size,
            gro_max_size: info.gro_max_size,
        });
    }
    Ok(info)
}

pub(crate) fn remove_if_present<T: std::borrow::BorrowMut<MapData>, K: aya::Pod, V: aya::Pod>(
    map: &mut HashMap<T, K, V>,
    key: &K,
    name: &'static str,
) -> Result<bool> {
    match map.remove(key) {
        Ok(()) => Ok(true),
        Err(err) if is_not_found(&err) => Ok(false),
        Err(err) => Err(map_err(name)(err)),
    }
}

/// aya reports a missing key on delete as the syscall's ENOENT.
pub(crate) fn is_not_found(err: &MapError) -> bool {
    match err {
        MapError::KeyNotFound => true,
        MapError::SyscallError(e) => e.io_error.raw_os_error() == Some(libc::ENOENT),
        _ => false,
    }
}

/// What the kernel measured of one program while BPF statistics were
/// enabled (`kernel.bpf_stats_enabled=1`, or `aya::sys::enable_stats`):
/// every run on real traffic, not a test run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProgramStats {
    pub program: &'static str,
    /// Runs (packets for XDP, skbs for TC: a GSO skb is one run).
    pub run_count: u64,
    /// Time spent in those runs.
    pub run_time: Duration,
}

impl ProgramStats {
    /// Mean time per run, if it ran.
    pub fn per_run(&self) -> Option<Duration> {
        let runs = u32::try_from(self.run_count).ok().filter(|n| *n > 0)?;
        Some(self.run_time / runs)
    }

    /// Runs and time between `before` and `self` (same program).
    pub fn since(&self, before: &ProgramStats) -> ProgramStats {
        ProgramStats {
            program: self.program,
            run_count: self.run_count.saturating_sub(before.run_count),
            run_time: self.run_time.saturating_sub(before.run_time),
        }
    }
}

/// A flow the server learned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LearnedFlow {
    pub peer: Ipv6Addr,
    pub port: u16,
    pub proto: u8,
    /// The reversed segment list, wire order: `[0]` is the peer.
    pub segments: Vec<Ipv6Addr>,
}

/// Which client program, for [`ClientDataplane::test_run`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientProgram {
    Egress,
    IngressTc,
    IngressXdp,
}

impl ClientProgram {
    pub const fn name(self) -> &'static str {
        match self {
            ClientProgram::Egress => "client_egress",
            ClientProgram::IngressTc => "client_ingress_tc",
            ClientProgram::IngressXdp => "client_ingress_xdp",
        }
    }
}

/// Which server program, for [`ServerDataplane::test_run`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerProgram {
    IngressTc,
    IngressXdp,
    Egress,
}

impl ServerProgram {
    pub const fn name(self) -> &'static str {
        match self {
            ServerProgram::IngressTc => "server_ingress_tc",
            ServerProgram::IngressXdp => "server_ingress_xdp",
            ServerProgram::Egress => "server_egress",
        }
    }
}

/// The programs of one side: which object, which programs.
#[derive(Debug)]
pub struct RolePrograms {
    object: &'static str,
    bytes: &'static [u8],
    egress: &'static str,
    ingress_tc: &'static str,
    ingress_xdp: &'static str,
}

/// A side of the system: [`Client`] or [`Server`].
pub trait Role {
    const PROGRAMS: RolePrograms;
}

/// The client side: egress insert, ingress strip + DNS snooping.
#[derive(Debug)]
pub enum Client {}

/// The server side: ingress learn + strip, egress re-insert.
#[derive(Debug)]
pub enum Server {}

impl Role for Client {
    const PROGRAMS: RolePrograms = RolePrograms {
        object: "client",
        bytes: programs::CLIENT_OBJECT,
        egress: ClientProgram::Egress.name(),
        ingress_tc: ClientProgram::IngressTc.name(),
        ingress_xdp: ClientProgram::IngressXdp.name(),
    };
}

impl Role for Server {
    const PROGRAMS: RolePrograms = RolePrograms {
        object: "server",
        bytes: programs::SERVER_OBJECT,
        egress: ServerProgram::Egress.name(),
        ingress_tc: ServerProgram::IngressTc.name(),
        ingress_xdp: ServerProgram::IngressXdp.name(),
    };
}

/// The loaded programs and maps of one side. Use the aliases
/// [`ClientDataplane`] and [`ServerDataplane`].
#[derive(Debug)]
pub struct Dataplane<R: Role> {
    loaded: Loaded,
    role: std::marker::PhantomData<R>,
}

/// The client programs and maps.
pub type ClientDataplane = Dataplane<Client>;
/// The server programs and maps.
pub type ServerDataplane = Dataplane<Server>;

impl<R: Role> Dataplane<R> {
    /// Load (verify) every program of the side; nothing is attached yet.
    fn load_role(max_entries: &[(&'static str, u32)]) -> Result<Self> {
        let programs = &R::PROGRAMS;
        let mut loaded = Loaded::new(programs.object, programs.bytes, max_entries)?;
        loaded.load_program(programs.egress, Kind::Tc)?;
        loaded.load_program(programs.ingress_tc, Kind::Tc)?;
        loaded.load_program(programs.ingress_xdp, Kind::Xdp)?;
        Ok(Dataplane {
            loaded,
            role: std::marker::PhantomData,
        })
    }

    /// Attach egress and the chosen ingress program to `interface` in this
    /// thread's namespace: both or, on failure, neither.
    pub fn attach(&mut self, interface: &str, hook: IngressHook) -> Result<()> {
        let programs = &R::PROGRAMS;
        self.loaded.attach(
            interface,
            programs.egress,
            programs.ingress_tc,
            programs.ingress_xdp,
            hook,
        )
    }

    /// Detach from the interface (also done on drop).
    pub fn detach(&mut self) {
        self.loaded.detach();
    }

    pub fn interface(&self) -> Option<&str> {
        self.loaded.interface.as_deref()
    }

    /// The route MTU to give a destination before writing a path of `sids`
    /// to it: the attached device's MTU less the SRH the path adds
    /// ([`crate::mtu::route_mtu`]). Whoever writes paths keeps this duty:
    /// lower the destination's route MTU before a path grows (live sockets
    /// then size their segments to fit, and TCP re-segments what is in
    /// flight), raise it only after the path shrinks or goes.
    pub fn route_mtu(&self, sids: &[Ipv6Addr]) -> Result<u32> {
        let interface = self
            .loaded
            .interface
            .as_deref()
            .ok_or(DataplaneError::NotAttached)?;
        let info =
            crate::netdev::link_info(interface).map_err(|source| DataplaneError::Device {
                interface: interface.to_string(),
                source,
            })?;
        let mtu = crate::mtu::route_mtu(info.mtu as usize, sids.len());
        Ok(u32::try_from(mtu).unwrap_or(u32::MAX))
    }

    /// Addresses of this host: SRHs are stripped (and learned) only when addressed to one.
    pub fn add_local_address(&mut self, addr: Ipv6Addr) -> Result<()> {
        self.loaded.add_local_address(addr)
    }

    pub fn remove_local_address(&mut self, addr: Ipv6Addr) -> Result<bool> {
        self.loaded.remove_local_address(addr)
    }

    pub fn local_addresses(&self) -> Result<Vec<Ipv6Addr>> {
        self.loaded.local_addresses()
    }

    /// Per-CPU counters, summed.
    pub fn counters(&self) -> Result<Counters> {
        self.loaded.counters()
    }

    /// Kernel run statistics of egress and both ingress programs.
    pub fn program_stats(&self) -> Result<Vec<ProgramStats>> {
        let programs = &R::PROGRAMS;
        [programs.egress, programs.ingress_tc, programs.ingress_xdp]
            .into_iter()
            .map(|name| self.loaded.program_stats(name))
            .collect()
    }
}

/// Options of the client programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientOptions {
    /// Capacity of the DNS-learned address table. A full table drops its
    /// expired entries, then refuses new answers (counted `dns_ignored`).
    pub dns_capacity: u32,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions { dns_capacity: 4096 }
    }
}

/// An address learned by DNS snooping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DnsLearned {
    pub address: Ipv6Addr,
    pub service_id: u32,
    /// Time left of the answer's TTL (zero once expired: the entry goes
    /// when a packet next looks it up, or when a full table makes room).
    pub expires_in: Duration,
}

/// CLOCK_MONOTONIC now, the clock of `bpf_ktime_get_ns`.
fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(ts.tv_nsec).unwrap_or(0)
}

impl Dataplane<Client> {
    /// Load (verify) every client program with the default options; nothing
    /// is attached yet.
    pub fn load() -> Result<Self> {
        Self::load_with(ClientOptions::default())
    }

    /// Load (verify) every client program with `options`.
    pub fn load_with(options: ClientOptions) -> Result<Self> {
        Self::load_role(&[(map_name::CLIENT_DNS, options.dns_capacity)])
    }

    /// The resolvers whose DNS replies are believed (the namespace's
    /// resolv.conf), replacing the previous set. A reply is read only when
    /// it comes from one of them to a local address and answers a query
    /// (resolver, port, ID) seen leaving; with none, nothing is learned.
    pub fn set_resolvers(&mut self, resolvers: &[Ipv6Addr]) -> Result<()> {
        let name = map_name::CLIENT_RESOLVERS;
        let mut map = self.loaded.hash_mut::<[u8; 16], u32>(name)?;
        let old: Vec<[u8; 16]> = map
            .keys()
            .collect::<std::result::Result<_, _>>()
            .map_err(map_err(name))?;
        for key in old {
            remove_if_present(&mut map, &key, name)?;
        }
        for resolver in resolvers {
            map.insert(resolver.octets(), 1, 0).map_err(map_err(name))?;
        }
        Ok(())
    }

    /// The configured resolvers, sorted.
    pub fn resolvers(&self) -> Result<Vec<Ipv6Addr>> {
        let name = map_name::CLIENT_RESOLVERS;
        let map = self.loaded.hash::<[u8; 16], u32>(name)?;
        let mut out: Vec<Ipv6Addr> = map
            .keys()
            .map(|k| k.map(Ipv6Addr::from))
            .collect::<std::result::Result<_, _>>()
            .map_err(map_err(name))?;
        out.sort();
        Ok(out)
    }

    /// A writer of this client's paths that works from any thread (the
    /// maps are the same; the programs need not be on that thread).
    pub fn path_writer(&self) -> Result<PathWriter> {
        PathWriter::from_ebpf(&self.loaded.ebpf)
    }

    /// Steer (destination, port, proto) along `sids` (travel order),
    /// replacing any previous path. See [`PathWriter::set_path`].
    pub fn set_path(
        &mut self,
        destination: Ipv6Addr,
        port: u16,
        proto: Proto,
        sids: &[Ipv6Addr],
    ) -> Result<()> {
        self.path_writer()?.set_path(destination, port, proto, sids)
    }

    /// [`PathWriter::set_path_with`]: with the handoff given.
    pub fn set_path_with(
        &mut self,
        destination: Ipv6Addr,
        port: u16,
        proto: Proto,
        sids: &[Ipv6Addr],
        handoff: Handoff,
    ) -> Result<()> {
        self.path_writer()?
            .set_path_with(destination, port, proto, sids, handoff)
    }

    /// Choose the handoff of every [`Handoff::Auto`] path again from the
    /// routes as they are now. See [`PathWriter::refresh_routes`].
    pub fn refresh_routes(&mut self) -> Result<usize> {
        self.path_writer()?.refresh_routes()
    }

    /// Stop steering (destination, port, proto). False if there was no path.
    pub fn remove_path(&mut self, destination: Ipv6Addr, port: u16, proto: Proto) -> Result<bool> {
        self.path_writer()?.remove_path(destination, port, proto)
    }

    /// Every configured path, sorted.
    pub fn paths(&self) -> Result<Vec<PathEntry>> {
        self.path_writer()?.paths()
    }

    /// Standalone mode: the path for every address DNS snooping learns for `service_id`.
    pub fn set_service_path(
        &mut self,
        service_id: u32,
        port: u16,
        proto: Proto,
        sids: &[Ipv6Addr],
    ) -> Result<()> {
        self.path_writer()?
            .set_service_path(service_id, port, proto, sids)
    }

    pub fn remove_service_path(
        &mut self,
        service_id: u32,
        port: u16,
        proto: Proto,
    ) -> Result<bool> {
        self.path_writer()?
            .remove_service_path(service_id, port, proto)
    }

    /// Snoop DNS replies whose question is `name` and map their AAAA answers to `service_id`.
    pub fn add_dns_name(&mut self, name: &str, service_id: u32) -> Result<()> {
        let key = DnsName::new(name)?;
        let mut map = self
            .loaded
            .hash_mut::<DnsName, ServiceValue>(map_name::CLIENT_NAMES)?;
        map.insert(key, ServiceValue { service_id, pad: 0 }, 0)
            .map_err(map_err(map_name::CLIENT_NAMES))?;
        self.update_dns_names()
    }

    pub fn remove_dns_name(&mut self, name: &str) -> Result<bool> {
        let key = DnsName::new(name)?;
        let mut map = self
            .loaded
            .hash_mut::<DnsName, ServiceValue>(map_name::CLIENT_NAMES)?;
        let removed = remove_if_present(&mut map, &key, map_name::CLIENT_NAMES)?;
        self.update_dns_names()?;
        Ok(removed)
    }

    /// Tell the egress program whether any name is snooped (it skips the
    /// DNS-learned lookup otherwise).
    fn update_dns_names(&mut self) -> Result<()> {
        let names = self
            .loaded
            .hash::<DnsName, ServiceValue>(map_name::CLIENT_NAMES)?
            .keys()
            .count();
        let config = ClientConfig {
            dns_names: u32::try_from(names).unwrap_or(u32::MAX),
            pad: 0,
        };
        self.loaded.set_config(map_name::CLIENT_CONFIG, config)
    }

    /// Every address in the DNS-learned table (expired ones included until
    /// they are removed), sorted.
    pub fn dns_entries(&self) -> Result<Vec<DnsLearned>> {
        let name = map_name::CLIENT_DNS;
        let map = self.loaded.hash::<[u8; 16], DnsEntry>(name)?;
        let now = monotonic_ns();
        let mut out = Vec::new();
        for item in map.iter() {
            let (addr, entry) = item.map_err(map_err(name))?;
            out.push(DnsLearned {
                address: Ipv6Addr::from(addr),
                service_id: entry.service_id,
                expires_in: Duration::from_nanos(entry.expires_ns.saturating_sub(now)),
            });
        }
        out.sort_by_key(|e| e.address);
        Ok(out)
    }

    /// Addresses learned by DNS snooping whose TTL has not run out, with
    /// their service, sorted.
    pub fn dns_addresses(&self) -> Result<Vec<(Ipv6Addr, u32)>> {
        Ok(self
            .dns_entries()?
            .into_iter()
            .filter(|e| !e.expires_in.is_zero())
            .map(|e| (e.address, e.service_id))
            .collect())
    }

    /// Run one program on `frame` with `BPF_PROG_TEST_RUN` (repeat 1).
    pub fn test_run(&self, program: ClientProgram, frame: &[u8]) -> Result<RunOutput> {
        self.loaded.test_run(program.name(), frame)
    }
}

/// Who may set a return path: the sources whose SRHs the server learns
/// from. There is no default: learning from anyone is a choice to spell out.
///
/// The check looks at the IPv6 source, which a sender can forge; inside the
/// trusted domain, filtering forged sources is the network edge's job (RFC
/// 8754 §5.1, §7). Whatever the trust, a list naming a multicast,
/// link-local, loopback, unspecified, IPv4-compatible/-mapped or local
/// address is never learned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// Only sources inside these prefixes (an empty list: nobody).
    Prefixes(Vec<Ipv6Net>),
    /// Any source: for an SR domain whose edge drops forged sources, or a
    /// closed lab.
    Any,
}

/// Options of the server programs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerOptions {
    /// Capacity of the learned-flow LRU map.
    pub max_flows: u32,
    /// Whose return paths are learned.
    pub trust: Trust,
    /// How replies reach their first SID. `Auto` (the default): keep the
    /// stack's neighbour when the flow's request arrived from it, else
    /// hand the reply to the first SID's neighbour.
    pub handoff: Handoff,
}

impl ServerOptions {
    /// The default capacity (65,536 flows) with `trust`, handoff `Auto`.
    pub fn new(trust: Trust) -> Self {
        ServerOptions {
            max_flows: 65536,
            trust,
            handoff: Handoff::Auto,
        }
    }
}

impl Dataplane<Server> {
    /// Load (verify) every server program and apply `options`; nothing is
    /// attached yet.
    pub fn load(options: ServerOptions) -> Result<Self> {
        let mut server = Self::load_role(&[(map_name::SERVER_FLOWS, options.max_flows)])?;
        server.set_handoff(options.handoff)?;
        server.set_trust(&options.trust)?;
        Ok(server)
    }

    /// Replace whose return paths are learned (flows already learned stay).
    pub fn set_trust(&mut self, trust: &Trust) -> Result<()> {
        let name = map_name::TRUSTED_PREFIXES;
        let prefixes: &[Ipv6Net] = match trust {
            Trust::Prefixes(prefixes) => prefixes,
            Trust::Any => &[],
        };
        {
            let map = self
                .loaded
                .ebpf
                .map_mut(name)
                .ok_or(DataplaneError::Missing { what: "map", name })?;
            let mut trie: LpmTrie<&mut MapData, [u8; 16], u32> =
                LpmTrie::try_from(map).map_err(map_err(name))?;
            let old: Vec<LpmKey<[u8; 16]>> = trie
                .keys()
                .collect::<std::result::Result<_, _>>()
                .map_err(map_err(name))?;
            for key in old {
                trie.remove(&key).map_err(map_err(name))?;
            }
            for net in prefixes {
                let key = LpmKey::new(u32::from(net.prefix_len()), net.network().octets());
                trie.insert(&key, 1, 0).map_err(map_err(name))?;
            }
        }
        self.update_config(|config| config.trust_any = u32::from(*trust == Trust::Any))
    }

    /// How replies of flows learned from now on reach their first SID
    /// (see [`ServerOptions::handoff`]).
    pub fn set_handoff(&mut self, handoff: Handoff) -> Result<()> {
        self.update_config(|config| {
            config.handoff = match handoff {
                Handoff::Auto => wire_handoff::LEARNED_AUTO,
                Handoff::Neighbour => wire_handoff::LEARNED_NEIGHBOUR,
                Handoff::Stack => wire_handoff::LEARNED_STACK,
            }
        })
    }

    fn update_config(&mut self, change: impl FnOnce(&mut ServerConfig)) -> Result<()> {
        let name = map_name::SERVER_CONFIG;
        let mut config: ServerConfig = self.loaded.config(name)?;
        change(&mut config);
        self.loaded.set_config(name, config)
    }

    /// Every learned flow with a path, sorted (withdrawn ones are left out).
    pub fn flows(&self) -> Result<Vec<LearnedFlow>> {
        let map = self
            .loaded
            .hash::<FlowKey, FlowValue>(map_name::SERVER_FLOWS)?;
        let mut out = Vec::new();
        for item in map.iter() {
            let (key, value) = item.map_err(map_err(map_name::SERVER_FLOWS))?;
            if value.withdrawn() {
                continue;
            }
            let srh = value.in_use().to_srh()?;
            out.push(LearnedFlow {
                peer: key.address(),
                port: key.port,
                proto: key.proto,
                segments: srh.segments,
            });
        }
        out.sort_by_key(|f| (f.peer, f.port, f.proto));
        Ok(out)
    }

    /// The flow learned for (peer, port, proto), if any.
    pub fn flow(&self, peer: Ipv6Addr, port: u16, proto: Proto) -> Result<Option<LearnedFlow>> {
        let map = self
            .loaded
            .hash::<FlowKey, FlowValue>(map_name::SERVER_FLOWS)?;
        match map.get(&FlowKey::new(peer, port, proto), 0) {
            Ok(value) if value.withdrawn() => Ok(None),
            Ok(value) => Ok(Some(LearnedFlow {
                peer,
                port,
                proto: proto.number(),
                segments: value.in_use().to_srh()?.segments,
            })),
            Err(err) if is_not_found(&err) => Ok(None),
            Err(err) => Err(map_err(map_name::SERVER_FLOWS)(err)),
        }
    }

    /// Forget a learned flow; returns once no reply can still be reading it.
    pub fn forget_flow(&mut self, peer: Ipv6Addr, port: u16, proto: Proto) -> Result<bool> {
        let mut map = self
            .loaded
            .hash_mut::<FlowKey, FlowValue>(map_name::SERVER_FLOWS)?;
        let removed = remove_if_present(
            &mut map,
            &FlowKey::new(peer, port, proto),
            map_name::SERVER_FLOWS,
        )?;
        crate::paths::wait_for_readers();
        Ok(removed)
    }

    pub fn test_run(&self, program: ServerProgram, frame: &[u8]) -> Result<RunOutput> {
        self.loaded.test_run(program.name(), frame)
    }
}

/// No-op TC and XDP programs: the baseline the benchmarks compare against.
#[derive(Debug)]
pub struct NoopPrograms {
    loaded: Loaded,
}

impl NoopPrograms {
    pub fn load() -> Result<Self> {
        let mut loaded = Loaded::new("noop", programs::NOOP_OBJECT, &[])?;
        loaded.load_program("noop_tc", Kind::Tc)?;
        loaded.load_program("noop_xdp", Kind::Xdp)?;
        Ok(NoopPrograms { loaded })
    }

    /// Attach the no-op TC program to `interface` (ingress or egress) of this
    /// thread's namespace: the per-skb cost of running any program at all,
    /// measured on real traffic. Detached on drop.
    pub fn attach_tc(&mut self, interface: &str, direction: TcAttachType) -> Result<()> {
        self.loaded.attach_tc("noop_tc", interface, direction)
    }

    /// Attach the no-op XDP program to `interface` in driver mode. On veth
    /// that also turns on the device's NAPI, hence GRO ahead of TC ingress.
    pub fn attach_xdp_native(&mut self, interface: &str) -> Result<()> {
        self.loaded
            .attach_xdp("noop_xdp", interface, XdpMode::Driver)
    }

    /// Kernel run statistics of the no-op TC program (all its attachments).
    pub fn tc_stats(&self) -> Result<ProgramStats> {
        self.loaded.program_stats("noop_tc")
    }

    pub fn run_tc(&self, frame: &[u8]) -> Result<RunOutput> {
        self.loaded.test_run("noop_tc", frame)
    }

    pub fn run_xdp(&self, frame: &[u8]) -> Result<RunOutput> {
        self.loaded.test_run("noop_xdp", frame)
    }
}
