//! How configuration files write intents: the original agent's (hawkwing)
//! syntax, one copy for the agent's configuration and the controller's
//! static table.
//!
//! ```yaml
//! intents:
//!   - intent: low-latency      # high-bandwidth, low-bandwidth, low-latency,
//!     max_value: 5000          # low-packet-loss, low-jitter, low-utilization,
//!   - intent: flex-algo        # flex-algo, sfc
//!     flex_algo_number: 128
//!   - intent: sfc
//!     functions: [fw, ids]
//! ```
//!
//! [`to_wire`] turns such a list into wire intents checked by the one intent
//! rule ([`crate::validate`]) and reports a problem at the configuration key
//! that caused it (`intents[1].max_value`, with its line and column), not at
//! the wire field (`intents[1].values[0].type`).

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::{Location, Spanned};

use crate::api::{self, IntentType, ValueType};
use crate::validate::{self, Invalid};

/// Intent names as configuration files write them, with their wire type.
pub const INTENT_NAMES: [(&str, IntentType); 8] = [
    ("high-bandwidth", IntentType::HighBandwidth),
    ("low-bandwidth", IntentType::LowBandwidth),
    ("low-latency", IntentType::LowLatency),
    ("low-packet-loss", IntentType::LowPacketLoss),
    ("low-jitter", IntentType::LowJitter),
    ("low-utilization", IntentType::LowUtilization),
    ("flex-algo", IntentType::FlexAlgo),
    ("sfc", IntentType::Sfc),
];

/// The wire type of a configuration intent name.
pub fn intent_type(name: &str) -> Option<IntentType> {
    INTENT_NAMES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| *t)
}

/// The configuration name of a wire intent type (None for UNSPECIFIED).
pub fn intent_config_name(kind: IntentType) -> Option<&'static str> {
    INTENT_NAMES
        .iter()
        .find(|(_, t)| *t == kind)
        .map(|(n, _)| *n)
}

/// The intent names, for the JSON Schema.
#[derive(JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[allow(dead_code)]
enum IntentName {
    HighBandwidth,
    LowBandwidth,
    LowLatency,
    LowPacketLoss,
    LowJitter,
    LowUtilization,
    FlexAlgo,
    Sfc,
}

/// One intent as a configuration file writes it (locations kept for errors).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IntentConfig {
    /// The intent: high-bandwidth, low-bandwidth, low-latency, low-packet-loss,
    /// low-jitter, low-utilization, flex-algo or sfc.
    #[schemars(with = "IntentName")]
    pub intent: Spanned<String>,
    /// Minimum bandwidth in kbit/s (high-bandwidth, low-bandwidth only).
    #[schemars(with = "Option<u32>")]
    pub min_value: Option<Spanned<i64>>,
    /// Maximum: latency or jitter in µs, loss in % (low-latency, low-jitter,
    /// low-packet-loss only).
    #[schemars(with = "Option<u32>")]
    pub max_value: Option<Spanned<i64>>,
    /// Flex-algo number 128..=255 (flex-algo only, required there).
    #[schemars(with = "Option<u8>")]
    pub flex_algo_number: Option<Spanned<i64>>,
    /// Service function names in visiting order (sfc only, 1 to 8 of them).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub functions: Vec<Spanned<String>>,
}

/// A configuration intent problem: the key path relative to the intent list
/// (`intents[1].max_value`), where it is, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConfigInvalid {
    pub field: String,
    pub location: Location,
    pub message: String,
}

/// The configuration key (and its location) behind each wire value of one intent,
/// in the order [`IntentConfig::to_wire`] writes the values.
fn value_keys(i: usize, c: &IntentConfig) -> Vec<(String, Location)> {
    let mut keys = Vec::new();
    for (key, v) in [
        ("min_value", &c.min_value),
        ("max_value", &c.max_value),
        ("flex_algo_number", &c.flex_algo_number),
    ] {
        if let Some(v) = v {
            keys.push((format!("intents[{i}].{key}"), v.referenced));
        }
    }
    for (k, f) in c.functions.iter().enumerate() {
        keys.push((format!("intents[{i}].functions[{k}]"), f.referenced));
    }
    keys
}

impl IntentConfig {
    /// The wire intent (values in the order min, max, flex-algo number,
    /// functions); `i` is its index, for the field names of problems.
    pub fn to_wire(&self, i: usize) -> Result<api::Intent, ConfigInvalid> {
        let kind = intent_type(&self.intent.value).ok_or_else(|| ConfigInvalid {
            field: format!("intents[{i}].intent"),
            location: self.intent.referenced,
            message: format!(
                "unknown intent {} (one of: {})",
                crate::validate::quote(&self.intent.value),
                INTENT_NAMES.map(|(n, _)| n).join(", ")
            ),
        })?;
        let mut values = Vec::new();
        for (key, t, v) in [
            ("min_value", ValueType::MinValue, &self.min_value),
            ("max_value", ValueType::MaxValue, &self.max_value),
            (
                "flex_algo_number",
                ValueType::FlexAlgoNr,
                &self.flex_algo_number,
            ),
        ] {
            let Some(v) = v else { continue };
            let n = i32::try_from(v.value).map_err(|_| ConfigInvalid {
                field: format!("intents[{i}].{key}"),
                location: v.referenced,
                message: format!("{} is outside the 32-bit range of the wire", v.value),
            })?;
            values.push(api::Value {
                r#type: t as i32,
                number_value: Some(n),
                string_value: None,
            });
        }
        values.extend(self.functions.iter().map(|f| api::Value {
            r#type: ValueType::Sfc as i32,
            number_value: None,
            string_value: Some(f.value.clone()),
        }));
        Ok(api::Intent {
            r#type: kind as i32,
            values,
        })
    }
}

