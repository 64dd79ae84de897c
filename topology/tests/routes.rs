//! Underlay route computation on the shipped topologies.
#![allow(clippy::unwrap_used)]
use std::net::Ipv6Addr;

use topology::routes::{compute, count, count_by_node, Route, RouteKind};
use topology::{NodeKind, Topology};

mod common;
use common::load;

fn route_to<'a>(routes: &'a [Route], target: &str) -> &'a Route {
    routes
        .iter()
        .find(|r| r.target == target)
        .unwrap_or_else(|| panic!("no route to {target}"))
}

/// Follow next hops from `from` towards `dst` (longest prefix match at each
/// node) and return the nodes visited; panics on loops or black holes.
fn walk(
    t: &Topology,
    table: &std::collections::BTreeMap<String, Vec<Route>>,
    from: &str,
    dst: Ipv6Addr,
) -> Vec<String> {
    let owner = |n: &topology::Node| n.sid == Some(dst) || n.address == Some(dst);
    let mut at = from.to_owned();
    let mut path = vec![at.clone()];
    for _ in 0..=t.nodes.len() {
        if owner(&t.nodes[&at]) {
            return path;
        }
        let r = table[&at]
            .iter()
            .filter(|r| r.prefix.contains(&dst))
            .max_by_key(|r| r.prefix.prefix_len())
            .unwrap_or_else(|| panic!("{at} has no route to {dst}"));
        let link = t
            .links
            .iter()
            .find(|l| l.endpoint(&at).is_some_and(|e| e.ifname == r.dev))
            .unwrap();
        let peer = link.peer(&at).unwrap();
        assert_eq!(
            peer.addr, r.via,
            "{at}: via {} is not the peer on {}",
            r.via, r.dev
        );
        at = peer.node.clone();
        path.push(at.clone());
    }
    panic!("routing loop from {from} to {dst}: {path:?}");
}

#[test]
fn hawk_routes() {
    let t = load("hawk.yaml");
    let table = compute(&t);
    assert_eq!(table.len(), t.nodes.len());
    // 9 routers x (8 other locators + 5 end-system prefixes) + 5 default routes.
    assert_eq!(table.values().map(Vec::len).sum::<usize>(), 9 * 13 + 5);

    let r = route_to(&table["vpp1"], "host-b");
    assert_eq!(r.prefix, "fcbb:cc00:2::/48".parse().unwrap());
    // Upper and lower path cost the same: the lower link id (vpp1-vpp2 = 1) wins.
    assert_eq!(
        (r.via, r.dev.as_str(), r.cost),
        ("2001:db8:12::2".parse().unwrap(), "vpp2-1", 50)
    );
    assert_eq!(r.kind, RouteKind::EndSystemPrefix);
    let r = route_to(&table["vpp3"], "vpp5");
    assert_eq!(
        (r.prefix, r.kind),
        ("fcbb:bb00:5::/48".parse().unwrap(), RouteKind::Locator)
    );

    let d = &table["host-a"];
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].kind, RouteKind::Default);
    assert_eq!(d[0].prefix.prefix_len(), 0);
    assert_eq!(
        (d[0].via, d[0].dev.as_str(), d[0].mtu),
        ("2001:cafe:a::1".parse().unwrap(), "site-a-9", Some(1500))
    );
    insta::assert_yaml_snapshot!("hawk_routes_vpp1", table["vpp1"]);
}

#[test]
fn every_node_reaches_every_sid_and_host() {
    for file in ["hawk.yaml", "hawkv6-8.yaml", "line.yaml"] {
        let t = load(file);
        let table = compute(&t);
        let dsts: Vec<Ipv6Addr> = t
            .nodes
            .values()
            .flat_map(|n| n.sid.into_iter().chain(n.address))
            .collect();
        for from in t.nodes.keys() {
            for &dst in &dsts {
                walk(&t, &table, from, dst);
            }
        }
    }
}

#[test]
fn down_links_and_metrics_move_routes() {
    let mut t = load("hawk.yaml");
    t.links
        .iter_mut()
        .find(|l| l.a.node == "vpp1" && l.b.node == "vpp2")
        .unwrap()
        .up = false;
    let table = compute(&t);
    let path = walk(&t, &table, "host-a", "fcbb:cc00:2::a".parse().unwrap());
    assert_eq!(
        path,
        ["host-a", "site-a", "vpp1", "vpp3", "vpp5", "vpp6", "site-b", "host-b"]
    );

    let mut t = load("hawk.yaml");
    t.links
        .iter_mut()
        .find(|l| l.a.node == "vpp3" && l.b.node == "vpp5")
        .unwrap()
        .igp_metric = 100;
    let table = compute(&t);
    // vpp3 now reaches vpp5 around: vpp3-vpp1-vpp2-vpp4-vpp6-vpp5 costs 50 < 100.
    let path = walk(&t, &table, "vpp3", "fcbb:bb00:5::2".parse().unwrap());
    assert_eq!(path, ["vpp3", "vpp1", "vpp2", "vpp4", "vpp6", "vpp5"]);
    assert_eq!(route_to(&table["vpp3"], "vpp5").cost, 50);
}

#[test]
fn end_systems_never_transit() {
    let t = load("hawkv6-8.yaml");
    let table = compute(&t);
    for (name, routes) in &table {
        let kind = t.nodes[name].kind;
        if kind != NodeKind::Router {
            assert_eq!(routes.len(), 1, "{name}");
            continue;
        }
        for r in routes {
            let link = t
                .links
                .iter()
                .find(|l| l.endpoint(name).is_some_and(|e| e.ifname == r.dev))
                .unwrap();
            let peer = &t.nodes[&link.peer(name).unwrap().node];
            assert!(
                peer.kind == NodeKind::Router || peer.name == r.target,
                "{name} routes {} via {}",
                r.target,
                peer.name
            );
        }
    }
}

/// The count is what the table holds, node by node.
#[test]
fn counts_match_the_table() {
    for file in ["hawk.yaml", "hawkv6-8.yaml", "line.yaml"] {
        let t = load(file);
        let table = compute(&t);
        let lens: std::collections::BTreeMap<String, usize> =
            table.iter().map(|(n, r)| (n.clone(), r.len())).collect();
        assert_eq!(count_by_node(&t), lens, "{file}");
        assert_eq!(count(&t), lens.values().sum::<usize>(), "{file}");
    }
    // 9 routers x (8 other locators + 5 end-system prefixes) + 5 default routes.
    assert_eq!(count(&load("hawk.yaml")), 9 * 13 + 5);
    // A generated chain: 40 routers reach 39 locators and 2 host prefixes.
    let chain = topology::parse_str(&topology::generate::chain_yaml(40), "chain.yaml").unwrap();
    assert_eq!(count(&chain), 40 * 41 + 2);
    assert_eq!(
        count(&chain),
        compute(&chain).values().map(Vec::len).sum::<usize>()
    );
}
