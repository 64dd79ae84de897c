//! Privileged tests of the capture ring (run as root): two fresh
//! namespaces joined by a veth pair (made with iproute2), named
//! `lcap<pid>-<n>`, removed by their guards even when a test panics.
#![allow(clippy::unwrap_used)]

use std::net::{Ipv6Addr, SocketAddr, UdpSocket};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use labns::netns;
use labns::{run_in, spawn_in, Capture, CaptureOptions, Frame, Wait};

const A: &str = "fd00:ca::a";
const B: &str = "fd00:ca::b";

/// `ip ARGS...`, panicking with its output when it fails.
fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Namespaces `a` and `b` joined by `a0` — `b0` (MTU 9000, distinct
/// ifindexes so the carrier comes up at once), addresses A and B.
struct Pair {
    a: netns::Scoped,
    b: netns::Scoped,
}

impl Pair {
    fn new() -> Pair {
        let a = netns::Scoped::create(&netns::unique_name("lcap")).unwrap();
        let b = netns::Scoped::create(&netns::unique_name("lcap")).unwrap();
        for ns in [a.name(), b.name()] {
            run_in(ns, || {
                netns::sysctl("net/ipv6/conf/all/accept_dad", "0").unwrap();
                netns::sysctl("net/ipv6/conf/default/accept_dad", "0").unwrap();
            })
            .unwrap();
        }
        ip(&[
            "-n",
            a.name(),
            "link",
            "add",
            "a0",
            "index",
            "20",
            "mtu",
            "9000",
            "type",
            "veth",
            "peer",
            "name",
            "b0",
            "index",
            "21",
            "mtu",
            "9000",
            "netns",
            b.name(),
        ]);
        for (ns, dev, addr) in [(a.name(), "a0", A), (b.name(), "b0", B)] {
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{addr}/64"),
                "dev",
                dev,
                "nodad",
            ]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        Wait::new("carrier on a0 and b0", Duration::from_secs(5))
            .until_true(|| {
                [(a.name(), "a0"), (b.name(), "b0")]
                    .iter()
                    .all(|(ns, dev)| {
                        let out = Command::new("ip")
                            .args(["-n", ns, "-o", "link", "show", dev])
                            .output()
                            .unwrap();
                        String::from_utf8_lossy(&out.stdout).contains("state UP")
                    })
            })
            .unwrap();
        Pair { a, b }
    }
}

fn open(ns: &str, dev: &'static str, opts: CaptureOptions) -> Capture {
    run_in(ns, move || Capture::open(dev, &opts))
        .unwrap()
        .unwrap()
}

fn now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap()
}

/// A UDP datagram of `len` payload bytes from `from` to `to` (port 9),
/// sent inside `ns`.
fn send(ns: &str, from: &str, to: &str, len: usize, count: usize) {
    let (from, to): (Ipv6Addr, Ipv6Addr) = (from.parse().unwrap(), to.parse().unwrap());
    run_in(ns, move || {
        let s = UdpSocket::bind(SocketAddr::from((from, 0))).unwrap();
        for _ in 0..count {
            s.send_to(&vec![7u8; len], SocketAddr::from((to, 9)))
                .unwrap();
        }
    })
    .unwrap();
}

/// IPv6 source and destination of an Ethernet frame carrying UDP.
fn udp_addrs(f: &Frame) -> Option<(Ipv6Addr, Ipv6Addr)> {
    let d = &f.data;
    if d.len() < 62 || d[12..14] != [0x86, 0xdd] || d[20] != 17 {
        return None;
    }
    let addr = |at: usize| Ipv6Addr::from(<[u8; 16]>::try_from(&d[at..at + 16]).unwrap());
    Some((addr(22), addr(38)))
}

/// Frames until `count` UDP frames were seen (or 5 s passed).
fn udp_frames(c: &mut Capture, count: usize) -> Vec<Frame> {
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while out.len() < count && std::time::Instant::now() < deadline {
        if let Some(f) = c.next(Duration::from_millis(100)).unwrap() {
            if udp_addrs(&f).is_some() {
                out.push(f);
            }
        }
    }
    out
}

