//! Requests on the wire -> validated intents -> a path [`Query`].
//!
//! Validation rejects what the original controller (hawkeye) rejects, and a
//! little more, always naming the offending field (`intents[1].values[0].type`)
//! so a client can tell what to fix. Nothing here touches the network.
//!
//! # Combination rule
//! The intents of one request combine in request order:
//! * every MIN / MAX value of every intent is a hard constraint;
//! * FLEX_ALGO restricts the graph to its algo, SFC adds its waypoints in
//!   order, wherever they appear in the list;
//! * the first intent that measures something (bandwidth, latency, loss,
//!   jitter, utilisation; flex-algo measures the IGP metric) is the
//!   objective, and each later one breaks ties in order, then latency, then
//!   hop count (lexicographic).

use std::collections::BTreeSet;
use std::net::Ipv6Addr;

use intent_proto::api::IntentType;

use crate::pathcomp::{Constraints, Graph, Metric, NodeId, NodeKind, Query, Waypoint};

pub use intent_proto::validate::{
    intent_name, parse_addr, quote, validate, validate_intents, IntentSpec, Invalid, Request,
    MAX_ADDRESS_LEN, MAX_FUNCTIONS, MAX_INTENTS, MAX_NAME_LEN, MAX_VALUES, QUOTE_LEN,
};

fn invalid(field: impl Into<String>, message: impl Into<String>) -> Invalid {
    Invalid::new(field, message)
}

/// A request resolved on a graph: end nodes and the query.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub src: NodeId,
    pub dst: NodeId,
    pub query: Query,
}

/// The measure an intent optimises, if any.
fn objective_of(kind: IntentType) -> Option<Metric> {
    match kind {
        IntentType::HighBandwidth => Some(Metric::WidestBottleneck),
        IntentType::LowBandwidth => Some(Metric::NarrowestLink),
        IntentType::LowLatency => Some(Metric::Latency),
        IntentType::LowPacketLoss => Some(Metric::Loss),
        IntentType::LowJitter => Some(Metric::Jitter),
        IntentType::LowUtilization => Some(Metric::MaxUtilization),
        IntentType::FlexAlgo => Some(Metric::Igp),
        IntentType::Sfc | IntentType::Unspecified => None,
    }
}

/// Add an intent's MIN / MAX value to the constraints (several MINs: the
/// largest).
fn constrain(constraints: &mut Constraints, spec: &IntentSpec) {
    if let Some(min) = spec.min_value {
        let min = u64::from(min);
        constraints.min_bandwidth_kbps =
            Some(constraints.min_bandwidth_kbps.map_or(min, |m| m.max(min)));
    }
    if let Some(max) = spec.max_value {
        match spec.kind {
            IntentType::LowLatency => constraints.max_latency_us = Some(u64::from(max)),
            IntentType::LowJitter => constraints.max_jitter_us = Some(u64::from(max)),
            IntentType::LowPacketLoss => constraints.max_loss_pct = Some(f64::from(max)),
            _ => {}
        }
    }
}

/// The nodes an SFC name stands for: the service functions offering it,
/// else the router of that name.
fn waypoint(graph: &Graph, field: String, name: &str) -> Result<Waypoint, Invalid> {
    let by_function: BTreeSet<NodeId> = graph
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.kind == NodeKind::ServiceFunction && n.function.as_deref() == Some(name))
        .map(|(id, _)| id)
        .collect();
    let nodes = if by_function.is_empty() {
        graph
            .node_id(name)
            .filter(|&id| graph.nodes[id].kind != NodeKind::EndSystem)
            .into_iter()
            .collect()
    } else {
        by_function
    };
    if nodes.is_empty() {
        return Err(invalid(
            field,
            format!(
                "no service function (or router) named {} in the topology",
                quote(name)
            ),
        ));
    }
    Ok(Waypoint {
        name: name.to_owned(),
        nodes,
    })
}

/// Resolve a validated request on `graph` (addresses to nodes, function
/// names to waypoints) and build its query by the combination rule.
pub fn plan(req: &Request, graph: &Graph) -> Result<Plan, Invalid> {
    let end = |field: &str, addr: Ipv6Addr| {
        graph
            .node_for_address(addr)
            .ok_or_else(|| invalid(field, format!("{addr} belongs to no host of the topology")))
    };
    let src = end("ipv6_source_address", req.src)?;
    let dst = end("ipv6_destination_address", req.dst)?;
    if src == dst {
        return Err(invalid(
            "ipv6_destination_address",
            format!(
                "{} belongs to {}, the source's own host",
                req.dst, graph.nodes[src].name
            ),
        ));
    }
    let mut query = Query::new(&[]);
    for (i, spec) in req.intents.iter().enumerate() {
        if let Some(m) = objective_of(spec.kind) {
            if !query.objective.contains(&m) {
                query.objective.push(m);
            }
        }
        constrain(&mut query.constraints, spec);
        if spec.flex_algo.is_some() {
            query.flex_algo = spec.flex_algo;
        }
        for (k, name) in &spec.functions {
            let field = format!("intents[{i}].values[{k}].string_value");
            query.waypoints.push(waypoint(graph, field, name)?);
        }
    }
    Ok(Plan { src, dst, query })
}
