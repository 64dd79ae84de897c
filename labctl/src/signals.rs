//! Ctrl-C during `up`: SIGINT, SIGTERM and SIGHUP are blocked while a lab is
//! being built (threads spawned later inherit the mask; children get a clean
//! mask from std's spawn) and polled at every step boundary, so an
//! interrupted `up` stops at the next boundary and removes what it made
//! instead of dying halfway. SIGKILL cannot be deferred: for that there is
//! the journal and `labctl down`.

use std::mem::MaybeUninit;

const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

fn set() -> libc::sigset_t {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set; sigaddset with valid signals.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        for s in SIGNALS {
            libc::sigaddset(set.as_mut_ptr(), s);
        }
        set.assume_init()
    }
}

/// While alive, the interrupt signals of the calling thread (and of threads
/// it spawns) are held pending instead of killing the process.
#[derive(Debug)]
pub struct Deferred {
    old: libc::sigset_t,
}

impl Deferred {
    /// Block SIGINT, SIGTERM and SIGHUP on the calling thread.
    pub fn block() -> Deferred {
        let set = set();
        let mut old = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: pthread_sigmask with an initialised set; `old` is written.
        unsafe {
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, old.as_mut_ptr());
            Deferred {
                old: old.assume_init(),
            }
        }
    }
}

impl Drop for Deferred {
    fn drop(&mut self) {
        // A signal still pending is delivered (with its default action) when
        // the mask is restored: the caller has already reacted to it.
        // SAFETY: restoring the mask saved in `block`.
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut());
        }
    }
}

/// The name of a pending interrupt signal, if one arrived.
pub fn pending() -> Option<&'static str> {
    let mut p = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigpending writes the set; sigismember reads it.
    unsafe {
        if libc::sigpending(p.as_mut_ptr()) != 0 {
            return None;
        }
        let p = p.assume_init();
        SIGNALS
            .into_iter()
            .find(|s| libc::sigismember(&p, *s) == 1)
            .map(|s| match s {
                libc::SIGINT => "SIGINT",
                libc::SIGTERM => "SIGTERM",
                _ => "SIGHUP",
            })
    }
}

/// Take every pending interrupt signal off the queue (they were handled).
pub fn consume() {
    let set = set();
    let zero = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: sigtimedwait with an initialised set and a zero timeout.
    while unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &zero) } > 0 {}
}
