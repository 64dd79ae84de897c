//! Namespaces for the agent's root tests. The primitives (unique names, an
//! RAII guard that deletes the namespaces even on panic, `ip`/`sysctl`
//! runners, entering a namespace on a dedicated thread, the TPACKET ring
//! capture) are the dataplane tests' module, included rather than copied;
//! both belong in the workspace's `labns` crate once it lands.
#![allow(dead_code, clippy::unwrap_used)]

#[path = "../../../dataplane/tests/common/netns.rs"]
mod base;

#[allow(unused_imports)]
pub use base::*;
