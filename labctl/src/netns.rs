//! Named network namespaces, the way `ip netns` keeps them: a file under
//! `/run/netns/NAME` with the namespace bind-mounted on it, so `ip netns exec`
//! and every other tool see labctl's namespaces.
//!
//! A namespace is created by the OS thread that will configure it: the thread
//! calls `unshare(CLONE_NEWNET)` (which moves only that thread) and bind-mounts
//! its own `/proc/self/task/TID/ns/net`. Nothing here ever calls `setns` on a
//! thread that it does not own (never on a tokio worker).

use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Where named namespaces live (the `ip netns` convention).
pub const NETNS_DIR: &str = "/run/netns";

/// The path of the namespace file of `name`.
pub fn path(name: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(name)
}

fn cstr(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| Error::Sys {
        op: "path",
        what: p.display().to_string(),
        source: io::Error::from(io::ErrorKind::InvalidInput),
    })
}

/// mount(2) with optional source and fstype ("none" when absent).
fn mount(src: Option<&CString>, dst: &CString, flags: libc::c_ulong) -> io::Result<()> {
    let none = c"none";
    let src = src.map_or(none.as_ptr(), |s| s.as_ptr());
    // SAFETY: mount(2) with valid NUL-terminated strings and no data.
    let rc = unsafe { libc::mount(src, dst.as_ptr(), none.as_ptr(), flags, std::ptr::null()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Make `/run/netns` exist and be a shared mount point, as `ip netns add`
/// does, so namespaces mounted here propagate to other mount namespaces.
pub fn ensure_dir() -> Result<()> {
    let dir = Path::new(NETNS_DIR);
    fs::create_dir_all(dir).map_err(Error::io("create directory", dir))?;
    let c = cstr(dir)?;
    let shared = libc::MS_SHARED | libc::MS_REC;
    let sys = |op, source| Error::Sys {
        op,
        what: NETNS_DIR.to_string(),
        source,
    };
    match mount(None, &c, shared) {
        Ok(()) => return Ok(()),
        Err(e) if e.raw_os_error() != Some(libc::EINVAL) => {
            return Err(sys("mount --make-shared", e))
        }
        Err(_) => {}
    }
    // Not a mount point yet: bind it onto itself, then make it shared.
    mount(Some(&c), &c, libc::MS_BIND | libc::MS_REC).map_err(|e| sys("mount --bind", e))?;
    mount(None, &c, shared).map_err(|e| sys("mount --make-shared", e))
}

/// Move the calling OS thread into a fresh network namespace and publish it as
/// `/run/netns/NAME`. Fails if that name exists already (someone else's
/// namespace is never reused). Call only on a dedicated thread.
pub fn create_on_this_thread(name: &str) -> Result<()> {
    let file = path(name);
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&file)
        .map_err(Error::io("create namespace file", &file))?;
    // SAFETY: unshare(2) only affects the calling thread for CLONE_NEWNET.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        let e = Error::sys("unshare(CLONE_NEWNET)", name);
        let _ = fs::remove_file(&file);
        return Err(e);
    }
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    let src = PathBuf::from(format!("/proc/self/task/{tid}/ns/net"));
    let (csrc, cdst) = (cstr(&src)?, cstr(&file)?);
    if let Err(source) = mount(Some(&csrc), &cdst, libc::MS_BIND) {
        let _ = fs::remove_file(&file);
        return Err(Error::Sys {
            op: "bind-mount namespace",
            what: name.to_string(),
            source,
        });
    }
    Ok(())
}

/// Open the namespace file of `name` (for `setns` or `IFLA_NET_NS_FD`).
pub fn open(name: &str) -> Result<OwnedFd> {
    let p = path(name);
    let f = File::open(&p).map_err(Error::io("open namespace", &p))?;
    Ok(OwnedFd::from(f))
}

/// Move the calling thread into the namespace behind `fd`.
pub fn enter(fd: &OwnedFd, what: &str) -> Result<()> {
    // SAFETY: setns(2) on a namespace fd we own.
    if unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(Error::sys("setns", what));
    }
    Ok(())
}

/// Whether `/run/netns/NAME` exists.
pub fn exists(name: &str) -> bool {
    path(name).exists()
}

/// The inode of a mounted namespace (identifies it in `/proc/PID/ns/net`).
pub fn inode(name: &str) -> Option<u64> {
    let meta = fs::metadata(path(name)).ok()?;
    // Mounted, the path reports the nsfs inode that /proc/PID/ns/net shows.
    Some(meta.ino())
}

/// Unmount and remove `/run/netns/NAME`. Missing is fine (idempotent).
pub fn delete(name: &str) -> Result<()> {
    let p = path(name);
    let c = cstr(&p)?;
    // SAFETY: umount2(2) with a valid path.
    let rc = unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    if rc != 0 {
        let err = io::Error::last_os_error();
        // EINVAL: not a mount point (placeholder left by a crash); ENOENT: gone.
        if !matches!(err.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOENT)) {
            return Err(Error::Sys {
                op: "umount namespace",
                what: name.to_string(),
                source: err,
            });
        }
    }
    match fs::remove_file(&p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::Io {
            op: "remove namespace file",
            path: p,
            source: e,
        }),
    }
}

/// Every process whose network namespace has one of the given inodes
/// (what `ip netns pids` does).
pub fn pids_in(inodes: &[u64]) -> Vec<i32> {
    let mut out = Vec::new();
    if inodes.is_empty() {
        return out;
    }
    let Ok(dir) = fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if let Ok(meta) = fs::metadata(entry.path().join("ns/net")) {
            if inodes.contains(&meta.ino()) {
                out.push(pid);
            }
        }
    }
    out
}

/// Write a sysctl (path form, e.g. `net/ipv6/conf/all/forwarding`) of the calling thread's network namespace
/// (`/proc/sys/net/...` resolves against the current thread's namespace).
pub fn sysctl(key: &str, value: &str) -> Result<()> {
    let p = PathBuf::from(format!("/proc/sys/{key}"));
    let mut f = OpenOptions::new()
        .write(true)
        .open(&p)
        .map_err(Error::io("open sysctl", &p))?;
    f.write_all(value.as_bytes())
        .map_err(Error::io("write sysctl", &p))
}
