//! The one `/proc` reader: a process's start time, state, name, command
//! line and network namespace, and the processes inside a namespace.
//!
//! A pid alone is reused by the kernel; a pid with its start time (clock
//! ticks since boot, field 22 of `/proc/PID/stat`) names one process for
//! the life of the machine: [`ProcId`], what a journal records.

use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::error::{Error, Result};

/// The fields of `/proc/PID/stat` this crate uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub pid: i32,
    /// The command name (field 2, without the parentheses; may hold spaces).
    pub comm: String,
    /// The state letter (field 3): `R`, `S`, `D`, `T`, `t`, `Z`, `X`, ...
    pub state: char,
    /// Start time in clock ticks since boot (field 22).
    pub start: u64,
}

/// Parse the text of `/proc/PID/stat`. The command name may hold spaces
/// and parentheses, so it runs from the first `(` to the **last** `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let pid = text.get(..open)?.trim().parse().ok()?;
    let comm = text.get(open + 1..close)?.to_string();
    let mut rest = text.get(close + 1..)?.split_whitespace();
    let state = rest.next()?.chars().next()?;
    // Fields 4..=21 come before the start time (field 22).
    let start = rest.nth(18)?.parse().ok()?;
    Some(Stat {
        pid,
        comm,
        state,
        start,
    })
}

/// Read `/proc/PID/stat`.
pub fn stat(pid: i32) -> Result<Stat> {
    let path = format!("/proc/{pid}/stat");
    let text = fs::read_to_string(&path).map_err(|source| Error::Process {
        pid,
        op: "read /proc/PID/stat",
        source,
    })?;
    parse_stat(&text).ok_or_else(|| Error::Process {
        pid,
        op: "parse /proc/PID/stat",
        source: io::ErrorKind::InvalidData.into(),
    })
}

/// The start time of `pid`, if it exists.
pub fn start_time(pid: i32) -> Option<u64> {
    stat(pid).ok().map(|s| s.start)
}

/// The command line of `pid` (NUL-separated arguments; empty for a zombie
/// or a kernel thread).
pub fn cmdline(pid: i32) -> Result<Vec<String>> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).map_err(|source| Error::Process {
        pid,
        op: "read /proc/PID/cmdline",
        source,
    })?;
    Ok(raw
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect())
}

/// Whether `pid` no longer runs: missing, a zombie or dead.
pub fn is_gone(pid: i32) -> bool {
    stat(pid).map_or(true, |s| matches!(s.state, 'Z' | 'X'))
}

/// The inode of the network namespace of `pid` (compare with
/// [`crate::netns::inode`]).
pub fn netns_inode(pid: i32) -> Option<u64> {
    Some(fs::metadata(format!("/proc/{pid}/ns/net")).ok()?.ino())
}

/// Every process whose network namespace has one of `inodes` (what
/// `ip netns pids` does). Processes this user may not inspect are not seen.
pub fn pids_in_netns(inodes: &[u64]) -> Vec<i32> {
    if inodes.is_empty() {
        return Vec::new();
    }
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| netns_inode(*pid).is_some_and(|ino| inodes.contains(&ino)))
        .collect()
}

/// What became of a process named by a [`ProcId`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcState {
    /// Runs (or sleeps, or waits for I/O).
    Running,
    /// Stopped (SIGSTOP, a debugger): it exists but does nothing.
    Stopped,
    /// Exited, not yet reaped by its parent.
    Zombie,
    /// No such process (the pid is free or belongs to another process).
    Gone,
}

impl ProcState {
    /// The process exists and can still act (running or stopped).
    pub fn exists(self) -> bool {
        matches!(self, ProcState::Running | ProcState::Stopped)
    }

    /// Lower-case name for reports (`running`, `stopped`, `zombie`, `gone`).
    pub fn as_str(self) -> &'static str {
        match self {
            ProcState::Running => "running",
            ProcState::Stopped => "stopped",
            ProcState::Zombie => "zombie",
            ProcState::Gone => "gone",
        }
    }
}

