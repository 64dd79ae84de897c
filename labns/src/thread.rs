//! A closure run inside a network namespace on a dedicated OS thread.
//!
//! netns-rs's own `NetNs::run` switches the *calling* thread and back; that
//! is wrong on a tokio worker or any thread that runs other work, so here
//! every closure gets a fresh thread that enters, runs, and ends.

use std::thread::JoinHandle;

use crate::error::{Error, Result};
use crate::guard::NetNsGuard;

/// A thread running a closure inside a namespace (from [`spawn_in`]).
#[derive(Debug)]
pub struct NsThread<T> {
    netns: String,
    handle: JoinHandle<Result<T>>,
}

impl<T> NsThread<T> {
    /// Wait for the closure's result. A panic in the closure is resumed
    /// here, as `std::thread::scope` does, so test assertions keep their message.
    pub fn join(self) -> Result<T> {
        match self.handle.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// The namespace the thread runs in.
    pub fn netns(&self) -> &str {
        &self.netns
    }

    /// Whether the closure has returned.
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }
}

/// Start `f` on a new OS thread inside the namespace `/run/netns/NETNS`.
/// The thread enters before `f` runs (an error to enter is returned by
/// [`NsThread::join`]) and ends with it.
pub fn spawn_in<T, F>(netns: &str, f: F) -> Result<NsThread<T>>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    crate::netns::check_name(netns)?;
    let name = netns.to_string();
    let handle = std::thread::Builder::new()
        .name(format!("ns:{netns}"))
        .spawn(move || {
            let _inside = NetNsGuard::enter(&name)?;
            Ok(f())
        })
        .map_err(|source| Error::Thread {
            what: format!("network namespace {netns}"),
            source,
        })?;
    Ok(NsThread {
        netns: netns.to_string(),
        handle,
    })
}

/// Run `f` inside the namespace `/run/netns/NETNS` on a dedicated OS thread
/// and return its result (the caller's thread never changes namespace).
pub fn run_in<T, F>(netns: &str, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    spawn_in(netns, f)?.join()
}
