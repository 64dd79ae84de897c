//! The topology drawn with each flow's observed path on top
//! (`results/<scenario>/<run>/paths.{dot,mmd}` and `labctl graph FILE
//! --overlay RESULTS`). The drawing is `topology::graph`'s; this module
//! turns observed paths into its overlays.
//!
//! # Public API
//! - [`render`]`(&Topology, &[ObservedPath], GraphFormat) -> String`
//!   ([`crate::graph::draw`] reads the results directory and calls it)

use topology::graph::{render_with_overlays, GraphFormat, Overlay};
use topology::Topology;

use crate::asserter::ObservedPath;
use crate::report::ResultsError;

/// Why `labctl graph --overlay` could not draw.
#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    #[error(transparent)]
    Topology(#[from] topology::LoadError),
    #[error(transparent)]
    Results(#[from] ResultsError),
}

/// Draw `topo` with every observed path, one colour each, labelled
/// `flow request` / `flow reply` and numbered hop by hop.
pub fn render(topo: &Topology, paths: &[ObservedPath], format: GraphFormat) -> String {
    let overlays: Vec<Overlay> = paths
        .iter()
        .filter(|p| p.nodes.len() > 1)
        .map(|p| Overlay {
            label: format!("{} {}", p.flow, p.direction.as_str()),
            nodes: p.nodes.clone(),
        })
        .collect();
    render_with_overlays(topo, format, &overlays)
}
