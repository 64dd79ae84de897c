//! VPP routers (`backend: vpp`): configuration files and the binary check.
//!
//! # Public API
//! - `pub use topology::vpp::{generate, generate_with, VppConfig, VppError, VppOptions}`
//! - `pub fn vpp_routers(&Topology) -> Vec<&str>`: routers with `backend: vpp`
//! - `pub fn require_vpp(&Topology) -> Result<Option<PathBuf>, MissingVpp>`:
//!   `Ok(None)` when no router uses VPP, `Ok(Some(path))` of the `vpp`
//!   binary, `Err` (before anything is created) when VPP routers exist but
//!   no `vpp` is in `PATH`.
//! - `pub fn write_config(&VppConfig) -> io::Result<()>`: creates `run_dir` and
//!   writes `startup.conf` and `setup.cli` there; then run
//!   `vpp -c <cfg.startup_conf_path()>` in the router's namespace.
//!
//! The generator and its templates: `topology::vpp`, `vpp/README.md`.

use std::path::PathBuf;

pub use topology::vpp::{generate, generate_with, VppConfig, VppError, VppOptions};
use topology::{NodeKind, RouterBackend, Topology};

/// VPP routers exist but the `vpp` binary does not.
#[derive(Debug, thiserror::Error)]
#[error("routers {} use backend vpp, but no `vpp` binary is in PATH: install FD.io VPP or set `backend: linux`", routers.join(", "))]
pub struct MissingVpp {
    pub routers: Vec<String>,
}

/// Names of the routers with `backend: vpp`.
pub fn vpp_routers(topo: &Topology) -> Vec<&str> {
    topo.nodes_of_kind(NodeKind::Router)
        .filter(|n| n.backend == RouterBackend::Vpp)
        .map(|n| n.name.as_str())
        .collect()
}

/// The `vpp` binary when the topology needs one (checked before `up` creates anything).
pub fn require_vpp(topo: &Topology) -> Result<Option<PathBuf>, MissingVpp> {
    let routers = vpp_routers(topo);
    if routers.is_empty() {
        return Ok(None);
    }
    find_in_path("vpp").map(Some).ok_or_else(|| MissingVpp {
        routers: routers.into_iter().map(str::to_owned).collect(),
    })
}

/// The first executable file `binary` in `PATH`.
pub fn find_in_path(binary: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(binary))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Write `startup.conf` and `setup.cli` into the config's run directory.
pub fn write_config(cfg: &VppConfig) -> std::io::Result<()> {
    std::fs::create_dir_all(&cfg.run_dir)?;
    std::fs::write(cfg.startup_conf_path(), &cfg.startup_conf)?;
    std::fs::write(cfg.cli_path(), &cfg.cli)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn hawk() -> Topology {
        topology::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../topologies/hawk.yaml"),
        )
        .unwrap()
    }

    #[test]
    fn linux_only_labs_need_no_vpp() {
        assert!(vpp_routers(&hawk()).is_empty());
        assert!(require_vpp(&hawk()).unwrap().is_none());
    }

    #[test]
    fn vpp_routers_are_listed_and_the_binary_is_looked_up() {
        let mut t = hawk();
        t.nodes.get_mut("vpp3").unwrap().backend = RouterBackend::Vpp;
        assert_eq!(vpp_routers(&t), ["vpp3"]);
        match require_vpp(&t) {
            Ok(Some(p)) => assert!(p.ends_with("vpp")),
            Ok(None) => panic!("a VPP router needs the binary"),
            Err(e) => assert!(
                e.to_string().contains("routers vpp3 use backend vpp"),
                "{e}"
            ),
        }
    }

    #[test]
    fn writes_both_files() {
        let dir = std::env::temp_dir().join(format!("labctl-vpp-test-{}", std::process::id()));
        let opts = VppOptions {
            run_dir: dir.clone(),
            main_core: None,
        };
        let cfg = generate_with(&hawk(), "vpp1", &opts).unwrap();
        write_config(&cfg).unwrap();
        let cli = std::fs::read_to_string(cfg.cli_path()).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(cli, cfg.cli);
    }
}
