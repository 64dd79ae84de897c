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
    /// A system call (setns, unshare, mount ...) failed.
    #[error("{op} ({what})")]
    Sys {
        op: &'static str,
        what: String,
        #[source]
        source: io::Error,
    },
    /// A netlink request was refused by the kernel.
    #[error("namespace {netns}: {what}: {message}")]
    Netlink {
        netns: String,
        what: String,
        message: String,
    },
    /// The topology file could not be loaded.
    #[error("{0}")]
    Topology(String),
    /// The lab is already running.
    #[error(
        "lab {name} is already up (state in {state}); run `labctl down {name}` or pass --replace"
    )]
    AlreadyUp { name: String, state: PathBuf },
    /// The lab is not running.
    #[error("no lab named {0} is running (no state in /run/labctl/{0})")]
    NoSuchLab(String),
    /// A command needs a lab name because none or several labs run.
    #[error("{0}")]
    Ambiguous(String),
    /// The lab name is not usable as a namespace / directory name.
    #[error(transparent)]
    BadName(#[from] topology::names::NameError),
    /// A node named on the command line is not in the lab.
    #[error("lab {lab} has no node {node} (nodes: {known})")]
    NoSuchNode {
        lab: String,
        node: String,
        known: String,
    },
    /// Something needed on this machine is missing (e.g. the `vpp` binary).
    #[error("{0}")]
    Unsupported(String),
    /// A namespace or a process did not reach the expected state in time.
    #[error("{0}")]
    Timeout(String),
    /// The state journal of a lab is damaged.
    #[error("state journal {path}:{line}: {why}")]
    Journal {
        path: PathBuf,
        line: usize,
        why: String,
    },
    /// `up` was interrupted (SIGINT/SIGTERM/SIGHUP) and removed what it made.
    #[error("interrupted by {0}")]
    Interrupted(&'static str),
    /// DNS server setup failed.
    #[error("dns: {0}")]
    Dns(String),
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
