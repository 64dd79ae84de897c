//! srv6-agent: keeps a host's SRv6 dataplane equal to its configuration's
//! intents, the controller's answers and DNS (see `docs/agent.md`).
//!
//! # Layout
//! - [`config`]: the client configuration (the original hawkwing YAML),
//!   located problems; [`schema`]: its JSON Schema.
//! - [`request`]: path requests and how results are matched to them
//!   (destination + intents with values).
//! - [`plan`]: the pure planner, (configuration, controller answers, DNS
//!   answers) -> wanted map state.
//! - [`apply`]: the applier, writes the difference through the
//!   [`port::ClientPort`] all or nothing; [`port`] also has an in-memory port.
//! - [`dataplane_port`]: the real port (the `dataplane` crate, route MTUs
//!   through [`netlink`]); the one file that calls the dataplane API.
//! - [`owner`]: the one thread that owns the dataplane handle, fed by a
//!   bounded channel of [`owner::Update`]s.
//! - [`controller`]: the controller stream (resync, backoff, fail-static);
//!   [`resolve`]: DNS resolution on TTL, resolv.conf (its resolvers are
//!   the dataplane's too) followed while the agent runs.
//! - [`client`] / [`server`]: the two agents, [`client::run_client`] and
//!   [`server::run_server`] (`run(options, shutdown)` entry points);
//!   [`runfiles`]: lock and status socket; [`status`]: the report, its
//!   socket and table; [`metrics`]: Prometheus text format.
//! - `main.rs`: arguments only.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod apply;
pub mod client;
pub mod config;
pub mod controller;
pub mod dataplane_port;
pub mod error;
pub mod metrics;
pub mod netlink;
pub mod owner;
pub mod plan;
pub mod port;
pub mod request;
pub mod resolve;
pub mod runfiles;
pub mod schema;
pub mod server;
pub mod status;

use std::net::SocketAddr;

use tokio::net::{TcpListener, UnixListener};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use client::{run_client, ClientAgent, ClientArgs, ClientSpec};
pub use error::AgentError;
pub use server::{run_server, ServerArgs};

/// The status socket and (optionally) the metrics listener, served until aborted.
#[derive(Debug)]
pub struct Operations {
    tasks: Vec<JoinHandle<()>>,
}

impl Operations {
    pub fn abort(self) {
        for task in self.tasks {
            task.abort();
        }
    }
}

/// Bind the status socket of `runfiles` and the metrics address.
pub async fn serve_operations(
    runfiles: &runfiles::RunFiles,
    metrics: Option<SocketAddr>,
    owner: mpsc::Sender<owner::Update>,
) -> Result<Operations, AgentError> {
    let socket = &runfiles.socket_path;
    let listener = UnixListener::bind(socket).map_err(|source| AgentError::Io {
        what: format!("status socket {}", socket.display()),
        source,
    })?;
    let mut tasks = vec![tokio::spawn(status::serve(listener, owner.clone()))];
    if let Some(addr) = metrics {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| AgentError::Io {
                what: format!("metrics address {addr}"),
                source,
            })?;
        tasks.push(tokio::spawn(metrics::serve(listener, owner)));
    }
    Ok(Operations { tasks })
}
