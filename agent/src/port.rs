//! The applier's port: the narrow set of dataplane operations the client
//! agent needs. The real implementation (aya maps, route MTUs) is
//! [`crate::dataplane_port`]; [`MemoryPort`] keeps the same state in memory
//! for tests and benchmarks that must not need root.

use std::collections::BTreeMap;
use std::net::Ipv6Addr;

use dataplane::Proto;

/// What the client egress program matches: (destination, port, protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PathKey {
    pub destination: Ipv6Addr,
    pub port: u16,
    pub proto: Proto,
}

impl std::fmt::Display for PathKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}]:{}/{}", self.destination, self.port, self.proto)
    }
}

/// Standalone mode: the path of every address DNS snooping learns for a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServicePathKey {
    pub service: u32,
    pub port: u16,
    pub proto: Proto,
}

/// A dataplane operation that failed.
#[derive(Debug, thiserror::Error)]
#[error("{operation}: {source}")]
pub struct PortError {
    pub operation: String,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl PortError {
    pub fn new(
        operation: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> PortError {
        PortError {
            operation: operation.into(),
            source: source.into(),
        }
    }
}

/// The maps as the dataplane holds them (status, tests).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortState {
    pub paths: BTreeMap<PathKey, Vec<Ipv6Addr>>,
    /// How each path's packets reach its first SID (`stack`, `neighbour`).
    pub handoffs: BTreeMap<PathKey, String>,
    pub service_paths: BTreeMap<ServicePathKey, Vec<Ipv6Addr>>,
    pub dns_names: BTreeMap<String, u32>,
    /// Addresses learned by DNS snooping, with their service id.
    pub dns_learned: Vec<(Ipv6Addr, u32)>,
    /// Route MTUs set for path destinations (the MTU duty).
    pub route_mtus: BTreeMap<Ipv6Addr, u32>,
    /// The resolvers whose DNS replies snooping believes.
    pub resolvers: Vec<Ipv6Addr>,
    /// This host's addresses as the dataplane knows them.
    pub local_addresses: Vec<Ipv6Addr>,
    /// Decision counters by name.
    pub counters: Vec<(String, u64)>,
}

/// The client dataplane as the applier sees it. Every method either does
/// its whole job or fails without a partial write of that one entry.
pub trait ClientPort {
    /// Steer `key` along `sids` (travel order, 1..=16), replacing any path.
    fn set_path(&mut self, key: PathKey, sids: &[Ipv6Addr]) -> Result<(), PortError>;
    /// Stop steering `key`. Packets already reading the path may still be
    /// until [`ClientPort::wait_for_removals`] (the port's next write waits
    /// for them first), so a batch of removals costs one wait.
    fn remove_path(&mut self, key: PathKey) -> Result<(), PortError>;
    fn set_service_path(&mut self, key: ServicePathKey, sids: &[Ipv6Addr])
        -> Result<(), PortError>;
    /// As [`ClientPort::remove_path`].
    fn remove_service_path(&mut self, key: ServicePathKey) -> Result<(), PortError>;
    /// Return when no packet reads a path removed before (one RCU grace
    /// period if anything was removed since the last wait).
    fn wait_for_removals(&mut self);
    /// Routes changed: choose again how each path's packets reach its first
    /// SID (docs/dataplane.md, "Handoff"); returns how many paths changed.
    fn refresh_routes(&mut self) -> Result<usize, PortError>;
    /// Snoop DNS replies for `name` (lower case, no trailing dot).
    fn add_dns_name(&mut self, name: &str, service: u32) -> Result<(), PortError>;
    fn remove_dns_name(&mut self, name: &str) -> Result<(), PortError>;
    /// The MTU duty: before a path of `sids` SIDs to `destination` is
    /// written (and after the last one is removed, with `None`), size the
    /// destination's route so senders leave room for the SRH.
    fn set_route_mtu(
        &mut self,
        destination: Ipv6Addr,
        sids: Option<usize>,
    ) -> Result<(), PortError>;
    /// Believe DNS replies only from these resolvers (resolv.conf's),
    /// replacing the previous set.
    fn set_resolvers(&mut self, resolvers: &[Ipv6Addr]) -> Result<(), PortError>;
    /// The interface's addresses now: only packets from one are steered,
    /// only SRHs addressed to one are stripped.
    fn set_local_addresses(&mut self, addresses: &[Ipv6Addr]) -> Result<(), PortError>;
    /// Read the maps back.
    fn read(&self) -> Result<PortState, PortError>;
}

/// An in-memory [`ClientPort`]: the maps as plain collections, a log of
/// every write, and an optional injected failure.
#[derive(Debug, Default)]
pub struct MemoryPort {
    pub state: PortState,
    /// Every successful operation, in order (`set_path [..]:80/tcp 4`, ...).
    pub log: Vec<String>,
    /// Fail the operation whose log line starts with this text.
    pub fail_on: Option<String>,
    /// The device MTU route MTUs are computed from.
    pub device_mtu: u32,
    /// Grace periods waited (a wait with removals before it).
    pub grace_periods: usize,
    removed_unwaited: bool,
}

impl MemoryPort {
    pub fn new() -> MemoryPort {
        MemoryPort {
            device_mtu: 1500,
            ..MemoryPort::default()
        }
    }

