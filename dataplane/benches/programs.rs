//! Per-packet cost of each program under BPF_PROG_TEST_RUN, as the kernel
//! measures it (repeat = 1 over many calls: with repeat > 1 the kernel reruns
//! on the already modified buffer), next to no-op TC and XDP programs in the
//! same run. What this is: a test-run skb has only 64 bytes of headroom, so an
//! insert of more than 64 bytes (3 SIDs or more) reallocates the packet head
//! here but not on real traffic; the cost that counts is `throughput`'s
//! bpf_stats figures. Needs root. `cargo bench -p dataplane --bench programs`.
#![allow(clippy::unwrap_used)]
#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Duration;

use common::*;
use dataplane::maps::IPPROTO_TCP;
use dataplane::srh::Srh;
use dataplane::{
    ClientDataplane, ClientProgram, NoopPrograms, Proto, RunOutput, ServerDataplane, ServerOptions,
    ServerProgram, Trust,
};

const ROUNDS: usize = 15;
const CALLS_PER_ROUND: usize = 2_000;

/// Median over ROUNDS of the mean kernel-reported duration of
/// CALLS_PER_ROUND runs; `run` gets a call counter so frames may vary.
fn measure(mut run: impl FnMut(usize) -> RunOutput) -> Duration {
    // Warm up caches and the JIT'd code.
    for i in 0..1000 {
        run(i);
    }
    let mut call = 0;
    let mut rounds: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let total: Duration = (0..CALLS_PER_ROUND)
                .map(|_| {
                    call += 1;
                    run(call).duration
                })
                .sum();
            total / CALLS_PER_ROUND as u32
        })
        .collect();
    rounds.sort();
    rounds[ROUNDS / 2]
}

fn main() {
    let noop = NoopPrograms::load().unwrap();
    let mut client = ClientDataplane::load().unwrap();
    client.add_local_address(addr(CLIENT)).unwrap();
    let server_addr = addr(SERVER);
    for n in [1usize, 5, 10, 16] {
        client
            .set_path(server_addr, 1000 + n as u16, Proto::Tcp, &sids(n))
            .unwrap();
    }
    let mut server = ServerDataplane::load(ServerOptions {
        max_flows: 1 << 20,
        ..ServerOptions::new(Trust::Any)
    })
    .unwrap();
    server.add_local_address(server_addr).unwrap();
    let payload = [0u8; 1000];

    let plain = tcp(addr(CLIENT), server_addr, CLIENT_PORT, 80, &payload);
    let reply = |n: usize| {
        let srh = Srh::from_travel_order(IPPROTO_TCP, addr(CLIENT), &sids(n)).unwrap();
        arrived_at_server(
            &tcp(server_addr, addr(CLIENT), 80, CLIENT_PORT, &payload),
            &srh,
        )
    };
    let request = |port: u16| {
        arrived_at_server(
            &tcp(addr(CLIENT), server_addr, port, 80, &payload),
            &reference_srh(IPPROTO_TCP),
        )
    };
    let reply5 = reply(4);
    let request_fixed = request(CLIENT_PORT);
    // A new flow every call, so each run really writes the LRU map.
    let requests_new: Vec<Vec<u8>> = (0..(ROUNDS * CALLS_PER_ROUND + 1000))
        .map(|i| request(10_000 + (i % 50_000) as u16))
        .collect();

    let noop_tc = measure(|_| noop.run_tc(&plain).unwrap());
    let noop_xdp = measure(|_| noop.run_xdp(&plain).unwrap());
    let mut rows: Vec<(String, Duration, Duration)> = vec![
        ("no-op TC".into(), noop_tc, noop_tc),
        ("no-op XDP".into(), noop_xdp, noop_xdp),
        (
            "client egress, no match".into(),
            measure(|_| client.test_run(ClientProgram::Egress, &plain).unwrap()),
            noop_tc,
        ),
    ];
    for n in [1usize, 5, 10, 16] {
        let frame = tcp(
            addr(CLIENT),
            server_addr,
            CLIENT_PORT,
            1000 + n as u16,
            &payload,
        );
        rows.push((
            format!("client egress, insert {n} SIDs"),
            measure(|_| client.test_run(ClientProgram::Egress, &frame).unwrap()),
            noop_tc,
        ));
    }
    rows.push((
        "client ingress TC, no SRH".into(),
        measure(|_| client.test_run(ClientProgram::IngressTc, &plain).unwrap()),
        noop_tc,
    ));
    rows.push((
        "client ingress TC, strip (4 SIDs)".into(),
        measure(|_| client.test_run(ClientProgram::IngressTc, &reply5).unwrap()),
        noop_tc,
    ));
    rows.push((
        "client ingress XDP, strip (4 SIDs)".into(),
        measure(|_| client.test_run(ClientProgram::IngressXdp, &reply5).unwrap()),
        noop_xdp,
    ));
    rows.push((
        "server ingress TC, strip + learn (new flow)".into(),
        measure(|i| {
            server
                .test_run(
                    ServerProgram::IngressTc,
                    &requests_new[i % requests_new.len()],
                )
                .unwrap()
        }),
        noop_tc,
    ));
    rows.push((
        "server ingress TC, strip, flow known".into(),
        measure(|_| {
            server
                .test_run(ServerProgram::IngressTc, &request_fixed)
                .unwrap()
        }),
        noop_tc,
    ));
    rows.push((
        "server ingress XDP, strip, flow known".into(),
        measure(|_| {
            server
                .test_run(ServerProgram::IngressXdp, &request_fixed)
                .unwrap()
        }),
        noop_xdp,
    ));
    let answer = tcp(server_addr, addr(CLIENT), 80, CLIENT_PORT, &payload);
    rows.push((
        "server egress, insert learned (4 SIDs)".into(),
        measure(|_| server.test_run(ServerProgram::Egress, &answer).unwrap()),
        noop_tc,
    ));

    println!(
        "\nPer-packet cost under BPF_PROG_TEST_RUN (64-byte headroom: inserts of 3+ SIDs reallocate the head, real traffic does not), repeat = 1, median of {ROUNDS} rounds of {CALLS_PER_ROUND} runs, 1000-byte TCP payload"
    );
    println!(
        "{:<46} {:>10} {:>16}",
        "program / case", "ns/pkt", "x no-op (hook)"
    );
    for (name, d, base) in rows {
        let ratio = d.as_nanos() as f64 / base.as_nanos().max(1) as f64;
        println!("{name:<46} {:>10} {:>16.2}", d.as_nanos(), ratio);
    }
}
