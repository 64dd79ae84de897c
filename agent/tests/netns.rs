//! As root, in namespaces: client — kernel `seg6local End` router — server,
//! plus a DNS namespace with the lab's DNS server; the `srv6-agent` binary
//! in client and server mode. Checked from `srv6-agent status --output json`,
//! the metrics endpoint, captures on both router links, the kernel's
//! attachment lists and the routing table.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Ipv6Addr, SocketAddrV6, TcpListener, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use agent::resolve::{HickoryLookup, Lookup, LookupOutcome};
use aya::programs::tc::{SchedClassifier, TcAttachType};
use common::netns::*;
use labns::{Capture, CaptureOptions, Frame};
use serde_json::Value;

const SIZE: usize = 20 * 1024 * 1024;
/// How long a capture waits for a frame before it looks at its stop flag.
const POLL: Duration = Duration::from_millis(100);
const UDP_PORT: u16 = 5002;
/// A second server address, for UDP (fc00:b::2 is the router's).
const SERVER_UDP: &str = "fc00:b::3";
/// A destination with a 16-SID path.
const LONG_PATH: &str = "fc00:b::4";

fn addr(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// Deterministic bytes (a different stream per seed).
fn data(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// webserver-b by name (TCP), a UDP sink over the same SID, and a 16-SID
/// path (no traffic: the lab's one router cannot chain `End`s, the kernel
/// finds no route to a local next SID) to show its route MTU.
fn standalone_config() -> String {
    let sixteen: Vec<String> = (1..=16).map(|i| format!("fcbb:bb00:{i:x}::2")).collect();
    format!(
        "services:
  webserver-b:
    domain_name: wb.hawk.net
    applications:
      - port: {PORT}
        sid: [{SID}]
  udp-sink:
    ipv6_addresses: [{SERVER_UDP}]
    applications:
      - port: {UDP_PORT}
        proto: udp
        sid: [{SID}]
  long-path:
    ipv6_addresses: [{LONG_PATH}]
    applications:
      - port: 9
        sid: [{}]
",
        sixteen.join(", ")
    )
}

/// The configuration in a temporary file, removed when dropped.
fn write_config(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new().suffix(".yaml").tempfile().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file
}

fn path_of(file: &tempfile::NamedTempFile) -> String {
    file.path().display().to_string()
}

fn path_entry<'v>(report: &'v Value, dst: &str, port: u16) -> Option<&'v Value> {
    report["paths"]
        .as_array()?
        .iter()
        .find(|p| p["destination"] == dst && p["port"] == port)
}

fn applied(report: &Value, dst: &str, port: u16, sids: usize, origin: &str) -> bool {
    path_entry(report, dst, port).is_some_and(|p| {
        p["applied"] == true
            && p["origin"] == origin
            && p["sids"].as_array().map(Vec::len) == Some(sids)
    })
}

/// Names of the TCX programs on `interface` (both directions) in `ns`.
fn tcx_programs(ns: &str, interface: &'static str) -> Vec<String> {
    in_ns(ns, move || {
        let mut names = Vec::new();
        for direction in [TcAttachType::Ingress, TcAttachType::Egress] {
            let (_, programs) = SchedClassifier::query_tcx(interface, direction).unwrap();
            names.extend(
                programs
                    .iter()
                    .map(|p| p.name_as_str().unwrap_or("?").to_owned()),
            );
        }
        names.sort();
        names
    })
}

