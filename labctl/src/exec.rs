//! `labctl exec NODE [--lab NAME] -- CMD...`: run a command inside a node's
//! namespace, the way `ip netns exec` does: enter the network namespace,
//! take a private mount namespace (mounts made there never reach the host),
//! and bind-mount every file of `/etc/netns/<ns>/` over its `/etc/`
//! counterpart (the lab's `resolv.conf`). The exit code is the command's
//! (128 + signal when it was killed).

use std::ffi::CString;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::Command;

use crate::error::{Error, Result};
use crate::netns;
use crate::state;

/// Pick the lab: the named one, or the only one running.
pub fn resolve_lab(lab: Option<&str>) -> Result<String> {
    if let Some(l) = lab {
        state::validate_name(l)?;
        if !state::lab_dir(l).is_dir() {
            return Err(Error::NoSuchLab(l.to_string()));
        }
        return Ok(l.to_string());
    }
    let labs = state::list_labs();
    match labs.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(Error::Ambiguous("no lab is running".to_string())),
        _ => Err(Error::Ambiguous(format!(
            "several labs are running ({}): pass --lab NAME",
            labs.join(", ")
        ))),
    }
}

/// Run `cmd` in `node` of `lab`; returns the exit code to propagate.
pub fn run(node: &str, lab: Option<&str>, cmd: &[String]) -> Result<i32> {
    let lab = resolve_lab(lab)?;
    let ns = crate::plan::netns_name(&lab, node);
    if !netns::exists(&ns) {
        let known = crate::status::node_names(&lab).join(", ");
        return Err(Error::NoSuchNode {
            lab,
            node: node.to_string(),
            known,
        });
    }
    let Some((prog, args)) = cmd.split_first() else {
        return Err(Error::Ambiguous("no command given after --".to_string()));
    };
    let fd = netns::open(&ns)?;
    let raw = fd.as_raw_fd();
    // Prepared before fork: only system calls run between fork and exec.
    let mut binds: Vec<(CString, CString)> = Vec::new();
    let etc = Path::new("/etc/netns").join(&ns);
    if let Ok(dir) = std::fs::read_dir(&etc) {
        for e in dir.flatten() {
            let src = e.path();
            let dst = Path::new("/etc").join(e.file_name());
            if !dst.exists() {
                continue; // like ip netns exec: only files that exist on the host
            }
            if let (Ok(s), Ok(d)) = (
                CString::new(src.as_os_str().as_bytes()),
                CString::new(dst.as_os_str().as_bytes()),
            ) {
                binds.push((s, d));
            }
        }
    }
    let mut command = Command::new(prog);
    command.args(args);
    // SAFETY: the closure only makes system calls on data prepared above.
    unsafe {
        command.pre_exec(move || {
            if libc::setns(raw, libc::CLONE_NEWNET) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::unshare(libc::CLONE_NEWNS) != 0 {
                return Err(io::Error::last_os_error());
            }
            // Keep our bind mounts from propagating back to the host.
            if libc::mount(
                c"none".as_ptr(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_SLAVE | libc::MS_REC,
                std::ptr::null(),
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            for (s, d) in &binds {
                if libc::mount(
                    s.as_ptr(),
                    d.as_ptr(),
                    c"none".as_ptr(),
                    libc::MS_BIND,
                    std::ptr::null(),
                ) != 0
                {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let mut child = command.spawn().map_err(|e| Error::Sys {
        op: "exec",
        what: format!("{prog} in {ns}"),
        source: e,
    })?;
    drop(fd);
    // Like a shell: while the command runs, Ctrl-C and Ctrl-\ are its
    // business (the terminal sends them to both); labctl waits for its exit
    // status instead of dying first.
    // SAFETY: signal(2) with the standard ignore / default dispositions.
    let (old_int, old_quit) = unsafe {
        (
            libc::signal(libc::SIGINT, libc::SIG_IGN),
            libc::signal(libc::SIGQUIT, libc::SIG_IGN),
        )
    };
    let status = child.wait();
    // SAFETY: restoring the dispositions saved above.
    unsafe {
        libc::signal(libc::SIGINT, old_int);
        libc::signal(libc::SIGQUIT, old_quit);
    }
    let status = status.map_err(|e| Error::Sys {
        op: "wait",
        what: format!("{prog} in {ns}"),
        source: e,
    })?;
    Ok(status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}
