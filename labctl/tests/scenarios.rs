//! Scenario files: every shipped scenario resolves against its topology;
//! the JSON Schema is current; every malformed file of the corpus
//! (`fixtures/scenarios/invalid/`) is refused with each problem located,
//! pinned by an insta snapshot. Add a fixture, then
//! `INSTA_UPDATE=always cargo test -p labctl --test scenarios` and review.
#![allow(clippy::unwrap_used)]

use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};

use labctl::scenario::{self, Action, Check, Condition, FlowDirection, Proto, TargetKind};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

const SHIPPED: [&str; 11] = [
    "controller-restart",
    "dns-change",
    "hawkwing-config",
    "high-bandwidth",
    "low-latency",
    "mtu",
    "no-intent",
    "path-change",
    "return-path",
    "sfc",
    "standalone",
];

#[test]
fn every_shipped_scenario_is_valid() {
    let mut found: Vec<String> = std::fs::read_dir(repo().join("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    found.sort();
    assert_eq!(found, SHIPPED);
    for name in SHIPPED {
        let dir = repo().join("scenarios").join(name);
        let (s, topo) = scenario::load(&dir).unwrap_or_else(|e| panic!("{name}:\n{e}"));
        assert_eq!(s.name, name);
        assert!(s.description.is_some(), "{name} has no description");
        assert!(
            s.expectations().count() >= 5,
            "{name}: too few expectations"
        );
        let expected_topo = if name == "sfc" { "hawkv6-8" } else { "hawk" };
        assert_eq!(topo.name, expected_topo);
    }
}

fn a(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// The high-bandwidth scenario holds DESIGN §1's values exactly.
#[test]
fn high_bandwidth_is_design_section_1() {
    let (s, _) = scenario::load(&repo().join("scenarios/high-bandwidth")).unwrap();
    let design = [
        "fcbb:cc00:2::a",
        "fcbb:bb00:6::2",
        "fcbb:bb00:4::2",
        "fcbb:bb00:2::2",
        "fcbb:bb00:1::2",
    ]
    .map(a);
    let Action::Traffic(t) = &s.steps[1].action else {
        panic!("step 2 is not traffic")
    };
    assert_eq!(
        (t.proto, t.port, t.to.kind),
        (Proto::Tcp, 80, TargetKind::DnsName)
    );
    assert_eq!(t.to.address, a("fcbb:cc00:2::a"));
    let Action::Wait(w) = &s.steps[0].action else {
        panic!("step 1 is not a wait")
    };
    let Condition::AgentPath {
        sids: Some(sids), ..
    } = &w.condition
    else {
        panic!("not an agent path wait")
    };
    let travel: Vec<Ipv6Addr> = design[1..].iter().rev().copied().collect();
    assert_eq!(*sids, travel);
    let hops: Vec<(String, Option<u8>, Option<Ipv6Addr>)> = s
        .expectations()
        .filter_map(|(_, e)| match &e.check {
            Check::Srh {
                direction: FlowDirection::Request,
                hops,
                ..
            } => Some(hops),
            _ => None,
        })
        .flatten()
        .map(|h| {
            assert_eq!(h.segments.as_deref(), Some(&design[..]));
            (h.hop.to_string(), h.segments_left, h.destination)
        })
        .collect();
    let sl: Vec<Option<u8>> = hops.iter().map(|h| h.1).collect();
    assert_eq!(sl, [4, 4, 3, 2, 1, 0, 0].map(Some));
    assert_eq!(hops[0].0, "host-a→site-a");
    assert_eq!(hops[6].0, "site-b→host-b");
    // The destination on each link is the active segment.
    for (_, sl, dst) in &hops {
        assert_eq!(*dst, Some(design[usize::from(sl.unwrap())]));
    }
}

#[test]
fn scenario_schema_file_is_current() {
    let path = repo().join("scenarios/scenario.schema.json");
    let generated = scenario::schema::json_schema();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is stale: run `UPDATE_SCHEMA=1 cargo test -p labctl --test scenarios` and commit it",
        path.display()
    );
    let schema: serde_json::Value = serde_json::from_str(&generated).unwrap();
    assert_eq!(schema["required"], serde_json::json!(["topology", "steps"]));
    assert_eq!(schema["additionalProperties"], serde_json::json!(false));
    let text = generated.as_str();
    for key in [
        "traffic",
        "controller_push",
        "agent_path",
        "reply_reversed",
        "segments_left",
    ] {
        assert!(text.contains(key), "{key} missing from the schema");
    }
}

#[test]
fn every_invalid_file_is_refused_with_located_problems() {
    let mut count = 0;
    insta::glob!("fixtures/scenarios/invalid/*.yaml", |path| {
        count += 1;
        let text = std::fs::read_to_string(path).unwrap();
        // Relative to the crate directory (the tests' working directory),
        // so messages and snapshots do not depend on where the tree is.
        let rel = Path::new("tests/fixtures/scenarios/invalid").join(path.file_name().unwrap());
        let err = match scenario::parse_str(&text, &rel) {
            Ok(_) => panic!("{} was accepted", rel.display()),
            Err(e) => e,
        };
        let problems = err.problems();
        assert!(
            !problems.is_empty(),
            "{}: no problems listed",
            rel.display()
        );
        for p in problems {
            assert!(
                p.line > 0,
                "{}: problem without a line: {p:?}",
                rel.display()
            );
        }
        insta::assert_snapshot!(err.to_string());
    });
    assert!(count >= 20, "only {count} invalid fixtures");
}

#[test]
fn many_problems_are_all_reported() {
    let rel = Path::new("tests/fixtures/scenarios/invalid/many-problems.yaml");
    let text = std::fs::read_to_string(rel).unwrap();
    let err = scenario::parse_str(&text, rel).unwrap_err();
    let fields: Vec<&str> = err.problems().iter().map(|p| p.field.as_str()).collect();
    for expected in [
        "agents.host-c",
        "steps[0].traffic.from",
        "steps[0].traffic.port",
        "steps[1].link.between",
        "steps[2].dns.to",
        "steps[3].wait.flow_bytes.flow",
        "steps[4].expect[0].path.nodes[2]",
        "steps[4].expect[1].counter",
    ] {
        assert!(fields.contains(&expected), "{expected} not in {fields:?}");
    }
    // Sorted by position.
    let lines: Vec<u32> = err.problems().iter().map(|p| p.line).collect();
    let mut sorted = lines.clone();
    sorted.sort_unstable();
    assert_eq!(lines, sorted);
}

#[test]
fn scenario_and_topology_files_are_told_apart() {
    assert!(scenario::is_scenario("topology: x.yaml\nsteps: []\n"));
    assert!(scenario::is_scenario("steps:\n  - join: x\n"));
    let hawk = std::fs::read_to_string(repo().join("topologies/hawk.yaml")).unwrap();
    assert!(!scenario::is_scenario(&hawk));
    assert!(!scenario::is_scenario("{{{ not yaml"));
}

/// The no-intent scenario's paths are the underlay's: following each
/// router's installed next hop (topology::routes) from the sender reaches
/// the receiver over exactly the nodes written.
#[test]
fn no_intent_paths_follow_the_underlay_routes() {
    let (s, topo) = scenario::load(&repo().join("scenarios/no-intent")).unwrap();
    let routes = topology::routes::compute(&topo);
    let paths = s.expectations().filter_map(|(_, e)| match &e.check {
        Check::Path { nodes, .. } => Some(nodes.clone()),
        _ => None,
    });
    let mut checked = 0;
    for nodes in paths {
        let dst = topo.nodes[nodes.last().unwrap()].address.unwrap();
        let mut walked = vec![nodes[0].clone()];
        while walked.len() < nodes.len() + 2 {
            let here = walked.last().unwrap();
            if topo.nodes[here].address == Some(dst) {
                break;
            }
            let route = routes[here]
                .iter()
                .filter(|r| r.prefix.contains(&dst))
                .max_by_key(|r| r.prefix.prefix_len())
                .unwrap();
            let next = topo
                .links
                .iter()
                .find_map(|l| {
                    let (end, peer) = (l.endpoint(here)?, l.peer(here)?);
                    (end.ifname == route.dev && peer.addr == route.via).then(|| peer.node.clone())
                })
                .unwrap();
            walked.push(next);
        }
        assert_eq!(walked, nodes);
        checked += 1;
    }
    assert_eq!(checked, 2);
}
