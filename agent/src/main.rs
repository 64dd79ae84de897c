//! `srv6-agent`: arguments only; the work is in the library.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand, ValueEnum};
use dataplane::{ClientOptions, IngressHook};
use ipnet::Ipv6Net;

use agent::config::Config;
use agent::dataplane_port::Trust;
use agent::runfiles::{self, RUN_DIR};
use agent::{status, ClientArgs, ServerArgs};

/// Steer an application's traffic along SRv6 paths chosen by intent.
///
/// A client agent inserts a Segment Routing Header into the packets of the
/// configured applications (destination address + port + protocol), with
/// SID lists from an intent controller (controller mode) or from its
/// configuration (standalone mode), and strips the SRH of replies. A
/// server agent learns the reversed path of each client flow from trusted
/// sources, strips it, and sends replies back along it. Each agent attaches
/// eBPF programs to one interface, keeps their maps current and removes
/// everything on SIGINT/SIGTERM; `status` shows what a running agent does.
/// Run the agents as root (or with CAP_BPF, CAP_NET_ADMIN). `srv6-agent
/// client --help` and `srv6-agent server --help` explain each mode.
#[derive(Debug, Parser)]
#[command(version, propagate_version = true)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

/// Where the ingress program runs.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Ingress {
    /// TC ingress: keeps GRO; fastest on veth (default).
    Tc,
    /// Native (driver) XDP: for real NICs.
    Xdp,
    /// Generic XDP: works everywhere, turns GRO off on the device.
    XdpGeneric,
}

