//! One agent per interface: a lock file and the status socket under the run
//! directory (`/run/srv6-agent/`), both named after the interface and its
//! network namespace (`eth0@4026531840.lock`, `.sock`), since interface
//! names repeat across namespaces.
//!
//! The lock is an advisory `flock` held for the agent's life (released by
//! the kernel even when the agent crashes); the file holds the pid so a
//! second start can say who runs. Both files are removed at exit.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The default run directory.
pub const RUN_DIR: &str = "/run/srv6-agent";

/// Why the run files could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum RunFilesError {
    #[error("srv6-agent already runs on {interface} (pid {pid}, lock {})", lock.display())]
    Running {
        interface: String,
        pid: String,
        lock: PathBuf,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RunFilesError + '_ {
    move |source| RunFilesError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The network namespace of this process (its inode number).
pub fn netns_id() -> std::io::Result<u64> {
    Ok(std::fs::metadata("/proc/self/ns/net")?.ino())
}

/// `IF@NETNS`, the name of an agent's files.
pub fn instance(interface: &str) -> std::io::Result<String> {
    Ok(format!("{interface}@{}", netns_id()?))
}

/// The status socket of the agent on `interface` (in this namespace).
pub fn socket_path(dir: &Path, interface: &str) -> std::io::Result<PathBuf> {
    Ok(dir.join(format!("{}.sock", instance(interface)?)))
}

/// Whether an agent holds the lock file `lock` now (a killed agent leaves
/// its files behind, unlocked; namespace inode numbers are reused).
pub fn is_held(lock: &Path) -> bool {
    match File::open(lock) {
        Ok(file) => matches!(file.try_lock_shared(), Err(TryLockError::WouldBlock)),
        Err(_) => false,
    }
}

/// Status sockets of the running agents of this namespace, sorted.
pub fn sockets_here(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let suffix = format!("@{}.sock", netns_id()?);
    let mut out: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().ends_with(&suffix))
            .filter(|p| is_held(&p.with_extension("lock")))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    out.sort();
    Ok(out)
}

/// The held lock and the socket path; both files go when this is dropped.
#[derive(Debug)]
pub struct RunFiles {
    pub lock_path: PathBuf,
    pub socket_path: PathBuf,
    lock: File,
}

impl RunFiles {
    /// Take the lock of `interface`, or say which pid holds it.
    pub fn acquire(dir: &Path, interface: &str) -> Result<RunFiles, RunFilesError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let name = instance(interface).map_err(io(Path::new("/proc/self/ns/net")))?;
        let lock_path = dir.join(format!("{name}.lock"));
        let socket_path = dir.join(format!("{name}.sock"));
        loop {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&lock_path)
                .map_err(io(&lock_path))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    let mut pid = String::new();
                    let _ = file.read_to_string(&mut pid);
                    return Err(RunFilesError::Running {
                        interface: interface.to_owned(),
                        pid: pid.trim().to_owned(),
                        lock: lock_path,
                    });
                }
                Err(TryLockError::Error(e)) => return Err(io(&lock_path)(e)),
            }
            // The previous holder may have removed the file between our
            // open and our lock: then we hold a lock nobody else can see.
            let same = std::fs::metadata(&lock_path)
                .is_ok_and(|m| file.metadata().is_ok_and(|f| f.ino() == m.ino()));
            if !same {
                continue;
            }
            file.set_len(0).map_err(io(&lock_path))?;
            writeln!(file, "{}", std::process::id()).map_err(io(&lock_path))?;
            // A socket left by a crashed agent: ours now.
            match std::fs::remove_file(&socket_path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&socket_path)(e)),
            }
            return Ok(RunFiles {
                lock_path,
                socket_path,
                lock: file,
            });
        }
    }
}

impl Drop for RunFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.socket_path);
        // Unlink while still holding the lock, then release it.
        let _ = std::fs::remove_file(&self.lock_path);
        let _ = self.lock.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_names_the_holder_and_drop_removes_both_files() {
        let dir = std::env::temp_dir().join(format!("srv6-agent-test-{}", std::process::id()));
        let first = RunFiles::acquire(&dir, "eth9").unwrap();
        std::fs::write(&first.socket_path, b"").unwrap();
        let err = RunFiles::acquire(&dir, "eth9").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "srv6-agent already runs on eth9 (pid {}, lock {})",
                std::process::id(),
                first.lock_path.display()
            )
        );
        let other = RunFiles::acquire(&dir, "eth8").unwrap();
        let (lock, socket) = (first.lock_path.clone(), first.socket_path.clone());
        drop(first);
        assert!(!lock.exists() && !socket.exists());
        let again = RunFiles::acquire(&dir, "eth9").unwrap();
        assert!(is_held(&again.lock_path));
        std::fs::write(&again.socket_path, b"").unwrap();
        assert_eq!(
            sockets_here(&dir).unwrap(),
            std::slice::from_ref(&again.socket_path)
        );
        // A socket whose agent is gone (its lock not held) is not listed.
        let stale = dir.join(format!("{}.sock", instance("eth7").unwrap()));
        std::fs::write(&stale, b"").unwrap();
        std::fs::write(stale.with_extension("lock"), b"1\n").unwrap();
        assert_eq!(
            sockets_here(&dir).unwrap(),
            std::slice::from_ref(&again.socket_path)
        );
        drop((again, other));
        std::fs::remove_file(&stale).unwrap();
        std::fs::remove_file(stale.with_extension("lock")).unwrap();
        std::fs::remove_dir(&dir).unwrap();
    }
}
