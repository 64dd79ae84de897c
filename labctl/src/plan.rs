//! The deployment plan: every namespace, veth, address, route and SID a lab
//! needs, computed from the topology model without touching the system
//! (pure, unit-tested). [`crate::apply`] carries it out.

use std::collections::HashMap;
use std::net::Ipv6Addr;

use ipnet::Ipv6Net;
use serde::Serialize;
use topology::{routes, EndFlavor, LinkProps, NodeKind, RouterBackend, Topology};

/// How a namespace's node forwards packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Forwarding {
    /// The kernel forwards and runs the SIDs (routers, service functions).
    Kernel,
    /// A host: no forwarding, accepts SRH addressed to it (`seg6_enabled`).
    Host,
    /// VPP owns the interfaces: the kernel only creates and raises them.
    Vpp,
}

/// One namespace (one node).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NsPlan {
    /// Node name in the topology.
    pub node: String,
    /// Namespace name, `<lab>-<node>`.
    pub netns: String,
    pub forwarding: Forwarding,
    /// Interfaces of this node (created by whichever side creates the pair).
    pub ifaces: Vec<IfacePlan>,
    /// Addresses put on `lo` (router loopbacks).
    pub lo_addrs: Vec<(Ipv6Addr, u8)>,
    /// Kernel `seg6local End` routes.
    pub sids: Vec<SidPlan>,
    /// Static routes (underlay + default routes).
    pub routes: Vec<RoutePlan>,
    /// Write `/etc/netns/<ns>/resolv.conf` pointing at this DNS server.
    pub resolver: Option<Ipv6Addr>,
}

/// One interface inside a namespace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IfacePlan {
    pub name: String,
    pub mtu: u32,
    pub addrs: Vec<(Ipv6Addr, u8)>,
    /// Declared state of the link: a link declared down is created but left down.
    pub up: bool,
    /// Egress shaping on this interface (the link's bandwidth in this direction).
    pub tbf: Option<TbfPlan>,
    /// Random loss on this interface's egress, percent (> 0), by the BPF dropper.
    pub loss_pct: Option<f64>,
    /// Every declared property of this direction ([`crate::shaping::plan`]).
    pub props: LinkProps,
}

/// A veth pair between two namespaces (indexes into [`LabPlan::namespaces`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VethPlan {
    pub link_id: usize,
    pub a_ns: usize,
    pub a_if: String,
    pub b_ns: usize,
    pub b_if: String,
    pub mtu: u32,
    /// Interface indexes of the two ends (unique in the lab, never equal:
    /// see [`crate::nl::veth`]).
    pub a_index: u32,
    pub b_index: u32,
}

/// A static route.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoutePlan {
    pub dst: Ipv6Net,
    pub via: Option<Ipv6Addr>,
    pub dev: String,
    /// Route MTU (end systems leave room for an inserted SRH).
    pub mtu: Option<u32>,
    /// Preferred source (end systems: their service address, so replies
    /// come back to a routed prefix, never to a link subnet).
    pub src: Option<Ipv6Addr>,
}

/// A local SID: `seg6local action End` with optional flavors.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SidPlan {
    pub sid: Ipv6Addr,
    /// Bitmask of `1 << SEG6_LOCAL_FLV_OP_*` (0: plain End).
    pub flavor_ops: u32,
    /// Human form for status, e.g. `End` or `End.PSP`.
    pub label: String,
    /// Device of the route: a real interface, because the kernel turns a
    /// route via `lo` into a reject route before seg6local can see it.
    pub dev: String,
}

/// Token bucket parameters of one direction of a link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TbfPlan {
    pub rate_bytes_per_sec: u64,
    pub burst_bytes: u32,
    pub limit_bytes: u32,
}

impl TbfPlan {
    /// Shaper for `kbps` kbit/s on an interface of MTU `mtu`: the bucket
    /// holds at least two full frames (tbf drops a packet bigger than its
    /// bucket) or 4 ms of traffic; the queue holds 50 ms more.
    pub fn for_rate(kbps: u64, mtu: u32) -> TbfPlan {
        let rate = kbps.saturating_mul(1000) / 8;
        let burst = (rate / 250)
            .max(u64::from(mtu) * 2 + 64)
            .min(u64::from(u32::MAX / 2));
        let limit = (rate / 20)
            .saturating_add(burst)
            .min(u64::from(u32::MAX / 2));
        TbfPlan {
            rate_bytes_per_sec: rate.max(1),
            burst_bytes: burst as u32,
            limit_bytes: limit as u32,
        }
    }
}

