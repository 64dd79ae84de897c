//! labns: network namespaces and processes of a lab, in one place, for
//! labctl, the agent tests, the scenario engine and the dataplane tests.
//!
//! Built on `netns-rs` (named namespaces the `ip netns` way, entering one)
//! and `nix` (mounts, `setns`/`unshare`, signals); nothing here calls `libc`
//! directly.
//!
//! The one rule this crate enforces: **a thread that entered a namespace
//! never runs anything else**. [`NetNsGuard`] is `!Send` and puts its thread
//! back on drop; [`run_in`] / [`spawn_in`] run a closure on a fresh OS thread
//! (never a tokio worker); [`spawn_command_in`] enters the namespace between
//! fork and exec, so the command is inside it from its first instruction.
//!
//! # Layout
//! - [`netns`]: named namespaces under `/run/netns` (create, open, delete,
//!   inode, sysctl of the calling thread's namespace; [`netns::Scoped`], one
//!   removed on drop, and [`netns::unique_name`] for tests running in parallel).
//! - [`guard`]: [`NetNsGuard`], enter a namespace on this thread, back on drop.
//! - [`thread`]: [`run_in`] / [`spawn_in`], a closure inside a namespace on
//!   its own OS thread.
//! - [`command`]: [`spawn_command_in`], one command inside a namespace
//!   (optionally its own session, optionally `/etc/netns/<ns>/` bind-mounted
//!   over `/etc` as `ip netns exec` does), with a journal-friendly [`ProcId`].
//! - [`proc`]: the one `/proc` reader (start time, state, comm, cmdline,
//!   network namespace, processes of a namespace) and identity-checked kill.
//! - [`wait`]: the one deadline wait (poll a condition, sync or async; wait for
//!   a line on a pipe), with a [`Timeout`] error that says what was awaited.
//! - [`signals`]: defer SIGINT/SIGTERM/SIGHUP to step boundaries; ignore
//!   terminal signals while a foreground child runs.
//! - [`error`]: [`Error`], one typed enum for the crate.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod command;
pub mod error;
pub mod guard;
pub mod netns;
pub mod proc;
pub mod signals;
pub mod thread;
pub mod wait;

pub use command::{spawn_command_in, SpawnOptions, Spawned};
pub use error::{Error, Result};
pub use guard::NetNsGuard;
/// The signal type of [`ProcId::signal`] and [`signals`] (from nix).
pub use nix::sys::signal::Signal;
pub use proc::{ProcId, ProcState};
pub use thread::{run_in, spawn_in, NsThread};
pub use wait::{Timeout, Wait};