impl From<Ingress> for IngressHook {
    fn from(i: Ingress) -> IngressHook {
        match i {
            Ingress::Tc => IngressHook::Tc,
            Ingress::Xdp => IngressHook::XdpNative,
            Ingress::XdpGeneric => IngressHook::XdpGeneric,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Output {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Steer the configured applications' traffic (the client agent).
    ///
    /// Controller mode (`--controller URL`, or `hawkeye.enabled` in the
    /// configuration): for every address of every service and every
    /// application's intents (with their values) one path request goes to
    /// the controller on one gRPC stream; each answer is written for exactly
    /// the ports that asked, pushed answers as they come. The `sid` list of
    /// an application stands in until an answer arrives, after an error
    /// answer, and for paths longer than 16 SIDs (refused). Names are
    /// resolved again when their TTL runs out; a changed address is
    /// requested anew and the old one's paths removed. When the controller
    /// goes away the paths stay (fail-static) and the agent reconnects with
    /// backoff, then asks everything again.
    ///
    /// Standalone mode (no controller): the `sid` lists are the paths; names
    /// are resolved by the agent and also snooped in the DNS replies the
    /// host receives, so the application's own lookups are steered too.
    /// Only replies from the resolvers of the namespace's resolv.conf that
    /// answer a query seen leaving are believed, until their TTL; the agent
    /// follows resolv.conf while it runs.
    ///
    /// Each destination's route MTU is lowered by the SRH size before a path
    /// to it grows, and raised only after it shrinks (routes with protocol
    /// 246), so full-size TCP and UDP still fit, live connections included.
    Client {
        /// Interface to attach to (its global address is the request source
        /// unless the configuration sets client_ipv6_address).
        #[arg(long, short)]
        interface: String,
        /// Configuration file (YAML, the original hawkwing format; see
        /// `check-config`).
        #[arg(long, short)]
        config: PathBuf,
        /// Intent controller, e.g. http://[fcbb:cc00:5::f]:5001; overrides
        /// the configuration's hawkeye section.
        #[arg(long)]
        controller: Option<String>,
        /// Capacity of the table of addresses learned from DNS replies
        /// (standalone mode); a full table drops expired entries, then
        /// ignores new answers (counted dns_ignored).
        #[arg(long, value_name = "N", default_value_t = ClientOptions::default().dns_capacity,
              value_parser = clap::value_parser!(u32).range(1..))]
        dns_capacity: u32,
        #[command(flatten)]
        common: Common,
    },
    /// Send replies back along the path each client flow came by (the server agent).
    ///
    /// Learns, for every TCP/UDP flow arriving with an SRH (segments left 0,
    /// addressed to this interface) from a trusted source, the reversed
    /// segment list; strips the SRH; inserts the reversed one on the flow's
    /// replies. Who may set a return path must be said explicitly:
    /// `--trusted-prefix` (repeatable) or `--trust-any`; with neither the
    /// agent refuses to start. Lists naming multicast, link-local, loopback,
    /// unspecified or local addresses are never learned.
    Server {
        /// Interface to attach to.
        #[arg(long, short)]
        interface: String,
        /// Learn return paths only from sources in this prefix (repeatable).
        #[arg(long = "trusted-prefix", value_name = "PREFIX")]
        trusted: Vec<Ipv6Net>,
        /// Learn return paths from any source (spoofing is then the network
        /// edge's to filter, RFC 8754 §5.1).
        #[arg(long, conflicts_with = "trusted")]
        trust_any: bool,
        /// Capacity of the learned-flow table (least recently used flows
        /// are forgotten first).
        #[arg(long, default_value_t = 65536)]
        max_flows: u32,
        #[command(flatten)]
        common: Common,
    },
    /// Show what a running agent does: mode, controller connection, every
    /// (service, address, port, protocol) with its SID list and origin
    /// (config, controller, fallback), DNS names and addresses, learned
    /// flows, counters.
    Status {
        /// The agent on this interface (needed when several run in this
        /// network namespace).
        #[arg(long, short)]
        interface: Option<String>,
        #[arg(long, short, value_enum, default_value_t = Output::Table)]
        output: Output,
        /// Where agents keep their status sockets.
        #[arg(long, default_value = RUN_DIR)]
        run_dir: PathBuf,
    },
    /// Validate a client configuration file and say what it configures.
    ///
    /// Every problem is printed as FILE:LINE:COLUMN: FIELD: MESSAGE; the exit
    /// code is 1 when there is any.
    CheckConfig {
        /// The configuration file.
        file: PathBuf,
    },
}

/// Options of both agents.
#[derive(Debug, clap::Args)]
struct Common {
    /// Hook of the ingress program.
    #[arg(long, value_enum, default_value_t = Ingress::Tc)]
    ingress: Ingress,
    /// Serve counters and path counts in the Prometheus text format on this
    /// address (e.g. [::1]:9464).
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    /// Directory of the lock file and status socket (one agent per
    /// interface and network namespace).
    #[arg(long, default_value = RUN_DIR)]
    run_dir: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.command {
        Command::CheckConfig { file } => return check_config(&file),
        command => run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("srv6-agent: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        match command {
            Command::Client { interface, config, controller, dns_capacity, common } => {
                init_logs();
                let args = ClientArgs {
                    interface,
                    config,
                    controller,
                    ingress: common.ingress.into(),
                    dataplane: ClientOptions { dns_capacity },
                    metrics: common.metrics,
                    run_dir: common.run_dir,
                };
                agent::run_client(args, signal()?).await?;
            }
            Command::Server { interface, trusted, trust_any, max_flows, common } => {
                init_logs();
                let trust = match (trust_any, trusted.is_empty()) {
                    (true, _) => Trust::Any,
                    (false, false) => Trust::Prefixes(trusted),
                    (false, true) => bail!(
                        "say whose packets may set return paths: --trusted-prefix PREFIX (repeatable) or --trust-any"
                    ),
                };
                let args = ServerArgs {
                    interface,
                    trust,
                    max_flows,
                    ingress: common.ingress.into(),
                    metrics: common.metrics,
                    run_dir: common.run_dir,
                };
                agent::run_server(args, signal()?).await?;
            }
            Command::Status { interface, output, run_dir } => {
                show_status(&run_dir, interface.as_deref(), output).await?;
            }
            Command::CheckConfig { .. } => {}
        }
        Ok(())
    })
}

fn init_logs() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
}

/// Completes on the first SIGINT or SIGTERM.
fn signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    })
}

async fn show_status(
    run_dir: &Path,
    interface: Option<&str>,
    output: Output,
) -> anyhow::Result<()> {
    let socket = match interface {
        Some(name) => {
            runfiles::socket_path(run_dir, name).context("reading this network namespace")?
        }
        None => {
            let sockets = runfiles::sockets_here(run_dir)
                .with_context(|| format!("listing {}", run_dir.display()))?;
            match sockets.as_slice() {
                [one] => one.clone(),
                [] => bail!(
                    "no srv6-agent runs in this network namespace ({} has no socket of it)",
                    run_dir.display()
                ),
                many => {
                    let names: Vec<String> = many.iter().map(|p| p.display().to_string()).collect();
                    bail!(
                        "several agents run here; choose one with --interface: {}",
                        names.join(", ")
                    )
                }
            }
        }
    };
    let report = status::query(&socket).await.with_context(|| {
        format!(
            "no agent answers on {} (is one running on that interface?)",
            socket.display()
        )
    })?;
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Output::Table => print!("{}", status::render(&report)),
    }
    Ok(())
}

fn check_config(file: &Path) -> ExitCode {
    match Config::load(file) {
        Ok(config) => {
            for warning in &config.warnings {
                eprintln!("warning: {warning}");
            }
            println!("{}: ok: {}", file.display(), config.summary());
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("{err}");
            ExitCode::FAILURE
        }
    }
}
