//! The server agent: attach the server programs (learn the reversed path
//! of each trusted client flow, strip its SRH, re-insert it on replies),
//! then serve status and metrics until shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::SystemTime;

use dataplane::IngressHook;
use tokio::sync::mpsc;
use tracing::{error, info};

use crate::dataplane_port::{ServerDataplanePort, Trust};
use crate::error::AgentError;
use crate::owner::{Identity, OwnerHandle, Update};
use crate::status::{unix_seconds, FlowReport, Report};
use crate::{netlink, runfiles, serve_operations};

/// `srv6-agent server` options.
#[derive(Debug, Clone)]
pub struct ServerArgs {
    pub interface: String,
    pub trust: Trust,
    pub max_flows: u32,
    pub ingress: IngressHook,
    pub metrics: Option<SocketAddr>,
    pub run_dir: PathBuf,
}

fn describe(trust: &Trust) -> String {
    match trust {
        Trust::Any => "any source (--trust-any)".to_owned(),
        Trust::Prefixes(list) => list
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// The server's owner loop: reports and address changes until `Stop`.
fn serve_reports(
    mut port: ServerDataplanePort,
    identity: Identity,
    trust: String,
    mut updates: mpsc::Receiver<Update>,
) {
    while let Some(update) = updates.blocking_recv() {
        match update {
            Update::Report(reply) => {
                let _ = reply.send(report(&port, &identity, &trust));
            }
            Update::Stop => break,
            Update::LocalAddresses(addresses) => match port.set_local_addresses(&addresses) {
                Ok(()) => info!(?addresses, "local addresses changed"),
                Err(err) => error!(error = %err, "local addresses not updated"),
            },
            Update::Result { .. }
            | Update::Dns(_)
            | Update::Controller(_)
            | Update::Resolvers(_)
            | Update::RoutesChanged => {}
        }
    }
}

fn report(port: &ServerDataplanePort, identity: &Identity, trust: &str) -> Report {
    let mut report = Report {
        mode: identity.mode.clone(),
        interface: identity.interface.clone(),
        pid: std::process::id(),
        started_unix: unix_seconds(identity.started),
        programs: identity.programs.clone(),
        trust: Some(trust.to_owned()),
        ..Report::default()
    };
    match port.flows() {
        Ok(flows) => {
            report.flows = flows
                .into_iter()
                .map(|f| FlowReport {
                    peer: f.peer,
                    port: f.port,
                    proto: f.proto,
                    segments: f.segments,
                })
                .collect();
        }
        Err(err) => report.errors.push(err.to_string()),
    }
    match port.local_addresses() {
        Ok(addresses) => report.local_addresses = addresses,
        Err(err) => report.errors.push(err.to_string()),
    }
    match port.counters() {
        Ok(counters) => report.counters = counters.into_iter().collect(),
        Err(err) => report.errors.push(err.to_string()),
    }
    report
}

/// Run a server agent until `shutdown` completes; everything it attached
/// and created is removed before this returns.
pub async fn run_server(
    args: ServerArgs,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AgentError> {
    let runfiles = runfiles::RunFiles::acquire(&args.run_dir, &args.interface)?;
    let handle = netlink::connect()?;
    let interface = netlink::interface(&handle, &args.interface).await?;
    let programs = ServerDataplanePort::programs(args.ingress);
    let identity = Identity {
        mode: "server".into(),
        interface: args.interface.clone(),
        programs: programs.clone(),
        started: SystemTime::now(),
    };
    let trust = describe(&args.trust);
    let (hook, max_flows, trust_option) = (args.ingress, args.max_flows, args.trust.clone());
    let iface = interface.clone();
    let trust_text = trust.clone();
    let owner = OwnerHandle::spawn(
        move || ServerDataplanePort::attach(&iface, hook, max_flows, &trust_option),
        move |port, updates| serve_reports(port, identity, trust_text, updates),
    )
    .await?;
    let operations = match serve_operations(&runfiles, args.metrics, owner.sender()).await {
        Ok(ops) => ops,
        Err(err) => {
            owner.stop().await;
            return Err(err);
        }
    };
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let addresses = tokio::spawn(netlink::watch_addresses(
        handle,
        args.interface.clone(),
        interface.addresses.clone(),
        crate::client::FOLLOW_EVERY,
        owner.sender(),
        stop_rx,
    ));
    info!(
        mode = "server",
        interface = %args.interface,
        programs = %programs,
        local_addresses = ?interface.addresses,
        trusted = %trust,
        map_entries = %format!("server_flows capacity {max_flows} (LRU)"),
        status = %runfiles.socket_path.display(),
        "srv6-agent started"
    );
    shutdown.await;
    info!("stopping: detaching");
    let _ = stop.send(true);
    let _ = addresses.await;
    operations.abort();
    owner.stop().await;
    drop(runfiles);
    info!("stopped");
    Ok(())
}
