#![allow(clippy::unwrap_used)]

mod common;
use common::topologies;

#[test]
fn hawk_loads() {
    let t = match topology::load(&topologies().join("hawk.yaml")) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(t.name, "hawk");
    assert_eq!(t.nodes.len(), 14);
    assert_eq!(t.links.len(), 14);
    let vpp1 = &t.nodes["vpp1"];
    assert_eq!(vpp1.sid, Some("fcbb:bb00:1::2".parse().unwrap()));
    assert_eq!(vpp1.locator, Some("fcbb:bb00:1::/48".parse().unwrap()));
    assert_eq!(
        t.nodes["site-b"].sid,
        Some("fcbb:aa00:2::2".parse().unwrap())
    );
    let host_a = &t.nodes["host-a"];
    assert_eq!(host_a.agent, Some(topology::AgentRole::Client));
    assert_eq!(host_a.prefix, Some("fcbb:cc00:1::/48".parse().unwrap()));
    assert_eq!(t.nodes["host-b"].agent, Some(topology::AgentRole::Server));
    assert_eq!(
        t.dns_records["wb.hawk.net"],
        "fcbb:cc00:2::a".parse::<std::net::Ipv6Addr>().unwrap()
    );
    assert_eq!(
        t.dns_records["wc.hawk.net"],
        "fcbb:cc00:3::a".parse::<std::net::Ipv6Addr>().unwrap()
    );
    assert_eq!(
        t.node_for_address("fcbb:cc00:2::a".parse().unwrap())
            .unwrap()
            .name,
        "host-b"
    );
    assert_eq!(
        t.node_for_address("fcbb:cc00:2:1::7".parse().unwrap())
            .unwrap()
            .name,
        "host-b"
    );
    assert!(t
        .node_for_address("fcbb:bb00:1::2".parse().unwrap())
        .is_none());
    assert_eq!(
        t.node_for_sid("fcbb:bb00:4::2".parse().unwrap())
            .unwrap()
            .name,
        "vpp4"
    );

    // Upper path: more bandwidth; lower path: less latency.
    let props = |a: &str, b: &str| t.link_between(a, b).unwrap().props_from(a).unwrap().clone();
    for (a, b) in [("vpp1", "vpp2"), ("vpp2", "vpp4"), ("vpp4", "vpp6")] {
        assert_eq!(props(a, b).bandwidth_kbps, Some(1_000_000));
        assert_eq!(props(b, a).latency_us, Some(4_000));
    }
    for (a, b) in [("vpp1", "vpp3"), ("vpp3", "vpp5"), ("vpp5", "vpp6")] {
        assert_eq!(props(a, b).bandwidth_kbps, Some(100_000));
        assert_eq!(props(b, a).latency_us, Some(1_000));
    }
    let l = t.link_between("vpp1", "vpp2").unwrap();
    assert_eq!(
        (l.a.ifname.as_str(), l.b.ifname.as_str()),
        ("vpp2-1", "vpp1-1")
    );
    assert_eq!(
        l.a.addr,
        "2001:db8:12::1".parse::<std::net::Ipv6Addr>().unwrap()
    );
    assert_eq!(l.mtu, 9000);
    let mut neighbours: Vec<&str> = t.neighbours("vpp1").map(|(_, n)| n).collect();
    neighbours.sort();
    assert_eq!(neighbours, ["site-a", "vpp2", "vpp3"]);
    // Interface names are unique in the lab and fit Linux's limit.
    let mut names = std::collections::BTreeSet::new();
    for l in &t.links {
        for ep in [&l.a, &l.b] {
            assert!(ep.ifname.len() <= topology::MAX_IFNAME_LEN, "{}", ep.ifname);
            assert!(names.insert(ep.ifname.clone()), "duplicate {}", ep.ifname);
        }
    }
}

#[test]
fn hawkv6_8_loads_with_the_csv_impairments() {
    let t = topology::load(&topologies().join("hawkv6-8.yaml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.nodes_of_kind(topology::NodeKind::Router).count(), 11);
    assert_eq!(t.links.len(), 27);
    let sera: Vec<&str> = t
        .service_functions("sera")
        .map(|n| n.name.as_str())
        .collect();
    assert_eq!(sera, ["sera-1", "sera-2"]);
    assert_eq!(
        t.nodes["snort-2"].sid,
        Some("fcbb:dd00:4::2".parse().unwrap())
    );
    let l = t.link_between("xr1", "xr2").unwrap();
    assert_eq!(
        (l.a_to_b.latency_us, l.b_to_a.latency_us),
        (Some(4_000), Some(3_000))
    );
    let l = t.link_between("xr1", "xr3").unwrap();
    assert_eq!(l.a_to_b.bandwidth_kbps, Some(100_000));
    assert_eq!(l.b_to_a.bandwidth_kbps, Some(1_000_000));
    assert_eq!(
        (l.a_to_b.loss_pct, l.b_to_a.loss_pct),
        (Some(3.0), Some(3.0))
    );
    let l = t.link_between("xr8", "site-c").unwrap();
    assert_eq!(
        (l.a_to_b.loss_pct, l.b_to_a.loss_pct),
        (Some(2.0), Some(0.0))
    );
    // Derived subnets: link N is the N-th /64 of the default pool.
    assert_eq!(
        l.subnet,
        format!("2001:db8:ffff:{:x}::/64", l.id).parse().unwrap()
    );
    assert_eq!(
        l.a.addr,
        format!("2001:db8:ffff:{:x}::1", l.id)
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
    );
    assert_eq!(l.a.ifname, format!("site-c-{}", l.id));
}

#[test]
fn line_loads_with_derived_values() {
    let t = topology::load(&topologies().join("line.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let l = &t.links[1];
    assert_eq!((l.a.ifname.as_str(), l.b.ifname.as_str()), ("r2-1", "r1-1"));
    assert_eq!(l.subnet, "2001:db8:ffff:1::/64".parse().unwrap());
    assert_eq!(
        t.nodes["h1"].prefix,
        Some("fcbb:cc00:1::/48".parse().unwrap())
    );
    assert_eq!(t.nodes["h1"].route_mtu, Some(1500));
    assert_eq!(
        t.nodes["r1"].locator,
        Some("fcbb:bb00:1::/48".parse().unwrap())
    );
    assert_eq!(l.mtu, 9000);
    assert_eq!(l.igp_metric, 10);
}

/// Every hawk node answers to its name and NAME.LAB with the address the
/// file gives it (hawk.yaml: `vpp1 address fcbb:bb00:1::1`, `host-b
/// address fcbb:cc00:2::a`); 14 nodes, all with an address: 28 names.
#[test]
fn node_records_name_every_node_bare_and_under_the_lab() {
    let t = topology::load(&topologies().join("hawk.yaml")).unwrap();
    let r = t.node_records("lab7");
    assert_eq!(r.len(), 28);
    let vpp1: std::net::Ipv6Addr = "fcbb:bb00:1::1".parse().unwrap();
    assert_eq!(r["vpp1"], vpp1);
    assert_eq!(r["vpp1.lab7"], vpp1);
    assert_eq!(
        r["host-b.lab7"],
        "fcbb:cc00:2::a".parse::<std::net::Ipv6Addr>().unwrap()
    );
}
