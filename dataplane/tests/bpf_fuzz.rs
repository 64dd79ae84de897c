//! Seeded, reproducible fuzzing of every program under BPF_PROG_TEST_RUN:
//! random and mutated packets, checked against a model of what the program
//! may do. By default every program runs under the fixed seeds 1, 2 and 3,
//! 10^6 packets each (issue 11: in `make test`), one test per program so
//! that they share the cores; 3–4 min for the six in a debug build on
//! the 2-vCPU development VM (the random generator and the packet codecs are
//! built optimised in dev: see the root Cargo.toml). FUZZ_SEEDS=a,b,... and
//! FUZZ_PACKETS=n override both; a failure names its seed, and `make fuzz`
//! runs fresh random seeds at 10^6 packets.
#![allow(clippy::unwrap_used)]
mod common;

use std::collections::HashMap;
use std::net::Ipv6Addr;

use common::*;
use dataplane::address::unusable;
use dataplane::maps::{IPPROTO_TCP, IPPROTO_UDP};
use dataplane::srh::{self, Srh};
use dataplane::{
    ClientDataplane, ClientProgram, Counter, Proto, ServerDataplane, ServerOptions, ServerProgram,
    Trust,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Packets per program and seed: FUZZ_PACKETS, else 10^6.
fn packets() -> usize {
    std::env::var("FUZZ_PACKETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// The seeds to run: FUZZ_SEEDS (comma-separated), else 1, 2 and 3.
fn seeds() -> Vec<u64> {
    match std::env::var("FUZZ_SEEDS") {
        Ok(list) => list
            .split(',')
            .map(|s| {
                s.trim()
                    .parse()
                    .unwrap_or_else(|e| panic!("FUZZ_SEEDS: {s:?}: {e}"))
            })
            .collect(),
        Err(_) => vec![1, 2, 3],
    }
}

/// Valid packets around the interesting cases, to mutate.
fn corpus() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let client = addr(CLIENT);
    let server = addr(SERVER);
    for n in [1usize, 4, 16] {
        for (nh, plain) in [
            (
                IPPROTO_TCP,
                tcp(client, server, CLIENT_PORT, 80, b"GET / HTTP/1.1\r\n"),
            ),
            (
                IPPROTO_UDP,
                udp(client, server, CLIENT_PORT, 80, &[7u8; 40]),
            ),
            (58, icmpv6_echo(client, server, b"ping")),
        ] {
            let srh = Srh::from_travel_order(nh, server, &sids(n)).unwrap();
            out.push(arrived_at_server(&plain, &srh));
            out.push(srh::insert(&plain, &srh).unwrap());
            out.push(plain);
        }
    }
    let mut tlv = Srh::from_travel_order(IPPROTO_TCP, server, &reference_sids()).unwrap();
    tlv.tlvs = vec![4, 6, 0, 0, 0, 0, 0, 0];
    tlv.segments_left = 0;
    out.push(
        srh::insert_raw(
            &tcp(client, server, CLIENT_PORT, 80, b"x"),
            &tlv.to_bytes(),
            server,
        )
        .unwrap(),
    );
    let b = server.octets();
    out.push(dns_reply(
        &Dns::response("wb.hawk.net", Dns::OK, 2)
            .answer_ptr(12, TYPE_CNAME, &encode_name("web.hawk.net"))
            .answer_ptr(12, TYPE_AAAA, &b),
    ));
    out
}

/// A random packet: mostly a mutated seed, sometimes random bytes behind a
/// plausible Ethernet + IPv6 header.
fn packet(rng: &mut StdRng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut frame = if rng.random_bool(0.1) {
        let len = rng.random_range(14..400);
        let mut f: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        if rng.random_bool(0.8) && len >= 14 {
            f[12] = 0x86;
            f[13] = 0xdd;
            if len > 14 {
                f[14] = 0x60 | (f[14] & 0x0f);
            }
            if len > 20 && rng.random_bool(0.5) {
                f[20] = 43;
            }
        }
        f
    } else {
        seeds[rng.random_range(0..seeds.len())].clone()
    };
    let mutations = rng.random_range(0..5);
    for _ in 0..mutations {
        if frame.len() <= 14 {
            break;
        }
        // Mostly the headers: IPv6 (14..54), the SRH's fixed part and first segments.
        let pos = if rng.random_bool(0.8) {
            rng.random_range(14..frame.len().min(14 + 40 + 48))
        } else {
            rng.random_range(14..frame.len())
        };
        match rng.random_range(0..4) {
            0 => frame[pos] = rng.random(),
            1 => frame[pos] ^= 1 << rng.random_range(0..8),
            2 => frame[pos] = [0, 1, 2, 4, 6, 16, 17, 43, 44, 58, 0xff][rng.random_range(0..11)],
            _ => frame[pos] = frame[pos].wrapping_add(rng.random_range(1..3)),
        }
    }
    if rng.random_bool(0.05) && frame.len() > 15 {
        let len = rng.random_range(14..frame.len());
        frame.truncate(len);
    }
    frame
}

/// The program's output; for a frame the kernel's test harness itself
/// refuses (an IPv4/IPv6 ethertype with less than that header: the kernel
/// never hands such an skb to a program), the frame unchanged.
fn run_or_refused(
    result: Result<dataplane::RunOutput, dataplane::DataplaneError>,
    frame: &[u8],
) -> Vec<u8> {
    match result {
        Ok(out) => out.frame,
        Err(err) => {
            let short_l3 = (frame[12..14] == [0x86, 0xdd] && frame.len() < 54)
                || (frame[12..14] == [0x08, 0x00] && frame.len() < 34);
            assert!(
                short_l3,
                "test run failed on a frame the kernel should take: {err} {frame:02x?}"
            );
            frame.to_vec()
        }
    }
}

fn ipv6(frame: &[u8]) -> bool {
    frame.len() >= 54 && frame[12..14] == [0x86, 0xdd] && frame[14] >> 4 == 6
}

fn daddr(frame: &[u8]) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&frame[38..54]);
    Ipv6Addr::from(a)
}

