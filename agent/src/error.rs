//! Why an agent could not start or run.

use crate::config::ConfigError;
use crate::netlink::NetlinkError;
use crate::port::PortError;
use crate::resolve::ResolverError;
use crate::runfiles::RunFilesError;

/// A failure of `run_client` / `run_server`.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    RunFiles(#[from] RunFilesError),
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
    #[error("dataplane: {0}")]
    Dataplane(#[from] PortError),
    #[error(transparent)]
    Resolver(#[from] ResolverError),
    #[error(
        "{0} has no usable global IPv6 address to send path requests from: \
         set client_ipv6_address in the configuration"
    )]
    NoSource(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}
