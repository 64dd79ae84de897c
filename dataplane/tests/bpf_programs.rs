//! Every program under BPF_PROG_TEST_RUN (repeat 1) on packets built by the
//! codec: outputs are compared byte for byte with the codec's. Needs root
//! (loading BPF programs), as CI runs.
#![allow(clippy::unwrap_used)]
mod common;

use std::net::Ipv6Addr;

use common::*;
use dataplane::loader::{TC_ACT_OK, TC_ACT_REDIRECT, XDP_PASS};
use dataplane::maps::{IPPROTO_TCP, IPPROTO_UDP};
use dataplane::srh::{self, Srh};
use dataplane::{
    ClientDataplane, ClientOptions, ClientProgram, Counter, Handoff, Proto, ServerDataplane,
    ServerOptions, ServerProgram, Trust,
};

/// The reference path, its packets handed to the first SID's neighbour
/// (`Auto` would depend on this host's routes; tests/handoff.rs tests it).
fn client_with_reference_path() -> ClientDataplane {
    let mut client = ClientDataplane::load().unwrap();
    client
        .set_path_with(
            addr(SERVER),
            80,
            Proto::Tcp,
            &reference_sids(),
            Handoff::Neighbour,
        )
        .unwrap();
    client.add_local_address(addr(CLIENT)).unwrap();
    client
}

fn server() -> ServerDataplane {
    let mut server = ServerDataplane::load(ServerOptions::new(Trust::Any)).unwrap();
    server.add_local_address(addr(SERVER)).unwrap();
    server
}

#[test]
fn client_egress_inserts_exactly_the_reference_srh() {
    let client = client_with_reference_path();
    let syn = tcp_syn(addr(CLIENT), addr(SERVER), CLIENT_PORT, 80, 1440);
    let out = client.test_run(ClientProgram::Egress, &syn).unwrap();
    // Handed to the first SID's neighbour, not sent by the final destination's route.
    assert_eq!(out.action, TC_ACT_REDIRECT);
    let expected = srh::insert(&syn, &reference_srh(IPPROTO_TCP)).unwrap();
    assert_eq!(
        out.frame, expected,
        "BPF output differs from the codec's packet"
    );

    let (found, offset) = srh::find(&out.frame).unwrap().unwrap();
    assert_eq!(offset, srh::SRH_OFFSET);
    assert_eq!(found.segments.len(), 5);
    assert_eq!(found.segments_left, 4);
    assert_eq!(found.last_entry, 4);
    assert_eq!(found.segments[0], addr(SERVER));
    assert_eq!(
        &out.frame[38..54],
        &addr("fcbb:bb00:1::2").octets(),
        "IPv6 destination is the first SID"
    );
    // Segment 0 is the final destination: the TCP checksum stays valid.
    let stripped = srh::strip(&expected).unwrap().0;
    let sliced = etherparse::SlicedPacket::from_ethernet(&out.frame).unwrap();
    assert!(sliced.transport.is_some());
    assert_eq!(stripped[..38], syn[..38]);
    assert_eq!(client.counters().unwrap().get(Counter::Encapsulated), 1);
}

#[test]
fn client_egress_passes_unmatched_packets_unchanged() {
    let client = client_with_reference_path();
    let cases = [
        (
            "other port",
            tcp(addr(CLIENT), addr(SERVER), CLIENT_PORT, 81, b"x"),
        ),
        (
            "other address",
            tcp(addr(CLIENT), addr("fcbb:cc00:3::a"), CLIENT_PORT, 80, b"x"),
        ),
        (
            "UDP to the TCP application's port",
            udp(addr(CLIENT), addr(SERVER), CLIENT_PORT, 80, b"x"),
        ),
        ("ICMPv6", icmpv6_echo(addr(CLIENT), addr(SERVER), b"ping")),
    ];
    for (what, frame) in cases {
        let out = client.test_run(ClientProgram::Egress, &frame).unwrap();
        assert_eq!(out.action, TC_ACT_OK, "{what}");
        assert_eq!(out.frame, frame, "{what}: packet changed");
    }
    let counters = client.counters().unwrap();
    assert_eq!(counters.get(Counter::Passed), 4);
    assert_eq!(counters.get(Counter::Encapsulated), 0);
}

#[test]
fn client_egress_matches_udp_paths_and_every_length() {
    let mut client = ClientDataplane::load().unwrap();
    client.add_local_address(addr(CLIENT)).unwrap();
    for n in [1usize, 5, 10, 16] {
        let port = 1000 + n as u16;
        client
            .set_path(addr(SERVER), port, Proto::Udp, &sids(n))
            .unwrap();
        let frame = udp(addr(CLIENT), addr(SERVER), CLIENT_PORT, port, &[0xab; 100]);
        let out = client.test_run(ClientProgram::Egress, &frame).unwrap();
        let expected = srh::insert(
            &frame,
            &Srh::from_travel_order(IPPROTO_UDP, addr(SERVER), &sids(n)).unwrap(),
        )
        .unwrap();
        assert_eq!(out.frame, expected, "{n} SIDs");
    }
    let too_many = client.set_path(addr(SERVER), 9, Proto::Udp, &sids(17));
    assert!(
        matches!(
            too_many,
            Err(dataplane::DataplaneError::TooManySids { got: 17, max: 16 })
        ),
        "{too_many:?}"
    );
}

#[test]
fn client_paths_can_be_listed_replaced_and_removed() {
    let mut client = client_with_reference_path();
    let paths = client.paths().unwrap();
    assert_eq!(paths.len(), 1);
    assert_eq!(paths[0].sids, reference_sids());
    client
        .set_path(addr(SERVER), 80, Proto::Tcp, &sids(2))
        .unwrap();
    assert_eq!(client.paths().unwrap()[0].sids, sids(2));
    assert!(client.remove_path(addr(SERVER), 80, Proto::Tcp).unwrap());
    assert!(!client.remove_path(addr(SERVER), 80, Proto::Tcp).unwrap());
    let frame = tcp(addr(CLIENT), addr(SERVER), CLIENT_PORT, 80, b"x");
    assert_eq!(
        client
            .test_run(ClientProgram::Egress, &frame)
            .unwrap()
            .frame,
        frame
    );
}

