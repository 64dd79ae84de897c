//! Cost of the SRH codec per packet, next to copying the same frame (the
//! least any of these operations must do), measured in one run so the
//! ratios compare like with like. Run with `cargo bench -p dataplane --bench
//! srh` (needs `harness = false` for this target in dataplane/Cargo.toml).
//!
//! The codec is not on the packet path (the BPF programs are); this tells
//! labctl how fast it can check captures and the tests how much they pay.

use std::hint::black_box;
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use etherparse::PacketBuilder;
use srh::Srh;

const BUDGET: Duration = Duration::from_millis(300);

/// Nanoseconds per call of `f`, over as many calls as fit in `BUDGET`.
fn ns_per_op(mut f: impl FnMut()) -> f64 {
    for _ in 0..1000 {
        f();
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < BUDGET {
        for _ in 0..1000 {
            f();
        }
        n += 1000;
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

fn tcp_syn() -> Vec<u8> {
    let src: Ipv6Addr = "fcbb:cc00:1::a".parse().expect("addr");
    let dst: Ipv6Addr = "fcbb:cc00:2::a".parse().expect("addr");
    let mut out = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv6(src.octets(), dst.octets(), 64)
        .tcp(40000, 80, 1, 64240)
        .syn()
        .write(&mut out, &[])
        .expect("build SYN");
    out
}

fn main() {
    let frame = tcp_syn();
    let dst: Ipv6Addr = "fcbb:cc00:2::a".parse().expect("addr");
    let baseline = ns_per_op(|| {
        black_box(black_box(&frame).to_vec());
    });
    println!(
        "baseline: copy a {}-byte frame: {baseline:.1} ns",
        frame.len()
    );
    for n_sids in [1usize, 4, 10, 16] {
        let sids: Vec<Ipv6Addr> = (0..n_sids)
            .map(|i| Ipv6Addr::new(0xfcbb, 0xbb00, i as u16 + 1, 0, 0, 0, 0, 2))
            .collect();
        let s = Srh::from_travel_order(6, dst, &sids).expect("sids");
        let bytes = s.to_bytes();
        let with = srh::insert(&frame, &s).expect("insert");
        let mut buf = [0u8; srh::srh_len(srh::MAX_SEGMENTS)];
        let rows = [
            (
                "build",
                ns_per_op(|| {
                    black_box(Srh::from_travel_order(6, dst, black_box(&sids)).ok());
                }),
            ),
            (
                "write_into",
                ns_per_op(|| {
                    black_box(black_box(&s).write_into(&mut buf).ok());
                }),
            ),
            (
                "parse",
                ns_per_op(|| {
                    black_box(Srh::parse(black_box(&bytes)).ok());
                }),
            ),
            (
                "insert",
                ns_per_op(|| {
                    black_box(srh::insert(black_box(&frame), &s).ok());
                }),
            ),
            (
                "strip",
                ns_per_op(|| {
                    black_box(srh::strip(black_box(&with)).ok());
                }),
            ),
        ];
        for (name, ns) in rows {
            println!(
                "{n_sids:2} SIDs {name:<10} {ns:8.1} ns  {:5.1} x baseline",
                ns / baseline
            );
        }
    }
}