fn agent_routes(ns: &str) -> String {
    let out = Command::new("ip")
        .args(["-n", ns, "-6", "route", "show", "proto", "246"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

/// What a capture on one router link saw: SRH (segments, SL, destination)
/// of the TCP test flow, its packets without an SRH, and (SL, last entry)
/// of UDP packets with an SRH.
#[derive(Debug, Default)]
struct LinkReport {
    tcp: Vec<(Vec<Ipv6Addr>, u8, Ipv6Addr)>,
    tcp_plain: usize,
    udp_srh: Vec<(u8, u8)>,
}

fn capture(
    ns: &str,
    ifname: &'static str,
    stop: Arc<AtomicBool>,
    ready: mpsc::Sender<()>,
) -> labns::NsThread<LinkReport> {
    labns::spawn_in(ns, move || {
        let mut cap = Capture::open(ifname, &CaptureOptions::default()).unwrap();
        ready.send(()).unwrap();
        let mut report = LinkReport::default();
        // Until stopped and the ring is drained: a busy machine's capture
        // lags behind the traffic, and the UDP datagrams come last.
        loop {
            let Some(Frame { data: frame, .. }) = cap.next(POLL).unwrap() else {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                continue;
            };
            if frame.len() < 62 || frame[12..14] != [0x86, 0xdd] {
                continue;
            }
            let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&frame[38..54]).unwrap());
            let srh_fixed = &frame[54..62];
            if frame[20] == 43 && srh_fixed[2] == 4 && srh_fixed[0] == 17 {
                report.udp_srh.push((srh_fixed[3], srh_fixed[4]));
                continue;
            }
            match agent_srh(&frame) {
                Some(entry) if report.tcp.len() < 4000 => report.tcp.push(entry),
                None if frame[20] == 6 => {
                    let sport = u16::from_be_bytes([frame[54], frame[55]]);
                    let dport = u16::from_be_bytes([frame[56], frame[57]]);
                    if sport == PORT || dport == PORT {
                        report.tcp_plain += 1;
                    }
                }
                _ => {}
            }
            let _ = dst;
        }
        report
    })
    .unwrap()
}

/// (segments, SL, destination) of a TCP packet with an SRH.
fn agent_srh(frame: &[u8]) -> Option<(Vec<Ipv6Addr>, u8, Ipv6Addr)> {
    let (srh, _) = srh::find(frame).ok()??;
    if srh.next_header != 6 {
        return None;
    }
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&frame[38..54]).ok()?);
    Some((srh.segments.clone(), srh.segments_left, dst))
}

/// The TCP exchange: the client sends `SIZE` bytes, the server answers
/// with its own `SIZE`; returns (upload as received, download as received,
/// the client's port).
fn tcp_exchange(lab: &AgentLab) -> (Vec<u8>, Vec<u8>, u16) {
    let (ready_tx, ready) = mpsc::channel();
    let server = labns::spawn_in(&lab.server, move || {
        let listener = TcpListener::bind(SocketAddrV6::new(addr(SERVER), PORT, 0, 0)).unwrap();
        ready_tx.send(()).unwrap();
        let (mut conn, peer) = listener.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut upload = Vec::with_capacity(SIZE);
        conn.read_to_end(&mut upload).unwrap();
        conn.write_all(&data(2, SIZE)).unwrap();
        conn.shutdown(std::net::Shutdown::Write).unwrap();
        (upload, peer.port())
    })
    .unwrap();
    ready.recv_timeout(Duration::from_secs(20)).unwrap();
    let client_ns = lab.client.clone();
    let download = in_ns(&client_ns, || {
        let to = SocketAddrV6::new(addr(SERVER), PORT, 0, 0).into();
        let mut conn = TcpStream::connect_timeout(&to, Duration::from_secs(10)).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut writer = conn.try_clone().unwrap();
        let sender = thread::spawn(move || {
            writer.write_all(&data(1, SIZE)).unwrap();
            writer.shutdown(std::net::Shutdown::Write).unwrap();
        });
        let mut download = Vec::with_capacity(SIZE);
        conn.read_to_end(&mut download).unwrap();
        sender.join().unwrap();
        download
    });
    let (upload, port) = server.join().unwrap();
    (upload, download, port)
}

