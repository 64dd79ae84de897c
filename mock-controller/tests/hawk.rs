//! Table tests on the reference network `topologies/hawk.yaml` (DESIGN §8):
//! upper path vpp1-vpp2-vpp4-vpp6 has the bandwidth (1 Gbit/s, 4 ms per
//! link), lower path vpp1-vpp3-vpp5-vpp6 the latency (100 Mbit/s, 1 ms).
#![allow(clippy::unwrap_used)]

use intent_proto::api::{self, IntentType as I, ValueType as V};
mod common;

use common::{graph_of, hawk_text, intent, sids, HOST_A, HOST_B, LOWER, UPPER};
use mock_controller::pathcomp::SidMode;
use mock_controller::{Controller, Options, Source};

fn ctrl(text: &str, sid_mode: SidMode) -> Controller {
    Controller::new(
        Source::Computed(graph_of(text)),
        Options {
            sid_mode,
            ..Options::default()
        },
    )
}

fn request(intents: Vec<api::Intent>) -> api::PathRequest {
    common::request(HOST_A, HOST_B, intents)
}

fn ask(c: &Controller, intents: Vec<api::Intent>) -> api::PathResult {
    c.answer(&request(intents))
}

#[test]
fn high_bandwidth_takes_the_upper_path() {
    let r = ask(
        &ctrl(&hawk_text(), SidMode::AllRouters),
        vec![intent(I::HighBandwidth, &[])],
    );
    assert_eq!(r.error, None);
    assert_eq!(r.ipv6_sid_addresses, sids(&UPPER));
    assert_eq!(r.ipv6_source_address, HOST_A);
    assert_eq!(r.ipv6_destination_address, HOST_B);
    assert_eq!(r.intents, vec![intent(I::HighBandwidth, &[])]);
}

#[test]
fn low_latency_takes_the_lower_path() {
    let c = ctrl(&hawk_text(), SidMode::AllRouters);
    assert_eq!(
        ask(&c, vec![intent(I::LowLatency, &[])]).ipv6_sid_addresses,
        sids(&LOWER)
    );
    // Jitter is 0 everywhere: ties fall to latency.
    assert_eq!(
        ask(&c, vec![intent(I::LowJitter, &[])]).ipv6_sid_addresses,
        sids(&LOWER)
    );
    // Narrowest path: both paths have four 10 Gbit/s site and access links;
    // then 100 Mbit/s (lower) beats 1 Gbit/s (upper).
    assert_eq!(
        ask(&c, vec![intent(I::LowBandwidth, &[])]).ipv6_sid_addresses,
        sids(&LOWER)
    );
}

#[test]
fn infeasible_constraints_give_empty_list_and_reason() {
    let c = ctrl(&hawk_text(), SidMode::AllRouters);
    // Lower path: 3 x 1 ms + 4 x 50 us = 3200 us.
    let r = ask(
        &c,
        vec![intent(I::LowLatency, &[(V::MaxValue, Some(3199), None)])],
    );
    assert!(r.ipv6_sid_addresses.is_empty());
    assert_eq!(
        r.error.as_deref(),
        Some("no path from host-a to host-b meets latency <= 3199 us")
    );
    let r = ask(
        &c,
        vec![intent(I::LowLatency, &[(V::MaxValue, Some(3200), None)])],
    );
    assert_eq!(r.ipv6_sid_addresses, sids(&LOWER));
    let r = ask(
        &c,
        vec![intent(
            I::HighBandwidth,
            &[(V::MinValue, Some(2_000_000), None)],
        )],
    );
    assert!(r.ipv6_sid_addresses.is_empty());
    assert_eq!(
        r.error.as_deref(),
        Some("no path from host-a to host-b meets bandwidth >= 2000000 kbit/s")
    );
}

