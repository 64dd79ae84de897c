//! End to end in the kernel: client and server namespaces with a kernel
//! `seg6local End` router between them, the client and server programs
//! attached (TC egress + TC, native XDP or generic XDP ingress; offloads left
//! on, 1500-byte MTU), and a 10 MiB TCP transfer each way that must arrive
//! byte-identical, with the SRH checked on both of the router's links.
#![allow(clippy::unwrap_used)]
mod common;

use std::io::{Read, Write};
use std::net::{Ipv6Addr, SocketAddrV6, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use common::netns::{ip, three_node_lab, CLIENT, PORT, SERVER, SID};
use dataplane::srh;
use dataplane::{
    ClientDataplane, Counter, Counters, Handoff, IngressHook, Proto, ServerDataplane,
    ServerOptions, Trust,
};
use labns::{Capture, CaptureOptions, Frame};
use rand::{RngCore, SeedableRng};

const SIZE: usize = 10 * 1024 * 1024;
/// How long a capture waits for a frame before it looks at its stop flag.
const POLL: Duration = Duration::from_millis(100);

fn addr(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// What a capture on one router link saw of the test flow's packets.
#[derive(Debug, Default)]
struct LinkReport {
    /// (segments, segments_left, destination) of each SRv6 packet of the flow.
    srv6: Vec<(Vec<Ipv6Addr>, u8, Ipv6Addr)>,
    /// Packets of the flow without an SRH (must be none).
    plain: usize,
    /// SRv6 TCP packets the router sent on over 1400 bytes (IPv6 header +
    /// payload), and how many of them fill the 1500-byte MTU exactly.
    large: usize,
    full: usize,
}

fn capture(
    ns: String,
    ifname: &'static str,
    stop: Arc<AtomicBool>,
    ready: mpsc::Sender<()>,
) -> labns::NsThread<LinkReport> {
    labns::spawn_in(&ns, move || {
        let mut cap = Capture::open(ifname, &CaptureOptions::default()).unwrap();
        ready.send(()).unwrap();
        let mut report = LinkReport::default();
        while !stop.load(Ordering::Relaxed) {
            let Some(Frame { data: frame, .. }) = cap.next(POLL).unwrap() else {
                continue;
            };
            if frame.len() < 54 || frame[12..14] != [0x86, 0xdd] {
                continue;
            }
            // The snapshot holds the headers only: read the SRH's fixed part
            // in place (the codec would refuse a payload longer than it).
            let srh_next_and_sl =
                (frame[20] == 43 && frame.len() >= 58).then(|| (frame[54], frame[57]));
            if srh_next_and_sl == Some((6, 0)) {
                // SL 0: sent on by the router, which segments (gso_max_segs 1).
                let ipv6_len = 40 + usize::from(u16::from_be_bytes([frame[18], frame[19]]));
                if ipv6_len > 1400 {
                    report.large += 1;
                    report.full += usize::from(ipv6_len == 1500);
                }
            }
            let found = srh::find(&frame);
            match found {
                Ok(Some((srh, off)))
                    if report.srv6.len() < 2000
                        && srh.next_header == 6
                        && frame.len() >= off + srh.wire_len() + 4 =>
                {
                    let mut dst = [0u8; 16];
                    dst.copy_from_slice(&frame[38..54]);
                    report.srv6.push((
                        srh.segments.clone(),
                        srh.segments_left,
                        Ipv6Addr::from(dst),
                    ));
                }
                Ok(None) if frame[20] == 6 && frame.len() >= 58 => {
                    let sport = u16::from_be_bytes([frame[54], frame[55]]);
                    let dport = u16::from_be_bytes([frame[56], frame[57]]);
                    if sport == PORT || dport == PORT {
                        report.plain += 1;
                    }
                }
                _ => {}
            }
        }
        report
    })
    .unwrap()
}

fn data(seed: u64) -> Vec<u8> {
    let mut v = vec![0u8; SIZE];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut v);
    v
}

#[test]
fn ten_mib_each_way_through_a_kernel_end_router() {
    transfer_through_end_router(IngressHook::Tc);
}

#[test]
fn ten_mib_each_way_with_native_xdp_ingress() {
    transfer_through_end_router(IngressHook::XdpNative);
}

#[test]
fn ten_mib_each_way_with_generic_xdp_ingress() {
    transfer_through_end_router(IngressHook::XdpGeneric);
}

fn transfer_through_end_router(hook: IngressHook) {
    let lab = three_node_lab();
    // The router cuts every GSO packet into segments, as a link without
    // offloads would, so the capture shows the segment size the hosts chose.
    for dev in ["r0", "r1"] {
        ip(&lab.router, &format!("link set {dev} gso_max_segs 1"));
    }
    let stop = Arc::new(AtomicBool::new(false));

    // Server side: programs attached, then a listener that reads the upload
    // and answers with its own 10 MiB.
    let (server_ready, server_up) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let server_ns = lab.server.clone();
    let server = labns::spawn_in(&server_ns, move || {
        let mut dp = ServerDataplane::load(ServerOptions::new(Trust::Any)).unwrap();
        dp.add_local_address(addr(SERVER)).unwrap();
        dp.attach("s0", hook).unwrap();
        let listener = TcpListener::bind(SocketAddrV6::new(addr(SERVER), PORT, 0, 0)).unwrap();
        server_ready.send(()).unwrap();
        let (mut conn, peer) = listener.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut upload = Vec::with_capacity(SIZE);
        conn.read_to_end(&mut upload).unwrap();
        conn.write_all(&data(2)).unwrap();
        conn.shutdown(std::net::Shutdown::Write).unwrap();
        let flows = dp.flows().unwrap();
        let counters = dp.counters().unwrap();
        // Keep the programs attached until the client has read everything.
        done_rx.recv_timeout(Duration::from_secs(60)).unwrap();
        (upload, peer, flows, counters)
    })
    .unwrap();
    server_up.recv_timeout(Duration::from_secs(30)).unwrap();

    let (cap_ready, caps_up) = mpsc::channel();
    let from_client = capture(lab.router.clone(), "r0", stop.clone(), cap_ready.clone());
    let to_server = capture(lab.router.clone(), "r1", stop.clone(), cap_ready);
    caps_up.recv().unwrap();
    caps_up.recv().unwrap();

    let client_ns = lab.client.clone();
    let client = labns::spawn_in(&client_ns, move || -> (Vec<u8>, Counters, Counters) {
        let mut dp = ClientDataplane::load().unwrap();
        dp.add_local_address(addr(CLIENT)).unwrap();
        dp.set_path(addr(SERVER), PORT, Proto::Tcp, &[addr(SID)])
            .unwrap();
        // The server and the SID are both behind the router: no redirect.
        assert_eq!(dp.paths().unwrap()[0].handoff, Handoff::Stack);
        dp.attach("c0", hook).unwrap();
        let mut conn = TcpStream::connect(SocketAddrV6::new(addr(SERVER), PORT, 0, 0)).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let writer = {
            let mut w = conn.try_clone().unwrap();
            thread::spawn(move || {
                w.write_all(&data(1)).unwrap();
                w.shutdown(std::net::Shutdown::Write).unwrap();
            })
        };
        let before = dp.counters().unwrap();
        let mut download = Vec::with_capacity(SIZE);
        conn.read_to_end(&mut download).unwrap();
        writer.join().unwrap();
        (download, before, dp.counters().unwrap())
    })
    .unwrap();
    let (download, _, client_counters) = client.join().unwrap();
    done_tx.send(()).unwrap();
    let (upload, peer, flows, server_counters) = server.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    let from_client = from_client.join().unwrap();
    let to_server = to_server.join().unwrap();

    assert!(
        upload == data(1),
        "upload corrupted ({} bytes)",
        upload.len()
    );
    assert!(
        download == data(2),
        "download corrupted ({} bytes)",
        download.len()
    );

    // The server learned the reversed list for the client's port.
    let port = peer.port();
    let flow = flows
        .iter()
        .find(|f| f.port == port && f.peer == addr(CLIENT))
        .expect("flow learned");
    assert_eq!(flow.segments, vec![addr(CLIENT), addr(SID)]);
    for (who, c) in [("client", &client_counters), ("server", &server_counters)] {
        assert_eq!(c.get(Counter::TooBig), 0, "{who}: {c:?}");
        assert_eq!(c.get(Counter::Error), 0, "{who}: {c:?}");
        assert_eq!(c.get(Counter::Malformed), 0, "{who}: {c:?}");
        assert!(
            c.get(Counter::Encapsulated) > 0 && c.get(Counter::Decapsulated) > 0,
            "{who}: {c:?}"
        );
    }
    assert!(
        client_counters.get(Counter::MssClamped) >= 1,
        "{client_counters:?}"
    );

    // Router link from the client: requests in flight (SL 1, to the SID),
    // replies delivered (SL 0, to the client).
    let request = vec![addr(SERVER), addr(SID)];
    let reply = vec![addr(CLIENT), addr(SID)];
    // Full-size segments fill the MTU once the SRH is in: the SYN's MSS
    // clamp sized them, and the insert keeps their GSO size (no second
    // shrink by the SRH length).
    for (link, report) in [("r0", &from_client), ("r1", &to_server)] {
        assert!(
            report.large > 1000 && report.full * 10 >= report.large * 9,
            "{link}: {} of {} large segments fill the MTU",
            report.full,
            report.large
        );
    }
    for (link, report, towards_router, from_router) in [
        (
            "r0",
            &from_client,
            (request.clone(), 1, addr(SID)),
            (reply.clone(), 0, addr(CLIENT)),
        ),
        (
            "r1",
            &to_server,
            (reply.clone(), 1, addr(SID)),
            (request.clone(), 0, addr(SERVER)),
        ),
    ] {
        assert_eq!(
            report.plain, 0,
            "{link}: packets of the flow without an SRH"
        );
        assert!(
            report.srv6.contains(&towards_router),
            "{link}: no {towards_router:?} in {:?}",
            &report.srv6[..report.srv6.len().min(4)]
        );
        assert!(
            report.srv6.contains(&from_router),
            "{link}: no {from_router:?}"
        );
        // Every SRv6 packet of the flow carries one of the two lists, and its
        // SL and destination agree (SL 1: the SID; SL 0: the final host).
        // (A capture may show a request already advanced by End: AF_PACKET
        // shares the buffer the router then rewrites in place.)
        for (segments, sl, dst) in &report.srv6 {
            assert!(
                *segments == request || *segments == reply,
                "{link}: unexpected segments {segments:?}"
            );
            let expected_dst = if *sl == 1 { addr(SID) } else { segments[0] };
            assert!(
                *sl <= 1 && *dst == expected_dst,
                "{link}: SL {sl} with destination {dst}"
            );
        }
    }
}

/// `UDP_SEGMENT` (linux/udp.h; libc has it only for some targets).
const UDP_SEGMENT: libc::c_int = 103;
const GSO_SIZE: usize = 1200;
const SENDS: usize = 50;
const SEGMENTS_PER_SEND: usize = 10;

fn set_int_option(socket: &UdpSocket, level: libc::c_int, name: libc::c_int, value: libc::c_int) {
    // SAFETY: setting an int option on our own socket.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            &value as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as u32,
        )
    };
    assert_eq!(
        rc,
        0,
        "setsockopt {name}: {}",
        std::io::Error::last_os_error()
    );
}

