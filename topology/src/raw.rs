//! The topology file as written: serde structs that keep source locations.
//!
//! Stage one of three (file -> raw -> resolved model). Nothing here is
//! checked beyond YAML syntax, field names and basic types: addresses, units
//! and references stay strings with their [`Spanned`] location so that
//! `resolve` can report every semantic problem at its line and column.
//! The JSON Schema (`topologies/topology.schema.json`) is derived from these
//! structs; `#[schemars(with = ...)]` describes what the file holds.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use schemars::JsonSchema;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::model::{AgentRole, EndFlavor, NodeKind, RouterBackend};

/// A topology file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "labctl topology",
    description = "A virtual SRv6 lab: nodes, links, DNS records (see docs/topology.md)"
)]
pub struct RawTopology {
    /// Lab name: lower-case letters, digits and '-', starting with a letter, at most 32 characters.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// Defaults applied to every node/link that does not set the field.
    #[serde(default)]
    pub defaults: RawDefaults,
    /// Address plans for derived values.
    #[serde(default)]
    pub addressing: RawAddressing,
    /// DNS records served by the `dns` node.
    #[serde(default)]
    pub dns: RawDns,
    /// Nodes by name.
    #[schemars(with = "BTreeMap<String, RawNode>")]
    pub nodes: SpannedMap<RawNode>,
    /// Point-to-point links; the index in this list is the link id.
    #[serde(default)]
    #[schemars(with = "Vec<RawLink>")]
    pub links: Vec<Spanned<RawLink>>,
}

/// `defaults:` section.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDefaults {
    #[serde(default)]
    pub router: RawRouterDefaults,
    #[serde(default)]
    pub host: RawHostDefaults,
    #[serde(default)]
    pub link: RawLinkDefaults,
}

/// `defaults.router`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRouterDefaults {
    /// Backend of routers that do not name one (default `linux`).
    #[schemars(with = "Option<RouterBackend>")]
    pub backend: Option<Spanned<RouterBackend>>,
}

/// `defaults.host` (applies to host, dns and controller nodes).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawHostDefaults {
    /// MTU of the default route of end systems (default 1500).
    #[schemars(with = "Option<u32>")]
    pub route_mtu: Option<Spanned<u32>>,
}

/// Declares a struct with its own fields plus the five link properties, and
/// `props()` to read those as one [`RawProps`]. (Not `#[serde(flatten)]`:
/// flatten loses locations and unknown-field errors.)
macro_rules! with_link_props {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
            /// `1gbit`, `100mbit`, `500kbit`, `2.5gbit` (bit/s with unit).
            #[schemars(with = "Option<Scalar>")]
            pub bandwidth: Option<Spanned<Scalar>>,
            /// `4ms`, `250us`, `1s`, `0`.
            #[schemars(with = "Option<Scalar>")]
            pub latency: Option<Spanned<Scalar>>,
            /// `1ms`, `0`.
            #[schemars(with = "Option<Scalar>")]
            pub jitter: Option<Spanned<Scalar>>,
            /// Percent 0..=100 (`0.1` or `"0.1%"`).
            #[schemars(with = "Option<Scalar>")]
            pub loss: Option<Spanned<Scalar>>,
            /// Percent 0..=100.
            #[schemars(with = "Option<Scalar>")]
            pub utilization: Option<Spanned<Scalar>>,
        }

        impl $name {
            /// The five link properties written on this item.
            pub fn props(&self) -> RawProps {
                RawProps {
                    bandwidth: self.bandwidth.clone(),
                    latency: self.latency.clone(),
                    jitter: self.jitter.clone(),
                    loss: self.loss.clone(),
                    utilization: self.utilization.clone(),
                }
            }
        }
    };
}

with_link_props! {
/// `defaults.link`: any link property.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLinkDefaults {
    /// Interface MTU (default 9000).
    #[schemars(with = "Option<u32>")]
    pub mtu: Option<Spanned<u32>>,
    /// IGP metric for underlay shortest paths (default 10).
    #[schemars(with = "Option<u32>")]
    pub igp_metric: Option<Spanned<u32>>,
}
}

/// `addressing:` section.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAddressing {
    /// Pool for derived link subnets (default `2001:db8:ffff::/48`, prefix length ≤ 64):
    /// link N without `subnet` gets the N-th /64 of the pool.
    #[schemars(with = "Option<String>")]
    pub link_pool: Option<Spanned<String>>,
}

/// `dns:` section.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDns {
    /// FQDN -> node name (its address) or IPv6 address.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub records: SpannedMap<Spanned<String>>,
}

