//! JSON Schema of the topology file, for editors (yaml-language-server).
//!
//! The committed copy is `topologies/topology.schema.json`; the test
//! `schema_file_is_current` fails when it is stale. Regenerate with
//! `UPDATE_SCHEMA=1 cargo test -p topology --test schema`.

/// The JSON Schema of the topology file format, pretty-printed.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(crate::raw::RawTopology);
    // Serializing a schema (a JSON value) cannot fail.
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}
