//! Which intent requests are valid: the rule the controller answers by and
//! the agent checks its configuration with (one copy, beside the contract).
//!
//! Validation rejects what the original controller (hawkeye) rejects, and a
//! little more, always naming the offending field (`intents[1].values[0].type`)
//! so a client can tell what to fix: repeated intent types, unknown types,
//! MIN only on bandwidth intents, MAX only on latency, jitter and loss (loss
//! ≤ 100 %), flex-algo numbers in 128..=255, SFC with 1..=[`MAX_FUNCTIONS`]
//! function names. Nothing here touches the network.

use std::net::Ipv6Addr;

use crate::api::{self, IntentType, ValueType};

/// Longest service function chain accepted (a SID list holds
/// `srh::MAX_SIDS` (16) segments, and a chain's way back costs SIDs too).
pub const MAX_FUNCTIONS: usize = 8;

/// Longest text an IPv6 address has (`ffff:...:255.255.255.255`).
pub const MAX_ADDRESS_LEN: usize = 45;
/// Most intents a request can hold: one per type.
pub const MAX_INTENTS: usize = 8;
/// Most values an intent can hold (an SFC's functions, or a few numbers).
pub const MAX_VALUES: usize = 16;
/// Longest service function or node name (`topology::names::MAX_NAME_LEN`
/// for nodes; functions are names too).
pub const MAX_NAME_LEN: usize = 64;
/// How much client input an error or a log line quotes.
pub const QUOTE_LEN: usize = 40;

/// Client input for an error or a log line: quoted, and cut to
/// [`QUOTE_LEN`] characters (with its length in bytes) when longer, so
/// neither answers nor logs grow with what a client sends.
pub fn quote(text: &str) -> String {
    if text.chars().nth(QUOTE_LEN).is_none() {
        return format!("{text:?}");
    }
    let prefix: String = text.chars().take(QUOTE_LEN).collect();
    format!("{prefix:?}... ({} bytes)", text.len())
}
/// A request that failed validation: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

impl Invalid {
    /// A problem with `field` (its path in the request, e.g. `intents[0].type`).
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Invalid {
        Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> Invalid {
    Invalid::new(field, message)
}

/// One validated intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentSpec {
    pub kind: IntentType,
    /// kbit/s (bandwidth intents).
    pub min_value: Option<u32>,
    /// µs (latency, jitter) or % (loss).
    pub max_value: Option<u32>,
    pub flex_algo: Option<u8>,
    /// SFC: function (or node) names in order, with their value index.
    pub functions: Vec<(usize, String)>,
}

/// A validated request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub intents: Vec<IntentSpec>,
}

/// Short enum names for messages.
pub fn intent_name(t: IntentType) -> &'static str {
    t.as_str_name()
}

fn value_name(t: ValueType) -> &'static str {
    t.as_str_name()
}

/// Parse an IPv6 address a client sent.
pub fn parse_addr(field: &str, text: &str) -> Result<Ipv6Addr, Invalid> {
    if text.is_empty() {
        return Err(invalid(field, "required (an IPv6 address)"));
    }
    if text.len() > MAX_ADDRESS_LEN {
        return Err(invalid(
            field,
            format!(
                "{} is longer than an IPv6 address ({MAX_ADDRESS_LEN} characters)",
                quote(text)
            ),
        ));
    }
    text.parse::<Ipv6Addr>()
        .map_err(|_| invalid(field, format!("invalid IPv6 address {}", quote(text))))
}

/// Counts and lengths, checked before anything is parsed or compared.
fn check_lengths(req: &api::PathRequest) -> Result<(), Invalid> {
    if req.intents.len() > MAX_INTENTS {
        return Err(invalid(
            "intents",
            format!(
                "{} intents: at most {MAX_INTENTS} (one per type)",
                req.intents.len()
            ),
        ));
    }
    for (i, intent) in req.intents.iter().enumerate() {
        if intent.values.len() > MAX_VALUES {
            return Err(invalid(
                format!("intents[{i}].values"),
                format!("{} values: at most {MAX_VALUES}", intent.values.len()),
            ));
        }
        for (k, v) in intent.values.iter().enumerate() {
            let long = v.string_value.as_deref().filter(|s| s.len() > MAX_NAME_LEN);
            if let Some(s) = long {
                return Err(invalid(
                    format!("intents[{i}].values[{k}].string_value"),
                    format!("{} is longer than {MAX_NAME_LEN} bytes", quote(s)),
                ));
            }
        }
    }
    Ok(())
}

