//! `mock-controller`: the intent controller binary (arguments only; the work
//! is in the library's `run`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use mock_controller::pathcomp::{Graph, SidMode};
use mock_controller::static_table::StaticTable;
use mock_controller::{Config, ConnectionLimits, Options, Source};

/// Answer intent requests (gRPC `api.IntentController/GetIntentPath`) with
/// SID lists computed exactly on a topology file, and push new results to
/// the asking stream when a link changes through the admin API.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Topology file (the one labctl runs); paths are computed on it.
    #[arg(long, required_unless_present = "static_table")]
    topology: Option<PathBuf>,
    /// Address of the intent service.
    #[arg(long, default_value = "[::]:5001")]
    listen: SocketAddr,
    /// Address of the admin service (link changes, sessions, static entries).
    #[arg(long)]
    admin: Option<SocketAddr>,
    /// Static mode: answer from this YAML table instead of computing paths.
    #[arg(long = "static", value_name = "TABLE")]
    static_table: Option<PathBuf>,
    /// Write the fewest SIDs that still force the path (underlay routes on
    /// the IGP metric) instead of every router except the access routers.
    #[arg(long)]
    minimal_sids: bool,
    /// After a change keep a session's path unless the new best path is
    /// better by more than PCT percent (on the objective's first measure).
    #[arg(long, value_name = "PCT")]
    hysteresis: Option<f64>,
    /// Open connections per service; new ones past it are closed at once
    /// [default: half the descriptor limit less 64, at most 1024].
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    /// Seconds a new connection has to send its HTTP/2 preface.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    handshake_timeout: f64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    // Every connection is a descriptor: allow as many as the system lets
    // this process have.
    match mock_controller::raise_fd_limit() {
        Ok((soft, hard)) => tracing::debug!(soft, hard, "descriptor limit"),
        Err(e) => tracing::warn!("cannot raise the descriptor limit: {e}"),
    }
    anyhow::ensure!(
        args.handshake_timeout.is_finite() && args.handshake_timeout > 0.0,
        "--handshake-timeout: seconds > 0, got {}",
        args.handshake_timeout
    );
    if let Some(h) = args.hysteresis {
        anyhow::ensure!(
            h.is_finite() && h >= 0.0,
            "--hysteresis: a percentage >= 0, got {h}"
        );
    }
    let source = match (&args.static_table, &args.topology) {
        (Some(table), _) => Source::Static(
            StaticTable::load(table)
                .with_context(|| format!("loading static table {}", table.display()))?,
        ),
        (None, Some(topo)) => {
            let t = topology::load(topo)
                .with_context(|| format!("loading topology {}", topo.display()))?;
            Source::Computed(Graph::from_topology(&t))
        }
        (None, None) => anyhow::bail!("give --topology FILE or --static TABLE"),
    };
    let config = Config {
        listen: args.listen,
        admin: args.admin,
        source,
        options: Options {
            sid_mode: if args.minimal_sids {
                SidMode::Minimal
            } else {
                SidMode::AllRouters
            },
            hysteresis_pct: args.hysteresis,
            ..Options::default()
        },
        connections: ConnectionLimits {
            max_connections: args
                .max_connections
                .unwrap_or_else(mock_controller::listener::default_max_connections),
            handshake_timeout: Duration::from_secs_f64(args.handshake_timeout),
        },
    };
    let shutdown = async {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("cannot watch SIGTERM: {e}");
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    };
    mock_controller::run(config, shutdown)
        .await
        .context("mock-controller")
}
