//! The address plan as a whole: every SID and address used once, routed
//! prefixes and link subnets apart, no SID inside a link subnet.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv6Addr;

use ipnet::Ipv6Net;
use serde_saphyr::{Location, Spanned};

use super::links::Links;
use super::nodes::Drafts;
use super::Cx;
use crate::model::Link;
use crate::raw::RawLink;

/// Unique SIDs and addresses; routed prefixes and link subnets do not overlap.
pub(super) fn check_addresses(
    cx: &mut Cx,
    drafts: &Drafts,
    links: &Links,
    raw_links: &[Spanned<RawLink>],
) {
    let places = Places { raw_links };
    let duplicated = check_unique_addresses(cx, drafts, links, &places);
    check_prefix_overlaps(cx, drafts, links, &places, &duplicated);
    check_sids_outside_link_subnets(cx, drafts, &links.links);
}

/// Where a link's address or subnet was written (the link itself when derived).
struct Places<'r> {
    raw_links: &'r [Spanned<RawLink>],
}

impl Places<'_> {
    fn raw_of(&self, l: &Link) -> Option<&RawLink> {
        self.raw_links.get(l.id).map(|r| &r.value)
    }
    fn address_at(&self, l: &Link, i: usize, link_at: Location) -> Location {
        self.raw_of(l)
            .and_then(|r| r.addresses.as_ref())
            .and_then(|a| a.value.get(i))
            .map_or(link_at, |a| a.referenced)
    }
    fn subnet_at(&self, l: &Link, link_at: Location) -> Location {
        self.raw_of(l)
            .and_then(|r| r.subnet.as_ref())
            .map_or(link_at, |s| s.referenced)
    }
}

/// Where a name or address was declared, for duplicate checks.
struct Owner {
    what: String,
    at: Location,
    field: String,
}

/// Every SID, node address and link address at most once; returns the
/// fields of the second uses (reported here).
fn check_unique_addresses(
    cx: &mut Cx,
    drafts: &Drafts,
    links: &Links,
    places: &Places,
) -> BTreeSet<String> {
    let mut seen: HashMap<Ipv6Addr, Owner> = HashMap::new();
    let mut duplicated: BTreeSet<String> = BTreeSet::new();
    let mut claim = |cx: &mut Cx, addr: Ipv6Addr, owner: Owner| {
        let Some(first) = seen.get(&addr) else {
            seen.insert(addr, owner);
            return;
        };
        duplicated.insert(owner.field.clone());
        let message = format!(
            "{addr} is used twice: {} and {} (line {})",
            first.what,
            owner.what,
            first.at.line()
        );
        cx.err(&owner.at, &owner.field, message);
    };
    for (name, d) in drafts {
        let owned = [
            (d.node.sid, "SID", "sid", d.sid_at()),
            (d.node.address, "address", "address", d.address_at()),
        ];
        for (addr, what, key, at) in owned {
            if let Some(addr) = addr {
                let what = format!("{what} of {name}");
                let field = format!("nodes.{name}.{key}");
                claim(cx, addr, Owner { what, at, field });
            }
        }
    }
    for (l, at) in links.links.iter().zip(&links.at) {
        for (i, ep) in [&l.a, &l.b].into_iter().enumerate() {
            let what = format!("links[{}] address of {}", l.id, ep.node);
            let field = format!("links[{}].addresses[{i}]", l.id);
            let at = places.address_at(l, i, *at);
            claim(cx, ep.addr, Owner { what, at, field });
        }
    }
    duplicated
}

/// A routed prefix or link subnet with its owner.
struct Net {
    net: Ipv6Net,
    owner: Owner,
}

/// Routed prefixes (locators, end-system prefixes) and link subnets must not
/// overlap: a SID or host address inside someone else's prefix would be
/// routed to the wrong node.
fn check_prefix_overlaps(
    cx: &mut Cx,
    drafts: &Drafts,
    links: &Links,
    places: &Places,
    duplicated: &BTreeSet<String>,
) {
    let mut nets = routed_prefixes(drafts, duplicated);
    for (l, at) in links.links.iter().zip(&links.at) {
        nets.push(Net {
            net: l.subnet,
            owner: Owner {
                what: format!("subnet of links[{}]", l.id),
                at: places.subnet_at(l, *at),
                field: format!("links[{}].subnet", l.id),
            },
        });
    }
    nets.sort_by_key(|n| (n.net.network(), n.net.prefix_len()));
    // After sorting by network, an overlap with any earlier prefix shows up
    // as containment by the widest prefix still open.
    let mut open: Vec<usize> = Vec::new();
    for i in 0..nets.len() {
        while let Some(&j) = open.last() {
            if nets[j].net.contains(&nets[i].net.network()) {
                break;
            }
            open.pop();
        }
        // The stack is a chain of nested prefixes: its top is the innermost one holding i.
        if let Some(&j) = open.last() {
            let (outer, inner) = (&nets[j], &nets[i]);
            let message = format!(
                "{} {} overlaps {} {} (line {})",
                inner.owner.what,
                inner.net,
                outer.owner.what,
                outer.net,
                outer.owner.at.line()
            );
            cx.err(&inner.owner.at, &inner.owner.field, message);
        }
        open.push(i);
    }
}

/// Every node's locator or prefix, except a derived one of a duplicated
/// SID/address: it overlaps by construction and the duplicate is reported.
fn routed_prefixes(drafts: &Drafts, duplicated: &BTreeSet<String>) -> Vec<Net> {
    let mut nets = Vec::new();
    for (name, d) in drafts {
        let (own, field) = if d.node.kind.has_sid() {
            ("sid", "locator")
        } else {
            ("address", "prefix")
        };
        if d.prefix_at().is_none() && duplicated.contains(&format!("nodes.{name}.{own}")) {
            continue;
        }
        if let Some(net) = d.node.routed_prefix() {
            nets.push(Net {
                net,
                owner: Owner {
                    what: format!("{field} of {name}"),
                    at: d.prefix_at().unwrap_or(d.at),
                    field: format!("nodes.{name}.{field}"),
                },
            });
        }
    }
    nets
}

/// A SID of a node must be routed to that node: not inside a link subnet.
fn check_sids_outside_link_subnets(cx: &mut Cx, drafts: &Drafts, links: &[Link]) {
    // The first link (in file order) of each subnet, by prefix length: a SID
    // is then looked up once per length (usually one: /64) instead of
    // against every link.
    let mut first_of: BTreeMap<u8, HashMap<Ipv6Net, &Link>> = BTreeMap::new();
    for l in links {
        let subnet = l.subnet.trunc();
        let of_len = first_of.entry(subnet.prefix_len()).or_default();
        of_len.entry(subnet).or_insert(l);
    }
    for (name, d) in drafts {
        let Some(s) = d.node.sid else {
            continue;
        };
        let holding = first_of.iter().filter_map(|(&len, subnets)| {
            let net = Ipv6Net::new(s, len).ok()?.trunc();
            subnets.get(&net)
        });
        if let Some(l) = holding.min_by_key(|l| l.id) {
            cx.err(
                &d.sid_at(),
                format!("nodes.{name}.sid"),
                format!(
                    "SID {s} lies inside the subnet {} of links[{}]",
                    l.subnet, l.id
                ),
            );
        }
    }
}
