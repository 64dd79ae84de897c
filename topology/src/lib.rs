//! The lab topology model, shared by `labctl` (which builds the lab) and the
//! controller (which computes paths on the same graph).
//!
//! # Public API
//! - [`load`] / [`parse_str`]: file -> validated [`Topology`] or a
//!   [`LoadError`] listing every problem as `file:line:column: field: message`.
//! - [`read_input_file`]: the one rule for reading a file a user names (a
//!   regular file, at most a limit, UTF-8); `load` uses it with
//!   [`MAX_INPUT_FILE_BYTES`] (16 MiB).
//! - [`model`]: `Topology`, `Node`, `NodeKind`, `Link`, `Endpoint`,
//!   `LinkProps` (kbit/s, µs, %), `SidBehavior`, `EndFlavor`, `RouterBackend`,
//!   `AgentRole`; lookups `node_for_address`, `node_for_sid`, `neighbours`,
//!   `link_between`, `service_functions`, `nodes_of_kind`.
//! - [`routes::compute`]: the underlay static routes of every node (shortest
//!   path on the IGP metric), exactly what labctl installs;
//!   [`routes::count`]: their number without building them;
//!   [`routes::Underlay`]: the same routing on live link state (the
//!   controller's SID lists); [`routes::trace`]: a packet's hops.
//! - [`graph::render`]: mermaid / dot drawings.
//! - [`vpp::generate`]: VPP startup.conf + CLI exec file of a router.
//! - [`schema::json_schema`]: the JSON Schema of the file format.
//! - [`parse_document`] / [`syntax_problem`]: any YAML file of ours (the scenario
//!   files and the agent's configuration too) as one [`Problem`] naming its
//!   field; [`Problems`] prints problems as `file:line:column: field: message`.
//! - [`unicast_address`]: the address rule for SIDs, interface and service
//!   addresses (the lab's and the agent's).
//! - [`names`]: the lab/node name rule and the DNS name rule every crate
//!   shares (`labctl up --name`, the file, the agent, the dataplane).
//! - [`generate::chain_yaml`]: a generated chain lab for tests and benchmarks.
//!
//! # Layout
//! `input` reads the file (regular, bounded, UTF-8). Then three stages, as in
//! containerlab: `raw` (serde structs that keep line and column of every
//! value) -> `resolve` (defaults, derived subnets, addresses and interface
//! names, then every semantic check, collecting all problems) -> `model`
//! (what consumers see). `resolve/` has one file per concern, in the order
//! it runs them: `syntax`, `context` (problem list, value parsers),
//! `defaults`, `nodes`, `links`, `structure`, `addresses`, `dns`, with
//! `ifname` and `suggest`. `error` formats problems; `locate` finds the
//! field at a line and column; `units` converts human units. The file format
//! is documented in `docs/topology.md`.
#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::path::Path;

mod error;
pub mod generate;
pub mod graph;
pub mod input;
mod locate;
pub mod model;
pub mod names;
pub mod raw;
mod resolve;
pub mod routes;
pub mod schema;
pub mod units;
pub mod vpp;

pub use error::{LoadError, Problem, Problems};
pub use input::{read_input_file, FileKind, ReadFileError, MAX_INPUT_FILE_BYTES};
pub use model::*;
pub use resolve::suggest::suggest;
pub use resolve::{
    derived_ifname, parse_document, syntax_problem, unicast_address, DEFAULT_IGP_METRIC,
    DEFAULT_LINK_MTU, DEFAULT_LINK_POOL, DEFAULT_ROUTE_MTU, MAX_IFNAME_LEN,
};

/// Read, parse, resolve and validate a topology file. Only a regular file
/// of at most [`MAX_INPUT_FILE_BYTES`] is read (see [`read_input_file`]).
pub fn load(path: &Path) -> Result<Topology, LoadError> {
    let text = read_input_file(path, MAX_INPUT_FILE_BYTES)?;
    parse_str(&text, &path.display().to_string())
}

/// Parse, resolve and validate topology YAML; `file_name` is used in problems.
pub fn parse_str(text: &str, file_name: &str) -> Result<Topology, LoadError> {
    resolve::parse(text, file_name)
}
