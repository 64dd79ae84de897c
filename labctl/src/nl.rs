//! Netlink requests labctl sends, built with rtnetlink's builders and sent
//! raw through [`rtnetlink::Handle::request`] so many requests can be in
//! flight on one socket at once (the netlink equivalent of `ip -batch`).
//!
//! Encodings rtnetlink has no typed API for (tbf options, seg6local flavors)
//! are built here as raw attributes, each with the kernel struct it mirrors.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::os::fd::RawFd;

use futures::stream::{StreamExt, TryStreamExt};
use netlink_packet_core::{
    DefaultNla, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressFlags};
use netlink_packet_route::link::{InfoData, InfoVeth, LinkAttribute, LinkMessage, State};
use netlink_packet_route::route::{
    RouteAttribute, RouteMetric, RouteSeg6LocalTunnel, Seg6LocalAction,
};
use netlink_packet_route::tc::{TcAttribute, TcHandle, TcMessage, TcOption};
use netlink_packet_route::RouteNetlinkMessage;
use rtnetlink::{
    AddressMessageBuilder, Handle, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder,
};

use crate::error::{Error, Result};
use crate::plan::{RoutePlan, SidPlan, TbfPlan};
use crate::shaping::{NetemPlan, Parent};

/// A handle bound to one namespace, with the namespace name for errors.
#[derive(Debug, Clone)]
pub struct Nl {
    pub handle: Handle,
    pub netns: String,
}

const CREATE: u16 = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
/// Flags of a request that creates or replaces (`tc qdisc replace`).
pub const REPLACE: u16 = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
/// Flags of a plain request (set, delete).
pub const REQUEST: u16 = NLM_F_REQUEST | NLM_F_ACK;

impl Nl {
    /// A current-thread tokio runtime and one rtnetlink connection opened by
    /// the calling thread, so bound to the namespace that thread is in
    /// (`netns` names it in errors). Both stay on this thread.
    pub fn connect_here(netns: &str) -> Result<(tokio::runtime::Runtime, Nl)> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| Error::Sys {
                op: "tokio runtime",
                what: netns.to_string(),
                source: e,
            })?;
        let handle = rt.block_on(async {
            let (conn, handle, _) = rtnetlink::new_connection().map_err(|e| Error::Sys {
                op: "netlink socket",
                what: netns.to_string(),
                source: e,
            })?;
            tokio::spawn(conn);
            Ok::<_, Error>(handle)
        })?;
        let nl = Nl {
            handle,
            netns: netns.to_string(),
        };
        Ok((rt, nl))
    }

    fn err(&self, what: impl Into<String>, message: impl ToString) -> Error {
        Error::Netlink {
            netns: self.netns.clone(),
            what: what.into(),
            message: message.to_string(),
        }
    }

    /// Send one request and wait for its ACK. Many of these futures can be
    /// awaited together: the requests are written back to back and the kernel
    /// answers them in order.
    pub async fn send(&self, msg: RouteNetlinkMessage, flags: u16, what: String) -> Result<()> {
        self.send_allowing(msg, flags, what, 0).await.map(|_| ())
    }

    /// [`Nl::send`], where the kernel refusing with `errno` (e.g. ENOENT
    /// for a delete) is fine: `Ok(false)` then.
    pub async fn send_allowing(
        &self,
        msg: RouteNetlinkMessage,
        flags: u16,
        what: String,
        errno: i32,
    ) -> Result<bool> {
        let mut req = NetlinkMessage::from(msg);
        req.header.flags = flags;
        let mut handle = self.handle.clone();
        let mut resp = handle.request(req).map_err(|e| self.err(what.clone(), e))?;
        while let Some(m) = resp.next().await {
            if let NetlinkPayload::Error(e) = m.payload {
                match e.code {
                    Some(code) if errno != 0 && code.get() == -errno => return Ok(false),
                    Some(_) => return Err(self.err(what, e)),
                    None => {}
                }
            }
        }
        Ok(true)
    }

    /// Send every request at once and wait for all ACKs; the first error wins.
    pub async fn send_all(&self, reqs: Vec<(RouteNetlinkMessage, String)>) -> Result<()> {
        let futs = reqs.into_iter().map(|(m, what)| self.send(m, CREATE, what));
        futures::future::try_join_all(futs).await.map(|_| ())
    }

    /// Names of the links whose operational state is not yet UP.
    pub async fn links_not_running(&self) -> Result<Vec<String>> {
        let mut links = self.handle.link().get().execute();
        let mut out = Vec::new();
        while let Some(msg) = links
            .try_next()
            .await
            .map_err(|e| self.err("list links", e))?
        {
            let mut name = None;
            let mut running = false;
            for attr in &msg.attributes {
                match attr {
                    LinkAttribute::IfName(n) => name = Some(n.clone()),
                    LinkAttribute::OperState(s) => running = *s == State::Up,
                    _ => {}
                }
            }
            if let (Some(n), false) = (name, running) {
                out.push(n);
            }
        }
        Ok(out)
    }

    /// The index of interface `name` in `idx` (from [`Nl::link_indexes`]);
    /// the error says what needed it.
    pub fn index_in(&self, idx: &HashMap<String, u32>, name: &str, what: &str) -> Result<u32> {
        idx.get(name)
            .copied()
            .ok_or_else(|| self.err(format!("{what}: interface {name}"), "no such interface"))
    }

    /// The index of interface `name` now.
    pub async fn index(&self, name: &str) -> Result<u32> {
        self.index_in(&self.link_indexes().await?, name, "find")
    }

    /// Interface name → index of every link in the namespace.
    pub async fn link_indexes(&self) -> Result<HashMap<String, u32>> {
        let mut links = self.handle.link().get().execute();
        let mut out = HashMap::new();
        while let Some(msg) = links
            .try_next()
            .await
            .map_err(|e| self.err("list links", e))?
        {
            for attr in &msg.attributes {
                if let LinkAttribute::IfName(name) = attr {
                    out.insert(name.clone(), msg.header.index);
                }
            }
        }
        Ok(out)
    }
}