/// The datagrams of a send: `SEGMENTS_PER_SEND` of `GSO_SIZE` bytes, each
/// starting with its send and segment number.
fn udp_payload(send: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(GSO_SIZE * SEGMENTS_PER_SEND);
    for segment in 0..SEGMENTS_PER_SEND {
        let mut datagram = vec![(send * 7 + segment) as u8; GSO_SIZE];
        datagram[..2].copy_from_slice(&[send as u8, segment as u8]);
        out.extend_from_slice(&datagram);
    }
    out
}

/// UDP GSO (how QUIC stacks send) through the insert and, as veth and the
/// router pass GSO packets on whole, through the strip too (an
/// SKB_GSO_UDP_L4 packet, as UDP GRO also builds): every datagram arrives
/// whole, none is dropped.
#[test]
fn udp_gso_datagrams_are_steered_stripped_and_arrive_whole() {
    let lab = three_node_lab();
    let (server_ready, server_up) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let server_ns = lab.server.clone();
    let server = labns::spawn_in(&server_ns, move || {
        let mut dp = ServerDataplane::load(ServerOptions::new(Trust::Any)).unwrap();
        dp.add_local_address(addr(SERVER)).unwrap();
        dp.attach("s0", IngressHook::Tc).unwrap();
        let socket = UdpSocket::bind(SocketAddrV6::new(addr(SERVER), PORT, 0, 0)).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        server_ready.send(()).unwrap();
        let mut received = Vec::new();
        let mut buf = vec![0u8; 65536];
        let want = SENDS * SEGMENTS_PER_SEND * GSO_SIZE;
        while received.len() < want {
            match socket.recv(&mut buf) {
                Ok(n) => received.extend_from_slice(&buf[..n]),
                Err(_) => break,
            }
        }
        let counters = dp.counters().unwrap();
        done_rx.recv_timeout(Duration::from_secs(30)).unwrap();
        (received, counters)
    })
    .unwrap();
    server_up.recv_timeout(Duration::from_secs(30)).unwrap();
    let client_ns = lab.client.clone();
    let client = labns::spawn_in(&client_ns, move || {
        let mut dp = ClientDataplane::load().unwrap();
        dp.add_local_address(addr(CLIENT)).unwrap();
        dp.set_path(addr(SERVER), PORT, Proto::Udp, &[addr(SID)])
            .unwrap();
        dp.attach("c0", IngressHook::Tc).unwrap();
        let socket = UdpSocket::bind(SocketAddrV6::new(addr(CLIENT), 0, 0, 0)).unwrap();
        socket
            .connect(SocketAddrV6::new(addr(SERVER), PORT, 0, 0))
            .unwrap();
        set_int_option(&socket, libc::SOL_UDP, UDP_SEGMENT, GSO_SIZE as libc::c_int);
        for send in 0..SENDS {
            socket.send(&udp_payload(send)).unwrap();
            // Pace the sends: the test is about loss in the programs, not in queues.
            thread::sleep(Duration::from_millis(2));
        }
        dp.counters().unwrap()
    })
    .unwrap();
    let client_counters = client.join().unwrap();
    done_tx.send(()).unwrap();
    let (received, server_counters) = server.join().unwrap();
    let sent: Vec<u8> = (0..SENDS).flat_map(udp_payload).collect();
    assert_eq!(
        received.len(),
        sent.len(),
        "bytes lost; client {client_counters:?}, server {server_counters:?}"
    );
    assert!(received == sent, "datagrams changed or reordered");
    for (who, c) in [("client", &client_counters), ("server", &server_counters)] {
        assert_eq!(c.get(Counter::Error), 0, "{who}: {c:?}");
        assert_eq!(c.get(Counter::TooBig), 0, "{who}: {c:?}");
    }
    assert!(client_counters.get(Counter::Encapsulated) >= SENDS as u64);
    assert!(server_counters.get(Counter::Decapsulated) > 0);
}

