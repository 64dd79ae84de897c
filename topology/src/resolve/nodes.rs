//! One node: which fields its kind needs and allows, and their values.
//!
//! A node is read in three parts, each for the kinds it concerns:
//! - the SID part (routers and service functions): `sid`, `sid_flavors`,
//!   `locator`;
//! - the address part: an end system's service `address` and routed
//!   `prefix`, or a router's optional loopback `address` inside its locator;
//! - the role fields: `backend` (routers), `agent` (hosts), `function`
//!   (service functions), `route_mtu` (end systems), `flex_algos` (any).

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv6Addr;

use ipnet::Ipv6Net;
use serde_saphyr::{Location, Spanned};

use super::defaults::Defaults;
use super::{to48, Cx};
use crate::model::{AgentRole, EndFlavor, Node, NodeKind, RouterBackend, SidBehavior};
use crate::names::NameKind;
use crate::raw::{RawNode, RawTopology};

/// A node while resolving, with the locations needed by later checks.
pub(super) struct NodeDraft<'r> {
    pub(super) node: Node,
    /// Location of the node's name.
    pub(super) at: Location,
    pub(super) raw: &'r RawNode,
}

impl NodeDraft<'_> {
    /// Where the SID / address / routed prefix was written (the node name when derived).
    pub(super) fn sid_at(&self) -> Location {
        self.raw.sid.as_ref().map_or(self.at, |s| s.referenced)
    }
    pub(super) fn address_at(&self) -> Location {
        self.raw.address.as_ref().map_or(self.at, |s| s.referenced)
    }
    pub(super) fn prefix_at(&self) -> Option<Location> {
        self.raw
            .locator
            .as_ref()
            .or(self.raw.prefix.as_ref())
            .map(|s| s.referenced)
    }
}

/// Every node by name.
pub(super) type Drafts<'r> = BTreeMap<String, NodeDraft<'r>>;

/// Every node of the file, each checked on its own (cross checks come later).
pub(super) fn resolve_nodes<'r>(
    cx: &mut Cx,
    raw: &'r RawTopology,
    defaults: &Defaults,
) -> Drafts<'r> {
    let mut drafts = BTreeMap::new();
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
        cx.name(key, &f, NameKind::Node);
        let fields = Fields {
            f: &f,
            kind: rn.kind.value,
            kind_at: rn.kind.referenced,
            rn,
        };
        let node = resolve_node(cx, &name, &fields, defaults);
        drafts.insert(
            name,
            NodeDraft {
                node,
                at: key.referenced,
                raw: rn,
            },
        );
    }
    drafts
}

/// The written fields of one node, with its field path and kind.
struct Fields<'a> {
    /// `nodes.<name>`.
    f: &'a str,
    kind: NodeKind,
    /// Where the kind was written: where a missing field is reported.
    kind_at: Location,
    rn: &'a RawNode,
}

impl Fields<'_> {
    fn path(&self, field: &str) -> String {
        format!("{}.{field}", self.f)
    }

    /// Report a field written on a kind that does not take it.
    fn not_for(&self, cx: &mut Cx, written: Option<&Location>, field: &str, allowed: &str) {
        if let Some(loc) = written {
            cx.err(
                loc,
                self.path(field),
                format!(
                    "`{field}` is not allowed on a {} node (only on {allowed})",
                    self.kind.as_str()
                ),
            );
        }
    }

    /// Report a field the kind needs but the node lacks.
    fn missing(&self, cx: &mut Cx, field: &str, message: impl Into<String>) {
        cx.err(&self.kind_at, self.path(field), message);
    }
}

const SID_KINDS: &str = "routers and service functions";
const END_SYSTEM_KINDS: &str = "host, dns and controller nodes";

