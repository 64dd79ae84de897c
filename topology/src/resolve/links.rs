//! One link: its endpoints, subnet, addresses, properties, flex-algo
//! membership and interface names.
//!
//! Every link is a point-to-point veth pair; what differs between links
//! (router-router, an end system's attachment) is checked afterwards in
//! `structure`, where all links are known.

use std::collections::BTreeSet;
use std::net::Ipv6Addr;

use ipnet::Ipv6Net;
use serde_saphyr::{Location, Spanned};

use super::defaults::Defaults;
use super::ifname::{check_ifname, derived_pair};
use super::nodes::Drafts;
use super::suggest::suggest;
use super::Cx;
use crate::model::{Endpoint, Link, LinkProps, NodeKind};
use crate::raw::{RawLink, RawTopology};

/// The links resolved so far (a broken one is skipped), each with where it was written.
#[derive(Default)]
pub(super) struct Links {
    pub(super) links: Vec<Link>,
    /// `at[i]` is the place of `links[i]`.
    pub(super) at: Vec<Location>,
}

pub(super) fn resolve_links(
    cx: &mut Cx,
    raw: &RawTopology,
    drafts: &Drafts,
    defaults: &Defaults,
) -> Links {
    let known = known_names(drafts);
    let mut out = Links::default();
    for (id, sl) in raw.links.iter().enumerate() {
        if let Some(link) = resolve_link(cx, id, sl, drafts, defaults, &known) {
            out.links.push(link);
            out.at.push(sl.referenced);
        }
    }
    out
}

/// The first dozen node names, for "unknown node" messages.
fn known_names(drafts: &Drafts) -> String {
    let names: Vec<&str> = drafts.keys().map(String::as_str).take(12).collect();
    let more = if drafts.len() > 12 { ", ..." } else { "" };
    format!("{}{more}", names.join(", "))
}

/// Link `id`, or `None` when a problem leaves it incomplete (reported).
fn resolve_link(
    cx: &mut Cx,
    id: usize,
    sl: &Spanned<RawLink>,
    drafts: &Drafts,
    defaults: &Defaults,
    known: &str,
) -> Option<Link> {
    let rl = &sl.value;
    let f = format!("links[{id}]");
    let ends = endpoints(cx, rl, &f, drafts, known)?;
    let subnet = subnet(cx, sl, id, &f, defaults.link_pool);
    let addrs = addresses(cx, rl, &f, subnet);
    let mtu = rl
        .mtu
        .as_ref()
        .map_or(defaults.link_mtu, |m| cx.mtu(m, &format!("{f}.mtu")));
    let metric_field = format!("{f}.igp_metric");
    let igp_metric = cx.igp_metric(&rl.igp_metric, &metric_field, defaults.igp_metric);
    let (a_to_b, b_to_a) = directions(cx, rl, &f, &defaults.props);
    let written_algos = cx.flex_algos(&rl.flex_algos, &format!("{f}.flex_algos"));

    let (Some(subnet), [Some(a_addr), Some(b_addr)], Some([a, b])) = (subnet, addrs, ends) else {
        return None;
    };
    let written_algos = rl.flex_algos.is_some().then_some(written_algos);
    let flex_algos = flex_algos(cx, sl, &f, drafts, written_algos, [&a.node, &b.node]);
    let (derived_a, derived_b) = derived_pair(&a.node, &b.node, id);
    let prefix_len = subnet.prefix_len();
    Some(Link {
        id,
        a: Endpoint {
            node: a.node,
            ifname: a.ifname.unwrap_or(derived_a),
            addr: a_addr,
            prefix_len,
        },
        b: Endpoint {
            node: b.node,
            ifname: b.ifname.unwrap_or(derived_b),
            addr: b_addr,
            prefix_len,
        },
        subnet,
        mtu,
        igp_metric,
        a_to_b,
        b_to_a,
        up: rl.up.as_ref().is_none_or(|u| u.value),
        flex_algos,
    })
}

/// One written endpoint: `node` or `node:ifname`.
struct End {
    node: String,
    ifname: Option<String>,
}

