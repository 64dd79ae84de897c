//! A path replaced while packets run is read whole: every SRH that leaves
//! equals one version of the path, never a mix of two (or a wrong length).
//! Both under BPF_PROG_TEST_RUN in a tight loop: the server's ingress learns
//! a changed path while its egress inserts it; a client `PathWriter` on
//! another thread replaces the path while egress inserts it, or removes it
//! without waiting and writes it again.
#![allow(clippy::unwrap_used)]
mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use common::*;
use dataplane::maps::{IPPROTO_TCP, IPPROTO_UDP};
use dataplane::srh::{self, Srh};
use dataplane::{
    ClientDataplane, ClientProgram, Proto, ServerDataplane, ServerOptions, ServerProgram, Trust,
};

/// Egress reads under test while ingress keeps replacing the flow's path.
const SERVER_READS: usize = 400_000;

#[test]
fn a_learned_path_replaced_while_replies_leave_is_read_whole() {
    // A small table: a replaced element is reused at once, not after 64k others.
    let mut server = ServerDataplane::load(ServerOptions {
        max_flows: 2,
        ..ServerOptions::new(Trust::Any)
    })
    .unwrap();
    server.add_local_address(addr(SERVER)).unwrap();
    let request = |n| {
        arrived_at_server(
            &tcp(addr(CLIENT), addr(SERVER), CLIENT_PORT, 80, b"x"),
            &Srh::from_travel_order(IPPROTO_TCP, addr(SERVER), &sids(n)).unwrap(),
        )
    };
    // Two versions of different lengths and different SIDs.
    let versions = [request(3), request(5)];
    let reply = tcp(addr(SERVER), addr(CLIENT), 80, CLIENT_PORT, b"y");
    let expected: Vec<Vec<u8>> = [3, 5]
        .iter()
        .map(|n| {
            let sent = Srh::from_travel_order(IPPROTO_TCP, addr(SERVER), &sids(*n)).unwrap();
            srh::insert(&reply, &sent.reversed(addr(CLIENT))).unwrap()
        })
        .collect();
    server
        .test_run(ServerProgram::IngressTc, &versions[0])
        .unwrap();
    let stop = AtomicBool::new(false);
    let server = &server;
    let (torn, reads) = thread::scope(|s| {
        s.spawn(|| {
            for version in versions.iter().cycle() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                server.test_run(ServerProgram::IngressTc, version).unwrap();
            }
        });
        let mut torn = Vec::new();
        for _ in 0..SERVER_READS {
            let out = server.test_run(ServerProgram::Egress, &reply).unwrap();
            if !expected.contains(&out.frame) {
                torn.push(out.frame);
            }
        }
        stop.store(true, Ordering::Relaxed);
        (torn, SERVER_READS)
    });
    assert!(
        torn.is_empty(),
        "{} of {reads} replies left with a mixed SRH, e.g. {:02x?}",
        torn.len(),
        torn[0]
    );
    let learned = server.counters().unwrap().get(dataplane::Counter::Learned);
    assert!(
        learned > 1000,
        "the path must really change meanwhile ({learned} times)"
    );
}

/// The two versions of the path, in travel order.
type Versions = [Vec<std::net::Ipv6Addr>; 2];

/// A client with the first of two versions of a UDP path to the server,
/// the versions, the packet that egress steers, and what it becomes with
/// each version.
fn client_path_versions() -> (ClientDataplane, Versions, Vec<u8>, Vec<Vec<u8>>) {
    let mut client = ClientDataplane::load().unwrap();
    client.add_local_address(addr(CLIENT)).unwrap();
    let versions = [sids(3), sids(5)];
    client
        .set_path(addr(SERVER), 80, Proto::Udp, &versions[0])
        .unwrap();
    let packet = udp(addr(CLIENT), addr(SERVER), CLIENT_PORT, 80, b"torn?");
    let expected: Vec<Vec<u8>> = versions
        .iter()
        .map(|v| {
            let srh = Srh::from_travel_order(IPPROTO_UDP, addr(SERVER), v).unwrap();
            srh::insert(&packet, &srh).unwrap()
        })
        .collect();
    (client, versions, packet, expected)
}

fn assert_none_torn(torn: &[Vec<u8>]) {
    assert!(
        torn.is_empty(),
        "{} of {CLIENT_READS} packets left with a mixed SRH, e.g. {:02x?}",
        torn.len(),
        torn[0]
    );
}

/// Egress reads under test while another thread keeps replacing the path.
const CLIENT_READS: usize = 400_000;

#[test]
fn a_path_replaced_by_set_path_while_packets_leave_is_read_whole() {
    let (client, versions, packet, expected) = client_path_versions();
    let mut writer = client.path_writer().unwrap();
    let stop = AtomicBool::new(false);
    let client = &client;
    let (torn, replaced) = thread::scope(|s| {
        let replacing = s.spawn(|| {
            let mut replaced = 0usize;
            for version in versions.iter().cycle() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                writer
                    .set_path(addr(SERVER), 80, Proto::Udp, version)
                    .unwrap();
                replaced += 1;
            }
            replaced
        });
        let mut torn = Vec::new();
        for _ in 0..CLIENT_READS {
            let out = client.test_run(ClientProgram::Egress, &packet).unwrap();
            if !expected.contains(&out.frame) {
                torn.push(out.frame);
            }
        }
        stop.store(true, Ordering::Relaxed);
        let replaced = replacing.join().unwrap();
        (torn, replaced)
    });
    assert_none_torn(&torn);
    assert!(
        replaced > 1000,
        "the path must really change meanwhile ({replaced} times)"
    );
}

/// Removed without waiting (`remove_path_deferred`, as a batch does) and
/// written again at once: the writer waits for the grace period before the
/// write that could reuse the removed element, so every packet leaves
/// either plain (no path for a moment) or with one whole version.
#[test]
fn a_path_removed_deferred_and_written_again_is_read_whole() {
    let (client, versions, packet, mut expected) = client_path_versions();
    expected.push(packet.clone());
    let mut writer = client.path_writer().unwrap();
    let stop = AtomicBool::new(false);
    let client = &client;
    let (torn, plain, cycles) = thread::scope(|s| {
        let replacing = s.spawn(|| {
            let mut cycles = 0usize;
            for version in versions.iter().cycle() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                assert!(writer
                    .remove_path_deferred(addr(SERVER), 80, Proto::Udp)
                    .unwrap());
                writer
                    .set_path(addr(SERVER), 80, Proto::Udp, version)
                    .unwrap();
                cycles += 1;
            }
            writer.wait_for_removals();
            cycles
        });
        let (mut torn, mut plain) = (Vec::new(), 0usize);
        for _ in 0..CLIENT_READS {
            let out = client.test_run(ClientProgram::Egress, &packet).unwrap();
            if out.frame == packet {
                plain += 1;
            } else if !expected.contains(&out.frame) {
                torn.push(out.frame);
            }
        }
        stop.store(true, Ordering::Relaxed);
        (torn, plain, replacing.join().unwrap())
    });
    assert_none_torn(&torn);
    assert!(
        cycles > 10 && plain > 0,
        "the path must really go and come back meanwhile ({cycles} times, {plain} plain packets)"
    );
}
