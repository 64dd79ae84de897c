//! VPP router configuration generated from the model.
//!
//! # Public API
//! - [`generate`]`(&Topology, node) -> Result<VppConfig, VppError>` with the
//!   default run directory `/run/labctl/<lab>/vpp/<node>`;
//!   [`generate_with`] takes [`VppOptions`] (run directory, main core).
//! - [`VppConfig`] `{ node, run_dir, startup_conf, cli }` plus the paths
//!   the runtime writes them to ([`VppConfig::startup_conf_path`],
//!   [`VppConfig::cli_path`]) and the CLI socket for `vppctl -s`.
//!
//! The texts come from the templates in `vpp/` (`startup.conf.tmpl`,
//! `setup.cli.tmpl`, see `vpp/README.md`); `{{name}}` placeholders are
//! filled here. The CLI creates one af_packet host interface per veth of the
//! router (VPP names it `host-<ifname>`), sets MTU, state and address,
//! a loopback with the router's address, the underlay routes of
//! [`crate::routes::compute`] and `sr localsid address <SID> behavior end`.

use std::fmt::Write;
use std::path::PathBuf;

use crate::model::{EndFlavor, Node, NodeKind, Topology};
use crate::routes;

const STARTUP_TEMPLATE: &str = include_str!("../../vpp/startup.conf.tmpl");
const CLI_TEMPLATE: &str = include_str!("../../vpp/setup.cli.tmpl");

/// Why no VPP configuration can be generated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VppError {
    #[error("no node {0:?} in the topology")]
    UnknownNode(String),
    #[error("{node} is a {kind} node; VPP configuration exists for routers only")]
    NotARouter { node: String, kind: &'static str },
    #[error("{node}: VPP's End supports the psp flavour only, not {flavor}")]
    UnsupportedFlavor { node: String, flavor: &'static str },
}

/// Where the instance keeps its files and which core runs its main thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VppOptions {
    /// Directory for startup.conf, setup.cli, sockets, log and pid file.
    pub run_dir: PathBuf,
    /// `cpu { main-core N }`; `None` lets VPP choose.
    pub main_core: Option<u32>,
}

impl VppOptions {
    /// `/run/labctl/<lab>/vpp/<node>`, no pinning.
    pub fn for_node(lab: &str, node: &str) -> Self {
        VppOptions {
            run_dir: PathBuf::from(format!("/run/labctl/{lab}/vpp/{node}")),
            main_core: None,
        }
    }
}

/// The generated configuration of one VPP router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VppConfig {
    pub node: String,
    pub run_dir: PathBuf,
    /// Contents of `startup.conf` (`vpp -c <startup_conf_path>`).
    pub startup_conf: String,
    /// Contents of `setup.cli`, run by VPP at start (`unix { exec ... }`).
    pub cli: String,
}

impl VppConfig {
    pub fn startup_conf_path(&self) -> PathBuf {
        self.run_dir.join("startup.conf")
    }
    pub fn cli_path(&self) -> PathBuf {
        self.run_dir.join("setup.cli")
    }
    /// For `vppctl -s <cli_socket>`.
    pub fn cli_socket(&self) -> PathBuf {
        self.run_dir.join("cli.sock")
    }
    pub fn pid_file(&self) -> PathBuf {
        self.run_dir.join("vpp.pid")
    }
}

/// VPP configuration of router `node` with the default run directory.
pub fn generate(topo: &Topology, node: &str) -> Result<VppConfig, VppError> {
    generate_with(topo, node, &VppOptions::for_node(&topo.name, node))
}