/// A veth pair: `name` here, `peer` created directly inside the namespace
/// `peer_ns_fd` (so no temporary name ever exists in the root namespace).
///
/// Both ends get explicit, different interface indexes: the kernel treats a
/// carrier change of a device whose ifindex equals its peer's (iflink) as
/// not urgent and applies it up to a second later, and until then the
/// device transmits into the noop qdisc (drops). Indexes are per namespace,
/// so without this the two ends often get the same number.
pub fn veth(
    name: &str,
    index: u32,
    peer: &str,
    peer_index: u32,
    mtu: u32,
    peer_ns_fd: RawFd,
) -> RouteNetlinkMessage {
    let peer_msg = LinkMessageBuilder::<LinkUnspec>::new()
        .name(peer.to_string())
        .index(peer_index)
        .mtu(mtu)
        .setns_by_fd(peer_ns_fd)
        .build();
    let msg = LinkVeth::new(name, peer)
        .index(index)
        .mtu(mtu)
        .set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg)))
        .build();
    RouteNetlinkMessage::NewLink(msg)
}

/// Set a link administratively up.
pub fn link_up(index: u32) -> (RouteNetlinkMessage, u16) {
    link_state(index, true)
}

/// Set a link administratively up or down (`ip link set IF up|down`).
pub fn link_state(index: u32, up: bool) -> (RouteNetlinkMessage, u16) {
    let b = LinkUnspec::new_with_index(index);
    let msg: LinkMessage = if up { b.up() } else { b.down() }.build();
    (RouteNetlinkMessage::SetLink(msg), REQUEST)
}

/// An IPv6 address with `nodad` (usable at once, never tentative).
pub fn address(index: u32, addr: Ipv6Addr, prefix_len: u8) -> RouteNetlinkMessage {
    let mut msg = AddressMessageBuilder::<Ipv6Addr>::new()
        .index(index)
        .address(addr, prefix_len)
        .build();
    msg.attributes
        .push(AddressAttribute::Flags(AddressFlags::Nodad));
    RouteNetlinkMessage::NewAddress(msg)
}

