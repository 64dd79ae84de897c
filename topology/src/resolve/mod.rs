//! Raw file -> resolved, validated [`Topology`].
//!
//! Stage two and three: apply defaults, derive link subnets, endpoint
//! addresses and interface names, then check every cross reference. Problems
//! are collected, never returned early, so one run reports all of them; a
//! model is returned only when there are none.
//!
//! # Layout
//! One file per concern, in the order [`resolve`] runs them:
//! - `syntax`: YAML and type errors of serde as one located problem.
//! - `context`: [`Cx`], the problem list, and the parsers of single values
//!   (addresses, prefixes, MTUs, flex-algos, link properties).
//! - `defaults`: the `defaults:` and `addressing:` sections.
//! - `nodes`: one node: its SID part (routers, service functions), its
//!   address part (end systems, loopbacks) and its role fields.
//! - `links`: one link: endpoints, subnet, addresses, properties,
//!   flex-algo membership, derived interface names.
//! - `structure`: duplicate links and interface names, how end systems
//!   attach, connectivity.
//! - `addresses`: unique SIDs and addresses, non-overlapping prefixes.
//! - `dns`: the `dns.records` section.
//! - `ifname`, `suggest`: interface-name rules; "did you mean" for names.

use ipnet::Ipv6Net;

use crate::error::LoadError;
use crate::model::Topology;
use crate::names::NameKind;
use crate::raw::RawTopology;

mod addresses;
mod context;
mod defaults;
mod dns;
mod ifname;
mod links;
mod nodes;
mod structure;
pub(crate) mod suggest;
mod syntax;

pub use context::unicast_address;
use context::Cx;
pub use ifname::{derived_ifname, MAX_IFNAME_LEN};
pub use syntax::{parse_document, syntax_problem};

/// Default link MTU: room for an SRH of 16 SIDs on top of 1500-byte host packets.
pub const DEFAULT_LINK_MTU: u32 = 9000;
/// Default MTU of an end system's default route.
pub const DEFAULT_ROUTE_MTU: u32 = 1500;
/// Default IGP metric of a link.
pub const DEFAULT_IGP_METRIC: u32 = 10;
/// Default pool of derived link subnets.
pub const DEFAULT_LINK_POOL: &str = "2001:db8:ffff::/48";
/// Prefix length of derived locators and end-system prefixes.
pub const DEFAULT_NODE_PREFIX_LEN: u8 = 48;

/// Parse YAML text into a validated topology.
pub(crate) fn parse(text: &str, file: &str) -> Result<Topology, LoadError> {
    let raw: RawTopology =
        syntax::parse_document(text, file, "a topology needs at least `name` and `nodes`")?;
    let mut cx = Cx::default();
    let topo = resolve(&raw, &mut cx);
    if cx.problems.is_empty() {
        Ok(topo)
    } else {
        cx.problems.sort_by_key(|p| (p.line, p.column));
        Err(LoadError::Invalid {
            file: file.to_owned(),
            problems: cx.problems,
        })
    }
}

/// Every stage in order; each reports into `cx` and goes on with what it could resolve.
fn resolve(raw: &RawTopology, cx: &mut Cx) -> Topology {
    cx.name(&raw.name, "name", NameKind::Lab);
    let defaults = defaults::resolve_defaults(cx, raw);
    let drafts = nodes::resolve_nodes(cx, raw, &defaults);
    let links = links::resolve_links(cx, raw, &drafts, &defaults);
    // Link ids must equal their index even when a broken link was skipped;
    // a model is only returned when nothing was skipped, so this is a no-op then.
    let valid_links = links.links.len() == raw.links.len();

    structure::check_links(cx, &drafts, &links);
    addresses::check_addresses(cx, &drafts, &links, &raw.links);
    if valid_links && !drafts.is_empty() {
        structure::check_connected(cx, &drafts, &links.links);
    }
    let dns_records = dns::resolve_dns(cx, raw, &drafts);

    Topology {
        name: raw.name.value.clone(),
        nodes: drafts.into_iter().map(|(k, d)| (k, d.node)).collect(),
        links: links.links,
        dns_records,
    }
}

/// The /48 holding `addr`: the derived locator or end-system prefix.
fn to48(addr: std::net::Ipv6Addr) -> Ipv6Net {
    // DEFAULT_NODE_PREFIX_LEN is a valid length: new() cannot fail.
    Ipv6Net::new(addr, DEFAULT_NODE_PREFIX_LEN)
        .map(|n| n.trunc())
        .unwrap_or_else(|_| Ipv6Net::from(addr))
}
