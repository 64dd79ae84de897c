//! The real dataplane behind the agent: the `dataplane` crate's loader (aya
//! maps and programs) and the per-destination route MTUs. This is the one
//! file that calls the dataplane API, so a change of that API changes only
//! this file.
//!
//! The dataplane's trust model (docs/dataplane.md "Trust") reaches it
//! here: the server's [`Trust`] is an option of the load, the client's
//! resolvers come from resolv.conf ([`ClientPort::set_resolvers`]). The
//! MTU duty of whoever writes paths is `Routes`: a host route per steered
//! destination with `srh::mtu::route_mtu` of the path (the rule behind
//! `ClientDataplane::route_mtu`, applied to the route's own MTU when that is
//! lower than the device's), lowered before a path grows and raised after
//! it shrinks (the order is [`crate::apply`]'s).

use std::collections::BTreeMap;
use std::net::Ipv6Addr;

use dataplane::loader::{Dataplane, Role};
/// Whose packets may set a return path (the server's trust; no default).
pub use dataplane::Trust;
use dataplane::{
    ClientDataplane, ClientOptions, Counter, Counters, Handoff, IngressHook, PathWriter,
    ServerDataplane, ServerOptions,
};
use tracing::{info, warn};

use crate::netlink::{self, Interface, NextHop};
use crate::port::{ClientPort, PathKey, PortError, PortState, ServicePathKey};

fn op_err(operation: impl Into<String>) -> impl FnOnce(dataplane::DataplaneError) -> PortError {
    let operation = operation.into();
    move |e| PortError::new(operation, e)
}

/// Make the dataplane's local addresses (SRHs are stripped and learned
/// only when addressed to one; only packets from one are steered) equal
/// to `wanted`, the interface's addresses now.
fn sync_local_addresses<R: Role>(
    dp: &mut Dataplane<R>,
    wanted: &[Ipv6Addr],
) -> Result<(), PortError> {
    let held = dp.local_addresses().map_err(op_err("read local_addrs"))?;
    for addr in wanted.iter().filter(|a| !held.contains(a)) {
        dp.add_local_address(*addr)
            .map_err(op_err(format!("local address {addr}")))?;
    }
    for addr in held.iter().filter(|a| !wanted.contains(a)) {
        dp.remove_local_address(*addr)
            .map_err(op_err(format!("remove local address {addr}")))?;
    }
    Ok(())
}

/// How a stored path's packets reach the first SID, for reports.
fn handoff_name(handoff: Handoff) -> &'static str {
    match handoff {
        Handoff::Stack => "stack",
        Handoff::Neighbour => "neighbour",
        // Stored paths hold a decision; Auto only in a request.
        Handoff::Auto => "auto",
    }
}

/// Counters as (name, value), every counter.
pub fn counter_list(counters: &Counters) -> Vec<(String, u64)> {
    Counter::ALL
        .iter()
        .map(|c| (c.name(), counters.get(*c)))
        .collect()
}

/// Host routes sized for the paths through one interface (the MTU duty).
#[derive(Debug)]
struct Routes {
    runtime: tokio::runtime::Runtime,
    handle: rtnetlink::Handle,
    ifindex: u32,
    device_mtu: u32,
    /// Destinations with an agent route, and the next hop it copies.
    hops: BTreeMap<Ipv6Addr, NextHop>,
}

impl Routes {
    /// Own netlink connection on a small runtime of its own: the port runs
    /// on the owner thread, outside the agent's async tasks.
    fn new(interface: &Interface) -> Result<Routes, PortError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| PortError::new("route runtime", e))?;
        let handle = runtime
            .block_on(async { netlink::connect() })
            .map_err(|e| PortError::new("route netlink", e))?;
        let leftovers = runtime
            .block_on(netlink::delete_agent_routes(&handle, interface.index))
            .map_err(|e| PortError::new("remove leftover routes", e))?;
        if leftovers > 0 {
            info!(leftovers, "removed route MTUs a previous agent left behind");
        }
        Ok(Routes {
            runtime,
            handle,
            ifindex: interface.index,
            device_mtu: interface.mtu,
            hops: BTreeMap::new(),
        })
    }

    fn set(&mut self, destination: Ipv6Addr, sids: usize) -> Result<u32, PortError> {
        let what = format!("route MTU of {destination}");
        let hop = match self.hops.get(&destination) {
            Some(hop) => *hop,
            None => {
                let hop = self
                    .runtime
                    .block_on(netlink::next_hop(
                        &self.handle,
                        destination,
                        self.device_mtu,
                    ))
                    .map_err(|e| PortError::new(&what, e))?;
                if hop.oif != self.ifindex {
                    warn!(%destination, oif = hop.oif, "the route to this destination leaves through another interface");
                }
                hop
            }
        };
        let mtu = srh::mtu::route_mtu(hop.base_mtu as usize, sids) as u32;
        self.runtime
            .block_on(netlink::set_host_route_mtu(
                &self.handle,
                destination,
                &hop,
                mtu,
            ))
            .map_err(|e| PortError::new(&what, e))?;
        self.hops.insert(destination, hop);
        Ok(mtu)
    }

    fn remove(&mut self, destination: Ipv6Addr) -> Result<(), PortError> {
        let Some(hop) = self.hops.remove(&destination) else {
            return Ok(());
        };
        self.runtime
            .block_on(netlink::delete_host_route(&self.handle, destination, &hop))
            .map_err(|e| PortError::new(format!("route MTU of {destination}"), e))
    }
}