/// Two datagrams to the UDP sink (1-SID path, route MTU 1460): one that
/// fits once the SRH is in (steered), one full-size 1500-byte packet (the
/// sender fragments it to the route MTU; fragments go unsteered); both
/// must arrive whole.
fn udp_datagrams(lab: &AgentLab) -> Vec<Vec<u8>> {
    let fits = 1460 - 40 - 8;
    let (ready_tx, ready) = mpsc::channel();
    let server = labns::spawn_in(&lab.server, move || {
        let sock = UdpSocket::bind(SocketAddrV6::new(addr(SERVER_UDP), UDP_PORT, 0, 0)).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        ready_tx.send(()).unwrap();
        let mut got = Vec::new();
        let mut buf = vec![0u8; 65536];
        // What arrives within the timeout (the test then says what is missing).
        while got.len() < 2 {
            match sock.recv_from(&mut buf) {
                Ok((n, _)) => got.push(buf[..n].to_vec()),
                Err(_) => break,
            }
        }
        got
    })
    .unwrap();
    ready.recv_timeout(Duration::from_secs(20)).unwrap();
    in_ns(&lab.client, move || {
        let sock = UdpSocket::bind("[::]:0").unwrap();
        let to = SocketAddrV6::new(addr(SERVER_UDP), UDP_PORT, 0, 0);
        sock.send_to(&data(3, fits), to).unwrap();
        sock.send_to(&data(4, 1452), to).unwrap();
    });
    server.join().unwrap()
}

fn scrape_metrics(ns: &str) -> String {
    in_ns(ns, || {
        let mut conn = TcpStream::connect("[::1]:9464").unwrap();
        conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut text = String::new();
        conn.read_to_string(&mut text).unwrap();
        text
    })
}

fn counter(report: &Value, name: &str) -> u64 {
    report["counters"][name].as_u64().unwrap_or(0)
}

