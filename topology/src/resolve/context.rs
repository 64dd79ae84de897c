//! [`Cx`]: the problems found so far, and the parsers of single values.
//!
//! Every parser reports a bad value at its location and returns `None` (or
//! the value as written), so resolution goes on and one run reports every
//! problem of a file.

use std::collections::BTreeSet;
use std::net::Ipv6Addr;
use std::str::FromStr;

use ipnet::Ipv6Net;
use serde_saphyr::{Location, Spanned};

use super::DEFAULT_IGP_METRIC;
use crate::error::Problem;
use crate::model::LinkProps;
use crate::names::{self, NameKind};
use crate::raw::{RawProps, Scalar};
use crate::units;

/// The problems of one file, in the order they were found (sorted by place at the end).
#[derive(Default)]
pub(super) struct Cx {
    pub(super) problems: Vec<Problem>,
}

impl Cx {
    /// Record a problem at `at`.
    pub(super) fn err(
        &mut self,
        at: &Location,
        field: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.problems.push(Problem {
            line: at.line() as u32,
            column: at.column() as u32,
            field: field.into(),
            message: message.into(),
        });
    }

    /// Parse an address that must be usable as a unicast SID or interface address.
    pub(super) fn addr(&mut self, s: &Spanned<String>, field: &str) -> Option<Ipv6Addr> {
        match unicast_address(&s.value) {
            Ok(a) => Some(a),
            Err(message) => {
                self.err(&s.referenced, field, message);
                None
            }
        }
    }

    /// Parse a prefix written without host bits.
    pub(super) fn net(&mut self, s: &Spanned<String>, field: &str) -> Option<Ipv6Net> {
        let text = s.value.trim();
        match Ipv6Net::from_str(text) {
            Ok(n) if n.trunc() != n => {
                self.err(
                    &s.referenced,
                    field,
                    format!("{text} has host bits set; did you mean {}?", n.trunc()),
                );
                None
            }
            Ok(n) => Some(n),
            Err(_) => {
                self.err(
                    &s.referenced,
                    field,
                    format!("{text:?} is not an IPv6 prefix (address/length)"),
                );
                None
            }
        }
    }

    /// Flex-algo numbers (128..=255).
    pub(super) fn flex_algos(
        &mut self,
        list: &Option<Vec<Spanned<i64>>>,
        field: &str,
    ) -> BTreeSet<u8> {
        let mut out = BTreeSet::new();
        for (i, n) in list.iter().flatten().enumerate() {
            match u8::try_from(n.value) {
                Ok(v) if v >= 128 => {
                    out.insert(v);
                }
                _ => self.err(
                    &n.referenced,
                    format!("{field}[{i}]"),
                    format!("flex-algo {} is outside 128..=255", n.value),
                ),
            }
        }
        out
    }

    /// An MTU IPv6 can use (1280..=65535); the value is kept either way.
    pub(super) fn mtu(&mut self, v: &Spanned<u32>, field: &str) -> u32 {
        if !(1280..=65535).contains(&v.value) {
            self.err(
                &v.referenced,
                field,
                format!(
                    "MTU {} is outside 1280..=65535 (IPv6 needs at least 1280)",
                    v.value
                ),
            );
        }
        v.value
    }

    /// An IGP metric (at least 1); `None` = not written, `default` applies.
    pub(super) fn igp_metric(
        &mut self,
        v: &Option<Spanned<u32>>,
        field: &str,
        default: u32,
    ) -> u32 {
        match v {
            Some(m) if m.value == 0 => {
                self.err(&m.referenced, field, "IGP metric must be at least 1");
                DEFAULT_IGP_METRIC
            }
            Some(m) => m.value,
            None => default,
        }
    }

    /// The link properties written on one item, in model units; a bad value
    /// is reported at its place and left unset.
    pub(super) fn props(&mut self, raw: &RawProps, field: &str) -> LinkProps {
        let mut one =
            |v: &Option<Spanned<Scalar>>, name: &str, parse: fn(&str) -> Result<f64, String>| {
                v.as_ref().and_then(|s| match parse(&s.value.0) {
                    Ok(x) => Some(x),
                    Err(m) => {
                        self.err(&s.referenced, format!("{field}.{name}"), m);
                        None
                    }
                })
            };
        let as_f64_bw = |t: &str| units::parse_bandwidth_kbps(t).map(|v| v as f64);
        let as_f64_dur = |t: &str| units::parse_duration_us(t).map(|v| v as f64);
        LinkProps {
            bandwidth_kbps: one(&raw.bandwidth, "bandwidth", as_f64_bw).map(|v| v as u64),
            latency_us: one(&raw.latency, "latency", as_f64_dur).map(|v| v as u64),
            jitter_us: one(&raw.jitter, "jitter", as_f64_dur).map(|v| v as u64),
            loss_pct: one(&raw.loss, "loss", units::parse_percent),
            utilization_pct: one(&raw.utilization, "utilization", units::parse_percent),
        }
    }

    /// Lab and node names: the shared rule of [`crate::names`].
    pub(super) fn name(&mut self, s: &Spanned<String>, field: &str, kind: NameKind) {
        if let Err(e) = names::check_name(kind, &s.value) {
            self.err(&s.referenced, field, e.to_string());
        }
    }
}

/// The address rule for SIDs, interface and service addresses (the lab's
/// and the agent's): an IPv6 unicast address that is neither unspecified,
/// loopback, multicast nor link-local. The error says which and why.
pub fn unicast_address(text: &str) -> Result<Ipv6Addr, String> {
    let text = text.trim();
    match Ipv6Addr::from_str(text) {
        Ok(a) if a.is_unspecified() || a.is_loopback() || a.is_multicast() => Err(format!(
            "{text} is not a unicast address (unspecified, loopback and multicast are not allowed)"
        )),
        Ok(a) if a.is_unicast_link_local() => Err(format!(
            "{text} is link-local; use a global or unique-local address"
        )),
        Ok(a) => Ok(a),
        Err(_) if text.contains('/') => Err(format!(
            "{text:?} is a prefix; an address (no /length) is expected here"
        )),
        Err(_) => Err(format!("{text:?} is not an IPv6 address")),
    }
}