/// One node.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawNode {
    #[schemars(with = "NodeKind")]
    pub kind: Spanned<NodeKind>,
    /// End SID (routers, service functions).
    #[schemars(with = "Option<String>")]
    pub sid: Option<Spanned<String>>,
    /// End flavours of the SID.
    #[schemars(with = "Option<Vec<EndFlavor>>")]
    pub sid_flavors: Option<Spanned<Vec<EndFlavor>>>,
    /// Routed prefix holding the SID (routers, service functions; default: the SID's /48).
    #[schemars(with = "Option<String>")]
    pub locator: Option<Spanned<String>>,
    /// Service address (host, dns, controller: required) or loopback (routers, optional).
    #[schemars(with = "Option<String>")]
    pub address: Option<Spanned<String>>,
    /// Routed prefix of a host/dns/controller (default: the address's /48).
    #[schemars(with = "Option<String>")]
    pub prefix: Option<Spanned<String>>,
    /// Router backend (routers only).
    #[schemars(with = "Option<RouterBackend>")]
    pub backend: Option<Spanned<RouterBackend>>,
    /// Agent mode (hosts only).
    #[schemars(with = "Option<AgentRole>")]
    pub agent: Option<Spanned<AgentRole>>,
    /// The client agent's configuration (hawkwing format), relative to the
    /// topology file (hosts with `agent: client` only, required there).
    #[schemars(with = "Option<String>")]
    pub agent_config: Option<Spanned<String>>,
    /// Function name (service functions only, required there).
    #[schemars(with = "Option<String>")]
    pub function: Option<Spanned<String>>,
    /// Flex-algo numbers 128..=255.
    #[schemars(with = "Option<Vec<u8>>")]
    pub flex_algos: Option<Vec<Spanned<i64>>>,
    /// MTU of the default route (host, dns, controller).
    #[schemars(with = "Option<u32>")]
    pub route_mtu: Option<Spanned<u32>>,
}

with_link_props! {
/// One link.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLink {
    /// Exactly two entries `node` or `node:ifname`.
    #[schemars(with = "[String; 2]")]
    pub endpoints: Spanned<Vec<Spanned<String>>>,
    /// Link subnet (default: derived from `addressing.link_pool`).
    #[schemars(with = "Option<String>")]
    pub subnet: Option<Spanned<String>>,
    /// Endpoint addresses in endpoint order (default: subnet ::1 and ::2).
    #[schemars(with = "Option<[String; 2]>")]
    pub addresses: Option<Spanned<Vec<Spanned<String>>>>,
    #[schemars(with = "Option<u32>")]
    pub mtu: Option<Spanned<u32>>,
    #[schemars(with = "Option<u32>")]
    pub igp_metric: Option<Spanned<u32>>,
    /// Declared state (default true).
    #[schemars(with = "Option<bool>")]
    pub up: Option<Spanned<bool>>,
    /// Flex-algo numbers 128..=255 (default: those both router ends share).
    #[schemars(with = "Option<Vec<u8>>")]
    pub flex_algos: Option<Vec<Spanned<i64>>>,
    /// Overrides for traffic from the first endpoint to the second.
    pub a_to_b: Option<RawProps>,
    /// Overrides for traffic from the second endpoint to the first.
    pub b_to_a: Option<RawProps>,
}
}

with_link_props! {
/// Link properties in human units (`a_to_b`, `b_to_a`).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawProps {
}
}

/// Any YAML scalar kept as its text, so unit errors are reported by `resolve`
/// with their location instead of aborting the parse.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar(pub String);

impl JsonSchema for Scalar {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Quantity".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A number or a number with a unit (see docs/topology.md, Units)",
            "type": ["string", "number"]
        })
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl Visitor<'_> for ScalarVisitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number or a string with a unit")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_owned()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

/// A YAML mapping with string keys, kept in file order with key locations.
#[derive(Debug)]
pub struct SpannedMap<T>(pub Vec<(Spanned<String>, T)>);

impl<T> Default for SpannedMap<T> {
    fn default() -> Self {
        SpannedMap(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for SpannedMap<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for MapVisitor<T> {
            type Value = SpannedMap<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some((key, value)) = map.next_entry::<Spanned<String>, T>()? {
                    entries.push((key, value));
                }
                Ok(SpannedMap(entries))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(SpannedMap::default())
            }
        }
        deserializer.deserialize_map(MapVisitor(PhantomData))
    }
}
