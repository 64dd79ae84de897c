//! srv6-agent: keeps a host's SRv6 dataplane equal to its configuration's
//! intents, the controller's answers and DNS.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod apply;
pub mod config;
pub mod plan;
pub mod port;
pub mod request;
pub mod schema;
