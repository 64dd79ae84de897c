//! Solver and SID-list cases on small graphs.
#![allow(clippy::unwrap_used)]

use super::*;

fn p(bw: u64, lat: u64) -> LinkProps {
    LinkProps {
        bandwidth_kbps: Some(bw),
        latency_us: Some(lat),
        ..Default::default()
    }
}

/// a - r1 = { r2 (upper: 1 Gbit/s, 2 x 5 ms) | r3 (lower: 100 Mbit/s,
/// 2 x 1 ms) } = r4 - b; access links 10 Gbit/s, 10 us. SIDs fc00:N::2.
pub(crate) fn diamond() -> Graph {
    let mut g = Graph::new();
    g.add_node(Node::host("a", "2001:db8:1::a".parse().unwrap()));
    g.add_node(Node::host("b", "2001:db8:2::a".parse().unwrap()));
    for (i, r) in ["r1", "r2", "r3", "r4"].iter().enumerate() {
        g.add_node(Node::router(
            r,
            Some(format!("fc00:{}::2", i + 1).parse().unwrap()),
        ));
    }
    g.connect("a", "r1", p(10_000_000, 10)).unwrap();
    g.connect("r1", "r2", p(1_000_000, 5000)).unwrap();
    g.connect("r2", "r4", p(1_000_000, 5000)).unwrap();
    g.connect("r1", "r3", p(100_000, 1000)).unwrap();
    g.connect("r3", "r4", p(100_000, 1000)).unwrap();
    g.connect("r4", "b", p(10_000_000, 10)).unwrap();
    g
}

fn names(g: &Graph, path: &Path) -> Vec<String> {
    path.nodes
        .iter()
        .map(|&n| g.nodes[n].name.clone())
        .collect()
}

fn solve(g: &Graph, q: &Query) -> Result<Path, NoPath> {
    g.best_path(g.node_id("a").unwrap(), g.node_id("b").unwrap(), q)
}

#[test]
fn widest_and_fastest_differ() {
    let g = diamond();
    let wide = solve(&g, &Query::new(&[Metric::WidestBottleneck])).unwrap();
    assert_eq!(names(&g, &wide), ["a", "r1", "r2", "r4", "b"]);
    assert_eq!(wide.criteria.bottleneck_kbps, 1_000_000);
    let fast = solve(&g, &Query::new(&[Metric::Latency])).unwrap();
    assert_eq!(names(&g, &fast), ["a", "r1", "r3", "r4", "b"]);
    assert_eq!(fast.criteria.latency_us, 2020);
    let narrow = solve(&g, &Query::new(&[Metric::NarrowestLink])).unwrap();
    // Access links are 10 Gbit/s on both and tie; then 100 Mbit/s < 1 Gbit/s.
    assert_eq!(names(&g, &narrow), ["a", "r1", "r3", "r4", "b"]);
    let mut g2 = g.clone();
    let fast = g2.links_between(g2.node_id("r1").unwrap(), g2.node_id("r3").unwrap())[0];
    // Make the lower path slow: the narrowest path still takes it.
    for e in [g2.links[fast].forward, g2.links[fast].forward + 1] {
        g2.edges[e].props.latency_us = Some(1_000_000);
    }
    let narrow = solve(&g2, &Query::new(&[Metric::NarrowestLink])).unwrap();
    assert_eq!(names(&g2, &narrow), ["a", "r1", "r3", "r4", "b"]);
    assert_eq!(
        narrow.criteria.widest_links_kbps[..3],
        [10_000_000, 10_000_000, 100_000]
    );
}

#[test]
fn max_latency_forces_a_worse_bottleneck() {
    let g = diamond();
    let mut q = Query::new(&[Metric::WidestBottleneck]);
    q.constraints.max_latency_us = Some(3000);
    let path = solve(&g, &q).unwrap();
    assert_eq!(names(&g, &path), ["a", "r1", "r3", "r4", "b"]);
    q.constraints.max_latency_us = Some(2000);
    let err = solve(&g, &q).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no path from a to b meets latency <= 2000 us"
    );
}

#[test]
fn min_bandwidth_is_a_hard_constraint() {
    let g = diamond();
    let mut q = Query::new(&[Metric::Latency]);
    q.constraints.min_bandwidth_kbps = Some(500_000);
    let path = solve(&g, &q).unwrap();
    assert_eq!(names(&g, &path), ["a", "r1", "r2", "r4", "b"]);
}

#[test]
fn link_down_reroutes_and_disconnects() {
    let mut g = diamond();
    let l = g.links_between(g.node_id("r1").unwrap(), g.node_id("r3").unwrap())[0];
    g.links[l].up = false;
    let path = solve(&g, &Query::new(&[Metric::Latency])).unwrap();
    assert_eq!(names(&g, &path), ["a", "r1", "r2", "r4", "b"]);
    let l = g.links_between(g.node_id("r1").unwrap(), g.node_id("r2").unwrap())[0];
    g.links[l].up = false;
    assert_eq!(
        solve(&g, &Query::new(&[Metric::Latency])).unwrap_err(),
        NoPath::Disconnected {
            from: "a".into(),
            to: "b".into(),
            within: String::new()
        }
    );
}

#[test]
fn hosts_are_never_transit() {
    let mut g = diamond();
    g.add_node(Node::host("c", "2001:db8:3::a".parse().unwrap()));
    // A zero-latency shortcut through host c must not be used.
    g.connect("r1", "c", p(1, 0)).unwrap();
    g.connect("c", "r4", p(1, 0)).unwrap();
    let path = solve(&g, &Query::new(&[Metric::Latency])).unwrap();
    assert_eq!(names(&g, &path), ["a", "r1", "r3", "r4", "b"]);
}

