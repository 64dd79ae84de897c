//! `labctl`: thin command-line layer over the labctl library.

use std::io::Write;
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

/// The one `--output` flag of every verb that reports (status, check, doctor, validate).
#[derive(Debug, Clone, Copy, clap::Args)]
struct OutputOpt {
    /// Output format.
    #[arg(long, short, value_enum, default_value = "table")]
    output: OutputArg,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum GraphFormat {
    Mermaid,
    Dot,
    /// Rendered by Graphviz's `dot` (must be installed).
    Svg,
    /// Rendered by Graphviz's `dot` (must be installed).
    Png,
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
    ///
    /// A NAME that is not running is an error that lists the running labs.
    Down {
        /// Lab name (default: the only running lab).
        name: Option<String>,
        /// Remove every lab.
        #[arg(long, conflicts_with = "name")]
        all: bool,
    },
    /// Show nodes, links and the lab's processes (DNS, controller, agents) with liveness.
    ///
    /// The table has one row per node and per link, values in the topology
    /// file's units (`1gbit`, `4ms`), both directions on one row when they
    /// agree (`→ A-TO-B ← B-TO-A` when not), zeros and the values most links
    /// share left out (said once under the links), `~` after a value the
    /// kernel does not enforce (declared only); it fits the terminal (or
    /// COLUMNS) and is coloured on a terminal unless NO_COLOR is set.
    /// `--wide`: every address, namespace, interface, pid and property per
    /// direction. `--output json`: every detail, always a list of labs,
    /// numbers as numbers.
    ///
    /// Exit status: 0 every lab shown is healthy; 3 one is not (up did not
    /// finish, a namespace is missing, a lab process is gone, stopped or
    /// does not answer); 1 the status could not be read.
    Status {
        /// Lab name (default: every running lab).
        name: Option<String>,
        /// Every detail in the table (addresses, namespaces, interfaces, pids, each direction).
        #[arg(long)]
        wide: bool,
        #[command(flatten)]
        output: OutputOpt,
    },
    /// Smoke-test a running lab: every end system reaches every other, the
    /// lab DNS answers every name, every SID is reachable.
    ///
    /// One named result per check (`reach A -> B`, `dns NAME`, `sid NODE
    /// SID`). Exit status: 0 every check passed; 3 one failed; 1 the checks
    /// could not be run.
    Check {
        /// Lab name (default: the only running lab).
        name: Option<String>,
        #[command(flatten)]
        output: OutputOpt,
        /// Seconds each check waits for its answer.
        #[arg(long, default_value_t = labctl::check::DEFAULT_WAIT.as_secs_f64())]
        wait: f64,
    },
    /// Run a command inside a node's namespace (with the lab's hosts and resolv.conf, the node's name as host name).
    ///
    /// Exit status: the command's (128 + signal when killed); 127 when the
    /// command does not exist and 126 when it may not be executed, as a shell.
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
    /// Draw a topology file as declared, or a running lab as the kernel has
    /// it (links down drawn dashed and marked down).
    ///
    /// With --overlay: the paths a scenario run observed. svg and png are
    /// rendered by Graphviz's `dot`, which must be installed.
    Graph {
        /// A topology file (an existing file, or a path with `/` or a .yaml ending), or a running lab's name.
        #[arg(value_name = "FILE|LAB")]
        target: String,
        /// Drawing format (svg and png are rendered by Graphviz's `dot`).
        #[arg(long, value_enum, default_value = "mermaid")]
        format: GraphFormat,
        /// Write to this file instead of standard output.
        #[arg(long, value_name = "PATH")]
        out: Option<PathBuf>,
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
        #[command(flatten)]
        output: OutputOpt,
    },
    /// Check a topology or scenario file (or a scenario directory) and report every problem.
    ///
    /// Exit status: 0 valid; 1 not (every problem, file:line:column: field: message).
    Validate {
        file: PathBuf,
        #[command(flatten)]
        output: OutputOpt,
    },
    /// Run a scenario: its lab (reused when one of its topology runs, else
    /// brought up and down), agents and controller as it says, its steps
    /// with a capture on every link, then every expectation judged on the
    /// captured packets.
    ///
    /// Prints the verdict table (or the report as JSON) on stdout, progress
    /// per step on stderr, and writes pcaps per link, the report (JSON,
    /// JUnit) and the observed paths drawn under RESULTS/<scenario>/<run>/.
    /// Exit status: 0 every expectation passed; 1 one failed; 2 the
    /// scenario is invalid or the run could not be made; 3 skipped (this
    /// machine lacks a feature the scenario needs).
    Run {
        /// Scenario directory (holding scenario.yaml) or file.
        scenario: PathBuf,
        /// Lab name (default: the topology's name). A running lab of that
        /// name and topology is reused; otherwise one is brought up under it.
        #[arg(long)]
        name: Option<String>,
        /// Leave a lab this run brought up running.
        #[arg(long)]
        keep: bool,
        #[command(flatten)]
        output: OutputOpt,
        /// Also write the report as JUnit XML here.
        #[arg(long, value_name = "PATH")]
        junit: Option<PathBuf>,
        /// Where results/<scenario>/<run>/ goes.
        #[arg(long, default_value = "results", value_name = "DIR")]
        results: PathBuf,
        /// Run every router on this backend (a lab brought up by this run).
        #[arg(long, value_enum)]
        router_backend: Option<BackendArg>,
    },
    /// Change a link of a running lab (`labctl link set A B ...`).
    Link {
        #[command(subcommand)]
        cmd: LinkCmd,
    },
    /// (internal) The lab DNS server, started by `up` inside the dns namespace.
    #[command(name = "__dns", hide = true)]
    Dns {
        #[arg(long)]
        lab: String,
        #[arg(long)]
        state: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum LinkCmd {
    /// Change the link between A and B: in the kernel what it can enforce
    /// (state: both ends down/up; bandwidth: the sending interface's tbf;
    /// loss: the BPF dropper; state and metric: the underlay's routes
    /// computed again and replaced where they changed), and tell the lab's
    /// controller everything (latency, jitter and utilization are known to
    /// it only). Prints, per property, whether it was enforced or declared.
    Set {
        a: String,
        b: String,
        /// Lab name (default: the only running lab).
        #[arg(long)]
        lab: Option<String>,
        /// Take the link down (both ends).
        #[arg(long, conflicts_with = "up")]
        down: bool,
        /// Bring the link up (both ends; waits for carrier).
        #[arg(long)]
        up: bool,
        /// e.g. 10mbit, 1gbit.
        #[arg(long)]
        bandwidth: Option<String>,
        /// e.g. 4ms, 500us.
        #[arg(long)]
        latency: Option<String>,
        #[arg(long)]
        jitter: Option<String>,
        /// Percent, e.g. 0.5 or 2%.
        #[arg(long)]
        loss: Option<String>,
        /// Percent.
        #[arg(long)]
        utilization: Option<String>,
        /// IGP metric (the underlay's shortest paths and the controller's measure).
        #[arg(long)]
        metric: Option<u32>,
        /// Which direction the properties apply to, relative to A B.
        #[arg(long, value_enum, default_value = "both")]
        direction: DirectionArg,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum BackendArg {
    Linux,
    Vpp,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DirectionArg {
    Both,
    AToB,
    BToA,
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

/// The verbs that enter namespaces or signal lab processes, for the
/// privilege check before them.
fn privileged_verb(cmd: &Cmd) -> Option<&'static str> {
    match cmd {
        Cmd::Down { .. } => Some("down"),
        Cmd::Status { .. } => Some("status"),
        Cmd::Check { .. } => Some("check"),
        Cmd::Exec { .. } => Some("exec"),
        Cmd::Link { .. } => Some("link set"),
        Cmd::Graph { target, .. } => matches!(
            labctl::graph::Target::of(target),
            labctl::graph::Target::Lab(_)
        )
        .then_some("graph"),
        // `up` and `run` check their own needs (privileges among them).
        Cmd::Up { .. }
        | Cmd::Run { .. }
        | Cmd::Doctor { .. }
        | Cmd::Validate { .. }
        | Cmd::Dns { .. } => None,
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    if let Some(verb) = privileged_verb(&cli.cmd) {
        labctl::doctor::require_privileges(verb).with_context(|| format!("labctl {verb}"))?;
    }
    let quiet = cli.quiet;
    match cli.cmd {
        Cmd::Up {
            file,
            name,
            replace,
        } => up(file, name, replace, quiet),
        Cmd::Down { name, all } => down(name, all, quiet),
        Cmd::Status { name, wide, output } => status(name.as_deref(), wide, output.output),
        Cmd::Check { name, output, wait } => check(name.as_deref(), output.output, wait),
        Cmd::Exec { node, lab, cmd } => exec(&node, lab.as_deref(), &cmd),
        Cmd::Graph {
            target,
            format,
            out,
            overlay,
        } => graph(&target, format, out.as_deref(), overlay.as_deref()),
        Cmd::Doctor { topologies, output } => doctor(topologies, output.output),
        Cmd::Validate { file, output } => validate(&file, output.output),
        Cmd::Link { cmd } => link_set(cmd, quiet).map(|()| ExitCode::SUCCESS),
        Cmd::Run {
            scenario,
            name,
            keep,
            output,
            junit,
            results,
            router_backend,
        } => {
            let opts = labctl::run::RunOptions {
                scenario,
                lab: labctl::run::LabChoice {
                    name,
                    quiet,
                    exe: std::env::current_exe().context("locating the labctl binary")?,
                    router_backend: router_backend.map(|b| match b {
                        BackendArg::Linux => topology::RouterBackend::Linux,
                        BackendArg::Vpp => topology::RouterBackend::Vpp,
                    }),
                },
                keep,
                json: matches!(output.output, OutputArg::Json),
                junit,
                results,
                width: table_width(),
            };
            Ok(ExitCode::from(labctl::run::run(&opts).exit))
        }
        Cmd::Dns { lab, state } => {
            labctl::dns::run_child(&state).with_context(|| format!("dns server of lab {lab}"))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn up(file: PathBuf, name: Option<String>, replace: bool, quiet: bool) -> Result<ExitCode> {
    let exe = std::env::current_exe().context("locating the labctl binary")?;
    let opts = labctl::up::UpOptions {
        file: file.clone(),
        name,
        replace,
        quiet,
        exe,
        router_backend: None,
    };
    labctl::up::run(&opts).with_context(|| format!("labctl up {}", file.display()))?;
    Ok(ExitCode::SUCCESS)
}

fn down(name: Option<String>, all: bool, quiet: bool) -> Result<ExitCode> {
    let removed =
        labctl::down::run(&labctl::down::DownOptions { name, all }).context("labctl down")?;
    for r in removed {
        // Skipped journal lines are reported even with --quiet.
        for line in &r.skipped {
            eprintln!("labctl: warning: journal line skipped: {line}");
        }
        if !quiet {
            eprintln!(
                "labctl: lab {} down ({} namespaces, {} processes removed)",
                r.lab, r.namespaces, r.processes
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn status(name: Option<&str>, wide: bool, output: OutputArg) -> Result<ExitCode> {
    let style = labctl::status::table::Style::for_stdout();
    let output = match (output, wide) {
        (OutputArg::Table, false) => labctl::status::Output::Table(style),
        (OutputArg::Table, true) => labctl::status::Output::Wide(style),
        (OutputArg::Json, _) => labctl::status::Output::Json,
    };
    let report = labctl::status::run(name, output).context("labctl status")?;
    println!("{}", report.text.trim_end());
    Ok(if report.healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(labctl::status::EXIT_UNHEALTHY)
    })
}

fn check(name: Option<&str>, output: OutputArg, wait: f64) -> Result<ExitCode> {
    let wait = std::time::Duration::try_from_secs_f64(wait)
        .context("labctl check: --wait must be a number of seconds")?;
    let report = labctl::check::run(name, wait).context("labctl check")?;
    match output {
        OutputArg::Table => print!("{}", report.to_table()),
        OutputArg::Json => println!("{}", report.to_json().context("labctl check")?),
    }
    Ok(if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(labctl::check::EXIT_FAILED)
    })
}

/// `labctl exec`: the command's own exit code; 126/127 as a shell gives them.
fn exec(node: &str, lab: Option<&str>, cmd: &[String]) -> Result<ExitCode> {
    match labctl::exec::run(node, lab, cmd) {
        Ok(code) => Ok(ExitCode::from(u8::try_from(code).unwrap_or(1))),
        Err(e) => match labctl::exec::shell_exit_code(&e) {
            Some(code) => {
                eprintln!("labctl: exec: {e}");
                Ok(ExitCode::from(code))
            }
            None => Err(e).with_context(|| format!("labctl exec {node}")),
        },
    }
}

fn doctor(topologies: Vec<PathBuf>, output: OutputArg) -> Result<ExitCode> {
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
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(labctl::doctor::EXIT_MISSING)
    })
}

fn validate(file: &std::path::Path, output: OutputArg) -> Result<ExitCode> {
    let outcome = labctl::scenario::validate_file(file);
    match (output, &outcome) {
        (OutputArg::Json, _) => {
            let report = labctl::validate::Report::of(file, &outcome);
            let text = serde_json::to_string_pretty(&report).context("labctl validate")?;
            println!("{text}");
        }
        (OutputArg::Table, Ok(summary)) => println!("{summary}"),
        // Every problem, one per line, each naming file:line:column and field.
        (OutputArg::Table, Err(e)) => eprintln!("{e}"),
    }
    Ok(if outcome.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `labctl link set`: parse the units, find the link, apply, print what was
/// enforced and what declared.
fn link_set(cmd: LinkCmd, quiet: bool) -> Result<()> {
    use labctl::scenario::LinkDirection;
    use topology::units::{parse_bandwidth_kbps, parse_duration_us, parse_percent};
    let LinkCmd::Set {
        a,
        b,
        lab,
        down,
        up,
        bandwidth,
        latency,
        jitter,
        loss,
        utilization,
        metric,
        direction,
    } = cmd;
    let unit = |v: Option<String>, what: &str, parse: fn(&str) -> Result<u64, String>| {
        v.map(|t| parse(&t).map_err(|e| anyhow::anyhow!("--{what} {t}: {e}")))
            .transpose()
    };
    let pct = |v: Option<String>, what: &str| {
        v.map(|t| parse_percent(&t).map_err(|e| anyhow::anyhow!("--{what} {t}: {e}")))
            .transpose()
    };
    let props = topology::LinkProps {
        bandwidth_kbps: unit(bandwidth, "bandwidth", parse_bandwidth_kbps)?,
        latency_us: unit(latency, "latency", parse_duration_us)?,
        jitter_us: unit(jitter, "jitter", parse_duration_us)?,
        loss_pct: pct(loss, "loss")?,
        utilization_pct: pct(utilization, "utilization")?,
    };
    let state = match (down, up) {
        (true, _) => Some(false),
        (_, true) => Some(true),
        _ => None,
    };
    anyhow::ensure!(
        state.is_some() || metric.is_some() || props != topology::LinkProps::default(),
        "nothing to change: give --down, --up, --bandwidth, --latency, --jitter, --loss, --utilization or --metric"
    );
    let direction = match direction {
        DirectionArg::Both => LinkDirection::Both,
        DirectionArg::AToB => LinkDirection::AToB,
        DirectionArg::BToA => LinkDirection::BToA,
    };
    let lab = labctl::state::select_lab(lab.as_deref(), "pass --lab NAME")?;
    let topo = labctl::status::lab_topology(&lab)?;
    let change = labctl::link::change_between(&topo, &a, &b, direction, state, props, metric)?;
    let report =
        labctl::link::set(&lab, &change).with_context(|| format!("labctl link set {a} {b}"))?;
    if !quiet {
        for line in report.lines() {
            println!("{line}");
        }
    }
    Ok(())
}

/// The verdict table's width: `COLUMNS` when set, else 140.
fn table_width() -> u16 {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(140)
}

/// `labctl graph`: the drawing to standard output or `--out`.
fn graph(
    target: &str,
    format: GraphFormat,
    out: Option<&std::path::Path>,
    overlay: Option<&std::path::Path>,
) -> Result<ExitCode> {
    use labctl::graph::Format;
    let format = match format {
        GraphFormat::Mermaid => Format::Mermaid,
        GraphFormat::Dot => Format::Dot,
        GraphFormat::Svg => Format::Svg,
        GraphFormat::Png => Format::Png,
    };
    let drawn = match labctl::graph::draw(&labctl::graph::Target::of(target), format, overlay) {
        Ok(bytes) => bytes,
        Err(e) => {
            // Topology problems are one per line, file:line:column first.
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    match out {
        Some(path) => std::fs::write(path, &drawn)
            .with_context(|| format!("labctl graph: write {}", path.display()))?,
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(&drawn)
                .and_then(|()| stdout.flush())
                .context("labctl graph: write standard output")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