#[test]
fn client_egress_clamps_the_syn_mss_to_fit_the_srh() {
    // Test runs use the loopback device (MTU 65536), so advertise more than fits.
    let client = client_with_reference_path();
    let syn = tcp_syn(addr(CLIENT), addr(SERVER), CLIENT_PORT, 80, 65535);
    let out = client.test_run(ClientProgram::Egress, &syn).unwrap();
    // Byte for byte: the SYN a stack would have sent with the clamped MSS
    // (checksum recomputed by etherparse), with the reference SRH inserted.
    let clamped = dataplane::mtu::clamped_mss(65536, 4) as u16;
    assert_eq!(clamped, 65388);
    let expected = srh::insert(
        &tcp_syn(addr(CLIENT), addr(SERVER), CLIENT_PORT, 80, clamped),
        &reference_srh(IPPROTO_TCP),
    )
    .unwrap();
    assert_eq!(out.frame, expected);
    // An MSS that already fits is left alone.
    let small = tcp_syn(addr(CLIENT), addr(SERVER), CLIENT_PORT, 80, 1440);
    let out_small = client.test_run(ClientProgram::Egress, &small).unwrap();
    assert_eq!(
        out_small.frame,
        srh::insert(&small, &reference_srh(IPPROTO_TCP)).unwrap()
    );
    assert_eq!(client.counters().unwrap().get(Counter::MssClamped), 1);
}

fn server_learns_and_strips(program: ServerProgram, pass: u32) {
    let server = server();
    let syn = tcp_syn(addr(CLIENT), addr(SERVER), CLIENT_PORT, 80, 1440);
    let arrived = arrived_at_server(&syn, &reference_srh(IPPROTO_TCP));
    let (found, _) = srh::find(&arrived).unwrap().unwrap();
    assert_eq!(found.segments_left, 0);

    let out = server.test_run(program, &arrived).unwrap();
    assert_eq!(out.action, pass);
    assert_eq!(
        out.frame,
        srh::strip(&arrived).unwrap().0,
        "stripped packet differs from the codec's"
    );
    let flow = server
        .flow(addr(CLIENT), CLIENT_PORT, Proto::Tcp)
        .unwrap()
        .expect("flow learned");
    // DESIGN §1 step 5, exactly.
    let expected: Vec<_> = [
        "fcbb:cc00:1::a",
        "fcbb:bb00:1::2",
        "fcbb:bb00:2::2",
        "fcbb:bb00:4::2",
        "fcbb:bb00:6::2",
    ]
    .iter()
    .map(|s| addr(s))
    .collect();
    assert_eq!(flow.segments, expected);
    assert_eq!(server.flows().unwrap().len(), 1);
    let counters = server.counters().unwrap();
    assert_eq!(counters.get(Counter::Learned), 1);
    assert_eq!(counters.get(Counter::Decapsulated), 1);

    // The same path again does not rewrite the entry.
    server.test_run(program, &arrived).unwrap();
    assert_eq!(server.counters().unwrap().get(Counter::LearnUnchanged), 1);

    // The reply leaves with the reversed SRH, first hop vpp6.
    let reply = tcp(
        addr(SERVER),
        addr(CLIENT),
        80,
        CLIENT_PORT,
        b"HTTP/1.1 200 OK\r\n",
    );
    let out = server.test_run(ServerProgram::Egress, &reply).unwrap();
    // The reply is framed for another neighbour (02:..:02) than the one the
    // request came from (02:..:01): handed to the first SID's neighbour.
    assert_eq!(out.action, TC_ACT_REDIRECT);
    let reversed = reference_srh(IPPROTO_TCP).reversed(addr(CLIENT));
    assert_eq!(out.frame, srh::insert(&reply, &reversed).unwrap());
    assert_eq!(&out.frame[38..54], &addr("fcbb:bb00:6::2").octets());
}

/// The handoff decides only the verdict: the packet is the same. Client:
/// `Stack` leaves it on the stack's neighbour (TC_ACT_OK), `Neighbour`
/// redirects it. Server (`Auto`): a reply framed for the neighbour the
/// request came from stays on it, any other is redirected; the server's
/// `Neighbour` and `Stack` override that.
#[test]
fn the_handoff_decides_whether_an_encapsulated_packet_is_redirected() {
    let syn = tcp_syn(addr(CLIENT), addr(SERVER), CLIENT_PORT, 80, 1440);
    let expected = srh::insert(&syn, &reference_srh(IPPROTO_TCP)).unwrap();
    for (handoff, action) in [
        (Handoff::Stack, TC_ACT_OK),
        (Handoff::Neighbour, TC_ACT_REDIRECT),
    ] {
        let mut client = ClientDataplane::load().unwrap();
        client.add_local_address(addr(CLIENT)).unwrap();
        client
            .set_path_with(addr(SERVER), 80, Proto::Tcp, &reference_sids(), handoff)
            .unwrap();
        assert_eq!(client.paths().unwrap()[0].handoff, handoff);
        let out = client.test_run(ClientProgram::Egress, &syn).unwrap();
        assert_eq!((out.action, &out.frame), (action, &expected), "{handoff:?}");
    }

    let request = arrived_at_server(
        &tcp(addr(CLIENT), addr(SERVER), CLIENT_PORT, 80, b"x"),
        &reference_srh(IPPROTO_TCP),
    );
    let reply = tcp(addr(SERVER), addr(CLIENT), 80, CLIENT_PORT, b"y");
    let mut reply_to_sender = reply.clone();
    reply_to_sender[..6].copy_from_slice(&request[6..12]);
    for (handoff, to_sender, to_other) in [
        (Handoff::Auto, TC_ACT_OK, TC_ACT_REDIRECT),
        (Handoff::Neighbour, TC_ACT_REDIRECT, TC_ACT_REDIRECT),
        (Handoff::Stack, TC_ACT_OK, TC_ACT_OK),
    ] {
        let mut server = ServerDataplane::load(ServerOptions {
            handoff,
            ..ServerOptions::new(Trust::Any)
        })
        .unwrap();
        server.add_local_address(addr(SERVER)).unwrap();
        server.test_run(ServerProgram::IngressTc, &request).unwrap();
        for (frame, action) in [(&reply_to_sender, to_sender), (&reply, to_other)] {
            let out = server.test_run(ServerProgram::Egress, frame).unwrap();
            let reversed = reference_srh(IPPROTO_TCP).reversed(addr(CLIENT));
            assert_eq!(
                (out.action, out.frame),
                (action, srh::insert(frame, &reversed).unwrap()),
                "{handoff:?}"
            );
        }
    }
}

