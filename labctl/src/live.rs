//! What the kernel really has in a lab's namespaces, for `status`: each
//! namespace is read by its own short-lived OS thread that enters it with
//! `setns` (never a shared or tokio thread) and dumps links, addresses and
//! routes over one netlink socket.

use std::net::IpAddr;

use futures::stream::TryStreamExt;
use netlink_packet_route::address::AddressAttribute;
use netlink_packet_route::link::{LinkAttribute, LinkFlags, State};
use netlink_packet_route::route::{RouteAttribute, RouteLwEnCapType, RouteProtocol};
use netlink_packet_route::AddressFamily;
use rtnetlink::RouteMessageBuilder;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::netns;

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
    let name = name.to_string();
    std::thread::spawn(move || probe_here(&name))
        .join()
        .unwrap_or_else(|_| Err(Error::Unsupported("probe thread panicked".to_string())))
}

/// Read several namespaces in parallel, one thread each.
pub fn probe_all(names: &[String]) -> Vec<Result<LiveNs>> {
    let threads: Vec<_> = names
        .iter()
        .map(|n| {
            let n = n.clone();
            std::thread::spawn(move || probe_here(&n))
        })
        .collect();
    threads
        .into_iter()
        .map(|t| {
            t.join()
                .unwrap_or_else(|_| Err(Error::Unsupported("probe thread panicked".to_string())))
        })
        .collect()
}

fn probe_here(name: &str) -> Result<LiveNs> {
    let fd = netns::open(name)?;
    netns::enter(&fd, name)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|e| Error::Sys {
            op: "tokio runtime",
            what: name.to_string(),
            source: e,
        })?;
    let nl_err = |what: &str, e: rtnetlink::Error| Error::Netlink {
        netns: name.to_string(),
        what: what.to_string(),
        message: e.to_string(),
    };
    rt.block_on(async {
        let (conn, handle, _) = rtnetlink::new_connection().map_err(|e| Error::Sys {
            op: "netlink socket",
            what: name.to_string(),
            source: e,
        })?;
        tokio::spawn(conn);
        let mut ifaces: Vec<(u32, LiveIface)> = Vec::new();
        let mut links = handle.link().get().execute();
        while let Some(m) = links
            .try_next()
            .await
            .map_err(|e| nl_err("list links", e))?
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
        let mut req = handle.address().get();
        req.message_mut().header.family = AddressFamily::Inet6;
        let mut addrs = req.execute();
        let mut lo_addrs = Vec::new();
        while let Some(m) = addrs
            .try_next()
            .await
            .map_err(|e| nl_err("list addresses", e))?
        {
            for a in &m.attributes {
                if let AddressAttribute::Address(IpAddr::V6(ip)) = a {
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
        }
        let mut routes = handle
            .route()
            .get(RouteMessageBuilder::<std::net::Ipv6Addr>::new().build())
            .execute();
        let (mut static_routes, mut sids) = (0, 0);
        while let Some(r) = routes
            .try_next()
            .await
            .map_err(|e| nl_err("list routes", e))?
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