const ON_LINK_BYTES: usize = 1 << 20;

/// The server is on-link for the client, the path goes through a router on
/// the same bridge: the SYN must go to the router's MAC (the first SID's
/// neighbour), not to the server's (the final destination's), and the
/// server's replies likewise. Without that the server receives packets for
/// the SID and drops them, and the connection never opens.
#[test]
fn the_first_sid_is_reached_through_its_own_neighbour_when_the_server_is_on_link() {
    use common::netns::{bridge_lab, ON_LINK_CLIENT, ON_LINK_SERVER};
    let lab = bridge_lab();
    let (ready_tx, ready_rx) = mpsc::channel();
    let server = labns::spawn_in(&lab.server, move || {
        let mut dp = ServerDataplane::load(ServerOptions::new(Trust::Any)).unwrap();
        dp.add_local_address(addr(ON_LINK_SERVER)).unwrap();
        dp.attach("s0", IngressHook::Tc).unwrap();
        let listener =
            TcpListener::bind(SocketAddrV6::new(addr(ON_LINK_SERVER), PORT, 0, 0)).unwrap();
        listener.set_nonblocking(false).unwrap();
        ready_tx.send(()).unwrap();
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut upload = vec![0u8; ON_LINK_BYTES];
        conn.read_exact(&mut upload).unwrap();
        conn.write_all(&upload).unwrap();
        let flows = dp.flows().unwrap();
        // Keep the programs attached until the client has read the echo.
        let mut end = [0u8; 1];
        let _ = conn.read(&mut end);
        (upload, flows)
    })
    .unwrap();
    ready_rx.recv_timeout(Duration::from_secs(30)).unwrap();
    let client = labns::spawn_in(&lab.client, move || {
        let mut dp = ClientDataplane::load().unwrap();
        dp.add_local_address(addr(ON_LINK_CLIENT)).unwrap();
        dp.set_path(addr(ON_LINK_SERVER), PORT, Proto::Tcp, &[addr(SID)])
            .unwrap();
        // On-link server, SID behind the router: another neighbour.
        assert_eq!(dp.paths().unwrap()[0].handoff, Handoff::Neighbour);
        dp.attach("c0", IngressHook::Tc).unwrap();
        let to = SocketAddrV6::new(addr(ON_LINK_SERVER), PORT, 0, 0);
        let mut conn = TcpStream::connect_timeout(&to.into(), Duration::from_secs(5))
            .unwrap_or_else(|e| {
                panic!("no connection through the router: {e}; {:?}", dp.counters())
            });
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        conn.write_all(&data(3)[..ON_LINK_BYTES]).unwrap();
        let mut echo = vec![0u8; ON_LINK_BYTES];
        conn.read_exact(&mut echo).unwrap();
        conn.shutdown(std::net::Shutdown::Both).unwrap();
        echo
    })
    .unwrap();
    let echo = client.join().unwrap();
    let (upload, flows) = server.join().unwrap();
    assert!(upload == data(3)[..ON_LINK_BYTES], "upload corrupted");
    assert!(echo == upload, "echo corrupted");
    let flow = flows
        .iter()
        .find(|f| f.peer == addr(ON_LINK_CLIENT))
        .expect("flow learned");
    assert_eq!(flow.segments, vec![addr(ON_LINK_CLIENT), addr(SID)]);
}