#[test]
fn server_tc_ingress_learns_the_reversed_list_strips_and_egress_reinserts() {
    server_learns_and_strips(ServerProgram::IngressTc, TC_ACT_OK);
}

#[test]
fn server_xdp_ingress_learns_the_reversed_list_strips_and_egress_reinserts() {
    server_learns_and_strips(ServerProgram::IngressXdp, XDP_PASS);
}

#[test]
fn server_learns_per_flow_and_follows_path_changes() {
    let server = server();
    let udp_req = udp(addr(CLIENT), addr(SERVER), 5000, 53, b"q");
    let arrived = arrived_at_server(
        &udp_req,
        &Srh::from_travel_order(IPPROTO_UDP, addr(SERVER), &sids(3)).unwrap(),
    );
    server.test_run(ServerProgram::IngressTc, &arrived).unwrap();
    let flow = server
        .flow(addr(CLIENT), 5000, Proto::Udp)
        .unwrap()
        .unwrap();
    assert_eq!(flow.segments.len(), 4);
    // The client moves the flow to another path: the server follows.
    let moved = arrived_at_server(
        &udp_req,
        &Srh::from_travel_order(IPPROTO_UDP, addr(SERVER), &sids(1)).unwrap(),
    );
    server.test_run(ServerProgram::IngressTc, &moved).unwrap();
    assert_eq!(
        server
            .flow(addr(CLIENT), 5000, Proto::Udp)
            .unwrap()
            .unwrap()
            .segments,
        vec![addr(CLIENT), sids(1)[0]]
    );
    assert_eq!(server.counters().unwrap().get(Counter::Learned), 2);
    // Another port of the same client is another flow; unlearned flows pass unchanged.
    let other = udp(addr(SERVER), addr(CLIENT), 53, 5001, b"a");
    assert_eq!(
        server
            .test_run(ServerProgram::Egress, &other)
            .unwrap()
            .frame,
        other
    );
}

#[test]
fn server_does_not_learn_from_untrusted_sources_or_foreign_destinations() {
    let mut server = server();
    server
        .set_trust(&Trust::Prefixes(vec!["fcbb:cc00:9::/48".parse().unwrap()]))
        .unwrap();
    let syn = tcp_syn(addr(CLIENT), addr(SERVER), CLIENT_PORT, 80, 1440);
    let arrived = arrived_at_server(&syn, &reference_srh(IPPROTO_TCP));
    let out = server.test_run(ServerProgram::IngressTc, &arrived).unwrap();
    assert_eq!(
        out.frame,
        srh::strip(&arrived).unwrap().0,
        "untrusted: still stripped"
    );
    assert!(server.flows().unwrap().is_empty());
    assert_eq!(server.counters().unwrap().get(Counter::Untrusted), 1);

    server
        .set_trust(&Trust::Prefixes(vec!["fcbb:cc00::/32".parse().unwrap()]))
        .unwrap();
    server.test_run(ServerProgram::IngressTc, &arrived).unwrap();
    assert_eq!(server.flows().unwrap().len(), 1, "trusted prefix: learned");

    // SL 0 but not one of our addresses: not ours to strip.
    let mut foreign = ServerDataplane::load(ServerOptions::new(Trust::Any)).unwrap();
    foreign.add_local_address(addr("fcbb:cc00:3::a")).unwrap();
    let out = foreign
        .test_run(ServerProgram::IngressTc, &arrived)
        .unwrap();
    assert_eq!(out.frame, arrived);
    assert!(foreign.flows().unwrap().is_empty());
    assert_eq!(foreign.counters().unwrap().get(Counter::NotLocal), 1);
    // SL > 0: in transit, not ours either.
    let in_transit = srh::insert(&syn, &reference_srh(IPPROTO_TCP)).unwrap();
    assert_eq!(
        server
            .test_run(ServerProgram::IngressTc, &in_transit)
            .unwrap()
            .frame,
        in_transit
    );
}

#[test]
fn client_ingress_strips_replies_whatever_the_upper_layer() {
    let client = client_with_reference_path();
    let reversed = |nh| reference_srh(nh).reversed(addr(CLIENT));
    let replies = [
        (
            "TCP",
            tcp(addr(SERVER), addr(CLIENT), 80, CLIENT_PORT, b"reply"),
            6u8,
        ),
        (
            "UDP",
            udp(addr(SERVER), addr(CLIENT), 80, CLIENT_PORT, b"reply"),
            17,
        ),
        (
            "ICMPv6",
            icmpv6_echo(addr(SERVER), addr(CLIENT), b"reply"),
            58,
        ),
    ];
    for (program, pass) in [
        (ClientProgram::IngressTc, TC_ACT_OK),
        (ClientProgram::IngressXdp, XDP_PASS),
    ] {
        for (what, plain, nh) in &replies {
            let arrived = arrived_at_server(plain, &reversed(*nh));
            let out = client.test_run(program, &arrived).unwrap();
            assert_eq!(out.action, pass, "{what} {program:?}");
            assert_eq!(
                &out.frame, plain,
                "{what} {program:?}: stripped packet must be the original"
            );
        }
    }
    assert_eq!(client.counters().unwrap().get(Counter::Decapsulated), 6);
}