#[test]
fn standalone_agents_steer_strip_snoop_and_leave_nothing_behind() {
    let lab = agent_lab();
    ip(
        &lab.server,
        &format!("addr add {SERVER_UDP}/64 dev s0 nodad"),
    );
    let _dns = dns_server(
        &lab.dns,
        DNS,
        BTreeMap::from([("wb.hawk.net".to_string(), addr(SERVER))]),
    );
    let config_file = write_config(&standalone_config());
    let config = path_of(&config_file);

    let mut server = AgentProcess::spawn(
        &lab.server,
        &[
            "server",
            "--interface",
            "s0",
            "--trusted-prefix",
            "fc00:a::/64",
        ],
    );
    server.wait_ready();
    let mut client = AgentProcess::spawn(
        &lab.client,
        &[
            "client",
            "--interface",
            "c0",
            "--config",
            &config,
            "--metrics",
            "[::1]:9464",
        ],
    );
    client.wait_ready();
    let report = wait_status(&lab.client, "c0", "both paths in the map", |r| {
        applied(r, SERVER, PORT, 1, "config")
            && applied(r, SERVER_UDP, UDP_PORT, 1, "config")
            && applied(r, LONG_PATH, 9, 16, "config")
    });
    assert_eq!(report["mode"], "client (standalone)");
    assert_eq!(report["source"], CLIENT);
    // DNS snooping believes the resolvers of the namespace's resolv.conf.
    assert_eq!(report["resolvers"], serde_json::json!([DNS]));
    assert_eq!(report["route_mtus"][SERVER], 1460);
    assert_eq!(report["dns"][0]["addresses"], serde_json::json!([SERVER]));
    // (The kernel keeps 15 characters of a program's name.)
    assert_eq!(
        tcx_programs(&lab.client, "c0"),
        ["client_egress", "client_ingress_"]
    );
    assert_eq!(
        tcx_programs(&lab.server, "s0"),
        ["server_egress", "server_ingress_"]
    );

    // One agent per interface: the second says who runs.
    let second = agent_in(
        &lab.client,
        &["client", "--interface", "c0", "--config", &config],
        Stdio::null(),
        Stdio::piped(),
    )
    .child
    .wait_with_output()
    .unwrap();
    assert_eq!(second.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains(&format!("already runs on c0 (pid {},", client.child.id())),
        "{stderr}"
    );

    // The MTU duty: each destination's route leaves room for its SRH.
    let routes = agent_routes(&lab.client);
    let lines: Vec<&str> = routes.lines().map(str::trim).collect();
    for (dst, mtu) in [(SERVER, 1460), (SERVER_UDP, 1460), (LONG_PATH, 1220)] {
        let line = format!("{dst} via fc00:a::2 dev c0 metric 1024 mtu {mtu} pref medium");
        assert!(lines.contains(&line.as_str()), "no {line:?} in {routes}");
    }

    // The application's own lookup (a query seen leaving to a configured
    // resolver, its reply) is snooped by the client's ingress program.
    let answer = in_ns(&lab.client, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let lookup =
                HickoryLookup::with_servers(&[format!("[{DNS}]:53").parse().unwrap()]).unwrap();
            lookup.aaaa("wb.hawk.net").await
        })
    });
    assert!(
        matches!(answer, LookupOutcome::Found { ref addresses, .. } if addresses.contains(&addr(SERVER))),
        "{answer:?}"
    );
    let report = wait_status(&lab.client, "c0", "the snooped address", |r| {
        r["dns_learned"].as_array().is_some_and(|l| {
            l.iter()
                .any(|e| e["address"] == SERVER && e["service_id"] == 1)
        })
    });
    // Every reply answered a query seen leaving to a believed resolver:
    // the agent's own lookups too (its resolvers were set before any).
    assert_eq!(
        counter(&report, "dns_unsolicited"),
        0,
        "{}",
        report["counters"]
    );

    // resolv.conf rewritten: the dataplane believes the new resolvers.
    std::fs::write(
        &lab.resolv_conf,
        format!("nameserver fc00:d::9\nnameserver {DNS}\n"),
    )
    .unwrap();
    wait_status(&lab.client, "c0", "resolv.conf's new resolvers", |r| {
        r["resolvers"] == serde_json::json!([DNS, "fc00:d::9"])
    });

    let stop = Arc::new(AtomicBool::new(false));
    let (cap_ready, caps_up) = mpsc::channel();
    let from_client = capture(&lab.router, "r0", stop.clone(), cap_ready.clone());
    let to_server = capture(&lab.router, "r1", stop.clone(), cap_ready);
    caps_up.recv().unwrap();
    caps_up.recv().unwrap();
    let (upload, download, client_port) = tcp_exchange(&lab);
    let datagrams = udp_datagrams(&lab);
    stop.store(true, Ordering::Relaxed);
    let (from_client, to_server) = (from_client.join().unwrap(), to_server.join().unwrap());

    assert!(
        upload == data(1, SIZE),
        "upload corrupted ({} bytes)",
        upload.len()
    );
    assert!(
        download == data(2, SIZE),
        "download corrupted ({} bytes)",
        download.len()
    );
    check_captures(&from_client, &to_server);
    let lengths: Vec<usize> = datagrams.iter().map(Vec::len).collect();
    assert!(
        datagrams.contains(&data(3, 1460 - 48)),
        "the datagram that fits: {lengths:?}"
    );
    assert!(
        datagrams.contains(&data(4, 1452)),
        "the full-size datagram: {lengths:?}"
    );

    // What the agents report.
    let client_report = status(&lab.client, "c0").unwrap();
    for name in ["encapsulated", "decapsulated", "fragment"] {
        assert!(
            counter(&client_report, name) > 0,
            "{name}: {}",
            client_report["counters"]
        );
    }
    // The route MTU already sized the SYN's MSS for the SRH (no clamp
    // needed), and nothing was too big to send.
    for name in ["mss_clamped", "too_big", "error", "malformed"] {
        assert_eq!(
            counter(&client_report, name),
            0,
            "{name}: {}",
            client_report["counters"]
        );
    }
    let server_report = status(&lab.server, "s0").unwrap();
    let flow = server_report["flows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["peer"] == CLIENT && f["port"] == client_port && f["proto"] == 6)
        .unwrap_or_else(|| panic!("no learned flow: {server_report}"));
    assert_eq!(flow["segments"], serde_json::json!([CLIENT, SID]));
    assert_eq!(server_report["trust"], "fc00:a::/64");
    // An address added to an interface is the dataplane's within a poll
    // (added after the traffic: the client's stack would pick the newer
    // one as the flow's source).
    ip(&lab.client, "addr add fc00:a::5/64 dev c0 nodad");
    ip(&lab.server, "addr add fc00:b::6/64 dev s0 nodad");
    for (ns, ifname) in [(&lab.client, "c0"), (&lab.server, "s0")] {
        wait_status(ns, ifname, "the new local address", |r| {
            r["local_addresses"]
                .as_array()
                .is_some_and(|l| l.iter().any(|a| a == "fc00:a::5" || a == "fc00:b::6"))
        });
    }

    let metrics = scrape_metrics(&lab.client);
    assert!(
        metrics.contains("srv6_agent_paths{origin=\"config\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("srv6_agent_dataplane_packets_total{decision=\"encapsulated\"}"),
        "{metrics}"
    );
    let table = agent_in(&lab.client, &["status"], Stdio::piped(), Stdio::null())
        .child
        .wait_with_output()
        .unwrap();
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.contains("webserver-b") && table.contains("wb.hawk.net"),
        "{table}"
    );

    // SIGTERM: nothing attached, no routes, no socket, no lock.
    for (agent, ns, ifname) in [
        (&mut client, &lab.client, "c0"),
        (&mut server, &lab.server, "s0"),
    ] {
        let exit = agent.terminate();
        assert!(exit.success(), "{ifname}: {exit}\n{}", agent.logs());
        assert_eq!(tcx_programs(ns, ifname), Vec::<String>::new());
        let base = format!("/run/srv6-agent/{ifname}@{}", netns_inode(ns));
        for suffix in ["sock", "lock"] {
            assert!(
                !std::path::Path::new(&format!("{base}.{suffix}")).exists(),
                "{base}.{suffix} left"
            );
        }
    }
    assert_eq!(agent_routes(&lab.client), "");
}

