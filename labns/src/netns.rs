//! Named network namespaces, the way `ip netns` keeps them: a file under
//! `/run/netns/NAME` with the namespace bind-mounted on it, the directory a
//! shared mount point so the namespaces propagate into other mount
//! namespaces. `ip netns exec`, `ip -n` and every other tool see them.
//!
//! Creation and opening go through `netns-rs` (its `Env` is the directory,
//! its `NetNs::new_with_env` unshares on a short-lived thread of its own and
//! bind-mounts that thread's namespace). Two things it does not do are done
//! here: claiming the name exclusively first (netns-rs would mount a fresh
//! namespace over an existing one), and deleting a placeholder left by a
//! crash between the claim and the mount (netns-rs refuses to unmount it).

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use netns_rs::Env;
use nix::errno::Errno;
use nix::mount::{umount2, MntFlags};

use crate::error::{Error, Result};
use crate::guard::NetNsGuard;

/// Where named namespaces live (the `ip netns` convention).
pub const NETNS_DIR: &str = "/run/netns";

/// The netns-rs environment of `/run/netns` (netns-rs defaults to
/// `/var/run/netns`, a symlink to it on most systems but not all).
#[derive(Debug, Clone, Copy, Default)]
pub struct RunNetns;

impl Env for RunNetns {
    fn persist_dir(&self) -> PathBuf {
        PathBuf::from(NETNS_DIR)
    }
}

/// Check that `name` is one plain file name: non-empty, at most 255 bytes,
/// no `/`, no NUL, not `.` or `..`. Every function here checks it, so no
/// name read from a file can reach a path outside `/run/netns`.
pub fn check_name(name: &str) -> Result<()> {
    let bad = |why| {
        Err(Error::BadName {
            name: name.to_string(),
            why,
        })
    };
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > 255 {
        return bad("longer than 255 bytes");
    }
    if name.contains(['/', '\0']) {
        return bad("contains '/' or NUL");
    }
    if name == "." || name == ".." {
        return bad("is . or ..");
    }
    Ok(())
}

/// The path of the namespace file of `name`.
pub fn path(name: &str) -> Result<PathBuf> {
    check_name(name)?;
    Ok(Path::new(NETNS_DIR).join(name))
}

/// Make `/run/netns` exist and be a shared mount point, as `ip netns add` does.
pub fn ensure_dir() -> Result<()> {
    RunNetns.init().map_err(|source| Error::NetnsRs {
        name: NETNS_DIR.to_string(),
        op: "make the directory a shared mount point",
        source,
    })
}

/// An open named namespace: its fd enters it (`setns`) or places a link in
/// it (`IFLA_NET_NS_FD`).
#[derive(Debug)]
pub struct NsHandle {
    name: String,
    inner: netns_rs::NetNs<RunNetns>,
}

impl NsHandle {
    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Move the calling thread into this namespace until the guard drops.
    pub fn enter(&self) -> Result<NetNsGuard> {
        NetNsGuard::enter_handle(self)
    }

    pub(crate) fn enter_raw(&self) -> Result<()> {
        self.inner.enter().map_err(|source| Error::NetnsRs {
            name: self.name.clone(),
            op: "setns",
            source,
        })
    }
}

impl AsFd for NsHandle {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.file().as_fd()
    }
}

impl AsRawFd for NsHandle {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.file().as_raw_fd()
    }
}

/// Open the namespace `name`.
pub fn open(name: &str) -> Result<NsHandle> {
    check_name(name)?;
    let inner = netns_rs::NetNs::get_from_env(name, RunNetns).map_err(|source| Error::NetnsRs {
        name: name.to_string(),
        op: "open",
        source,
    })?;
    Ok(NsHandle {
        name: name.to_string(),
        inner,
    })
}

/// Create the namespace `name` and publish it as `/run/netns/NAME`. Fails
/// with [`Error::Exists`] if that name is taken: someone else's namespace is
/// never reused. The calling thread stays where it is.
pub fn create(name: &str) -> Result<NsHandle> {
    let file = path(name)?;
    fs::create_dir_all(NETNS_DIR).map_err(Error::io("create directory", NETNS_DIR))?;
    match OpenOptions::new().write(true).create_new(true).open(&file) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(Error::Exists {
                name: name.to_string(),
            })
        }
        Err(e) => return Err(Error::io("create namespace file", &file)(e)),
    }
    // On failure netns-rs removes the file it was given (our claim).
    let inner = netns_rs::NetNs::new_with_env(name, RunNetns).map_err(|source| Error::NetnsRs {
        name: name.to_string(),
        op: "create",
        source,
    })?;
    Ok(NsHandle {
        name: name.to_string(),
        inner,
    })
}

