//! Property tests: on small random graphs the computed path meets every
//! constraint, and brute force over all simple paths finds no better
//! feasible path (and finds one exactly when the solver does); minimal SID
//! lists, forwarded hop by hop by the underlay of `topology::routes` (the
//! routes labctl installs), walk exactly the computed path.
#![allow(clippy::unwrap_used)]

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::net::Ipv6Addr;

use mock_controller::pathcomp::{
    Constraints, Criteria, Graph, LinkProps, Metric, Node, NodeId, NodeKind, Path, Query, SidMode,
    Waypoint,
};
use proptest::prelude::*;
use topology::routes::{self, Underlay};

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

/// Whether the path may leave `node` over edge `e`: a leaf (end system or
/// service function) sends over its default route's link only.
fn exit_allowed(g: &Graph, node: NodeId, e: usize) -> bool {
    if g.nodes[node].kind == NodeKind::Router {
        return true;
    }
    let links = g.out_edges(node).iter().map(|&o| {
        let l = g.edges[o].link;
        (l, g.links[l].up)
    });
    routes::default_link(links) == Some(g.edges[e].link)
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
            if seen[to] || !edge_allowed(g, e, q) || !exit_allowed(g, at, e) {
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
        assert!(exit_allowed(g, path.nodes[i], e), "edge {e} is no exit");
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

/// The graph's underlay as `topology::routes` defines it, built here from
/// the graph's public fields (not through the controller's conversion).
fn underlay_of(g: &Graph) -> Underlay {
    let mut u = Underlay::new(g.nodes.iter().map(|n| n.kind == NodeKind::Router).collect());
    for (id, l) in g.links.iter().enumerate() {
        let e = &g.edges[l.forward];
        u.add_link(id, e.from, e.to, l.igp_metric, l.up);
    }
    u
}

/// Forward like the lab's underlay from `from` towards `target`: a router
/// uses its route (first link of its shortest path, lowest link id on
/// ties), a leaf its default route. None on a black hole or a loop.
fn underlay(g: &Graph, u: &Underlay, from: NodeId, target: NodeId) -> Option<Vec<NodeId>> {
    let mut hops = vec![from];
    let mut at = from;
    for _ in 0..=g.nodes.len() {
        if at == target {
            return Some(hops);
        }
        let link = if g.nodes[at].kind == NodeKind::Router {
            u.shortest_paths(at).first_link(target)?
        } else {
            u.default_link(at)?.0
        };
        let e = &g.edges[g.links[link].forward];
        at = if e.from == at { e.to } else { e.from };
        hops.push(at);
    }
    None
}

/// The nodes a packet from `src` to `dst` with `sids` visits in the lab's
/// underlay (None on a black hole or a loop).
fn walk_sids(g: &Graph, sids: &[Ipv6Addr], src: NodeId, dst: NodeId) -> Option<Vec<NodeId>> {
    let u = underlay_of(g);
    let mut targets: Vec<NodeId> = sids
        .iter()
        .map(|s| {
            (0..g.nodes.len())
                .find(|&n| g.nodes[n].sid == Some(*s))
                .unwrap()
        })
        .collect();
    targets.push(dst);
    let mut walked = vec![src];
    for t in targets {
        let at = *walked.last().unwrap();
        walked.extend_from_slice(&underlay(g, &u, at, t)?[1..]);
    }
    Some(walked)
}

/// Every simple underlay path `a -> b` by brute force (links up, transit
/// through routers only, a leaf leaves over its default link) as its IGP
/// cost and links.
fn underlay_paths(g: &Graph, a: NodeId, b: NodeId) -> Vec<(u64, Vec<usize>)> {
    fn dfs(
        g: &Graph,
        b: NodeId,
        cost: u64,
        nodes: &mut Vec<NodeId>,
        links: &mut Vec<usize>,
        out: &mut Vec<(u64, Vec<usize>)>,
    ) {
        let at = *nodes.last().unwrap();
        if at == b {
            out.push((cost, links.clone()));
            return;
        }
        if nodes.len() > 1 && g.nodes[at].kind != NodeKind::Router {
            return;
        }
        for &e in g.out_edges(at) {
            let to = g.edges[e].to;
            let link = g.edges[e].link;
            if !g.links[link].up || !exit_allowed(g, at, e) || nodes.contains(&to) {
                continue;
            }
            nodes.push(to);
            links.push(link);
            let metric = u64::from(g.links[link].igp_metric);
            dfs(g, b, cost + metric, nodes, links, out);
            links.pop();
            nodes.pop();
        }
    }
    let mut out = Vec::new();
    dfs(g, b, 0, &mut vec![a], &mut Vec::new(), &mut out);
    out
}

/// Whether the underlay carries traffic from the start of `path`'s hops
/// `i..j` to their end exactly along them: they are the one and only
/// cheapest underlay path.
fn forced_by_brute_force(g: &Graph, path: &Path, i: usize, j: usize) -> bool {
    let all = underlay_paths(g, path.nodes[i], path.nodes[j]);
    let Some(min) = all.iter().map(|(c, _)| *c).min() else {
        return false;
    };
    let cheapest: Vec<&Vec<usize>> = all
        .iter()
        .filter(|(c, _)| *c == min)
        .map(|(_, l)| l)
        .collect();
    let links: Vec<usize> = path.edges[i..j].iter().map(|&e| g.edges[e].link).collect();
    cheapest == [&links]
}

/// The fewest SIDs that force `path` when every stop must be a uniquely
/// cheapest underlay path, by dynamic programming over brute-force checks
/// (waypoints are always stops). None if no list forces it.
fn fewest_sids(g: &Graph, path: &Path) -> Option<usize> {
    let last = path.nodes.len() - 1;
    let mut best: Vec<Option<usize>> = vec![None; last + 1];
    best[0] = Some(0);
    for j in 1..=last {
        if j != last && g.nodes[path.nodes[j]].sid.is_none() {
            continue;
        }
        for i in 0..j {
            let skips_waypoint = path.waypoint_positions.iter().any(|&w| i < w && w < j);
            let Some(before) = best[i] else { continue };
            if skips_waypoint || !forced_by_brute_force(g, path, i, j) {
                continue;
            }
            let count = before + usize::from(j != last);
            best[j] = Some(best[j].map_or(count, |b: usize| b.min(count)));
        }
    }
    best[last]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The minimal SID list, forwarded hop by hop by the lab's underlay
    /// routes, walks exactly the computed path, and is never longer than
    /// the default list (plus the access routers it may need).
    #[test]
    fn minimal_sids_force_the_path(spec in spec()) {
        let g = build(&spec);
        let q = Query { flex_algo: None, ..spec.query.clone() };
        let Ok(path) = g.best_path(0, 1, &q) else { return Ok(()); };
        let minimal = g.sid_list(&path, SidMode::Minimal);
        prop_assert_eq!(minimal.as_ref().ok().map(Vec::len), fewest_sids(&g, &path));
        let Ok(sids) = minimal else { return Ok(()); };
        let all = g.sid_list(&path, SidMode::AllRouters).unwrap();
        prop_assert!(sids.len() <= all.len() + 2);
        prop_assert_eq!(walk_sids(&g, &sids, 0, 1), Some(path.nodes));
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
            if !g.links[g.edges[e].link].up || !exit_allowed(g, at, e) {
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

    /// With service-function waypoints the search is still exact, also
    /// when a function hangs off two routers (it still sends over its
    /// default link only), and the minimal SID list walks the path.
    #[test]
    fn chain_solver_is_exact(
        spec in spec(),
        attach in prop::collection::vec(
            (0usize..7, props(), prop::option::of((0usize..7, 1u32..4, any::<bool>()))),
            2..4,
        ),
        order in prop::sample::select(vec![vec![0usize], vec![0, 1], vec![1, 0]]),
    ) {
        let mut g = build(&spec);
        let mut sfs = Vec::new();
        for (i, (r, p, second)) in attach.iter().enumerate() {
            // Two functions; a third attachment is a second node offering function 0.
            let function = ["fw", "ids"][i % 2];
            let sid = format!("fc00:f{i}::2").parse().unwrap();
            let id = g.add_node(Node::service_function(&format!("sf{i}"), sid, function));
            let router = 2 + r % spec.routers;
            g.add_link(router, id, 1, p.clone(), p.clone(), BTreeSet::new());
            if let Some((r2, igp, up)) = second {
                let l = g.add_link(id, 2 + r2 % spec.routers, *igp, p.clone(), p.clone(), BTreeSet::new());
                g.links[l].up = *up;
            }
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
                let minimal = g.sid_list(&path, SidMode::Minimal);
                prop_assert_eq!(minimal.as_ref().ok().map(Vec::len), fewest_sids(&g, &path));
                if let Ok(sids) = minimal {
                    prop_assert_eq!(walk_sids(&g, &sids, 0, 1), Some(path.nodes.clone()));
                }
            }
            (Err(_), None) => {}
            (Ok(path), None) => prop_assert!(false, "solver found {:?}, brute force none", path),
            (Err(e), Some(b)) => prop_assert!(false, "solver: {}, brute force found {:?}", e, b),
        }
    }
}

/// Make link `l` worse for every intent (never its bandwidth: a change
/// there can help one intent or another).
fn worsen(g: &mut Graph, l: usize, how: u8, by: u64) {
    let link = &mut g.links[l];
    match how % 4 {
        0 => link.up = false,
        1 => link.igp_metric += by as u32,
        _ => {
            for e in [link.forward, link.forward + 1] {
                let p = &mut g.edges[e].props;
                p.latency_us = Some(p.latency_us.unwrap_or(0) + by);
                p.jitter_us = Some(p.jitter_us.unwrap_or(0) + by * (u64::from(how) % 2));
                p.loss_pct = Some((p.loss_pct.unwrap_or(0.0) + by as f64).min(100.0));
                p.utilization_pct = Some((p.utilization_pct.unwrap_or(0.0) + 1.0).min(100.0));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// What lets an admin change recompute only the sessions whose path
    /// uses the link it makes worse: a best path that does not use that
    /// link is still a best path afterwards (the new search finds one
    /// exactly as good).
    #[test]
    fn a_link_getting_worse_off_the_path_keeps_the_path_best(
        spec in spec(),
        pick in any::<prop::sample::Index>(),
        how in any::<u8>(),
        by in 1u64..20,
    ) {
        let mut g = build(&spec);
        let q = &spec.query;
        let Ok(before) = g.best_path(0, 1, q) else { return Ok(()); };
        let used: BTreeSet<usize> = before.edges.iter().map(|&e| g.edges[e].link).collect();
        let unused: Vec<usize> = (0..g.links.len()).filter(|l| !used.contains(l)).collect();
        if unused.is_empty() {
            return Ok(());
        }
        worsen(&mut g, unused[pick.index(unused.len())], how, by);
        let still = g.evaluate(&before, q).expect("the old path is still usable");
        let after = g.best_path(0, 1, q).expect("a path still exists");
        prop_assert_eq!(q.compare(&after.criteria, &still), Ordering::Equal);
    }
}
