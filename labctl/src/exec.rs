//! `labctl exec NODE [--lab NAME] -- CMD...`: run a command inside a node's
//! namespace, the way `ip netns exec` does: enter the network namespace,
//! take a private mount namespace (mounts made there never reach the host),
//! and bind-mount every file of `/etc/netns/<ns>/` over its `/etc/`
//! counterpart (the lab's `resolv.conf`). The exit code is the command's
//! (128 + signal when it was killed).

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus};

use labns::signals::Ignored;
use labns::{netns, Signal, SpawnOptions};

use crate::error::{Error, Result};
use crate::state;

/// Run `cmd` in `node` of `lab`; returns the exit code to propagate.
pub fn run(node: &str, lab: Option<&str>, cmd: &[String]) -> Result<i32> {
    let lab = state::select_lab(lab, "pass --lab NAME")?;
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
        return Err(Error::NoCommand);
    };
    let mut command = Command::new(prog);
    command.args(args);
    let spawned = labns::spawn_command_in(&ns, &mut command, &SpawnOptions::new().etc_overlay())?;
    let status = wait_foreground(spawned.child).map_err(|source| Error::Sys {
        op: "wait",
        what: format!("{prog} in {ns}"),
        source,
    })?;
    Ok(exit_code(status))
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
