//! The one "spawn this command inside namespace N": the child enters the
//! namespace between fork and exec (so it is inside from its first
//! instruction, and whoever kills by namespace finds it even before its pid
//! is written down), optionally in its own session, optionally with the
//! namespace's `/etc/netns/<ns>/` files bind-mounted over `/etc` in a
//! private mount namespace, as `ip netns exec` does. The child starts with
//! no signal blocked, whatever the caller blocks ([`crate::signals`]).

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command};

use nix::mount::{mount, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::signal::SigSet;
use nix::unistd::setsid;

use crate::error::{Error, Result};
use crate::proc::ProcId;

/// Where `ip netns` keeps per-namespace files that replace `/etc` ones.
pub const ETC_NETNS_DIR: &str = "/etc/netns";

/// How [`spawn_command_in`] starts the command.
#[derive(Debug, Clone, Default)]
pub struct SpawnOptions {
    new_session: bool,
    etc_overlay: bool,
    hostname: Option<CString>,
}

impl SpawnOptions {
    /// Plain: only the network namespace changes.
    pub fn new() -> SpawnOptions {
        SpawnOptions::default()
    }

    /// Start the command in its own session (`setsid`): it outlives the
    /// caller and does not get the caller's terminal signals.
    pub fn new_session(mut self) -> SpawnOptions {
        self.new_session = true;
        self
    }

    /// Give the command a private mount namespace (a recursive slave of
    /// the caller's, so nothing propagates back) with every file of
    /// `/etc/netns/<ns>/` bind-mounted over its `/etc/` counterpart (only
    /// counterparts that exist, as `ip netns exec` does; `/sys` is not remounted).
    pub fn etc_overlay(mut self) -> SpawnOptions {
        self.etc_overlay = true;
        self
    }

    /// Give the command a UTS namespace of its own whose hostname is
    /// `name` (a lab node's name: shells and logs show where they run). A
    /// name with a NUL byte is ignored.
    pub fn hostname(mut self, name: &str) -> SpawnOptions {
        self.hostname = CString::new(name).ok();
        self
    }
}

/// A private UTS namespace named `name`. Only system calls: this runs
/// between fork and exec (nix's `sethostname` needs a feature the workspace
/// does not build, so libc's is called).
fn set_hostname(name: &CStr) -> nix::Result<()> {
    unshare(CloneFlags::CLONE_NEWUTS)?;
    let bytes = name.to_bytes();
    // SAFETY: `bytes` is valid for `bytes.len()` bytes for the call.
    let rc = unsafe { libc::sethostname(bytes.as_ptr().cast(), bytes.len()) };
    nix::errno::Errno::result(rc).map(drop)
}

/// A command started by [`spawn_command_in`].
#[derive(Debug)]
pub struct Spawned {
    pub child: Child,
    /// Pid and start time: what a journal records.
    pub id: ProcId,
}

/// `(source, target)` of each `/etc/netns/<ns>/X` whose `/etc/X` exists.
fn etc_binds(netns: &str) -> Vec<(CString, CString)> {
    let Ok(dir) = std::fs::read_dir(Path::new(ETC_NETNS_DIR).join(netns)) else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| {
            let dst = Path::new("/etc").join(e.file_name());
            if !dst.exists() {
                return None;
            }
            let src = CString::new(e.path().as_os_str().as_bytes()).ok()?;
            Some((src, CString::new(dst.as_os_str().as_bytes()).ok()?))
        })
        .collect()
}

/// Make the calling (just forked) process's mount namespace private and
/// bind the overlay files. Only system calls: this runs between fork and exec.
fn overlay_etc(binds: &[(CString, CString)]) -> nix::Result<()> {
    unshare(CloneFlags::CLONE_NEWNS)?;
    mount(
        None::<&CStr>,
        c"/",
        None::<&CStr>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&CStr>,
    )?;
    for (src, dst) in binds {
        mount(
            Some(src.as_c_str()),
            dst.as_c_str(),
            None::<&CStr>,
            MsFlags::MS_BIND,
            None::<&CStr>,
        )?;
    }
    Ok(())
}

/// Start `cmd` inside the network namespace `/run/netns/NETNS` (stdio as
/// set on `cmd`). Returns the child and its [`ProcId`].
pub fn spawn_command_in(netns: &str, cmd: &mut Command, opts: &SpawnOptions) -> Result<Spawned> {
    let ns = crate::netns::open(netns)?;
    let raw = ns.as_raw_fd();
    // Everything the child needs is prepared here: after fork only system
    // calls run (no allocation in a copy of a multi-threaded process).
    let binds = if opts.etc_overlay {
        Some(etc_binds(netns))
    } else {
        None
    };
    let new_session = opts.new_session;
    let hostname = opts.hostname.clone();
    // SAFETY: the closure makes only async-signal-safe system calls (setns,
    // unshare, mount, sethostname, setsid) on data prepared before the fork; `raw` stays
    // open in the parent (held by `ns`) until spawn returns.
    unsafe {
        cmd.pre_exec(move || {
            // A fork keeps the caller's signal mask, and `signals::Deferred`
            // blocks SIGINT, SIGTERM and SIGHUP: a child would never see
            // the SIGTERM that stops it. Children start with none blocked.
            SigSet::empty().thread_set_mask()?;
            setns(BorrowedFd::borrow_raw(raw), CloneFlags::CLONE_NEWNET)?;
            if let Some(binds) = &binds {
                overlay_etc(binds)?;
            }
            if let Some(name) = &hostname {
                set_hostname(name)?;
            }
            if new_session {
                setsid()?;
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|source: io::Error| Error::Spawn {
        program: cmd.get_program().to_string_lossy().into_owned(),
        netns: netns.to_string(),
        source,
    })?;
    drop(ns);
    // Not yet reaped, so /proc/PID exists even if the child already exited.
    match ProcId::of(child.id() as i32) {
        Ok(id) => Ok(Spawned { child, id }),
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(e)
        }
    }
}
