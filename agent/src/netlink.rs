//! What the agent reads and writes through rtnetlink, in the calling
//! process's namespace: the interface (index, MTU, addresses), the
//! per-destination route MTU (the MTU duty of whoever writes paths), and
//! route notifications ([`watch_routes`]: paths' handoffs follow routes).
//!
//! Route MTU: for a destination steered over n SIDs the agent installs a
//! host route `DST/128` with the same next hop as the route the kernel
//! would use, `mtu = base − (8 + 16·(n+1))` (`srh::mtu::route_mtu`), and its
//! own protocol number [`RTPROT_SRV6_AGENT`], so TCP (MSS, PMTU) and UDP
//! senders size packets to fit once the SRH is inserted, even on a live
//! connection. `ip -6 route show proto 246` lists them; they are removed
//! when the path goes and at exit, and leftovers of a crashed agent at
//! start.

use std::net::{IpAddr, Ipv6Addr};

use futures::TryStreamExt;
use netlink_packet_route::address::{AddressAttribute, AddressHeaderFlags, AddressScope};
use netlink_packet_route::link::LinkAttribute;
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteMetric, RouteProtocol,
};
use rtnetlink::{Handle, RouteMessageBuilder};

/// The protocol number of the agent's routes (`ip -6 route ... proto 246`).
pub const RTPROT_SRV6_AGENT: u8 = 246;

/// A netlink operation that failed.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {message}")]
pub struct NetlinkError {
    pub what: String,
    pub message: String,
}

fn err(what: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> NetlinkError {
    let what = what.into();
    move |e| NetlinkError {
        what,
        message: e.to_string(),
    }
}

/// A fresh rtnetlink connection, its task spawned on the current runtime.
pub fn connect() -> Result<Handle, NetlinkError> {
    let (connection, handle, _) = rtnetlink::new_connection().map_err(|e| NetlinkError {
        what: "open a netlink socket".into(),
        message: e.to_string(),
    })?;
    tokio::spawn(connection);
    Ok(handle)
}

/// The first answer of a netlink request, or `missing` when there is none.
async fn first<T>(
    stream: impl futures::Stream<Item = Result<T, rtnetlink::Error>>,
    what: &str,
    missing: &str,
) -> Result<T, NetlinkError> {
    futures::pin_mut!(stream);
    stream
        .try_next()
        .await
        .map_err(err(what))?
        .ok_or_else(|| NetlinkError {
            what: what.to_owned(),
            message: missing.to_owned(),
        })
}

/// An interface as the agent needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    pub index: u32,
    pub mtu: u32,
    /// Every IPv6 address, link-local included (strip only what is ours).
    pub addresses: Vec<Ipv6Addr>,
    /// Global-scope addresses that are usable (not tentative, deprecated
    /// or failed): candidates for the request source.
    pub global: Vec<Ipv6Addr>,
}

/// Read `name`'s index, MTU and IPv6 addresses.
pub async fn interface(handle: &Handle, name: &str) -> Result<Interface, NetlinkError> {
    let what = format!("interface {name}");
    let links = handle.link().get().match_name(name.to_owned()).execute();
    let link = first(links, &what, "no such interface").await?;
    let index = link.header.index;
    let mtu = link
        .attributes
        .iter()
        .find_map(|a| match a {
            LinkAttribute::Mtu(m) => Some(*m),
            _ => None,
        })
        .unwrap_or(1500);
    let mut addresses = Vec::new();
    let mut global = Vec::new();
    let mut stream = handle
        .address()
        .get()
        .set_link_index_filter(index)
        .execute();
    while let Some(msg) = stream.try_next().await.map_err(err(&what))? {
        let addr = msg.attributes.iter().find_map(|a| match a {
            AddressAttribute::Address(IpAddr::V6(v6)) => Some(*v6),
            _ => None,
        });
        let Some(addr) = addr else { continue };
        addresses.push(addr);
        let unusable = AddressHeaderFlags::Tentative
            | AddressHeaderFlags::Deprecated
            | AddressHeaderFlags::Dadfailed;
        if msg.header.scope == AddressScope::Universe
            && !msg.header.flags.intersects(unusable)
            && !addr.is_unicast_link_local()
        {
            global.push(addr);
        }
    }
    Ok(Interface {
        name: name.to_owned(),
        index,
        mtu,
        addresses,
        global,
    })
}

/// Follow the IPv6 addresses of interface `name` (the dataplane's local
/// addresses: only packets from one are steered, only SRHs addressed to one
/// are stripped): every `every`, read them; when the set differs from
/// `known`, send it to the owner. A failed read (the interface going away)
/// keeps the last set. Ends on `stop` or when the owner is gone.
pub async fn watch_addresses(
    handle: Handle,
    name: String,
    mut known: Vec<Ipv6Addr>,
    every: std::time::Duration,
    owner: tokio::sync::mpsc::Sender<crate::owner::Update>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    known.sort();
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let mut now = match interface(&handle, &name).await {
            Ok(now) => now.addresses,
            Err(err) => {
                tracing::debug!(error = %err, "interface addresses not read");
                continue;
            }
        };
        now.sort();
        now.dedup();
        if now == known {
            continue;
        }
        known.clone_from(&now);
        if owner
            .send(crate::owner::Update::LocalAddresses(now))
            .await
            .is_err()
        {
            return;
        }
    }
}