/// A process labctl runs in a namespace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DnsPlan {
    /// Index into [`LabPlan::namespaces`].
    pub ns: usize,
    pub listen: Ipv6Addr,
}

/// Everything `up` builds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabPlan {
    pub lab: String,
    pub namespaces: Vec<NsPlan>,
    pub veths: Vec<VethPlan>,
    pub dns: Option<DnsPlan>,
    /// What the kernel can enforce (none until `up` probes it): decides
    /// whether [`IfacePlan::props`]' latency and jitter get a netem.
    pub features: crate::shaping::Features,
}

/// Lab interfaces are numbered from here (a fresh namespace has only `lo` = 1).
pub const FIRST_IFINDEX: u32 = 16;

/// The namespace name of `node` in `lab`.
pub fn netns_name(lab: &str, node: &str) -> String {
    format!("{lab}-{node}")
}

/// `SEG6_LOCAL_FLV_OP_*` of include/uapi/linux/seg6_local.h.
pub fn flavor_op(f: EndFlavor) -> u32 {
    match f {
        EndFlavor::Psp => 1,
        EndFlavor::Usp => 2,
        EndFlavor::Usd => 3,
        EndFlavor::NextCsid => 4,
    }
}

/// The plan of `topo` deployed under the lab name `lab`.
pub fn from_topology(topo: &Topology, lab: &str) -> LabPlan {
    let index: HashMap<&str, usize> = topo
        .nodes
        .keys()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let mut routes = routes::compute(topo);
    let dns_node = topo
        .nodes_of_kind(NodeKind::Dns)
        .find(|n| n.address.is_some());
    let resolver = dns_node.and_then(|n| n.address);
    let namespaces = topo
        .nodes
        .iter()
        .map(|(name, node)| {
            let node_routes = routes.remove(name).unwrap_or_default();
            ns_plan(topo, lab, node, node_routes, resolver)
        })
        .collect();
    let dns = dns_node.and_then(|n| {
        Some(DnsPlan {
            ns: *index.get(n.name.as_str())?,
            listen: n.address?,
        })
    });
    LabPlan {
        lab: lab.to_string(),
        namespaces,
        veths: veths(topo, &index),
        dns,
        features: crate::shaping::Features::default(),
    }
}

/// The namespace of one node.
fn ns_plan(
    topo: &Topology,
    lab: &str,
    node: &topology::Node,
    node_routes: Vec<routes::Route>,
    resolver: Option<Ipv6Addr>,
) -> NsPlan {
    let forwarding = match (node.kind, node.backend) {
        (NodeKind::Router, RouterBackend::Vpp) => Forwarding::Vpp,
        (k, _) if k.has_sid() => Forwarding::Kernel,
        _ => Forwarding::Host,
    };
    let end_system = node.kind.is_end_system();
    let ifaces = ifaces(topo, node);
    let lo_addrs = match node.address {
        Some(a) if !end_system => vec![(a, 128)],
        _ => Vec::new(),
    };
    let src = if end_system { node.address } else { None };
    NsPlan {
        node: node.name.clone(),
        netns: netns_name(lab, &node.name),
        forwarding,
        sids: sid(node, &ifaces).into_iter().collect(),
        ifaces,
        lo_addrs,
        routes: node_routes
            .into_iter()
            .map(|r| RoutePlan {
                dst: r.prefix,
                via: Some(r.via),
                dev: r.dev,
                mtu: r.mtu,
                src,
            })
            .collect(),
        // Hosts and the controller resolve through the lab DNS. Routers
        // do not get one: every /etc/netns directory costs ~4 ms to
        // create and to remove on this machine's /etc.
        resolver: resolver.filter(|_| matches!(node.kind, NodeKind::Host | NodeKind::Controller)),
    }
}

