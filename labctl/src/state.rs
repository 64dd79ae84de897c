//! The state directory of a lab: `/run/labctl/<name>/`.
//!
//! Layout:
//! - `journal`: one line per thing the lab owns, appended **before** the
//!   thing is created (write-ahead), so `down` can remove everything even
//!   after `up` was killed halfway. Lines: `owner PID START`, `netns NAME`,
//!   `etc DIR` (a `/etc/netns/<ns>` directory), `proc NAME PID START`,
//!   `pin PATH`, `complete`.
//! - `lab.json`: name, source file, creation time ([`LabMeta`]).
//! - `topology.yaml`: the topology text the lab was built from (status
//!   re-reads it, so editing the source later does not confuse `status`).
//! - `*.log`: logs of the lab's processes (the DNS server).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Root of every lab's state directory.
pub const STATE_ROOT: &str = "/run/labctl";

/// The state directory of `lab`.
pub fn lab_dir(lab: &str) -> PathBuf {
    Path::new(STATE_ROOT).join(lab)
}

/// Check a lab name by the rule the topology file's `name` follows.
pub fn validate_name(name: &str) -> Result<()> {
    Ok(topology::names::check_name(
        topology::names::NameKind::Lab,
        name,
    )?)
}

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// The `labctl up` process building the lab (pid, start time in ticks).
    Owner { pid: i32, start: u64 },
    /// A named network namespace `/run/netns/NAME`.
    Netns(String),
    /// A directory `/etc/netns/<ns>` holding the namespace's resolv.conf.
    Etc(PathBuf),
    /// A process the lab runs (role name, pid, start time in ticks).
    Proc { name: String, pid: i32, start: u64 },
    /// A pinned BPF object.
    Pin(PathBuf),
    /// `up` finished.
    Complete,
}

impl Entry {
    fn to_line(&self) -> String {
        match self {
            Entry::Owner { pid, start } => format!("owner {pid} {start}"),
            Entry::Netns(n) => format!("netns {n}"),
            Entry::Etc(p) => format!("etc {}", p.display()),
            Entry::Proc { name, pid, start } => format!("proc {name} {pid} {start}"),
            Entry::Pin(p) => format!("pin {}", p.display()),
            Entry::Complete => "complete".to_string(),
        }
    }

    fn parse(line: &str) -> std::result::Result<Entry, String> {
        let mut it = line.split_whitespace();
        let kind = it.next().ok_or("empty line")?;
        let mut word = |what: &str| it.next().ok_or(format!("{kind}: missing {what}"));
        let num = |s: &str| s.parse::<u64>().map_err(|e| format!("{s:?}: {e}"));
        let pid = |s: &str| s.parse::<i32>().map_err(|e| format!("{s:?}: {e}"));
        Ok(match kind {
            "owner" => Entry::Owner {
                pid: pid(word("pid")?)?,
                start: num(word("start time")?)?,
            },
            "netns" => Entry::Netns(word("name")?.to_string()),
            "etc" => Entry::Etc(PathBuf::from(word("path")?)),
            "proc" => Entry::Proc {
                name: word("name")?.to_string(),
                pid: pid(word("pid")?)?,
                start: num(word("start time")?)?,
            },
            "pin" => Entry::Pin(PathBuf::from(word("path")?)),
            "complete" => Entry::Complete,
            other => return Err(format!("unknown entry kind {other:?}")),
        })
    }
}

/// The append-only journal of a lab being built.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: Mutex<File>,
}

impl Journal {
    /// Open (create or append to) the journal of the lab directory `dir`.
    pub fn open(dir: &Path) -> Result<Journal> {
        let path = dir.join("journal");
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(Error::io("open journal", &path))?;
        Ok(Journal {
            path,
            file: Mutex::new(file),
        })
    }

    /// Append entries with ONE write(2), so a kill never leaves half a batch
    /// of a line (O_APPEND writes on tmpfs are atomic at this size).
    pub fn record(&self, entries: &[Entry]) -> Result<()> {
        let mut text = String::new();
        for e in entries {
            text.push_str(&e.to_line());
            text.push('\n');
        }
        let mut f = self
            .file
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f.write_all(text.as_bytes())
            .map_err(Error::io("write journal", &self.path))
    }
}