/// SIDs of the live path changes: all `End` on the one router.
const SID2: &str = "fcbb:bb00:2::2";
const SID3: &str = "fcbb:bb00:3::2";
/// Each side writes this many chunks of one full segment (MSS 1440 less 12
/// bytes of timestamps), one every `CHUNK_PAUSE` with Nagle off: single
/// full-size segments, not GSO packets the kernel could re-cut, and a
/// transfer that outlasts the path changes.
const CHUNKS: usize = 1600;
const CHUNK: usize = 1428;
const CHUNK_PAUSE: Duration = Duration::from_millis(1);

/// Write `bytes` in chunks, paced, then half-close.
fn paced_writer(mut conn: TcpStream, bytes: Arc<Vec<u8>>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        conn.set_nodelay(true).unwrap();
        for chunk in bytes.chunks(CHUNK) {
            conn.write_all(chunk).unwrap();
            thread::sleep(CHUNK_PAUSE);
        }
        conn.shutdown(std::net::Shutdown::Write).unwrap();
    })
}

fn paced_data(seed: u64) -> Vec<u8> {
    let mut v = vec![0u8; CHUNKS * CHUNK];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut v);
    v
}

/// The route to the server, with an MTU when a path needs one.
fn route_to_server(ns: &str, mtu: Option<u32>) {
    let mtu = mtu.map(|m| format!(" mtu {m}")).unwrap_or_default();
    ip(
        ns,
        &format!("-6 route replace {SERVER}/128 via fc00:a::2 dev c0{mtu}"),
    );
}

