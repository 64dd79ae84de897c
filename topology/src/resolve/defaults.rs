//! The `defaults:` and `addressing:` sections: what nodes and links get
//! when they do not say.

use std::str::FromStr;

use ipnet::Ipv6Net;

use super::{Cx, DEFAULT_IGP_METRIC, DEFAULT_LINK_MTU, DEFAULT_LINK_POOL, DEFAULT_ROUTE_MTU};
use crate::model::{LinkProps, RouterBackend};
use crate::raw::RawTopology;

/// The resolved defaults of one file.
pub(super) struct Defaults {
    /// `defaults.router.backend`.
    pub(super) backend: RouterBackend,
    /// `defaults.host.route_mtu`: end systems' default-route MTU.
    pub(super) route_mtu: u32,
    /// `defaults.link.mtu`.
    pub(super) link_mtu: u32,
    /// `defaults.link.igp_metric`.
    pub(super) igp_metric: u32,
    /// `defaults.link` properties, under each link's own.
    pub(super) props: LinkProps,
    /// `addressing.link_pool`; `None` when the written pool is invalid.
    pub(super) link_pool: Option<Ipv6Net>,
}

pub(super) fn resolve_defaults(cx: &mut Cx, raw: &RawTopology) -> Defaults {
    let backend = raw
        .defaults
        .router
        .backend
        .as_ref()
        .map_or(RouterBackend::Linux, |b| b.value);
    let route_mtu = raw
        .defaults
        .host
        .route_mtu
        .as_ref()
        .map_or(DEFAULT_ROUTE_MTU, |m| cx.mtu(m, "defaults.host.route_mtu"));
    let dl = &raw.defaults.link;
    let link_mtu = dl
        .mtu
        .as_ref()
        .map_or(DEFAULT_LINK_MTU, |m| cx.mtu(m, "defaults.link.mtu"));
    let igp_metric = cx.igp_metric(
        &dl.igp_metric,
        "defaults.link.igp_metric",
        DEFAULT_IGP_METRIC,
    );
    let props = cx.props(&dl.props(), "defaults.link");
    Defaults {
        backend,
        route_mtu,
        link_mtu,
        igp_metric,
        props,
        link_pool: link_pool(cx, raw),
    }
}

/// The pool derived link subnets (/64s) come from.
fn link_pool(cx: &mut Cx, raw: &RawTopology) -> Option<Ipv6Net> {
    let Some(p) = &raw.addressing.link_pool else {
        return Ipv6Net::from_str(DEFAULT_LINK_POOL).ok();
    };
    let n = cx.net(p, "addressing.link_pool")?;
    if n.prefix_len() > 64 {
        cx.err(
            &p.referenced,
            "addressing.link_pool",
            format!("link pool {n} is longer than /64: derived link subnets are /64s"),
        );
        return None;
    }
    Some(n)
}
