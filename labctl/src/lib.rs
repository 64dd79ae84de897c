//! labctl: turn a topology file into a running SRv6 lab of network
//! namespaces, inspect it, and tear it down without leftovers.
//!
//! # Layout
//! - [`plan`]: topology model → deployment plan (pure, no system calls).
//! - [`apply`]: carry a plan out, one OS thread and one netlink socket per namespace.
//! - [`nl`]: the netlink messages (veth, addresses, routes, seg6local, tbf).
//! - [`netns`]: named namespaces under `/run/netns`.
//! - [`state`]: `/run/labctl/<name>/`, the write-ahead journal `down` works from.
//! - [`dns`]: the lab DNS server (hickory-server) run as `labctl __dns`.
//! - one module per verb: [`up`], [`down`], [`status`], [`exec`], [`graph`], [`validate`];
//!   [`vpp`]: configuration of `backend: vpp` routers.
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
pub mod dns;
pub mod down;
pub mod error;
pub mod exec;
pub mod graph;
pub mod live;
pub mod netns;
pub mod nl;
pub mod overlay;
pub mod plan;
pub mod progress;
pub mod report;
pub mod scenario;
pub mod signals;
pub mod state;
pub mod status;
pub mod traffic;
pub mod up;
pub mod validate;
pub mod vpp;

pub use error::{Error, Result};
