//! `labctl down [NAME] [--all]`: remove everything a lab's journal names,
//! in an order that works after a crash at any point of `up`:
//! the owner `up` process (if it still runs) and the lab's processes, every
//! other process still inside one of the lab's namespaces, the namespaces
//! (their veths go with them: no lab interface ever lives in the root
//! namespace), `/etc/netns/<ns>` directories, pins, then the state directory.

use std::fs;
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::netns;
use crate::state::{self, Entry};

/// What `down` removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Removed {
    pub lab: String,
    pub namespaces: usize,
    pub processes: usize,
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
    } else if let Some(n) = &opts.name {
        vec![n.clone()]
    } else {
        let labs = state::list_labs();
        match labs.len() {
            1 => labs,
            0 => return Err(Error::Ambiguous("no lab is running".to_string())),
            _ => {
                return Err(Error::Ambiguous(format!(
                    "several labs are running ({}): name one or pass --all",
                    labs.join(", ")
                )))
            }
        }
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
    let entries = state::read_journal(&dir)?;
    let mut removed = Removed {
        lab: lab.to_string(),
        ..Removed::default()
    };
    let me = std::process::id() as i32;

    // 1. Processes: the owner (a still-running or stuck `up`), the lab's own.
    let mut killed = Vec::new();
    for e in &entries {
        if let Entry::Owner { pid, start } | Entry::Proc { pid, start, .. } = e {
            if *pid != me && state::proc_alive(*pid, *start) {
                kill(*pid);
                killed.push(*pid);
            }
        }
    }
    // 2. Anything else still inside the lab's namespaces (e.g. `labctl exec` shells).
    let names: Vec<&str> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Netns(n) => Some(n.as_str()),
            _ => None,
        })
        .collect();
    let inodes: Vec<u64> = names.iter().filter_map(|n| netns::inode(n)).collect();
    for pid in netns::pids_in(&inodes) {
        if pid != me && !killed.contains(&pid) {
            kill(pid);
            killed.push(pid);
        }
    }
    removed.processes = killed.len();
    wait_gone(&killed, Duration::from_secs(5))?;

    // 3. Namespaces (veths, routes, qdiscs and SIDs go with them).
    for n in &names {
        if netns::exists(n) {
            removed.namespaces += 1;
        }
        netns::delete(n)?;
    }
    // 4. Files outside the state directory, in parallel: a directory
    //    removal on /etc takes milliseconds here and they do not depend on
    //    each other.
    std::thread::scope(|scope| {
        let jobs: Vec<_> = entries
            .iter()
            .filter_map(|e| match e {
                Entry::Etc(p) if p.starts_with("/etc/netns/") => {
                    Some(scope.spawn(move || remove_dir(p)))
                }
                Entry::Pin(p) if p.starts_with("/sys/fs/bpf/") => {
                    Some(scope.spawn(move || remove_file(p)))
                }
                _ => None,
            })
            .collect();
        jobs.into_iter()
            .map(|j| j.join().unwrap_or(Ok(())))
            .collect::<Result<Vec<()>>>()
    })?;
    // 5. The state directory last: while it exists, `down` can be rerun.
    fs::remove_dir_all(&dir).map_err(Error::io("remove state directory", &dir))?;
    Ok(removed)
}

fn kill(pid: i32) {
    // SAFETY: kill(2) on a pid we verified belongs to this lab.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
}

/// Wait (polling, with a deadline) until every pid is gone or a zombie.
fn wait_gone(pids: &[i32], limit: Duration) -> Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        let alive: Vec<i32> = pids
            .iter()
            .copied()
            .filter(|p| state::proc_start_time(*p).is_some() && !is_zombie(*p))
            .collect();
        if alive.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Error::Timeout(format!(
                "processes {alive:?} did not exit after SIGKILL"
            )));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn is_zombie(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let close = s.rfind(')')?;
            s[close + 1..]
                .split_whitespace()
                .next()
                .map(|st| st == "Z" || st == "X")
        })
        .unwrap_or(false)
}

fn remove_dir(p: &Path) -> Result<()> {
    match fs::remove_dir_all(p) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::Io {
            op: "remove",
            path: p.to_path_buf(),
            source: e,
        }),
        _ => Ok(()),
    }
}

fn remove_file(p: &Path) -> Result<()> {
    match fs::remove_file(p) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::Io {
            op: "remove",
            path: p.to_path_buf(),
            source: e,
        }),
        _ => Ok(()),
    }
}
