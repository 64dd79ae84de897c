//! Interrupts held until a step boundary, and terminal signals left to a
//! foreground child.
//!
//! [`Deferred`] blocks SIGINT, SIGTERM and SIGHUP on the calling thread
//! (threads it spawns later inherit the mask; `std::process::Command`
//! children start with a clean one) and reads them from a non-blocking
//! `signalfd`: [`pending`] takes a waiting signal off the kernel's queue and
//! remembers it, so the caller reacts at its next step boundary and the
//! signal can never be delivered later with its default action (which would
//! kill a process that has already finished its work). Signals still queued
//! when the guard drops are discarded, and the old mask comes back.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;

use nix::sys::signal::{signal, SigHandler, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use crate::error::{Error, Result};

/// The signals [`Deferred`] holds.
pub const INTERRUPTS: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP];

/// The signal fd of the live [`Deferred`], if any.
static FD: Mutex<Option<SignalFd>> = Mutex::new(None);
/// The first interrupt taken off the queue and not yet [`take`]n (0: none).
static CAUGHT: AtomicI32 = AtomicI32::new(0);

fn interrupt_set() -> SigSet {
    let mut set = SigSet::empty();
    for s in INTERRUPTS {
        set.add(s);
    }
    set
}

/// While alive, SIGINT, SIGTERM and SIGHUP wait for [`pending`] instead of
/// killing the process. Only one may live at a time; it is bound to the
/// thread that created it (the mask is per thread).
#[derive(Debug)]
pub struct Deferred {
    old: SigSet,
    _thread_bound: PhantomData<*const ()>,
}

impl Deferred {
    /// Block the interrupts on the calling thread and start reading them.
    /// Fails (EBUSY) while another `Deferred` lives.
    pub fn block() -> Result<Deferred> {
        let mut slot = lock_fd();
        if slot.is_some() {
            return Err(Error::Signals {
                op: "defer interrupts: a Deferred already lives",
                source: nix::errno::Errno::EBUSY,
            });
        }
        let set = interrupt_set();
        let old = set
            .thread_swap_mask(SigmaskHow::SIG_BLOCK)
            .map_err(|source| Error::Signals {
                op: "block SIGINT, SIGTERM, SIGHUP",
                source,
            })?;
        let fd = SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC);
        let fd = match fd {
            Ok(fd) => fd,
            Err(source) => {
                let _ = old.thread_set_mask();
                return Err(Error::Signals {
                    op: "signalfd",
                    source,
                });
            }
        };
        CAUGHT.store(0, Ordering::SeqCst);
        *slot = Some(fd);
        Ok(Deferred {
            old,
            _thread_bound: PhantomData,
        })
    }
}

impl Drop for Deferred {
    fn drop(&mut self) {
        // Discard what is still queued: nobody is left to act on it, and
        // unblocking must not let it kill a process whose work is done.
        if let Some(fd) = lock_fd().take() {
            while let Ok(Some(_)) = fd.read_signal() {}
        }
        CAUGHT.store(0, Ordering::SeqCst);
        if let Err(e) = self.old.thread_set_mask() {
            tracing::error!("restoring the signal mask: {e}");
        }
    }
}

fn lock_fd() -> std::sync::MutexGuard<'static, Option<SignalFd>> {
    FD.lock().unwrap_or_else(|p| p.into_inner())
}

/// The interrupt that arrived while a [`Deferred`] lives, if one did. The
/// first one is remembered (later ones are taken off the queue and dropped)
/// until [`take`] clears it. Any thread may ask.
pub fn pending() -> Option<Signal> {
    if let Some(fd) = lock_fd().as_ref() {
        while let Ok(Some(info)) = fd.read_signal() {
            let signo = i32::try_from(info.ssi_signo).unwrap_or(0);
            let _ = CAUGHT.compare_exchange(0, signo, Ordering::SeqCst, Ordering::SeqCst);
        }
    }
    caught()
}

/// [`pending`], and forget it: the caller has handled it.
pub fn take() -> Option<Signal> {
    let s = pending();
    CAUGHT.store(0, Ordering::SeqCst);
    s
}

fn caught() -> Option<Signal> {
    Signal::try_from(CAUGHT.load(Ordering::SeqCst)).ok()
}

/// While alive, the given signals are ignored by this process (as a shell
/// ignores Ctrl-C and Ctrl-\ while a foreground command runs: the terminal
/// sends them to the command too). Create it **after** spawning the child:
/// an ignored disposition is inherited across exec.
#[derive(Debug)]
pub struct Ignored {
    saved: Vec<(Signal, SigHandler)>,
}

impl Ignored {
    /// Ignore `signals` until the guard drops.
    pub fn new(signals: &[Signal]) -> Result<Ignored> {
        let mut guard = Ignored { saved: Vec::new() };
        for s in signals {
            // SAFETY: installing SIG_IGN runs no handler code; the previous
            // disposition is restored on drop.
            let old =
                unsafe { signal(*s, SigHandler::SigIgn) }.map_err(|source| Error::Signals {
                    op: "ignore a signal",
                    source,
                })?;
            guard.saved.push((*s, old));
        }
        Ok(guard)
    }
}

impl Drop for Ignored {
    fn drop(&mut self) {
        for (s, old) in self.saved.drain(..).rev() {
            // SAFETY: putting back the disposition that was installed before.
            if let Err(e) = unsafe { signal(s, old) } {
                tracing::error!("restoring the disposition of {s}: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::raise;

    // One test touches the process-wide state of `Deferred`. Signals are
    // raised at the calling thread (`raise`), never at the process, so
    // the test harness's other threads never see them.
    #[test]
    fn a_deferred_interrupt_is_reported_taken_and_never_kills() {
        let deferred = Deferred::block().unwrap();
        assert!(Deferred::block().is_err(), "one at a time");
        assert_eq!(pending(), None);
        raise(Signal::SIGTERM).unwrap();
        assert_eq!(pending(), Some(Signal::SIGTERM));
        raise(Signal::SIGINT).unwrap();
        assert_eq!(pending(), Some(Signal::SIGTERM), "the first one is kept");
        assert_eq!(take(), Some(Signal::SIGTERM));
        assert_eq!(pending(), None, "taken, and the later SIGINT was dropped");
        // Queued and never asked for: discarded on drop, not delivered.
        raise(Signal::SIGHUP).unwrap();
        drop(deferred);
        assert_eq!(pending(), None);
    }

    #[test]
    fn ignored_signals_are_restored_on_drop() {
        let guard = Ignored::new(&[Signal::SIGUSR2]).unwrap();
        raise(Signal::SIGUSR2).unwrap(); // ignored: the test goes on
        drop(guard);
        // SAFETY: reading back the disposition by swapping in the default.
        let now = unsafe { signal(Signal::SIGUSR2, SigHandler::SigDfl) }.unwrap();
        assert!(matches!(now, SigHandler::SigDfl), "{now:?}");
    }
}
