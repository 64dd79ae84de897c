//! The compiled eBPF objects (built by `build.rs` from `bpf/*.bpf.c`).
use aya::include_bytes_aligned;

/// Client object: `client_egress`, `client_ingress_tc`, `client_ingress_xdp`.
pub static CLIENT_OBJECT: &[u8] = include_bytes_aligned!(concat!(env!("OUT_DIR"), "/client.bpf.o"));
/// Server object: `server_ingress_tc`, `server_ingress_xdp`, `server_egress`.
pub static SERVER_OBJECT: &[u8] = include_bytes_aligned!(concat!(env!("OUT_DIR"), "/server.bpf.o"));
/// Baselines for benchmarks: `noop_tc`, `noop_xdp`.
pub static NOOP_OBJECT: &[u8] = include_bytes_aligned!(concat!(env!("OUT_DIR"), "/noop.bpf.o"));