fn saddr(frame: &[u8]) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&frame[22..38]);
    Ipv6Addr::from(a)
}

/// What a strip program must do: Some(expected frame, srh) when the packet
/// carries a valid SRH with SL 0 addressed to `local`; None: pass unchanged.
fn model_strip(frame: &[u8], local: &[Ipv6Addr]) -> Option<(Vec<u8>, Srh, usize)> {
    if !ipv6(frame) || frame[20] != 43 {
        return None;
    }
    let plen = usize::from(u16::from_be_bytes([frame[18], frame[19]]));
    if 54 + plen > frame.len() {
        return None;
    }
    let (srh, len) = Srh::parse(&frame[54..54 + plen]).ok()?;
    if srh.segments.len() > srh::MAX_SEGMENTS
        || srh.segments_left != 0
        || !local.contains(&daddr(frame))
    {
        return None;
    }
    let mut out = frame[..54].to_vec();
    out[20] = srh.next_header;
    out[18..20].copy_from_slice(&((plen - len) as u16).to_be_bytes());
    out.extend_from_slice(&frame[54 + len..]);
    Some((out, srh, len))
}

fn ports(frame: &[u8], at: usize) -> Option<(u16, u16)> {
    let p = frame.get(at..at + 4)?;
    Some((
        u16::from_be_bytes([p[0], p[1]]),
        u16::from_be_bytes([p[2], p[3]]),
    ))
}

fn fuzz_ingress<F>(
    name: &str,
    seed: u64,
    local: &[Ipv6Addr],
    mut run: F,
) -> HashMap<(Ipv6Addr, u16, u8), Vec<Ipv6Addr>>
where
    F: FnMut(&[u8]) -> Vec<u8>,
{
    let mut rng = StdRng::seed_from_u64(seed);
    let seeds = corpus();
    let mut learnable = HashMap::new();
    for i in 0..packets() {
        let frame = packet(&mut rng, &seeds);
        let out = run(&frame);
        match model_strip(&frame, local) {
            Some((expected, srh, len)) => {
                assert_eq!(
                    out, expected,
                    "{name} seed {seed} packet {i}: wrong strip of {frame:02x?}"
                );
                if matches!(srh.next_header, IPPROTO_TCP | IPPROTO_UDP) {
                    let reversed = srh.reversed(saddr(&frame)).segments;
                    // Replies visit every entry: the SIDs, then the source.
                    let safe = reversed
                        .iter()
                        .all(|a| !local.contains(a) && unusable(*a).is_none());
                    if let (Some((sport, _)), true) = (ports(&frame, 54 + len), safe) {
                        learnable.insert((saddr(&frame), sport, srh.next_header), reversed);
                    }
                }
            }
            None => assert_eq!(
                out, frame,
                "{name} seed {seed} packet {i}: changed {frame:02x?}"
            ),
        }
    }
    learnable
}

