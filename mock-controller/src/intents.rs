//! Requests on the wire -> validated intents (the shared rule of
//! `intent_proto::validate`) -> a path [`Query`].
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
pub use intent_proto::validate::{
    intent_name, validate, IntentSpec, Invalid, Request, MAX_FUNCTIONS,
};

use crate::pathcomp::{Constraints, Graph, Metric, NodeId, NodeKind, Query, Waypoint};

/// A request resolved on a graph: end nodes and the query.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub src: NodeId,
    pub dst: NodeId,
    pub query: Query,
}

/// Resolve a validated request on `graph` (addresses to nodes, function
/// names to waypoints) and build its query by the combination rule.
pub fn plan(req: &Request, graph: &Graph) -> Result<Plan, Invalid> {
    let end = |field: &str, addr: Ipv6Addr| {
        graph.node_for_address(addr).ok_or_else(|| {
            Invalid::new(field, format!("{addr} belongs to no host of the topology"))
        })
    };
    let src = end("ipv6_source_address", req.src)?;
    let dst = end("ipv6_destination_address", req.dst)?;
    let mut objective = Vec::new();
    let mut constraints = Constraints::default();
    let mut flex_algo = None;
    let mut waypoints = Vec::new();
    for (i, spec) in req.intents.iter().enumerate() {
        let metric = match spec.kind {
            IntentType::HighBandwidth => Some(Metric::WidestBottleneck),
            IntentType::LowBandwidth => Some(Metric::NarrowestLink),
            IntentType::LowLatency => Some(Metric::Latency),
            IntentType::LowPacketLoss => Some(Metric::Loss),
            IntentType::LowJitter => Some(Metric::Jitter),
            IntentType::LowUtilization => Some(Metric::MaxUtilization),
            IntentType::FlexAlgo => Some(Metric::Igp),
            IntentType::Sfc | IntentType::Unspecified => None,
        };
        if let Some(m) = metric {
            if !objective.contains(&m) {
                objective.push(m);
            }
        }
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
        if spec.flex_algo.is_some() {
            flex_algo = spec.flex_algo;
        }
        for (k, name) in &spec.functions {
            let by_function: BTreeSet<NodeId> = graph
                .nodes
                .iter()
                .enumerate()
                .filter(|(_, n)| {
                    n.kind == NodeKind::ServiceFunction && n.function.as_deref() == Some(name)
                })
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
                return Err(Invalid::new(
                    format!("intents[{i}].values[{k}].string_value"),
                    format!("no service function (or router) named {name:?} in the topology"),
                ));
            }
            waypoints.push(Waypoint {
                name: name.clone(),
                nodes,
            });
        }
    }
    Ok(Plan {
        src,
        dst,
        query: Query {
            objective,
            constraints,
            flex_algo,
            waypoints,
        },
    })
}
