//! Controller mode against the real `mock-controller` (static mode, on
//! loopback port 0, changed through its admin API), with the agent's real
//! BPF maps (loaded, not attached; needs root): the requests sent, results
//! in the maps for exactly the ports that asked, pushes, fail-static while
//! the controller is away, resync after reconnect, address changes, refused
//! long paths. Every wait is on a condition with a deadline.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use agent::plan::Origin;
use agent::resolve::StaticLookup;
use common::*;
use intent_proto::api;
use mock_controller::AdminClient;

/// webserver-b by name; three applications: the same intent name with two
/// different values, and one the table has no answer for (with a fallback).
const CONFIG: &str = "
services:
  webserver-b:
    domain_name: wb.hawk.net
    applications:
      - port: 80
        intents:
          - intent: low-latency
            max_value: 5000
      - port: 81
        intents:
          - intent: low-latency
            max_value: 9000
      - port: 82
        sid: [fcbb:bb00:9::2]
        intents:
          - intent: high-bandwidth
";

fn table(dst: &str, first: &[&str], second: &[&str]) -> String {
    format!(
        "paths:
  - destination: {dst}
    intents: [{{intent: low-latency, max_value: 5000}}]
    sids: [{}]
  - destination: {dst}
    intents: [{{intent: low-latency, max_value: 9000}}]
    sids: [{}]
",
        first.join(", "),
        second.join(", ")
    )
}

fn lookup(addr: &str, ttl: Duration) -> Arc<StaticLookup> {
    let lookup = Arc::new(StaticLookup::new());
    lookup.set("wb.hawk.net", &[a(addr)], ttl);
    lookup
}

/// Wait until the maps hold `want` for each (destination, port), as read
/// back from the dataplane through the agent's report.
async fn wait_paths(
    agent: &agent::ClientAgent,
    want: &[(&str, u16, Vec<std::net::Ipv6Addr>, Origin)],
) {
    eventually("the maps to hold the expected paths", || async {
        let report = agent.report().await.ok_or("agent stopped")?;
        for (dst, port, sids, origin) in want {
            let p = path(&report, dst, *port)?;
            if &p.sids != sids || p.origin != *origin || !p.applied {
                return Err(format!("{p:?}"));
            }
        }
        Ok(())
    })
    .await
}