/// Tell the owner ([`crate::owner::Update::RoutesChanged`]) whenever an
/// IPv6 route of this namespace is added or removed (rtnetlink's route
/// notifications), except the agent's own route MTUs (protocol
/// [`RTPROT_SRV6_AGENT`]: same next hop, so no path's handoff depends on
/// them). A burst of notifications is one update. Ends on `stop` or when
/// the owner is gone.
pub async fn watch_routes(
    owner: tokio::sync::mpsc::Sender<crate::owner::Update>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<(), NetlinkError> {
    use futures::{FutureExt, StreamExt};
    let (connection, _handle, mut messages) =
        rtnetlink::new_multicast_connection(&[rtnetlink::MulticastGroup::Ipv6Route]).map_err(
            |e| NetlinkError {
                what: "subscribe to route notifications".into(),
                message: e.to_string(),
            },
        )?;
    let connection = tokio::spawn(connection);
    loop {
        let message = tokio::select! {
            m = messages.next() => m,
            _ = stop.wait_for(|s| *s) => None,
        };
        let Some((message, _)) = message else { break };
        let mut changed = route_changed(&message);
        // What is already queued belongs to the same change.
        while let Some(Some((message, _))) = messages.next().now_or_never() {
            changed |= route_changed(&message);
        }
        if changed
            && owner
                .send(crate::owner::Update::RoutesChanged)
                .await
                .is_err()
        {
            break;
        }
    }
    connection.abort();
    Ok(())
}

/// A route added or removed that is not one of the agent's route MTUs.
fn route_changed(
    message: &rtnetlink::packet_core::NetlinkMessage<netlink_packet_route::RouteNetlinkMessage>,
) -> bool {
    use netlink_packet_route::RouteNetlinkMessage as M;
    use rtnetlink::packet_core::NetlinkPayload;
    match &message.payload {
        NetlinkPayload::InnerMessage(M::NewRoute(route) | M::DelRoute(route)) => {
            route.header.protocol != RouteProtocol::Other(RTPROT_SRV6_AGENT)
        }
        _ => false,
    }
}

/// Where the kernel sends packets to `destination` now, and the MTU the
/// SRH must fit in (the device MTU, or the route's own MTU if lower).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextHop {
    pub gateway: Option<Ipv6Addr>,
    pub oif: u32,
    pub base_mtu: u32,
}

fn v6(addr: &RouteAddress) -> Option<Ipv6Addr> {
    match addr {
        RouteAddress::Inet6(a) => Some(*a),
        _ => None,
    }
}

/// `ip -6 route get DESTINATION`.
pub async fn next_hop(
    handle: &Handle,
    destination: Ipv6Addr,
    device_mtu: u32,
) -> Result<NextHop, NetlinkError> {
    let what = format!("route to {destination}");
    let query = RouteMessageBuilder::<Ipv6Addr>::new()
        .destination_prefix(destination, 128)
        .build();
    let route = first(handle.route().get(query).execute(), &what, "no route").await?;
    let mut hop = NextHop {
        gateway: None,
        oif: 0,
        base_mtu: device_mtu,
    };
    for attr in &route.attributes {
        match attr {
            RouteAttribute::Gateway(g) => hop.gateway = v6(g),
            RouteAttribute::Oif(i) => hop.oif = *i,
            RouteAttribute::Metrics(metrics) => {
                for m in metrics {
                    if let RouteMetric::Mtu(mtu) = m {
                        hop.base_mtu = hop.base_mtu.min(*mtu);
                    }
                }
            }
            _ => {}
        }
    }
    Ok(hop)
}

fn host_route(destination: Ipv6Addr, hop: &NextHop) -> RouteMessage {
    let mut b = RouteMessageBuilder::<Ipv6Addr>::new()
        .destination_prefix(destination, 128)
        .output_interface(hop.oif)
        .protocol(RouteProtocol::Other(RTPROT_SRV6_AGENT));
    if let Some(gw) = hop.gateway {
        b = b.gateway(gw);
    }
    b.build()
}

/// Add or replace the agent's host route to `destination` with `mtu`.
pub async fn set_host_route_mtu(
    handle: &Handle,
    destination: Ipv6Addr,
    hop: &NextHop,
    mtu: u32,
) -> Result<(), NetlinkError> {
    let mut msg = host_route(destination, hop);
    msg.attributes
        .push(RouteAttribute::Metrics(vec![RouteMetric::Mtu(mtu)]));
    handle
        .route()
        .add(msg)
        .replace()
        .execute()
        .await
        .map_err(err(format!("route {destination}/128 mtu {mtu}")))
}

/// Remove the agent's host route to `destination`.
pub async fn delete_host_route(
    handle: &Handle,
    destination: Ipv6Addr,
    hop: &NextHop,
) -> Result<(), NetlinkError> {
    handle
        .route()
        .del(host_route(destination, hop))
        .execute()
        .await
        .map_err(err(format!("delete route {destination}/128")))
}

/// Remove every route with the agent's protocol number through interface
/// `oif` (a crashed agent's leftovers); returns how many.
pub async fn delete_agent_routes(handle: &Handle, oif: u32) -> Result<usize, NetlinkError> {
    let what = "list IPv6 routes";
    let dump = RouteMessageBuilder::<Ipv6Addr>::new().build();
    let routes: Vec<RouteMessage> = handle
        .route()
        .get(dump)
        .execute()
        .try_collect()
        .await
        .map_err(err(what))?;
    let mut removed = 0;
    for route in routes {
        let ours = route.header.protocol == RouteProtocol::Other(RTPROT_SRV6_AGENT);
        let through = route
            .attributes
            .iter()
            .any(|a| matches!(a, RouteAttribute::Oif(i) if *i == oif));
        if ours && through {
            handle
                .route()
                .del(route)
                .execute()
                .await
                .map_err(err("delete a leftover agent route"))?;
            removed += 1;
        }
    }
    Ok(removed)
}