#[test]
fn srh_tlvs_are_tolerated_and_dropped_on_strip() {
    let server = server();
    let syn = tcp_syn(addr(CLIENT), addr(SERVER), CLIENT_PORT, 80, 1440);
    let mut srh = reference_srh(IPPROTO_TCP);
    srh.segments_left = 0;
    // An 8-byte PadN TLV (type 4, length 6).
    srh.tlvs = vec![4, 6, 0, 0, 0, 0, 0, 0];
    let mut frame = srh::insert_raw(&syn, &srh.to_bytes(), addr(SERVER)).unwrap();
    frame[38..54].copy_from_slice(&addr(SERVER).octets());
    for program in [ServerProgram::IngressTc, ServerProgram::IngressXdp] {
        let out = server.test_run(program, &frame).unwrap();
        assert_eq!(out.frame, syn, "{program:?}");
    }
    assert_eq!(server.flows().unwrap().len(), 1);
}

/// SRHs every ingress program must pass untouched, count, and never learn.
fn malformed_corpus() -> Vec<(&'static str, Vec<u8>)> {
    let syn = tcp_syn(addr(CLIENT), addr(SERVER), CLIENT_PORT, 80, 1440);
    let mut good = reference_srh(IPPROTO_TCP);
    good.segments_left = 0;
    let bytes = good.to_bytes();
    let with = |mutate: &dyn Fn(&mut Vec<u8>)| {
        let mut header = bytes.clone();
        mutate(&mut header);
        srh::insert_raw(&syn, &header, addr(SERVER)).unwrap()
    };
    let mut corpus = vec![
        ("routing type 0", with(&|h| h[2] = 0)),
        ("routing type 3 (RPL)", with(&|h| h[2] = 3)),
        ("hdr_ext_len too small for last_entry", with(&|h| h[1] = 8)),
        ("hdr_ext_len zero", with(&|h| h[1] = 0)),
        ("last_entry beyond hdr_ext_len", with(&|h| h[4] = 6)),
        (
            "segments_left > last_entry",
            with(&|h| {
                h[3] = 5;
            }),
        ),
        ("last_entry beyond what the maps hold", with(&|h| h[4] = 17)),
    ];
    // hdr_ext_len claims more than the packet holds.
    corpus.push(("hdr_ext_len past the payload", with(&|h| h[1] = 30)));
    // Truncated: the payload length says the SRH is there, the frame ends early.
    let full = with(&|_| {});
    let mut truncated = full.clone();
    truncated.truncate(54 + 40);
    corpus.push(("truncated segment list", truncated));
    let mut cut = full.clone();
    cut.truncate(54 + 4);
    corpus.push(("truncated fixed header", cut));
    // A payload length shorter than the SRH.
    let mut short_plen = full;
    short_plen[18..20].copy_from_slice(&40u16.to_be_bytes());
    corpus.push(("payload length shorter than the SRH", short_plen));
    corpus
}

#[test]
fn malformed_srhs_are_passed_unchanged_counted_and_never_learned() {
    let corpus = malformed_corpus();
    // Every case is really rejected by the reference parser (or cannot be learned).
    for (what, frame) in &corpus {
        let parsed = srh::find(frame);
        let acceptable =
            matches!(&parsed, Ok(Some((s, _))) if s.segments.len() <= srh::MAX_SEGMENTS);
        assert!(
            !acceptable,
            "{what}: the codec accepts it, so it is not a malformed case"
        );
    }
    let server = server();
    let client = client_with_reference_path();
    for (what, frame) in &corpus {
        for program in [ServerProgram::IngressTc, ServerProgram::IngressXdp] {
            let out = server.test_run(program, frame).unwrap();
            assert_eq!(&out.frame, frame, "server {program:?} {what}: changed");
        }
        for program in [ClientProgram::IngressTc, ClientProgram::IngressXdp] {
            let out = client.test_run(program, frame).unwrap();
            assert_eq!(&out.frame, frame, "client {program:?} {what}: changed");
        }
    }
    assert!(
        server.flows().unwrap().is_empty(),
        "learned from a malformed SRH"
    );
    let n = corpus.len() as u64 * 2;
    assert_eq!(server.counters().unwrap().get(Counter::Malformed), n);
    assert_eq!(client.counters().unwrap().get(Counter::Malformed), n);
    assert_eq!(server.counters().unwrap().get(Counter::Decapsulated), 0);
}

#[test]
fn fragments_are_passed_without_insert_and_stripped_without_learning() {
    let client = client_with_reference_path();
    // A fragment header (44) instead of TCP right after IPv6: no ports to match.
    let mut frag = tcp(addr(CLIENT), addr(SERVER), CLIENT_PORT, 80, &[0u8; 64]);
    frag[20] = 44;
    let out = client.test_run(ClientProgram::Egress, &frag).unwrap();
    assert_eq!(out.frame, frag);
    assert_eq!(client.counters().unwrap().get(Counter::Fragment), 1);

    let server = server();
    let mut srh = Srh::from_travel_order(44, addr(SERVER), &reference_sids()).unwrap();
    srh.segments_left = 0;
    let mut plain = frag.clone();
    plain[38..54].copy_from_slice(&addr(SERVER).octets());
    let arrived = srh::insert_raw(&plain, &srh.to_bytes(), addr(SERVER)).unwrap();
    let out = server.test_run(ServerProgram::IngressTc, &arrived).unwrap();
    assert_eq!(out.frame, plain, "fragment stripped");
    assert!(server.flows().unwrap().is_empty());
    assert_eq!(server.counters().unwrap().get(Counter::Fragment), 1);
}