#[test]
fn combined_intents_objective_first_constraints_from_all() {
    let c = ctrl(&hawk_text(), SidMode::AllRouters);
    // Widest path, but latency must stay <= 5 ms: only the lower path fits.
    let r = ask(
        &c,
        vec![
            intent(I::HighBandwidth, &[]),
            intent(I::LowLatency, &[(V::MaxValue, Some(5000), None)]),
        ],
    );
    assert_eq!(r.ipv6_sid_addresses, sids(&LOWER));
    // Fastest path that still carries 500 Mbit/s: the upper path.
    let r = ask(
        &c,
        vec![
            intent(I::LowLatency, &[]),
            intent(I::HighBandwidth, &[(V::MinValue, Some(500_000), None)]),
        ],
    );
    assert_eq!(r.ipv6_sid_addresses, sids(&UPPER));
    // Both limits at once cannot be met.
    let r = ask(
        &c,
        vec![
            intent(I::LowLatency, &[(V::MaxValue, Some(5000), None)]),
            intent(I::HighBandwidth, &[(V::MinValue, Some(500_000), None)]),
        ],
    );
    assert!(r.ipv6_sid_addresses.is_empty());
    assert!(r
        .error
        .unwrap()
        .contains("bandwidth >= 500000 kbit/s, latency <= 5000 us"));
}

/// hawk with flex-algo 128 on the upper routers and 129 on the lower ones
/// (the sites and vpp1/vpp6 in both), and a firewall hanging off vpp5.
fn hawk_extended() -> String {
    let mut t = hawk_text();
    for (node, algos) in [
        ("site-a", "[128, 129]"),
        ("site-b", "[128, 129]"),
        ("vpp1", "[128, 129]"),
        ("vpp6", "[128, 129]"),
        ("vpp2", "[128]"),
        ("vpp4", "[128]"),
        ("vpp3", "[129]"),
        ("vpp5", "[129]"),
    ] {
        let from = format!("  {node}: {{kind: router,");
        let to = format!("  {node}: {{kind: router, flex_algos: {algos},");
        assert!(t.contains(&from), "{from}");
        t = t.replace(&from, &to);
    }
    t = t.replace(
        "nodes:\n",
        "nodes:\n  fw: {kind: service-function, function: firewall, sid: \"fcbb:dd00:1::2\"}\n",
    );
    t = t.replace("links:\n", "links:\n  - {endpoints: [vpp5, fw]}\n");
    t
}

#[test]
fn flex_algo_restricts_to_its_subgraph() {
    let c = ctrl(&hawk_extended(), SidMode::AllRouters);
    let flex = |n| intent(I::FlexAlgo, &[(V::FlexAlgoNr, Some(n), None)]);
    assert_eq!(ask(&c, vec![flex(128)]).ipv6_sid_addresses, sids(&UPPER));
    assert_eq!(ask(&c, vec![flex(129)]).ipv6_sid_addresses, sids(&LOWER));
    // Low latency inside algo 128 must stay on the (slow) upper path.
    let r = ask(&c, vec![intent(I::LowLatency, &[]), flex(128)]);
    assert_eq!(r.ipv6_sid_addresses, sids(&UPPER));
    let r = ask(&c, vec![flex(200)]);
    assert!(r.ipv6_sid_addresses.is_empty());
    assert_eq!(
        r.error.as_deref(),
        Some("no path from host-a to host-b within flex-algo 200")
    );
}

#[test]
fn sfc_visits_the_named_function() {
    let c = ctrl(&hawk_extended(), SidMode::AllRouters);
    let sfc = intent(I::Sfc, &[(V::Sfc, None, Some("firewall"))]);
    // Widest path through the firewall: only reachable from vpp5.
    let r = ask(&c, vec![intent(I::HighBandwidth, &[]), sfc.clone()]);
    assert_eq!(r.error, None);
    assert_eq!(
        r.ipv6_sid_addresses,
        sids(&[
            "fcbb:bb00:1::2",
            "fcbb:bb00:3::2",
            "fcbb:bb00:5::2",
            "fcbb:dd00:1::2",
            "fcbb:bb00:5::2",
            "fcbb:bb00:6::2"
        ])
    );
    // Without the chain the firewall is never transit.
    let r = ask(&c, vec![intent(I::HighBandwidth, &[])]);
    assert_eq!(r.ipv6_sid_addresses, sids(&UPPER));
    let r = ask(&c, vec![intent(I::Sfc, &[(V::Sfc, None, Some("ids"))])]);
    assert_eq!(
        r.error.as_deref(),
        Some("intents[0].values[0].string_value: no service function (or router) named \"ids\" in the topology")
    );
    // Minimal list: the firewall SID alone forces vpp5 and the way back.
    let min = ctrl(&hawk_extended(), SidMode::Minimal);
    let r = ask(&min, vec![intent(I::HighBandwidth, &[]), sfc]);
    assert_eq!(r.ipv6_sid_addresses, sids(&["fcbb:dd00:1::2"]));
}

