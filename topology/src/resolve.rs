//! Raw file -> resolved, validated [`Topology`].
//!
//! Stage two and three: apply defaults, derive link subnets, endpoint
//! addresses and interface names, then check every cross reference. Problems
//! are collected, never returned early, so one run reports all of them; a
//! model is returned only when there are none.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::Ipv6Addr;
use std::str::FromStr;

use ipnet::Ipv6Net;
use serde_saphyr::{Location, Spanned};

use crate::error::{LoadError, Problem};
use crate::model::*;
use crate::names::{self, NameKind};
use crate::raw::*;
use crate::units;

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
/// Longest interface name Linux accepts (IFNAMSIZ - 1).
pub const MAX_IFNAME_LEN: usize = 15;

/// Parse YAML text into a validated topology.
pub(crate) fn parse(text: &str, file: &str) -> Result<Topology, LoadError> {
    let blank = text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'));
    if blank {
        return Err(LoadError::Invalid {
            file: file.to_owned(),
            problems: vec![Problem {
                line: 1,
                column: 1,
                field: String::new(),
                message: "the file is empty: a topology needs at least `name` and `nodes`".into(),
            }],
        });
    }
    let raw: RawTopology = serde_saphyr::from_str(text).map_err(|e| LoadError::Invalid {
        file: file.to_owned(),
        problems: vec![syntax_problem(&e, text)],
    })?;
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

/// A serde-saphyr error as one problem: location plus the message without
/// the rendered source snippet (the CLI prints `file:line:col`). Works for
/// any YAML file (the agent's configuration uses it too).
pub fn syntax_problem(err: &serde_saphyr::Error, text: &str) -> Problem {
    let loc = err.location();
    let mut message = err.without_snippet().to_string();
    // The library appends " at line L, column C"; the location is in front already.
    if let Some(l) = loc {
        for suffix in [
            format!(" at line {}, column {}", l.line(), l.column()),
            format!(" at line {} column {}", l.line(), l.column()),
        ] {
            if let Some(stripped) = message.strip_suffix(&suffix) {
                message = stripped.to_owned();
            }
        }
    }
    // Library advice that does not apply to a topology file.
    if let Some(i) = message.find(", set DuplicateKeyPolicy") {
        message.truncate(i);
    }
    let (line, column) = loc.map_or((0, 0), |l| (l.line() as u32, l.column() as u32));
    // YAML syntax errors have no field; a missing field is named inside its
    // mapping; type errors name the value serde stopped at.
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
        .map(str::to_owned);
    let field = if line == 0 || !crate::locate::is_well_formed(text) {
        String::new()
    } else if let Some(name) = missing {
        // serde points at the last key it read in the mapping missing the field.
        let last_key = crate::locate::field_at(text, line, column);
        let parent = crate::locate::parent(&last_key);
        if parent.is_empty() {
            name
        } else {
            format!("{parent}.{name}")
        }
    } else {
        crate::locate::field_at(text, line, column)
    };
    Problem {
        line,
        column,
        field,
        message,
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

#[derive(Default)]
struct Cx {
    problems: Vec<Problem>,
}

impl Cx {
    fn err(&mut self, at: &Location, field: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            line: at.line() as u32,
            column: at.column() as u32,
            field: field.into(),
            message: message.into(),
        });
    }

    /// Parse an address that must be usable as a unicast SID or interface address.
    fn addr(&mut self, s: &Spanned<String>, field: &str) -> Option<Ipv6Addr> {
        match unicast_address(&s.value) {
            Ok(a) => Some(a),
            Err(message) => {
                self.err(&s.referenced, field, message);
                None
            }
        }
    }

    /// Parse a prefix written without host bits.
    fn net(&mut self, s: &Spanned<String>, field: &str) -> Option<Ipv6Net> {
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

    fn flex_algos(&mut self, list: &Option<Vec<Spanned<i64>>>, field: &str) -> BTreeSet<u8> {
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

    fn mtu(&mut self, v: &Spanned<u32>, field: &str) -> u32 {
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

    /// Overlay `over` on `base` (both raw), then convert; errors are reported once per written value.
    fn props(&mut self, raw: &RawProps, field: &str) -> LinkProps {
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
}

/// Lab and node names: the shared rule of [`crate::names`].
fn check_name(cx: &mut Cx, s: &Spanned<String>, field: &str, kind: NameKind) {
    if let Err(e) = names::check_name(kind, &s.value) {
        cx.err(&s.referenced, field, e.to_string());
    }
}

/// The one name within edit distance 2 of `word` that is closer than all others.
fn suggest<'a>(word: &str, names: impl Iterator<Item = &'a String>) -> Option<&'a str> {
    let mut scored: Vec<(usize, &str)> = names
        .map(|n| (edit_distance(word, n), n.as_str()))
        .filter(|&(d, _)| d <= 2)
        .collect();
    scored.sort();
    match scored.as_slice() {
        [(d, n), rest @ ..] if rest.first().is_none_or(|(d2, _)| d2 > d) => Some(n),
        _ => None,
    }
}

/// Levenshtein distance (names are short).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

fn check_ifname(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_IFNAME_LEN {
        return Err(format!(
            "interface name {name:?} must have 1..={MAX_IFNAME_LEN} characters (Linux IFNAMSIZ)"
        ));
    }
    if name == "." || name == ".." || name == "lo" {
        return Err(format!("interface name {name:?} is reserved"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(format!(
            "interface name {name:?} may only hold letters, digits, '-', '_' and '.'"
        ));
    }
    Ok(())
}

/// The derived interface name on a node for link `id` towards `peer`:
/// `<peer>-<id>`, the peer name cut so that the whole fits in 15 characters.
/// `side` ("a"/"b") is appended to the id only when both ends of one link
/// would otherwise get the same (cut) name.
pub fn derived_ifname(peer: &str, id: usize, side: Option<&str>) -> String {
    let suffix = format!("-{id}{}", side.unwrap_or(""));
    let keep = MAX_IFNAME_LEN.saturating_sub(suffix.len());
    let cut: String = peer.chars().take(keep).collect();
    format!("{cut}{suffix}")
}

/// The nth /64 of the pool (pool length ≤ 64).
fn nth_subnet(pool: Ipv6Net, n: usize) -> Option<Ipv6Net> {
    let spare_bits = 64u32.checked_sub(u32::from(pool.prefix_len()))?;
    if spare_bits < 64 && (n as u128) >= (1u128 << spare_bits) {
        return None;
    }
    let base = u128::from(pool.network());
    let addr = base | ((n as u128) << 64);
    Ipv6Net::new(Ipv6Addr::from(addr), 64).ok()
}

/// The address with host part `host` in `net`.
fn host_in(net: Ipv6Net, host: u128) -> Ipv6Addr {
    Ipv6Addr::from(u128::from(net.network()) | host)
}

fn to48(addr: Ipv6Addr) -> Ipv6Net {
    // DEFAULT_NODE_PREFIX_LEN is a valid length: new() cannot fail.
    Ipv6Net::new(addr, DEFAULT_NODE_PREFIX_LEN)
        .map(|n| n.trunc())
        .unwrap_or_else(|_| Ipv6Net::from(addr))
}

/// Where a name or address was declared, for duplicate checks.
struct Owner {
    what: String,
    at: Location,
    field: String,
}

/// A node while resolving, with the locations needed by later checks.
struct NodeDraft<'r> {
    node: Node,
    /// Location of the node's name.
    at: Location,
    raw: &'r RawNode,
}

impl NodeDraft<'_> {
    /// Where the SID / address / routed prefix was written (the node name when derived).
    fn sid_at(&self) -> Location {
        self.raw.sid.as_ref().map_or(self.at, |s| s.referenced)
    }
    fn address_at(&self) -> Location {
        self.raw.address.as_ref().map_or(self.at, |s| s.referenced)
    }
    fn prefix_at(&self) -> Option<Location> {
        self.raw
            .locator
            .as_ref()
            .or(self.raw.prefix.as_ref())
            .map(|s| s.referenced)
    }
}

fn resolve(raw: &RawTopology, cx: &mut Cx) -> Topology {
    check_name(cx, &raw.name, "name", NameKind::Lab);

    // Defaults.
    let default_backend = raw
        .defaults
        .router
        .backend
        .as_ref()
        .map_or(RouterBackend::Linux, |b| b.value);
    let default_route_mtu = raw
        .defaults
        .host
        .route_mtu
        .as_ref()
        .map_or(DEFAULT_ROUTE_MTU, |m| cx.mtu(m, "defaults.host.route_mtu"));
    let dl = &raw.defaults.link;
    let default_mtu = dl
        .mtu
        .as_ref()
        .map_or(DEFAULT_LINK_MTU, |m| cx.mtu(m, "defaults.link.mtu"));
    let default_metric = match &dl.igp_metric {
        Some(m) if m.value == 0 => {
            cx.err(
                &m.referenced,
                "defaults.link.igp_metric",
                "IGP metric must be at least 1",
            );
            DEFAULT_IGP_METRIC
        }
        Some(m) => m.value,
        None => DEFAULT_IGP_METRIC,
    };
    let default_props = cx.props(&dl.props(), "defaults.link");
    let pool = match &raw.addressing.link_pool {
        Some(p) => cx.net(p, "addressing.link_pool").and_then(|n| {
            if n.prefix_len() > 64 {
                cx.err(
                    &p.referenced,
                    "addressing.link_pool",
                    format!("link pool {n} is longer than /64: derived link subnets are /64s"),
                );
                None
            } else {
                Some(n)
            }
        }),
        None => Ipv6Net::from_str(DEFAULT_LINK_POOL).ok(),
    };

    // Nodes.
    let mut drafts: BTreeMap<String, NodeDraft> = BTreeMap::new();
    if raw.nodes.0.is_empty() {
        cx.err(
            &raw.name.referenced,
            "nodes",
            "a topology needs at least one node",
        );
    }
    for (key, rn) in &raw.nodes.0 {
        let name = key.value.clone();
        let f = format!("nodes.{name}");
        check_name(cx, key, &f, NameKind::Node);
        let node = resolve_node(cx, &name, rn, &f, default_backend, default_route_mtu);
        drafts.insert(
            name,
            NodeDraft {
                node,
                at: key.referenced,
                raw: rn,
            },
        );
    }
    let known = || {
        let names: Vec<&str> = drafts.keys().map(String::as_str).take(12).collect();
        let more = if drafts.len() > 12 { ", ..." } else { "" };
        format!("{}{more}", names.join(", "))
    };
    let known_names = known();

    // Links.
    let mut links: Vec<Link> = Vec::new();
    let mut link_at: Vec<Location> = Vec::new();
    let mut explicit_ifname: Vec<[bool; 2]> = Vec::new();
    for (id, sl) in raw.links.iter().enumerate() {
        let rl = &sl.value;
        let f = format!("links[{id}]");
        let eps = &rl.endpoints.value;
        if eps.len() != 2 {
            cx.err(
                &rl.endpoints.referenced,
                format!("{f}.endpoints"),
                format!("a link has exactly 2 endpoints, found {}", eps.len()),
            );
            continue;
        }
        let mut ends: Vec<(String, Option<String>)> = Vec::new();
        let mut ok = true;
        for (i, ep) in eps.iter().enumerate() {
            let (node, ifname) = match ep.value.split_once(':') {
                Some((n, i)) => (n.trim().to_owned(), Some(i.trim().to_owned())),
                None => (ep.value.trim().to_owned(), None),
            };
            if !drafts.contains_key(&node) {
                cx.err(
                    &ep.referenced,
                    format!("{f}.endpoints[{i}]"),
                    match suggest(&node, drafts.keys()) {
                        Some(near) => format!("unknown node {node:?}; did you mean {near:?}?"),
                        None => format!("unknown node {node:?} (nodes: {known_names})"),
                    },
                );
                ok = false;
            }
            if let Some(name) = &ifname {
                if let Err(m) = check_ifname(name) {
                    cx.err(&ep.referenced, format!("{f}.endpoints[{i}]"), m);
                }
            }
            ends.push((node, ifname));
        }
        if ends[0].0 == ends[1].0 {
            cx.err(
                &rl.endpoints.referenced,
                format!("{f}.endpoints"),
                format!("self-loop: both endpoints are {:?}", ends[0].0),
            );
            ok = false;
        }

        // Subnet and addresses.
        let subnet = match &rl.subnet {
            Some(s) => cx.net(s, &format!("{f}.subnet")).and_then(|n| {
                if n.prefix_len() > 126 {
                    cx.err(&s.referenced, format!("{f}.subnet"), format!("link subnet {n} is too small for two endpoints (use /64, at most /126)"));
                    None
                } else {
                    Some(n)
                }
            }),
            None => match pool.map(|p| (p, nth_subnet(p, id))) {
                Some((_, Some(n))) => Some(n),
                Some((p, None)) => {
                    cx.err(&sl.referenced, &f, format!("addressing.link_pool {p} has no /64 left for link {id}; give a larger pool or an explicit subnet"));
                    None
                }
                None => None,
            },
        };
        let mut addrs: [Option<Ipv6Addr>; 2] = [None, None];
        match (&rl.addresses, subnet) {
            (Some(list), subnet) => {
                if list.value.len() != 2 {
                    cx.err(
                        &list.referenced,
                        format!("{f}.addresses"),
                        format!(
                            "give exactly 2 addresses (one per endpoint), found {}",
                            list.value.len()
                        ),
                    );
                } else {
                    for (i, a) in list.value.iter().enumerate() {
                        let field = format!("{f}.addresses[{i}]");
                        addrs[i] = cx.addr(a, &field);
                        if let (Some(addr), Some(net)) = (addrs[i], subnet) {
                            if !net.contains(&addr) {
                                cx.err(
                                    &a.referenced,
                                    &field,
                                    format!("{addr} is not inside the link subnet {net}"),
                                );
                            } else if addr == net.network() {
                                cx.err(&a.referenced, &field, format!("{addr} is the subnet-router anycast address of {net}; use another host part"));
                            }
                        }
                    }
                    if addrs[0].is_some() && addrs[0] == addrs[1] {
                        cx.err(
                            &list.referenced,
                            format!("{f}.addresses"),
                            "both endpoints have the same address",
                        );
                    }
                }
            }
            (None, Some(net)) => {
                addrs = [Some(host_in(net, 1)), Some(host_in(net, 2))];
            }
            (None, None) => {}
        }

        let mtu = rl
            .mtu
            .as_ref()
            .map_or(default_mtu, |m| cx.mtu(m, &format!("{f}.mtu")));
        let igp_metric = match &rl.igp_metric {
            Some(m) if m.value == 0 => {
                cx.err(
                    &m.referenced,
                    format!("{f}.igp_metric"),
                    "IGP metric must be at least 1",
                );
                DEFAULT_IGP_METRIC
            }
            Some(m) => m.value,
            None => default_metric,
        };
        let sym = default_props.overlay(&cx.props(&rl.props(), &f));
        let a_to_b = match &rl.a_to_b {
            Some(p) => sym.overlay(&cx.props(p, &format!("{f}.a_to_b"))),
            None => sym.clone(),
        };
        let b_to_a = match &rl.b_to_a {
            Some(p) => sym.overlay(&cx.props(p, &format!("{f}.b_to_a"))),
            None => sym.clone(),
        };
        let explicit_algos = rl.flex_algos.is_some();
        let flex_algos = cx.flex_algos(&rl.flex_algos, &format!("{f}.flex_algos"));

        let (Some(subnet), [Some(a_addr), Some(b_addr)], true) = (subnet, addrs, ok) else {
            continue;
        };
        let [(a_node, a_if), (b_node, b_if)] = [ends[0].clone(), ends[1].clone()];

        // Flex-algo membership: explicit sets must be carried by both router
        // ends; implicit sets are the intersection of the router ends' sets.
        let router_algos = |n: &str| {
            drafts
                .get(n)
                .filter(|d| d.node.kind == NodeKind::Router)
                .map(|d| d.node.flex_algos.clone())
        };
        let flex_algos = if explicit_algos {
            for n in [&a_node, &b_node] {
                if let Some(have) = router_algos(n) {
                    let missing: Vec<String> =
                        flex_algos.difference(&have).map(u8::to_string).collect();
                    if !missing.is_empty() {
                        cx.err(&sl.referenced, format!("{f}.flex_algos"), format!("flex-algo {} not enabled on router {n:?} (add it to nodes.{n}.flex_algos)", missing.join(", ")));
                    }
                }
            }
            flex_algos
        } else {
            match (router_algos(&a_node), router_algos(&b_node)) {
                (Some(x), Some(y)) => x.intersection(&y).copied().collect(),
                (Some(x), None) | (None, Some(x)) => x,
                (None, None) => BTreeSet::new(),
            }
        };

        let derived_a = derived_ifname(&b_node, id, None);
        let derived_b = derived_ifname(&a_node, id, None);
        let (derived_a, derived_b) = if derived_a == derived_b {
            (
                derived_ifname(&b_node, id, Some("a")),
                derived_ifname(&a_node, id, Some("b")),
            )
        } else {
            (derived_a, derived_b)
        };
        explicit_ifname.push([a_if.is_some(), b_if.is_some()]);
        let prefix_len = subnet.prefix_len();
        links.push(Link {
            id,
            a: Endpoint {
                node: a_node,
                ifname: a_if.unwrap_or(derived_a),
                addr: a_addr,
                prefix_len,
            },
            b: Endpoint {
                node: b_node,
                ifname: b_if.unwrap_or(derived_b),
                addr: b_addr,
                prefix_len,
            },
            subnet,
            mtu,
            igp_metric,
            a_to_b,
            b_to_a,
            up: rl.up.as_ref().is_none_or(|u| u.value),
            flex_algos,
        });
        link_at.push(sl.referenced);
    }
    // Link ids must equal their index even when a broken link was skipped;
    // a model is only returned when nothing was skipped, so this is a no-op then.
    let valid_links = links.len() == raw.links.len();

    check_links(cx, &drafts, &links, &link_at);
    check_addresses(cx, &drafts, &links, &link_at, &raw.links);
    if valid_links && !drafts.is_empty() {
        check_connected(cx, &drafts, &links);
    }
    let dns_records = resolve_dns(cx, raw, &drafts);

    Topology {
        name: raw.name.value.clone(),
        nodes: drafts.into_iter().map(|(k, d)| (k, d.node)).collect(),
        links,
        dns_records,
    }
}

fn resolve_node(
    cx: &mut Cx,
    name: &str,
    rn: &RawNode,
    f: &str,
    default_backend: RouterBackend,
    default_route_mtu: u32,
) -> Node {
    let kind = rn.kind.value;
    let ks = kind.as_str();
    let at = rn.kind.referenced;
    let not_for = |cx: &mut Cx, present: Option<&Location>, field: &str, allowed: &str| {
        if let Some(loc) = present {
            cx.err(
                loc,
                format!("{f}.{field}"),
                format!("`{field}` is not allowed on a {ks} node (only on {allowed})"),
            );
        }
    };

    let sid = rn
        .sid
        .as_ref()
        .and_then(|s| cx.addr(s, &format!("{f}.sid")));
    if kind.has_sid() {
        if rn.sid.is_none() {
            cx.err(
                &at,
                format!("{f}.sid"),
                format!("a {ks} node needs a `sid`"),
            );
        }
    } else {
        not_for(
            cx,
            rn.sid.as_ref().map(|s| &s.referenced),
            "sid",
            "routers and service functions",
        );
        not_for(
            cx,
            rn.locator.as_ref().map(|s| &s.referenced),
            "locator",
            "routers and service functions",
        );
    }
    let flavors: BTreeSet<EndFlavor> = match &rn.sid_flavors {
        Some(fl) if rn.sid.is_none() && kind.has_sid() => {
            cx.err(
                &fl.referenced,
                format!("{f}.sid_flavors"),
                "`sid_flavors` without a `sid`",
            );
            BTreeSet::new()
        }
        Some(fl) if !kind.has_sid() => {
            not_for(
                cx,
                Some(&fl.referenced),
                "sid_flavors",
                "routers and service functions",
            );
            BTreeSet::new()
        }
        Some(fl) => {
            let set: BTreeSet<EndFlavor> = fl.value.iter().copied().collect();
            if set.contains(&EndFlavor::Usp) && set.contains(&EndFlavor::Usd) {
                cx.err(
                    &fl.referenced,
                    format!("{f}.sid_flavors"),
                    "usp and usd exclude each other (RFC 8986 §4.16)",
                );
            }
            set
        }
        None => BTreeSet::new(),
    };

    let mut locator = None;
    if kind.has_sid() {
        locator = match &rn.locator {
            Some(l) => cx.net(l, &format!("{f}.locator")),
            None => sid.map(to48),
        };
        if let (Some(s), Some(l), Some(raw_l)) = (sid, locator, &rn.locator) {
            if !l.contains(&s) {
                cx.err(
                    &raw_l.referenced,
                    format!("{f}.locator"),
                    format!("SID {s} is not inside the locator {l}, so no route would reach it"),
                );
            }
        }
    }

    let address = rn
        .address
        .as_ref()
        .and_then(|a| cx.addr(a, &format!("{f}.address")));
    let mut prefix = None;
    if kind.is_end_system() {
        if rn.address.is_none() {
            cx.err(
                &at,
                format!("{f}.address"),
                format!("a {ks} node needs an `address`"),
            );
        }
        prefix = match &rn.prefix {
            Some(p) => cx.net(p, &format!("{f}.prefix")),
            None => address.map(to48),
        };
        if let (Some(a), Some(p), Some(raw_p)) = (address, prefix, &rn.prefix) {
            if !p.contains(&a) {
                cx.err(
                    &raw_p.referenced,
                    format!("{f}.prefix"),
                    format!("address {a} is not inside the prefix {p}"),
                );
            }
        }
    } else {
        not_for(
            cx,
            rn.prefix.as_ref().map(|s| &s.referenced),
            "prefix",
            "host, dns and controller nodes",
        );
        if let (Some(a), Some(l), Some(raw_a)) = (address, locator, &rn.address) {
            if !l.contains(&a) {
                cx.err(&raw_a.referenced, format!("{f}.address"), format!("loopback address {a} is not inside the locator {l}, so no route would reach it"));
            }
        }
        if let (Some(a), Some(s), Some(raw_a)) = (address, sid, &rn.address) {
            if a == s {
                cx.err(
                    &raw_a.referenced,
                    format!("{f}.address"),
                    "the loopback address equals the SID; give the SID its own address",
                );
            }
        }
    }

    let backend = match &rn.backend {
        Some(b) if kind != NodeKind::Router => {
            not_for(cx, Some(&b.referenced), "backend", "routers");
            RouterBackend::Linux
        }
        Some(b) => b.value,
        None if kind == NodeKind::Router => default_backend,
        None => RouterBackend::Linux,
    };
    let agent = match &rn.agent {
        Some(a) if kind != NodeKind::Host => {
            not_for(cx, Some(&a.referenced), "agent", "hosts");
            None
        }
        other => other.as_ref().map(|a| a.value),
    };
    let function = match &rn.function {
        Some(fun) if kind != NodeKind::ServiceFunction => {
            not_for(
                cx,
                Some(&fun.referenced),
                "function",
                "service-function nodes",
            );
            None
        }
        Some(fun) if fun.value.trim().is_empty() => {
            cx.err(
                &fun.referenced,
                format!("{f}.function"),
                "the function name is empty",
            );
            None
        }
        Some(fun) => Some(fun.value.trim().to_owned()),
        None if kind == NodeKind::ServiceFunction => {
            cx.err(
                &at,
                format!("{f}.function"),
                "a service-function node needs a `function` name",
            );
            None
        }
        None => None,
    };
    let route_mtu = match &rn.route_mtu {
        Some(m) if !kind.is_end_system() => {
            not_for(
                cx,
                Some(&m.referenced),
                "route_mtu",
                "host, dns and controller nodes",
            );
            None
        }
        Some(m) => Some(cx.mtu(m, &format!("{f}.route_mtu"))),
        None if kind.is_end_system() => Some(default_route_mtu),
        None => None,
    };
    let flex_algos = cx.flex_algos(&rn.flex_algos, &format!("{f}.flex_algos"));

    Node {
        name: name.to_owned(),
        kind,
        sid,
        sid_behavior: SidBehavior { flavors },
        locator,
        address,
        prefix,
        backend,
        agent,
        function,
        flex_algos,
        route_mtu,
    }
}

/// Link structure: duplicates, interface names, how end systems attach.
fn check_links(
    cx: &mut Cx,
    drafts: &BTreeMap<String, NodeDraft>,
    links: &[Link],
    link_at: &[Location],
) {
    let mut pairs: HashMap<(&str, &str), usize> = HashMap::new();
    let mut ifnames: HashMap<&str, (usize, &str)> = HashMap::new();
    for (l, at) in links.iter().zip(link_at) {
        let f = format!("links[{}]", l.id);
        let key = if l.a.node <= l.b.node {
            (l.a.node.as_str(), l.b.node.as_str())
        } else {
            (l.b.node.as_str(), l.a.node.as_str())
        };
        if let Some(first) = pairs.insert(key, l.id) {
            cx.err(
                at,
                &f,
                format!(
                    "duplicate link: links[{first}] already joins {} and {}",
                    key.0, key.1
                ),
            );
        }
        // (Written names were checked where they were read; derived ones are valid.)
        for ep in [&l.a, &l.b] {
            if let Some((first, node)) =
                ifnames.insert(ep.ifname.as_str(), (l.id, ep.node.as_str()))
            {
                cx.err(at, format!("{f}.endpoints"), format!("interface name {:?} on {} is already used by links[{first}] on {node} (interface names are unique in a lab)", ep.ifname, ep.node));
            }
        }
    }
    let at_of: HashMap<usize, Location> = links
        .iter()
        .map(|l| l.id)
        .zip(link_at.iter().copied())
        .collect();
    let mut reported: BTreeSet<usize> = BTreeSet::new();
    for (name, d) in drafts {
        if d.node.kind == NodeKind::Router {
            continue;
        }
        let kind = d.node.kind.as_str();
        let attached: Vec<&Link> = links
            .iter()
            .filter(|l| l.a.node == *name || l.b.node == *name)
            .collect();
        match attached.as_slice() {
            [] => cx.err(&d.at, format!("nodes.{name}"), format!("{kind} node {name} has no link: attach it to a router")),
            [l] => {
                let peer = l.peer(name).map(|p| p.node.as_str()).unwrap_or_default();
                let peer_kind = drafts.get(peer).map(|p| p.node.kind);
                if peer_kind.is_some_and(|k| k != NodeKind::Router) && reported.insert(l.id) {
                    let at = at_of.get(&l.id).copied().unwrap_or(d.at);
                    cx.err(&at, format!("links[{}]", l.id), format!("{kind} node {name} is linked to {peer}, which is not a router (only routers forward)"));
                }
            }
            many => cx.err(&d.at, format!("nodes.{name}"), format!("{kind} node {name} has {} links (links[{}]); it must attach to exactly one router", many.len(), many.iter().map(|l| l.id.to_string()).collect::<Vec<_>>().join("], links["))),
        }
    }
    let count = |k: NodeKind| drafts.values().filter(|d| d.node.kind == k).count();
    for kind in [NodeKind::Dns, NodeKind::Controller] {
        if count(kind) > 1 {
            if let Some((name, d)) = drafts.iter().filter(|(_, d)| d.node.kind == kind).nth(1) {
                cx.err(
                    &d.at,
                    format!("nodes.{name}"),
                    format!("a lab has at most one {} node", kind.as_str()),
                );
            }
        }
    }
}

/// Unique SIDs and addresses; routed prefixes and link subnets do not overlap.
fn check_addresses(
    cx: &mut Cx,
    drafts: &BTreeMap<String, NodeDraft<'_>>,
    links: &[Link],
    link_at: &[Location],
    raw_links: &[Spanned<RawLink>],
) {
    // Where a link's address or subnet was written (the link itself when derived).
    let raw_of = |l: &Link| raw_links.get(l.id).map(|r| &r.value);
    let address_at = |l: &Link, i: usize, at: Location| {
        raw_of(l)
            .and_then(|r| r.addresses.as_ref())
            .and_then(|a| a.value.get(i))
            .map_or(at, |a| a.referenced)
    };
    let subnet_at = |l: &Link, at: Location| {
        raw_of(l)
            .and_then(|r| r.subnet.as_ref())
            .map_or(at, |s| s.referenced)
    };
    let mut seen: HashMap<Ipv6Addr, Owner> = HashMap::new();
    let mut duplicated: BTreeSet<String> = BTreeSet::new();
    let mut claim = |cx: &mut Cx, addr: Ipv6Addr, owner: Owner| {
        if let Some(first) = seen.get(&addr) {
            duplicated.insert(owner.field.clone());
            cx.err(
                &owner.at,
                &owner.field,
                format!(
                    "{addr} is used twice: {} and {} (line {})",
                    first.what,
                    owner.what,
                    first.at.line()
                ),
            );
        } else {
            seen.insert(addr, owner);
        }
    };
    for (name, d) in drafts {
        if let Some(s) = d.node.sid {
            claim(
                cx,
                s,
                Owner {
                    what: format!("SID of {name}"),
                    at: d.sid_at(),
                    field: format!("nodes.{name}.sid"),
                },
            );
        }
        if let Some(a) = d.node.address {
            claim(
                cx,
                a,
                Owner {
                    what: format!("address of {name}"),
                    at: d.address_at(),
                    field: format!("nodes.{name}.address"),
                },
            );
        }
    }
    for (l, at) in links.iter().zip(link_at) {
        for (i, ep) in [&l.a, &l.b].into_iter().enumerate() {
            claim(
                cx,
                ep.addr,
                Owner {
                    what: format!("links[{}] address of {}", l.id, ep.node),
                    at: address_at(l, i, *at),
                    field: format!("links[{}].addresses[{i}]", l.id),
                },
            );
        }
    }

    // Routed prefixes (locators, end-system prefixes) and link subnets must not overlap:
    // a SID or host address inside someone else's prefix would be routed to the wrong node.
    let mut nets: Vec<(Ipv6Net, String, Location, String)> = Vec::new();
    for (name, d) in drafts {
        // A derived prefix of a duplicated SID/address overlaps by construction:
        // the duplicate is already reported.
        let own = if d.node.kind.has_sid() {
            "sid"
        } else {
            "address"
        };
        if d.prefix_at().is_none() && duplicated.contains(&format!("nodes.{name}.{own}")) {
            continue;
        }
        if let Some(p) = d.node.routed_prefix() {
            let field = if d.node.kind.has_sid() {
                "locator"
            } else {
                "prefix"
            };
            nets.push((
                p,
                format!("{field} of {name}"),
                d.prefix_at().unwrap_or(d.at),
                format!("nodes.{name}.{field}"),
            ));
        }
    }
    for (l, at) in links.iter().zip(link_at) {
        nets.push((
            l.subnet,
            format!("subnet of links[{}]", l.id),
            subnet_at(l, *at),
            format!("links[{}].subnet", l.id),
        ));
    }
    nets.sort_by_key(|n| (n.0.network(), n.0.prefix_len()));
    // After sorting by network, an overlap with any earlier prefix shows up
    // as containment by the widest prefix still open.
    let mut open: Vec<usize> = Vec::new();
    for i in 0..nets.len() {
        while let Some(&j) = open.last() {
            if nets[j].0.contains(&nets[i].0.network()) {
                break;
            }
            open.pop();
        }
        // The stack is a chain of nested prefixes: its top is the innermost one holding i.
        if let Some(&j) = open.last() {
            let (outer, inner) = (&nets[j], &nets[i]);
            cx.err(
                &inner.2,
                &inner.3,
                format!(
                    "{} {} overlaps {} {} (line {})",
                    inner.1,
                    inner.0,
                    outer.1,
                    outer.0,
                    outer.2.line()
                ),
            );
        }
        open.push(i);
    }
    // A SID of a node must be routed to that node: not inside a link subnet.
    for (name, d) in drafts {
        if let Some(s) = d.node.sid {
            if let Some(l) = links.iter().find(|l| l.subnet.contains(&s)) {
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
}

/// Every node reaches every other over the declared links (up or not).
fn check_connected(cx: &mut Cx, drafts: &BTreeMap<String, NodeDraft>, links: &[Link]) {
    let Some(start) = drafts.keys().next() else {
        return;
    };
    let mut adj: HashMap<&str, Vec<&str>> = HashMap::new();
    for l in links {
        adj.entry(&l.a.node).or_default().push(&l.b.node);
        adj.entry(&l.b.node).or_default().push(&l.a.node);
    }
    let mut seen: BTreeSet<&str> = BTreeSet::from([start.as_str()]);
    let mut queue = VecDeque::from([start.as_str()]);
    while let Some(n) = queue.pop_front() {
        for &m in adj.get(n).into_iter().flatten() {
            if seen.insert(m) {
                queue.push_back(m);
            }
        }
    }
    let unreachable: Vec<&str> = drafts
        .keys()
        .map(String::as_str)
        .filter(|n| !seen.contains(n))
        .collect();
    // Isolated end systems already have their own "no link" problem.
    let isolated_end_system = |n: &str| {
        drafts
            .get(n)
            .is_some_and(|d| d.node.kind != NodeKind::Router)
            && !adj.contains_key(n)
    };
    if let Some(first) = unreachable.iter().find(|n| !isolated_end_system(n)) {
        if let Some(d) = drafts.get(*first) {
            cx.err(
                &d.at,
                format!("nodes.{first}"),
                format!(
                    "the network is not connected: {} cannot be reached from {start}",
                    unreachable.join(", ")
                ),
            );
        }
    }
}

fn resolve_dns(
    cx: &mut Cx,
    raw: &RawTopology,
    drafts: &BTreeMap<String, NodeDraft>,
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
        let target = value.value.trim();
        let addr = if let Some(d) = drafts.get(target) {
            match d.node.address {
                Some(a) => Some(a),
                None => {
                    cx.err(
                        &value.referenced,
                        &f,
                        format!("node {target} has no address to publish"),
                    );
                    None
                }
            }
        } else if target.contains(':') {
            cx.addr(value, &f)
        } else {
            cx.err(
                &value.referenced,
                &f,
                match suggest(target, drafts.keys()) {
                    Some(near) => format!(
                        "{target:?} is neither a node nor an IPv6 address; did you mean {near:?}?"
                    ),
                    None => format!("{target:?} is neither a node nor an IPv6 address"),
                },
            );
            None
        };
        if let Some(a) = addr {
            if out.insert(fqdn.clone(), a).is_some() {
                cx.err(&key.referenced, &f, format!("{fqdn} is defined twice"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ifnames_fit_and_keep_the_link_id() {
        assert_eq!(derived_ifname("vpp2", 1, None), "vpp2-1");
        let long = derived_ifname("a-very-long-router-name", 123, None);
        assert_eq!(long, "a-very-long-123");
        assert_eq!(long.len(), MAX_IFNAME_LEN);
        assert_eq!(
            derived_ifname("a-very-long-router-name", 7, Some("b")),
            "a-very-long--7b"
        );
    }

    #[test]
    fn suggestions_only_when_unambiguous() {
        let names: Vec<String> = ["host-a", "host-b", "vpp1", "vpp2", "dns"]
            .map(String::from)
            .to_vec();
        assert_eq!(suggest("hots-a", names.iter()), Some("host-a"));
        assert_eq!(suggest("host-c", names.iter()), None);
        assert_eq!(suggest("dsn", names.iter()), Some("dns"));
        assert_eq!(suggest("vpp9", names.iter()), None);
        assert_eq!(suggest("completely-else", names.iter()), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn pool_subnets() {
        let pool: Ipv6Net = "2001:db8:ffff::/48".parse().unwrap();
        assert_eq!(
            nth_subnet(pool, 0),
            Some("2001:db8:ffff::/64".parse().unwrap())
        );
        assert_eq!(
            nth_subnet(pool, 0x12),
            Some("2001:db8:ffff:12::/64".parse().unwrap())
        );
        assert_eq!(nth_subnet(pool, 0x10000), None);
        let small: Ipv6Net = "2001:db8::/63".parse().unwrap();
        assert_eq!(nth_subnet(small, 2), None);
    }
}
