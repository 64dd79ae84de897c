//! The lab's long-running processes (DNS server, VPP, controller, agents):
//! started detached inside their namespace and journalled, watched while
//! they get ready, stopped, and read back from the journal.
//!
//! A process is journalled as `proc NAME PID START` right after it exists
//! (it is inside a lab namespace from its first instruction, so `down`
//! finds it by namespace even before that line). A process restarted under
//! the same name (`labctl run` restarts the controller and agents) gets a
//! new line: the **last** line of a name is the process that name means
//! now ([`latest`]); `down` kills every one (identity-checked, so the ones
//! already gone are skipped).

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use labns::{ProcId, ProcState, Signal, SpawnOptions, Wait};

use crate::error::{Error, Result};
use crate::state::{Entry, Journal};

/// Lines of a log quoted when a process fails.
pub const LOG_TAIL_LINES: usize = 20;
/// How long a process gets to exit after SIGTERM before SIGKILL.
pub const STOP_WAIT: Duration = Duration::from_secs(5);

/// A lab process this labctl started (its child until it exits or labctl does).
#[derive(Debug)]
pub struct Started {
    /// Journal name (`dns`, `controller`, `agent-host-a`, ...).
    pub name: String,
    pub child: Child,
    pub id: ProcId,
    /// Where its stderr (and stdout, unless piped) goes.
    pub log: PathBuf,
}

impl Started {
    /// Whether it has exited; reaps it and says how (with its log's tail).
    pub fn exited(&mut self) -> Option<Error> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(Error::ProcessExited {
                name: self.name.clone(),
                status: status.to_string(),
                log: self.log.clone(),
                tail: log_tail(&self.log, LOG_TAIL_LINES),
            }),
            _ => None,
        }
    }
}

/// How to start a lab process.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Journal name.
    pub name: String,
    pub netns: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Bind `/etc/netns/<ns>/` over `/etc` (the lab's resolv.conf).
    pub etc_overlay: bool,
    /// Its log file (appended to: a restarted process keeps the history).
    pub log: PathBuf,
}

/// Start `spec` detached (own session: it outlives labctl) inside its
/// namespace, stderr and stdout (unless `stdout` is given) to its log, and
/// journal it.
pub fn start(spec: &Spec, journal: &Journal, stdout: Option<Stdio>) -> Result<Started> {
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&spec.log)
        .map_err(Error::io("open log", &spec.log))?;
    let log2 = log.try_clone().map_err(Error::io("open log", &spec.log))?;
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .stdin(Stdio::null())
        .stdout(stdout.unwrap_or_else(|| Stdio::from(log2)))
        .stderr(Stdio::from(log));
    let mut opts = SpawnOptions::new().new_session();
    if spec.etc_overlay {
        opts = opts.etc_overlay();
    }
    let spawned = labns::spawn_command_in(&spec.netns, &mut cmd, &opts)?;
    journal.record(&[Entry::Proc {
        name: spec.name.clone(),
        pid: spawned.id.pid,
        start: spawned.id.start,
    }])?;
    Ok(Started {
        name: spec.name.clone(),
        child: spawned.child,
        id: spawned.id,
        log: spec.log.clone(),
    })
}

/// Wait until `ready` holds for every process, failing at once when one
/// exits (with its log's tail) and at the deadline (with how each looked).
/// `ready(i)` answers for `procs[i]`: `Continue(why not)` or `Break`.
pub fn wait_ready(
    what: &str,
    procs: &mut [Started],
    limit: Duration,
    mut ready: impl FnMut(usize) -> Result<ControlFlow<(), String>>,
) -> Result<()> {
    let wait = Wait::new(what, limit).every(Duration::from_millis(50));
    let mut done = vec![false; procs.len()];
    let outcome = wait.try_until(|| {
        let mut waiting = Vec::new();
        for (i, p) in procs.iter_mut().enumerate() {
            if let Some(e) = p.exited() {
                return Err(e);
            }
            if !done[i] {
                match ready(i)? {
                    ControlFlow::Break(()) => done[i] = true,
                    ControlFlow::Continue(why) => waiting.push(format!("{}: {why}", p.name)),
                }
            }
        }
        Ok(match waiting.is_empty() {
            true => ControlFlow::Break(()),
            false => ControlFlow::Continue(waiting.join("; ")),
        })
    });
    outcome.map_err(|e| match e {
        Error::Ns(labns::Error::Timeout(t)) => Error::NotReady {
            timeout: t,
            logs: procs
                .iter()
                .zip(&done)
                .filter(|(_, d)| !**d)
                .map(|(p, _)| format!("{}:\n{}", p.log.display(), log_tail(&p.log, LOG_TAIL_LINES)))
                .collect::<Vec<_>>()
                .join("\n"),
        },
        other => other,
    })
}

