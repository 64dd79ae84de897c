//! Typed errors of the labctl library. The binary wraps them with `anyhow` context.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while building, inspecting or tearing down a lab.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory operation failed.
    #[error("{op} {path}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A system resource could not be had (a tokio runtime, a netlink socket, a thread).
    #[error("{op} ({what})")]
    Sys {
        op: &'static str,
        what: String,
        #[source]
        source: io::Error,
    },
    /// A namespace, process, wait or signal operation failed (labns).
    #[error(transparent)]
    Ns(#[from] labns::Error),
    /// A netlink request was refused by the kernel.
    #[error("namespace {netns}: {what}: {message}")]
    Netlink {
        netns: String,
        what: String,
        message: String,
    },
    /// The topology file (or the lab's copy of it) could not be loaded.
    #[error(transparent)]
    Topology(#[from] topology::LoadError),
    /// The lab is already running.
    #[error(
        "lab {name} is already up (state in {state}); run `labctl down {name}` or pass --replace"
    )]
    AlreadyUp { name: String, state: PathBuf },
    /// The lab is not running (the message lists the labs that are).
    #[error("no lab named {name} is running (no state in /run/labctl/{name}); {running}", name = .0, running = crate::state::running_labs_phrase())]
    NoSuchLab(String),
    /// No lab name was given and no lab runs.
    #[error("no lab is running")]
    NoLabRunning,
    /// No lab name was given and several labs run.
    #[error("several labs are running ({}): {how_to_choose}", labs.join(", "))]
    SeveralLabs {
        labs: Vec<String>,
        how_to_choose: &'static str,
    },
    /// `labctl exec` without a command after `--`.
    #[error("no command given after --")]
    NoCommand,
    /// The lab name is not usable as a namespace / directory name.
    #[error(transparent)]
    BadName(#[from] topology::names::NameError),
    /// A node named on the command line is not in the lab.
    #[error("lab {lab} has no node {node}{hint} (nodes: {known})")]
    NoSuchNode {
        lab: String,
        node: String,
        /// `; did you mean "x"?` or empty.
        hint: String,
        known: String,
    },
    /// `labctl exec`: the command does not exist in the namespace's view
    /// (exit status 127, as a shell).
    #[error("{program}: command not found (in node {node})")]
    CommandNotFound { program: String, node: String },
    /// `labctl exec`: the command exists but may not be executed (exit status 126).
    #[error("{program}: permission denied (in node {node})")]
    CommandNotExecutable { program: String, node: String },
    /// A `backend: vpp` router on a machine without the `vpp` binary.
    /// (Not a `#[source]`: the message already holds it, and `{:#}` would repeat it.)
    #[error("{0}. Nothing was created.")]
    MissingVpp(crate::vpp::MissingVpp),
    /// The machine lacks a feature the lab needs ([`crate::doctor`]).
    #[error("{0}\nNothing was created.")]
    Unsupported(crate::doctor::Unsupported),
    /// The VPP configuration of a router cannot be generated.
    #[error("vpp config of {node}")]
    VppConfig {
        node: String,
        #[source]
        source: crate::vpp::VppError,
    },
    /// A namespace the lab needs exists and is not the lab's.
    #[error(
        "namespace {netns} already exists and does not belong to a labctl lab named {lab}; \
         remove it (ip netns del {netns}) or choose another --name"
    )]
    NamespaceTaken { netns: String, lab: String },
    /// The test hook `LABCTL_FAIL_AT` made a step fail ([`crate::hooks`]).
    #[error("injected failure after step {step} ({})", crate::hooks::FAIL_ENV)]
    InjectedFailure { step: String },
    /// `up` was interrupted (SIGINT/SIGTERM/SIGHUP) and removed what it made.
    #[error("interrupted by {0}")]
    Interrupted(labns::Signal),
    /// The status report could not be encoded.
    #[error("encode status as JSON")]
    Json(#[from] serde_json::Error),
    /// The DNS server did not say `ready` (its log says why).
    #[error("dns server did not start; its log: {log}")]
    DnsDidNotStart {
        log: String,
        #[source]
        source: labns::Error,
    },
    /// DNS server setup failed.
    #[error("dns: {0}")]
    Dns(String),
    /// A binary the lab runs (controller, agent) is not built or installed.
    #[error(
        "{name} not found (looked in {searched}); build it with `cargo build --bins` \
         (labctl finds the workspace's binaries next to its own executable) or put it in PATH. \
         Nothing was created."
    )]
    MissingBinary {
        name: &'static str,
        searched: String,
    },
    /// A lab process exited while labctl waited for it.
    #[error("{name} exited ({status}); the end of its log {}:\n{tail}", log.display())]
    ProcessExited {
        name: String,
        status: String,
        log: PathBuf,
        tail: String,
    },
    /// Lab processes did not get ready in time.
    #[error("{timeout}; their logs:\n{logs}")]
    NotReady {
        timeout: labns::Timeout,
        logs: String,
    },
    /// No link joins the two nodes named.
    #[error("no link between {a} and {b}")]
    NoSuchLink { a: String, b: String },
    /// A scenario step or the run's set-up could not be done.
    #[error("{0}")]
    Run(String),
    /// A running agent could not be asked.
    #[error("agent: {0}")]
    Agent(String),
    /// The controller could not be reached or refused a call.
    #[error("controller: {0}")]
    Controller(String),
    /// A topology file's `agent_config` cannot be read. (Not a `#[source]`:
    /// the message holds it, and `{:#}` would repeat it.)
    #[error("{topology}: nodes.{node}.agent_config: {source}. Nothing was created.")]
    AgentConfig {
        topology: String,
        node: String,
        source: topology::ReadFileError,
    },
}

/// Result alias of the labctl library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wrap an I/O error with the operation and the path it touched.
    pub fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { op, path, source }
    }

    /// Wrap the current `errno` of a failed system call.
    pub fn sys(op: &'static str, what: impl Into<String>) -> Error {
        Error::Sys {
            op,
            what: what.into(),
            source: io::Error::last_os_error(),
        }
    }
}

impl From<crate::vpp::MissingVpp> for Error {
    fn from(e: crate::vpp::MissingVpp) -> Error {
        Error::MissingVpp(e)
    }
}

impl From<crate::doctor::Unsupported> for Error {
    fn from(e: crate::doctor::Unsupported) -> Error {
        Error::Unsupported(e)
    }
}

impl From<labns::Timeout> for Error {
    fn from(t: labns::Timeout) -> Error {
        Error::Ns(labns::Error::Timeout(t))
    }
}