fn check_captures(from_client: &LinkReport, to_server: &LinkReport) {
    let request = vec![addr(SERVER), addr(SID)];
    let reply = vec![addr(CLIENT), addr(SID)];
    for (link, report, towards_router, from_router) in [
        (
            "r0",
            from_client,
            (request.clone(), 1, addr(SID)),
            (reply.clone(), 0, addr(CLIENT)),
        ),
        (
            "r1",
            to_server,
            (reply.clone(), 1, addr(SID)),
            (request.clone(), 0, addr(SERVER)),
        ),
    ] {
        assert_eq!(
            report.tcp_plain, 0,
            "{link}: packets of the flow without an SRH"
        );
        assert!(
            report.tcp.contains(&towards_router),
            "{link}: no {towards_router:?}"
        );
        assert!(
            report.tcp.contains(&from_router),
            "{link}: no {from_router:?}"
        );
    }
    // The UDP datagram that fits: steered (SL 1 towards the router, 0 after End).
    assert_eq!(from_client.udp_srh, [(1, 1)], "r0");
    assert_eq!(to_server.udp_srh, [(0, 1)], "r1");
}

#[test]
fn controller_mode_binary_gets_its_path_from_the_controller() {
    let lab = agent_lab();
    let _dns = dns_server(
        &lab.dns,
        DNS,
        BTreeMap::from([("wb.hawk.net".to_string(), addr(SERVER))]),
    );
    let table = format!("paths:\n  - destination: {SERVER}\n    intents: [{{intent: high-bandwidth}}]\n    sids: [{SID}]\n");
    let _controller = NsTask::spawn(&lab.dns, move |ready| async move {
        let source = mock_controller::Source::Static(
            mock_controller::static_table::StaticTable::parse(&table, "t.yaml").unwrap(),
        );
        let bound = mock_controller::bind(mock_controller::Config {
            listen: format!("[{DNS}]:5001").parse().unwrap(),
            admin: None,
            source,
            options: mock_controller::Options::default(),
            connections: Default::default(),
        })
        .await
        .unwrap();
        ready.send(()).unwrap();
        bound.serve(std::future::pending()).await.unwrap();
    });
    let config_file = write_config(
        &format!(
            "hawkeye: {{enabled: true, address: \"{DNS}\", port: 5001}}\nservices:\n  webserver-b:\n    domain_name: wb.hawk.net\n    applications:\n      - port: {PORT}\n        intents:\n          - intent: high-bandwidth\n"
        ),
    );
    let config = path_of(&config_file);
    let mut server =
        AgentProcess::spawn(&lab.server, &["server", "--interface", "s0", "--trust-any"]);
    server.wait_ready();
    let mut client = AgentProcess::spawn(
        &lab.client,
        &["client", "--interface", "c0", "--config", &config],
    );
    client.wait_ready();
    let report = wait_status(&lab.client, "c0", "the controller's path", |r| {
        applied(r, SERVER, PORT, 1, "controller")
    });
    assert_eq!(report["mode"], "client (controller)");
    assert_eq!(report["controller"]["state"], "connected");
    assert_eq!(report["controller"]["url"], format!("http://[{DNS}]:5001"));
    assert_eq!(
        path_entry(&report, SERVER, PORT).unwrap()["sids"],
        serde_json::json!([SID])
    );
    let (upload, download, client_port) = tcp_exchange(&lab);
    assert!(
        upload == data(1, SIZE) && download == data(2, SIZE),
        "transfer corrupted"
    );
    let server_report = status(&lab.server, "s0").unwrap();
    assert!(
        server_report["flows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["port"] == client_port && f["segments"] == serde_json::json!([CLIENT, SID])),
        "{server_report}"
    );
    assert_eq!(server_report["trust"], "any source (--trust-any)");
    for agent in [&mut client, &mut server] {
        let exit = agent.terminate();
        assert!(exit.success(), "{exit}\n{}", agent.logs());
    }
}

/// The handoff of a path follows the routes: written while the SID and the
/// destination share the default gateway (`stack`), the path's packets are
/// handed to the SID's neighbour once the SID is routed through another
/// gateway, and keep the stack's again when that route goes; the agent's
/// own route MTUs (protocol 246) change nothing.
#[test]
fn a_paths_handoff_follows_route_changes() {
    let lab = agent_lab();
    let config_file = write_config(&format!(
        "services:\n  web:\n    ipv6_addresses: [{SERVER}]\n    applications:\n      - port: {PORT}\n        sid: [{SID}]\n"
    ));
    let config = path_of(&config_file);
    let mut client = AgentProcess::spawn(
        &lab.client,
        &["client", "--interface", "c0", "--config", &config],
    );
    client.wait_ready();
    let handoff = |want: &'static str| {
        move |r: &Value| {
            applied(r, SERVER, PORT, 1, "config")
                && path_entry(r, SERVER, PORT).is_some_and(|p| p["handoff"] == want)
        }
    };
    wait_status(&lab.client, "c0", "the stack's neighbour", handoff("stack"));
    ip(
        &lab.client,
        &format!("-6 route add {SID}/128 via fc00:a::3 dev c0"),
    );
    wait_status(
        &lab.client,
        "c0",
        "the SID's neighbour after its route changed",
        handoff("neighbour"),
    );
    ip(
        &lab.client,
        &format!("-6 route del {SID}/128 via fc00:a::3 dev c0"),
    );
    wait_status(
        &lab.client,
        "c0",
        "the stack's neighbour after the route went",
        handoff("stack"),
    );
    assert!(
        client.logs().contains("paths' handoffs chosen again"),
        "{}",
        client.logs()
    );
    let exit = client.terminate();
    assert!(exit.success(), "{exit}\n{}", client.logs());
}
