//! Writing the client's paths: the rule for what a path may name, the
//! writes themselves, and [`PathWriter`], which does them from any thread.

use std::net::Ipv6Addr;
use std::os::fd::AsFd;

use aya::maps::{HashMap, IterableMap, Map, MapData, MapError};
use aya::Ebpf;

use crate::loader::{map_err, remove_if_present, DataplaneError, Result};
use crate::maps::{map_name, FlowKey, PathValue, Proto, ServiceKey, SrhBlob};
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
}

/// Writes the client's paths. Its own handles on the client's maps: it can
/// live on another thread than the [`crate::ClientDataplane`] (which owns the
/// programs and their attachment).
///
/// A path is replaced in place under its lock (`BPF_F_LOCK`), and a removal
/// waits for an RCU grace period before returning, so a packet leaving
/// meanwhile carries one whole version of the path, never a mix.
#[derive(Debug)]
pub struct PathWriter {
    paths: HashMap<MapData, FlowKey, PathValue>,
    services: HashMap<MapData, ServiceKey, PathValue>,
    local: HashMap<MapData, [u8; 16], u32>,
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
        Ok(PathWriter {
            paths: handle_of(ebpf, map_name::CLIENT_PATHS)?,
            services: handle_of(ebpf, map_name::CLIENT_SERVICE_PATHS)?,
            local: handle_of(ebpf, map_name::LOCAL_ADDRS)?,
        })
    }

    /// Another writer on the same maps.
    pub fn try_clone(&self) -> Result<Self> {
        Ok(PathWriter {
            paths: own_handle(self.paths.map(), map_name::CLIENT_PATHS)?,
            services: own_handle(self.services.map(), map_name::CLIENT_SERVICE_PATHS)?,
            local: own_handle(self.local.map(), map_name::LOCAL_ADDRS)?,
        })
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
    /// replacing any previous path. Refuses more than `srh::MAX_SIDS` SIDs
    /// and any address [`crate::address::unusable`] or local.
    pub fn set_path(
        &mut self,
        destination: Ipv6Addr,
        port: u16,
        proto: Proto,
        sids: &[Ipv6Addr],
    ) -> Result<()> {
        check_path(Some(destination), sids, &self.local_addresses()?)?;
        let blob = SrhBlob::for_path(proto.number(), sids)?;
        let name = map_name::CLIENT_PATHS;
        self.paths
            .insert(
                FlowKey::new(destination, port, proto),
                PathValue::new(blob),
                BPF_F_LOCK,
            )
            .map_err(map_err(name))
    }

    /// Stop steering (destination, port, proto). False if there was no path.
    pub fn remove_path(&mut self, destination: Ipv6Addr, port: u16, proto: Proto) -> Result<bool> {
        let key = FlowKey::new(destination, port, proto);
        let removed = remove_if_present(&mut self.paths, &key, map_name::CLIENT_PATHS)?;
        wait_for_readers();
        Ok(removed)
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
            });
        }
        out.sort_by_key(|p| (p.destination, p.port, p.proto));
        Ok(out)
    }

    /// Standalone mode: the path for every address DNS snooping learns for `service_id`.
    pub fn set_service_path(
        &mut self,
        service_id: u32,
        port: u16,
        proto: Proto,
        sids: &[Ipv6Addr],
    ) -> Result<()> {
        check_path(None, sids, &self.local_addresses()?)?;
        let blob = SrhBlob::for_path(proto.number(), sids)?;
        let name = map_name::CLIENT_SERVICE_PATHS;
        self.services
            .insert(
                ServiceKey::new(service_id, port, proto),
                PathValue::new(blob),
                BPF_F_LOCK,
            )
            .map_err(map_err(name))
    }

    pub fn remove_service_path(
        &mut self,
        service_id: u32,
        port: u16,
        proto: Proto,
    ) -> Result<bool> {
        let key = ServiceKey::new(service_id, port, proto);
        let removed = remove_if_present(&mut self.services, &key, map_name::CLIENT_SERVICE_PATHS)?;
        wait_for_readers();
        Ok(removed)
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
