//! `labctl validate FILE`: load a topology and summarise it, or list every problem.
//!
//! # Public API
//! - `pub fn validate(path: &Path) -> Result<String, topology::LoadError>`:
//!   `Ok` holds a one-line summary for stdout; the error's `Display` lists every
//!   problem as `file:line:column: field: message`, one per line (print it
//!   and exit non-zero).
//! - `pub fn summary(path: &Path, topo: &Topology) -> String`
//! - [`Report`]`::of(path, &outcome)`: the outcome as one JSON document
//!   (`labctl validate --output json`)
//!
//! All checks live in the `topology` crate (docs/topology.md, "Validation").

use std::path::Path;

use serde::Serialize;
use topology::{LoadError, NodeKind, Problem, Topology};

/// Validate the topology file at `path`.
pub fn validate(path: &Path) -> Result<String, topology::LoadError> {
    let topo = topology::load(path)?;
    Ok(summary(path, &topo))
}

/// `hawk.yaml: ok: lab hawk, 14 nodes (9 routers, 3 hosts, 1 dns, 1 controller), 14 links, 2 DNS records, 122 underlay routes`
pub fn summary(path: &Path, topo: &Topology) -> String {
    let kinds: Vec<String> = [
        (NodeKind::Router, "router", "routers"),
        (NodeKind::Host, "host", "hosts"),
        (NodeKind::Dns, "dns", "dns"),
        (NodeKind::Controller, "controller", "controllers"),
        (
            NodeKind::ServiceFunction,
            "service function",
            "service functions",
        ),
    ]
    .into_iter()
    .filter_map(|(kind, one, many)| match topo.nodes_of_kind(kind).count() {
        0 => None,
        1 => Some(format!("1 {one}")),
        n => Some(format!("{n} {many}")),
    })
    .collect();
    // Counted, not built: the table is quadratic in the routers (issue 11).
    let routes = topology::routes::count(topo);
    format!(
        "{}: ok: lab {}, {} nodes ({}), {} links, {} DNS records, {routes} underlay routes",
        path.display(),
        topo.name,
        topo.nodes.len(),
        kinds.join(", "),
        topo.links.len(),
        topo.dns_records.len(),
    )
}

/// `labctl validate --output json`: the summary, or every problem.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The file as given.
    pub file: String,
    pub valid: bool,
    /// The one-line summary of a valid file.
    pub summary: Option<String>,
    /// Every problem of an invalid file (a file that cannot be read is one
    /// problem at line 0).
    pub problems: Vec<FileProblem>,
}

/// One problem and the file it is in.
#[derive(Debug, Clone, Serialize)]
pub struct FileProblem {
    pub file: String,
    #[serde(flatten)]
    pub problem: Problem,
}

impl Report {
    /// The report of validating `path` with `outcome`.
    pub fn of(path: &Path, outcome: &Result<String, LoadError>) -> Report {
        let file = path.display().to_string();
        let problems = match outcome {
            Ok(_) => Vec::new(),
            Err(LoadError::Invalid { file, problems }) => problems
                .iter()
                .map(|p| FileProblem {
                    file: file.clone(),
                    problem: p.clone(),
                })
                .collect(),
            Err(e @ LoadError::Read(_)) => vec![FileProblem {
                file: file.clone(),
                problem: Problem {
                    line: 0,
                    column: 0,
                    field: String::new(),
                    message: e.to_string(),
                },
            }],
        };
        Report {
            file,
            valid: outcome.is_ok(),
            summary: outcome.as_ref().ok().cloned(),
            problems,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn summarises_hawk() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../topologies/hawk.yaml");
        let text = validate(&path).unwrap();
        assert!(text.ends_with("ok: lab hawk, 14 nodes (9 routers, 3 hosts, 1 dns, 1 controller), 14 links, 2 DNS records, 122 underlay routes"), "{text}");
    }

    /// 3,000 routers in a chain: 9,003,002 routes, counted without the
    /// table (which would take about a gigabyte; topology's route_count
    /// test measures the memory).
    #[test]
    fn summarises_a_long_chain() {
        let yaml = topology::generate::chain_yaml(3000);
        let topo = topology::parse_str(&yaml, "chain.yaml").unwrap();
        let text = summary(Path::new("chain.yaml"), &topo);
        assert_eq!(text, "chain.yaml: ok: lab chain, 3002 nodes (3000 routers, 2 hosts), 3001 links, 0 DNS records, 9003002 underlay routes");
    }
}