/// VPP configuration of router `node`.
pub fn generate_with(
    topo: &Topology,
    node: &str,
    opts: &VppOptions,
) -> Result<VppConfig, VppError> {
    let n = vpp_router(topo, node)?;
    let run_dir = opts.run_dir.display().to_string();
    let fill = |template: &str, extra: &[(&str, &str)]| {
        let mut text = template
            .replace("{{lab}}", &topo.name)
            .replace("{{node}}", node)
            .replace("{{run_dir}}", &run_dir);
        for (key, value) in extra {
            text = text.replace(&format!("{{{{{key}}}}}"), value);
        }
        text
    };

    let cpu = opts
        .main_core
        .map(|c| format!("cpu {{ main-core {c} }}\n"))
        .unwrap_or_default();
    let startup_conf = fill(STARTUP_TEMPLATE, &[("cpu", &cpu)]);
    let cli = fill(
        CLI_TEMPLATE,
        &[
            ("interfaces", &interface_lines(topo, node)),
            ("loopback", &loopback_lines(n)),
            ("routes", &route_lines(topo, node)),
            ("srv6", &srv6_lines(n)),
        ],
    );
    Ok(VppConfig {
        node: node.to_owned(),
        run_dir: opts.run_dir.clone(),
        startup_conf,
        cli,
    })
}

/// The node, if it is a router whose SID behaviour VPP implements.
fn vpp_router<'t>(topo: &'t Topology, node: &str) -> Result<&'t Node, VppError> {
    let n = topo
        .nodes
        .get(node)
        .ok_or_else(|| VppError::UnknownNode(node.to_owned()))?;
    if n.kind != NodeKind::Router {
        return Err(VppError::NotARouter {
            node: node.to_owned(),
            kind: n.kind.as_str(),
        });
    }
    if let Some(f) = n
        .sid_behavior
        .flavors
        .iter()
        .find(|&&f| f != EndFlavor::Psp)
    {
        return Err(VppError::UnsupportedFlavor {
            node: node.to_owned(),
            flavor: f.as_str(),
        });
    }
    Ok(n)
}

// Writing into a String cannot fail: the results of writeln! are ignored below.

/// One af_packet host interface per veth: MTU, address, state.
fn interface_lines(topo: &Topology, node: &str) -> String {
    let mut interfaces = String::new();
    for (link, _) in topo.neighbours(node) {
        let Some(ep) = link.endpoint(node) else {
            continue;
        };
        let vif = format!("host-{}", ep.ifname);
        let _ = writeln!(interfaces, "create host-interface name {}", ep.ifname);
        let _ = writeln!(interfaces, "set interface mtu packet {} {vif}", link.mtu);
        let _ = writeln!(
            interfaces,
            "set interface ip address {vif} {}/{}",
            ep.addr, ep.prefix_len
        );
        let state = if link.up { "up" } else { "down" };
        let _ = writeln!(interfaces, "set interface state {vif} {state}");
    }
    interfaces
}

/// A loopback holding the router's address, if it has one.
fn loopback_lines(n: &Node) -> String {
    let mut loopback = String::new();
    if let Some(a) = n.address {
        let _ = writeln!(loopback, "create loopback interface instance 0");
        let _ = writeln!(loopback, "set interface ip address loop0 {a}/128");
        let _ = writeln!(loopback, "set interface state loop0 up");
    }
    loopback
}

/// The router's underlay routes of [`routes::compute`].
fn route_lines(topo: &Topology, node: &str) -> String {
    let mut route_lines = String::new();
    let table = routes::compute(topo);
    for r in table.get(node).into_iter().flatten() {
        let _ = writeln!(
            route_lines,
            "ip route add {} via {} host-{}",
            r.prefix, r.via, r.dev
        );
    }
    route_lines
}

/// Encapsulation source and the End (or End with PSP) local SID.
fn srv6_lines(n: &Node) -> String {
    let mut srv6 = String::new();
    if let Some(a) = n.address {
        let _ = writeln!(srv6, "set sr encaps source addr {a}");
    }
    if let Some(sid) = n.sid {
        let psp = if n.sid_behavior.flavors.contains(&EndFlavor::Psp) {
            " psp"
        } else {
            ""
        };
        let _ = write!(srv6, "sr localsid address {sid} behavior end{psp}");
    }
    srv6
}
