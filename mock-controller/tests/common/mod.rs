//! Shared by the integration tests: the hawk fixture and request builders.
#![allow(dead_code, clippy::unwrap_used)]

pub mod binary;

use intent_proto::api::{self, IntentType, ValueType};
use mock_controller::pathcomp::Graph;

pub const HOST_A: &str = "fcbb:cc00:1::a";
pub const HOST_B: &str = "fcbb:cc00:2::a";
/// hawk's upper path vpp1-vpp2-vpp4-vpp6: the bandwidth.
pub const UPPER: [&str; 4] = [
    "fcbb:bb00:1::2",
    "fcbb:bb00:2::2",
    "fcbb:bb00:4::2",
    "fcbb:bb00:6::2",
];
/// hawk's lower path vpp1-vpp3-vpp5-vpp6: the latency.
pub const LOWER: [&str; 4] = [
    "fcbb:bb00:1::2",
    "fcbb:bb00:3::2",
    "fcbb:bb00:5::2",
    "fcbb:bb00:6::2",
];

/// `topologies/hawk.yaml` as text.
pub fn hawk_text() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../topologies/hawk.yaml");
    std::fs::read_to_string(path).unwrap()
}

/// A topology text as a graph.
pub fn graph_of(text: &str) -> Graph {
    Graph::from_topology(&topology::parse_str(text, "hawk.yaml").unwrap())
}

pub fn intent(t: IntentType, values: &[(ValueType, Option<i32>, Option<&str>)]) -> api::Intent {
    api::Intent {
        r#type: t as i32,
        values: values
            .iter()
            .map(|(vt, n, s)| api::Value {
                r#type: *vt as i32,
                number_value: *n,
                string_value: s.map(str::to_owned),
            })
            .collect(),
    }
}

pub fn request(src: &str, dst: &str, intents: Vec<api::Intent>) -> api::PathRequest {
    api::PathRequest {
        ipv6_source_address: src.into(),
        ipv6_destination_address: dst.into(),
        intents,
    }
}

pub fn sids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// host-a - n0 = {x0 | y0} = n1 = ... = n(rungs) - host-b: each rung has a
/// fast-but-jittery and a slow-but-steady branch, so a latency objective
/// under a jitter limit of half the total keeps 2^rungs mutually
/// non-dominated partial paths: a search that runs until its budget ends.
pub fn ladder(rungs: usize) -> Graph {
    use mock_controller::pathcomp::{LinkProps, Node};
    let mut g = Graph::new();
    g.add_node(Node::host("host-a", HOST_A.parse().unwrap()));
    g.add_node(Node::host("host-b", HOST_B.parse().unwrap()));
    for i in 0..=rungs {
        g.add_node(Node::router(&format!("n{i}"), None));
        if i < rungs {
            g.add_node(Node::router(&format!("x{i}"), None));
            g.add_node(Node::router(&format!("y{i}"), None));
        }
    }
    let lj = |l, j| LinkProps {
        latency_us: Some(l),
        jitter_us: Some(j),
        ..Default::default()
    };
    g.connect("host-a", "n0", lj(0, 0)).unwrap();
    g.connect(&format!("n{rungs}"), "host-b", lj(0, 0)).unwrap();
    for i in 0..rungs {
        let w = 1u64 << (i % 30);
        let (n, m) = (format!("n{i}"), format!("n{}", i + 1));
        g.connect(&n, &format!("x{i}"), lj(w, 0)).unwrap();
        g.connect(&format!("x{i}"), &m, lj(0, 0)).unwrap();
        g.connect(&n, &format!("y{i}"), lj(0, w)).unwrap();
        g.connect(&format!("y{i}"), &m, lj(0, 0)).unwrap();
    }
    g
}

/// The request that makes [`ladder`] hard: fastest path with at most half
/// the total jitter.
pub fn ladder_request(rungs: usize) -> api::PathRequest {
    let total: u64 = (0..rungs).map(|i| 1u64 << (i % 30)).sum();
    let max = i32::try_from(total / 2).unwrap();
    request(
        HOST_A,
        HOST_B,
        vec![
            intent(IntentType::LowLatency, &[]),
            intent(
                IntentType::LowJitter,
                &[(ValueType::MaxValue, Some(max), None)],
            ),
        ],
    )
}
