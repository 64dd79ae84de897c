//! Which handoff `Handoff::Auto` chooses for a client path, from the routes
//! of the namespace the path writer was made in (`ip route get` of the
//! first SID and of the destination): the stack's neighbour only when both
//! leave through the same gateway on the same device. And `refresh_routes`
//! follows routes that change after a path was written. (What each handoff
//! does to a packet: tests/bpf_programs.rs; on the wire: the bridge test in
//! tests/netns_transfer.rs.)
#![allow(clippy::unwrap_used)]
mod common;

use std::net::Ipv6Addr;

use common::netns::{ip, Namespaces};
use dataplane::{ClientDataplane, Handoff, PathWriter, Proto};

fn addr(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

const SID: &str = "fcbb:bb00:1::2";
const GATEWAY: &str = "fc00:1::2";
/// Reached through the SID's gateway: the stack's neighbour is the SID's.
const VIA_SAME_GATEWAY: &str = "fc00:9::1";
/// On the SID's link, reached directly: its neighbour is the destination.
const ON_LINK: &str = "fc00:1::3";
/// Another gateway on the same device.
const VIA_OTHER_GATEWAY: &str = "fc00:9::2";
/// Another device.
const VIA_OTHER_DEVICE: &str = "fc00:9::3";
/// A SID without any route (the namespace has no default route).
const UNROUTED_SID: &str = "fcbb:ff00::1";

/// A namespace with two links (veth pairs, both ends inside) and the routes above.
fn routed_namespace() -> (Namespaces, String) {
    let (guard, ns) = Namespaces::one("dph");
    for (dev, peer, prefix) in [("d0", "e0", "fc00:1::1/64"), ("d1", "e1", "fc00:2::1/64")] {
        ip(&ns, &format!("link add {dev} type veth peer name {peer}"));
        ip(&ns, &format!("addr add {prefix} dev {dev} nodad"));
        ip(&ns, &format!("link set {peer} up"));
        ip(&ns, &format!("link set {dev} up"));
    }
    for route in [
        format!("{SID}/128 via {GATEWAY} dev d0"),
        format!("{VIA_SAME_GATEWAY}/128 via {GATEWAY} dev d0"),
        format!("{VIA_OTHER_GATEWAY}/128 via fc00:1::4 dev d0"),
        format!("{VIA_OTHER_DEVICE}/128 via fc00:2::2 dev d1"),
    ] {
        ip(&ns, &format!("-6 route add {route}"));
    }
    (guard, ns)
}

/// A client loaded inside `ns`, its path writer handed out of it.
fn writer_made_in(ns: &str) -> (ClientDataplane, PathWriter) {
    labns::run_in(ns, || {
        let client = ClientDataplane::load().unwrap();
        let writer = client.path_writer().unwrap();
        (client, writer)
    })
    .unwrap()
}

fn handoff_of(writer: &PathWriter, destination: &str) -> Handoff {
    let paths = writer.paths().unwrap();
    let path = paths
        .iter()
        .find(|p| p.destination == addr(destination))
        .unwrap();
    path.handoff
}

#[test]
fn auto_keeps_the_stack_neighbour_only_where_both_routes_take_the_same_gateway() {
    let (_guard, ns) = routed_namespace();
    // Written from this thread, outside the namespace: the writer still
    // reads the routes of the namespace it was made in.
    let (_client, mut writer) = writer_made_in(&ns);
    for (destination, expected) in [
        (VIA_SAME_GATEWAY, Handoff::Stack),
        (ON_LINK, Handoff::Neighbour),
        (VIA_OTHER_GATEWAY, Handoff::Neighbour),
        (VIA_OTHER_DEVICE, Handoff::Neighbour),
    ] {
        writer
            .set_path(addr(destination), 80, Proto::Tcp, &[addr(SID)])
            .unwrap();
        assert_eq!(handoff_of(&writer, destination), expected, "{destination}");
    }
    // A first SID without a route: the kernel's own lookup decides per packet.
    writer
        .set_path(
            addr(VIA_SAME_GATEWAY),
            81,
            Proto::Tcp,
            &[addr(UNROUTED_SID)],
        )
        .unwrap();
    let unrouted = writer.paths().unwrap();
    assert!(
        unrouted
            .iter()
            .any(|p| p.port == 81 && p.handoff == Handoff::Neighbour),
        "{unrouted:?}"
    );
    // Given handoffs are kept whatever the routes say.
    writer
        .set_path_with(addr(ON_LINK), 80, Proto::Tcp, &[addr(SID)], Handoff::Stack)
        .unwrap();
    assert_eq!(handoff_of(&writer, ON_LINK), Handoff::Stack);
    writer
        .set_path_with(
            addr(VIA_SAME_GATEWAY),
            80,
            Proto::Tcp,
            &[addr(SID)],
            Handoff::Neighbour,
        )
        .unwrap();
    assert_eq!(handoff_of(&writer, VIA_SAME_GATEWAY), Handoff::Neighbour);
}

#[test]
fn refresh_routes_follows_routes_changed_after_the_path_was_written() {
    let (_guard, ns) = routed_namespace();
    let (_client, mut writer) = writer_made_in(&ns);
    for destination in [ON_LINK, VIA_SAME_GATEWAY, VIA_OTHER_DEVICE] {
        writer
            .set_path(addr(destination), 80, Proto::Tcp, &[addr(SID)])
            .unwrap();
    }
    // A path whose handoff was given is never re-chosen.
    writer
        .set_path_with(
            addr(VIA_OTHER_GATEWAY),
            80,
            Proto::Tcp,
            &[addr(SID)],
            Handoff::Stack,
        )
        .unwrap();
    assert_eq!(writer.refresh_routes().unwrap(), 0, "nothing changed yet");
    // The on-link server moves behind the SID's gateway; the other
    // destination moves to another gateway.
    ip(
        &ns,
        &format!("-6 route add {ON_LINK}/128 via {GATEWAY} dev d0"),
    );
    ip(
        &ns,
        &format!("-6 route replace {VIA_SAME_GATEWAY}/128 via fc00:1::5 dev d0"),
    );
    assert_eq!(writer.refresh_routes().unwrap(), 2);
    assert_eq!(handoff_of(&writer, ON_LINK), Handoff::Stack);
    assert_eq!(handoff_of(&writer, VIA_SAME_GATEWAY), Handoff::Neighbour);
    assert_eq!(handoff_of(&writer, VIA_OTHER_DEVICE), Handoff::Neighbour);
    assert_eq!(handoff_of(&writer, VIA_OTHER_GATEWAY), Handoff::Stack);
    // The SIDs are what they were.
    assert!(writer
        .paths()
        .unwrap()
        .iter()
        .all(|p| p.sids == [addr(SID)]));
}
