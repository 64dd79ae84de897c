//! Shared by the integration tests: load a shipped topology or panic with its problems.
#![allow(dead_code)]

use std::path::PathBuf;

pub fn topologies() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../topologies")
}

pub fn load(name: &str) -> topology::Topology {
    topology::load(&topologies().join(name)).unwrap_or_else(|e| panic!("{e}"))
}