/// Configuration intents -> wire intents, checked by the intent rule
/// ([`validate::validate_intents`]); `list_at` is where the list itself is
/// (for "at least one intent"). The first problem is returned, named by its
/// configuration key.
pub fn to_wire(
    intents: &[IntentConfig],
    list_at: Location,
) -> Result<Vec<api::Intent>, ConfigInvalid> {
    let wire = intents
        .iter()
        .enumerate()
        .map(|(i, c)| c.to_wire(i))
        .collect::<Result<Vec<_>, _>>()?;
    match validate::validate_intents(&wire) {
        Ok(_) => Ok(wire),
        Err(invalid) => Err(locate(intents, list_at, invalid)),
    }
}

/// Name a rule violation (a wire field path) by the configuration key behind it.
fn locate(intents: &[IntentConfig], list_at: Location, invalid: Invalid) -> ConfigInvalid {
    let at = |field: String, location: Location| ConfigInvalid {
        field,
        location,
        message: invalid.message.clone(),
    };
    let Some((i, rest)) = index_after(&invalid.field, "intents[") else {
        return at(invalid.field.clone(), list_at);
    };
    let Some(config) = intents.get(i) else {
        return at(invalid.field.clone(), list_at);
    };
    let intent_at = config.intent.referenced;
    if rest == ".type" {
        return at(format!("intents[{i}].intent"), intent_at);
    }
    if let Some((k, _)) = index_after(rest, ".values[") {
        if let Some((key, location)) = value_keys(i, config).into_iter().nth(k) {
            return at(key, location);
        }
    }
    // `intents[i].values`: a value the intent needs is missing, or too many.
    let key = match config.intent.value.as_str() {
        "flex-algo" => "flex_algo_number",
        "sfc" => "functions",
        _ => "intent",
    };
    at(format!("intents[{i}].{key}"), intent_at)
}

/// `prefix` + number + `]` at the start of `text`: the number and what follows.
fn index_after<'a>(text: &'a str, prefix: &str) -> Option<(usize, &'a str)> {
    let rest = text.strip_prefix(prefix)?;
    let (number, rest) = rest.split_once(']')?;
    Some((number.parse().ok()?, rest))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Doc {
        intents: Spanned<Vec<IntentConfig>>,
    }

    fn check(yaml: &str) -> Result<Vec<api::Intent>, (String, u64, u64, String)> {
        let doc: Doc = serde_saphyr::from_str(yaml).unwrap();
        to_wire(&doc.intents.value, doc.intents.referenced)
            .map_err(|e| (e.field, e.location.line(), e.location.column(), e.message))
    }

    #[test]
    fn names_round_trip() {
        for (name, kind) in INTENT_NAMES {
            assert_eq!(intent_type(name), Some(kind));
            assert_eq!(intent_config_name(kind), Some(name));
        }
        assert_eq!(intent_config_name(IntentType::Unspecified), None);
        assert_eq!(intent_type("fast"), None);
    }

    #[test]
    fn wire_values_in_key_order() {
        let wire = check(
            "intents:\n  - intent: sfc\n    functions: [fw, ids]\n  - intent: low-latency\n    max_value: 5000\n",
        )
        .unwrap();
        assert_eq!(wire[0].r#type(), IntentType::Sfc);
        assert_eq!(wire[0].values[1].string_value.as_deref(), Some("ids"));
        assert_eq!(wire[1].values[0].r#type(), ValueType::MaxValue);
        assert_eq!(wire[1].values[0].number_value, Some(5000));
    }

    #[test]
    fn problems_name_the_configuration_key() {
        let cases = [
            ("intents: []\n", ("intents", 1, 10)),
            ("intents:\n  - intent: fast\n", ("intents[0].intent", 2, 13)),
            (
                "intents:\n  - intent: low-latency\n  - intent: low-latency\n",
                ("intents[1].intent", 3, 13),
            ),
            (
                "intents:\n  - intent: low-bandwidth\n    min_value: 1\n    max_value: 9\n",
                ("intents[0].max_value", 4, 16),
            ),
            (
                "intents:\n  - intent: flex-algo\n    flex_algo_number: 12\n",
                ("intents[0].flex_algo_number", 3, 23),
            ),
            (
                "intents:\n  - intent: flex-algo\n",
                ("intents[0].flex_algo_number", 2, 13),
            ),
            (
                "intents:\n  - intent: sfc\n    functions: [fw, ' ']\n",
                ("intents[0].functions[1]", 3, 21),
            ),
            (
                "intents:\n  - intent: sfc\n",
                ("intents[0].functions", 2, 13),
            ),
            (
                "intents:\n  - intent: low-jitter\n    max_value: 99999999999\n",
                ("intents[0].max_value", 3, 16),
            ),
            (
                "intents:\n  - intent: low-latency\n    functions: [fw]\n",
                ("intents[0].functions[0]", 3, 17),
            ),
        ];
        for (yaml, (field, line, column)) in cases {
            let (f, l, c, message) = check(yaml).unwrap_err();
            assert_eq!(
                (f.as_str(), l, c),
                (field, line, column),
                "{yaml}: {message}"
            );
        }
    }
}