fn resolve_node(cx: &mut Cx, name: &str, n: &Fields, defaults: &Defaults) -> Node {
    let SidPart {
        sid,
        flavors,
        locator,
    } = sid_part(cx, n);
    let (address, prefix) = address_part(cx, n, sid, locator);
    let backend = backend(cx, n, defaults.backend);
    let agent = agent(cx, n);
    let function = function(cx, n);
    let route_mtu = route_mtu(cx, n, defaults.route_mtu);
    let flex_algos = cx.flex_algos(&n.rn.flex_algos, &n.path("flex_algos"));
    Node {
        name: name.to_owned(),
        kind: n.kind,
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

/// What a router or service function owns: its End SID, flavours, locator.
struct SidPart {
    sid: Option<Ipv6Addr>,
    flavors: BTreeSet<EndFlavor>,
    locator: Option<Ipv6Net>,
}

fn sid_part(cx: &mut Cx, n: &Fields) -> SidPart {
    let rn = n.rn;
    let sid = rn.sid.as_ref().and_then(|s| cx.addr(s, &n.path("sid")));
    if n.kind.has_sid() {
        if rn.sid.is_none() {
            n.missing(
                cx,
                "sid",
                format!("a {} node needs a `sid`", n.kind.as_str()),
            );
        }
    } else {
        n.not_for(cx, rn.sid.as_ref().map(|s| &s.referenced), "sid", SID_KINDS);
        let locator_at = rn.locator.as_ref().map(|s| &s.referenced);
        n.not_for(cx, locator_at, "locator", SID_KINDS);
    }
    let flavors = sid_flavors(cx, n);
    let locator = if n.kind.has_sid() {
        routed_prefix(cx, n, &n.rn.locator, "locator", sid, |s, l| {
            format!("SID {s} is not inside the locator {l}, so no route would reach it")
        })
    } else {
        None
    };
    SidPart {
        sid,
        flavors,
        locator,
    }
}

fn sid_flavors(cx: &mut Cx, n: &Fields) -> BTreeSet<EndFlavor> {
    let Some(fl) = &n.rn.sid_flavors else {
        return BTreeSet::new();
    };
    if !n.kind.has_sid() {
        n.not_for(cx, Some(&fl.referenced), "sid_flavors", SID_KINDS);
        return BTreeSet::new();
    }
    if n.rn.sid.is_none() {
        cx.err(
            &fl.referenced,
            n.path("sid_flavors"),
            "`sid_flavors` without a `sid`",
        );
        return BTreeSet::new();
    }
    let set: BTreeSet<EndFlavor> = fl.value.iter().copied().collect();
    if set.contains(&EndFlavor::Usp) && set.contains(&EndFlavor::Usd) {
        cx.err(
            &fl.referenced,
            n.path("sid_flavors"),
            "usp and usd exclude each other (RFC 8986 §4.16)",
        );
    }
    set
}

/// A node's routed prefix: the one written at `field` (which must hold
/// `owned`, else `outside` says why), or the /48 of `owned`.
fn routed_prefix(
    cx: &mut Cx,
    n: &Fields,
    written: &Option<Spanned<String>>,
    field: &str,
    owned: Option<Ipv6Addr>,
    outside: fn(Ipv6Addr, Ipv6Net) -> String,
) -> Option<Ipv6Net> {
    let Some(raw) = written else {
        return owned.map(to48);
    };
    let prefix = cx.net(raw, &n.path(field));
    if let (Some(a), Some(p)) = (owned, prefix) {
        if !p.contains(&a) {
            cx.err(&raw.referenced, n.path(field), outside(a, p));
        }
    }
    prefix
}

/// `(address, prefix)`: an end system's service address and routed prefix,
/// or a router's / service function's optional loopback address.
fn address_part(
    cx: &mut Cx,
    n: &Fields,
    sid: Option<Ipv6Addr>,
    locator: Option<Ipv6Net>,
) -> (Option<Ipv6Addr>, Option<Ipv6Net>) {
    let rn = n.rn;
    let address = rn
        .address
        .as_ref()
        .and_then(|a| cx.addr(a, &n.path("address")));
    if n.kind.is_end_system() {
        if rn.address.is_none() {
            let message = format!("a {} node needs an `address`", n.kind.as_str());
            n.missing(cx, "address", message);
        }
        let prefix = routed_prefix(cx, n, &rn.prefix, "prefix", address, |a, p| {
            format!("address {a} is not inside the prefix {p}")
        });
        (address, prefix)
    } else {
        let prefix_at = rn.prefix.as_ref().map(|s| &s.referenced);
        n.not_for(cx, prefix_at, "prefix", END_SYSTEM_KINDS);
        check_loopback(cx, n, address, sid, locator);
        (address, None)
    }
}

/// A router's loopback address must be routed to it (inside its locator)
/// and differ from its SID.
fn check_loopback(
    cx: &mut Cx,
    n: &Fields,
    address: Option<Ipv6Addr>,
    sid: Option<Ipv6Addr>,
    locator: Option<Ipv6Net>,
) {
    let (Some(a), Some(raw_a)) = (address, &n.rn.address) else {
        return;
    };
    if let Some(l) = locator.filter(|l| !l.contains(&a)) {
        cx.err(
            &raw_a.referenced,
            n.path("address"),
            format!(
                "loopback address {a} is not inside the locator {l}, so no route would reach it"
            ),
        );
    }
    if sid == Some(a) {
        cx.err(
            &raw_a.referenced,
            n.path("address"),
            "the loopback address equals the SID; give the SID its own address",
        );
    }
}

fn backend(cx: &mut Cx, n: &Fields, default: RouterBackend) -> RouterBackend {
    match &n.rn.backend {
        Some(b) if n.kind != NodeKind::Router => {
            n.not_for(cx, Some(&b.referenced), "backend", "routers");
            RouterBackend::Linux
        }
        Some(b) => b.value,
        None if n.kind == NodeKind::Router => default,
        None => RouterBackend::Linux,
    }
}

fn agent(cx: &mut Cx, n: &Fields) -> Option<AgentRole> {
    match &n.rn.agent {
        Some(a) if n.kind != NodeKind::Host => {
            n.not_for(cx, Some(&a.referenced), "agent", "hosts");
            None
        }
        other => other.as_ref().map(|a| a.value),
    }
}

fn function(cx: &mut Cx, n: &Fields) -> Option<String> {
    match &n.rn.function {
        Some(fun) if n.kind != NodeKind::ServiceFunction => {
            let at = Some(&fun.referenced);
            n.not_for(cx, at, "function", "service-function nodes");
            None
        }
        Some(fun) if fun.value.trim().is_empty() => {
            cx.err(
                &fun.referenced,
                n.path("function"),
                "the function name is empty",
            );
            None
        }
        Some(fun) => Some(fun.value.trim().to_owned()),
        None if n.kind == NodeKind::ServiceFunction => {
            let message = "a service-function node needs a `function` name";
            n.missing(cx, "function", message);
            None
        }
        None => None,
    }
}

fn route_mtu(cx: &mut Cx, n: &Fields, default: u32) -> Option<u32> {
    match &n.rn.route_mtu {
        Some(m) if !n.kind.is_end_system() => {
            n.not_for(cx, Some(&m.referenced), "route_mtu", END_SYSTEM_KINDS);
            None
        }
        Some(m) => Some(cx.mtu(m, &n.path("route_mtu"))),
        None if n.kind.is_end_system() => Some(default),
        None => None,
    }
}
