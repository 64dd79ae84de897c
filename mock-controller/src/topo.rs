//! The lab's topology model (crate `topology`, the file labctl runs) as a
//! path-computation graph. Link indices are the topology's link ids, so the
//! admin API and labctl address the same links.

use std::collections::BTreeSet;

use crate::pathcomp::{Graph, Node, NodeKind};

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
                l.a_to_b.clone(),
                l.b_to_a.clone(),
                l.flex_algos.iter().copied().collect::<BTreeSet<u8>>(),
            );
            g.links[id].up = l.up;
        }
        g
    }
}
