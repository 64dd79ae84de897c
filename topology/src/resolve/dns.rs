//! The `dns.records` section: names under the shared DNS name rule, each
//! pointing at a node (its address) or at an IPv6 address.

use std::collections::BTreeMap;
use std::net::Ipv6Addr;

use serde_saphyr::Spanned;

use super::nodes::Drafts;
use super::suggest::suggest;
use super::Cx;
use crate::model::NodeKind;
use crate::names;
use crate::raw::RawTopology;

/// The records by FQDN (lower case, no trailing dot).
pub(super) fn resolve_dns(
    cx: &mut Cx,
    raw: &RawTopology,
    drafts: &Drafts,
) -> BTreeMap<String, Ipv6Addr> {
    let mut out = BTreeMap::new();
    let records = &raw.dns.records.0;
    if !records.is_empty() && !drafts.values().any(|d| d.node.kind == NodeKind::Dns) {
        if let Some((k, _)) = records.first() {
            cx.err(
                &k.referenced,
                "dns.records",
                "DNS records need a node of kind dns to serve them",
            );
        }
    }
    for (key, value) in records {
        let f = format!("dns.records[{:?}]", key.value);
        let fqdn = match names::qualified_dns_name(&key.value) {
            Ok(name) => name.to_ascii().trim_end_matches('.').to_owned(),
            Err(e) => {
                cx.err(&key.referenced, &f, e.to_string());
                continue;
            }
        };
        if let Some(a) = record_target(cx, value, &f, drafts) {
            if out.insert(fqdn.clone(), a).is_some() {
                cx.err(&key.referenced, &f, format!("{fqdn} is defined twice"));
            }
        }
    }
    out
}

/// A record's value: a node's address or an IPv6 address.
fn record_target(
    cx: &mut Cx,
    value: &Spanned<String>,
    f: &str,
    drafts: &Drafts,
) -> Option<Ipv6Addr> {
    let target = value.value.trim();
    if let Some(d) = drafts.get(target) {
        if d.node.address.is_none() {
            cx.err(
                &value.referenced,
                f,
                format!("node {target} has no address to publish"),
            );
        }
        return d.node.address;
    }
    if target.contains(':') {
        return cx.addr(value, f);
    }
    let message = match suggest(target, drafts.keys()) {
        Some(near) => {
            format!("{target:?} is neither a node nor an IPv6 address; did you mean {near:?}?")
        }
        None => format!("{target:?} is neither a node nor an IPv6 address"),
    };
    cx.err(&value.referenced, f, message);
    None
}