/// The two endpoints. Outer `None`: not two endpoints, nothing else of the
/// link is worth checking; inner `None`: an unknown node or a self-loop
/// (reported; the rest of the link is still checked).
fn endpoints(
    cx: &mut Cx,
    rl: &RawLink,
    f: &str,
    drafts: &Drafts,
    known: &str,
) -> Option<Option<[End; 2]>> {
    let [a, b] = rl.endpoints.value.as_slice() else {
        cx.err(
            &rl.endpoints.referenced,
            format!("{f}.endpoints"),
            format!(
                "a link has exactly 2 endpoints, found {}",
                rl.endpoints.value.len()
            ),
        );
        return None;
    };
    let mut ok = true;
    let a = endpoint(cx, a, &format!("{f}.endpoints[0]"), drafts, known, &mut ok);
    let b = endpoint(cx, b, &format!("{f}.endpoints[1]"), drafts, known, &mut ok);
    if a.node == b.node {
        cx.err(
            &rl.endpoints.referenced,
            format!("{f}.endpoints"),
            format!("self-loop: both endpoints are {:?}", a.node),
        );
        ok = false;
    }
    Some(ok.then_some([a, b]))
}

/// One endpoint; an unknown node clears `ok`, a bad interface name is only reported.
fn endpoint(
    cx: &mut Cx,
    ep: &Spanned<String>,
    field: &str,
    drafts: &Drafts,
    known: &str,
    ok: &mut bool,
) -> End {
    let (node, ifname) = match ep.value.split_once(':') {
        Some((n, i)) => (n.trim().to_owned(), Some(i.trim().to_owned())),
        None => (ep.value.trim().to_owned(), None),
    };
    if !drafts.contains_key(&node) {
        let message = match suggest(&node, drafts.keys()) {
            Some(near) => format!("unknown node {node:?}; did you mean {near:?}?"),
            None => format!("unknown node {node:?} (nodes: {known})"),
        };
        cx.err(&ep.referenced, field, message);
        *ok = false;
    }
    if let Some(name) = &ifname {
        if let Err(m) = check_ifname(name) {
            cx.err(&ep.referenced, field, m);
        }
    }
    End { node, ifname }
}

/// The written subnet (room for two endpoints), or the `id`th /64 of the pool.
fn subnet(
    cx: &mut Cx,
    sl: &Spanned<RawLink>,
    id: usize,
    f: &str,
    pool: Option<Ipv6Net>,
) -> Option<Ipv6Net> {
    let Some(s) = &sl.value.subnet else {
        let p = pool?;
        let n = nth_subnet(p, id);
        if n.is_none() {
            cx.err(&sl.referenced, f, format!("addressing.link_pool {p} has no /64 left for link {id}; give a larger pool or an explicit subnet"));
        }
        return n;
    };
    let n = cx.net(s, &format!("{f}.subnet"))?;
    if n.prefix_len() > 126 {
        cx.err(
            &s.referenced,
            format!("{f}.subnet"),
            format!("link subnet {n} is too small for two endpoints (use /64, at most /126)"),
        );
        return None;
    }
    Some(n)
}

/// The written addresses (two distinct hosts of the subnet), or hosts 1 and 2.
fn addresses(cx: &mut Cx, rl: &RawLink, f: &str, subnet: Option<Ipv6Net>) -> [Option<Ipv6Addr>; 2] {
    let Some(list) = &rl.addresses else {
        return match subnet {
            Some(net) => [Some(host_in(net, 1)), Some(host_in(net, 2))],
            None => [None, None],
        };
    };
    let mut addrs = [None, None];
    if list.value.len() != 2 {
        cx.err(
            &list.referenced,
            format!("{f}.addresses"),
            format!(
                "give exactly 2 addresses (one per endpoint), found {}",
                list.value.len()
            ),
        );
        return addrs;
    }
    for (i, a) in list.value.iter().enumerate() {
        let field = format!("{f}.addresses[{i}]");
        addrs[i] = cx.addr(a, &field);
        if let (Some(addr), Some(net)) = (addrs[i], subnet) {
            if !net.contains(&addr) {
                cx.err(
                    &a.referenced,
                    &field,
                    format!("{addr} is not inside the link subnet {net}"),
                );
            } else if addr == net.network() {
                cx.err(&a.referenced, &field, format!("{addr} is the subnet-router anycast address of {net}; use another host part"));
            }
        }
    }
    if addrs[0].is_some() && addrs[0] == addrs[1] {
        cx.err(
            &list.referenced,
            format!("{f}.addresses"),
            "both endpoints have the same address",
        );
    }
    addrs
}

