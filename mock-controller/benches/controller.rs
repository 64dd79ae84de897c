//! `cargo bench -p mock-controller`: request latency on hawk and on a
//! generated 1000-node graph (target <= 1 ms), and event -> all pushes sent
//! with 1000 open sessions. A plain Dijkstra over the same graph is the
//! in-run baseline; the summary prints each figure and its ratio to it.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion};
use intent_proto::api::{self, IntentType as I, ValueType as V};
use mock_controller::controller::StreamHandle;
use mock_controller::pathcomp::{Graph, LinkProps, Node, SidMode};
use mock_controller::{Controller, Options, Source};

fn hawk() -> Graph {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../topologies/hawk.yaml");
    Graph::from_topology(&topology::load(path.as_ref()).unwrap())
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `n` routers on a ring plus two random chords each (≈ 3n links), every
/// link with random bandwidth, latency, jitter, loss and utilisation; host
/// h0 on r0 and h1 on r(n/2).
fn generated(n: usize) -> Graph {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut g = Graph::new();
    for i in 0..n {
        let sid: Ipv6Addr = format!("fcbb:bb00:{:x}::2", i + 1).parse().unwrap();
        g.add_node(Node::router(&format!("r{i}"), Some(sid)));
    }
    let props = |rng: &mut Rng| LinkProps {
        bandwidth_kbps: Some([100_000, 1_000_000, 10_000_000][rng.below(3) as usize]),
        latency_us: Some(100 + rng.below(4900)),
        jitter_us: Some(rng.below(200)),
        loss_pct: Some(rng.below(20) as f64 / 100.0),
        utilization_pct: Some(rng.below(100) as f64),
    };
    for i in 0..n {
        let p = props(&mut rng);
        g.connect(&format!("r{i}"), &format!("r{}", (i + 1) % n), p);
        for _ in 0..2 {
            let j = rng.below(n as u64) as usize;
            if j != i {
                let p = props(&mut rng);
                g.connect(&format!("r{i}"), &format!("r{j}"), p);
            }
        }
    }
    g.add_node(Node::host("h0", "fcbb:cc00:1::a".parse().unwrap()));
    g.add_node(Node::host("h1", "fcbb:cc00:2::a".parse().unwrap()));
    g.connect("h0", "r0", LinkProps::default());
    g.connect("h1", &format!("r{}", n / 2), LinkProps::default());
    g
}

fn intent(t: I, values: &[(V, i32)]) -> api::Intent {
    api::Intent {
        r#type: t as i32,
        values: values
            .iter()
            .map(|(vt, n)| api::Value {
                r#type: *vt as i32,
                number_value: Some(*n),
                string_value: None,
            })
            .collect(),
    }
}

fn request(dst: &str, intents: Vec<api::Intent>) -> api::PathRequest {
    api::PathRequest {
        ipv6_source_address: "fcbb:cc00:1::a".into(),
        ipv6_destination_address: dst.into(),
        intents,
    }
}

fn controller(g: Graph) -> Controller {
    Controller::new(Source::Computed(g), Options::default())
}

/// Mean time of `f` over enough runs to take ~`budget`.
fn mean(budget: Duration, mut f: impl FnMut()) -> Duration {
    f();
    let start = Instant::now();
    let mut runs = 0u32;
    while start.elapsed() < budget {
        f();
        runs += 1;
    }
    start.elapsed() / runs.max(1)
}

fn requests() -> Vec<(&'static str, api::PathRequest)> {
    vec![
        (
            "low-latency",
            request("fcbb:cc00:2::a", vec![intent(I::LowLatency, &[])]),
        ),
        (
            "high-bandwidth",
            request("fcbb:cc00:2::a", vec![intent(I::HighBandwidth, &[])]),
        ),
        (
            "low-latency+max+min-bw",
            request(
                "fcbb:cc00:2::a",
                vec![
                    intent(I::LowLatency, &[(V::MaxValue, 60_000)]),
                    intent(I::HighBandwidth, &[(V::MinValue, 1_000_000)]),
                ],
            ),
        ),
        (
            "high-bandwidth+max-latency",
            request(
                "fcbb:cc00:2::a",
                vec![
                    intent(I::HighBandwidth, &[]),
                    intent(I::LowLatency, &[(V::MaxValue, 60_000)]),
                ],
            ),
        ),
    ]
}

fn bench_requests(c: &mut Criterion) {
    for (name, g) in [("hawk", hawk()), ("1000-node", generated(1000))] {
        let ctrl = controller(g);
        let mut group = c.benchmark_group(format!("request/{name}"));
        for (label, req) in requests() {
            let r = ctrl.answer(&req);
            assert!(r.error.is_none(), "{name} {label}: {:?}", r.error);
            group.bench_function(label, |b| {
                b.iter(|| black_box(ctrl.answer(black_box(&req))))
            });
        }
        group.finish();
    }
}

/// 1000 streams with one session each on hawk; every event (upper path
/// down / up) changes the high-bandwidth half and pushes to those streams.
fn sessions_ctrl(
    g: Graph,
    distinct: bool,
) -> (
    Controller,
    Vec<tokio::sync::mpsc::Receiver<api::PathResult>>,
) {
    let ctrl = controller(g);
    let mut rxs = Vec::new();
    for i in 0..1000u32 {
        let StreamHandle {
            id,
            results: mut rx,
            ..
        } = ctrl.open_stream(format!("bench-{i}"));
        // Distinct destinations inside host-b's /48 defeat the per-event memo.
        let dst = if distinct {
            format!("fcbb:cc00:2::{:x}", i + 1)
        } else {
            "fcbb:cc00:2::a".to_owned()
        };
        let t = if i % 2 == 0 {
            I::HighBandwidth
        } else {
            I::LowLatency
        };
        ctrl.handle_request(id, request(&dst, vec![intent(t, &[])]));
        rx.try_recv().unwrap();
        rxs.push(rx);
    }
    (ctrl, rxs)
}

fn toggle(
    ctrl: &Controller,
    up: bool,
    rxs: &mut [tokio::sync::mpsc::Receiver<api::PathResult>],
) -> u32 {
    let reply = ctrl
        .set_link(&api::SetLinkRequest {
            a: "vpp2".into(),
            b: "vpp4".into(),
            up: Some(up),
            ..Default::default()
        })
        .unwrap();
    for rx in rxs.iter_mut() {
        while rx.try_recv().is_ok() {}
    }
    reply.results_pushed
}

fn bench_events(c: &mut Criterion) {
    let mut group = c.benchmark_group("event/hawk-1000-sessions");
    for distinct in [false, true] {
        let (ctrl, mut rxs) = sessions_ctrl(hawk(), distinct);
        assert_eq!(toggle(&ctrl, false, &mut rxs), 500);
        assert_eq!(toggle(&ctrl, true, &mut rxs), 500);
        let label = if distinct {
            "distinct-requests"
        } else {
            "shared-requests"
        };
        let mut up = false;
        group.bench_function(label, |b| {
            b.iter(|| {
                let pushed = toggle(&ctrl, up, &mut rxs);
                up = !up;
                black_box(pushed)
            })
        });
    }
    group.finish();
}

/// One line per figure, with the baseline (plain Dijkstra on the IGP metric
/// from the source, no labels, no SIDs) measured in this run.
fn summary() {
    let budget = Duration::from_millis(300);
    println!("\n== mock-controller figures ==");
    for (name, g) in [("hawk", hawk()), ("1000-node", generated(1000))] {
        let src = g
            .node_id(if name == "hawk" { "host-a" } else { "h0" })
            .unwrap();
        let underlay = g.underlay();
        let base = mean(budget, || {
            black_box(underlay.shortest_paths(black_box(src)));
        });
        println!(
            "{name}: baseline Dijkstra {:>9.1} us",
            base.as_secs_f64() * 1e6
        );
        let ctrl = controller(g.clone());
        for (label, req) in requests() {
            let t = mean(budget, || {
                black_box(ctrl.answer(&req));
            });
            let verdict = if t <= Duration::from_millis(1) {
                "<= 1 ms"
            } else {
                "> 1 ms (target missed)"
            };
            println!(
                "{name}: request {label:<28} {:>9.1} us  ({:.1}x baseline, {verdict})",
                t.as_secs_f64() * 1e6,
                t.as_secs_f64() / base.as_secs_f64()
            );
        }
    }
    for distinct in [false, true] {
        let (ctrl, mut rxs) = sessions_ctrl(hawk(), distinct);
        let mut up = false;
        let t = mean(Duration::from_secs(1), || {
            toggle(&ctrl, up, &mut rxs);
            up = !up;
        });
        println!(
            "hawk: event -> 500 of 1000 sessions pushed ({}): {:>9.1} us",
            if distinct {
                "1000 distinct requests"
            } else {
                "2 distinct requests"
            },
            t.as_secs_f64() * 1e6
        );
    }
    {
        // 1000 sessions on the 1000-node graph, all distinct (a worst case).
        let g = generated(1000);
        let ctrl = controller(g);
        let mut rxs = Vec::new();
        for i in 0..1000u32 {
            let StreamHandle {
                id, results: rx, ..
            } = ctrl.open_stream(format!("bench-{i}"));
            let t = if i % 2 == 0 {
                I::HighBandwidth
            } else {
                I::LowLatency
            };
            ctrl.handle_request(
                id,
                request(&format!("fcbb:cc00:2::{:x}", i + 1), vec![intent(t, &[])]),
            );
            rxs.push(rx);
        }
        // Break the second link of the high-bandwidth sessions' path.
        let nodes = ctrl.list_sessions()[0].path_nodes.clone();
        let start = Instant::now();
        let reply = ctrl
            .set_link(&api::SetLinkRequest {
                a: nodes[1].clone(),
                b: nodes[2].clone(),
                up: Some(false),
                ..Default::default()
            })
            .unwrap();
        println!(
            "1000-node: event -> {} sessions recomputed, {} pushed: {:>9.1} ms",
            reply.sessions_recomputed,
            reply.results_pushed,
            start.elapsed().as_secs_f64() * 1e3
        );
    }
    let _ = SidMode::Minimal;
}

criterion_group!(benches, bench_requests, bench_events);

fn main() {
    benches();
    // `cargo test --all-targets` runs this once as a smoke test (no
    // `--bench` argument): skip the timed summary there.
    if std::env::args().any(|a| a == "--bench") {
        summary();
    }
    Criterion::default().configure_from_args().final_summary();
}
