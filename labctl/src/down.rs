//! `labctl down [NAME] [--all]`: remove everything a lab's journal names,
//! in an order that works after a crash at any point of `up`:
//! the owner `up` process (if it still runs) and the lab's processes, every
//! other process still inside one of the lab's namespaces, the namespaces
//! (their veths go with them: no lab interface ever lives in the root
//! namespace), `/etc/netns/<ns>` directories, pins, then the state directory.
//!
//! Journal lines that do not parse, or that name anything outside the lab's
//! own places ([`crate::state::read_journal`]), are skipped and reported in
//! [`Removed::skipped`]; everything else is removed. Without the right to
//! signal a lab process (not root) `down` stops at once with that error,
//! having removed nothing.

use std::fs;
use std::io;
use std::path::Path;
use std::time::Duration;

use labns::{netns, ProcId, Signal, Wait};

use crate::error::{Error, Result};
use crate::state::{self, Entry};

/// How long killed processes get to disappear.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// What `down` removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Removed {
    pub lab: String,
    pub namespaces: usize,
    pub processes: usize,
    /// Journal lines not acted on, `journal:LINE: why: "text"`.
    pub skipped: Vec<String>,
}

/// Options of `labctl down`.
#[derive(Debug, Clone, Default)]
pub struct DownOptions {
    pub name: Option<String>,
    pub all: bool,
}

/// Run `labctl down`: the named lab, the only running lab, or every lab.
pub fn run(opts: &DownOptions) -> Result<Vec<Removed>> {
    let names = if opts.all {
        state::list_labs()
    } else {
        vec![state::select_lab(
            opts.name.as_deref(),
            "name one or pass --all",
        )?]
    };
    names.iter().map(|n| teardown(n)).collect()
}

/// Remove the lab `lab` completely.
pub fn teardown(lab: &str) -> Result<Removed> {
    state::validate_name(lab)?;
    let dir = state::lab_dir(lab);
    if !dir.is_dir() {
        return Err(Error::NoSuchLab(lab.to_string()));
    }
    let journal = state::read_journal(&dir, lab)?;
    let skipped = journal.report();
    for line in &skipped {
        tracing::debug!("skipped: {line}");
    }
    let entries = &journal.entries;
    let namespaces: Vec<&str> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Netns(n) => Some(n.as_str()),
            _ => None,
        })
        .collect();
    let processes = kill_processes(entries, &namespaces)?;
    let mut removed = Removed {
        lab: lab.to_string(),
        namespaces: 0,
        processes,
        skipped,
    };
    // Namespaces (veths, routes, qdiscs and SIDs go with them).
    for n in &namespaces {
        if netns::exists(n) {
            removed.namespaces += 1;
        }
        netns::delete(n)?;
    }
    remove_files(entries)?;
    // The state directory last: while it exists, `down` can be rerun.
    fs::remove_dir_all(&dir).map_err(Error::io("remove state directory", &dir))?;
    Ok(removed)
}

/// SIGKILL the owner and the lab's processes (pid + start time checked),
/// then anything else inside the lab's namespaces (e.g. `labctl exec`
/// shells); wait until they are gone. Returns how many were killed.
fn kill_processes(entries: &[Entry], namespaces: &[&str]) -> Result<usize> {
    let me = std::process::id() as i32;
    let mut killed = Vec::new();
    for e in entries {
        if let Entry::Owner { pid, start } | Entry::Proc { pid, start, .. } = e {
            let id = ProcId {
                pid: *pid,
                start: *start,
            };
            // A permission error ends `down` here, before anything is removed.
            if *pid != me && id.signal(Signal::SIGKILL)? {
                killed.push(*pid);
            }
        }
    }
    let inodes: Vec<u64> = namespaces.iter().filter_map(|n| netns::inode(n)).collect();
    for pid in labns::proc::pids_in_netns(&inodes) {
        if pid != me && !killed.contains(&pid) && labns::proc::signal_pid(pid, Signal::SIGKILL)? {
            killed.push(pid);
        }
    }
    Wait::new("the lab's processes to exit after SIGKILL", KILL_WAIT).until(|| {
        let alive: Vec<i32> = killed
            .iter()
            .copied()
            .filter(|p| !labns::proc::is_gone(*p))
            .collect();
        if alive.is_empty() {
            std::ops::ControlFlow::Break(())
        } else {
            std::ops::ControlFlow::Continue(format!("still running: {alive:?}"))
        }
    })?;
    Ok(killed.len())
}

/// Files outside the state directory, in parallel: a directory removal on
/// /etc takes milliseconds here and they do not depend on each other. The
/// journal reader let through only the lab's own `/etc/netns/<ns>` and pins.
fn remove_files(entries: &[Entry]) -> Result<()> {
    std::thread::scope(|scope| {
        let jobs: Vec<_> = entries
            .iter()
            .filter_map(|e| match e {
                Entry::Etc(p) => Some(scope.spawn(move || remove(p, |p| fs::remove_dir_all(p)))),
                Entry::Pin(p) => Some(scope.spawn(move || remove(p, |p| fs::remove_file(p)))),
                _ => None,
            })
            .collect();
        jobs.into_iter()
            .map(|j| j.join().unwrap_or(Ok(())))
            .collect::<Result<Vec<()>>>()
    })?;
    Ok(())
}

/// Remove `p` with `how`; already gone is fine.
fn remove(p: &Path, how: fn(&Path) -> io::Result<()>) -> Result<()> {
    match how(p) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::io("remove", p)(e)),
        _ => Ok(()),
    }
}