/// A client snooping "wb.hawk.net" (service 7) through `RESOLVER`.
fn snooping_client(options: ClientOptions) -> ClientDataplane {
    let mut client = ClientDataplane::load_with(options).unwrap();
    client.add_local_address(addr(CLIENT)).unwrap();
    client.add_dns_name("wb.hawk.net", 7).unwrap();
    client.set_resolvers(&[addr(RESOLVER)]).unwrap();
    client
}

/// A snooping client that steers service 7's port 80 along the reference path.
fn steering_snooping_client() -> ClientDataplane {
    let mut client = snooping_client(ClientOptions::default());
    client
        .set_service_path(7, 80, Proto::Tcp, &reference_sids())
        .unwrap();
    client
}

/// The client's query leaves (egress), so that one reply to it is read.
fn ask(client: &ClientDataplane) {
    let out = client
        .test_run(ClientProgram::Egress, &dns_query("wb.hawk.net"))
        .unwrap();
    assert_eq!(
        out.frame,
        dns_query("wb.hawk.net"),
        "a query is never changed"
    );
}

#[test]
fn dns_snooping_learns_aaaa_answers_of_configured_names() {
    let mut client = steering_snooping_client();
    let (b, b2) = (addr(SERVER).octets(), addr("fcbb:cc00:2::b").octets());
    // Question at offset 12; a CNAME chain, compressed owners, two AAAA answers.
    let reply = Dns::response("WB.hawk.NET", Dns::OK, 4)
        .answer_ptr(12, TYPE_CNAME, &encode_name("web.hawk.net"))
        .answer_name("web.hawk.net", TYPE_AAAA, &b)
        .answer_ptr(12, TYPE_A, &[10, 0, 0, 1])
        .answer_ptr(12, TYPE_AAAA, &b2);
    for program in [ClientProgram::IngressTc, ClientProgram::IngressXdp] {
        ask(&client);
        let frame = dns_reply(&reply);
        let out = client.test_run(program, &frame).unwrap();
        assert_eq!(out.frame, frame, "snooping never changes the packet");
    }
    assert_eq!(
        client.dns_addresses().unwrap(),
        vec![(addr(SERVER), 7), (addr("fcbb:cc00:2::b"), 7)]
    );
    assert_eq!(client.counters().unwrap().get(Counter::DnsLearned), 4);

    // The learned address is now steered by the service's path.
    let syn = tcp_syn(addr(CLIENT), addr("fcbb:cc00:2::b"), CLIENT_PORT, 80, 1440);
    let out = client.test_run(ClientProgram::Egress, &syn).unwrap();
    let expected = srh::insert(
        &syn,
        &Srh::from_travel_order(6, addr("fcbb:cc00:2::b"), &reference_sids()).unwrap(),
    )
    .unwrap();
    assert_eq!(out.frame, expected);
    // A service path has no destination whose route `Auto` could compare
    // with the SID's: its packets go to the first SID's neighbour.
    assert_eq!(out.action, TC_ACT_REDIRECT);
    // With no name left to snoop, DNS-learned addresses are no longer steered.
    assert!(client.remove_dns_name("wb.hawk.net").unwrap());
    assert_eq!(
        client.test_run(ClientProgram::Egress, &syn).unwrap().frame,
        syn
    );
}

#[test]
fn dns_snooping_ignores_other_names_and_broken_replies() {
    let client = snooping_client(ClientOptions::default());
    let b = addr(SERVER).octets();
    let good = Dns::response("wb.hawk.net", Dns::OK, 1).answer_ptr(12, TYPE_AAAA, &b);
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "other name",
            dns_reply(&Dns::response("wc.hawk.net", Dns::OK, 1).answer_ptr(12, TYPE_AAAA, &b)),
        ),
        (
            "truncated (TC bit)",
            dns_reply(
                &Dns::response("wb.hawk.net", Dns::OK | 0x0200, 1).answer_ptr(12, TYPE_AAAA, &b),
            ),
        ),
        (
            "NXDOMAIN",
            dns_reply(&Dns::response("wb.hawk.net", Dns::OK | 3, 1).answer_ptr(12, TYPE_AAAA, &b)),
        ),
        (
            "a query, not a response",
            dns_reply(&Dns::response("wb.hawk.net", 0x0100, 1).answer_ptr(12, TYPE_AAAA, &b)),
        ),
        (
            "AAAA with 4-byte rdata",
            dns_reply(&Dns::response("wb.hawk.net", Dns::OK, 1).answer_ptr(
                12,
                TYPE_AAAA,
                &[1, 2, 3, 4],
            )),
        ),
        (
            "answer count beyond the data",
            dns_reply(&Dns::response("wb.hawk.net", Dns::OK, 3)),
        ),
        (
            "not from port 53",
            udp(addr(RESOLVER), addr(CLIENT), 5353, 53, &good.bytes),
        ),
    ];
    let mut cut = dns_reply(&good);
    let new_len = cut.len() - 10;
    cut.truncate(new_len);
    cases.push(("packet cut inside the answer", cut));
    let mut label = good.bytes.clone();
    label[12] = 0x45; // a label length of 69
    cases.push((
        "label longer than 63",
        dns_reply(&Dns {
            bytes: label,
            ttl: 60,
        }),
    ));
    for program in [ClientProgram::IngressTc, ClientProgram::IngressXdp] {
        for (what, frame) in &cases {
            // Each reply answers a query, so only its content is judged.
            ask(&client);
            let out = client.test_run(program, frame).unwrap();
            assert_eq!(&out.frame, frame, "{what}");
        }
    }
    assert_eq!(
        client.dns_addresses().unwrap(),
        vec![],
        "learned from a reply it must ignore"
    );
    // The good reply alone is learned.
    ask(&client);
    client
        .test_run(ClientProgram::IngressTc, &dns_reply(&good))
        .unwrap();
    assert_eq!(client.dns_addresses().unwrap(), vec![(addr(SERVER), 7)]);
}

