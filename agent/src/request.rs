//! What the agent asks the controller, and how an answer finds the ports
//! that asked: by destination and intents **with their values**, exactly
//! (the original matched intent names only, so two applications asking
//! `low-latency` with different maxima got each other's paths).

use std::fmt;
use std::net::Ipv6Addr;

use intent_proto::api::{self, IntentType, ValueType};
use intent_proto::config::intent_config_name;

/// One value of an intent, comparable.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct ValueKey {
    kind: i32,
    number: Option<i32>,
    text: Option<String>,
}

/// One intent, comparable.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct IntentKey {
    kind: i32,
    values: Vec<ValueKey>,
}

/// A list of intents with their values in order, comparable and hashable
/// (the wire messages are neither). Order matters: the controller treats
/// the first intent as the objective.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IntentsKey(Vec<IntentKey>);

impl IntentsKey {
    pub fn from_wire(intents: &[api::Intent]) -> IntentsKey {
        IntentsKey(
            intents
                .iter()
                .map(|i| IntentKey {
                    kind: i.r#type,
                    values: i
                        .values
                        .iter()
                        .map(|v| ValueKey {
                            kind: v.r#type,
                            number: v.number_value,
                            text: v.string_value.clone(),
                        })
                        .collect(),
                })
                .collect(),
        )
    }

    pub fn to_wire(&self) -> Vec<api::Intent> {
        self.0
            .iter()
            .map(|i| api::Intent {
                r#type: i.kind,
                values: i
                    .values
                    .iter()
                    .map(|v| api::Value {
                        r#type: v.kind,
                        number_value: v.number,
                        string_value: v.text.clone(),
                    })
                    .collect(),
            })
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `high-bandwidth min_value=1000, sfc functions=fw,ids` (the config's words).
impl fmt::Display for IntentsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, intent) in self.0.iter().enumerate() {
            if n > 0 {
                f.write_str(", ")?;
            }
            let kind = IntentType::try_from(intent.kind).ok();
            match kind.and_then(intent_config_name) {
                Some(name) => f.write_str(name)?,
                None => write!(f, "intent-{}", intent.kind)?,
            }
            let functions: Vec<&str> = intent
                .values
                .iter()
                .filter(|v| v.kind == ValueType::Sfc as i32)
                .filter_map(|v| v.text.as_deref())
                .collect();
            for v in intent
                .values
                .iter()
                .filter(|v| v.kind != ValueType::Sfc as i32)
            {
                let key = match ValueType::try_from(v.kind) {
                    Ok(ValueType::MinValue) => "min_value",
                    Ok(ValueType::MaxValue) => "max_value",
                    Ok(ValueType::FlexAlgoNr) => "flex_algo_number",
                    _ => "value",
                };
                match v.number {
                    Some(number) => write!(f, " {key}={number}")?,
                    None => write!(f, " {key}")?,
                }
            }
            if !functions.is_empty() {
                write!(f, " functions={}", functions.join(","))?;
            }
        }
        Ok(())
    }
}

/// One path request: a destination and the intents of the applications
/// that share it. The source is the agent's, the same for every request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestKey {
    pub destination: Ipv6Addr,
    pub intents: IntentsKey,
}

impl RequestKey {
    pub fn to_request(&self, source: Ipv6Addr) -> api::PathRequest {
        api::PathRequest {
            ipv6_source_address: source.to_string(),
            ipv6_destination_address: self.destination.to_string(),
            intents: self.intents.to_wire(),
        }
    }
}

impl fmt::Display for RequestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]", self.destination, self.intents)
    }
}

/// What the controller answered for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A SID list in travel order, 1..=16 SIDs.
    Path(Vec<Ipv6Addr>),
    /// No usable path: the controller's error, or why the agent refused it.
    Error(String),
}

/// A result as received: which request it answers (source, key) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub source: Ipv6Addr,
    pub key: RequestKey,
    pub answer: Answer,
}

/// Why a result matches no request (it is then ignored).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Unmatched {
    pub field: &'static str,
    pub message: String,
}