/// The client programs and maps, and the routes of their interface.
#[derive(Debug)]
pub struct ClientDataplanePort {
    dp: ClientDataplane,
    /// Writes and removes the paths: one writer, so removals are waited
    /// for once per batch and the handoffs are refreshed on this thread.
    writer: PathWriter,
    /// None when not attached (tests, benchmarks): no route is touched.
    routes: Option<Routes>,
    route_mtus: BTreeMap<Ipv6Addr, u32>,
}

impl ClientDataplanePort {
    /// Load (verify) the client programs without attaching them: the maps
    /// work, nothing steers traffic and no route is changed.
    pub fn load() -> Result<ClientDataplanePort, PortError> {
        ClientDataplanePort::load_with(ClientOptions::default())
    }

    /// [`ClientDataplanePort::load`] with `options` (map capacities).
    pub fn load_with(options: ClientOptions) -> Result<ClientDataplanePort, PortError> {
        let dp = ClientDataplane::load_with(options).map_err(op_err("load the client programs"))?;
        Ok(ClientDataplanePort {
            writer: dp.path_writer().map_err(op_err("open the path writer"))?,
            dp,
            routes: None,
            route_mtus: BTreeMap::new(),
        })
    }

    /// Load, register the interface's addresses (SRHs addressed to them
    /// are stripped), take over the interface's route MTUs and attach.
    pub fn attach(
        interface: &Interface,
        hook: IngressHook,
        options: ClientOptions,
    ) -> Result<ClientDataplanePort, PortError> {
        let mut port = ClientDataplanePort::load_with(options)?;
        sync_local_addresses(&mut port.dp, &interface.addresses)?;
        port.routes = Some(Routes::new(interface)?);
        port.dp
            .attach(&interface.name, hook)
            .map_err(op_err(format!("attach to {}", interface.name)))?;
        Ok(port)
    }

    /// Programs and hooks, for the start-up line.
    pub fn programs(hook: IngressHook) -> String {
        let ingress = match hook {
            IngressHook::Tc => "client_ingress_tc@tc-ingress",
            IngressHook::XdpNative => "client_ingress_xdp@xdp",
            IngressHook::XdpGeneric => "client_ingress_xdp@xdp-generic",
        };
        format!("client_egress@tc-egress, {ingress}")
    }
}

impl ClientPort for ClientDataplanePort {
    fn set_path(&mut self, key: PathKey, sids: &[Ipv6Addr]) -> Result<(), PortError> {
        self.writer
            .set_path(key.destination, key.port, key.proto, sids)
            .map_err(op_err(format!("set path {key}")))
    }

    fn remove_path(&mut self, key: PathKey) -> Result<(), PortError> {
        self.writer
            .remove_path_deferred(key.destination, key.port, key.proto)
            .map(|_| ())
            .map_err(op_err(format!("remove path {key}")))
    }

    fn set_service_path(
        &mut self,
        key: ServicePathKey,
        sids: &[Ipv6Addr],
    ) -> Result<(), PortError> {
        self.writer
            .set_service_path(key.service, key.port, key.proto, sids)
            .map_err(op_err(format!(
                "set service path {}:{}",
                key.service, key.port
            )))
    }

    fn remove_service_path(&mut self, key: ServicePathKey) -> Result<(), PortError> {
        self.writer
            .remove_service_path_deferred(key.service, key.port, key.proto)
            .map(|_| ())
            .map_err(op_err(format!(
                "remove service path {}:{}",
                key.service, key.port
            )))
    }

    fn wait_for_removals(&mut self) {
        self.writer.wait_for_removals();
    }

    fn refresh_routes(&mut self) -> Result<usize, PortError> {
        self.writer
            .refresh_routes()
            .map_err(op_err("refresh the paths' handoffs"))
    }

    fn add_dns_name(&mut self, name: &str, service: u32) -> Result<(), PortError> {
        self.dp
            .add_dns_name(name, service)
            .map_err(op_err(format!("snoop {name}")))
    }