#[test]
fn map_layouts_match_the_object_files() {
    // The typed map accessors check key and value sizes against the loaded
    // maps: listing each map exercises every layout.
    let mut client = client_with_reference_path();
    client.add_dns_name("x.example", 1).unwrap();
    client.set_service_path(1, 1, Proto::Udp, &sids(1)).unwrap();
    assert_eq!(client.paths().unwrap().len(), 1);
    assert_eq!(client.dns_addresses().unwrap().len(), 0);
    assert_eq!(client.local_addresses().unwrap(), vec![addr(CLIENT)]);
    let mut server = server();
    server
        .set_trust(&Trust::Prefixes(vec!["fcbb::/16".parse().unwrap()]))
        .unwrap();
    assert!(server.flows().unwrap().is_empty());
    assert!(server.counters().unwrap().non_zero().is_empty());
}

#[test]
fn an_srh_before_a_missing_udp_header_is_stripped_not_learned_and_counted_malformed() {
    // RFC 8754 §4.3.1.1: at SL 0 the SRH is done with and the packet goes to
    // its upper layer, which judges it; there are no ports to learn.
    let server = server();
    let mut plain = udp(addr(CLIENT), addr(SERVER), 5000, 53, b"");
    plain.truncate(54 + 3);
    plain[18..20].copy_from_slice(&3u16.to_be_bytes());
    let mut srh = reference_srh(IPPROTO_UDP);
    srh.segments_left = 0;
    let arrived = srh::insert_raw(&plain, &srh.to_bytes(), addr(SERVER)).unwrap();
    for (program, pass) in [
        (ServerProgram::IngressTc, TC_ACT_OK),
        (ServerProgram::IngressXdp, XDP_PASS),
    ] {
        let out = server.test_run(program, &arrived).unwrap();
        assert_eq!(out.action, pass, "{program:?}");
        assert_eq!(out.frame, plain, "{program:?}: not stripped");
    }
    assert!(server.flows().unwrap().is_empty());
    let counters = server.counters().unwrap();
    assert_eq!(counters.get(Counter::Malformed), 2, "{counters:?}");
    assert_eq!(counters.get(Counter::Decapsulated), 2, "{counters:?}");
    assert_eq!(counters.get(Counter::Error), 0, "{counters:?}");
}

/// Addresses no return path may hold (multicast, link-local, loopback,
/// unspecified, IPv4-compatible/-mapped, or this host's own).
fn unusable_addresses() -> Vec<(&'static str, Ipv6Addr)> {
    vec![
        ("loopback", addr("::1")),
        ("unspecified", addr("::")),
        ("all-nodes multicast", addr("ff02::1")),
        ("global multicast", addr("ff0e::1234")),
        ("link-local", addr("fe80::1")),
        ("IPv4-mapped", addr("::ffff:192.0.2.1")),
        ("IPv4-compatible", addr("::192.0.2.1")),
        ("the server's own address", addr(SERVER)),
    ]
}

#[test]
fn server_never_learns_a_return_path_naming_an_unusable_address() {
    let server = server();
    let syn = |port| tcp_syn(addr(CLIENT), addr(SERVER), port, 80, 1440);
    for (i, (what, bad)) in unusable_addresses().into_iter().enumerate() {
        let port = 41000 + i as u16;
        // A spoofed segment with SRH [server, X]: replies would go to X.
        for sids in [vec![bad], vec![sids(1)[0], bad]] {
            let srh = Srh::from_travel_order(IPPROTO_TCP, addr(SERVER), &sids).unwrap();
            let arrived = arrived_at_server(&syn(port), &srh);
            let out = server.test_run(ServerProgram::IngressTc, &arrived).unwrap();
            assert_eq!(out.frame, syn(port), "{what}: still stripped");
            assert_eq!(
                server.flow(addr(CLIENT), port, Proto::Tcp).unwrap(),
                None,
                "{what} in {sids:?}: learned"
            );
        }
    }
    // ... nor one whose source (the list's first entry on the way back) is unusable.
    for (what, bad) in unusable_addresses() {
        let srh = Srh::from_travel_order(IPPROTO_TCP, addr(SERVER), &sids(2)).unwrap();
        let arrived = arrived_at_server(&tcp_syn(bad, addr(SERVER), 42000, 80, 1440), &srh);
        server.test_run(ServerProgram::IngressTc, &arrived).unwrap();
        assert!(
            server.flows().unwrap().is_empty(),
            "source {what}: learned {:?}",
            server.flows().unwrap()
        );
    }
    let n = unusable_addresses().len() as u64;
    assert_eq!(server.counters().unwrap().get(Counter::UnsafePath), 3 * n);
    assert_eq!(server.counters().unwrap().get(Counter::Learned), 0);
}

#[test]
fn a_server_trusting_no_prefix_learns_from_nobody_and_any_is_an_explicit_choice() {
    let syn = tcp_syn(addr(CLIENT), addr(SERVER), CLIENT_PORT, 80, 1440);
    let arrived = arrived_at_server(&syn, &reference_srh(IPPROTO_TCP));
    let mut server = ServerDataplane::load(ServerOptions::new(Trust::Prefixes(vec![]))).unwrap();
    server.add_local_address(addr(SERVER)).unwrap();
    let out = server.test_run(ServerProgram::IngressTc, &arrived).unwrap();
    assert_eq!(out.frame, syn, "stripped all the same");
    assert!(server.flows().unwrap().is_empty());
    assert_eq!(server.counters().unwrap().get(Counter::Untrusted), 1);
    server.set_trust(&Trust::Any).unwrap();
    server.test_run(ServerProgram::IngressTc, &arrived).unwrap();
    assert_eq!(server.flows().unwrap().len(), 1, "Trust::Any learns");
}

