//! The traffic engine on loopback (`::1`, in-process): integrity, echo,
//! concurrency, duration, corruption detected in either direction, UDP with
//! `IPV6_RECVRTHDR` — and, in a throwaway network namespace (root), a UDP
//! datagram that really arrives with a routing header is reported as such.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use labctl::scenario::{Amount, Proto};
use labctl::traffic::{
    run_client, ClientSpec, Hello, Pattern, Server, ServerSpec, Summary, CONTROL_LEN,
};

fn server(proto: Proto) -> Server {
    Server::start(&ServerSpec {
        proto,
        bind: "[::1]:0".parse().unwrap(),
    })
    .unwrap()
}

fn spec(proto: Proto, server: SocketAddr, amount: Amount) -> ClientSpec {
    ClientSpec {
        proto,
        server,
        amount,
        flows: 1,
        echo: false,
        seed: 42,
        datagram_size: 1200,
        rate_kbps: 200_000,
    }
}

#[test]
fn tcp_bulk_arrives_intact_and_progress_counts_it() {
    let srv = server(Proto::Tcp);
    let progress = AtomicU64::new(0);
    let report = run_client(
        &spec(Proto::Tcp, srv.local_addr(), Amount::Bytes(3_000_000)),
        Some(&progress),
    );
    let peers = srv.stop();
    let f = &report.flows[0];
    assert!(report.intact(), "{report:#?}");
    assert_eq!(
        (f.bytes_sent, f.bytes_verified, f.bytes_echoed),
        (3_000_000, 3_000_000, 0)
    );
    assert_eq!(progress.load(Ordering::Relaxed), 3_000_000);
    assert!(f.throughput_bps() > 0.0);
    assert_eq!(peers.len(), 1);
    assert_eq!((peers[0].verified, peers[0].first_bad), (3_000_000, None));
    assert_eq!(
        peers[0].peer, f.local,
        "the server saw the client's 5-tuple"
    );
}

#[test]
fn tcp_echo_is_checked_both_ways() {
    let srv = server(Proto::Tcp);
    let mut s = spec(Proto::Tcp, srv.local_addr(), Amount::Bytes(2_500_001));
    s.echo = true;
    let report = run_client(&s, None);
    srv.stop();
    let f = &report.flows[0];
    assert!(f.intact(), "{f:#?}");
    assert_eq!((f.bytes_verified, f.bytes_echoed), (2_500_001, 2_500_001));
}

#[test]
fn concurrent_flows_have_their_own_ports_and_seeds() {
    let srv = server(Proto::Tcp);
    let mut s = spec(Proto::Tcp, srv.local_addr(), Amount::Bytes(500_000));
    s.flows = 4;
    s.echo = true;
    let report = run_client(&s, None);
    let mut peers = srv.stop();
    assert!(report.intact(), "{report:#?}");
    let mut ports: Vec<u16> = report.flows.iter().map(|f| f.local.port()).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 4);
    peers.sort_by_key(|p| p.peer.port());
    assert_eq!(peers.len(), 4);
    assert!(peers
        .iter()
        .all(|p| p.verified == 500_000 && p.first_bad.is_none()));
}

#[test]
fn a_duration_flow_stops_on_time_and_is_verified() {
    let srv = server(Proto::Tcp);
    let report = run_client(
        &spec(
            Proto::Tcp,
            srv.local_addr(),
            Amount::Duration(Duration::from_millis(300)),
        ),
        None,
    );
    srv.stop();
    let f = &report.flows[0];
    assert!(f.intact(), "{f:#?}");
    assert!(f.bytes_sent > 0);
    assert!(f.elapsed >= Duration::from_millis(300) && f.elapsed < Duration::from_secs(20));
}

#[test]
fn a_corrupted_byte_is_found_by_the_server() {
    let srv = server(Proto::Tcp);
    let mut stream = TcpStream::connect(srv.local_addr()).unwrap();
    stream
        .write_all(
            &Hello {
                echo: false,
                seed: 9,
            }
            .to_bytes(),
        )
        .unwrap();
    let mut payload = vec![0u8; 10_000];
    Pattern::new(9).fill(0, &mut payload);
    payload[1234] ^= 0x40;
    stream.write_all(&payload).unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let summary = Summary::from_bytes(&answer).unwrap();
    assert_eq!(
        summary,
        Summary {
            verified: 1234,
            first_bad: Some(1234)
        }
    );
    let peers = srv.stop();
    assert_eq!(peers[0].first_bad, Some(1234));
}

#[test]
fn a_corrupted_echo_is_found_by_the_client() {
    // A broken echo server: flips one byte of what it sends back, then
    // claims everything arrived intact.
    let listener = TcpListener::bind("[::1]:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let broken = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut hello = [0u8; CONTROL_LEN];
        s.read_exact(&mut hello).unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        got[500] ^= 1;
        s.write_all(&got).unwrap();
        let len = got.len() as u64;
        s.write_all(
            &Summary {
                verified: len,
                first_bad: None,
            }
            .to_bytes(),
        )
        .unwrap();
    });
    let mut s = spec(Proto::Tcp, addr, Amount::Bytes(4096));
    s.echo = true;
    let report = run_client(&s, None);
    broken.join().unwrap();
    let f = &report.flows[0];
    assert!(!f.intact());
    assert_eq!(
        f.corrupt.as_deref(),
        Some("the echo came back with a wrong byte at offset 500")
    );
    assert_eq!((f.bytes_verified, f.bytes_echoed), (4096, 500));
}

