//! What the kernel really has in a lab's namespaces, for `status`: each
//! namespace is read by its own short-lived OS thread inside it
//! ([`labns::spawn_in`]: never a shared or tokio thread) that dumps links,
//! addresses and routes over one netlink socket.

use std::net::IpAddr;

use futures::stream::TryStreamExt;
use netlink_packet_route::address::AddressAttribute;
use netlink_packet_route::link::{LinkAttribute, LinkFlags, State};
use netlink_packet_route::route::{RouteAttribute, RouteLwEnCapType, RouteProtocol};
use netlink_packet_route::AddressFamily;
use rtnetlink::RouteMessageBuilder;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::nl::Nl;

/// One interface as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveIface {
    pub name: String,
    /// Administratively up.
    pub up: bool,
    /// Operationally up (carrier: the peer is up too).
    pub running: bool,
    /// Global IPv6 addresses, `addr/len`.
    pub addrs: Vec<String>,
}

/// One namespace as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveNs {
    pub ifaces: Vec<LiveIface>,
    /// IPv6 routes installed with `proto static` (labctl's underlay routes).
    pub static_routes: usize,
    /// `seg6local` routes (SIDs).
    pub sids: usize,
}

/// Read namespace `name` (on a dedicated thread).
pub fn probe(name: &str) -> Result<LiveNs> {
    let n = name.to_string();
    labns::run_in(name, move || probe_here(&n))?
}

/// Read several namespaces in parallel, one thread each.
pub fn probe_all(names: &[String]) -> Vec<Result<LiveNs>> {
    let threads: Vec<_> = names
        .iter()
        .map(|n| {
            let name = n.clone();
            labns::spawn_in(n, move || probe_here(&name))
        })
        .collect();
    threads.into_iter().map(|t| t?.join()?).collect()
}

/// On a thread already inside namespace `name`: one netlink connection,
/// three dumps.
fn probe_here(name: &str) -> Result<LiveNs> {
    let (rt, nl) = Nl::connect_here(name)?;
    rt.block_on(async {
        let dump = Dump {
            handle: nl.handle,
            netns: name,
        };
        let mut ifaces = dump.links().await?;
        let lo_addrs = dump.addresses(&mut ifaces).await?;
        let (static_routes, sids) = dump.routes().await?;
        let mut out: Vec<LiveIface> = ifaces.into_iter().map(|(_, i)| i).collect();
        if !lo_addrs.is_empty() {
            out.push(LiveIface {
                name: "lo".to_string(),
                up: true,
                running: true,
                addrs: lo_addrs,
            });
        }
        Ok(LiveNs {
            ifaces: out,
            static_routes,
            sids,
        })
    })
}

/// The netlink dumps of one namespace.
struct Dump<'a> {
    handle: rtnetlink::Handle,
    netns: &'a str,
}

impl Dump<'_> {
    fn err(&self, what: &str, e: rtnetlink::Error) -> Error {
        Error::Netlink {
            netns: self.netns.to_string(),
            what: what.to_string(),
            message: e.to_string(),
        }
    }

    /// Every interface but `lo`, with its index.
    async fn links(&self) -> Result<Vec<(u32, LiveIface)>> {
        let mut ifaces = Vec::new();
        let mut links = self.handle.link().get().execute();
        while let Some(m) = links
            .try_next()
            .await
            .map_err(|e| self.err("list links", e))?
        {
            let mut iface = LiveIface {
                name: String::new(),
                up: m.header.flags.contains(LinkFlags::Up),
                running: false,
                addrs: Vec::new(),
            };
            for a in &m.attributes {
                match a {
                    LinkAttribute::IfName(n) => iface.name = n.clone(),
                    LinkAttribute::OperState(s) => iface.running = *s == State::Up,
                    _ => {}
                }
            }
            if iface.name != "lo" {
                ifaces.push((m.header.index, iface));
            }
        }
        Ok(ifaces)
    }

    /// Global IPv6 addresses, put on their interface; returns those of `lo`.
    async fn addresses(&self, ifaces: &mut [(u32, LiveIface)]) -> Result<Vec<String>> {
        let mut req = self.handle.address().get();
        req.message_mut().header.family = AddressFamily::Inet6;
        let mut addrs = req.execute();
        let mut lo_addrs = Vec::new();
        while let Some(m) = addrs
            .try_next()
            .await
            .map_err(|e| self.err("list addresses", e))?
        {
            for a in &m.attributes {
                let AddressAttribute::Address(IpAddr::V6(ip)) = a else {
                    continue;
                };
                if ip.is_loopback() || ip.segments()[0] & 0xffc0 == 0xfe80 {
                    continue;
                }
                let text = format!("{ip}/{}", m.header.prefix_len);
                match ifaces.iter_mut().find(|(i, _)| *i == m.header.index) {
                    Some((_, iface)) => iface.addrs.push(text),
                    None => lo_addrs.push(text),
                }
            }
        }
        Ok(lo_addrs)
    }

    /// `(static routes, seg6local routes)` of the IPv6 tables.
    async fn routes(&self) -> Result<(usize, usize)> {
        let mut routes = self
            .handle
            .route()
            .get(RouteMessageBuilder::<std::net::Ipv6Addr>::new().build())
            .execute();
        let (mut static_routes, mut sids) = (0, 0);
        while let Some(r) = routes
            .try_next()
            .await
            .map_err(|e| self.err("list routes", e))?
        {
            let seg6local = r
                .attributes
                .iter()
                .any(|a| matches!(a, RouteAttribute::EncapType(RouteLwEnCapType::Seg6Local)));
            if seg6local {
                sids += 1;
            } else if r.header.protocol == RouteProtocol::Static {
                static_routes += 1;
            }
        }
        Ok((static_routes, sids))
    }
}
