//! `labctl graph FILE --format mermaid|dot`.
//!
//! # Public API
//! - `pub use topology::graph::{render, GraphFormat}`: `render(&Topology, GraphFormat) -> String`
//! - `pub fn graph(path: &Path, format: GraphFormat) -> Result<String, topology::LoadError>`
//!
//! The drawing itself lives in `topology::graph` (snapshot tests there).

use std::path::Path;

pub use topology::graph::{render, GraphFormat};

/// Load the topology at `path` and draw it.
pub fn graph(path: &Path, format: GraphFormat) -> Result<String, topology::LoadError> {
    Ok(render(&topology::load(path)?, format))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn draws_hawk() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../topologies/hawk.yaml");
        assert!(graph(&path, GraphFormat::Mermaid)
            .unwrap()
            .contains("graph LR"));
        assert!(graph(&path, GraphFormat::Dot)
            .unwrap()
            .starts_with("graph \"hawk\""));
    }
}
