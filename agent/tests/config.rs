//! The configuration format: the shipped examples load, the original
//! agent's example file is read unchanged, every malformed file is refused
//! with every problem located (`file:line:column: field: message`, pinned by
//! insta snapshots), and the committed JSON Schema is current.
//!
//! Add a file to `fixtures/invalid/` and run `INSTA_UPDATE=always cargo test
//! -p agent --test config` to record its message; review the diff.
#![allow(clippy::unwrap_used)]

use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};

use agent::config::{Config, ConfigError, Target};
use dataplane::Proto;

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

fn addr(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

#[test]
fn every_invalid_file_is_refused_with_located_problems() {
    let mut count = 0;
    insta::glob!("fixtures/invalid/*.yaml", |path| {
        count += 1;
        let text = std::fs::read_to_string(path).unwrap();
        let name = format!("invalid/{}", path.file_name().unwrap().to_string_lossy());
        let err = match Config::parse(&text, &name) {
            Ok(c) => panic!("{name} was accepted: {c:?}"),
            Err(e) => e,
        };
        let ConfigError::Invalid { problems, .. } = &err else {
            panic!("{name}: {err}");
        };
        for p in problems {
            assert!(p.line > 0, "{name}: problem without a line: {p:?}");
        }
        insta::assert_snapshot!(err.to_string());
    });
    assert!(count >= 20, "only {count} invalid fixtures");
}

#[test]
fn the_controller_example_is_the_reference_request() {
    let config = Config::load(&example("controller.yaml")).unwrap();
    assert_eq!(config.source, Some(addr("fcbb:cc00:1::a")));
    assert_eq!(
        config.controller.as_deref(),
        Some("http://[fcbb:cc00:5::f]:5001")
    );
    let web = &config.services[0];
    assert_eq!(web.target, Target::Name("wb.hawk.net".into()));
    assert_eq!(web.applications[0].port, 80);
    assert_eq!(web.applications[0].proto, Proto::Tcp);
    assert_eq!(
        web.applications[0].intents_key.to_string(),
        "high-bandwidth"
    );
    assert!(config.warnings.is_empty());
}

#[test]
fn the_standalone_example_has_sid_lists() {
    let config = Config::load(&example("standalone.yaml")).unwrap();
    assert!(!config.has_controller());
    let ids: Vec<u32> = config.services.iter().map(|s| s.id).collect();
    assert_eq!(ids, [1, 2]);
    let c = &config.services[1];
    assert_eq!(c.target, Target::Addresses(vec![addr("fcbb:cc00:3::a")]));
    assert_eq!(c.applications[1].proto, Proto::Udp);
    assert_eq!(
        config.services[0].applications[0].sids.as_deref().unwrap(),
        [
            addr("fcbb:bb00:1::2"),
            addr("fcbb:bb00:2::2"),
            addr("fcbb:bb00:4::2"),
            addr("fcbb:bb00:6::2")
        ]
    );
}

/// The original agent's example (reference doc, copied unchanged): every
/// key is understood; the one problem is a value the controller refuses
/// too (`max_value` on low-bandwidth), reported where it is written.
#[test]
fn the_hawkwing_example_is_read_unchanged() {
    let path = example("hawkwing.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let raw: agent::config::RawConfig = serde_saphyr::from_str(&text).unwrap();
    assert_eq!(raw.services.0.len(), 2);
    let err = Config::parse(&text, "hawkwing.yaml").unwrap_err();
    assert_eq!(
        err.to_string(),
        "hawkwing.yaml:22:24: services.webserver-b.applications[1].intents[1].max_value: \
         VALUE_TYPE_MAX_VALUE is only allowed on INTENT_TYPE_LOW_LATENCY, INTENT_TYPE_LOW_JITTER, \
         INTENT_TYPE_LOW_PACKET_LOSS, not on INTENT_TYPE_LOW_BANDWIDTH"
    );
    // Without that value the file is a valid controller-mode configuration.
    let fixed = text.replace("            max_value: 9\n", "");
    let config = Config::parse(&fixed, "hawkwing.yaml").unwrap();
    assert_eq!(config.source, Some(addr("fcbb:cc00:1::a")));
    assert!(config.has_controller());
    let b = &config.services[0];
    assert_eq!(b.applications[0].sids.as_ref().unwrap().len(), 2);
    assert_eq!(
        b.applications[1].intents_key.to_string(),
        "flex-algo flex_algo_number=128, low-bandwidth min_value=1"
    );
    assert_eq!(
        config.services[1].applications[0].intents_key.to_string(),
        "sfc functions=fw,ids"
    );
}

#[test]
fn a_name_wins_over_addresses_with_a_warning() {
    let text = "services:\n  web:\n    domain_name: wb.hawk.net\n    ipv6_addresses: [fcbb:cc00:2::a]\n    applications:\n      - port: 80\n        sid: [fcbb:bb00:1::2]\n";
    let config = Config::parse(text, "w.yaml").unwrap();
    assert_eq!(
        config.services[0].target,
        Target::Name("wb.hawk.net".into())
    );
    assert_eq!(
        config.warnings,
        ["w.yaml:4:21: services.web.ipv6_addresses: ignored: domain_name wins (as in the original agent)"]
    );
}

#[test]
fn schema_file_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.schema.json");
    let generated = agent::schema::json_schema();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is stale: run `UPDATE_SCHEMA=1 cargo test -p agent --test config` and commit it",
        path.display()
    );
}

#[test]
fn schema_describes_the_format() {
    let schema: serde_json::Value = serde_json::from_str(&agent::schema::json_schema()).unwrap();
    assert_eq!(schema["required"], serde_json::json!(["services"]));
    assert_eq!(schema["additionalProperties"], serde_json::json!(false));
    let app = &schema["$defs"]["RawApplication"]["properties"];
    for key in ["port", "proto", "sid", "intents"] {
        assert!(app.get(key).is_some(), "no {key} in {app}");
    }
    let names = &schema["$defs"]["IntentName"]["enum"];
    assert_eq!(names.as_array().unwrap().len(), 8, "{names}");
}
