//! JSON Schema of the client configuration, for editors (yaml-language-server).
//!
//! The committed copy is `agent/config.schema.json`; the test
//! `schema_file_is_current` fails when it is stale. Regenerate with
//! `UPDATE_SCHEMA=1 cargo test -p agent --test config`.

/// The JSON Schema of the configuration format, pretty-printed.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(crate::config::RawConfig);
    // Serializing a schema (a JSON value) cannot fail.
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}
