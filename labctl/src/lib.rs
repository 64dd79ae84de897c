//! labctl: turn a topology file into a running SRv6 lab of network
//! namespaces, inspect it, and tear it down without leftovers.
//!
//! # Layout
//! - [`plan`]: topology model → deployment plan (pure, no system calls).
//! - [`apply`]: carry a plan out, one OS thread and one netlink socket per namespace.
//! - [`nl`]: the netlink messages (veth, addresses, routes, seg6local, tbf, netem).
//! - [`shaping`]: which qdiscs and dropper a link direction gets (pure plan).
//! - [`state`]: `/run/labctl/<name>/`, the write-ahead journal `down` works
//!   from (and the rule of what a journal line may name), lab selection.
//! - [`hooks`]: the hidden test hooks of `up` (`LABCTL_PAUSE_AT`, `LABCTL_FAIL_AT`).
//! - [`live`]: what the kernel has in a lab's namespaces (for `status`).
//! - [`bpf`]: tiny BPF programs assembled here (the loss dropper, doctor's
//!   probes) and the raw `bpf(2)` calls around them.
//! - [`dns`]: the lab DNS server (hickory-server) run as `labctl __dns`.
//! - [`doctor`]: what this machine can run, found by trying; the probes
//!   `up` (and `run`) call to refuse early.
//! - one module per verb: [`up`], [`down`], [`status`], [`exec`], [`graph`], [`validate`], [`doctor`],
//!   [`check`] (with [`echo`]: ICMPv6 echoes, plain or through a SID, from inside a namespace);
//!   [`vpp`]: configuration of `backend: vpp` routers.
//!
//! Namespaces, processes, deadline waits and signals come from the
//! [`labns`] crate: nothing here calls `setns`, `unshare`, `mount` or
//! `kill` itself.
//! - scenarios (docs/scenarios.md): [`scenario`] (file -> resolved model,
//!   `labctl validate`), [`traffic`] (TCP/UDP clients and servers with
//!   end-to-end integrity), [`capture`] (frames per link, pcap files),
//!   [`asserter`] (captures -> verdicts, pure), [`report`] (table, JSON,
//!   JUnit, exit codes, results directory), [`overlay`] (observed paths drawn).
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod apply;
pub mod asserter;
pub mod bpf;
pub mod capture;
pub mod check;
pub mod deploy;
pub mod dns;
pub mod doctor;
pub mod down;
pub mod echo;
pub mod error;
pub mod exec;
pub mod graph;
pub mod hooks;
pub mod link;
pub mod live;
pub mod nl;
pub mod overlay;
pub mod plan;
pub mod procs;
pub mod progress;
pub mod report;
pub mod run;
pub mod scenario;
pub mod shaping;
pub mod state;
pub mod status;
pub mod traffic;
pub mod up;
pub mod validate;
pub mod vpp;

pub use error::{Error, Result};