/// A static route (gateway optional: without one the prefix is on-link).
pub fn route(r: &RoutePlan, oif: u32) -> RouteNetlinkMessage {
    let mut b = RouteMessageBuilder::<Ipv6Addr>::new()
        .destination_prefix(r.dst.addr(), r.dst.prefix_len())
        .output_interface(oif);
    if let Some(via) = r.via {
        b = b.gateway(via);
    }
    if let Some(src) = r.src {
        b = b.pref_source(src);
    }
    let mut msg = b.build();
    if let Some(mtu) = r.mtu {
        msg.attributes
            .push(RouteAttribute::Metrics(vec![RouteMetric::Mtu(mtu)]));
    }
    RouteNetlinkMessage::NewRoute(msg)
}

/// `ip -6 route del DST`: the route to a prefix, whatever its next hop.
pub fn route_delete(dst: ipnet::Ipv6Net) -> RouteNetlinkMessage {
    let msg = RouteMessageBuilder::<Ipv6Addr>::new()
        .destination_prefix(dst.addr(), dst.prefix_len())
        .build();
    RouteNetlinkMessage::DelRoute(msg)
}

/// `SEG6_LOCAL_FLAVORS` (include/uapi/linux/seg6_local.h: the 11th
/// attribute, after `VRFTABLE` 9 and `COUNTERS` 10): a nested attribute
/// whose `SEG6_LOCAL_FLV_OPERATION` (1) is a u32 bitmask of `1 << SEG6_LOCAL_FLV_OP_*`
/// (PSP 1, USP 2, USD 3, NEXT_CSID 4). A wrong number here is not refused:
/// the kernel ignores attributes End does not use, and the SID silently
/// loses its flavours (`labctl doctor` reads the route back to catch that).
pub const SEG6_LOCAL_FLAVORS: u16 = 11;
pub const SEG6_LOCAL_FLV_OPERATION: u16 = 1;
const NLA_F_NESTED: u16 = 1 << 15;

/// `ip -6 route add SID/128 encap seg6local action End [flavors ...] dev IF`.
pub fn seg6local_end(sid: &SidPlan, oif: u32) -> RouteNetlinkMessage {
    let mut tunnel = vec![RouteSeg6LocalTunnel::Action(Seg6LocalAction::End)];
    if sid.flavor_ops != 0 {
        let mut inner = Vec::with_capacity(8);
        inner.extend_from_slice(&8u16.to_ne_bytes()); // nla_len
        inner.extend_from_slice(&SEG6_LOCAL_FLV_OPERATION.to_ne_bytes());
        inner.extend_from_slice(&sid.flavor_ops.to_ne_bytes());
        tunnel.push(RouteSeg6LocalTunnel::Other(DefaultNla::new(
            SEG6_LOCAL_FLAVORS | NLA_F_NESTED,
            inner,
        )));
    }
    let msg = RouteMessageBuilder::<Ipv6Addr>::new()
        .destination_prefix(sid.sid, 128)
        .output_interface(oif)
        .encap_seg6local(tunnel)
        .build();
    RouteNetlinkMessage::NewRoute(msg)
}

/// `TCA_TBF_PARMS`, `TCA_TBF_RATE64`, `TCA_TBF_BURST` (include/uapi/linux/pkt_sched.h).
const TCA_TBF_PARMS: u16 = 1;
const TCA_TBF_RATE64: u16 = 4;
const TCA_TBF_BURST: u16 = 6;
/// `TC_LINKLAYER_ETHERNET`: tells the kernel no rate table follows.
const TC_LINKLAYER_ETHERNET: u8 = 1;

