//! Table tests on the later 8-router network `topologies/hawkv6-8.yaml`
//! (per-direction delays, losses and rates from the original project's
//! impairment CSV, and the service functions sera-1/2 and snort-1/2).
#![allow(clippy::unwrap_used)]

mod common;

use common::{intent, request, HOST_A, HOST_B};
use intent_proto::api::{IntentType as I, ValueType as V};
use mock_controller::pathcomp::Graph;
use mock_controller::{Controller, Options, Source};

fn ctrl() -> Controller {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../topologies/hawkv6-8.yaml");
    let topo = topology::load(path.as_ref()).unwrap();
    Controller::new(
        Source::Computed(Graph::from_topology(&topo)),
        Options::default(),
    )
}

fn xr(n: &[u8]) -> Vec<String> {
    n.iter().map(|n| format!("fcbb:bb00:{n}::2")).collect()
}

#[test]
fn each_intent_on_hawkv6_8() {
    let c = ctrl();
    let ask = |intents| c.answer(&request(HOST_A, HOST_B, intents));
    // 4 ms over xr1-xr2 and nothing after: xr2-xr4-xr5-xr6 (xr2-xr6 is 8 ms).
    let r = ask(vec![intent(I::LowLatency, &[])]);
    assert_eq!(r.ipv6_sid_addresses, xr(&[1, 2, 4, 5, 6]), "{:?}", r.error);
    // Least loss: every way into site-b loses (xr6 3 %, xr8 2 %); reaching
    // xr8 over loss-free links gives 2 %: xr2-xr6-xr8 (14 ms) and
    // xr2-xr3-xr7-xr8 (12 ms) tie on loss, latency picks the second.
    let r = ask(vec![intent(I::LowPacketLoss, &[])]);
    assert_eq!(r.ipv6_sid_addresses, xr(&[1, 2, 3, 7, 8]), "{:?}", r.error);
    // A 1 % loss budget cannot be met.
    let r = ask(vec![intent(
        I::LowPacketLoss,
        &[(V::MaxValue, Some(1), None)],
    )]);
    assert!(r.ipv6_sid_addresses.is_empty());
    assert_eq!(
        r.error.as_deref(),
        Some("no path from host-a to host-b meets loss <= 1 %")
    );
    // Widest: site-b's links are 100 Mbit/s (xr6) and 1 Gbit/s (xr8), so
    // the path ends xr6-xr8-site-b at 1 Gbit/s; then the least latency.
    let r = ask(vec![intent(I::HighBandwidth, &[])]);
    assert_eq!(r.error, None);
    assert_eq!(r.ipv6_sid_addresses.last().unwrap(), "fcbb:bb00:8::2");
}

#[test]
fn service_chain_on_hawkv6_8() {
    let c = ctrl();
    let chain = intent(
        I::Sfc,
        &[(V::Sfc, None, Some("sera")), (V::Sfc, None, Some("snort"))],
    );
    let r = c.answer(&request(
        HOST_A,
        HOST_B,
        vec![intent(I::LowLatency, &[]), chain],
    ));
    assert_eq!(r.error, None);
    // sera-1 hangs off xr2, snort-1 off xr6: the 4 ms path visits both.
    let mut expect = xr(&[1, 2]);
    expect.push("fcbb:dd00:1::2".into());
    expect.extend(xr(&[2, 4, 5, 6]));
    expect.push("fcbb:dd00:3::2".into());
    expect.extend(xr(&[6]));
    assert_eq!(r.ipv6_sid_addresses, expect);
    // Reversed order: snort first, then sera.
    let rev = intent(
        I::Sfc,
        &[(V::Sfc, None, Some("snort")), (V::Sfc, None, Some("sera"))],
    );
    let r = c.answer(&request(
        HOST_A,
        HOST_B,
        vec![intent(I::LowLatency, &[]), rev],
    ));
    assert_eq!(r.error, None);
    let sids = r.ipv6_sid_addresses;
    let snort = sids
        .iter()
        .position(|s| s.starts_with("fcbb:dd00:3::") || s.starts_with("fcbb:dd00:4::"));
    let sera = sids
        .iter()
        .position(|s| s.starts_with("fcbb:dd00:1::") || s.starts_with("fcbb:dd00:2::"));
    assert!(snort.unwrap() < sera.unwrap(), "{sids:?}");
}
