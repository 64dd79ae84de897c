//! Everything that touches packets.
//!
//! # Layout
//! - [`srh`]: the pure-Rust SRH codec (build, parse, reverse, insert, strip).
//! - `bpf/*.bpf.c` (C, built by `build.rs` with clang): the client and server
//!   programs; `bpf/include/srv6.h` is the map/counter contract.
//! - [`maps`]: `#[repr(C)]` mirrors of that contract.
//! - [`loader`]: load, attach (TC/TCX egress; TC or XDP ingress), map access,
//!   counters, and `BPF_PROG_TEST_RUN` for tests and benchmarks.
//! - [`mtu`]: how an inserted SRH keeps fitting the MTU.
pub mod loader;
pub mod maps;
pub mod mtu;
pub mod programs;
pub mod srh;

pub use loader::{
    ClientDataplane, ClientProgram, DataplaneError, IngressHook, LearnedFlow, NoopPrograms,
    PathEntry, RunOutput, ServerDataplane, ServerOptions, ServerProgram,
};
pub use maps::{Counter, Counters, Proto};