/// The interfaces of `node`, one per link end, in link order.
fn ifaces(topo: &Topology, node: &topology::Node) -> Vec<IfacePlan> {
    let mut ifaces: Vec<IfacePlan> = Vec::new();
    for link in &topo.links {
        let Some(ep) = link.endpoint(&node.name) else {
            continue;
        };
        let mut addrs = vec![(ep.addr, ep.prefix_len)];
        // The service address of an end system sits on its (first) link
        // as a /128; routers put their loopback address on `lo`.
        if node.kind.is_end_system() && ifaces.is_empty() {
            if let Some(a) = node.address {
                addrs.push((a, 128));
            }
        }
        let props = link.props_from(&node.name);
        ifaces.push(IfacePlan {
            name: ep.ifname.clone(),
            mtu: link.mtu,
            addrs,
            up: link.up,
            tbf: props
                .and_then(|p| p.bandwidth_kbps)
                .map(|kbps| TbfPlan::for_rate(kbps, link.mtu)),
            loss_pct: props.and_then(|p| p.loss_pct).filter(|l| *l > 0.0),
            props: props.cloned().unwrap_or_default(),
        });
    }
    ifaces
}

/// The node's SID as a `seg6local End` route on its first interface that
/// is up: the kernel refuses a route on a down device ("Network is down")
/// and deletes it when its device goes down. A node whose every link is
/// declared down is unreachable and gets no SID route.
fn sid(node: &topology::Node, ifaces: &[IfacePlan]) -> Option<SidPlan> {
    let sid = node.sid.filter(|_| node.kind.has_sid())?;
    Some(SidPlan {
        dev: ifaces.iter().find(|i| i.up)?.name.clone(),
        sid,
        flavor_ops: node
            .sid_behavior
            .flavors
            .iter()
            .fold(0, |m, f| m | (1 << flavor_op(*f))),
        label: node.sid_behavior.to_string(),
    })
}

