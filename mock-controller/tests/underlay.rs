//! The controller and the lab agree on the underlay: SID lists the
//! controller writes, forwarded by the routes `topology::routes` computes
//! (what labctl installs), walk the path the controller chose. The model
//! has a service function on two routers, so transit through it would be
//! shorter than the routers' own path: the underlay never takes it, and the
//! function sends everything over its default link. (The file format gives
//! a service function exactly one link; the model, which both sides take,
//! is given the second link here.)
#![allow(clippy::unwrap_used)]

mod common;

use common::{intent, request};
use intent_proto::api::{IntentType as I, ValueType as V};
use mock_controller::pathcomp::{Graph, SidMode};
use mock_controller::{Controller, Options, Source};
use topology::routes::{compute, trace};
use topology::Topology;

const TOPOLOGY: &str = r#"
name: sfu
defaults:
  link: {latency: 1ms}
nodes:
  r1: {kind: router, sid: "fcbb:bb00:1::2"}
  r2: {kind: router, sid: "fcbb:bb00:2::2"}
  r3: {kind: router, sid: "fcbb:bb00:3::2"}
  fw: {kind: service-function, function: firewall, sid: "fcbb:dd00:1::2"}
  host-a: {kind: host, address: "fcbb:cc00:1::a"}
  host-b: {kind: host, address: "fcbb:cc00:2::a"}
links:
  - {endpoints: [host-a, r1], igp_metric: 1}
  - {endpoints: [r1, fw], igp_metric: 1}
  - {endpoints: [r1, r2], igp_metric: 10}
  - {endpoints: [r2, r3], igp_metric: 10}
  - {endpoints: [r3, host-b], igp_metric: 1}
"#;

const HOST_A: &str = "fcbb:cc00:1::a";
const HOST_B: &str = "fcbb:cc00:2::a";

/// The file plus a second link fw - r3 (IGP metric 1, highest link id).
fn topo() -> Topology {
    let mut t = topology::parse_str(TOPOLOGY, "sfu.yaml").unwrap();
    let mut second = t.links.iter().find(|l| l.b.node == "fw").unwrap().clone();
    second.id = t.links.len();
    second.subnet = "2001:db8:99::/64".parse().unwrap();
    second.a = topology::Endpoint {
        node: "fw".into(),
        ifname: "r3-99".into(),
        addr: "2001:db8:99::1".parse().unwrap(),
        prefix_len: 64,
    };
    second.b = topology::Endpoint {
        node: "r3".into(),
        ifname: "fw-99".into(),
        addr: "2001:db8:99::2".parse().unwrap(),
        prefix_len: 64,
    };
    t.links.push(second);
    t
}

fn ctrl(mode: SidMode) -> Controller {
    Controller::new(
        Source::Computed(Graph::from_topology(&topo())),
        Options {
            sid_mode: mode,
            ..Options::default()
        },
    )
}

/// The nodes a packet from host-a to host-b carrying `sids` visits in the
/// lab: each SID is reached by the installed routes, then the next.
fn walk_in_lab(sids: &[String]) -> Vec<String> {
    let t = topo();
    let table = compute(&t);
    let mut walked = vec!["host-a".to_owned()];
    for dst in sids.iter().map(String::as_str).chain([HOST_B]) {
        let from = walked.last().unwrap().clone();
        let hops = trace(&t, &table, &from, dst.parse().unwrap()).unwrap();
        walked.extend(hops.into_iter().skip(1));
    }
    walked
}

#[test]
fn underlay_costs_are_the_installed_routes_costs() {
    let t = topo();
    let table = compute(&t);
    let underlay = Graph::from_topology(&t).underlay();
    for (i, (name, node)) in t.nodes.iter().enumerate() {
        if node.kind != topology::NodeKind::Router {
            continue;
        }
        let paths = underlay.shortest_paths(i);
        for (j, target) in t.nodes.keys().enumerate() {
            let route = table[name].iter().find(|r| &r.target == target);
            assert_eq!(
                paths.cost(j).filter(|_| j != i),
                route.map(|r| r.cost),
                "{name} -> {target}"
            );
        }
    }
    // r1 reaches r3 over r2 (20), never through the function (2).
    let r3 = table["r1"].iter().find(|r| r.target == "r3").unwrap();
    assert_eq!(r3.cost, 20);
}

#[test]
fn minimal_sids_walk_the_chosen_path_in_the_lab() {
    let c = ctrl(SidMode::Minimal);
    // The underlay alone takes host-a r1 r2 r3 host-b: nothing to force.
    let plain = c.answer(&request(HOST_A, HOST_B, vec![intent(I::LowLatency, &[])]));
    assert_eq!(plain.error, None);
    assert!(plain.ipv6_sid_addresses.is_empty(), "{plain:?}");
    assert_eq!(
        walk_in_lab(&plain.ipv6_sid_addresses),
        ["host-a", "r1", "r2", "r3", "host-b"]
    );
    // Through the firewall: it hangs off r3 too, but sends over its
    // default link (to r1), so the path goes back through r1.
    let sfc = intent(I::Sfc, &[(V::Sfc, None, Some("firewall"))]);
    let r = c.answer(&request(
        HOST_A,
        HOST_B,
        vec![intent(I::LowLatency, &[]), sfc],
    ));
    assert_eq!(r.error, None);
    assert_eq!(r.ipv6_sid_addresses, ["fcbb:dd00:1::2"]);
    assert_eq!(
        walk_in_lab(&r.ipv6_sid_addresses),
        ["host-a", "r1", "fw", "r1", "r2", "r3", "host-b"]
    );
}

#[test]
fn all_router_sids_walk_the_chosen_path_in_the_lab() {
    let c = ctrl(SidMode::AllRouters);
    let sfc = intent(I::Sfc, &[(V::Sfc, None, Some("firewall"))]);
    let r = c.answer(&request(
        HOST_A,
        HOST_B,
        vec![intent(I::LowLatency, &[]), sfc],
    ));
    assert_eq!(
        r.ipv6_sid_addresses,
        ["fcbb:dd00:1::2", "fcbb:bb00:1::2", "fcbb:bb00:2::2"]
    );
    assert_eq!(
        walk_in_lab(&r.ipv6_sid_addresses),
        ["host-a", "r1", "fw", "r1", "r2", "r3", "host-b"]
    );
}
