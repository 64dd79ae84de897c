//! Throughput and per-packet cost on real traffic over client — kernel End
//! router — server (veth, MTU 1500, offloads on), in one run, modes
//! interleaved round by round (plain, seg6, no-op, ours TC, ours XDP, plain,
//! ...), a fresh lab for every measurement:
//!
//! - one-flow TCP (iperf3, `TCP_SECONDS` per measurement), Gbit/s;
//! - 64-byte IPv6/UDP packets (16-byte payload) blasted by a Rust sender with
//!   `sendmmsg`, counted by a Rust receiver, `UDP_SECONDS` per measurement:
//!   sender and receiver are pinned to one CPU, and veth hands each packet's
//!   softirq work (both hosts' programs, the router's forwarding) to the CPU
//!   that sent it, so packets per second delivered is the rate of one core;
//! - with BPF run statistics enabled (`BPF_ENABLE_STATS`, the fd form of
//!   `kernel.bpf_stats_enabled=1`: undone when the fd closes, even on a
//!   crash), each attached program's `run_time_ns / run_cnt` during each
//!   measurement, next to a no-op TC program attached at the same four hooks.
//!
//! Modes: plain IPv6; the kernel's `seg6` inline route encapsulation of the
//! same SID; the no-op TC program (plain forwarding plus the cost of running
//! a program); ours with TC insert + TC strip (`Handoff::Auto`: in this lab
//! the server and the SID are both behind the router, so packets keep the
//! stack's neighbour); the same with every encapsulated packet redirected to
//! the first SID's neighbour (`Handoff::Neighbour`, what every packet did
//! before the handoff was chosen per path: a redirected packet runs the
//! egress program twice, so its per-run cost is the mean of both passes);
//! ours with TC insert + generic XDP strip. Prints what it runs, every
//! round, then medians and the ratios of medians.
//!
//! THROUGHPUT_ROUNDS (default 3) and THROUGHPUT_MODES (indices into `MODES`,
//! comma-separated; default all) narrow a run. Needs root and iperf3 (`make
//! deps`). `cargo bench -p dataplane --bench throughput`.
#![allow(clippy::unwrap_used)]
#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::net::{Ipv6Addr, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use aya::sys::{enable_stats, Stats};
use common::netns::{ip, sysctl, three_node_lab, Lab, CLIENT, SERVER, SID};
use dataplane::{
    ClientDataplane, Handoff, IngressHook, NoopPrograms, ProgramStats, Proto, ServerDataplane,
    ServerOptions, TcAttachType, Trust,
};

const IPERF_PORT: u16 = 5201;
const UDP_PORT: u16 = 5301;
const TCP_SECONDS: u64 = 4;
const UDP_SECONDS: f64 = 2.0;
/// The warm-up before a UDP measurement window opens.
const UDP_WARMUP: Duration = Duration::from_millis(300);
/// 64-byte IPv6 packets: 40 (IPv6) + 8 (UDP) + 16 (payload).
const UDP_PAYLOAD: usize = 16;
/// Datagrams per sendmmsg/recvmmsg call.
const BATCH: usize = 64;
/// The CPU the whole small-packet path runs on.
const UDP_CPU: usize = 0;
/// Receive buffer of the counting socket (SO_RCVBUFFORCE): bursts must not
/// overflow it while the receiver waits for the CPU it shares with the sender.
const UDP_RCVBUF: libc::c_int = 32 << 20;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Plain,
    KernelSeg6,
    NoopTc,
    Ours { hook: IngressHook, handoff: Handoff },
}

const fn ours(hook: IngressHook, handoff: Handoff) -> Mode {
    Mode::Ours { hook, handoff }
}

const MODES: [(&str, Mode); 6] = [
    ("plain IPv6", Mode::Plain),
    ("kernel seg6 inline encap", Mode::KernelSeg6),
    ("no-op TC programs (baseline)", Mode::NoopTc),
    (
        "ours: TC insert + TC strip",
        ours(IngressHook::Tc, Handoff::Auto),
    ),
    (
        "ours: TC + TC, every packet redirected",
        ours(IngressHook::Tc, Handoff::Neighbour),
    ),
    (
        "ours: TC insert + generic XDP strip",
        ours(IngressHook::XdpGeneric, Handoff::Auto),
    ),
];