/// Decision (docs/dataplane.md, "Trust"): any later packet of a flow that
/// passes the same checks replaces its return path, not only the opening
/// one. The client moves a live flow to another path (a link failed, the
/// controller re-planned) and the replies must follow; holding the opening
/// path would keep replies on a path that may no longer exist (RFC 8754 §7:
/// the SR domain, not the host, keeps forged packets out).
#[test]
fn a_later_segment_of_an_established_tcp_flow_replaces_its_return_path() {
    let server = server();
    let syn = tcp_syn(addr(CLIENT), addr(SERVER), CLIENT_PORT, 80, 1440);
    server
        .test_run(
            ServerProgram::IngressTc,
            &arrived_at_server(&syn, &reference_srh(IPPROTO_TCP)),
        )
        .unwrap();
    let data = tcp(addr(CLIENT), addr(SERVER), CLIENT_PORT, 80, b"more");
    let moved = Srh::from_travel_order(IPPROTO_TCP, addr(SERVER), &sids(2)).unwrap();
    server
        .test_run(ServerProgram::IngressTc, &arrived_at_server(&data, &moved))
        .unwrap();
    let flow = server
        .flow(addr(CLIENT), CLIENT_PORT, Proto::Tcp)
        .unwrap()
        .unwrap();
    assert_eq!(flow.segments, moved.reversed(addr(CLIENT)).segments);
    assert_eq!(server.counters().unwrap().get(Counter::Learned), 2);
}

#[test]
fn set_path_refuses_destinations_and_sids_no_path_may_name() {
    let mut client = client_with_reference_path();
    let good = reference_sids();
    for (what, bad) in unusable_addresses() {
        // SERVER is not local to the client: its own address is.
        let bad = if bad == addr(SERVER) {
            addr(CLIENT)
        } else {
            bad
        };
        let as_destination = client.set_path(bad, 80, Proto::Tcp, &good);
        assert!(
            matches!(as_destination, Err(dataplane::DataplaneError::UnusableAddress { address, .. }) if address == bad),
            "{what} as destination: {as_destination:?}"
        );
        let as_sid = client.set_path(addr(SERVER), 81, Proto::Tcp, &[good[0], bad]);
        assert!(
            matches!(as_sid, Err(dataplane::DataplaneError::UnusableAddress { address, .. }) if address == bad),
            "{what} as SID: {as_sid:?}"
        );
        let as_service_sid = client.set_service_path(1, 80, Proto::Tcp, &[bad]);
        assert!(as_service_sid.is_err(), "{what} as a service SID");
    }
    // Nothing half-written: only the reference path is there.
    assert_eq!(client.paths().unwrap().len(), 1);
}

#[test]
fn only_locally_originated_packets_are_steered() {
    // RFC 8200 §4: extension headers are added by the source, never in
    // transit. A packet this host forwards keeps its headers.
    let client = client_with_reference_path();
    let forwarded = tcp(addr("fcbb:cc00:7::a"), addr(SERVER), CLIENT_PORT, 80, b"x");
    let out = client.test_run(ClientProgram::Egress, &forwarded).unwrap();
    assert_eq!(out.action, TC_ACT_OK);
    assert_eq!(out.frame, forwarded);
    assert_eq!(client.counters().unwrap().get(Counter::NotLocal), 1);

    let server = server();
    server
        .test_run(
            ServerProgram::IngressTc,
            &arrived_at_server(
                &tcp_syn(addr(CLIENT), addr(SERVER), CLIENT_PORT, 80, 1440),
                &reference_srh(IPPROTO_TCP),
            ),
        )
        .unwrap();
    let transit = tcp(addr("fcbb:cc00:7::a"), addr(CLIENT), 80, CLIENT_PORT, b"x");
    let out = server.test_run(ServerProgram::Egress, &transit).unwrap();
    assert_eq!(out.frame, transit);
    assert_eq!(server.counters().unwrap().get(Counter::NotLocal), 1);
}

#[test]
fn dns_replies_are_read_only_from_a_resolver_answering_a_query_we_sent() {
    let b = addr(SERVER).octets();
    let reply = dns_reply(&Dns::response("wb.hawk.net", Dns::OK, 1).answer_ptr(12, TYPE_AAAA, &b));
    let with = |change: &dyn Fn(&mut Vec<u8>)| {
        let mut frame = reply.clone();
        change(&mut frame);
        frame
    };
    let refused: Vec<(&str, Vec<u8>)> = vec![
        (
            "from an address that is no resolver",
            with(&|f| f[22..38].copy_from_slice(&addr("fcbb:cc00:4::e").octets())),
        ),
        (
            "to an address that is not ours",
            with(&|f| f[38..54].copy_from_slice(&addr("fcbb:cc00:1::b").octets())),
        ),
        (
            "to another port",
            with(&|f| f[56..58].copy_from_slice(&5354u16.to_be_bytes())),
        ),
        (
            "with another query ID",
            with(&|f| f[62..64].copy_from_slice(&0x4321u16.to_be_bytes())),
        ),
        (
            "with a zero UDP checksum",
            with(&|f| f[60..62].copy_from_slice(&[0, 0])),
        ),
    ];
    for program in [ClientProgram::IngressTc, ClientProgram::IngressXdp] {
        let client = snooping_client(ClientOptions::default());
        // No query sent: an off-path guess is not read.
        let out = client.test_run(program, &reply).unwrap();
        assert_eq!(out.frame, reply, "snooping never changes the packet");
        for (what, frame) in &refused {
            ask(&client);
            client.test_run(program, frame).unwrap();
            assert_eq!(
                client.dns_addresses().unwrap(),
                vec![],
                "{program:?}: read a reply {what}"
            );
        }
        // The reply to a query is read once: a second (replayed or raced) one is not.
        ask(&client);
        client.test_run(program, &reply).unwrap();
        assert_eq!(client.dns_addresses().unwrap(), vec![(addr(SERVER), 7)]);
        let other = addr("fcbb:cc00:2::b").octets();
        let second =
            dns_reply(&Dns::response("wb.hawk.net", Dns::OK, 1).answer_ptr(12, TYPE_AAAA, &other));
        client.test_run(program, &second).unwrap();
        assert_eq!(client.dns_addresses().unwrap(), vec![(addr(SERVER), 7)]);
        let counters = client.counters().unwrap();
        assert_eq!(
            counters.get(Counter::DnsUnsolicited),
            1 + refused.len() as u64 + 1,
            "{program:?}"
        );
        assert_eq!(counters.get(Counter::DnsLearned), 1, "{program:?}");
    }
}

