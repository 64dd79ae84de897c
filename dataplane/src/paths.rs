//! Writing the client's paths: the rule for what a path may name, the
//! writes themselves, and [`PathWriter`], which does them from any thread.

use std::net::Ipv6Addr;
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex, PoisonError};

use aya::maps::{HashMap, IterableMap, Map, MapData, MapError};
use aya::Ebpf;

use tracing::debug;

use crate::loader::{map_err, remove_if_present, DataplaneError, Result};
use crate::maps::{map_name, FlowKey, Handoff, PathValue, Proto, ServiceKey, SrhBlob};
use crate::netdev::RouteSocket;
use srh;

/// `BPF_F_LOCK`: replace an existing value in place, under its spin lock.
const BPF_F_LOCK: u64 = 4;

/// `MEMBARRIER_CMD_GLOBAL` (linux/membarrier.h): in the kernel, synchronize_rcu().
const MEMBARRIER_CMD_GLOBAL: libc::c_long = 1;

/// Wait until no program run can still hold a map element removed before
/// this call (an RCU grace period: programs run inside RCU read sections).
/// A removed element is reused by the next insert; without the wait, a
/// packet still reading it could carry another path's bytes.
pub(crate) fn wait_for_readers() {
    // SAFETY: membarrier(2) takes no pointers.
    let rc = unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) };
    if rc != 0 {
        // nohz_full kernels refuse the global barrier; a program run lasts
        // microseconds, so a pause far longer than that stands in for it.
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A path as stored in the client maps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathEntry {
    pub destination: Ipv6Addr,
    pub port: u16,
    pub proto: Proto,
    /// Travel order.
    pub sids: Vec<Ipv6Addr>,
    /// How its packets reach the first SID: `Stack` or `Neighbour`, as
    /// chosen when the path was written (or last refreshed).
    pub handoff: Handoff,
}

/// Writes the client's paths. Its own handles on the client's maps: it can
/// live on another thread than the [`crate::ClientDataplane`] (which owns the
/// programs and their attachment).
///
/// A path is replaced in place under its lock (`BPF_F_LOCK`), and a removed
/// element is not reused before an RCU grace period, so a packet leaving
/// meanwhile carries one whole version of the path, never a mix:
/// [`PathWriter::remove_path`] waits before returning; a batch removes with
/// [`PathWriter::remove_path_deferred`] and waits once, in
/// [`PathWriter::wait_for_removals`] or before the writer's next write
/// (or when it is dropped), whichever comes first.
///
/// Routes are read (for [`Handoff::Auto`]) in the namespace of the thread
/// that made the writer (through a netlink socket opened there), whichever
/// thread writes.
#[derive(Debug)]
pub struct PathWriter {
    paths: HashMap<MapData, FlowKey, PathValue>,
    services: HashMap<MapData, ServiceKey, PathValue>,
    local: HashMap<MapData, [u8; 16], u32>,
    /// Shared by clones: one request at a time, each answer to its asker.
    routes: Arc<Mutex<RouteSocket>>,
    /// Elements removed since the last grace period: no write before one.
    removed_unwaited: bool,
}

/// A typed handle of our own on a hash map whose other handle is `map`.
fn own_handle<K: aya::Pod, V: aya::Pod>(
    map: &MapData,
    name: &'static str,
) -> Result<HashMap<MapData, K, V>> {
    let fd = map.fd().as_fd().try_clone_to_owned().map_err(|io_error| {
        map_err(name)(MapError::from(aya::sys::SyscallError {
            call: "dup",
            io_error,
        }))
    })?;
    let data = MapData::from_fd(fd).map_err(map_err(name))?;
    HashMap::try_from(Map::HashMap(data)).map_err(map_err(name))
}

/// A typed handle of our own on the hash map `name` of `ebpf`.
fn handle_of<K: aya::Pod, V: aya::Pod>(
    ebpf: &Ebpf,
    name: &'static str,
) -> Result<HashMap<MapData, K, V>> {
    let map = ebpf
        .map(name)
        .ok_or(DataplaneError::Missing { what: "map", name })?;
    let typed: HashMap<&MapData, K, V> = HashMap::try_from(map).map_err(map_err(name))?;
    own_handle(typed.map(), name)
}

impl PathWriter {
    pub(crate) fn from_ebpf(ebpf: &Ebpf) -> Result<Self> {
        let routes = RouteSocket::open().map_err(|source| DataplaneError::Routes { source })?;
        Ok(PathWriter {
            paths: handle_of(ebpf, map_name::CLIENT_PATHS)?,
            services: handle_of(ebpf, map_name::CLIENT_SERVICE_PATHS)?,
            local: handle_of(ebpf, map_name::LOCAL_ADDRS)?,
            routes: Arc::new(Mutex::new(routes)),
            removed_unwaited: false,
        })
    }

    /// Another writer on the same maps (and the same namespace's routes).
    pub fn try_clone(&self) -> Result<Self> {
        Ok(PathWriter {
            paths: own_handle(self.paths.map(), map_name::CLIENT_PATHS)?,
            services: own_handle(self.services.map(), map_name::CLIENT_SERVICE_PATHS)?,
            local: own_handle(self.local.map(), map_name::LOCAL_ADDRS)?,
            routes: Arc::clone(&self.routes),
            removed_unwaited: false,
        })
    }

    /// The handoff a path to `destination` whose first SID is `first_sid`
    /// needs, and whether it was chosen from the routes. `Auto` compares
    /// the two routes now: the same gateway on the same device is the same
    /// neighbour (`Stack`); an on-link destination, another gateway or
    /// device, a route that cannot be read, or no destination to compare
    /// (a service path) hands packets to the SID's neighbour.
    fn decide(
        &self,
        destination: Option<Ipv6Addr>,
        first_sid: Option<Ipv6Addr>,
        requested: Handoff,
    ) -> (Handoff, bool) {
        if requested != Handoff::Auto {
            return (requested, false);
        }
        let (Some(destination), Some(first_sid)) = (destination, first_sid) else {
            return (Handoff::Neighbour, true);
        };
        let routes = self.routes.lock().unwrap_or_else(PoisonError::into_inner);
        let hops = (routes.route_to(destination), routes.route_to(first_sid));
        let decided = match hops {
            (Ok(to_destination), Ok(to_sid))
                if to_sid.gateway.is_some() && to_sid == to_destination =>
            {
                Handoff::Stack
            }
            (Err(err), _) | (_, Err(err)) => {
                debug!(%destination, %first_sid, error = %err, "route not read: packets go to the SID's neighbour");
                Handoff::Neighbour
            }
            _ => Handoff::Neighbour,
        };
        (decided, true)
    }

    /// A path's value: its SRH and the handoff its packets need.
    fn path_value(
        &self,
        destination: Option<Ipv6Addr>,
        proto: Proto,
        sids: &[Ipv6Addr],
        handoff: Handoff,
    ) -> Result<PathValue> {
        check_path(destination, sids, &self.local_addresses()?)?;
        let (decided, routed) = self.decide(destination, sids.first().copied(), handoff);
        let blob = SrhBlob::for_path(proto.number(), sids)?.with_handoff(decided, routed);
        Ok(PathValue::new(blob))
    }

    fn local_addresses(&self) -> Result<Vec<Ipv6Addr>> {
        let name = map_name::LOCAL_ADDRS;
        self.local
            .keys()
            .map(|k| k.map(Ipv6Addr::from))
            .collect::<std::result::Result<_, _>>()
            .map_err(map_err(name))
    }

    /// Steer (destination, port, proto) along `sids` (travel order),
    /// replacing any previous path, with the handoff chosen from the
    /// routes ([`Handoff::Auto`]). Refuses more than `srh::MAX_SIDS` SIDs
    /// and any address [`crate::address::unusable`] or local.
    pub fn set_path(
        &mut self,
        destination: Ipv6Addr,
        port: u16,
        proto: Proto,
        sids: &[Ipv6Addr],
    ) -> Result<()> {
        self.set_path_with(destination, port, proto, sids, Handoff::Auto)
    }

    /// [`PathWriter::set_path`] with the handoff given.
    pub fn set_path_with(
        &mut self,
        destination: Ipv6Addr,
        port: u16,
        proto: Proto,
        sids: &[Ipv6Addr],
        handoff: Handoff,
    ) -> Result<()> {
        let value = self.path_value(Some(destination), proto, sids, handoff)?;
        self.wait_for_removals();
        let name = map_name::CLIENT_PATHS;
        self.paths
            .insert(FlowKey::new(destination, port, proto), value, BPF_F_LOCK)
            .map_err(map_err(name))
    }

    /// Choose again, from the routes as they are now, the handoff of every
    /// path written with [`Handoff::Auto`]; returns how many changed. Call
    /// it when routes change (the agent does on route events): a path keeps
    /// the choice made when it was written. Paths are rewritten whole, so a
    /// `set_path` of the same path on another thread at the same moment may
    /// be undone: write paths and refresh them from one thread.
    pub fn refresh_routes(&mut self) -> Result<usize> {
        self.wait_for_removals();
        let name = map_name::CLIENT_PATHS;
        let stored: Vec<(FlowKey, PathValue)> = self
            .paths
            .iter()
            .collect::<std::result::Result<_, _>>()
            .map_err(map_err(name))?;
        let mut changed = 0;
        for (key, mut value) in stored {
            if value.blob.routed == 0 {
                continue;
            }
            let first_sid = Some(Ipv6Addr::from(value.blob.first_hop));
            let (decided, _) = self.decide(Some(key.address()), first_sid, Handoff::Auto);
            if decided == value.blob.handoff() {
                continue;
            }
            value.blob = value.blob.with_handoff(decided, true);
            self.paths
                .insert(key, value, BPF_F_LOCK)
                .map_err(map_err(name))?;
            changed += 1;
        }
        Ok(changed)
    }

    /// Stop steering (destination, port, proto). False if there was no path.
    /// Returns after an RCU grace period: no packet still reads the path.
    pub fn remove_path(&mut self, destination: Ipv6Addr, port: u16, proto: Proto) -> Result<bool> {
        let removed = self.remove_path_deferred(destination, port, proto);
        self.wait_for_removals();
        removed
    }

    /// [`PathWriter::remove_path`] without the wait: packets already
    /// reading the path may still be. This writer waits for them (one RCU
    /// grace period for every removal since the last) before its next
    /// write, in [`PathWriter::wait_for_removals`], or when dropped; so n
    /// removals cost one grace period, not n.
    pub fn remove_path_deferred(
        &mut self,
        destination: Ipv6Addr,
        port: u16,
        proto: Proto,
    ) -> Result<bool> {
        let key = FlowKey::new(destination, port, proto);
        // Set before the delete: an error after a partial delete still waits.
        self.removed_unwaited = true;
        remove_if_present(&mut self.paths, &key, map_name::CLIENT_PATHS)
    }

    /// Wait for an RCU grace period if anything was removed since the last
    /// one (by the deferred removals): afterwards no program run holds a
    /// removed element, and its memory may carry another path.
    pub fn wait_for_removals(&mut self) {
        if std::mem::take(&mut self.removed_unwaited) {
            wait_for_readers();
        }
    }

    /// Every configured path, sorted.
    pub fn paths(&self) -> Result<Vec<PathEntry>> {
        let name = map_name::CLIENT_PATHS;
        let mut out = Vec::new();
        for item in self.paths.iter() {
            let (key, value) = item.map_err(map_err(name))?;
            let Some(proto) = Proto::from_number(key.proto) else {
                continue;
            };
            out.push(PathEntry {
                destination: key.address(),
                port: key.port,
                proto,
                sids: value.blob.to_srh()?.travel_order(),
                handoff: value.blob.handoff(),
            });
        }
        out.sort_by_key(|p| (p.destination, p.port, p.proto));
        Ok(out)
    }

    /// Standalone mode: the path for every address DNS snooping learns for
    /// `service_id`. Its destinations are not known when it is written, so
    /// [`Handoff::Auto`] hands every packet to the first SID's neighbour;
    /// see [`PathWriter::set_service_path_with`].
    pub fn set_service_path(
        &mut self,
        service_id: u32,
        port: u16,
        proto: Proto,
        sids: &[Ipv6Addr],
    ) -> Result<()> {
        self.set_service_path_with(service_id, port, proto, sids, Handoff::Auto)
    }

    /// [`PathWriter::set_service_path`] with the handoff given (`Stack`
    /// where every address of the service is reached through the first
    /// SID's gateway).
    pub fn set_service_path_with(
        &mut self,
        service_id: u32,
        port: u16,
        proto: Proto,
        sids: &[Ipv6Addr],
        handoff: Handoff,
    ) -> Result<()> {
        let value = self.path_value(None, proto, sids, handoff)?;
        self.wait_for_removals();
        let name = map_name::CLIENT_SERVICE_PATHS;
        self.services
            .insert(ServiceKey::new(service_id, port, proto), value, BPF_F_LOCK)
            .map_err(map_err(name))
    }

    pub fn remove_service_path(
        &mut self,
        service_id: u32,
        port: u16,
        proto: Proto,
    ) -> Result<bool> {
        let removed = self.remove_service_path_deferred(service_id, port, proto);
        self.wait_for_removals();
        removed
    }

    /// [`PathWriter::remove_service_path`] without the wait, as
    /// [`PathWriter::remove_path_deferred`].
    pub fn remove_service_path_deferred(
        &mut self,
        service_id: u32,
        port: u16,
        proto: Proto,
    ) -> Result<bool> {
        let key = ServiceKey::new(service_id, port, proto);
        self.removed_unwaited = true;
        remove_if_present(&mut self.services, &key, map_name::CLIENT_SERVICE_PATHS)
    }
}

impl Drop for PathWriter {
    /// Removals are not left unwaited: another writer's next insert could
    /// reuse their elements.
    fn drop(&mut self) {
        self.wait_for_removals();
    }
}

/// A path's addresses against the rule of [`crate::address`] and this
/// host's own addresses (a path through this host would loop).
fn check_path(destination: Option<Ipv6Addr>, sids: &[Ipv6Addr], local: &[Ipv6Addr]) -> Result<()> {
    if sids.len() > srh::MAX_SIDS {
        return Err(DataplaneError::TooManySids {
            got: sids.len(),
            max: srh::MAX_SIDS,
        });
    }
    let named = destination
        .map(|d| ("destination", d))
        .into_iter()
        .chain(sids.iter().map(|s| ("SID", *s)));
    for (role, address) in named {
        let reason = crate::address::unusable(address).or_else(|| {
            local
                .contains(&address)
                .then_some("an address of this host")
        });
        if let Some(reason) = reason {
            return Err(DataplaneError::UnusableAddress {
                role,
                address,
                reason,
            });
        }
    }
    Ok(())
}