#[test]
fn minimal_sids_force_the_path_with_fewer_segments() {
    // IGP metric 10 everywhere: host-a -> host-b has two equal underlay
    // paths, so one SID (vpp4, the furthest point of a unique prefix) is needed.
    let c = ctrl(&hawk_text(), SidMode::Minimal);
    let r = ask(&c, vec![intent(I::HighBandwidth, &[])]);
    assert_eq!(r.ipv6_sid_addresses, sids(&["fcbb:bb00:4::2"]));
    let r = ask(&c, vec![intent(I::LowLatency, &[])]);
    assert_eq!(r.ipv6_sid_addresses, sids(&["fcbb:bb00:5::2"]));
}

#[test]
fn link_down_gives_a_new_path() {
    let c = ctrl(&hawk_text(), SidMode::AllRouters);
    let reply = c
        .set_link(&api::SetLinkRequest {
            a: "vpp4".into(),
            b: "vpp2".into(),
            up: Some(false),
            ..Default::default()
        })
        .unwrap();
    assert!(!reply.link.unwrap().up);
    let r = ask(&c, vec![intent(I::HighBandwidth, &[])]);
    assert_eq!(r.ipv6_sid_addresses, sids(&LOWER));
    // Raising the lower path's latency does not matter to high-bandwidth...
    c.set_link(&api::SetLinkRequest {
        a: "vpp2".into(),
        b: "vpp4".into(),
        up: Some(true),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        ask(&c, vec![intent(I::HighBandwidth, &[])]).ipv6_sid_addresses,
        sids(&UPPER)
    );
    // ...but makes low-latency move up.
    c.set_link(&api::SetLinkRequest {
        a: "vpp3".into(),
        b: "vpp5".into(),
        latency_us: Some(20_000),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        ask(&c, vec![intent(I::LowLatency, &[])]).ipv6_sid_addresses,
        sids(&UPPER)
    );
}

#[test]
fn unknown_addresses_name_their_field() {
    let c = ctrl(&hawk_text(), SidMode::AllRouters);
    let mut req = request(vec![intent(I::LowLatency, &[])]);
    req.ipv6_destination_address = "2001:db8::99".into();
    let r = c.answer(&req);
    assert_eq!(
        r.error.as_deref(),
        Some("ipv6_destination_address: 2001:db8::99 belongs to no host of the topology")
    );
    // An address inside host-b's /48 is host-b.
    req.ipv6_destination_address = "fcbb:cc00:2::77".into();
    assert_eq!(c.answer(&req).ipv6_sid_addresses, sids(&LOWER));
}

#[test]
fn a_request_to_its_own_host_is_refused() {
    let c = ctrl(&hawk_text(), SidMode::AllRouters);
    let mut req = request(vec![intent(I::LowLatency, &[])]);
    req.ipv6_destination_address = req.ipv6_source_address.clone();
    let r = c.answer(&req);
    assert!(r.ipv6_sid_addresses.is_empty());
    assert_eq!(
        r.error.as_deref(),
        Some("ipv6_destination_address: equals the source address")
    );
    // Another address of host-a's /48 is host-a too.
    req.ipv6_destination_address = "fcbb:cc00:1::77".into();
    assert_eq!(
        c.answer(&req).error.as_deref(),
        Some("ipv6_destination_address: fcbb:cc00:1::77 belongs to host-a, the source's own host")
    );
}
