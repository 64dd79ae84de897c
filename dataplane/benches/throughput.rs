//! One-flow TCP throughput (iperf3, median of 3 interleaved 4 s runs) over client — kernel End router —
//! server, in one run: plain IPv6, our programs (TC egress insert + TC or
//! generic-XDP ingress strip, both directions steered), and the kernel's own
//! `seg6` inline route encapsulation of the same SID list. Prints the ratios.
//! Needs root and iperf3 (`make deps`). `cargo bench -p dataplane --bench throughput`.
#![allow(clippy::unwrap_used)]
#[path = "../tests/common/mod.rs"]
mod common;

use std::net::Ipv6Addr;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::netns::{enter, ip, sysctl, three_node_lab, Lab, CLIENT, SERVER, SID};
use dataplane::{ClientDataplane, IngressHook, Proto, ServerDataplane, ServerOptions};

const IPERF_PORT: u16 = 5201;
const SECONDS: &str = "4";
const ROUNDS: usize = 3;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Plain,
    KernelSeg6,
    Ours(IngressHook),
}

fn addr(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// Keeps the programs attached (on threads inside the namespaces) until dropped.
struct Attached {
    stop: Vec<mpsc::Sender<()>>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl Drop for Attached {
    fn drop(&mut self) {
        for s in &self.stop {
            let _ = s.send(());
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn attach_ours(lab: &Lab, hook: IngressHook) -> Attached {
    let (ready_tx, ready_rx) = mpsc::channel();
    let mut attached = Attached {
        stop: Vec::new(),
        threads: Vec::new(),
    };
    for role in ["client", "server"] {
        let ns = if role == "client" {
            lab.client.clone()
        } else {
            lab.server.clone()
        };
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let ready = ready_tx.clone();
        attached.stop.push(stop_tx);
        attached.threads.push(thread::spawn(move || {
            enter(&ns);
            if role == "client" {
                let mut dp = ClientDataplane::load().unwrap();
                dp.add_local_address(addr(CLIENT)).unwrap();
                dp.set_path(addr(SERVER), IPERF_PORT, Proto::Tcp, &[addr(SID)])
                    .unwrap();
                dp.attach("c0", hook).unwrap();
                ready.send(()).unwrap();
                let _ = stop_rx.recv();
            } else {
                let mut dp = ServerDataplane::load(ServerOptions::default()).unwrap();
                dp.add_local_address(addr(SERVER)).unwrap();
                dp.attach("s0", hook).unwrap();
                ready.send(()).unwrap();
                let _ = stop_rx.recv();
            }
        }));
    }
    ready_rx.recv().unwrap();
    ready_rx.recv().unwrap();
    attached
}

fn iperf(lab: &Lab) -> f64 {
    let mut server = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.server,
            "iperf3",
            "-s",
            "-1",
            "-B",
            SERVER,
            "-p",
            &IPERF_PORT.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("iperf3 (run `make deps`)");
    // Wait until the server listens (a condition, not a fixed sleep).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = Command::new("ip")
            .args(["netns", "exec", &lab.server, "ss", "-Hltn"])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&out.stdout).contains(&format!(":{IPERF_PORT}")) {
            break;
        }
        assert!(Instant::now() < deadline, "iperf3 server did not start");
        thread::sleep(Duration::from_millis(20));
    }
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.client,
            "iperf3",
            "-c",
            SERVER,
            "-p",
            &IPERF_PORT.to_string(),
            "-t",
            SECONDS,
            "-J",
        ])
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

fn run(mode: Mode) -> f64 {
    let lab = three_node_lab();
    let _attached = match mode {
        Mode::Ours(hook) => Some(attach_ours(&lab, hook)),
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
    iperf(&lab)
}

fn main() {
    // `cargo bench` passes --bench; nothing to parse.
    let modes = [
        ("plain IPv6", Mode::Plain),
        ("kernel seg6 inline encap", Mode::KernelSeg6),
        ("ours: TC insert + TC strip", Mode::Ours(IngressHook::Tc)),
        (
            "ours: TC insert + generic XDP strip",
            Mode::Ours(IngressHook::XdpGeneric),
        ),
    ];
    let results: Vec<(&str, f64)> = modes
        .iter()
        .map(|(name, mode)| (*name, run(*mode)))
        .collect();
    let plain = results[0].1;
    let seg6 = results[1].1;
    println!(
        "\nOne-flow TCP throughput, iperf3 {SECONDS} s, median of {ROUNDS} interleaved rounds, client - End router - server (veth, MTU 1500, offloads on)"
    );
    println!(
        "{:<40} {:>10} {:>10} {:>12}",
        "mode", "Gbit/s", "x plain", "x kernel seg6"
    );
    for (name, bps) in results {
        println!(
            "{name:<40} {:>10.2} {:>10.2} {:>12.2}",
            bps / 1e9,
            bps / plain,
            bps / seg6
        );
    }
}