/// A live TCP connection (both directions busy) through a path added,
/// lengthened, shortened and removed, the writer keeping the MTU duty:
/// lower the destination's route MTU before a path grows, raise it after
/// it shrinks. Every byte arrives and the connection survives.
#[test]
fn a_live_tcp_connection_survives_a_path_added_lengthened_shortened_and_removed() {
    let lab = three_node_lab();
    for sid in [SID2, SID3] {
        ip(
            &lab.router,
            &format!("-6 route add {sid}/128 encap seg6local action End dev r0"),
        );
    }
    // Made before the clock starts: the transfer must span the path changes.
    let (up, down) = (Arc::new(paced_data(1)), Arc::new(paced_data(2)));
    let (ready_tx, ready_rx) = mpsc::channel();
    let server_down = down.clone();
    let server = labns::spawn_in(&lab.server, move || {
        let mut dp = ServerDataplane::load(ServerOptions::new(Trust::Any)).unwrap();
        dp.add_local_address(addr(SERVER)).unwrap();
        dp.attach("s0", IngressHook::Tc).unwrap();
        let listener = TcpListener::bind(SocketAddrV6::new(addr(SERVER), PORT, 0, 0)).unwrap();
        ready_tx.send(()).unwrap();
        let (conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let writer = paced_writer(conn.try_clone().unwrap(), server_down);
        let mut upload = Vec::new();
        (&conn).read_to_end(&mut upload).unwrap();
        writer.join().unwrap();
        (upload, dp.counters().unwrap(), dp.flows().unwrap())
    })
    .unwrap();
    ready_rx.recv_timeout(Duration::from_secs(30)).unwrap();
    let client_ns = lab.client.clone();
    let client_up = up.clone();
    let client = labns::spawn_in(&lab.client, move || {
        let mut dp = ClientDataplane::load().unwrap();
        dp.add_local_address(addr(CLIENT)).unwrap();
        dp.attach("c0", IngressHook::Tc).unwrap();
        let conn = TcpStream::connect(SocketAddrV6::new(addr(SERVER), PORT, 0, 0)).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let writer = paced_writer(conn.try_clone().unwrap(), client_up);
        let reader = thread::spawn(move || {
            let mut download = Vec::new();
            (&conn).read_to_end(&mut download).map(|_| download)
        });
        let (one, three) = (vec![addr(SID)], vec![addr(SID), addr(SID2), addr(SID3)]);
        let phase = Duration::from_millis(350);
        thread::sleep(phase);
        // Add: the route MTU comes down first, then the path.
        route_to_server(&client_ns, Some(dp.route_mtu(&one).unwrap()));
        dp.set_path(addr(SERVER), PORT, Proto::Tcp, &one).unwrap();
        thread::sleep(phase);
        // Lengthen: lower again first.
        route_to_server(&client_ns, Some(dp.route_mtu(&three).unwrap()));
        dp.set_path(addr(SERVER), PORT, Proto::Tcp, &three).unwrap();
        thread::sleep(phase);
        // Shorten: the path first, then the MTU may rise.
        dp.set_path(addr(SERVER), PORT, Proto::Tcp, &one).unwrap();
        route_to_server(&client_ns, Some(dp.route_mtu(&one).unwrap()));
        thread::sleep(phase);
        // Remove: the path first, then the route's own MTU again.
        assert!(dp.remove_path(addr(SERVER), PORT, Proto::Tcp).unwrap());
        route_to_server(&client_ns, None);
        writer.join().unwrap();
        let download = reader.join().unwrap();
        (download, dp.counters().unwrap())
    })
    .unwrap();
    let (download, client_counters) = client.join().unwrap();
    let (upload, server_counters, flows) = server.join().unwrap();
    let download = download.unwrap_or_else(|e| {
        panic!("download broke: {e}; client {client_counters:?}, server {server_counters:?}")
    });
    assert!(upload == *up, "upload: {} bytes", upload.len());
    assert!(download == *down, "download: {} bytes", download.len());
    assert!(
        client_counters.get(Counter::Encapsulated) > 0
            && server_counters.get(Counter::Encapsulated) > 0,
        "the path was really used: client {client_counters:?}, server {server_counters:?}"
    );
    // The writer kept the duty: none of the client's segments outgrew a path.
    assert_eq!(
        client_counters.get(Counter::TooBig),
        0,
        "{client_counters:?}"
    );
    // The server learns each path from the client's packets and cannot
    // lower anything first: the first segments too big for a longer path
    // come back to its stack as Packet Too Big, and TCP re-cuts the rest.
    assert!(
        server_counters.get(Counter::TooBig) <= 32,
        "the server kept sending segments too big: {server_counters:?}"
    );
    // The client's plain packets withdrew the return path after the removal.
    assert!(flows.is_empty(), "{flows:?}");
    assert!(
        server_counters.get(Counter::Withdrawn) >= 1,
        "{server_counters:?}"
    );
}