/// One veth pair per link, with the lab-unique interface indexes.
fn veths(topo: &Topology, index: &HashMap<&str, usize>) -> Vec<VethPlan> {
    topo.links
        .iter()
        .filter_map(|l| {
            Some(VethPlan {
                link_id: l.id,
                a_ns: *index.get(l.a.node.as_str())?,
                a_if: l.a.ifname.clone(),
                b_ns: *index.get(l.b.node.as_str())?,
                b_if: l.b.ifname.clone(),
                mtu: l.mtu,
                a_index: FIRST_IFINDEX + 2 * l.id as u32,
                b_index: FIRST_IFINDEX + 2 * l.id as u32 + 1,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hawk() -> Topology {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../topologies/hawk.yaml");
        topology::load(std::path::Path::new(path)).unwrap()
    }

    #[test]
    fn hawk_plan_has_a_namespace_per_node_and_a_veth_per_link() {
        let t = hawk();
        let p = from_topology(&t, "x");
        assert_eq!(p.namespaces.len(), t.nodes.len());
        assert_eq!(p.veths.len(), t.links.len());
        let vpp1 = p.namespaces.iter().find(|n| n.node == "vpp1").unwrap();
        assert_eq!(vpp1.netns, "x-vpp1");
        assert_eq!(vpp1.forwarding, Forwarding::Kernel);
        assert_eq!(
            vpp1.sids[0].sid,
            "fcbb:bb00:1::2".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(vpp1.sids[0].flavor_ops, 0);
        assert_ne!(
            vpp1.sids[0].dev, "lo",
            "a seg6local route via lo is a reject route"
        );
        assert_eq!(
            vpp1.lo_addrs,
            vec![("fcbb:bb00:1::1".parse().unwrap(), 128)]
        );
        let host_a = p.namespaces.iter().find(|n| n.node == "host-a").unwrap();
        assert_eq!(host_a.forwarding, Forwarding::Host);
        assert!(host_a.ifaces[0]
            .addrs
            .contains(&("fcbb:cc00:1::a".parse().unwrap(), 128)));
        assert_eq!(host_a.routes.len(), 1, "one default route");
        assert_eq!(host_a.routes[0].dst.prefix_len(), 0);
        assert_eq!(
            host_a.routes[0].src,
            Some("fcbb:cc00:1::a".parse().unwrap())
        );
        assert_eq!(host_a.resolver, Some("fcbb:cc00:4::f".parse().unwrap()));
        let dns = p.dns.as_ref().unwrap();
        assert_eq!(p.namespaces[dns.ns].node, "dns");
        assert_eq!(p.namespaces[dns.ns].resolver, None);
        assert_eq!(vpp1.resolver, None, "routers keep the host's resolv.conf");
        // Every router reaches every other locator and every end-system prefix.
        let routers = t.nodes_of_kind(NodeKind::Router).count();
        let ends = t.nodes.values().filter(|n| n.kind.is_end_system()).count();
        assert_eq!(vpp1.routes.len(), routers - 1 + ends);
    }

    #[test]
    fn bandwidth_becomes_a_tbf_on_the_sending_side() {
        let t = hawk();
        let p = from_topology(&t, "x");
        let link = t.link_between("vpp1", "vpp2").unwrap();
        let kbps = link.a_to_b.bandwidth_kbps.unwrap();
        let a = p.namespaces.iter().find(|n| n.node == link.a.node).unwrap();
        let iface = a.ifaces.iter().find(|i| i.name == link.a.ifname).unwrap();
        assert_eq!(
            iface.tbf.as_ref().unwrap().rate_bytes_per_sec,
            kbps * 1000 / 8
        );
        assert!(iface.tbf.as_ref().unwrap().burst_bytes > link.mtu);
    }

    #[test]
    fn a_sid_sits_on_the_first_interface_that_is_up() {
        let mut t = hawk();
        let first = |t: &Topology| {
            let p = from_topology(t, "x");
            let vpp1 = p.namespaces.iter().find(|n| n.node == "vpp1").unwrap();
            vpp1.sids[0].dev.clone()
        };
        // vpp1's first link is site-a–vpp1 (link 0), then vpp1–vpp2.
        assert_eq!(first(&t), t.links[0].b.ifname);
        t.links[0].up = false;
        assert_eq!(first(&t), t.links[1].a.ifname);
    }

    #[test]
    fn the_sid_route_uses_an_interface_that_is_up() {
        let t = topology::parse_str(
            "name: t\nnodes:\n  r1: {kind: router, sid: \"fcbb:bb00:1::2\"}\n  \
             r2: {kind: router, sid: \"fcbb:bb00:2::2\"}\n  \
             r3: {kind: router, sid: \"fcbb:bb00:3::2\"}\n  \
             h1: {kind: host, address: \"fcbb:cc00:1::a\"}\n\
             links:\n  - {endpoints: [r1, h1], up: false}\n  - {endpoints: [r2, r3], up: false}\n  \
             - {endpoints: [r1, r2]}\n  - {endpoints: [r1, r3]}\n",
            "t.yaml",
        )
        .unwrap();
        let p = from_topology(&t, "x");
        for (node, up_link) in [("r1", 2), ("r2", 2), ("r3", 3)] {
            let ns = p.namespaces.iter().find(|n| n.node == node).unwrap();
            assert!(!ns.ifaces[0].up, "{node}: the first link is declared down");
            let want = &t.links[up_link].endpoint(node).unwrap().ifname;
            assert_eq!(&ns.sids[0].dev, want, "{node}");
        }
    }

    #[test]
    fn a_node_with_every_link_down_gets_no_sid_route() {
        let t = topology::parse_str(
            "name: t\nnodes:\n  r1: {kind: router, sid: \"fcbb:bb00:1::2\"}\n  \
             r2: {kind: router, sid: \"fcbb:bb00:2::2\"}\n\
             links:\n  - {endpoints: [r1, r2], up: false}\n",
            "t.yaml",
        )
        .unwrap();
        let p = from_topology(&t, "x");
        assert!(p.namespaces.iter().all(|n| n.sids.is_empty()));
    }

    #[test]
    fn flavors_become_the_kernel_bitmask() {
        assert_eq!(1u32 << flavor_op(EndFlavor::Psp), 2);
        assert_eq!(1u32 << flavor_op(EndFlavor::NextCsid), 16);
    }
}
