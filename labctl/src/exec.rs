//! `labctl exec NODE [--lab NAME] -- CMD...`: run a command inside a node's
//! namespace, the way `ip netns exec` does: enter the network namespace,
//! take a private mount namespace (mounts made there never reach the host),
//! and bind-mount every file of `/etc/netns/<ns>/` over its `/etc/`
//! counterpart (the lab's `hosts`, `resolv.conf`); unlike it, also take a
//! UTS namespace named after the node. The exit code is the command's
//! (128 + signal when it was killed); as in a shell, a command that does
//! not exist is [`EXIT_NOT_FOUND`] (127) and one that may not be executed
//! [`EXIT_NOT_EXECUTABLE`] (126): [`shell_exit_code`].

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus};

use labns::signals::Ignored;
use labns::{netns, Signal, SpawnOptions};

use crate::error::{Error, Result};
use crate::state;

/// Exit status of `labctl exec` when the command does not exist (a shell's 127).
pub const EXIT_NOT_FOUND: u8 = 127;
/// Exit status of `labctl exec` when the command may not be executed (a shell's 126).
pub const EXIT_NOT_EXECUTABLE: u8 = 126;

/// The shell's exit status for an error of [`run`] that a shell reports
/// by status (command not found, not executable); `None` for the others.
pub fn shell_exit_code(e: &Error) -> Option<u8> {
    match e {
        Error::CommandNotFound { .. } => Some(EXIT_NOT_FOUND),
        Error::CommandNotExecutable { .. } => Some(EXIT_NOT_EXECUTABLE),
        _ => None,
    }
}

/// Run `cmd` in `node` of `lab`; returns the exit code to propagate.
pub fn run(node: &str, lab: Option<&str>, cmd: &[String]) -> Result<i32> {
    let lab = state::select_lab(lab, "pass --lab NAME")?;
    let ns = crate::plan::netns_name(&lab, node);
    if !netns::exists(&ns) {
        return Err(no_such_node(&lab, node));
    }
    let Some((prog, args)) = cmd.split_first() else {
        return Err(Error::NoCommand);
    };
    let mut command = Command::new(prog);
    command.args(args);
    let opts = SpawnOptions::new().etc_overlay().hostname(node);
    let spawned =
        labns::spawn_command_in(&ns, &mut command, &opts).map_err(|e| as_shell_error(e, node))?;
    let status = wait_foreground(spawned.child).map_err(|source| Error::Sys {
        op: "wait",
        what: format!("{prog} in {ns}"),
        source,
    })?;
    Ok(exit_code(status))
}

/// [`Error::NoSuchNode`] naming the lab's nodes and the nearest one.
pub fn no_such_node(lab: &str, node: &str) -> Error {
    let names = crate::status::node_names(lab);
    let hint = topology::suggest(node, names.iter())
        .map(|near| format!("; did you mean {near:?}?"))
        .unwrap_or_default();
    Error::NoSuchNode {
        lab: lab.to_string(),
        node: node.to_string(),
        hint,
        known: names.join(", "),
    }
}

/// A failed exec(2) of the command itself as a shell reports it. (An
/// error of the namespace set-up before it is an EPERM or EINVAL, never
/// ENOENT or EACCES: the namespace and the bind-mount targets exist.)
fn as_shell_error(e: labns::Error, node: &str) -> Error {
    let labns::Error::Spawn {
        program, source, ..
    } = &e
    else {
        return e.into();
    };
    let (program, node) = (program.clone(), node.to_string());
    match source.raw_os_error() {
        Some(libc::ENOENT) => Error::CommandNotFound { program, node },
        Some(libc::EACCES) => Error::CommandNotExecutable { program, node },
        _ => e.into(),
    }
}

/// Like a shell: while the command runs, Ctrl-C and Ctrl-\ are its
/// business (the terminal sends them to both); labctl waits for its exit
/// status instead of dying first.
fn wait_foreground(mut child: std::process::Child) -> std::io::Result<ExitStatus> {
    let ignored = Ignored::new(&[Signal::SIGINT, Signal::SIGQUIT]);
    if let Err(e) = &ignored {
        tracing::warn!("Ctrl-C may stop labctl before the command: {e}");
    }
    child.wait()
}

/// The command's exit code, or 128 + the signal that killed it.
fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}
