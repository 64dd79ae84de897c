//! Static mode: answers looked up in a YAML table (the original dummy
//! controller's job, scriptable), changed at run time through the admin API.
//!
//! ```yaml
//! paths:
//!   - destination: fcbb:cc00:2::a      # required
//!     source: fcbb:cc00:1::a           # optional: only this client
//!     intents:                         # the agent config's intent syntax
//!       - intent: high-bandwidth
//!         min_value: 1000              # kbit/s
//!     sids: [fcbb:bb00:1::2, fcbb:bb00:2::2, fcbb:bb00:4::2, fcbb:bb00:6::2]
//! ```
//! A request matches an entry when the destination (and source, if given)
//! are equal and its intents are the same set with the same values (order
//! does not matter). The first matching entry answers.

use std::net::Ipv6Addr;
use std::path::Path;

use intent_proto::api;
use intent_proto::config::{self, IntentConfig};
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::intents::{self, Invalid, Request};

/// A table problem: file, line (when known), field, message.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("{file}: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Parse { file: String, message: String },
    #[error("{file}:{line}: {field}: {message}")]
    Invalid {
        file: String,
        line: u64,
        field: String,
        message: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    paths: Vec<Spanned<RawEntry>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    destination: String,
    #[serde(default)]
    source: Option<String>,
    intents: Spanned<Vec<IntentConfig>>,
    sids: Vec<String>,
}

/// The canonical form a request is matched by.
type Canon = Vec<(i32, Option<u32>, Option<u32>, Option<u8>, Vec<String>)>;

fn canon(req: &Request) -> Canon {
    let mut c: Canon = req
        .intents
        .iter()
        .map(|i| {
            (
                i.kind as i32,
                i.min_value,
                i.max_value,
                i.flex_algo,
                i.functions.iter().map(|(_, f)| f.clone()).collect(),
            )
        })
        .collect();
    c.sort();
    c
}

#[derive(Debug, Clone, PartialEq)]
struct Entry {
    destination: Ipv6Addr,
    source: Option<Ipv6Addr>,
    intents: Canon,
    sids: Vec<Ipv6Addr>,
}

/// The table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StaticTable {
    entries: Vec<Entry>,
}

fn entry(
    destination: &str,
    source: Option<&str>,
    intents: Vec<api::Intent>,
    sids: &[String],
) -> Result<Entry, Invalid> {
    let request = api::PathRequest {
        ipv6_source_address: source.unwrap_or("::").to_owned(),
        ipv6_destination_address: destination.to_owned(),
        intents,
    };
    let valid = intents::validate(&request).map_err(|e| Invalid {
        field: e.field.replace("ipv6_destination_address", "destination"),
        message: e.message,
    })?;
    if sids.len() > srh::MAX_SIDS {
        return Err(Invalid {
            field: "sids".into(),
            message: format!(
                "{} SIDs, the dataplane holds at most {}",
                sids.len(),
                srh::MAX_SIDS
            ),
        });
    }
    let sids = sids
        .iter()
        .enumerate()
        .map(|(k, s)| intents::parse_addr(&format!("sids[{k}]"), s))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Entry {
        destination: valid.dst,
        source: source.map(|_| valid.src),
        intents: canon(&valid),
        sids,
    })
}