#[test]
fn loss_multiplies() {
    let mut g = diamond();
    for e in &mut g.edges {
        e.props.loss_pct = Some(10.0);
    }
    let path = solve(&g, &Query::new(&[Metric::Loss])).unwrap();
    assert_eq!(path.criteria.hops, 4);
    assert!((path.criteria.loss_pct() - (1.0 - 0.9f64.powi(4)) * 100.0).abs() < 1e-9);
    let mut q = Query::new(&[Metric::Loss]);
    // Four links at 10 %: 1 - 0.9^4 = 34.39 % end to end.
    q.constraints.max_loss_pct = Some(34.0);
    assert!(matches!(solve(&g, &q), Err(NoPath::Constraints { .. })));
    q.constraints.max_loss_pct = Some(35.0);
    assert!(solve(&g, &q).is_ok());
}

#[test]
fn sid_lists_default_and_minimal() {
    let g = diamond();
    let path = solve(&g, &Query::new(&[Metric::WidestBottleneck])).unwrap();
    let all = g.sid_list(&path, SidMode::AllRouters).unwrap();
    assert_eq!(all, vec!["fc00:2::2".parse::<Ipv6Addr>().unwrap()]);
    // IGP metric 1 everywhere: r1-r2-r4 and r1-r3-r4 tie, so r2 is needed.
    let min = g.sid_list(&path, SidMode::Minimal).unwrap();
    assert_eq!(min, vec!["fc00:2::2".parse::<Ipv6Addr>().unwrap()]);
    let mut g2 = g.clone();
    let l = g2.links_between(g2.node_id("r1").unwrap(), g2.node_id("r3").unwrap())[0];
    g2.links[l].igp_metric = 10;
    // Now the underlay itself takes the upper path: nothing to force.
    assert!(g2.sid_list(&path, SidMode::Minimal).unwrap().is_empty());
}

#[test]
fn service_function_waypoint() {
    let mut g = diamond();
    g.add_node(Node::service_function(
        "fw",
        "fc00:f::2".parse().unwrap(),
        "firewall",
    ));
    g.connect("r2", "fw", p(1_000_000, 1)).unwrap();
    let fw = g.node_id("fw").unwrap();
    // Without a chain the function node is not transit.
    let plain = solve(&g, &Query::new(&[Metric::Latency])).unwrap();
    assert!(!plain.nodes.contains(&fw));
    let mut q = Query::new(&[Metric::Latency]);
    q.waypoints.push(Waypoint {
        name: "firewall".into(),
        nodes: [fw].into(),
    });
    let path = solve(&g, &q).unwrap();
    assert_eq!(names(&g, &path), ["a", "r1", "r2", "fw", "r2", "r4", "b"]);
    assert_eq!(path.waypoint_positions, vec![3]);
    let sids = g.sid_list(&path, SidMode::AllRouters).unwrap();
    let expect: Vec<Ipv6Addr> = ["fc00:2::2", "fc00:f::2", "fc00:2::2"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(sids, expect);
    let min = g.sid_list(&path, SidMode::Minimal).unwrap();
    assert_eq!(min, vec!["fc00:f::2".parse::<Ipv6Addr>().unwrap()]);
}

#[test]
fn flex_algo_subgraph() {
    let mut g = Graph::new();
    g.add_node(Node::host("a", "2001:db8:1::a".parse().unwrap()));
    g.add_node(Node::host("b", "2001:db8:2::a".parse().unwrap()));
    g.add_node(Node::router("r1", None).with_algos(&[128, 129]));
    g.add_node(Node::router("r2", None).with_algos(&[128]));
    g.add_node(Node::router("r3", None).with_algos(&[129]));
    g.add_node(Node::router("r4", None).with_algos(&[128, 129]));
    let id = |g: &Graph, n: &str| g.node_id(n).unwrap();
    let algos = |a: &[u8]| a.iter().copied().collect::<BTreeSet<u8>>();
    let (a, b, r1, r2, r3, r4) = (
        id(&g, "a"),
        id(&g, "b"),
        id(&g, "r1"),
        id(&g, "r2"),
        id(&g, "r3"),
        id(&g, "r4"),
    );
    let d = LinkProps::default();
    g.add_link(a, r1, 1, d.clone(), d.clone(), algos(&[]));
    g.add_link(r1, r2, 1, d.clone(), d.clone(), algos(&[128]));
    g.add_link(r2, r4, 1, d.clone(), d.clone(), algos(&[128]));
    g.add_link(r1, r3, 5, d.clone(), d.clone(), algos(&[129]));
    g.add_link(r3, r4, 5, d.clone(), d.clone(), algos(&[129]));
    g.add_link(r4, b, 1, d.clone(), d, algos(&[]));
    let mut q = Query::new(&[Metric::Igp]);
    q.flex_algo = Some(129);
    assert_eq!(
        names(&g, &solve(&g, &q).unwrap()),
        ["a", "r1", "r3", "r4", "b"]
    );
    q.flex_algo = Some(128);
    assert_eq!(
        names(&g, &solve(&g, &q).unwrap()),
        ["a", "r1", "r2", "r4", "b"]
    );
    q.flex_algo = Some(130);
    assert!(matches!(solve(&g, &q), Err(NoPath::Disconnected { .. })));
}