#[test]
fn fuzz_server_ingress_tc() {
    fuzz_server_ingress(ServerProgram::IngressTc);
}

#[test]
fn fuzz_server_ingress_xdp() {
    fuzz_server_ingress(ServerProgram::IngressXdp);
}

fn fuzz_server_ingress(program: ServerProgram) {
    for seed in seeds() {
        let mut server = ServerDataplane::load(ServerOptions {
            max_flows: 1 << 18,
            ..ServerOptions::new(Trust::Any)
        })
        .unwrap();
        server.add_local_address(addr(SERVER)).unwrap();
        let learnable = fuzz_ingress(program.name(), seed, &[addr(SERVER)], |f| {
            run_or_refused(server.test_run(program, f), f)
        });
        let flows = server.flows().unwrap();
        assert!(!flows.is_empty(), "the fuzz corpus must exercise learning");
        for flow in &flows {
            let expected = learnable.get(&(flow.peer, flow.port, flow.proto));
            assert_eq!(
                expected,
                Some(&flow.segments),
                "{program:?} seed {seed}: learned a flow no valid packet carried: {flow:?}"
            );
        }
        let counters = server.counters().unwrap();
        assert!(counters.get(Counter::Malformed) > 0 && counters.get(Counter::Decapsulated) > 0);
        assert_eq!(
            counters.get(Counter::Error),
            0,
            "{program:?} seed {seed}: a helper failed: {counters:?}"
        );
    }
}

#[test]
fn fuzz_client_ingress_tc() {
    fuzz_client_ingress(ClientProgram::IngressTc);
}

#[test]
fn fuzz_client_ingress_xdp() {
    fuzz_client_ingress(ClientProgram::IngressXdp);
}

fn fuzz_client_ingress(program: ClientProgram) {
    for seed in seeds() {
        let mut client = ClientDataplane::load().unwrap();
        // The corpus is addressed to the server (and DNS replies to the
        // client): let this host own both addresses.
        client.add_local_address(addr(SERVER)).unwrap();
        client.add_local_address(addr(CLIENT)).unwrap();
        client.add_dns_name("wb.hawk.net", 1).unwrap();
        client.set_resolvers(&[addr(RESOLVER)]).unwrap();
        fuzz_ingress(program.name(), seed, &[addr(SERVER), addr(CLIENT)], |f| {
            // Let every reply-shaped packet answer a query seen leaving, so
            // that the fuzz reaches the DNS parser, not only the gate.
            if let Some(query) = query_answered_by(f) {
                client.test_run(ClientProgram::Egress, &query).unwrap();
            }
            run_or_refused(client.test_run(program, f), f)
        });
        let counters = client.counters().unwrap();
        assert!(counters.get(Counter::Decapsulated) > 0 && counters.get(Counter::DnsLearned) > 0);
        assert_eq!(
            counters.get(Counter::Error),
            0,
            "{program:?} seed {seed}: {counters:?}"
        );
    }
}

/// The query a packet shaped like a DNS reply (IPv6/UDP from port 53)
/// would answer: from its destination and port to its source, same ID.
fn query_answered_by(frame: &[u8]) -> Option<Vec<u8>> {
    if !ipv6(frame) || frame[20] != IPPROTO_UDP || frame.len() < 64 {
        return None;
    }
    let (sport, dport) = ports(frame, 54)?;
    if sport != 53 {
        return None;
    }
    let mut query = frame[62..64].to_vec(); // the ID
    query.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    Some(udp(daddr(frame), saddr(frame), dport, 53, &query))
}

/// What an insert program must do for a (destination, port, proto) with `sids`.
fn model_insert(
    frame: &[u8],
    local: Ipv6Addr,
    paths: &HashMap<(Ipv6Addr, u16, u8), Vec<Ipv6Addr>>,
) -> Option<Vec<u8>> {
    // Only packets this host originates (RFC 8200 §4).
    if !ipv6(frame) || !matches!(frame[20], IPPROTO_TCP | IPPROTO_UDP) || saddr(frame) != local {
        return None;
    }
    let (_, dport) = ports(frame, 54)?;
    let sids = paths.get(&(daddr(frame), dport, frame[20]))?;
    let srh = Srh::from_travel_order(frame[20], daddr(frame), sids).unwrap();
    let bytes = srh.to_bytes();
    let mut out = frame[..54].to_vec();
    out[20] = 43;
    let plen = u16::from_be_bytes([frame[18], frame[19]]).wrapping_add(bytes.len() as u16);
    out[18..20].copy_from_slice(&plen.to_be_bytes());
    out[38..54].copy_from_slice(&srh.active_segment().unwrap().octets());
    out.extend_from_slice(&bytes);
    out.extend_from_slice(&frame[54..]);
    Some(out)
}