/// Read a result: the echoed request (addresses and intents) and its answer.
/// A list longer than the dataplane holds, or with an address that is no
/// SID, is an `Error` answer: never written, not even in part.
pub fn read_result(result: &api::PathResult) -> Result<Received, Unmatched> {
    let addr = |field: &'static str, text: &str| {
        text.parse::<Ipv6Addr>().map_err(|_| Unmatched {
            field,
            message: format!("{text:?} is not an IPv6 address"),
        })
    };
    let source = addr("ipv6_source_address", &result.ipv6_source_address)?;
    let destination = addr("ipv6_destination_address", &result.ipv6_destination_address)?;
    let key = RequestKey {
        destination,
        intents: IntentsKey::from_wire(&result.intents),
    };
    Ok(Received {
        source,
        key,
        answer: answer_of(result),
    })
}

fn answer_of(result: &api::PathResult) -> Answer {
    let sids = &result.ipv6_sid_addresses;
    if sids.is_empty() {
        return Answer::Error(
            result
                .error
                .clone()
                .unwrap_or_else(|| "the controller has no path (empty SID list)".to_owned()),
        );
    }
    if sids.len() > srh::MAX_SIDS {
        return Answer::Error(format!(
            "refused: the path has {} SIDs, the dataplane holds at most {}",
            sids.len(),
            srh::MAX_SIDS
        ));
    }
    let mut parsed = Vec::with_capacity(sids.len());
    for (i, text) in sids.iter().enumerate() {
        let addr = match topology::unicast_address(text) {
            Ok(a) => a,
            Err(e) => return Answer::Error(format!("refused: ipv6_sid_addresses[{i}]: {e}")),
        };
        // The dataplane's own rule (set_path would refuse it): say so here,
        // where the fallback stays, rather than as a failed map write.
        if let Some(why) = dataplane::address::unusable(addr) {
            return Answer::Error(format!("refused: ipv6_sid_addresses[{i}]: {addr} is {why}"));
        }
        parsed.push(addr);
    }
    Answer::Path(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intents(max: i32) -> Vec<api::Intent> {
        vec![api::Intent {
            r#type: IntentType::LowLatency as i32,
            values: vec![api::Value {
                r#type: ValueType::MaxValue as i32,
                number_value: Some(max),
                string_value: None,
            }],
        }]
    }

    fn result(sids: Vec<String>, error: Option<&str>) -> api::PathResult {
        api::PathResult {
            ipv6_source_address: "fcbb:cc00:1::a".into(),
            ipv6_destination_address: "fcbb:cc00:2::a".into(),
            intents: intents(5000),
            ipv6_sid_addresses: sids,
            error: error.map(str::to_owned),
        }
    }

    #[test]
    fn keys_compare_values_not_only_names() {
        let a = IntentsKey::from_wire(&intents(5000));
        let b = IntentsKey::from_wire(&intents(4000));
        assert_ne!(a, b);
        assert_eq!(a.to_wire(), intents(5000));
        assert_eq!(a.to_string(), "low-latency max_value=5000");
    }

    #[test]
    fn results_are_read_and_checked() {
        let ok = read_result(&result(vec!["fcbb:bb00:1::2".into()], None)).unwrap();
        assert_eq!(
            ok.key.destination,
            "fcbb:cc00:2::a".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(ok.key.intents, IntentsKey::from_wire(&intents(5000)));
        assert_eq!(
            ok.answer,
            Answer::Path(vec!["fcbb:bb00:1::2".parse().unwrap()])
        );
        let err = read_result(&result(vec![], Some("no path meets it"))).unwrap();
        assert_eq!(err.answer, Answer::Error("no path meets it".into()));
        let long: Vec<String> = (1..=17).map(|i| format!("fcbb:bb00:{i}::2")).collect();
        let refused = read_result(&result(long, None)).unwrap();
        assert!(matches!(refused.answer, Answer::Error(ref m) if m.contains("17 SIDs")));
        let bad = read_result(&result(vec!["ff02::1".into()], None)).unwrap();
        assert!(matches!(bad.answer, Answer::Error(ref m) if m.contains("[0]")));
        let mapped = vec!["fcbb:bb00:1::2".into(), "::ffff:192.0.2.1".into()];
        let mapped = read_result(&result(mapped, None)).unwrap();
        assert_eq!(
            mapped.answer,
            Answer::Error("refused: ipv6_sid_addresses[1]: ::ffff:192.0.2.1 is IPv4-mapped".into())
        );
        let mut r = result(vec![], None);
        r.ipv6_destination_address = "nope".into();
        assert_eq!(
            read_result(&r).unwrap_err().field,
            "ipv6_destination_address"
        );
    }
}