impl fmt::Display for ProcState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One process for the life of the machine: pid and start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProcId {
    pub pid: i32,
    /// Start time in clock ticks since boot.
    pub start: u64,
}

impl ProcId {
    /// The identity of the running process `pid`.
    pub fn of(pid: i32) -> Result<ProcId> {
        Ok(ProcId {
            pid,
            start: stat(pid)?.start,
        })
    }

    /// The identity of the calling process.
    pub fn current() -> Result<ProcId> {
        ProcId::of(std::process::id() as i32)
    }

    /// What became of this process. A pid now used by a process with
    /// another start time is [`ProcState::Gone`].
    pub fn state(&self) -> ProcState {
        match stat(self.pid) {
            Ok(s) if s.start != self.start => ProcState::Gone,
            Ok(s) => match s.state {
                'Z' | 'X' | 'x' => ProcState::Zombie,
                'T' | 't' => ProcState::Stopped,
                _ => ProcState::Running,
            },
            Err(_) => ProcState::Gone,
        }
    }

    /// Send `signal` if the pid still names this process. `Ok(false)`: it
    /// is gone (nothing sent). [`Error::Permission`] when this user may not
    /// signal it.
    pub fn signal(&self, signal: Signal) -> Result<bool> {
        if !self.state().exists() {
            return Ok(false);
        }
        signal_pid(self.pid, signal)
    }
}

/// Send `signal` to `pid` (found by namespace, so there is no start time to
/// check). `Ok(false)`: no such process.
pub fn signal_pid(pid: i32, signal: Signal) -> Result<bool> {
    match kill(Pid::from_raw(pid), signal) {
        Ok(()) => Ok(true),
        Err(Errno::ESRCH) => Ok(false),
        Err(source @ Errno::EPERM) => Err(Error::Permission { pid, source }),
        Err(e) => Err(Error::Process {
            pid,
            op: "kill",
            source: e.into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_name_with_spaces_and_parentheses() {
        // A stat line laid out as proc(5) says, for a process that named
        // itself "a) (b" (PR_SET_NAME accepts any 15 bytes).
        let text = "4242 (a) (b) S 1 4242 4242 0 -1 4194560 95 0 0 0 0 0 0 0 20 0 1 0 123456 2195456 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
        let s = parse_stat(text).unwrap();
        assert_eq!(s.pid, 4242);
        assert_eq!(s.comm, "a) (b");
        assert_eq!(s.state, 'S');
        assert_eq!(s.start, 123456);
        assert_eq!(parse_stat("12 (x) S 1 2"), None, "truncated");
        assert_eq!(parse_stat(""), None);
    }

    #[test]
    fn the_calling_process_is_running_and_a_wrong_start_time_is_gone() {
        let me = ProcId::current().unwrap();
        assert_eq!(me.state(), ProcState::Running);
        let other = ProcId {
            start: me.start + 1,
            ..me
        };
        assert_eq!(other.state(), ProcState::Gone);
        assert!(!other.signal(Signal::SIGKILL).unwrap(), "nothing sent");
        assert!(!stat(me.pid).unwrap().comm.is_empty());
        assert!(!cmdline(me.pid).unwrap().is_empty());
        assert!(!is_gone(me.pid));
    }

    #[test]
    fn states_of_a_child_stopped_killed_and_reaped() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let id = ProcId::of(child.id() as i32).unwrap();
        let wait = |want: ProcState| {
            crate::wait::Wait::new(format!("child {want}"), std::time::Duration::from_secs(5))
                .until(|| {
                    let now = id.state();
                    if now == want {
                        std::ops::ControlFlow::Break(())
                    } else {
                        std::ops::ControlFlow::Continue(now)
                    }
                })
                .unwrap()
        };
        wait(ProcState::Running);
        assert!(id.signal(Signal::SIGSTOP).unwrap());
        wait(ProcState::Stopped);
        assert!(id.signal(Signal::SIGKILL).unwrap());
        wait(ProcState::Zombie);
        assert!(is_gone(id.pid));
        child.wait().unwrap();
        assert_eq!(id.state(), ProcState::Gone);
        assert!(!id.signal(Signal::SIGKILL).unwrap());
    }
}
