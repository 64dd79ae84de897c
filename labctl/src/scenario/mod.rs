//! Scenario files: `scenarios/NAME/scenario.yaml` plus the agent configs
//! (and static controller tables) it names. Format: `docs/scenarios.md`.
//!
//! # Public API
//! - [`load`]`(&Path) -> Result<(Scenario, Topology), LoadError>`: read,
//!   parse, resolve against the topology it names; every problem as
//!   `file:line:column: field: message` (the topology crate's [`LoadError`]
//!   and `Problem`, so both files read alike).
//! - [`parse_str`]`(text, &Path)`: the same from text (`path` anchors the
//!   relative paths and names the file).
//! - [`is_scenario`]`(text)`: whether YAML text looks like a scenario (has
//!   `steps` or `topology` at the top), for `labctl validate`.
//! - [`summary`]: the one-line `ok` of `labctl validate`.
//! - [`validate_file`]`(&Path)`: `labctl validate` for either kind of file:
//!   a scenario (or a directory holding `scenario.yaml`) is checked here,
//!   anything else as a topology (`crate::validate`).
//! - [`schema::json_schema`]: the JSON Schema (`scenarios/scenario.schema.json`).
//! - [`model`]: the resolved [`Scenario`], its steps and expectations.
//!
//! # Layout
//! As the topology crate: `raw` (serde structs with locations) -> `resolve`
//! (every check, every problem collected) -> `model`.

use std::path::Path;

use topology::{LoadError, Topology};

use crate::report::counted;

pub mod model;
pub mod raw;
mod resolve;
pub mod schema;

pub use model::*;

/// Read, parse and resolve a scenario file (a `scenario.yaml`, or a
/// directory holding one).
pub fn load(path: &Path) -> Result<(Scenario, Topology), LoadError> {
    let path = if path.is_dir() {
        path.join("scenario.yaml")
    } else {
        path.to_owned()
    };
    let text = topology::read_input_file(&path, topology::MAX_INPUT_FILE_BYTES)
        .map_err(LoadError::Read)?;
    parse_str(&text, &path)
}

/// Parse and resolve scenario YAML; `path` names the file and anchors the
/// relative paths it contains.
pub fn parse_str(text: &str, path: &Path) -> Result<(Scenario, Topology), LoadError> {
    resolve::parse(text, path)
}

/// `labctl validate FILE`: a scenario (a directory, a `scenario.yaml`, or
/// a file with `steps` or `topology` at the top) is resolved against its
/// topology; any other file is validated as a topology. `Ok` is the
/// one-line summary; the error lists every problem.
pub fn validate_file(path: &Path) -> Result<String, LoadError> {
    let text = if path.is_dir() {
        None
    } else {
        Some(
            topology::read_input_file(path, topology::MAX_INPUT_FILE_BYTES)
                .map_err(LoadError::Read)?,
        )
    };
    let named_scenario = path.file_name().is_some_and(|n| n == "scenario.yaml");
    match text {
        Some(text) if !named_scenario && !is_scenario(&text) => crate::validate::validate(path),
        _ => {
            let (scenario, topo) = load(path)?;
            Ok(summary(&scenario.file, &scenario, &topo))
        }
    }
}

/// Whether `text` is a scenario rather than a topology: a top-level
/// `steps` or `topology` key (a topology file has neither).
pub fn is_scenario(text: &str) -> bool {
    #[derive(serde::Deserialize)]
    struct Probe {
        steps: Option<serde::de::IgnoredAny>,
        topology: Option<serde::de::IgnoredAny>,
    }
    serde_saphyr::from_str::<Probe>(text).is_ok_and(|p| p.steps.is_some() || p.topology.is_some())
}

/// `scenarios/high-bandwidth/scenario.yaml: ok: scenario high-bandwidth on hawk, 3 steps (1 flow, 0 events, 1 wait, 1 expect step with 22 expectations)`
pub fn summary(path: &Path, scenario: &Scenario, topo: &Topology) -> String {
    let mut flows = 0;
    let mut events = 0;
    let mut waits = 0;
    let mut expects = 0;
    for step in &scenario.steps {
        match step.action {
            Action::Traffic(_) => flows += 1,
            Action::Wait(_) | Action::Join(_) => waits += 1,
            Action::Expect(_) => expects += 1,
            _ => events += 1,
        }
    }
    let expectations = scenario.expectations().count();
    format!(
        "{}: ok: scenario {} on {}, {} ({}, {}, {}, {} with {})",
        path.display(),
        scenario.name,
        topo.name,
        counted(scenario.steps.len(), "step"),
        counted(flows, "flow"),
        counted(events, "event"),
        counted(waits, "wait"),
        counted(expects, "expect step"),
        counted(expectations, "expectation"),
    )
}
