//! JSON Schema of the scenario file, for editors (yaml-language-server).
//!
//! The committed copy is `scenarios/scenario.schema.json`; the test
//! `scenario_schema_file_is_current` fails when it is stale. Regenerate with
//! `UPDATE_SCHEMA=1 cargo test -p labctl --test scenarios`.

/// The JSON Schema of the scenario file format, pretty-printed.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(super::raw::RawScenario);
    // Serializing a schema (a JSON value) cannot fail.
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}
