//! `labctl`: thin command-line layer over the labctl library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};

/// Build, inspect and tear down SRv6 labs of network namespaces from topology files.
#[derive(Debug, Parser)]
#[command(name = "labctl", version, about)]
struct Cli {
    /// No progress output.
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum OutputArg {
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum GraphFormat {
    Mermaid,
    Dot,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Build the lab of a topology file (namespaces <lab>-<node>, state in /run/labctl/<lab>/).
    Up {
        /// Topology file (YAML).
        file: PathBuf,
        /// Lab name (default: the file's `name`).
        #[arg(long)]
        name: Option<String>,
        /// Tear down a running lab of the same name first.
        #[arg(long)]
        replace: bool,
    },
    /// Remove a lab: processes, namespaces, links, files, state directory.
    Down {
        /// Lab name (default: the only running lab).
        name: Option<String>,
        /// Remove every lab.
        #[arg(long, conflicts_with = "name")]
        all: bool,
    },
    /// Show nodes, addresses, SIDs, processes and links (enforced vs declared properties).
    ///
    /// Exit status: 0 every lab shown is healthy; 3 one is not (up did not
    /// finish, a namespace is missing, a lab process is gone, stopped or
    /// does not answer); 1 the status could not be read.
    Status {
        /// Lab name (default: every running lab).
        name: Option<String>,
        #[arg(long, short, value_enum, default_value = "table")]
        output: OutputArg,
    },
    /// Run a command inside a node's namespace (with the lab's resolv.conf).
    Exec {
        /// Node name.
        node: String,
        /// Lab name (default: the only running lab).
        #[arg(long)]
        lab: Option<String>,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true)]
        cmd: Vec<String>,
    },
    /// Draw a topology file (with --overlay: the paths a scenario run observed).
    Graph {
        file: PathBuf,
        #[arg(long, value_enum, default_value = "mermaid")]
        format: GraphFormat,
        /// A results directory of `labctl run` (results/<scenario>/<run>/):
        /// draw each flow's observed path over the topology, hop by hop.
        #[arg(long, value_name = "RESULTS")]
        overlay: Option<PathBuf>,
    },
    /// Probe what this machine can run, by trying each feature in a scratch namespace.
    ///
    /// Judged against what labctl, `make build` and the topology files need
    /// (`up` and the agents). Exit status: 0 every needed feature is
    /// present; 3 one is missing or could not be tried; 1 an error (a
    /// topology file that does not load).
    Doctor {
        /// Topology files whose needs count (default: topologies/*.yaml under the current directory).
        topologies: Vec<PathBuf>,
        #[arg(long, short, value_enum, default_value = "table")]
        output: OutputArg,
    },
    /// Check a topology or scenario file (or a scenario directory) and report every problem.
    Validate { file: PathBuf },
    /// (internal) The lab DNS server, started by `up` inside the dns namespace.
    #[command(name = "__dns", hide = true)]
    Dns {
        #[arg(long)]
        lab: String,
        #[arg(long)]
        state: PathBuf,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LABCTL_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("labctl: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.cmd {
        Cmd::Up {
            file,
            name,
            replace,
        } => {
            let exe = std::env::current_exe().context("locating the labctl binary")?;
            let opts = labctl::up::UpOptions {
                file: file.clone(),
                name,
                replace,
                quiet: cli.quiet,
                exe,
            };
            labctl::up::run(&opts).with_context(|| format!("labctl up {}", file.display()))?;
        }
        Cmd::Down { name, all } => {
            let removed = labctl::down::run(&labctl::down::DownOptions { name, all })
                .context("labctl down")?;
            for r in removed {
                // Skipped journal lines are reported even with --quiet.
                for line in &r.skipped {
                    eprintln!("labctl: warning: journal line skipped: {line}");
                }
                if !cli.quiet {
                    eprintln!(
                        "labctl: lab {} down ({} namespaces, {} processes removed)",
                        r.lab, r.namespaces, r.processes
                    );
                }
            }
        }
        Cmd::Status { name, output } => {
            let output = match output {
                OutputArg::Table => labctl::status::Output::Table,
                OutputArg::Json => labctl::status::Output::Json,
            };
            let report = labctl::status::run(name.as_deref(), output).context("labctl status")?;
            println!("{}", report.text.trim_end());
            if !report.healthy {
                return Ok(ExitCode::from(labctl::status::EXIT_UNHEALTHY));
            }
        }
        Cmd::Exec { node, lab, cmd } => {
            let code = labctl::exec::run(&node, lab.as_deref(), &cmd)
                .with_context(|| format!("labctl exec {node}"))?;
            return Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)));
        }
        Cmd::Graph {
            file,
            format,
            overlay,
        } => {
            let format = match format {
                GraphFormat::Mermaid => labctl::graph::GraphFormat::Mermaid,
                GraphFormat::Dot => labctl::graph::GraphFormat::Dot,
            };
            let drawn = match overlay {
                Some(dir) => {
                    labctl::overlay::graph_overlay(&file, &dir, format).map_err(|e| e.to_string())
                }
                None => labctl::graph::graph(&file, format).map_err(|e| e.to_string()),
            };
            match drawn {
                Ok(text) => println!("{}", text.trim_end()),
                Err(e) => {
                    eprintln!("{e}");
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
        Cmd::Doctor { topologies, output } => {
            let files = if topologies.is_empty() {
                labctl::doctor::default_topologies()
            } else {
                topologies
            };
            let needs = labctl::doctor::needs_of_files(&files).context("labctl doctor")?;
            let report = labctl::doctor::doctor(&needs);
            match output {
                OutputArg::Table => print!("{}", report.to_table()),
                OutputArg::Json => println!("{}", report.to_json().context("labctl doctor")?),
            }
            if !report.ok() {
                return Ok(ExitCode::from(labctl::doctor::EXIT_MISSING));
            }
        }
        Cmd::Validate { file } => match labctl::scenario::validate_file(&file) {
            Ok(summary) => println!("{summary}"),
            Err(e) => {
                // Every problem, one per line, each naming file:line:column and field.
                eprintln!("{e}");
                return Ok(ExitCode::FAILURE);
            }
        },
        Cmd::Dns { lab, state } => {
            labctl::dns::run_child(&state).with_context(|| format!("dns server of lab {lab}"))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
