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
use std::path::{Component, Path, PathBuf};
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
    /// A directory `/etc/netns/<ns>` holding the namespace's hosts and resolv.conf.
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
        let entry = match kind {
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
        };
        match it.next() {
            Some(extra) => Err(format!("{kind}: unexpected {extra:?} after the entry")),
            None => Ok(entry),
        }
    }

    /// Whether this entry names only things lab `lab` may own: its own
    /// namespaces (`<lab>-*`, one file name), their `/etc/netns/<ns>`
    /// directories, pins under `/sys/fs/bpf`, real pids (never 0, 1 or
    /// negative: `kill` reads those as groups or everyone). `down` follows
    /// nothing else, whatever the journal says.
    fn check_owned_by(&self, lab: &str) -> std::result::Result<(), String> {
        let own_ns =
            |n: &str| labns::netns::check_name(n).is_ok() && n.starts_with(&format!("{lab}-"));
        let ok = match self {
            Entry::Owner { pid, .. } | Entry::Proc { pid, .. } => *pid > 1,
            Entry::Netns(n) => own_ns(n),
            Entry::Etc(p) => {
                let rest = p.strip_prefix(labns::command::ETC_NETNS_DIR).ok();
                let mut parts = rest.map(|r| r.components()).into_iter().flatten();
                match (parts.next(), parts.next()) {
                    (Some(Component::Normal(n)), None) => n.to_str().is_some_and(own_ns),
                    _ => false,
                }
            }
            Entry::Pin(p) => p.strip_prefix(BPF_FS).is_ok_and(|r| {
                r.components().next().is_some()
                    && r.components().all(|c| matches!(c, Component::Normal(_)))
            }),
            Entry::Complete => true,
        };
        if ok {
            Ok(())
        } else {
            Err(format!("refused: not a place lab {lab} owns"))
        }
    }
}

/// Where pinned BPF objects live.
pub const BPF_FS: &str = "/sys/fs/bpf";

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

/// A journal line [`read_journal`] could not use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedLine {
    /// 1-based line number.
    pub line: usize,
    /// The line as written (at most 200 characters).
    pub text: String,
    /// Why it was skipped.
    pub why: String,
}

/// A journal as read: the entries `down` may act on and the lines it may not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JournalRead {
    pub path: PathBuf,
    pub entries: Vec<Entry>,
    pub skipped: Vec<SkippedLine>,
}

impl JournalRead {
    /// One `journal:LINE: why: "text"` line per skipped line.
    pub fn report(&self) -> Vec<String> {
        self.skipped
            .iter()
            .map(|s| {
                format!(
                    "{}:{}: {}: {:?}",
                    self.path.display(),
                    s.line,
                    s.why,
                    s.text
                )
            })
            .collect()
    }
}

/// Read the journal of lab `lab` in `dir`. A line that does not parse (a
/// torn last line from a kill during the write, damage, a foreign line) or
/// that names something outside the lab's own places is skipped and
/// reported; every other line is returned. A missing journal is empty.
pub fn read_journal(dir: &Path, lab: &str) -> Result<JournalRead> {
    let path = dir.join("journal");
    let text = match fs::read(&path) {
        Ok(t) => String::from_utf8_lossy(&t).into_owned(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(JournalRead {
                path,
                ..JournalRead::default()
            })
        }
        Err(e) => return Err(Error::io("read journal", path)(e)),
    };
    let complete_lines = if text.ends_with('\n') {
        text.lines().count()
    } else {
        text.lines().count().saturating_sub(1)
    };
    let mut read = JournalRead {
        path,
        ..JournalRead::default()
    };
    for (i, l) in text.lines().enumerate() {
        let parsed = if i >= complete_lines {
            Err("incomplete last line (up was killed while writing it)".to_string())
        } else if l.trim().is_empty() {
            continue;
        } else {
            Entry::parse(l).and_then(|e| e.check_owned_by(lab).map(|()| e))
        };
        match parsed {
            Ok(e) => read.entries.push(e),
            Err(why) => read.skipped.push(SkippedLine {
                line: i + 1,
                text: l.chars().take(200).collect(),
                why,
            }),
        }
    }
    Ok(read)
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
    /// Every router runs on this backend, whatever the file says (`labctl
    /// run --router-backend`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router_backend: Option<topology::RouterBackend>,
}