    fn record(&mut self, line: String) -> Result<(), PortError> {
        if self.fail_on.as_ref().is_some_and(|f| line.starts_with(f)) {
            return Err(PortError::new(line, "injected failure"));
        }
        self.log.push(line);
        Ok(())
    }
}

impl ClientPort for MemoryPort {
    fn set_path(&mut self, key: PathKey, sids: &[Ipv6Addr]) -> Result<(), PortError> {
        if sids.is_empty() || sids.len() > srh::MAX_SIDS {
            return Err(PortError::new(
                format!("set_path {key}"),
                format!("{} SIDs", sids.len()),
            ));
        }
        self.record(format!("set_path {key} {}", sids.len()))?;
        self.state.paths.insert(key, sids.to_vec());
        Ok(())
    }

    fn remove_path(&mut self, key: PathKey) -> Result<(), PortError> {
        self.record(format!("remove_path {key}"))?;
        self.removed_unwaited = true;
        self.state.paths.remove(&key);
        Ok(())
    }

    fn set_service_path(
        &mut self,
        key: ServicePathKey,
        sids: &[Ipv6Addr],
    ) -> Result<(), PortError> {
        self.record(format!(
            "set_service_path {}:{}/{} {}",
            key.service,
            key.port,
            key.proto,
            sids.len()
        ))?;
        self.state.service_paths.insert(key, sids.to_vec());
        Ok(())
    }

    fn remove_service_path(&mut self, key: ServicePathKey) -> Result<(), PortError> {
        self.record(format!(
            "remove_service_path {}:{}/{}",
            key.service, key.port, key.proto
        ))?;
        self.removed_unwaited = true;
        self.state.service_paths.remove(&key);
        Ok(())
    }

    fn wait_for_removals(&mut self) {
        if std::mem::take(&mut self.removed_unwaited) {
            self.grace_periods += 1;
        }
    }

    fn refresh_routes(&mut self) -> Result<usize, PortError> {
        self.record("refresh_routes".into())?;
        Ok(0)
    }

    fn add_dns_name(&mut self, name: &str, service: u32) -> Result<(), PortError> {
        self.record(format!("add_dns_name {name} {service}"))?;
        self.state.dns_names.insert(name.to_owned(), service);
        Ok(())
    }

    fn remove_dns_name(&mut self, name: &str) -> Result<(), PortError> {
        self.record(format!("remove_dns_name {name}"))?;
        self.state.dns_names.remove(name);
        Ok(())
    }

    fn set_route_mtu(
        &mut self,
        destination: Ipv6Addr,
        sids: Option<usize>,
    ) -> Result<(), PortError> {
        match sids {
            Some(n) => {
                let mtu = srh::mtu::route_mtu(self.device_mtu as usize, n) as u32;
                self.record(format!("route_mtu {destination} {mtu}"))?;
                self.state.route_mtus.insert(destination, mtu);
            }
            None => {
                self.record(format!("route_mtu {destination} restore"))?;
                self.state.route_mtus.remove(&destination);
            }
        }
        Ok(())
    }

    fn set_local_addresses(&mut self, addresses: &[Ipv6Addr]) -> Result<(), PortError> {
        self.record(format!("set_local_addresses {}", addresses.len()))?;
        self.state.local_addresses = addresses.to_vec();
        Ok(())
    }

    fn set_resolvers(&mut self, resolvers: &[Ipv6Addr]) -> Result<(), PortError> {
        self.record(format!("set_resolvers {}", resolvers.len()))?;
        self.state.resolvers = resolvers.to_vec();
        Ok(())
    }

    fn read(&self) -> Result<PortState, PortError> {
        Ok(self.state.clone())
    }
}