/// Waits (bounded) until the monotonic clock passes every TTL the client holds.
fn wait_until_expired(client: &ClientDataplane) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while client
        .dns_entries()
        .unwrap()
        .iter()
        .any(|e| !e.expires_in.is_zero())
    {
        assert!(std::time::Instant::now() < deadline, "TTL never ran out");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn learned_addresses_are_used_until_their_ttl_and_then_removed() {
    let client = steering_snooping_client();
    let (b, b2) = (addr(SERVER).octets(), addr("fcbb:cc00:2::b").octets());
    // One answer to keep for a second, one not to cache at all (TTL 0).
    let reply = Dns::response("wb.hawk.net", Dns::OK, 2)
        .with_ttl(1)
        .answer_ptr(12, TYPE_AAAA, &b)
        .with_ttl(0)
        .answer_ptr(12, TYPE_AAAA, &b2);
    ask(&client);
    client
        .test_run(ClientProgram::IngressTc, &dns_reply(&reply))
        .unwrap();
    let entries = client.dns_entries().unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(
        (entries[0].address, entries[0].service_id),
        (addr(SERVER), 7)
    );
    assert!(
        entries[0].expires_in <= std::time::Duration::from_secs(1),
        "{entries:?}"
    );
    let syn = tcp_syn(addr(CLIENT), addr(SERVER), CLIENT_PORT, 80, 1440);
    let steered = client.test_run(ClientProgram::Egress, &syn).unwrap();
    assert_eq!(
        steered.frame,
        srh::insert(&syn, &reference_srh(IPPROTO_TCP)).unwrap()
    );

    wait_until_expired(&client);
    assert_eq!(
        client.dns_addresses().unwrap(),
        vec![],
        "expired entries are not listed as live"
    );
    let out = client.test_run(ClientProgram::Egress, &syn).unwrap();
    assert_eq!(out.frame, syn, "an expired address is not steered");
    assert_eq!(client.dns_entries().unwrap(), vec![], "and is removed");
    assert_eq!(client.counters().unwrap().get(Counter::DnsExpired), 1);
}

#[test]
fn a_full_dns_table_stores_nothing_more_counts_nothing_learned_and_makes_room_from_expired_entries()
{
    let client = snooping_client(ClientOptions { dns_capacity: 1 });
    let answer = |a: &str, ttl| {
        dns_reply(
            &Dns::response("wb.hawk.net", Dns::OK, 1)
                .with_ttl(ttl)
                .answer_ptr(12, TYPE_AAAA, &addr(a).octets()),
        )
    };
    ask(&client);
    client
        .test_run(ClientProgram::IngressTc, &answer(SERVER, 1))
        .unwrap();
    ask(&client);
    client
        .test_run(ClientProgram::IngressTc, &answer("fcbb:cc00:2::b", 60))
        .unwrap();
    let counters = client.counters().unwrap();
    assert_eq!(
        counters.get(Counter::DnsLearned),
        1,
        "the update failed: not learned"
    );
    assert_eq!(counters.get(Counter::DnsIgnored), 1);
    assert_eq!(client.dns_addresses().unwrap(), vec![(addr(SERVER), 7)]);

    wait_until_expired(&client);
    ask(&client);
    client
        .test_run(ClientProgram::IngressTc, &answer("fcbb:cc00:2::b", 60))
        .unwrap();
    assert_eq!(
        client.dns_addresses().unwrap(),
        vec![(addr("fcbb:cc00:2::b"), 7)]
    );
    assert_eq!(client.counters().unwrap().get(Counter::DnsLearned), 2);
}

/// One packet of `data`'s flow arrives along the reference path: learned.
fn steer_once(server: &ServerDataplane, data: &[u8]) {
    let arrived = arrived_at_server(data, &reference_srh(IPPROTO_TCP));
    server.test_run(ServerProgram::IngressTc, &arrived).unwrap();
    assert!(server
        .flow(addr(CLIENT), CLIENT_PORT, Proto::Tcp)
        .unwrap()
        .is_some());
}

#[test]
fn a_plain_packet_of_a_learned_flow_withdraws_its_return_path() {
    // The client removed the flow's path (it may have failed): replies must
    // not keep using it.
    let server = server();
    let data = tcp(addr(CLIENT), addr(SERVER), CLIENT_PORT, 80, b"x");
    steer_once(&server, &data);
    let out = server.test_run(ServerProgram::IngressTc, &data).unwrap();
    assert_eq!(out.frame, data, "a plain packet passes untouched");
    assert_eq!(
        server.flow(addr(CLIENT), CLIENT_PORT, Proto::Tcp).unwrap(),
        None
    );
    let reply = tcp(addr(SERVER), addr(CLIENT), 80, CLIENT_PORT, b"y");
    let out = server.test_run(ServerProgram::Egress, &reply).unwrap();
    assert_eq!(
        (out.action, out.frame),
        (TC_ACT_OK, reply),
        "replies go plain"
    );
    assert_eq!(server.counters().unwrap().get(Counter::Withdrawn), 1);
    // The client steers the flow again: the server follows.
    steer_once(&server, &data);
}