fn latency(max: i32) -> api::Intent {
    api::Intent {
        r#type: api::IntentType::LowLatency as i32,
        values: vec![api::Value {
            r#type: api::ValueType::MaxValue as i32,
            number_value: Some(max),
            string_value: None,
        }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_land_for_exactly_the_ports_that_asked_and_pushes_change_them() {
    let ctrl = RunningController::start_static(&table(HOST_B, &UPPER, &LOWER), "[::1]:0").await;
    let agent = start_agent(
        CONFIG,
        Some(ctrl.url()),
        lookup(HOST_B, Duration::from_secs(3600)),
    )
    .await;
    wait_paths(
        &agent,
        &[
            (HOST_B, 80, sids(&UPPER), Origin::Controller),
            (HOST_B, 81, sids(&LOWER), Origin::Controller),
            (HOST_B, 82, sids(&["fcbb:bb00:9::2"]), Origin::Fallback),
        ],
    )
    .await;
    // The requests the controller got: one per (address, intents with values).
    let mut admin = AdminClient::connect(&format!("http://{}", ctrl.admin))
        .await
        .unwrap();
    let sessions = admin.list_sessions().await.unwrap();
    let requests: BTreeSet<(String, String, String)> = sessions
        .iter()
        .map(|s| {
            let r = s.request.as_ref().unwrap();
            let intents = agent::request::IntentsKey::from_wire(&r.intents).to_string();
            (
                r.ipv6_source_address.clone(),
                r.ipv6_destination_address.clone(),
                intents,
            )
        })
        .collect();
    let expected: BTreeSet<(String, String, String)> = [
        "low-latency max_value=5000",
        "low-latency max_value=9000",
        "high-bandwidth",
    ]
    .iter()
    .map(|i| (HOST_A.to_string(), HOST_B.to_string(), i.to_string()))
    .collect();
    assert_eq!(sessions.len(), 3, "{sessions:?}");
    assert_eq!(requests, expected);
    let report = agent.report().await.unwrap();
    let error_note = path(&report, HOST_B, 82).unwrap().note.clone().unwrap();
    assert!(error_note.contains("no static entry"), "{error_note}");
    assert_eq!(report.controller.as_ref().unwrap().state, "connected");

    // A push for port 80's request changes port 80 only.
    let reply = admin
        .set_static_path(api::SetStaticPathRequest {
            ipv6_destination_address: HOST_B.into(),
            intents: vec![latency(5000)],
            ipv6_sid_addresses: LOWER.iter().map(|s| s.to_string()).collect(),
        })
        .await
        .unwrap();
    assert_eq!(reply, 1, "pushed to the one session that asked");
    wait_paths(
        &agent,
        &[
            (HOST_B, 80, sids(&LOWER), Origin::Controller),
            (HOST_B, 81, sids(&LOWER), Origin::Controller),
        ],
    )
    .await;
    // A path longer than the dataplane holds never reaches the agent: the
    // controller refuses the push (the agent's own refusal of such an answer
    // is tested in src/request.rs), and the agent keeps what it had.
    let long: Vec<String> = (1..=17).map(|i| format!("fcbb:bb00:{i:x}::2")).collect();
    let refused = admin
        .set_static_path(api::SetStaticPathRequest {
            ipv6_destination_address: HOST_B.into(),
            intents: vec![latency(9000)],
            ipv6_sid_addresses: long,
        })
        .await
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("17 SIDs, the dataplane holds at most 16"),
        "{refused}"
    );
    let report = agent.report().await.unwrap();
    assert_eq!(path(&report, HOST_B, 81).unwrap().sids, sids(&LOWER));
    assert_eq!(path(&report, HOST_B, 80).unwrap().sids, sids(&LOWER));
    agent.stop().await;
    ctrl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_static_while_away_and_a_full_resync_after_reconnect() {
    let ctrl = RunningController::start_static(&table(HOST_B, &UPPER, &LOWER), "[::1]:0").await;
    let port = ctrl.intent.port();
    let agent = start_agent(
        CONFIG,
        Some(ctrl.url()),
        lookup(HOST_B, Duration::from_secs(3600)),
    )
    .await;
    let before = [
        (HOST_B, 80, sids(&UPPER), Origin::Controller),
        (HOST_B, 81, sids(&LOWER), Origin::Controller),
    ];
    wait_paths(&agent, &before).await;
    ctrl.stop().await;
    eventually("the agent to notice the controller is gone", || async {
        let report = agent.report().await.ok_or("stopped")?;
        match report.controller {
            Some(c) if c.state != "connected" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    // Away: the maps keep the last answers.
    let report = agent.report().await.unwrap();
    for (dst, port, want, origin) in &before {
        let p = path(&report, dst, *port).unwrap();
        assert_eq!((&p.sids, p.origin), (want, *origin));
    }
    // Back on the same address with other answers: every request is sent
    // again and the new answers replace the old ones.
    let ctrl =
        RunningController::start_static(&table(HOST_B, &LOWER, &UPPER), &format!("[::1]:{port}"))
            .await;
    wait_paths(
        &agent,
        &[
            (HOST_B, 80, sids(&LOWER), Origin::Controller),
            (HOST_B, 81, sids(&UPPER), Origin::Controller),
        ],
    )
    .await;
    let report = agent.report().await.unwrap();
    let c = report.controller.unwrap();
    assert_eq!((c.state.as_str(), c.connections), ("connected", 2));
    assert_eq!(ctrl.ctrl.counts().1, 3, "three sessions on the new stream");
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_change_removes_the_old_entries_and_asks_for_the_new_address() {
    const NEW: &str = "fcbb:cc00:3::a";
    let mut text = table(HOST_B, &UPPER, &LOWER);
    text.push_str(&table(NEW, &LOWER, &UPPER).replace("paths:\n", ""));
    let ctrl = RunningController::start_static(&text, "[::1]:0").await;
    let dns = lookup(HOST_B, Duration::from_millis(100));
    let agent = start_agent(CONFIG, Some(ctrl.url()), dns.clone()).await;
    wait_paths(&agent, &[(HOST_B, 80, sids(&UPPER), Origin::Controller)]).await;
    dns.set("wb.hawk.net", &[a(NEW)], Duration::from_secs(3600));
    wait_paths(
        &agent,
        &[
            (NEW, 80, sids(&LOWER), Origin::Controller),
            (NEW, 81, sids(&UPPER), Origin::Controller),
        ],
    )
    .await;
    let report = agent.report().await.unwrap();
    assert!(
        report.paths.iter().all(|p| p.destination == a(NEW)),
        "old entries gone: {:?}",
        report.paths
    );
    let sessions = ctrl.ctrl.list_sessions();
    let asked: BTreeSet<String> = sessions
        .iter()
        .map(|s| s.request.as_ref().unwrap().ipv6_destination_address.clone())
        .collect();
    assert_eq!(asked, BTreeSet::from([HOST_B.to_string(), NEW.to_string()]));
    let names = &report.dns[0];
    assert_eq!(
        (names.name.as_str(), names.addresses.as_slice()),
        ("wb.hawk.net", &[a(NEW)][..])
    );
    agent.stop().await;
    ctrl.stop().await;
}

/// The reference example of DESIGN §1 with the controller computing on
/// `topologies/hawk.yaml`: the example configuration, high-bandwidth to
/// wb.hawk.net, gets the upper path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_example_against_the_computing_controller() {
    let hawk = concat!(env!("CARGO_MANIFEST_DIR"), "/../topologies/hawk.yaml");
    let graph = mock_controller::pathcomp::Graph::from_topology(
        &topology::load(std::path::Path::new(hawk)).unwrap(),
    );
    let ctrl = RunningController::start(mock_controller::Source::Computed(graph), "[::1]:0").await;
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/controller.yaml"
    ))
    .unwrap();
    let agent = start_agent(
        &example,
        Some(ctrl.url()),
        lookup(HOST_B, Duration::from_secs(3600)),
    )
    .await;
    wait_paths(&agent, &[(HOST_B, 80, sids(&UPPER), Origin::Controller)]).await;
    agent.stop().await;
    ctrl.stop().await;
}
