//! What a lab or a command needs from the machine, each need with its reason.
//!
//! [`Needs::for_up`] is derived from the deployment plan `up` carries out
//! ([`crate::plan`]), so it names exactly what `up` will use: a SID route per
//! kernel router (with its flavours), a tbf per shaped direction, a clsact
//! BPF filter per lossy direction, `vpp` for VPP routers.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use topology::{NodeKind, Topology};

use super::Feature;
use crate::plan::{self, Forwarding};

/// One need: any one of `any_of` satisfies it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Requirement {
    pub any_of: Vec<Feature>,
    /// Who needs it and why (e.g. `the SIDs of r1, r2`).
    pub because: String,
}

impl Requirement {
    /// `because`, with the alternatives when there are several.
    pub fn label(&self) -> String {
        if self.any_of.len() > 1 {
            let ids: Vec<&str> = self.any_of.iter().map(|f| f.id()).collect();
            format!("{} (any of {})", self.because, ids.join(", "))
        } else {
            self.because.clone()
        }
    }
}

/// A list of requirements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    reqs: Vec<Requirement>,
}

impl Needs {
    pub fn new() -> Needs {
        Needs::default()
    }

    /// Need `feature`, because of `because`.
    pub fn need(&mut self, feature: Feature, because: impl Into<String>) -> &mut Needs {
        self.need_any(&[feature], because)
    }

    /// Need one of `features` (e.g. TCX or clsact).
    pub fn need_any(&mut self, features: &[Feature], because: impl Into<String>) -> &mut Needs {
        self.reqs.push(Requirement {
            any_of: features.to_vec(),
            because: because.into(),
        });
        self
    }

    /// Add every requirement of `other`.
    pub fn extend(&mut self, other: Needs) -> &mut Needs {
        self.reqs.extend(other.reqs);
        self
    }

    pub fn requirements(&self) -> &[Requirement] {
        &self.reqs
    }

    /// Every feature some requirement names.
    pub fn features(&self) -> BTreeSet<Feature> {
        self.reqs
            .iter()
            .flat_map(|r| r.any_of.iter().copied())
            .collect()
    }

    /// What `labctl up` of `topo` uses.
    pub fn for_up(topo: &Topology) -> Needs {
        let plan = plan::from_topology(topo, &topo.name);
        let mut users: BTreeMap<Feature, Vec<String>> = BTreeMap::new();
        let mut add = |f: Feature, who: String| users.entry(f).or_default().push(who);
        for ns in &plan.namespaces {
            if ns.forwarding == Forwarding::Vpp {
                add(Feature::Vpp, ns.node.clone());
            }
            if ns.forwarding == Forwarding::Kernel && !ns.sids.is_empty() {
                add(Feature::Seg6LocalEnd, ns.node.clone());
                let flavors = topo.nodes.get(&ns.node).map(|n| &n.sid_behavior.flavors);
                for f in flavors.into_iter().flatten() {
                    add(Feature::EndFlavor(*f), ns.node.clone());
                }
            }
            for iface in &ns.ifaces {
                let at = format!("{}:{}", ns.node, iface.name);
                if iface.tbf.is_some() {
                    add(Feature::Tbf, at.clone());
                }
                if iface.loss_pct.is_some() {
                    add(Feature::Clsact, at);
                }
            }
        }
        let lab = &topo.name;
        let mut needs = Needs::new();
        needs.need(
            Feature::Privileges,
            format!("{lab}: labctl up (namespaces, netlink)"),
        );
        needs.need(
            Feature::Seg6Enabled,
            format!("{lab}: labctl up (seg6_enabled on every node)"),
        );
        for (feature, who) in users {
            let because = match feature {
                Feature::Vpp => format!("routers {} use backend vpp", list(&who)),
                Feature::Tbf => format!("the bandwidth of {}", list(&who)),
                Feature::Clsact => format!("the loss dropper on {}", list(&who)),
                _ => format!("the SIDs of {}", list(&who)),
            };
            needs.need(feature, format!("{lab}: {because}"));
        }
        needs
    }

    /// What the agent's dataplane programs need on the hosts of `topo` that
    /// run an agent (TC egress and, by default, TC ingress: TCX, or clsact
    /// where TCX is missing).
    pub fn for_agents(topo: &Topology) -> Needs {
        let hosts: Vec<String> = topo
            .nodes_of_kind(NodeKind::Host)
            .filter(|n| n.agent.is_some())
            .map(|n| n.name.clone())
            .collect();
        let mut needs = Needs::new();
        if !hosts.is_empty() {
            needs.need_any(
                &[Feature::Tcx, Feature::Clsact],
                format!("{}: the agents on {}", topo.name, list(&hosts)),
            );
        }
        needs
    }

