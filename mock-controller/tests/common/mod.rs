//! Shared by the integration tests: the hawk fixture and request builders.
#![allow(dead_code, clippy::unwrap_used)]

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