/// `(a_to_b, b_to_a)`: defaults, under the link's symmetric values, under
/// each direction's own.
fn directions(cx: &mut Cx, rl: &RawLink, f: &str, defaults: &LinkProps) -> (LinkProps, LinkProps) {
    let sym = defaults.overlay(&cx.props(&rl.props(), f));
    let a_to_b = match &rl.a_to_b {
        Some(p) => sym.overlay(&cx.props(p, &format!("{f}.a_to_b"))),
        None => sym.clone(),
    };
    let b_to_a = match &rl.b_to_a {
        Some(p) => sym.overlay(&cx.props(p, &format!("{f}.b_to_a"))),
        None => sym.clone(),
    };
    (a_to_b, b_to_a)
}

/// Flex-algo membership: a written set must be enabled on both router
/// ends; otherwise the link carries what its router ends share.
fn flex_algos(
    cx: &mut Cx,
    sl: &Spanned<RawLink>,
    f: &str,
    drafts: &Drafts,
    written: Option<BTreeSet<u8>>,
    ends: [&str; 2],
) -> BTreeSet<u8> {
    let router_algos = |n: &str| {
        drafts
            .get(n)
            .filter(|d| d.node.kind == NodeKind::Router)
            .map(|d| &d.node.flex_algos)
    };
    let Some(written) = written else {
        return match ends.map(router_algos) {
            [Some(x), Some(y)] => x.intersection(y).copied().collect(),
            [Some(x), None] | [None, Some(x)] => x.clone(),
            [None, None] => BTreeSet::new(),
        };
    };
    for n in ends {
        let Some(have) = router_algos(n) else {
            continue;
        };
        let missing: Vec<String> = written.difference(have).map(u8::to_string).collect();
        if !missing.is_empty() {
            cx.err(
                &sl.referenced,
                format!("{f}.flex_algos"),
                format!(
                    "flex-algo {} not enabled on router {n:?} (add it to nodes.{n}.flex_algos)",
                    missing.join(", ")
                ),
            );
        }
    }
    written
}

/// The nth /64 of the pool (pool length ≤ 64).
fn nth_subnet(pool: Ipv6Net, n: usize) -> Option<Ipv6Net> {
    let spare_bits = 64u32.checked_sub(u32::from(pool.prefix_len()))?;
    if spare_bits < 64 && (n as u128) >= (1u128 << spare_bits) {
        return None;
    }
    let base = u128::from(pool.network());
    let addr = base | ((n as u128) << 64);
    Ipv6Net::new(Ipv6Addr::from(addr), 64).ok()
}

/// The address with host part `host` in `net`.
fn host_in(net: Ipv6Net, host: u128) -> Ipv6Addr {
    Ipv6Addr::from(u128::from(net.network()) | host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_subnets() {
        let pool: Ipv6Net = "2001:db8:ffff::/48".parse().unwrap();
        assert_eq!(
            nth_subnet(pool, 0),
            Some("2001:db8:ffff::/64".parse().unwrap())
        );
        assert_eq!(
            nth_subnet(pool, 0x12),
            Some("2001:db8:ffff:12::/64".parse().unwrap())
        );
        assert_eq!(nth_subnet(pool, 0x10000), None);
        let small: Ipv6Net = "2001:db8::/63".parse().unwrap();
        assert_eq!(nth_subnet(small, 2), None);
    }
}