#[test]
fn a_refused_connection_is_an_error_not_a_panic() {
    let closed = TcpListener::bind("[::1]:0").unwrap().local_addr().unwrap();
    let report = run_client(&spec(Proto::Tcp, closed, Amount::Bytes(10)), None);
    assert!(!report.intact());
    assert!(report.flows[0]
        .error
        .as_deref()
        .unwrap()
        .starts_with("connect:"));
}

#[test]
fn udp_echo_on_loopback_sees_no_routing_header() {
    let srv = server(Proto::Udp);
    let mut s = spec(Proto::Udp, srv.local_addr(), Amount::Bytes(240_000));
    s.echo = true;
    s.flows = 2;
    s.rate_kbps = 50_000;
    let report = run_client(&s, None);
    let peers = srv.stop();
    assert!(report.intact(), "{report:#?}");
    for f in &report.flows {
        assert_eq!(f.datagrams_sent, 200);
        assert_eq!(
            f.datagrams_received, 200,
            "loopback loses nothing at 50 Mbit/s"
        );
        assert_eq!(f.datagrams_echoed, 200);
        assert_eq!(f.bytes_verified, 240_000);
        assert_eq!(f.server_routing_header, Some(false));
    }
    assert_eq!(peers.len(), 2);
    assert!(peers
        .iter()
        .all(|p| p.routing_header == Some(false) && p.bad_datagrams == 0));
}

/// A datagram in the documented layout (traffic/udp.rs): magic, kind,
/// flags, reserved, seed, sequence number, payload.
fn datagram(kind: u8, seed: u64, seq: u64, payload: &[u8]) -> Vec<u8> {
    let mut d = b"S6UD".to_vec();
    d.extend_from_slice(&[kind, 0, 0, 0]);
    d.extend_from_slice(&seed.to_be_bytes());
    d.extend_from_slice(&seq.to_be_bytes());
    d.extend_from_slice(payload);
    d
}

#[test]
fn a_corrupted_datagram_is_counted_by_the_server() {
    let srv = server(Proto::Udp);
    let sock = UdpSocket::bind("[::1]:0").unwrap();
    sock.connect(srv.local_addr()).unwrap();
    let mut good = vec![0u8; 100];
    Pattern::new(5).fill(0, &mut good);
    sock.send(&datagram(1, 5, 0, &good)).unwrap();
    let mut bad = vec![0u8; 100];
    Pattern::new(5).fill(65_536, &mut bad);
    bad[3] ^= 0xff;
    sock.send(&datagram(1, 5, 1, &bad)).unwrap();
    // END; the summary comes back once both data datagrams were counted.
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    sock.send(&datagram(3, 5, 0, &[])).unwrap();
    let mut buf = [0u8; 256];
    let n = sock.recv(&mut buf).unwrap();
    assert_eq!(&buf[..4], b"S6UD");
    assert_eq!(buf[4], 4, "a summary");
    assert_eq!(n, 24 + 33);
    assert_eq!(
        u64::from_be_bytes(buf[24..32].try_into().unwrap()),
        2,
        "received"
    );
    assert_eq!(
        u64::from_be_bytes(buf[32..40].try_into().unwrap()),
        1,
        "bad"
    );
    let peers = srv.stop();
    assert_eq!(
        (
            peers[0].datagrams,
            peers[0].bad_datagrams,
            peers[0].first_bad
        ),
        (2, 1, Some(1))
    );
}

/// Runs `f` on a new thread inside a new, anonymous network namespace with
/// `lo` up and SRv6 processing enabled; the namespace ends with the thread.
fn in_fresh_netns<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        // Children inherit this thread's namespace.
        let up = std::process::Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .unwrap();
        assert!(up.success());
        for conf in ["all", "lo"] {
            std::fs::write(format!("/proc/sys/net/ipv6/conf/{conf}/seg6_enabled"), "1").unwrap();
        }
        f()
    })
    .join()
    .unwrap()
}

#[test]
fn udp_datagrams_with_a_routing_header_are_reported() {
    let (peers, report) = in_fresh_netns(|| {
        let srv = server(Proto::Udp);
        // A sender whose datagrams carry an SRH (segment 0 = ::1, SL 0), set
        // as a sticky IPV6_RTHDR option: the kernel delivers it to the
        // receiver with the routing header intact.
        let sock = UdpSocket::bind("[::1]:0").unwrap();
        let srh = srh::Srh {
            next_header: 17,
            segments_left: 0,
            last_entry: 0,
            flags: 0,
            tag: 0,
            segments: vec!["::1".parse().unwrap()],
            tlvs: Vec::new(),
        }
        .to_bytes();
        // SAFETY: a valid socket and a buffer of the length given.
        let rc = unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::IPPROTO_IPV6,
                libc::IPV6_RTHDR,
                srh.as_ptr().cast(),
                libc::socklen_t::try_from(srh.len()).unwrap(),
            )
        };
        assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
        sock.connect(srv.local_addr()).unwrap();
        let mut payload = vec![0u8; 64];
        Pattern::new(1).fill(0, &mut payload);
        sock.send(&datagram(1, 1, 0, &payload)).unwrap();
        // A plain client too: its datagrams arrive without one.
        let plain = run_client(
            &spec(Proto::Udp, srv.local_addr(), Amount::Bytes(12_000)),
            None,
        );
        (srv.stop(), plain)
    });
    let with_rh = peers
        .iter()
        .find(|p| p.routing_header == Some(true))
        .unwrap();
    assert_eq!((with_rh.datagrams, with_rh.bad_datagrams), (1, 0));
    assert!(report.intact(), "{report:#?}");
    assert_eq!(report.flows[0].server_routing_header, Some(false));
}