/// Rounds: THROUGHPUT_ROUNDS, else 3.
fn rounds() -> usize {
    std::env::var("THROUGHPUT_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

/// The modes to run: THROUGHPUT_MODES (indices into MODES, comma-separated), else all.
fn selected_modes() -> Vec<(&'static str, Mode)> {
    match std::env::var("THROUGHPUT_MODES") {
        Ok(list) => list
            .split(',')
            .map(|i| {
                let index = i.trim().parse::<usize>().ok().filter(|&n| n < MODES.len());
                MODES[index.unwrap_or_else(|| {
                    panic!(
                        "THROUGHPUT_MODES: {i:?} is not a mode index (0..{})",
                        MODES.len()
                    )
                })]
            })
            .collect(),
        Err(_) => MODES.to_vec(),
    }
}

fn addr(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// A request to a thread that owns attached programs inside a namespace.
enum Request {
    Stats(mpsc::Sender<Vec<ProgramStats>>),
    Stop,
}

/// Programs attached by threads inside the namespaces; detached when dropped.
struct Attached {
    owners: Vec<(mpsc::Sender<Request>, labns::NsThread<()>)>,
}

impl Attached {
    /// Run statistics of every attached program, keyed by "side/program".
    fn stats(&self) -> BTreeMap<String, ProgramStats> {
        let mut out = BTreeMap::new();
        for (side, (requests, _)) in ["client", "server"].iter().zip(&self.owners) {
            let (tx, rx) = mpsc::channel();
            requests.send(Request::Stats(tx)).unwrap();
            for s in rx.recv().unwrap() {
                out.insert(format!("{side}/{}", s.program), s);
            }
        }
        out
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        for (requests, _) in &self.owners {
            let _ = requests.send(Request::Stop);
        }
        for (_, owner) in self.owners.drain(..) {
            let _ = owner.join();
        }
    }
}

/// Run `setup` on a new thread inside `ns`, then answer stats requests
/// until stopped (the programs stay attached meanwhile).
fn own_in_namespace<T: 'static>(
    ns: String,
    setup: impl FnOnce() -> T + Send + 'static,
    stats: impl Fn(&T) -> Vec<ProgramStats> + Send + 'static,
) -> (mpsc::Sender<Request>, labns::NsThread<()>) {
    let (tx, rx) = mpsc::channel();
    let (ready_tx, ready_rx) = mpsc::channel();
    let owner = labns::spawn_in(&ns, move || {
        let programs = setup();
        ready_tx.send(()).unwrap();
        while let Ok(Request::Stats(reply)) = rx.recv() {
            let _ = reply.send(stats(&programs));
        }
    })
    .unwrap();
    ready_rx.recv().unwrap();
    (tx, owner)
}

fn attach_ours(lab: &Lab, hook: IngressHook, handoff: Handoff) -> Attached {
    let client = own_in_namespace(
        lab.client.clone(),
        move || {
            let mut dp = ClientDataplane::load().unwrap();
            dp.add_local_address(addr(CLIENT)).unwrap();
            for (port, proto) in [(IPERF_PORT, Proto::Tcp), (UDP_PORT, Proto::Udp)] {
                dp.set_path_with(addr(SERVER), port, proto, &[addr(SID)], handoff)
                    .unwrap();
            }
            let paths = dp.paths().unwrap();
            assert!(
                paths.iter().all(|p| p.handoff != Handoff::Auto),
                "{paths:?}"
            );
            dp.attach("c0", hook).unwrap();
            dp
        },
        |dp| dp.program_stats().unwrap(),
    );
    let server = own_in_namespace(
        lab.server.clone(),
        move || {
            let mut dp = ServerDataplane::load(ServerOptions {
                handoff,
                ..ServerOptions::new(Trust::Any)
            })
            .unwrap();
            dp.add_local_address(addr(SERVER)).unwrap();
            dp.attach("s0", hook).unwrap();
            dp
        },
        |dp| dp.program_stats().unwrap(),
    );
    Attached {
        owners: vec![client, server],
    }
}

/// The no-op TC program at the four hooks ours uses (both directions, both hosts).
fn attach_noop(lab: &Lab) -> Attached {
    let owners = [(lab.client.clone(), "c0"), (lab.server.clone(), "s0")]
        .into_iter()
        .map(|(ns, dev)| {
            own_in_namespace(
                ns,
                move || {
                    let mut noop = NoopPrograms::load().unwrap();
                    noop.attach_tc(dev, TcAttachType::Egress).unwrap();
                    noop.attach_tc(dev, TcAttachType::Ingress).unwrap();
                    noop
                },
                |noop| vec![noop.tc_stats().unwrap()],
            )
        })
        .collect();
    Attached { owners }
}

fn wait_listening(lab: &Lab, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = Command::new("ip")
            .args(["netns", "exec", &lab.server, "ss", "-Hltn"])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&out.stdout).contains(&format!(":{port}")) {
            return;
        }
        assert!(Instant::now() < deadline, "iperf3 server did not start");
        thread::sleep(Duration::from_millis(20));
    }
}