/// Create the namespace `name` and move the calling thread into it until
/// the guard drops (call it on a thread of your own: see [`NetNsGuard`]).
pub fn create_and_enter(name: &str) -> Result<NetNsGuard> {
    create(name)?.enter()
}

/// A namespace that exists while this value lives: created exclusively,
/// deleted on drop — also when a test panics. For tests and short-lived
/// tools; a lab's namespaces outlive `labctl up` and are journalled instead.
#[derive(Debug)]
pub struct Scoped {
    handle: NsHandle,
}

impl Scoped {
    /// Create the namespace `name` ([`create`]).
    pub fn create(name: &str) -> Result<Scoped> {
        Ok(Scoped {
            handle: create(name)?,
        })
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        self.handle.name()
    }

    /// The open namespace (to enter, or to place a link in).
    pub fn handle(&self) -> &NsHandle {
        &self.handle
    }
}

impl Drop for Scoped {
    fn drop(&mut self) {
        if let Err(e) = delete(self.handle.name()) {
            tracing::error!("removing namespace {}: {e}", self.handle.name());
        }
    }
}

/// A name unique across processes and calls: `<prefix><pid>-<counter>`,
/// so tests running in parallel never share a namespace (or a lab).
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Whether `/run/netns/NAME` exists (false for an invalid name).
pub fn exists(name: &str) -> bool {
    path(name).is_ok_and(|p| p.exists())
}

/// The inode of a mounted namespace: what `/proc/PID/ns/net` of its
/// processes shows (see [`crate::proc::pids_in_netns`]).
pub fn inode(name: &str) -> Option<u64> {
    Some(fs::metadata(path(name).ok()?).ok()?.ino())
}

/// Unmount and remove `/run/netns/NAME`. A missing namespace is fine
/// (idempotent), and so is a placeholder that was never mounted (left by a
/// crash between claim and mount).
pub fn delete(name: &str) -> Result<()> {
    let p = path(name)?;
    match umount2(&p, MntFlags::MNT_DETACH) {
        Ok(()) | Err(Errno::EINVAL | Errno::ENOENT) => {}
        Err(e) => {
            return Err(Error::Netns {
                name: name.to_string(),
                op: "umount",
                source: e.into(),
            })
        }
    }
    match fs::remove_file(&p) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(Error::io("remove namespace file", p)(e))
        }
        _ => Ok(()),
    }
}

/// Write a sysctl of the calling thread's network namespace, in path form
/// (`net/ipv6/conf/all/forwarding`): `/proc/sys/net` resolves against the
/// namespace of the thread that opens it.
pub fn sysctl(key: &str, value: &str) -> Result<()> {
    let p = Path::new("/proc/sys").join(key);
    if !Path::new(key)
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
    {
        return Err(Error::io("sysctl", p)(io::ErrorKind::InvalidInput.into()));
    }
    let mut f = OpenOptions::new()
        .write(true)
        .open(&p)
        .map_err(Error::io("open sysctl", &p))?;
    f.write_all(value.as_bytes())
        .map_err(Error::io("write sysctl", &p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_outside_the_directory_are_refused() {
        for bad in ["", ".", "..", "../etc", "a/b", "/abs", "nul\0x"] {
            assert!(
                matches!(check_name(bad), Err(Error::BadName { .. })),
                "{bad:?}"
            );
            assert!(!exists(bad));
            assert!(matches!(delete(bad), Err(Error::BadName { .. })));
        }
        assert!(check_name(&"x".repeat(256)).is_err());
        for good in ["hawk-vpp1", "t123-4-host-a", "a..b", ".hidden", "x"] {
            assert!(check_name(good).is_ok(), "{good:?}");
        }
        assert_eq!(path("lab-r1").unwrap(), Path::new("/run/netns/lab-r1"));
    }

    #[test]
    fn unique_names_differ_and_carry_the_pid() {
        let (a, b) = (unique_name("t"), unique_name("t"));
        assert_ne!(a, b);
        assert!(a.starts_with(&format!("t{}-", std::process::id())), "{a}");
        assert!(check_name(&a).is_ok());
    }

    #[test]
    fn sysctl_keys_stay_under_proc_sys() {
        assert!(sysctl("../../etc/passwd", "x").is_err());
        assert!(sysctl("/etc/passwd", "x").is_err());
    }
}