/// Clear the SYN flag: the MSS clamp is checked on its own; here the model
/// is only the insert.
fn without_syn(mut frame: Vec<u8>) -> Vec<u8> {
    if ipv6(&frame) && frame[20] == IPPROTO_TCP && frame.len() > 54 + 13 {
        frame[54 + 13] &= !0x02;
    }
    frame
}

fn fuzz_egress<F>(
    name: &str,
    seed: u64,
    local: Ipv6Addr,
    paths: &HashMap<(Ipv6Addr, u16, u8), Vec<Ipv6Addr>>,
    mut run: F,
) -> usize
where
    F: FnMut(&[u8]) -> Vec<u8>,
{
    let mut rng = StdRng::seed_from_u64(seed);
    let seeds: Vec<Vec<u8>> = corpus()
        .into_iter()
        .chain([
            tcp(addr(SERVER), addr(CLIENT), 80, CLIENT_PORT, b"reply"),
            udp(addr(SERVER), addr(CLIENT), 80, CLIENT_PORT, b"reply"),
        ])
        .collect();
    let mut inserted = 0;
    for i in 0..packets() {
        let frame = without_syn(packet(&mut rng, &seeds));
        let out = run(&frame);
        match model_insert(&frame, local, paths) {
            Some(expected) => {
                inserted += 1;
                assert_eq!(
                    out, expected,
                    "{name} seed {seed} packet {i}: wrong insert into {frame:02x?}"
                );
            }
            None => assert_eq!(
                out, frame,
                "{name} seed {seed} packet {i}: changed {frame:02x?}"
            ),
        }
    }
    inserted
}

#[test]
fn fuzz_client_egress() {
    let mut client = ClientDataplane::load().unwrap();
    client.add_local_address(addr(CLIENT)).unwrap();
    let mut paths = HashMap::new();
    for (dst, port, proto, n) in [
        (SERVER, 80, Proto::Tcp, 4),
        (SERVER, 80, Proto::Udp, 16),
        (SERVER, 81, Proto::Tcp, 1),
    ] {
        client.set_path(addr(dst), port, proto, &sids(n)).unwrap();
        paths.insert((addr(dst), port, proto.number()), sids(n));
    }
    for seed in seeds() {
        let inserted = fuzz_egress("client_egress", seed, addr(CLIENT), &paths, |f| {
            run_or_refused(client.test_run(ClientProgram::Egress, f), f)
        });
        assert!(
            inserted > packets() / 100,
            "seed {seed}: the corpus must exercise the insert ({inserted})"
        );
    }
    assert_eq!(client.counters().unwrap().get(Counter::Error), 0);
}

#[test]
fn fuzz_server_egress() {
    let mut server = ServerDataplane::load(ServerOptions::new(Trust::Any)).unwrap();
    server.add_local_address(addr(SERVER)).unwrap();
    // Learn the reference flow the way the server does, then fuzz its replies.
    let request = arrived_at_server(
        &tcp(addr(CLIENT), addr(SERVER), CLIENT_PORT, 80, b"x"),
        &reference_srh(IPPROTO_TCP),
    );
    server.test_run(ServerProgram::IngressTc, &request).unwrap();
    let learned = server
        .flow(addr(CLIENT), CLIENT_PORT, Proto::Tcp)
        .unwrap()
        .unwrap();
    // The model inserts travel-order SIDs: the learned list without the peer, reversed.
    let travel: Vec<Ipv6Addr> = learned.segments[1..].iter().rev().copied().collect();
    let paths = HashMap::from([((addr(CLIENT), CLIENT_PORT, IPPROTO_TCP), travel)]);
    for seed in seeds() {
        let inserted = fuzz_egress("server_egress", seed, addr(SERVER), &paths, |f| {
            run_or_refused(server.test_run(ServerProgram::Egress, f), f)
        });
        assert!(
            inserted > packets() / 1000,
            "seed {seed}: the corpus must exercise the insert ({inserted})"
        );
    }
}