/// Put every router of `topo` on `backend` (when given).
pub fn with_router_backend(
    topo: &mut topology::Topology,
    backend: Option<topology::RouterBackend>,
) {
    let Some(b) = backend else { return };
    for n in topo.nodes.values_mut() {
        if n.kind == topology::NodeKind::Router {
            n.backend = b;
        }
    }
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

/// The topology a lab was built from: `topology.yaml` in its state
/// directory, named in problems by the file `up` was given.
pub fn read_topology(dir: &Path) -> Result<topology::Topology> {
    let meta = read_meta(dir)?;
    let p = dir.join("topology.yaml");
    let text = topology::read_input_file(&p, topology::MAX_INPUT_FILE_BYTES)
        .map_err(topology::LoadError::Read)?;
    let mut topo = topology::parse_str(&text, &meta.source.display().to_string())?;
    with_router_backend(&mut topo, meta.router_backend);
    Ok(topo)
}

/// A JSON file of a lab's state directory (`links.json`, `deploy.json`,
/// `dns-records.json`); a missing file reads as the default.
pub fn read_json<T: serde::de::DeserializeOwned + Default>(dir: &Path, file: &str) -> Result<T> {
    let path = dir.join(file);
    match fs::read_to_string(&path) {
        Ok(t) => serde_json::from_str(&t).map_err(|e| Error::Io {
            op: "decode",
            path,
            source: io::Error::other(e),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(Error::io("read", path)(e)),
    }
}

/// Write a JSON file of a lab's state directory.
pub fn write_json<T: Serialize>(dir: &Path, file: &str, value: &T) -> Result<()> {
    let path = dir.join(file);
    fs::write(&path, serde_json::to_string_pretty(value)?).map_err(Error::io("write", path))
}

/// What the kernel could enforce when the lab came up
/// ([`crate::shaping::Features`]; missing: nothing beyond tbf and the dropper).
pub const FEATURES: &str = "features.json";

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

/// `running labs: a, b` or `no lab is running`, for messages about a lab
/// that is not running.
pub fn running_labs_phrase() -> String {
    match list_labs() {
        labs if labs.is_empty() => "no lab is running".to_string(),
        labs => format!("running labs: {}", labs.join(", ")),
    }
}

/// The lab a command acts on: `name` if given (it must run), else the only
/// running lab. `how_to_choose` ends the error when several run.
pub fn select_lab(name: Option<&str>, how_to_choose: &'static str) -> Result<String> {
    if let Some(n) = name {
        validate_name(n)?;
        if !lab_dir(n).is_dir() {
            return Err(Error::NoSuchLab(n.to_string()));
        }
        return Ok(n.to_string());
    }
    let mut labs = list_labs();
    match labs.len() {
        0 => Err(Error::NoLabRunning),
        1 => Ok(labs.remove(0)),
        _ => Err(Error::SeveralLabs {
            labs,
            how_to_choose,
        }),
    }
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
        assert!(Entry::parse("netns a b").is_err(), "trailing words");
        assert!(Entry::parse("proc dns notapid 3").is_err());
    }

    /// A journal file in a fresh temporary directory, removed on drop.
    struct TempJournal(PathBuf);

    impl TempJournal {
        fn with(text: &str) -> TempJournal {
            use std::sync::atomic::{AtomicU32, Ordering};
            static N: AtomicU32 = AtomicU32::new(0);
            let dir = std::env::temp_dir().join(format!(
                "labctl-journal-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst)
            ));
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join("journal"), text).unwrap();
            TempJournal(dir)
        }
    }

    impl Drop for TempJournal {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn torn_last_line_is_ignored() {
        let j = TempJournal::with("netns a-b\nnetns a-c\nnet");
        let got = read_journal(&j.0, "a").unwrap();
        assert_eq!(
            got.entries,
            vec![Entry::Netns("a-b".into()), Entry::Netns("a-c".into())]
        );
        assert_eq!(got.skipped.len(), 1);
        assert_eq!(got.skipped[0].line, 3);
        assert_eq!(got.skipped[0].text, "net");
    }

    #[test]
    fn damaged_and_foreign_lines_are_skipped_and_the_rest_is_kept() {
        let j = TempJournal::with(
            "owner 7 99\n\
             netns a-b\n\
             netns a-\u{1}garbage here\n\
             proc dns 12x 5\n\
             frobnicate 1 2\n\
             netns a-c\n",
        );
        let got = read_journal(&j.0, "a").unwrap();
        assert_eq!(
            got.entries,
            vec![
                Entry::Owner { pid: 7, start: 99 },
                Entry::Netns("a-b".into()),
                Entry::Netns("a-c".into()),
            ]
        );
        let lines: Vec<usize> = got.skipped.iter().map(|s| s.line).collect();
        assert_eq!(lines, [3, 4, 5]);
        let report = got.report();
        assert!(
            report[2].contains("journal:5: unknown entry kind"),
            "{report:?}"
        );
    }

    #[test]
    fn lines_outside_the_labs_places_are_refused() {
        let j = TempJournal::with(
            "netns a-ok\n\
             netns ../../tmp/victim\n\
             netns other-lab-r1\n\
             etc /etc/netns/a-ok\n\
             etc /etc/netns/../passwd\n\
             etc /etc/netns/a-ok/../../../tmp/victim\n\
             etc /etc/netns/b-x\n\
             etc /tmp/a-x\n\
             pin /sys/fs/bpf/a/map\n\
             pin /sys/fs/bpf/../../../etc/passwd\n\
             pin /etc/passwd\n\
             proc dns -1 5\n\
             proc dns 0 5\n\
             owner 1 5\n\
             proc dns 4242 5\n",
        );
        let got = read_journal(&j.0, "a").unwrap();
        assert_eq!(
            got.entries,
            vec![
                Entry::Netns("a-ok".into()),
                Entry::Etc("/etc/netns/a-ok".into()),
                Entry::Pin("/sys/fs/bpf/a/map".into()),
                Entry::Proc {
                    name: "dns".into(),
                    pid: 4242,
                    start: 5
                },
            ]
        );
        assert_eq!(got.skipped.len(), 11);
        assert!(got.skipped.iter().all(|s| s.why.starts_with("refused")));
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
}
