//! Requests on the wire -> validated intents -> a path [`Query`].
//!
//! Validation rejects what the original controller (hawkeye) rejects, and a
//! little more, always naming the offending field (`intents[1].values[0].type`)
//! so a client can tell what to fix. Nothing here touches the network.
//!
//! # Combination rule
//! The intents of one request combine in request order:
//! * every MIN / MAX value of every intent is a hard constraint;
//! * FLEX_ALGO restricts the graph to its algo, SFC adds its waypoints in
//!   order, wherever they appear in the list;
//! * the first intent that measures something (bandwidth, latency, loss,
//!   jitter, utilisation; flex-algo measures the IGP metric) is the
//!   objective, and each later one breaks ties in order, then latency, then
//!   hop count (lexicographic).

use std::collections::BTreeSet;
use std::net::Ipv6Addr;

use intent_proto::api::{self, IntentType, ValueType};

use crate::pathcomp::{Constraints, Graph, Metric, NodeId, NodeKind, Query, Waypoint};

/// Longest service function chain accepted (a SID list holds
/// [`srh::MAX_SIDS`] segments, and a chain's way back costs SIDs too).
pub const MAX_FUNCTIONS: usize = 8;

/// A request that failed validation: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> Invalid {
    Invalid {
        field: field.into(),
        message: message.into(),
    }
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

fn parse_addr(field: &str, text: &str) -> Result<Ipv6Addr, Invalid> {
    if text.is_empty() {
        return Err(invalid(field, "required (an IPv6 address)"));
    }
    text.parse::<Ipv6Addr>()
        .map_err(|_| invalid(field, format!("invalid IPv6 address {text:?}")))
}