#[test]
fn frames_carry_direction_wall_clock_time_and_their_wire_length_cut_to_the_snap_length() {
    let pair = Pair::new();
    let mut cap = open(pair.a.name(), "a0", CaptureOptions::default());
    let before = now();
    send(pair.a.name(), A, B, 4000, 1);
    send(pair.b.name(), B, A, 100, 1);
    let frames = udp_frames(&mut cap, 2);
    let after = now();
    assert_eq!(frames.len(), 2, "{frames:?}");
    let (a, b): (Ipv6Addr, Ipv6Addr) = (A.parse().unwrap(), B.parse().unwrap());
    let out = frames
        .iter()
        .find(|f| udp_addrs(f) == Some((a, b)))
        .unwrap();
    let back = frames
        .iter()
        .find(|f| udp_addrs(f) == Some((b, a)))
        .unwrap();
    assert!(out.outgoing, "sent by a0");
    assert!(!back.outgoing, "received by a0");
    // Ethernet 14 + IPv6 40 + UDP 8 + payload.
    assert_eq!(out.len, 14 + 40 + 8 + 4000);
    assert_eq!(out.data.len(), labns::capture::DEFAULT_SNAPLEN as usize);
    assert_eq!(back.len, 14 + 40 + 8 + 100);
    assert_eq!(back.data.len(), back.len as usize, "short frames are whole");
    for f in [out, back] {
        assert!(
            before <= f.ts && f.ts <= after,
            "CLOCK_REALTIME: {before:?} <= {:?} <= {after:?}",
            f.ts
        );
    }
    let stats = cap.stats().unwrap();
    assert_eq!(stats.drops, 0);
    assert!(stats.packets >= 2);
}

#[test]
fn a_full_ring_counts_what_it_drops() {
    let pair = Pair::new();
    // The smallest ring: one 64 KiB block of 1 KiB slots.
    let opts = CaptureOptions {
        snaplen: 512,
        ring_frames: 1,
    };
    let mut cap = open(pair.a.name(), "a0", opts);
    send(pair.a.name(), A, B, 200, 500);
    // Frames delivered to a socket are in the ring once send_to returned
    // (the tap runs on the sending thread): read them now.
    let delivered = cap.drain().len() as u64;
    let stats = cap.stats().unwrap();
    assert!(stats.drops > 0, "{stats:?}");
    assert!(delivered <= 64, "{delivered}");
    assert_eq!(delivered + stats.drops, stats.packets, "{stats:?}");
    // The counts add up over several reads (the kernel resets its own).
    send(pair.a.name(), A, B, 200, 10);
    let again = cap.stats().unwrap();
    assert!(again.packets >= stats.packets + 10 && again.drops >= stats.drops);
}

#[test]
fn only_the_named_interface_is_captured_and_the_capture_moves_between_threads() {
    let pair = Pair::new();
    let mut cap = open(pair.a.name(), "a0", CaptureOptions::default());
    // Loopback traffic in the same namespace never reaches a0's capture:
    // sent first, it would be in the ring before the datagram to B.
    send(pair.a.name(), "::1", "::1", 100, 3);
    send(pair.a.name(), A, B, 100, 1);
    let reader = std::thread::spawn(move || udp_frames(&mut cap, 1));
    let frames = reader.join().unwrap();
    let (a, b): (Ipv6Addr, Ipv6Addr) = (A.parse().unwrap(), B.parse().unwrap());
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(udp_addrs(&frames[0]), Some((a, b)));
}

#[test]
fn a_missing_interface_is_an_error_naming_it() {
    let pair = Pair::new();
    let err = spawn_in(pair.b.name(), || {
        Capture::open("nope0", &CaptureOptions::default()).map(|_| ())
    })
    .unwrap()
    .join()
    .unwrap()
    .unwrap_err();
    assert!(err.to_string().contains("nope0"), "{err}");
}