/// SIGTERM `id` and wait until it is gone, SIGKILL after [`STOP_WAIT`].
/// `Ok(false)`: it was not running.
///
/// Gone means reaped: a process whose main thread already shows as a
/// zombie may still hold its files (a lock) while its other threads exit.
/// Pass `child` when the process is this labctl's child (it reaps it);
/// any other lab process is reaped by init.
pub fn stop(name: &str, id: ProcId, mut child: Option<&mut Child>) -> Result<bool> {
    if !id.signal(Signal::SIGTERM)? {
        if let Some(c) = child {
            let _ = c.try_wait();
        }
        return Ok(false);
    }
    let mut gone = || match child.as_deref_mut() {
        Some(c) => !matches!(c.try_wait(), Ok(None)),
        None => match id.state() {
            ProcState::Gone => true,
            // This labctl's own child, started by a call that did not keep
            // its handle (`up` inside `run`): reap it here.
            ProcState::Zombie => reap(id.pid),
            _ => false,
        },
    };
    let wait = Wait::new(format!("{name} (pid {}) to exit", id.pid), STOP_WAIT)
        .every(Duration::from_millis(10));
    if wait.until_true(&mut gone).is_err() {
        id.signal(Signal::SIGKILL)?;
        Wait::new(
            format!("{name} (pid {}) to exit after SIGKILL", id.pid),
            STOP_WAIT,
        )
        .until_true(gone)?;
    }
    Ok(true)
}

/// Reap `pid` if it is an exited child of this process (`false`: it is
/// someone else's child, whom its parent reaps).
fn reap(pid: i32) -> bool {
    use nix::sys::wait::{waitpid, WaitPidFlag};
    let pid = nix::unistd::Pid::from_raw(pid);
    matches!(waitpid(pid, Some(WaitPidFlag::WNOHANG)), Ok(s) if s.pid() == Some(pid))
}

/// The process each journal name means now: its last `proc` line.
pub fn latest(entries: &[Entry]) -> BTreeMap<String, ProcId> {
    entries
        .iter()
        .filter_map(|e| match e {
            Entry::Proc { name, pid, start } => Some((
                name.clone(),
                ProcId {
                    pid: *pid,
                    start: *start,
                },
            )),
            _ => None,
        })
        .collect()
}

/// Whether the process a journal name means now runs.
pub fn running(entries: &[Entry], name: &str) -> Option<ProcId> {
    latest(entries)
        .remove(name)
        .filter(|id| id.state() == ProcState::Running)
}

/// The last `lines` lines of a log file (empty if unreadable).
pub fn log_tail(path: &Path, lines: usize) -> String {
    let Ok(f) = fs::File::open(path) else {
        return String::new();
    };
    let all: Vec<String> = BufReader::new(f).lines().map_while(|l| l.ok()).collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_line_of_a_name_wins() {
        let entries = [
            Entry::Proc {
                name: "controller".into(),
                pid: 10,
                start: 1,
            },
            Entry::Netns("x-a".into()),
            Entry::Proc {
                name: "dns".into(),
                pid: 11,
                start: 2,
            },
            Entry::Proc {
                name: "controller".into(),
                pid: 12,
                start: 3,
            },
        ];
        let now = latest(&entries);
        assert_eq!(now["controller"], ProcId { pid: 12, start: 3 });
        assert_eq!(now["dns"], ProcId { pid: 11, start: 2 });
        assert_eq!(now.len(), 2);
    }

    #[test]
    fn log_tail_keeps_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.log");
        fs::write(&p, "1\n2\n3\n4\n").unwrap();
        assert_eq!(log_tail(&p, 2), "3\n4");
        assert_eq!(log_tail(&p, 10), "1\n2\n3\n4");
        assert_eq!(log_tail(&dir.path().join("none"), 3), "");
    }
}