/// Check a request; the first problem found is returned.
pub fn validate(req: &api::PathRequest) -> Result<Request, Invalid> {
    let src = parse_addr("ipv6_source_address", &req.ipv6_source_address)?;
    let dst = parse_addr("ipv6_destination_address", &req.ipv6_destination_address)?;
    if req.intents.is_empty() {
        return Err(invalid("intents", "at least one intent is required"));
    }
    let mut seen: Vec<(IntentType, usize)> = Vec::new();
    let mut intents = Vec::with_capacity(req.intents.len());
    for (i, intent) in req.intents.iter().enumerate() {
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
        intents.push(validate_values(i, kind, &intent.values)?);
    }
    Ok(Request { src, dst, intents })
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
        let tfield = format!("intents[{i}].values[{k}].type");
        let nfield = format!("intents[{i}].values[{k}].number_value");
        let sfield = format!("intents[{i}].values[{k}].string_value");
        let vt = ValueType::try_from(v.r#type)
            .map_err(|_| invalid(&tfield, format!("unknown value type {}", v.r#type)))?;
        let only_on = |allowed: &[IntentType]| -> Result<(), Invalid> {
            if allowed.contains(&kind) {
                return Ok(());
            }
            let names: Vec<&str> = allowed.iter().map(|t| intent_name(*t)).collect();
            Err(invalid(
                &tfield,
                format!(
                    "{} is only allowed on {}, not on {}",
                    value_name(vt),
                    names.join(", "),
                    intent_name(kind)
                ),
            ))
        };
        let number = || -> Result<u32, Invalid> {
            let n = v
                .number_value
                .ok_or_else(|| invalid(&nfield, format!("required for {}", value_name(vt))))?;
            u32::try_from(n).map_err(|_| invalid(&nfield, format!("must be >= 0, got {n}")))
        };
        let twice = || invalid(&tfield, format!("{} given more than once", value_name(vt)));
        match vt {
            ValueType::Unspecified => {
                return Err(invalid(
                    &tfield,
                    "VALUE_TYPE_UNSPECIFIED is not a value type",
                ));
            }
            ValueType::MinValue => {
                only_on(&[IntentType::HighBandwidth, IntentType::LowBandwidth])?;
                if spec.min_value.is_some() {
                    return Err(twice());
                }
                spec.min_value = Some(number()?);
            }
            ValueType::MaxValue => {
                only_on(&[
                    IntentType::LowLatency,
                    IntentType::LowJitter,
                    IntentType::LowPacketLoss,
                ])?;
                if spec.max_value.is_some() {
                    return Err(twice());
                }
                let n = number()?;
                if kind == IntentType::LowPacketLoss && n > 100 {
                    return Err(invalid(
                        &nfield,
                        format!("a loss in percent is <= 100, got {n}"),
                    ));
                }
                spec.max_value = Some(n);
            }
            ValueType::FlexAlgoNr => {
                only_on(&[IntentType::FlexAlgo])?;
                if spec.flex_algo.is_some() {
                    return Err(twice());
                }
                let n = number()?;
                let algo = u8::try_from(n).ok().filter(|a| *a >= 128).ok_or_else(|| {
                    invalid(&nfield, format!("flex-algo number {n} outside 128..255"))
                })?;
                spec.flex_algo = Some(algo);
            }
            ValueType::Sfc => {
                only_on(&[IntentType::Sfc])?;
                match v.string_value.as_deref() {
                    Some(s) if !s.trim().is_empty() => {
                        spec.functions.push((k, s.trim().to_owned()))
                    }
                    _ => return Err(invalid(&sfield, "required (a service function name)")),
                }
            }
        }
    }
    let vfield = format!("intents[{i}].values");
    if spec.functions.len() > MAX_FUNCTIONS {
        return Err(invalid(
            vfield,
            format!(
                "at most {MAX_FUNCTIONS} service functions in a chain (a SID list holds {} segments)",
                srh::MAX_SIDS
            ),
        ));
    }
    if kind == IntentType::FlexAlgo && spec.flex_algo.is_none() {
        return Err(invalid(
            vfield,
            "INTENT_TYPE_FLEX_ALGO needs a VALUE_TYPE_FLEX_ALGO_NR value",
        ));
    }
    if kind == IntentType::Sfc && spec.functions.is_empty() {
        return Err(invalid(
            vfield,
            "INTENT_TYPE_SFC needs at least one VALUE_TYPE_SFC value",
        ));
    }
    Ok(spec)
}

/// A request resolved on a graph: end nodes and the query.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub src: NodeId,
    pub dst: NodeId,
    pub query: Query,
}

/// Resolve a validated request on `graph` (addresses to nodes, function
/// names to waypoints) and build its query by the combination rule.
pub fn plan(req: &Request, graph: &Graph) -> Result<Plan, Invalid> {
    let end = |field: &str, addr: Ipv6Addr| {
        graph
            .node_for_address(addr)
            .ok_or_else(|| invalid(field, format!("{addr} belongs to no host of the topology")))
    };
    let src = end("ipv6_source_address", req.src)?;
    let dst = end("ipv6_destination_address", req.dst)?;
    let mut objective = Vec::new();
    let mut constraints = Constraints::default();
    let mut flex_algo = None;
    let mut waypoints = Vec::new();
    for (i, spec) in req.intents.iter().enumerate() {
        let metric = match spec.kind {
            IntentType::HighBandwidth => Some(Metric::WidestBottleneck),
            IntentType::LowBandwidth => Some(Metric::NarrowestLink),
            IntentType::LowLatency => Some(Metric::Latency),
            IntentType::LowPacketLoss => Some(Metric::Loss),
            IntentType::LowJitter => Some(Metric::Jitter),
            IntentType::LowUtilization => Some(Metric::MaxUtilization),
            IntentType::FlexAlgo => Some(Metric::Igp),
            IntentType::Sfc | IntentType::Unspecified => None,
        };
        if let Some(m) = metric {
            if !objective.contains(&m) {
                objective.push(m);
            }
        }
        if let Some(min) = spec.min_value {
            let min = u64::from(min);
            constraints.min_bandwidth_kbps =
                Some(constraints.min_bandwidth_kbps.map_or(min, |m| m.max(min)));
        }
        if let Some(max) = spec.max_value {
            match spec.kind {
                IntentType::LowLatency => constraints.max_latency_us = Some(u64::from(max)),
                IntentType::LowJitter => constraints.max_jitter_us = Some(u64::from(max)),
                IntentType::LowPacketLoss => constraints.max_loss_pct = Some(f64::from(max)),
                _ => {}
            }
        }
        if spec.flex_algo.is_some() {
            flex_algo = spec.flex_algo;
        }
        for (k, name) in &spec.functions {
            let by_function: BTreeSet<NodeId> = graph
                .nodes
                .iter()
                .enumerate()
                .filter(|(_, n)| {
                    n.kind == NodeKind::ServiceFunction && n.function.as_deref() == Some(name)
                })
                .map(|(id, _)| id)
                .collect();
            let nodes = if by_function.is_empty() {
                graph
                    .node_id(name)
                    .filter(|&id| graph.nodes[id].kind != NodeKind::EndSystem)
                    .into_iter()
                    .collect()
            } else {
                by_function
            };
            if nodes.is_empty() {
                return Err(invalid(
                    format!("intents[{i}].values[{k}].string_value"),
                    format!("no service function (or router) named {name:?} in the topology"),
                ));
            }
            waypoints.push(Waypoint {
                name: name.clone(),
                nodes,
            });
        }
    }
    Ok(Plan {
        src,
        dst,
        query: Query {
            objective,
            constraints,
            flex_algo,
            waypoints,
        },
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use api::{Intent, PathRequest, Value};

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
