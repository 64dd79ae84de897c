//! [`NetNsGuard`]: the calling thread inside a namespace, back out on drop.

use std::marker::PhantomData;

use crate::error::{Error, Result};
use crate::netns::{self, NsHandle};

/// The calling OS thread is inside a network namespace while this guard
/// lives; dropping it moves the thread back to the namespace it came from.
///
/// `setns` moves one thread, so the guard must stay on the thread that
/// entered: it is neither `Send` nor `Sync` (as aya's test `NetNsGuard`).
/// Use it only on a thread of your own (see [`crate::run_in`]), never on a
/// tokio worker, which would run other tasks inside the namespace.
///
/// ```no_run
/// // The same code without the Send requirement compiles: the two
/// // compile_fail examples below fail only because the guard is !Send.
/// fn anything<T>(_: T) {}
/// let guard = labns::NetNsGuard::enter("anything").unwrap();
/// anything(guard);
/// let guard = labns::NetNsGuard::enter("anything").unwrap();
/// std::thread::scope(|_| drop(guard));
/// ```
///
/// ```compile_fail,E0277
/// // A guard cannot be sent to another thread:
/// fn must_be_send<T: Send>(_: T) {}
/// let guard = labns::NetNsGuard::enter("anything").unwrap();
/// must_be_send(guard);
/// ```
///
/// ```compile_fail,E0277
/// let guard = labns::NetNsGuard::enter("anything").unwrap();
/// std::thread::spawn(move || drop(guard));
/// ```
#[derive(Debug)]
pub struct NetNsGuard {
    name: String,
    original: netns_rs::NetNs,
    /// `*const ()` is neither Send nor Sync: neither is the guard.
    _thread_bound: PhantomData<*const ()>,
}

impl NetNsGuard {
    /// Enter the named namespace `/run/netns/NAME` on the calling thread.
    pub fn enter(name: &str) -> Result<NetNsGuard> {
        netns::open(name)?.enter()
    }

    pub(crate) fn enter_handle(ns: &NsHandle) -> Result<NetNsGuard> {
        let original = netns_rs::get_from_current_thread().map_err(|source| Error::NetnsRs {
            name: ns.name().to_string(),
            op: "open the thread's current namespace",
            source,
        })?;
        ns.enter_raw()?;
        Ok(NetNsGuard {
            name: ns.name().to_string(),
            original,
            _thread_bound: PhantomData,
        })
    }

    /// The namespace the thread is in.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for NetNsGuard {
    fn drop(&mut self) {
        if let Err(e) = self.original.enter() {
            // A thread that cannot get back would run whatever comes next
            // inside the lab's namespace: stop the process instead.
            tracing::error!("cannot leave network namespace {}: {e}", self.name);
            eprintln!(
                "labns: cannot leave network namespace {}: {e}; aborting",
                self.name
            );
            std::process::abort();
        }
    }
}
