//! The lab's topology model (crate `topology`, the file labctl runs) as a
//! path-computation graph. Link indices are the topology's link ids, so the
//! admin API and labctl address the same links.

use std::collections::BTreeSet;

use crate::pathcomp::{Graph, LinkProps, Node, NodeKind};

fn props(p: &topology::LinkProps) -> LinkProps {
    LinkProps {
        bandwidth_kbps: p.bandwidth_kbps,
        latency_us: p.latency_us,
        jitter_us: p.jitter_us,
        loss_pct: p.loss_pct,
        utilization_pct: p.utilization_pct,
    }
}

impl Graph {
    /// Build the graph of a validated topology.
    pub fn from_topology(topo: &topology::Topology) -> Graph {
        let mut g = Graph::new();
        for n in topo.nodes.values() {
            let kind = match n.kind {
                topology::NodeKind::Router => NodeKind::Router,
                topology::NodeKind::ServiceFunction => NodeKind::ServiceFunction,
                topology::NodeKind::Host
                | topology::NodeKind::Dns
                | topology::NodeKind::Controller => NodeKind::EndSystem,
            };
            g.add_node(Node {
                name: n.name.clone(),
                kind,
                sid: n.sid,
                address: if kind == NodeKind::EndSystem {
                    n.address
                } else {
                    None
                },
                prefix: n.prefix,
                function: n.function.clone(),
                flex_algos: n.flex_algos.clone(),
            });
        }
        for l in &topo.links {
            // The topology is validated: both endpoint names exist.
            let (Some(a), Some(b)) = (g.node_id(&l.a.node), g.node_id(&l.b.node)) else {
                continue;
            };
            let id = g.add_link(
                a,
                b,
                l.igp_metric,
                props(&l.a_to_b),
                props(&l.b_to_a),
                l.flex_algos.iter().copied().collect::<BTreeSet<u8>>(),
            );
            g.links[id].up = l.up;
        }
        g
    }
}