    /// What `make build` needs (the dataplane's C programs, `proto/`).
    pub fn for_build() -> Needs {
        let mut needs = Needs::new();
        needs.need(Feature::Clang, "make build (dataplane/bpf/*.bpf.c)");
        needs.need(Feature::LibbpfHeaders, "make build (dataplane/bpf/*.bpf.c)");
        needs.need(Feature::Protoc, "make build (proto/)");
        needs
    }
}

/// `a, b, c` or `a, b, c, d and 5 more`.
fn list(names: &[String]) -> String {
    const SHOWN: usize = 4;
    if names.len() <= SHOWN {
        names.join(", ")
    } else {
        format!(
            "{} and {} more",
            names[..SHOWN].join(", "),
            names.len() - SHOWN
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn shipped(name: &str) -> Topology {
        topology::load(
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../topologies")
                .join(name),
        )
        .unwrap()
    }

    fn because_of(needs: &Needs, f: Feature) -> Vec<String> {
        needs
            .requirements()
            .iter()
            .filter(|r| r.any_of == [f])
            .map(|r| r.because.clone())
            .collect()
    }

    #[test]
    fn line_needs_sids_on_both_routers_and_nothing_for_links() {
        let needs = Needs::for_up(&shipped("line.yaml"));
        assert_eq!(
            because_of(&needs, Feature::Seg6LocalEnd),
            ["line: the SIDs of r1, r2"]
        );
        assert!(because_of(&needs, Feature::Tbf).is_empty());
        assert!(because_of(&needs, Feature::Clsact).is_empty());
        assert!(because_of(&needs, Feature::Vpp).is_empty());
        assert!(needs.features().contains(&Feature::Privileges));
    }

    #[test]
    fn shaped_and_lossy_directions_need_tbf_and_the_dropper() {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../topologies/line.yaml"),
        )
        .unwrap();
        let plain = "- {endpoints: [r1, r2]}";
        let shaped = "- {endpoints: [r1, r2], a_to_b: {bandwidth: 20mbit}, b_to_a: {loss: 5}}";
        assert!(text.contains(plain), "line.yaml changed: update this test");
        let topo = topology::parse_str(&text.replace(plain, shaped), "line.yaml").unwrap();
        let needs = Needs::for_up(&topo);
        // Interfaces are named <peer>-<link id> (docs/topology.md).
        assert_eq!(
            because_of(&needs, Feature::Tbf),
            ["line: the bandwidth of r1:r2-1"]
        );
        assert_eq!(
            because_of(&needs, Feature::Clsact),
            ["line: the loss dropper on r2:r1-1"]
        );
    }

    #[test]
    fn flavours_and_vpp_routers_are_named() {
        let mut topo = shipped("line.yaml");
        let r1 = topo.nodes.get_mut("r1").unwrap();
        r1.sid_behavior.flavors.insert(topology::EndFlavor::Psp);
        topo.nodes.get_mut("r2").unwrap().backend = topology::RouterBackend::Vpp;
        let needs = Needs::for_up(&topo);
        assert_eq!(
            because_of(&needs, Feature::EndFlavor(topology::EndFlavor::Psp)),
            ["line: the SIDs of r1"]
        );
        assert_eq!(
            because_of(&needs, Feature::Vpp),
            ["line: routers r2 use backend vpp"]
        );
        // A VPP router has no kernel SID.
        assert_eq!(
            because_of(&needs, Feature::Seg6LocalEnd),
            ["line: the SIDs of r1"]
        );
    }

    #[test]
    fn agents_need_tcx_or_clsact() {
        let needs = Needs::for_agents(&shipped("line.yaml"));
        assert_eq!(needs.requirements().len(), 1);
        assert_eq!(
            needs.requirements()[0].any_of,
            [Feature::Tcx, Feature::Clsact]
        );
        assert_eq!(
            needs.requirements()[0].because,
            "line: the agents on h1, h2"
        );
    }

    #[test]
    fn long_lists_are_cut() {
        let names: Vec<String> = (1..=6).map(|i| format!("n{i}")).collect();
        assert_eq!(list(&names), "n1, n2, n3, n4 and 2 more");
    }
}
