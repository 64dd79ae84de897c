//! The committed JSON Schema must equal the one generated from the raw
//! structs. Regenerate: `UPDATE_SCHEMA=1 cargo test -p topology --test schema`.
#![allow(clippy::unwrap_used)]

#[test]
fn schema_file_is_current() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../topologies/topology.schema.json");
    let generated = topology::schema::json_schema();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is stale: run `UPDATE_SCHEMA=1 cargo test -p topology --test schema` and commit it",
        path.display()
    );
}

#[test]
fn schema_describes_the_format() {
    let schema: serde_json::Value = serde_json::from_str(&topology::schema::json_schema()).unwrap();
    let props = &schema["properties"];
    for key in ["name", "defaults", "addressing", "dns", "nodes", "links"] {
        assert!(props.get(key).is_some(), "no {key} in {props}");
    }
    assert_eq!(schema["required"], serde_json::json!(["name", "nodes"]));
    assert_eq!(schema["additionalProperties"], serde_json::json!(false));
    let kinds = &schema["$defs"]["NodeKind"];
    let text = kinds.to_string();
    for k in ["router", "host", "dns", "controller", "service-function"] {
        assert!(text.contains(k), "{k} missing from {text}");
    }
}
