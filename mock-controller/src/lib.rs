//! Intent controller: answers intent requests with SID lists computed
//! exactly on the lab's topology, and pushes new results when the network
//! changes.
//!
//! # Layout
//! - [`pathcomp`]: the pure graph, exact constrained path search (with a
//!   work budget and a cancel flag), SID lists on `topology::routes`'
//!   underlay.
//! - [`topo`]: the topology model (crate `topology`) as a [`pathcomp::Graph`].
//! - [`intents`]: wire requests -> validated intents -> a path query (the
//!   combination rule lives here).
//! - [`static_table`]: the static mode's YAML table.
//! - [`controller`]: streams, sessions, recomputation and pushes; path
//!   searches run on a snapshot of the network, never under the lock every
//!   stream and the admin API share; bounded per-stream result queues.
//! - [`server`]: the gRPC services (intent stream + admin) and the admin
//!   client [`server::set_link`] used by `labctl link set`.
//! - [`listener`]: accepting connections within limits (connection limit,
//!   handshake timeout, descriptor limit without a busy loop).
//! - [`run`] / [`bind`]: the entry points; `main.rs` only parses arguments.
//!
//! The format and behaviour reference is `docs/controller.md`.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod controller;
pub mod intents;
pub mod listener;
pub mod pathcomp;
pub mod server;
pub mod static_table;
pub mod topo;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use intent_proto::api::{
    controller_admin_server::ControllerAdminServer,
    intent_controller_server::IntentControllerServer,
};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::info;

pub use controller::{Controller, Limits, Options, Source};
/// The wire types (`intent-proto`), re-exported for admin-API callers.
pub use intent_proto::api;
pub use listener::{raise_fd_limit, ConnectionLimits};
pub use server::{set_link, AdminClient, AdminClientError, MAX_MESSAGE_BYTES};

/// What to serve and where.
#[derive(Debug, Clone)]
pub struct Config {
    /// The intent service (`GetIntentPath`).
    pub listen: SocketAddr,
    /// The admin service, on its own address.
    pub admin: Option<SocketAddr>,
    pub source: Source,
    pub options: Options,
    /// Connections per service and the handshake timeout.
    pub connections: ConnectionLimits,
}

/// Errors of [`run`].
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("gRPC server failed: {0}")]
    Serve(#[from] tonic::transport::Error),
}

/// Listening sockets and the controller, before serving (tests bind port 0
/// and read the real addresses here).
#[derive(Debug)]
pub struct Bound {
    intent: TcpListener,
    admin: Option<TcpListener>,
    ctrl: Controller,
    connections: ConnectionLimits,
}

async fn listen(addr: SocketAddr) -> Result<TcpListener, RunError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| RunError::Bind { addr, source })
}

/// Bind the listening sockets.
pub async fn bind(config: Config) -> Result<Bound, RunError> {
    let intent = listen(config.listen).await?;
    let admin = match config.admin {
        Some(a) => Some(listen(a).await?),
        None => None,
    };
    Ok(Bound {
        intent,
        admin,
        ctrl: Controller::new(config.source, config.options),
        connections: config.connections,
    })
}

impl Bound {
    /// Address of the intent service.
    pub fn intent_addr(&self) -> std::io::Result<SocketAddr> {
        self.intent.local_addr()
    }

    /// Address of the admin service, if any.
    pub fn admin_addr(&self) -> Option<std::io::Result<SocketAddr>> {
        self.admin.as_ref().map(TcpListener::local_addr)
    }

    /// The controller (to inspect sessions in tests).
    pub fn controller(&self) -> Controller {
        self.ctrl.clone()
    }

    /// Serve until `shutdown` completes; then every open stream is ended and
    /// both servers drain.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), RunError> {
        let (tx, rx) = watch::channel(false);
        let signal = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let intent_addr = self.intent.local_addr().ok();
        info!(addr = ?intent_addr, "intent service listening");
        let limits = self.connections;
        // HTTP/2 keepalive finds peers that vanished after the handshake.
        let server = || {
            tonic::transport::Server::builder()
                .http2_keepalive_interval(Some(Duration::from_secs(10)))
                .http2_keepalive_timeout(Some(Duration::from_secs(20)))
        };
        let intent = server()
            .add_service(
                IntentControllerServer::new(server::IntentService {
                    ctrl: self.ctrl.clone(),
                })
                .max_decoding_message_size(MAX_MESSAGE_BYTES),
            )
            .serve_with_incoming_shutdown(
                listener::incoming(self.intent, "intent", limits),
                signal(rx.clone()),
            );
        let admin = self.admin.map(|l| {
            info!(addr = ?l.local_addr().ok(), "admin service listening");
            server()
                .add_service(
                    ControllerAdminServer::new(server::AdminService {
                        ctrl: self.ctrl.clone(),
                    })
                    .max_decoding_message_size(MAX_MESSAGE_BYTES),
                )
                .serve_with_incoming_shutdown(
                    listener::incoming(l, "admin", limits),
                    signal(rx.clone()),
                )
        });
        let ctrl = self.ctrl.clone();
        let stopper = async move {
            shutdown.await;
            info!("shutting down");
            ctrl.close_all();
            let _ = tx.send(true);
        };
        let servers = async {
            match admin {
                Some(admin) => tokio::try_join!(intent, admin).map(|_| ()),
                None => intent.await,
            }
        };
        tokio::pin!(servers, stopper);
        tokio::select! {
            // A server failed before shutdown was asked for.
            r = &mut servers => return r.map_err(RunError::from),
            () = &mut stopper => {}
        }
        servers.await.map_err(RunError::from)
    }
}

/// Bind and serve until `shutdown` completes.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), RunError> {
    bind(config).await?.serve(shutdown).await
}
