//! The controller never answers a path the dataplane refuses: more than
//! `srh::MAX_SIDS` SIDs is infeasible (empty list, an error naming the
//! limit); the minimal encoding is used when the default one is too long
//! but the minimal one fits. Both on generated chains.
#![allow(clippy::unwrap_used)]

mod common;

use common::{intent, request};
use intent_proto::api::IntentType as I;
use mock_controller::pathcomp::{Graph, LinkProps, Node, SidMode};
use mock_controller::{Controller, Options, Source};

const HOST_A: &str = "2001:db8:1::a";
const HOST_B: &str = "2001:db8:2::a";

fn sid(i: usize) -> std::net::Ipv6Addr {
    format!("fc00:{:x}::2", i + 1).parse().unwrap()
}

fn latency(us: u64) -> LinkProps {
    LinkProps {
        latency_us: Some(us),
        ..Default::default()
    }
}

fn hosts(g: &mut Graph) {
    g.add_node(Node::host("a", HOST_A.parse().unwrap()));
    g.add_node(Node::host("b", HOST_B.parse().unwrap()));
}

/// a - r0 - r1 - ... - r(n-1) - b: one underlay path, so the minimal list
/// is empty while the default list names every router but the two access
/// routers.
fn line(n: usize) -> Graph {
    let mut g = Graph::new();
    hosts(&mut g);
    for i in 0..n {
        g.add_node(Node::router(&format!("r{i}"), Some(sid(i))));
    }
    g.connect("a", "r0", latency(1)).unwrap();
    for i in 1..n {
        g.connect(&format!("r{}", i - 1), &format!("r{i}"), latency(1))
            .unwrap();
    }
    g.connect(&format!("r{}", n - 1), "b", latency(1)).unwrap();
    g
}

/// a - j0 = {f0 | s0} = j1 = {f1 | s1} = ... = jn - b: `n` diamonds, each
/// with a fast and a slow branch of the same IGP cost. The fastest path
/// takes every fast branch, and each one needs its own SID (equal-cost
/// underlay paths force nothing): the minimal list has `n` SIDs.
fn diamonds(n: usize) -> Graph {
    let mut g = Graph::new();
    hosts(&mut g);
    for i in 0..=n {
        g.add_node(Node::router(&format!("j{i}"), Some(sid(3 * i))));
        if i < n {
            g.add_node(Node::router(&format!("f{i}"), Some(sid(3 * i + 1))));
            g.add_node(Node::router(&format!("s{i}"), Some(sid(3 * i + 2))));
        }
    }
    g.connect("a", "j0", latency(1)).unwrap();
    for i in 0..n {
        let (j, next) = (format!("j{i}"), format!("j{}", i + 1));
        for (branch, us) in [(format!("f{i}"), 1), (format!("s{i}"), 100)] {
            g.connect(&j, &branch, latency(us)).unwrap();
            g.connect(&branch, &next, latency(us)).unwrap();
        }
    }
    g.connect(&format!("j{n}"), "b", latency(1)).unwrap();
    g
}

fn ask(g: Graph, mode: SidMode) -> intent_proto::api::PathResult {
    let ctrl = Controller::new(
        Source::Computed(g),
        Options {
            sid_mode: mode,
            ..Options::default()
        },
    );
    ctrl.answer(&request(HOST_A, HOST_B, vec![intent(I::LowLatency, &[])]))
}

#[test]
fn sixteen_sids_fit() {
    // 18 routers: 16 between the access routers.
    let r = ask(line(18), SidMode::AllRouters);
    assert_eq!(r.error, None);
    assert_eq!(r.ipv6_sid_addresses.len(), srh::MAX_SIDS);
    // 16 diamonds: the minimal list is exactly 16 SIDs.
    let r = ask(diamonds(16), SidMode::Minimal);
    assert_eq!(r.error, None);
    assert_eq!(r.ipv6_sid_addresses.len(), 16);
}

#[test]
fn a_default_list_over_the_limit_falls_back_to_the_minimal_one() {
    // 19 routers: the default list would hold 17 SIDs; the underlay
    // follows the line by itself.
    let r = ask(line(19), SidMode::AllRouters);
    assert_eq!(r.error, None);
    assert!(r.ipv6_sid_addresses.is_empty(), "{r:?}");
}

#[test]
fn a_path_needing_more_sids_than_the_dataplane_holds_is_infeasible() {
    for mode in [SidMode::AllRouters, SidMode::Minimal] {
        let r = ask(diamonds(17), mode);
        assert!(r.ipv6_sid_addresses.is_empty(), "{mode:?}: {r:?}");
        assert_eq!(
            r.error.as_deref(),
            Some("path needs 17 SIDs, the dataplane holds at most 16"),
            "{mode:?}"
        );
    }
}