/// Read a journal; a torn last line (a crash during the write) is ignored.
pub fn read_journal(dir: &Path) -> Result<Vec<Entry>> {
    let path = dir.join("journal");
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(Error::Io {
                op: "read journal",
                path,
                source: e,
            })
        }
    };
    let complete_lines = if text.ends_with('\n') {
        text.lines().count()
    } else {
        text.lines().count().saturating_sub(1)
    };
    text.lines()
        .take(complete_lines)
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            Entry::parse(l).map_err(|why| Error::Journal {
                path: path.clone(),
                line: i + 1,
                why,
            })
        })
        .collect()
}

/// What `lab.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LabMeta {
    /// Lab name (namespace prefix).
    pub name: String,
    /// The topology file `up` was given.
    pub source: PathBuf,
    /// Creation time, seconds since the Unix epoch.
    pub created_unix: u64,
}

/// Write `lab.json`.
pub fn write_meta(dir: &Path, meta: &LabMeta) -> Result<()> {
    let path = dir.join("lab.json");
    let text = serde_json::to_string_pretty(meta).map_err(|e| Error::Io {
        op: "encode",
        path: path.clone(),
        source: io::Error::other(e),
    })?;
    fs::write(&path, text).map_err(Error::io("write", &path))
}

/// Read `lab.json`.
pub fn read_meta(dir: &Path) -> Result<LabMeta> {
    let path = dir.join("lab.json");
    let text = fs::read_to_string(&path).map_err(Error::io("read", &path))?;
    serde_json::from_str(&text).map_err(|e| Error::Io {
        op: "decode",
        path,
        source: io::Error::other(e),
    })
}

/// Names of every lab that has a state directory.
pub fn list_labs() -> Vec<String> {
    let mut out: Vec<String> = fs::read_dir(STATE_ROOT)
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().is_dir())
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Start time of a process in clock ticks since boot (field 22 of
/// `/proc/PID/stat`): with the pid it identifies a process across pid reuse.
pub fn proc_start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: skip past the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the process `pid` that started at `start` still exists (and is not a zombie).
pub fn proc_alive(pid: i32, start: u64) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some(close) = stat.rfind(')') else {
        return false;
    };
    let mut fields = stat[close + 1..].split_whitespace();
    let state = fields.next();
    let started = fields.nth(18).and_then(|s| s.parse::<u64>().ok());
    state != Some("Z") && started == Some(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip() {
        let all = vec![
            Entry::Owner { pid: 7, start: 99 },
            Entry::Netns("hawk-vpp1".into()),
            Entry::Etc("/etc/netns/hawk-host-a".into()),
            Entry::Proc {
                name: "dns".into(),
                pid: 12,
                start: 5,
            },
            Entry::Pin("/sys/fs/bpf/x".into()),
            Entry::Complete,
        ];
        for e in all {
            assert_eq!(Entry::parse(&e.to_line()), Ok(e));
        }
        assert!(Entry::parse("bogus 1").is_err());
        assert!(Entry::parse("proc dns notapid 3").is_err());
    }

    #[test]
    fn torn_last_line_is_ignored() {
        let dir = std::env::temp_dir().join(format!("labctl-journal-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("journal"), "netns a-b\nnetns a-c\nnet").unwrap();
        let got = read_journal(&dir).unwrap();
        assert_eq!(
            got,
            vec![Entry::Netns("a-b".into()), Entry::Netns("a-c".into())]
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn names() {
        assert!(validate_name("hawk").is_ok());
        assert!(validate_name("t123-4").is_ok());
        assert!(validate_name("t-123_4.x").is_err());
        assert!(validate_name("").is_err());
        assert!(validate_name("-x").is_err());
        assert!(validate_name("a/b").is_err());
        assert!(validate_name("a b").is_err());
    }

    #[test]
    fn own_start_time_is_alive() {
        let pid = std::process::id() as i32;
        let start = proc_start_time(pid).unwrap();
        assert!(proc_alive(pid, start));
        assert!(!proc_alive(pid, start + 1));
    }
}