/// One iperf3 TCP run from client to server: bits per second received.
fn iperf(lab: &Lab) -> f64 {
    let port = IPERF_PORT.to_string();
    let mut server = Command::new("ip")
        .args(["netns", "exec", &lab.server, "iperf3", "-s", "-1", "-B"])
        .args([SERVER, "-p", &port])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("iperf3 (run `make deps`)");
    wait_listening(lab, IPERF_PORT);
    let out = Command::new("ip")
        .args(["netns", "exec", &lab.client, "iperf3", "-c", SERVER, "-p"])
        .args([&port, "-t", &TCP_SECONDS.to_string(), "-J"])
        .output()
        .unwrap();
    let _ = server.wait();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "iperf3 output: {e}: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    json["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap_or_else(|| panic!("no result in {json}"))
}

/// Pin the calling thread to `cpu`.
fn pin_to(cpu: usize) {
    // SAFETY: cpu_set_t is plain data; CPU_SET writes inside it; pid 0 is this thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        let rc = libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        assert_eq!(
            rc,
            0,
            "sched_setaffinity: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Send 64-byte packets to the server as fast as `sendmmsg` goes until `stop`.
fn udp_sender(ns: String, stop: Arc<AtomicBool>) -> labns::NsThread<()> {
    labns::spawn_in(&ns, move || {
        pin_to(UDP_CPU);
        let socket = UdpSocket::bind(SocketAddrV6::new(addr(CLIENT), 0, 0, 0)).unwrap();
        socket
            .connect(SocketAddrV6::new(addr(SERVER), UDP_PORT, 0, 0))
            .unwrap();
        let payload = [0x5au8; UDP_PAYLOAD];
        let mut iov = [libc::iovec {
            iov_base: payload.as_ptr() as *mut libc::c_void,
            iov_len: payload.len(),
        }];
        // SAFETY: mmsghdr is plain data; all-zero is a valid (empty) value.
        let mut msgs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        for m in &mut msgs {
            m.msg_hdr.msg_iov = iov.as_mut_ptr();
            m.msg_hdr.msg_iovlen = 1;
        }
        while !stop.load(Ordering::Relaxed) {
            // SAFETY: BATCH headers, each pointing at the live one-entry iovec.
            unsafe { libc::sendmmsg(socket.as_raw_fd(), msgs.as_mut_ptr(), BATCH as u32, 0) };
        }
    })
    .unwrap()
}

/// Count datagrams arriving at the server's UDP port until `stop`.
fn udp_receiver(
    ns: String,
    received: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> labns::NsThread<()> {
    let (ready_tx, ready_rx) = mpsc::channel();
    let receiver = labns::spawn_in(&ns, move || {
        pin_to(UDP_CPU);
        let socket = UdpSocket::bind(SocketAddrV6::new(addr(SERVER), UDP_PORT, 0, 0)).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        // SAFETY: setting an int option on our own socket.
        let rc = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                &UDP_RCVBUF as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as u32,
            )
        };
        assert_eq!(rc, 0, "SO_RCVBUFFORCE: {}", std::io::Error::last_os_error());
        ready_tx.send(()).unwrap();
        let mut bufs = [[0u8; 64]; BATCH];
        let mut iovs: Vec<libc::iovec> = bufs
            .iter_mut()
            .map(|b| libc::iovec {
                iov_base: b.as_mut_ptr() as *mut libc::c_void,
                iov_len: b.len(),
            })
            .collect();
        // SAFETY: mmsghdr is plain data; all-zero is a valid (empty) value.
        let mut msgs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        for (m, iov) in msgs.iter_mut().zip(iovs.iter_mut()) {
            m.msg_hdr.msg_iov = iov;
            m.msg_hdr.msg_iovlen = 1;
        }
        while !stop.load(Ordering::Relaxed) {
            // SAFETY: BATCH headers, each pointing at its own live buffer.
            let n = unsafe {
                libc::recvmmsg(
                    socket.as_raw_fd(),
                    msgs.as_mut_ptr(),
                    BATCH as u32,
                    libc::MSG_WAITFORONE,
                    std::ptr::null_mut(),
                )
            };
            if n > 0 {
                received.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
    })
    .unwrap();
    ready_rx.recv().unwrap();
    receiver
}

/// Packets per second delivered, all work on one CPU.
fn udp_blast(lab: &Lab) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let received = Arc::new(AtomicU64::new(0));
    let receiver = udp_receiver(lab.server.clone(), received.clone(), stop.clone());
    let sender = udp_sender(lab.client.clone(), stop.clone());
    // A measurement window of fixed length is the method here, not a wait for a condition.
    thread::sleep(UDP_WARMUP);
    let (count0, start) = (received.load(Ordering::Relaxed), Instant::now());
    thread::sleep(Duration::from_secs_f64(UDP_SECONDS));
    let (count1, elapsed) = (received.load(Ordering::Relaxed), start.elapsed());
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap();
    receiver.join().unwrap();
    (count1 - count0) as f64 / elapsed.as_secs_f64()
}

/// What one mode measured in one round.
#[derive(Debug, Default, Clone)]
struct Measurement {
    tcp_bps: f64,
    udp_pps: f64,
    /// ns per run of each program ("side/program") during the TCP and UDP runs.
    tcp_ns: BTreeMap<String, f64>,
    udp_ns: BTreeMap<String, f64>,
}

fn per_run_ns(
    before: &BTreeMap<String, ProgramStats>,
    after: &BTreeMap<String, ProgramStats>,
) -> BTreeMap<String, f64> {
    after
        .iter()
        .filter_map(|(name, a)| {
            let d = a.since(before.get(name)?);
            Some((name.clone(), d.per_run()?.as_nanos() as f64))
        })
        .collect()
}

fn measure(mode: Mode) -> Measurement {
    let lab = three_node_lab();
    let attached = match mode {
        Mode::Ours { hook, handoff } => Some(attach_ours(&lab, hook, handoff)),
        Mode::NoopTc => Some(attach_noop(&lab)),
        Mode::KernelSeg6 => {
            ip(&lab.client, &format!("-6 route add {SERVER}/128 encap seg6 mode inline segs {SID} via fc00:a::2 dev c0"));
            // The server's stack processes the SRH (SL 0) itself.
            sysctl(
                &lab.server,
                &[
                    "net.ipv6.conf.all.seg6_enabled=1",
                    "net.ipv6.conf.s0.seg6_enabled=1",
                ],
            );
            None
        }
        Mode::Plain => None,
    };
    let stats = || attached.as_ref().map(Attached::stats).unwrap_or_default();
    let s0 = stats();
    let tcp_bps = iperf(&lab);
    let s1 = stats();
    let udp_pps = udp_blast(&lab);
    let s2 = stats();
    Measurement {
        tcp_bps,
        udp_pps,
        tcp_ns: per_run_ns(&s0, &s1),
        udp_ns: per_run_ns(&s1, &s2),
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

type Round = Vec<(&'static str, Measurement)>;

fn print_round(round: usize, total: usize, results: &Round) {
    println!("\nround {}/{total}", round + 1);
    for (name, m) in results {
        println!(
            "  {name:<38} TCP {:>6.2} Gbit/s   UDP-64 {:>5.3} Mpps (one core)",
            m.tcp_bps / 1e9,
            m.udp_pps / 1e6,
        );
        for (program, ns) in &m.tcp_ns {
            let udp = m.udp_ns.get(program).copied().unwrap_or(f64::NAN);
            println!("      {program:<34} {ns:>6.0} ns/skb (TCP)  {udp:>6.0} ns/pkt (UDP-64)");
        }
    }
}

/// `value / base` to two places, or "-" without a base.
fn ratio(value: Option<f64>, base: Option<f64>) -> String {
    match (value, base) {
        (Some(v), Some(b)) => format!("{:.2}", v / b),
        _ => "-".into(),
    }
}

fn print_medians(modes: &[(&str, Mode)], rounds: &[Round]) {
    let med = |i: usize, f: &dyn Fn(&Measurement) -> f64| {
        median(rounds.iter().map(|r| f(&r[i].1)).collect())
    };
    let tcp = |i| med(i, &|m| m.tcp_bps);
    let udp = |i| med(i, &|m| m.udp_pps);
    let position = |mode: Mode| modes.iter().position(|(_, m)| *m == mode);
    let (plain, seg6) = (position(Mode::Plain), position(Mode::KernelSeg6));
    println!(
        "\nMedians of {} interleaved rounds, ratios of medians; client - End router - server, veth, MTU 1500, offloads on",
        rounds.len()
    );
    println!(
        "{:<38} {:>8} {:>8} {:>8} {:>15} {:>8} {:>8}",
        "mode", "TCP Gb/s", "x plain", "x seg6", "UDP-64 Mpps/core", "x plain", "x seg6"
    );
    for (i, (name, _)) in modes.iter().enumerate() {
        println!(
            "{name:<38} {:>8.2} {:>8} {:>8} {:>15.3} {:>8} {:>8}",
            tcp(i) / 1e9,
            ratio(Some(tcp(i)), plain.map(tcp)),
            ratio(Some(tcp(i)), seg6.map(tcp)),
            udp(i) / 1e6,
            ratio(Some(udp(i)), plain.map(udp)),
            ratio(Some(udp(i)), seg6.map(udp)),
        );
    }
    print_program_medians(modes, rounds);
}

/// Per-run cost of every program, median over rounds, next to the no-op TC program.
fn print_program_medians(modes: &[(&str, Mode)], rounds: &[Round]) {
    let noop = modes.iter().position(|(_, m)| *m == Mode::NoopTc);
    let program_median = |i: usize, program: &str, udp: bool| {
        let values: Vec<f64> = rounds
            .iter()
            .filter_map(|r| {
                let m = &r[i].1;
                (if udp { &m.udp_ns } else { &m.tcp_ns })
                    .get(program)
                    .copied()
            })
            .collect();
        (!values.is_empty()).then(|| median(values))
    };
    let base = |side: &str, udp| program_median(noop?, &format!("{side}/noop_tc"), udp);
    println!(
        "\nPer-run cost on that traffic (bpf_stats run_time_ns / run_cnt), median of {} rounds",
        rounds.len()
    );
    println!(
        "{:<38} {:<26} {:>9} {:>8} {:>9} {:>8}",
        "mode", "program", "TCP ns", "x no-op", "UDP ns", "x no-op"
    );
    for (i, (name, _)) in modes.iter().enumerate() {
        for program in rounds[0][i].1.tcp_ns.keys() {
            let side = program.split('/').next().unwrap_or_default();
            let (t, u) = (
                program_median(i, program, false),
                program_median(i, program, true),
            );
            let show = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.0}"));
            println!(
                "{name:<38} {program:<26} {:>9} {:>8} {:>9} {:>8}",
                show(t),
                ratio(t, base(side, false)),
                show(u),
                ratio(u, base(side, true))
            );
        }
    }
}

fn main() {
    // `cargo bench` passes --bench; nothing to parse.
    let _stats = enable_stats(Stats::RunTime).expect("BPF_ENABLE_STATS (root, kernel >= 5.8)");
    let (modes, total) = (selected_modes(), rounds());
    println!(
        "Throughput: TCP {TCP_SECONDS} s (iperf3) and 64-byte UDP {UDP_SECONDS} s per measurement, {} modes x {total} rounds, interleaved",
        modes.len()
    );
    for (name, _) in &modes {
        println!("  {name}");
    }
    let rounds: Vec<Round> = (0..total)
        .map(|round| {
            let results: Round = modes
                .iter()
                .map(|(name, mode)| (*name, measure(*mode)))
                .collect();
            print_round(round, total, &results);
            results
        })
        .collect();
    print_medians(&modes, &rounds);
}