/// `struct tc_tbf_qopt` = `tc_ratespec rate, peakrate; u32 limit, buffer, mtu`
/// where `tc_ratespec` = `u8 cell_log, u8 linklayer, u16 overhead, i16 cell_align,
/// u16 mpu, u32 rate` (bytes/s, saturated; the 64-bit rate goes in RATE64).
/// The buffer is given as bytes in `TCA_TBF_BURST`, which makes the kernel
/// compute the token time itself (no psched tick arithmetic here).
pub fn tbf_qopt(t: &TbfPlan) -> Vec<u8> {
    let mut b = Vec::with_capacity(36);
    let rate32 = u32::try_from(t.rate_bytes_per_sec).unwrap_or(u32::MAX);
    // rate
    b.push(0);
    b.push(TC_LINKLAYER_ETHERNET);
    b.extend_from_slice(&0u16.to_ne_bytes());
    b.extend_from_slice(&(-1i16).to_ne_bytes());
    b.extend_from_slice(&0u16.to_ne_bytes());
    b.extend_from_slice(&rate32.to_ne_bytes());
    // peakrate: unused
    b.push(0);
    b.push(TC_LINKLAYER_ETHERNET);
    b.extend_from_slice(&[0u8; 10]);
    b.extend_from_slice(&t.limit_bytes.to_ne_bytes());
    b.extend_from_slice(&0u32.to_ne_bytes()); // buffer: from TCA_TBF_BURST
    b.extend_from_slice(&0u32.to_ne_bytes()); // mtu: peakrate unused
    b
}

/// `tc qdisc add dev IF root handle 1: tbf rate R burst B limit L`.
pub fn tbf(index: u32, t: &TbfPlan) -> RouteNetlinkMessage {
    let mut msg = TcMessage::with_index(index as i32);
    msg.header.parent = TcHandle::ROOT;
    msg.header.handle = TcHandle { major: 1, minor: 0 };
    msg.attributes.push(TcAttribute::Kind("tbf".to_string()));
    let mut opts = vec![TcOption::Other(DefaultNla::new(TCA_TBF_PARMS, tbf_qopt(t)))];
    if t.rate_bytes_per_sec >= u64::from(u32::MAX) {
        opts.push(TcOption::Other(DefaultNla::new(
            TCA_TBF_RATE64,
            t.rate_bytes_per_sec.to_ne_bytes().to_vec(),
        )));
    }
    opts.push(TcOption::Other(DefaultNla::new(
        TCA_TBF_BURST,
        t.burst_bytes.to_ne_bytes().to_vec(),
    )));
    msg.attributes.push(TcAttribute::Options(opts));
    RouteNetlinkMessage::NewQueueDiscipline(msg)
}

/// `TCA_OPTIONS` (include/uapi/linux/rtnetlink.h).
const TCA_OPTIONS: u16 = 2;
/// The kernel keeps netem's times in psched ticks of 2^6 ns
/// (`PSCHED_SHIFT`, include/net/pkt_sched.h).
const PSCHED_SHIFT: u32 = 6;

/// `tc qdisc add dev IF {root | parent 1:1} handle H: netem delay L jitter
/// J limit N`. netem's `TCA_OPTIONS` is a bare `struct tc_netem_qopt`
/// (latency, limit, loss, gap, duplicate, jitter: u32 each, the times in
/// psched ticks), not nested attributes, hence the raw attribute; the
/// 32-bit ticks reach 274 s, far above any lab latency.
pub fn netem(index: u32, parent: Parent, handle: u16, n: &NetemPlan) -> RouteNetlinkMessage {
    let ticks =
        |us: u64| u32::try_from(us.saturating_mul(1000) >> PSCHED_SHIFT).unwrap_or(u32::MAX);
    let mut qopt = Vec::with_capacity(24);
    for field in [
        ticks(n.latency_us),
        n.limit_packets,
        0,
        0,
        0,
        ticks(n.jitter_us),
    ] {
        qopt.extend_from_slice(&field.to_ne_bytes());
    }
    let mut msg = TcMessage::with_index(index as i32);
    msg.header.parent = match parent {
        Parent::Root => TcHandle::ROOT,
        Parent::RootClass => TcHandle {
            major: crate::shaping::ROOT_HANDLE,
            minor: 1,
        },
    };
    msg.header.handle = TcHandle {
        major: handle,
        minor: 0,
    };
    msg.attributes.push(TcAttribute::Kind("netem".to_string()));
    msg.attributes
        .push(TcAttribute::Other(DefaultNla::new(TCA_OPTIONS, qopt)));
    RouteNetlinkMessage::NewQueueDiscipline(msg)
}