impl StaticTable {
    /// Read and check a table file; every problem names file, line, field.
    pub fn load(path: &Path) -> Result<StaticTable, TableError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| TableError::Read {
            file: file.clone(),
            source,
        })?;
        StaticTable::parse(&text, &file)
    }

    /// Parse table YAML; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<StaticTable, TableError> {
        let raw: RawTable = serde_saphyr::from_str(text).map_err(|e| TableError::Parse {
            file: file.to_owned(),
            message: e.to_string(),
        })?;
        let mut entries = Vec::with_capacity(raw.paths.len());
        for (n, spanned) in raw.paths.iter().enumerate() {
            let e = &spanned.value;
            let line = spanned.referenced.line();
            let wrap = |inv: Invalid| TableError::Invalid {
                file: file.to_owned(),
                line,
                field: format!("paths[{n}].{}", inv.field),
                message: inv.message,
            };
            let intents = config::to_wire(&e.intents.value, e.intents.referenced).map_err(|c| {
                TableError::Invalid {
                    file: file.to_owned(),
                    line: c.location.line(),
                    field: format!("paths[{n}].{}", c.field),
                    message: c.message,
                }
            })?;
            entries
                .push(entry(&e.destination, e.source.as_deref(), intents, &e.sids).map_err(wrap)?);
        }
        Ok(StaticTable { entries })
    }

    /// The SID list for a validated request, if an entry matches.
    pub fn lookup(&self, req: &Request) -> Option<Vec<Ipv6Addr>> {
        let c = canon(req);
        self.entries
            .iter()
            .find(|e| {
                e.destination == req.dst && e.source.is_none_or(|s| s == req.src) && e.intents == c
            })
            .map(|e| e.sids.clone())
    }

    /// Replace the entry for (destination, intents), or add one.
    pub fn set(&mut self, req: &api::SetStaticPathRequest) -> Result<(), Invalid> {
        let new = entry(
            &req.ipv6_destination_address,
            None,
            req.intents.clone(),
            &req.ipv6_sid_addresses,
        )?;
        match self.entries.iter_mut().find(|e| {
            e.destination == new.destination && e.source.is_none() && e.intents == new.intents
        }) {
            Some(e) => *e = new,
            None => self.entries.insert(0, new),
        }
        Ok(())
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const TABLE: &str = "\
paths:
  - destination: fcbb:cc00:2::a
    intents:
      - intent: high-bandwidth
    sids: [fcbb:bb00:1::2, fcbb:bb00:2::2]
  - destination: fcbb:cc00:2::a
    intents:
      - intent: low-latency
        max_value: 5000
      - intent: flex-algo
        flex_algo_number: 128
    sids: [fcbb:bb00:3::2]
";

    fn request(intents: Vec<api::Intent>) -> Request {
        let raw = api::PathRequest {
            ipv6_source_address: "fcbb:cc00:1::a".into(),
            ipv6_destination_address: "fcbb:cc00:2::a".into(),
            intents,
        };
        intents::validate(&raw).unwrap()
    }

    #[test]
    fn answers_exactly_and_in_any_intent_order() {
        let t = StaticTable::parse(TABLE, "t.yaml").unwrap();
        assert_eq!(t.len(), 2);
        let value = |t: api::ValueType, n| api::Value {
            r#type: t as i32,
            number_value: Some(n),
            string_value: None,
        };
        let flex = api::Intent {
            r#type: api::IntentType::FlexAlgo as i32,
            values: vec![value(api::ValueType::FlexAlgoNr, 128)],
        };
        let lat = |max| api::Intent {
            r#type: api::IntentType::LowLatency as i32,
            values: vec![value(api::ValueType::MaxValue, max)],
        };
        let v = request(vec![flex.clone(), lat(5000)]);
        assert_eq!(t.lookup(&v), Some(vec!["fcbb:bb00:3::2".parse().unwrap()]));
        let v = request(vec![flex, lat(4000)]);
        assert_eq!(t.lookup(&v), None, "values must match exactly");
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let bad = TABLE.replace("flex_algo_number: 128", "flex_algo_number: 12");
        let e = StaticTable::parse(&bad, "t.yaml").unwrap_err().to_string();
        assert_eq!(
            e,
            "t.yaml:11: paths[1].intents[1].flex_algo_number: flex-algo number 12 outside 128..255"
        );
        let bad = TABLE.replace("intent: high-bandwidth", "intent: fast");
        let e = StaticTable::parse(&bad, "t.yaml").unwrap_err().to_string();
        assert!(
            e.starts_with("t.yaml:4: paths[0].intents[0].intent: unknown intent \"fast\""),
            "{e}"
        );
        let bad = TABLE.replace("fcbb:bb00:3::2]", "nope]");
        let e = StaticTable::parse(&bad, "t.yaml").unwrap_err().to_string();
        assert_eq!(
            e,
            "t.yaml:6: paths[1].sids[0]: invalid IPv6 address \"nope\""
        );
        let bad = TABLE.replace("    sids: [fcbb:bb00:3::2]\n", "    sid: []\n");
        let e = StaticTable::parse(&bad, "t.yaml").unwrap_err().to_string();
        assert!(e.starts_with("t.yaml: "), "{e}");
        // No more SIDs than the dataplane holds.
        let seventeen = vec!["fcbb:bb00:3::2"; 17].join(", ");
        let bad = TABLE.replace("fcbb:bb00:3::2]", &format!("{seventeen}]"));
        let e = StaticTable::parse(&bad, "t.yaml").unwrap_err().to_string();
        assert_eq!(
            e,
            "t.yaml:6: paths[1].sids: 17 SIDs, the dataplane holds at most 16"
        );
    }
}
