//! Everything that touches packets.
//!
//! # Layout
//! - [`srh`]: re-export of the `srh` crate, the pure-Rust SRH codec and MTU
//!   arithmetic (build, parse, reverse, insert, strip), shared with crates
//!   that must not pull aya or a C toolchain.
//! - `bpf/*.bpf.c` (C, built by `build.rs` with clang): the client and server
//!   programs; `bpf/include/srv6.h` is the map/counter contract.
//! - [`maps`]: `#[repr(C)]` mirrors of that contract.
//! - [`address`]: which addresses a path may name (the C programs apply the
//!   same rule to learned return paths).
//! - [`paths`]: writing client paths ([`PathWriter`], usable from any thread).
//! - [`netdev`]: a device's link type, MTU and GSO/GRO limits, and the route
//!   an address takes (rtnetlink).
//! - [`loader`]: load, attach (TC/TCX egress; TC or XDP ingress), map access,
//!   counters, and `BPF_PROG_TEST_RUN` for tests and benchmarks.
pub mod address;
pub mod loader;
pub mod maps;
pub mod netdev;
pub mod paths;
pub mod programs;

pub use ipnet::Ipv6Net;
pub use srh;
pub use srh::mtu;

pub use aya::programs::TcAttachType;
pub use loader::{
    ClientDataplane, ClientOptions, ClientProgram, DataplaneError, DnsLearned, IngressHook,
    LearnedFlow, NoopPrograms, PathEntry, PathWriter, ProgramStats, RunOutput, ServerDataplane,
    ServerOptions, ServerProgram, Trust,
};
pub use maps::{Counter, Counters, Handoff, Proto};
