//! The client agent: [`ClientAgent`] wires the owner thread, the DNS tasks
//! and the controller stream together (embeddable, any [`ClientPort`]);
//! [`run_client`] is the whole `srv6-agent client`: lock, interface,
//! dataplane, status socket, metrics, until shutdown.

use std::collections::BTreeSet;
use std::future::Future;
use std::net::{Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use dataplane::{ClientOptions, IngressHook};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use crate::config::{Config, Target};
use crate::controller::{self, Backoff, ControllerOptions};
use crate::dataplane_port::ClientDataplanePort;
use crate::error::AgentError;
use crate::owner::{ClientOwner, Identity, OwnerHandle};
use crate::plan::Mode;
use crate::port::{ClientPort, PortError};
use crate::request::RequestKey;
use crate::resolve::{self, HickoryLookup, Lookup, Refresh, ResolvConf, RESOLV_CONF};
use crate::status::Report;
use crate::{netlink, runfiles, serve_operations};

/// What a client agent runs with.
#[derive(Debug)]
pub struct ClientSpec<L> {
    pub config: Config,
    /// Source address of path requests.
    pub source: Ipv6Addr,
    /// The controller (controller mode), or None (standalone mode).
    pub controller: Option<String>,
    pub backoff: Backoff,
    pub lookup: Arc<L>,
    pub refresh: Refresh,
    /// Whose DNS replies the dataplane believes (resolv.conf's resolvers;
    /// later changes arrive as [`crate::owner::Update::Resolvers`]).
    pub resolvers: Vec<Ipv6Addr>,
    /// Interface and programs, for reports.
    pub interface: String,
    pub programs: String,
}

/// A running client agent.
#[derive(Debug)]
pub struct ClientAgent {
    owner: OwnerHandle,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl ClientAgent {
    /// Build the port on the owner thread (`make_port`), apply what the
    /// configuration already says, then (once that is in the maps) start
    /// resolving names and (controller mode) the controller stream.
    pub async fn start<P, F, L>(spec: ClientSpec<L>, make_port: F) -> Result<ClientAgent, PortError>
    where
        P: ClientPort + 'static,
        F: FnOnce() -> Result<P, PortError> + Send + 'static,
        L: Lookup,
    {
        let mode = if spec.controller.is_some() {
            Mode::Controller
        } else {
            Mode::Standalone
        };
        let identity = Identity {
            mode: match mode {
                Mode::Controller => "client (controller)".into(),
                Mode::Standalone => "client (standalone)".into(),
            },
            interface: spec.interface.clone(),
            programs: spec.programs.clone(),
            started: SystemTime::now(),
        };
        let names: Vec<String> = spec
            .config
            .services
            .iter()
            .filter_map(|s| match &s.target {
                Target::Name(n) => Some(n.clone()),
                Target::Addresses(_) => None,
            })
            .collect();
        let (requests_tx, requests_rx) = watch::channel(BTreeSet::<RequestKey>::new());
        let (stop, stop_rx) = watch::channel(false);
        let (config, source) = (spec.config, spec.source);
        let resolvers = spec.resolvers;
        // The resolvers, the names to snoop and the configuration's paths
        // are in the maps before the agent's first query leaves: the
        // dataplane notes a query only while it snoops a name, so a query
        // sent earlier would have its reply counted unsolicited.
        let make_owner = move || {
            let mut port = make_port()?;
            port.set_resolvers(&resolvers)?;
            info!(?resolvers, "DNS replies believed from these resolvers");
            Ok(ClientOwner::new(
                config,
                mode,
                source,
                identity,
                port,
                requests_tx,
            ))
        };
        let owner = OwnerHandle::spawn(make_owner, |owner, updates| owner.run(updates)).await?;
        let mut tasks = Vec::new();
        for name in names {
            tasks.push(tokio::spawn(resolve::resolve_forever(
                spec.lookup.clone(),
                name,
                spec.refresh,
                owner.sender(),
                stop_rx.clone(),
            )));
        }
        if let Some(url) = spec.controller {
            let options = ControllerOptions {
                url,
                source,
                backoff: spec.backoff,
            };
            tasks.push(tokio::spawn(controller::run(
                options,
                requests_rx,
                owner.sender(),
                stop_rx.clone(),
            )));
        }
        Ok(ClientAgent { owner, stop, tasks })
    }

    /// Follow resolv.conf at `path` (its text now: `current`): lookups and
    /// the dataplane's resolvers change with it.
    pub fn follow_resolv_conf(
        &mut self,
        path: PathBuf,
        current: Vec<u8>,
        every: Duration,
        lookup: Arc<HickoryLookup>,
    ) {
        self.tasks.push(tokio::spawn(resolve::watch_resolv_conf(
            path,
            current,
            every,
            lookup,
            self.owner.sender(),
            self.stop.subscribe(),
        )));
    }

    /// Follow `interface`'s addresses (the dataplane's local addresses),
    /// reading them every `every` through `handle`.
    pub fn follow_addresses(
        &mut self,
        handle: rtnetlink::Handle,
        interface: &netlink::Interface,
        every: Duration,
    ) {
        self.tasks.push(tokio::spawn(netlink::watch_addresses(
            handle,
            interface.name.clone(),
            interface.addresses.clone(),
            every,
            self.owner.sender(),
            self.stop.subscribe(),
        )));
    }

    /// Follow the namespace's IPv6 routes: on a change the paths' handoffs
    /// are chosen again (docs/dataplane.md, "Handoff").
    pub fn follow_routes(&mut self) {
        let (owner, stop) = (self.owner.sender(), self.stop.subscribe());
        self.tasks.push(tokio::spawn(async move {
            if let Err(err) = netlink::watch_routes(owner, stop).await {
                error!(error = %err, "route changes not followed: handoffs stay as written");
            }
        }));
    }

    pub fn owner(&self) -> &OwnerHandle {
        &self.owner
    }

    /// The current report (maps read back).
    pub async fn report(&self) -> Option<Report> {
        self.owner.report().await
    }

    /// Stop the tasks, then the owner (which removes every path it wrote
    /// and releases the dataplane).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        self.owner.stop().await;
    }
}

/// How often the agents look at resolv.conf (client) and at the
/// interface's addresses (both).
pub const FOLLOW_EVERY: Duration = Duration::from_secs(2);

/// `srv6-agent client` options.
#[derive(Debug, Clone)]
pub struct ClientArgs {
    pub interface: String,
    pub config: PathBuf,
    /// Overrides the configuration's `hawkeye`.
    pub controller: Option<String>,
    pub ingress: IngressHook,
    /// The dataplane's map capacities (the DNS-learned address table).
    pub dataplane: ClientOptions,
    pub metrics: Option<SocketAddr>,
    pub run_dir: PathBuf,
}

/// Run a client agent until `shutdown` completes; everything it attached,
/// wrote and created is removed before this returns.
pub async fn run_client(
    args: ClientArgs,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AgentError> {
    let config = Config::load(&args.config)?;
    for warning in &config.warnings {
        warn!("{warning}");
    }
    let runfiles = runfiles::RunFiles::acquire(&args.run_dir, &args.interface)?;
    let handle = netlink::connect()?;
    let interface = netlink::interface(&handle, &args.interface).await?;
    let (resolv_conf, resolv_bytes) = read_resolv_conf(&config)?;
    let lookup = Arc::new(HickoryLookup::from_conf(&resolv_conf)?);
    let startup = StartupLine {
        interface: args.interface.clone(),
        mtu: interface.mtu,
        source: request_source(&config, &interface)?,
        controller: args
            .controller
            .clone()
            .or_else(|| config.controller.clone()),
        resolvers: resolv_conf.resolvers.clone(),
        programs: ClientDataplanePort::programs(args.ingress),
        services: config.services.len(),
        dns_capacity: args.dataplane.dns_capacity,
        summary: config.summary(),
    };
    let spec = ClientSpec {
        config,
        source: startup.source,
        controller: startup.controller.clone(),
        backoff: Backoff::default(),
        lookup: lookup.clone(),
        refresh: Refresh::default(),
        resolvers: resolv_conf.resolvers,
        interface: args.interface.clone(),
        programs: startup.programs.clone(),
    };
    let (hook, options, iface) = (args.ingress, args.dataplane, interface.clone());
    let attach = move || ClientDataplanePort::attach(&iface, hook, options);
    let mut agent = ClientAgent::start(spec, attach).await?;
    agent.follow_resolv_conf(
        PathBuf::from(RESOLV_CONF),
        resolv_bytes,
        FOLLOW_EVERY,
        lookup,
    );
    agent.follow_addresses(handle, &interface, FOLLOW_EVERY);
    agent.follow_routes();
    let operations = match serve_operations(&runfiles, args.metrics, agent.owner().sender()).await {
        Ok(ops) => ops,
        Err(err) => {
            agent.stop().await;
            return Err(err);
        }
    };
    startup.log(&agent, &runfiles).await;
    shutdown.await;
    info!("stopping: removing paths and detaching");
    operations.abort();
    agent.stop().await;
    drop(runfiles);
    info!("stopped");
    Ok(())
}

/// The source of path requests: the configuration's `client_ipv6_address`,
/// else the interface's first usable global address (never link-local).
fn request_source(config: &Config, interface: &netlink::Interface) -> Result<Ipv6Addr, AgentError> {
    config
        .source
        .or_else(|| interface.global.first().copied())
        .ok_or_else(|| AgentError::NoSource(interface.name.clone()))
}

/// The namespace's resolv.conf and its text. Without one the agent runs
/// only when the configuration names no service by `domain_name`.
fn read_resolv_conf(config: &Config) -> Result<(ResolvConf, Vec<u8>), AgentError> {
    let has_names = config
        .services
        .iter()
        .any(|s| matches!(s.target, Target::Name(_)));
    match ResolvConf::read(Path::new(RESOLV_CONF)) {
        Ok(read) => Ok(read),
        Err(err) if !has_names => {
            warn!(error = %err, "no usable resolv.conf (no name to resolve)");
            Ok((ResolvConf::empty(), Vec::new()))
        }
        Err(err) => Err(err.into()),
    }
}

/// What the client's start-up line says besides the maps' contents.
struct StartupLine {
    interface: String,
    mtu: u32,
    source: Ipv6Addr,
    controller: Option<String>,
    resolvers: Vec<Ipv6Addr>,
    programs: String,
    services: usize,
    dns_capacity: u32,
    summary: String,
}

impl StartupLine {
    /// Log the line, with the map entries `agent` reports now.
    async fn log(&self, agent: &ClientAgent, runfiles: &runfiles::RunFiles) {
        let (paths, names) = agent
            .report()
            .await
            .map_or((0, 0), |r| (r.paths.len(), r.dns.len()));
        let mode = match self.controller {
            Some(_) => "client (controller)",
            None => "client (standalone)",
        };
        info!(
            mode,
            interface = %self.interface,
            mtu = self.mtu,
            source = %self.source,
            controller = self.controller.as_deref().unwrap_or("none"),
            resolvers = ?self.resolvers,
            programs = %self.programs,
            services = self.services,
            map_entries = %format!("{paths} paths, {names} names"),
            dns_capacity = self.dns_capacity,
            status = %runfiles.socket_path.display(),
            "srv6-agent started: {}",
            self.summary
        );
    }
}