    fn remove_dns_name(&mut self, name: &str) -> Result<(), PortError> {
        self.dp
            .remove_dns_name(name)
            .map(|_| ())
            .map_err(op_err(format!("stop snooping {name}")))
    }

    fn set_route_mtu(
        &mut self,
        destination: Ipv6Addr,
        sids: Option<usize>,
    ) -> Result<(), PortError> {
        let Some(routes) = self.routes.as_mut() else {
            return Ok(());
        };
        match sids {
            Some(n) => {
                let mtu = routes.set(destination, n)?;
                self.route_mtus.insert(destination, mtu);
            }
            None => {
                routes.remove(destination)?;
                self.route_mtus.remove(&destination);
            }
        }
        Ok(())
    }

    fn set_local_addresses(&mut self, addresses: &[Ipv6Addr]) -> Result<(), PortError> {
        sync_local_addresses(&mut self.dp, addresses)
    }

    fn set_resolvers(&mut self, resolvers: &[Ipv6Addr]) -> Result<(), PortError> {
        self.dp
            .set_resolvers(resolvers)
            .map_err(op_err("set the DNS resolvers"))
    }

    fn read(&self) -> Result<PortState, PortError> {
        let entries = self.writer.paths().map_err(op_err("read client_paths"))?;
        let mut paths = BTreeMap::new();
        let mut handoffs = BTreeMap::new();
        for p in entries {
            let key = PathKey {
                destination: p.destination,
                port: p.port,
                proto: p.proto,
            };
            handoffs.insert(key, handoff_name(p.handoff).to_owned());
            paths.insert(key, p.sids);
        }
        let counters = self.dp.counters().map_err(op_err("read counters"))?;
        Ok(PortState {
            paths,
            handoffs,
            dns_learned: self.dp.dns_addresses().map_err(op_err("read client_dns"))?,
            route_mtus: self.route_mtus.clone(),
            resolvers: self
                .dp
                .resolvers()
                .map_err(op_err("read client_resolvers"))?,
            local_addresses: self
                .dp
                .local_addresses()
                .map_err(op_err("read local_addrs"))?,
            counters: counter_list(&counters),
            ..PortState::default()
        })
    }
}

/// The server programs and maps.
#[derive(Debug)]
pub struct ServerDataplanePort {
    dp: ServerDataplane,
}

/// A learned return path, for status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    pub peer: Ipv6Addr,
    pub port: u16,
    pub proto: u8,
    /// Wire order: `[0]` is the peer.
    pub segments: Vec<Ipv6Addr>,
}

impl ServerDataplanePort {
    /// Load with `max_flows` learned-flow capacity, register the
    /// interface's addresses, set the trust and attach.
    pub fn attach(
        interface: &Interface,
        hook: IngressHook,
        max_flows: u32,
        trust: &Trust,
    ) -> Result<ServerDataplanePort, PortError> {
        let options = ServerOptions {
            max_flows,
            ..ServerOptions::new(trust.clone())
        };
        let mut dp = ServerDataplane::load(options).map_err(op_err("load the server programs"))?;
        sync_local_addresses(&mut dp, &interface.addresses)?;
        dp.attach(&interface.name, hook)
            .map_err(op_err(format!("attach to {}", interface.name)))?;
        Ok(ServerDataplanePort { dp })
    }

    /// Programs and hooks, for the start-up line.
    pub fn programs(hook: IngressHook) -> String {
        let ingress = match hook {
            IngressHook::Tc => "server_ingress_tc@tc-ingress",
            IngressHook::XdpNative => "server_ingress_xdp@xdp",
            IngressHook::XdpGeneric => "server_ingress_xdp@xdp-generic",
        };
        format!("{ingress}, server_egress@tc-egress")
    }

    pub fn flows(&self) -> Result<Vec<Flow>, PortError> {
        Ok(self
            .dp
            .flows()
            .map_err(op_err("read server_flows"))?
            .into_iter()
            .map(|f| Flow {
                peer: f.peer,
                port: f.port,
                proto: f.proto,
                segments: f.segments,
            })
            .collect())
    }

    /// See [`ClientPort::set_local_addresses`].
    pub fn set_local_addresses(&mut self, addresses: &[Ipv6Addr]) -> Result<(), PortError> {
        sync_local_addresses(&mut self.dp, addresses)
    }

    pub fn local_addresses(&self) -> Result<Vec<Ipv6Addr>, PortError> {
        self.dp
            .local_addresses()
            .map_err(op_err("read local_addrs"))
    }

    pub fn counters(&self) -> Result<Vec<(String, u64)>, PortError> {
        let counters = self.dp.counters().map_err(op_err("read counters"))?;
        Ok(counter_list(&counters))
    }
}