/// `tc qdisc del dev IF root` (with its children; send with [`REQUEST`]).
pub fn qdisc_delete_root(index: u32) -> RouteNetlinkMessage {
    let mut msg = TcMessage::with_index(index as i32);
    msg.header.parent = TcHandle::ROOT;
    RouteNetlinkMessage::DelQueueDiscipline(msg)
}

/// `tc qdisc add dev IF clsact` (the hook the loss dropper hangs on).
pub fn clsact(index: u32) -> RouteNetlinkMessage {
    let mut msg = TcMessage::with_index(index as i32);
    msg.header.parent = TcHandle::CLSACT;
    msg.header.handle = TcHandle {
        major: 0xffff,
        minor: 0,
    };
    msg.attributes.push(TcAttribute::Kind("clsact".to_string()));
    RouteNetlinkMessage::NewQueueDiscipline(msg)
}

/// `TCA_BPF_FD`, `TCA_BPF_NAME`, `TCA_BPF_FLAGS`, `TCA_BPF_FLAG_ACT_DIRECT`
/// (include/uapi/linux/pkt_cls.h); `ETH_P_ALL` in network order.
const TCA_BPF_FD: u16 = 6;
const TCA_BPF_NAME: u16 = 7;
const TCA_BPF_FLAGS: u16 = 8;
const TCA_BPF_FLAG_ACT_DIRECT: u32 = 1;
const ETH_P_ALL_BE: u32 = 0x0003u16.to_be() as u32;

/// `tc filter add dev IF egress prio 1 protocol all bpf direct-action fd FD`.
pub fn dropper_filter(index: u32, prog_fd: RawFd) -> RouteNetlinkMessage {
    let mut msg = TcMessage::with_index(index as i32);
    msg.header.parent = TcHandle {
        major: 0xffff,
        minor: TcHandle::MIN_EGRESS,
    };
    msg.header.info = (1 << 16) | ETH_P_ALL_BE;
    msg.attributes.push(TcAttribute::Kind("bpf".to_string()));
    msg.attributes.push(TcAttribute::Options(vec![
        TcOption::Other(DefaultNla::new(
            TCA_BPF_FD,
            (prog_fd as u32).to_ne_bytes().to_vec(),
        )),
        TcOption::Other(DefaultNla::new(TCA_BPF_NAME, b"labctl_loss\0".to_vec())),
        TcOption::Other(DefaultNla::new(
            TCA_BPF_FLAGS,
            TCA_BPF_FLAG_ACT_DIRECT.to_ne_bytes().to_vec(),
        )),
    ]));
    RouteNetlinkMessage::NewTrafficFilter(msg)
}

/// `tc filter del dev IF egress prio 1`: every filter at the loss
/// dropper's priority (send with [`REQUEST`]; ENOENT when there is none).
pub fn dropper_filter_delete(index: u32) -> RouteNetlinkMessage {
    let mut msg = TcMessage::with_index(index as i32);
    msg.header.parent = TcHandle {
        major: 0xffff,
        minor: TcHandle::MIN_EGRESS,
    };
    msg.header.info = (1 << 16) | ETH_P_ALL_BE;
    RouteNetlinkMessage::DelTrafficFilter(msg)
}

/// The address text used in error messages.
pub fn show(addr: impl Into<IpAddr>) -> String {
    addr.into().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tbf_qopt_layout() {
        let t = TbfPlan {
            rate_bytes_per_sec: 125_000_000,
            burst_bytes: 65536,
            limit_bytes: 1 << 20,
        };
        let b = tbf_qopt(&t);
        assert_eq!(b.len(), 36, "sizeof(struct tc_tbf_qopt)");
        assert_eq!(b[1], TC_LINKLAYER_ETHERNET);
        assert_eq!(&b[8..12], &125_000_000u32.to_ne_bytes());
        assert_eq!(&b[24..28], &(1u32 << 20).to_ne_bytes());
    }
}
