//! The typed errors of labns.

use std::io;
use std::path::PathBuf;

use nix::errno::Errno;

/// Everything that can go wrong with a namespace, a process or a wait.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A namespace name that is not one plain file name under `/run/netns`.
    #[error("invalid network namespace name {name:?}: {why}")]
    BadName { name: String, why: &'static str },
    /// `/run/netns/NAME` exists: someone else's namespace is never reused.
    #[error("network namespace {name} already exists")]
    Exists { name: String },
    /// A namespace operation of netns-rs failed (create, open, enter).
    #[error("network namespace {name}: {op}")]
    NetnsRs {
        name: String,
        op: &'static str,
        #[source]
        source: netns_rs::Error,
    },
    /// A system call on a namespace failed (setns, unshare, mount, umount).
    #[error("network namespace {name}: {op}")]
    Netns {
        name: String,
        op: &'static str,
        #[source]
        source: io::Error,
    },
    /// A file operation failed.
    #[error("{op} {path}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A command could not be started inside a namespace.
    #[error("spawn {program} in network namespace {netns}")]
    Spawn {
        program: String,
        netns: String,
        #[source]
        source: io::Error,
    },
    /// An OS thread could not be started.
    #[error("start a thread for {what}")]
    Thread {
        what: String,
        #[source]
        source: io::Error,
    },
    /// A process may not be signalled by this user (`labctl down` needs root).
    #[error("signal process {pid}: permission denied (run as root)")]
    Permission {
        pid: i32,
        #[source]
        source: Errno,
    },
    /// A process could not be read or signalled.
    #[error("process {pid}: {op}")]
    Process {
        pid: i32,
        op: &'static str,
        #[source]
        source: io::Error,
    },
    /// Signal masks or the signal fd could not be set up.
    #[error("signals: {op}")]
    Signals {
        op: &'static str,
        #[source]
        source: Errno,
    },
    /// A stream ended before the line awaited ([`crate::Wait::for_line`]).
    #[error("{what}: the stream ended first{}{}", last.as_ref().map(|l| format!("; last line: {l:?}")).unwrap_or_default(), error.as_ref().map(|e| format!("; {e}")).unwrap_or_default())]
    StreamEnded {
        what: String,
        last: Option<String>,
        error: Option<String>,
    },
    /// A deadline passed.
    #[error(transparent)]
    Timeout(#[from] crate::wait::Timeout),
}

/// Result alias of labns.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wrap an I/O error with the operation and the path it touched.
    pub fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { op, path, source }
    }
}
