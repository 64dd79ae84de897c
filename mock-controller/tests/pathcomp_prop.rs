//! Property tests: on small random graphs the computed path meets every
//! constraint, and brute force over all simple paths finds no better
//! feasible path (and finds one exactly when the solver does).
#![allow(clippy::unwrap_used)]

use std::cmp::Ordering;
use std::collections::BTreeSet;

use mock_controller::pathcomp::{
    Constraints, Criteria, Graph, LinkProps, Metric, Node, NodeId, NodeKind, Path, Query, SidMode,
    Waypoint,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Spec {
    routers: usize,
    links: Vec<(usize, usize, LinkProps, LinkProps, bool, u32, bool)>,
    query: Query,
}

fn props() -> impl Strategy<Value = LinkProps> {
    (
        prop::option::of(prop::sample::select(vec![10u64, 100, 1000, 10_000])),
        prop::option::of(0u64..20),
        prop::option::of(0u64..5),
        prop::option::of(prop::sample::select(vec![0.0f64, 0.5, 1.0, 5.0, 100.0])),
        prop::option::of(prop::sample::select(vec![0.0f64, 10.0, 50.0, 90.0])),
    )
        .prop_map(|(b, l, j, p, u)| LinkProps {
            bandwidth_kbps: b,
            latency_us: l,
            jitter_us: j,
            loss_pct: p,
            utilization_pct: u,
        })
}

fn metric() -> impl Strategy<Value = Metric> {
    prop::sample::select(vec![
        Metric::Latency,
        Metric::Jitter,
        Metric::Loss,
        Metric::WidestBottleneck,
        Metric::NarrowestLink,
        Metric::MaxUtilization,
        Metric::Igp,
    ])
}

fn spec() -> impl Strategy<Value = Spec> {
    (2usize..7).prop_flat_map(|routers| {
        // Nodes: 0 = src host, 1 = dst host, 2.. = routers.
        let n = routers + 2;
        let link = (
            0..n,
            0..n,
            props(),
            props(),
            prop::bool::weighted(0.85),
            1u32..4,
            any::<bool>(),
        );
        let constraints = (
            prop::option::of(prop::sample::select(vec![10u64, 100, 1000])),
            prop::option::of(0u64..60),
            prop::option::of(0u64..12),
            prop::option::of(prop::sample::select(vec![0.0f64, 1.0, 2.0, 10.0])),
        )
            .prop_map(|(b, l, j, p)| Constraints {
                min_bandwidth_kbps: b,
                max_latency_us: l,
                max_jitter_us: j,
                max_loss_pct: p,
            });
        (
            prop::collection::vec(link, 1..(routers * 3 + 2)),
            prop::collection::vec(metric(), 1..4),
            constraints,
            prop::option::of(Just(128u8)),
        )
            .prop_map(move |(links, objective, constraints, flex_algo)| Spec {
                routers,
                links: links.into_iter().filter(|l| l.0 != l.1).collect(),
                query: Query {
                    objective,
                    constraints,
                    flex_algo,
                    waypoints: Vec::new(),
                },
            })
    })
}

fn build(spec: &Spec) -> Graph {
    let mut g = Graph::new();
    g.add_node(Node::host("src", "2001:db8:1::a".parse().unwrap()));
    g.add_node(Node::host("dst", "2001:db8:2::a".parse().unwrap()));
    for r in 0..spec.routers {
        // Every other router takes part in flex-algo 128.
        let algos: &[u8] = if r % 2 == 0 { &[128] } else { &[] };
        let sid = format!("fc00:{:x}::2", r + 1).parse().unwrap();
        g.add_node(Node::router(&format!("r{r}"), Some(sid)).with_algos(algos));
    }
    for (a, b, ab, ba, up, igp, in_algo) in &spec.links {
        let algos: BTreeSet<u8> = if *in_algo {
            [128].into()
        } else {
            BTreeSet::new()
        };
        let l = g.add_link(*a, *b, *igp, ab.clone(), ba.clone(), algos);
        g.links[l].up = *up;
    }
    g
}

fn edge_allowed(g: &Graph, e: usize, q: &Query) -> bool {
    let edge = &g.edges[e];
    let link = &g.links[edge.link];
    let access = g.nodes[edge.from].kind == NodeKind::EndSystem
        || g.nodes[edge.to].kind == NodeKind::EndSystem;
    link.up
        && q.flex_algo
            .is_none_or(|a| access || link.flex_algos.contains(&a))
}

fn node_allowed_transit(g: &Graph, n: NodeId, q: &Query) -> bool {
    g.nodes[n].kind == NodeKind::Router
        && q.flex_algo
            .is_none_or(|a| g.nodes[n].flex_algos.contains(&a))
}

/// Every simple path src -> dst through allowed transit nodes.
fn all_paths(g: &Graph, q: &Query, src: NodeId, dst: NodeId) -> Vec<Vec<usize>> {
    fn dfs(
        g: &Graph,
        q: &Query,
        at: NodeId,
        dst: NodeId,
        seen: &mut Vec<bool>,
        edges: &mut Vec<usize>,
        out: &mut Vec<Vec<usize>>,
    ) {
        if at == dst {
            out.push(edges.clone());
            return;
        }
        for &e in g.out_edges(at) {
            let to = g.edges[e].to;
            if seen[to] || !edge_allowed(g, e, q) {
                continue;
            }
            if to != dst && !node_allowed_transit(g, to, q) {
                continue;
            }
            seen[to] = true;
            edges.push(e);
            dfs(g, q, to, dst, seen, edges, out);
            edges.pop();
            seen[to] = false;
        }
    }
    let mut seen = vec![false; g.nodes.len()];
    seen[src] = true;
    let mut out = Vec::new();
    dfs(g, q, src, dst, &mut seen, &mut Vec::new(), &mut out);
    out
}

fn check_path_shape(g: &Graph, q: &Query, path: &Path, src: NodeId, dst: NodeId) {
    assert_eq!(path.nodes.first(), Some(&src));
    assert_eq!(path.nodes.last(), Some(&dst));
    assert_eq!(path.edges.len() + 1, path.nodes.len());
    for (i, &e) in path.edges.iter().enumerate() {
        assert_eq!(g.edges[e].from, path.nodes[i]);
        assert_eq!(g.edges[e].to, path.nodes[i + 1]);
        assert!(edge_allowed(g, e, q), "edge {e} not allowed");
    }
    for &n in &path.nodes[1..path.nodes.len() - 1] {
        assert!(node_allowed_transit(g, n, q), "transit through {n}");
    }
    let unique: BTreeSet<_> = path.nodes.iter().collect();
    assert_eq!(unique.len(), path.nodes.len(), "path not simple");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn solver_is_exact(spec in spec()) {
        let g = build(&spec);
        let q = &spec.query;
        let (src, dst) = (0, 1);
        let brute: Vec<(Vec<usize>, Criteria)> = all_paths(&g, q, src, dst)
            .into_iter()
            .map(|p| { let c = g.measure(&p); (p, c) })
            .filter(|(_, c)| q.constraints.met_by(c))
            .collect();
        let best = brute.iter().min_by(|a, b| q.compare(&a.1, &b.1));
        match (g.best_path(src, dst, q), best) {
            (Ok(path), Some((_, best))) => {
                check_path_shape(&g, q, &path, src, dst);
                let c = g.measure(&path.edges);
                prop_assert_eq!(c, path.criteria);
                prop_assert!(q.constraints.met_by(&c), "constraints broken: {:?}", c);
                prop_assert_eq!(q.compare(&c, best), Ordering::Equal,
                    "solver {:?} vs brute force {:?}", c, best);
            }
            (Err(_), None) => {}
            (Ok(path), None) => prop_assert!(false, "solver found {:?}, brute force none", path),
            (Err(e), Some(b)) => prop_assert!(false, "solver: {}, brute force found {:?}", e, b),
        }
    }
}

/// Forward like the underlay: from `at` towards `target` along the unique
/// shortest IGP path (None if it is not unique or does not exist).
fn underlay(g: &Graph, from: NodeId, target: NodeId) -> Option<Vec<NodeId>> {
    // Distances to `target` (IGP metric and up state are symmetric).
    let (dist, _) = g.igp_tree(target);
    if dist[from] == u64::MAX {
        return None;
    }
    let mut hops = vec![from];
    let mut at = from;
    while at != target {
        let next: Vec<NodeId> = g
            .out_edges(at)
            .iter()
            .filter(|&&e| g.links[g.edges[e].link].up)
            .filter(|&&e| {
                let to = g.edges[e].to;
                dist[to] != u64::MAX
                    && (to == target || g.nodes[to].kind != NodeKind::EndSystem)
                    && dist[to] + u64::from(g.links[g.edges[e].link].igp_metric) == dist[at]
            })
            .map(|&e| g.edges[e].to)
            .collect();
        match next.as_slice() {
            [one] => {
                hops.push(*one);
                at = *one;
            }
            _ => return None,
        }
    }
    Some(hops)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The minimal SID list, forwarded hop by hop on unique shortest IGP
    /// paths, walks exactly the computed path, and is never longer than the
    /// default list (plus the access routers it may need).
    #[test]
    fn minimal_sids_force_the_path(spec in spec()) {
        let g = build(&spec);
        let q = Query { flex_algo: None, ..spec.query.clone() };
        let Ok(path) = g.best_path(0, 1, &q) else { return Ok(()); };
        let Ok(sids) = g.sid_list(&path, SidMode::Minimal) else { return Ok(()); };
        let all = g.sid_list(&path, SidMode::AllRouters).unwrap();
        prop_assert!(sids.len() <= all.len() + 2);
        let mut targets: Vec<NodeId> = sids
            .iter()
            .map(|s| (0..g.nodes.len()).find(|&n| g.nodes[n].sid == Some(*s)).unwrap())
            .collect();
        targets.push(1);
        let mut walked = vec![0];
        for t in targets {
            let at = *walked.last().unwrap();
            let hops = underlay(&g, at, t);
            prop_assert!(hops.is_some(), "no unique underlay path {} -> {}", at, t);
            walked.extend_from_slice(&hops.unwrap()[1..]);
        }
        prop_assert_eq!(walked, path.nodes);
    }
}

/// Every path src -> dst that is simple in (node, stage) and visits the
/// waypoints in order; service functions only as the waypoint due.
fn all_chain_paths(g: &Graph, q: &Query, src: NodeId, dst: NodeId) -> Vec<Vec<usize>> {
    let wps = &q.waypoints;
    let stages = wps.len() + 1;
    #[allow(clippy::too_many_arguments)]
    fn dfs(
        g: &Graph,
        q: &Query,
        at: NodeId,
        stage: usize,
        dst: NodeId,
        seen: &mut Vec<bool>,
        edges: &mut Vec<usize>,
        out: &mut Vec<Vec<usize>>,
    ) {
        let stages = q.waypoints.len() + 1;
        if at == dst && !edges.is_empty() {
            if stage == q.waypoints.len() {
                out.push(edges.clone());
            }
            return;
        }
        for &e in g.out_edges(at) {
            let to = g.edges[e].to;
            if !g.links[g.edges[e].link].up {
                continue;
            }
            let due = q
                .waypoints
                .get(stage)
                .is_some_and(|w| w.nodes.contains(&to));
            let next = if due { stage + 1 } else { stage };
            let ok = to == dst
                || match g.nodes[to].kind {
                    NodeKind::Router => true,
                    NodeKind::ServiceFunction => due,
                    NodeKind::EndSystem => false,
                };
            if !ok || seen[to * stages + next] || to == 0 {
                continue;
            }
            seen[to * stages + next] = true;
            edges.push(e);
            dfs(g, q, to, next, dst, seen, edges, out);
            edges.pop();
            seen[to * stages + next] = false;
        }
    }
    let start = if wps.first().is_some_and(|w| w.nodes.contains(&src)) {
        1
    } else {
        0
    };
    let mut seen = vec![false; g.nodes.len() * stages];
    seen[src * stages + start] = true;
    let mut out = Vec::new();
    dfs(g, q, src, start, dst, &mut seen, &mut Vec::new(), &mut out);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// With service-function waypoints the search is still exact.
    #[test]
    fn chain_solver_is_exact(
        spec in spec(),
        attach in prop::collection::vec((0usize..7, props()), 2..4),
        order in prop::sample::select(vec![vec![0usize], vec![0, 1], vec![1, 0]]),
    ) {
        let mut g = build(&spec);
        let mut sfs = Vec::new();
        for (i, (r, p)) in attach.iter().enumerate() {
            // Two functions; a third attachment is a second node offering function 0.
            let function = ["fw", "ids"][i % 2];
            let sid = format!("fc00:f{i}::2").parse().unwrap();
            let id = g.add_node(Node::service_function(&format!("sf{i}"), sid, function));
            let router = 2 + r % spec.routers;
            g.add_link(router, id, 1, p.clone(), p.clone(), BTreeSet::new());
            sfs.push((function, id));
        }
        let waypoints: Vec<Waypoint> = order
            .iter()
            .map(|&f| {
                let name = ["fw", "ids"][f];
                Waypoint {
                    name: name.into(),
                    nodes: sfs.iter().filter(|(n, _)| *n == name).map(|(_, id)| *id).collect(),
                }
            })
            .collect();
        let q = Query { flex_algo: None, waypoints, ..spec.query.clone() };
        let brute: Vec<Criteria> = all_chain_paths(&g, &q, 0, 1)
            .into_iter()
            .map(|p| g.measure(&p))
            .filter(|c| q.constraints.met_by(c))
            .collect();
        let best = brute.iter().min_by(|a, b| q.compare(a, b));
        match (g.best_path(0, 1, &q), best) {
            (Ok(path), Some(best)) => {
                let c = g.measure(&path.edges);
                prop_assert!(q.constraints.met_by(&c));
                prop_assert_eq!(q.compare(&c, best), Ordering::Equal, "solver {:?} vs brute {:?}", c, best);
                prop_assert_eq!(path.waypoint_positions.len(), q.waypoints.len());
                for (w, &pos) in q.waypoints.iter().zip(&path.waypoint_positions) {
                    prop_assert!(w.nodes.contains(&path.nodes[pos]));
                }
            }
            (Err(_), None) => {}
            (Ok(path), None) => prop_assert!(false, "solver found {:?}, brute force none", path),
            (Err(e), Some(b)) => prop_assert!(false, "solver: {}, brute force found {:?}", e, b),
        }
    }
}