/// Check a request; the first problem found is returned.
pub fn validate(req: &api::PathRequest) -> Result<Request, Invalid> {
    check_lengths(req)?;
    let src = parse_addr("ipv6_source_address", &req.ipv6_source_address)?;
    let dst = parse_addr("ipv6_destination_address", &req.ipv6_destination_address)?;
    if src == dst {
        return Err(invalid(
            "ipv6_destination_address",
            "equals the source address",
        ));
    }
    let intents = validate_intents(&req.intents)?;
    Ok(Request { src, dst, intents })
}

/// Check the intents of one request (what an agent's configuration holds
/// for one application); fields are named `intents[i]...`.
pub fn validate_intents(intents: &[api::Intent]) -> Result<Vec<IntentSpec>, Invalid> {
    if intents.is_empty() {
        return Err(invalid("intents", "at least one intent is required"));
    }
    let mut seen: Vec<(IntentType, usize)> = Vec::new();
    let mut specs = Vec::with_capacity(intents.len());
    for (i, intent) in intents.iter().enumerate() {
        let field = format!("intents[{i}].type");
        let kind = IntentType::try_from(intent.r#type)
            .map_err(|_| invalid(&field, format!("unknown intent type {}", intent.r#type)))?;
        if kind == IntentType::Unspecified {
            return Err(invalid(&field, "INTENT_TYPE_UNSPECIFIED is not an intent"));
        }
        if let Some((_, first)) = seen.iter().find(|(k, _)| *k == kind) {
            return Err(invalid(
                &field,
                format!(
                    "{} appears more than once (first at intents[{first}])",
                    intent_name(kind)
                ),
            ));
        }
        seen.push((kind, i));
        specs.push(validate_values(i, kind, &intent.values)?);
    }
    Ok(specs)
}

fn validate_values(
    i: usize,
    kind: IntentType,
    values: &[api::Value],
) -> Result<IntentSpec, Invalid> {
    let mut spec = IntentSpec {
        kind,
        min_value: None,
        max_value: None,
        flex_algo: None,
        functions: Vec::new(),
    };
    for (k, v) in values.iter().enumerate() {
        add_value(&mut spec, ValueAt { i, k }, v)?;
    }
    check_complete(&spec, i)?;
    Ok(spec)
}

/// Where a value sits in the request, for field names.
#[derive(Debug, Clone, Copy)]
struct ValueAt {
    i: usize,
    k: usize,
}

impl ValueAt {
    fn field(self, name: &str) -> String {
        format!("intents[{}].values[{}].{name}", self.i, self.k)
    }
}

/// `vt` is allowed on `kind` only if `kind` is one of `allowed`.
fn only_on(
    at: ValueAt,
    vt: ValueType,
    kind: IntentType,
    allowed: &[IntentType],
) -> Result<(), Invalid> {
    if allowed.contains(&kind) {
        return Ok(());
    }
    let names: Vec<&str> = allowed.iter().map(|t| intent_name(*t)).collect();
    Err(invalid(
        at.field("type"),
        format!(
            "{} is only allowed on {}, not on {}",
            value_name(vt),
            names.join(", "),
            intent_name(kind)
        ),
    ))
}

/// The value's number, required and >= 0.
fn number(at: ValueAt, vt: ValueType, v: &api::Value) -> Result<u32, Invalid> {
    let field = at.field("number_value");
    let n = v
        .number_value
        .ok_or_else(|| invalid(&field, format!("required for {}", value_name(vt))))?;
    u32::try_from(n).map_err(|_| invalid(&field, format!("must be >= 0, got {n}")))
}

/// Set a value that may be given once.
fn once<T>(slot: &mut Option<T>, at: ValueAt, vt: ValueType, value: T) -> Result<(), Invalid> {
    if slot.is_some() {
        return Err(invalid(
            at.field("type"),
            format!("{} given more than once", value_name(vt)),
        ));
    }
    *slot = Some(value);
    Ok(())
}

fn add_value(spec: &mut IntentSpec, at: ValueAt, v: &api::Value) -> Result<(), Invalid> {
    use IntentType as I;
    let kind = spec.kind;
    let vt = ValueType::try_from(v.r#type)
        .map_err(|_| invalid(at.field("type"), format!("unknown value type {}", v.r#type)))?;
    match vt {
        ValueType::Unspecified => Err(invalid(
            at.field("type"),
            "VALUE_TYPE_UNSPECIFIED is not a value type",
        )),
        ValueType::MinValue => {
            only_on(at, vt, kind, &[I::HighBandwidth, I::LowBandwidth])?;
            let n = number(at, vt, v)?;
            once(&mut spec.min_value, at, vt, n)
        }
        ValueType::MaxValue => {
            only_on(
                at,
                vt,
                kind,
                &[I::LowLatency, I::LowJitter, I::LowPacketLoss],
            )?;
            let n = number(at, vt, v)?;
            if kind == I::LowPacketLoss && n > 100 {
                return Err(invalid(
                    at.field("number_value"),
                    format!("a loss in percent is <= 100, got {n}"),
                ));
            }
            once(&mut spec.max_value, at, vt, n)
        }
        ValueType::FlexAlgoNr => {
            only_on(at, vt, kind, &[I::FlexAlgo])?;
            let n = number(at, vt, v)?;
            let algo = u8::try_from(n).ok().filter(|a| *a >= 128).ok_or_else(|| {
                invalid(
                    at.field("number_value"),
                    format!("flex-algo number {n} outside 128..255"),
                )
            })?;
            once(&mut spec.flex_algo, at, vt, algo)
        }
        ValueType::Sfc => {
            only_on(at, vt, kind, &[I::Sfc])?;
            match v.string_value.as_deref() {
                Some(s) if !s.trim().is_empty() => {
                    spec.functions.push((at.k, s.trim().to_owned()));
                    Ok(())
                }
                _ => Err(invalid(
                    at.field("string_value"),
                    "required (a service function name)",
                )),
            }
        }
    }
}

/// Rules on an intent's values as a whole.
fn check_complete(spec: &IntentSpec, i: usize) -> Result<(), Invalid> {
    let field = format!("intents[{i}].values");
    if spec.functions.len() > MAX_FUNCTIONS {
        return Err(invalid(
            field,
            format!(
                "at most {MAX_FUNCTIONS} service functions in a chain (a SID list holds {} segments)",
                srh::MAX_SIDS
            ),
        ));
    }
    if spec.kind == IntentType::FlexAlgo && spec.flex_algo.is_none() {
        return Err(invalid(
            field,
            "INTENT_TYPE_FLEX_ALGO needs a VALUE_TYPE_FLEX_ALGO_NR value",
        ));
    }
    if spec.kind == IntentType::Sfc && spec.functions.is_empty() {
        return Err(invalid(
            field,
            "INTENT_TYPE_SFC needs at least one VALUE_TYPE_SFC value",
        ));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::api::{Intent, PathRequest, Value};

    fn val(t: ValueType, n: Option<i32>, s: Option<&str>) -> Value {
        Value {
            r#type: t as i32,
            number_value: n,
            string_value: s.map(str::to_owned),
        }
    }

    fn req(intents: Vec<(IntentType, Vec<Value>)>) -> PathRequest {
        PathRequest {
            ipv6_source_address: "fcbb:cc00:1::a".into(),
            ipv6_destination_address: "fcbb:cc00:2::a".into(),
            intents: intents
                .into_iter()
                .map(|(t, values)| Intent {
                    r#type: t as i32,
                    values,
                })
                .collect(),
        }
    }

    fn field_of(r: PathRequest) -> String {
        validate(&r).unwrap_err().field
    }

    #[test]
    fn lengths_are_checked_first_and_quoted_short() {
        use IntentType as I;
        use ValueType as V;
        let mut r = req(vec![(I::LowLatency, vec![])]);
        r.ipv6_destination_address = "1".repeat(1000);
        let e = validate(&r).unwrap_err();
        assert_eq!(e.field, "ipv6_destination_address");
        assert_eq!(
            e.message,
            format!(
                "{:?}... (1000 bytes) is longer than an IPv6 address (45 characters)",
                "1".repeat(QUOTE_LEN)
            )
        );
        let many: Vec<_> = (0..9).map(|_| (I::LowLatency, vec![])).collect();
        assert_eq!(field_of(req(many)), "intents");
        let values = vec![val(V::Sfc, None, Some("fw")); MAX_VALUES + 1];
        assert_eq!(field_of(req(vec![(I::Sfc, values)])), "intents[0].values");
        let long = "f".repeat(MAX_NAME_LEN + 1);
        assert_eq!(
            field_of(req(vec![(I::Sfc, vec![val(V::Sfc, None, Some(&long))])])),
            "intents[0].values[0].string_value"
        );
        let mut same = req(vec![(I::LowLatency, vec![])]);
        same.ipv6_destination_address = same.ipv6_source_address.clone();
        assert_eq!(field_of(same), "ipv6_destination_address");
        assert_eq!(quote("short"), "\"short\"");
        assert_eq!(
            quote(&"é".repeat(QUOTE_LEN)),
            format!("{:?}", "é".repeat(QUOTE_LEN))
        );
    }

    #[test]
    fn every_rule_names_its_field() {
        use IntentType as I;
        use ValueType as V;
        let mut r = req(vec![(I::LowLatency, vec![])]);
        r.ipv6_source_address = "not-an-address".into();
        assert_eq!(field_of(r), "ipv6_source_address");
        let mut r = req(vec![(I::LowLatency, vec![])]);
        r.ipv6_destination_address = "10.0.0.1".into();
        assert_eq!(field_of(r), "ipv6_destination_address");
        assert_eq!(field_of(req(vec![])), "intents");
        assert_eq!(
            field_of(req(vec![(I::LowLatency, vec![]), (I::LowLatency, vec![])])),
            "intents[1].type"
        );
        assert_eq!(
            field_of(req(vec![(I::Unspecified, vec![])])),
            "intents[0].type"
        );
        let flex = |n| req(vec![(I::FlexAlgo, vec![val(V::FlexAlgoNr, Some(n), None)])]);
        assert_eq!(field_of(flex(127)), "intents[0].values[0].number_value");
        assert_eq!(field_of(flex(256)), "intents[0].values[0].number_value");
        assert!(validate(&flex(128)).is_ok());
        assert!(validate(&flex(255)).is_ok());
        assert_eq!(
            field_of(req(vec![(I::FlexAlgo, vec![])])),
            "intents[0].values"
        );
        assert_eq!(
            field_of(req(vec![(
                I::LowLatency,
                vec![val(V::MinValue, Some(1), None)]
            )])),
            "intents[0].values[0].type"
        );
        assert_eq!(
            field_of(req(vec![(
                I::HighBandwidth,
                vec![val(V::MaxValue, Some(1), None)]
            )])),
            "intents[0].values[0].type"
        );
        assert_eq!(
            field_of(req(vec![(
                I::LowLatency,
                vec![val(V::MaxValue, None, None)]
            )])),
            "intents[0].values[0].number_value"
        );
        assert_eq!(
            field_of(req(vec![(
                I::LowLatency,
                vec![val(V::MaxValue, Some(-5), None)]
            )])),
            "intents[0].values[0].number_value"
        );
        assert_eq!(
            field_of(req(vec![(I::Sfc, vec![val(V::Sfc, None, Some(" "))])])),
            "intents[0].values[0].string_value"
        );
        assert_eq!(field_of(req(vec![(I::Sfc, vec![])])), "intents[0].values");
        let long_chain = vec![val(V::Sfc, None, Some("fw")); MAX_FUNCTIONS + 1];
        assert_eq!(
            field_of(req(vec![(I::Sfc, long_chain)])),
            "intents[0].values"
        );
        let mut r = req(vec![(I::LowLatency, vec![])]);
        r.intents[0].r#type = 99;
        assert_eq!(field_of(r), "intents[0].type");
        let ok = req(vec![
            (I::HighBandwidth, vec![val(V::MinValue, Some(1000), None)]),
            (I::LowLatency, vec![val(V::MaxValue, Some(20_000), None)]),
        ]);
        let v = validate(&ok).unwrap();
        assert_eq!(v.intents[0].min_value, Some(1000));
        assert_eq!(v.intents[1].max_value, Some(20_000));
    }
}
