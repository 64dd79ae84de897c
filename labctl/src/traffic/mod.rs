//! The scenario traffic engine: TCP and UDP clients and servers in plain
//! Rust (std sockets on their own threads), so a lab needs no iperf, curl or
//! python.
//!
//! Every byte a client sends follows a deterministic pattern ([`Pattern`],
//! keyed by a per-flow seed and the byte's offset), so the receiver checks
//! integrity end to end without a copy of the data: the server verifies
//! what arrives and answers with a [`Summary`]; in echo mode it sends every
//! byte back and the client verifies those too. UDP servers enable
//! `IPV6_RECVRTHDR` and report whether any datagram reached the
//! application with a routing header ("the server application saw no SRH").
//!
//! The functions are namespace-agnostic: they take addresses and ports and
//! block the calling thread, so a later step runs them on a thread that
//! entered a lab namespace, or in a child process put into it. Reports are
//! serde types so a child can print them as JSON.
//!
//! Hand-written because no crate does "deterministic pattern, verified at
//! the far end, over TCP or UDP, with the routing header observed": iperf3
//! sends random bytes it never checks, and none reads `IPV6_RTHDR`.
//!
//! # Public API
//! - [`Server::start`]`(&ServerSpec) -> io::Result<Server>`, [`Server::local_addr`],
//!   [`Server::stop`]`() -> Vec<PeerReport>`
//! - [`run_client`]`(&ClientSpec, Option<&AtomicU64>) -> ClientReport`
//!   (the counter, if given, grows with the bytes sent: the `flow_bytes` wait)
//! - [`Pattern`], [`Hello`], [`Summary`]: the wire format (tests build
//!   corrupt streams with them)
//! - [`human_bytes`], [`human_rate`]: amounts for reports
//!
//! # Layout
//! `mod.rs` specs, reports, pattern and wire format; `tcp.rs`, `udp.rs`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::scenario::{Amount, Proto};

mod tcp;
mod udp;

/// Bytes of the UDP datagram header (`udp.rs`): the smallest datagram.
pub const MIN_DATAGRAM_SIZE: u32 = udp::HEADER_LEN as u32;
/// How long a blocked read or write may take before the flow fails.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a server's accept/receive loop looks at its stop flag.
const STOP_POLL: Duration = Duration::from_millis(50);

/// The byte stream of one flow: byte `i` is a function of `(seed, i)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pattern {
    seed: u64,
}

/// SplitMix64 (Steele et al.): a full-period mixer, cheap enough to fill
/// gigabytes per second, so the pattern is never the bottleneck.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Pattern {
    pub fn new(seed: u64) -> Pattern {
        Pattern { seed: mix(seed) }
    }

    /// The 8-byte block `k` of the stream (bytes `8k .. 8k + 8`).
    fn block(&self, k: u64) -> [u8; 8] {
        mix(self.seed ^ k).to_le_bytes()
    }

    /// Calls `f(i, expected)` for the stream bytes at `offset..offset + len`,
    /// a block at a time (this runs for every byte sent and received).
    fn each(&self, offset: u64, len: usize, mut f: impl FnMut(usize, &[u8]) -> bool) -> bool {
        let mut i = 0usize;
        while i < len {
            let at = offset + i as u64;
            let skip = (at % 8) as usize;
            let block = self.block(at / 8);
            let n = (8 - skip).min(len - i);
            if !f(i, &block[skip..skip + n]) {
                return false;
            }
            i += n;
        }
        true
    }

    /// Write the bytes at `offset..offset + buf.len()` of the stream.
    pub fn fill(&self, offset: u64, buf: &mut [u8]) {
        let len = buf.len();
        self.each(offset, len, |i, expected| {
            buf[i..i + expected.len()].copy_from_slice(expected);
            true
        });
    }

    /// The stream offset of the first byte of `buf` (read at `offset`) that
    /// differs from the pattern.
    pub fn first_mismatch(&self, offset: u64, buf: &[u8]) -> Option<u64> {
        let mut found = None;
        self.each(offset, buf.len(), |i, expected| {
            let got = &buf[i..i + expected.len()];
            match got.iter().zip(expected).position(|(a, b)| a != b) {
                Some(j) => {
                    found = Some(offset + (i + j) as u64);
                    false
                }
                None => true,
            }
        });
        found
    }
}

/// What a TCP client announces before its payload (32 bytes on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hello {
    pub echo: bool,
    pub seed: u64,
}

/// What a server answers at the end of a TCP stream (32 bytes on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Bytes received that matched the pattern, up to the first mismatch.
    pub verified: u64,
    /// Stream offset of the first wrong byte.
    pub first_bad: Option<u64>,
}

const HELLO_MAGIC: [u8; 8] = *b"S6E2E-H1";
const SUMMARY_MAGIC: [u8; 8] = *b"S6E2E-S1";
/// Length of [`Hello`] and [`Summary`] on the wire.
pub const CONTROL_LEN: usize = 32;

impl Hello {
    pub fn to_bytes(self) -> [u8; CONTROL_LEN] {
        let mut b = [0u8; CONTROL_LEN];
        b[..8].copy_from_slice(&HELLO_MAGIC);
        b[8] = u8::from(self.echo);
        b[16..24].copy_from_slice(&self.seed.to_be_bytes());
        b
    }

    pub fn from_bytes(b: &[u8; CONTROL_LEN]) -> Option<Hello> {
        (b[..8] == HELLO_MAGIC).then(|| Hello {
            echo: b[8] == 1,
            seed: u64::from_be_bytes(be8(&b[16..24])),
        })
    }
}

impl Summary {
    pub fn to_bytes(self) -> [u8; CONTROL_LEN] {
        let mut b = [0u8; CONTROL_LEN];
        b[..8].copy_from_slice(&SUMMARY_MAGIC);
        b[8..16].copy_from_slice(&self.verified.to_be_bytes());
        b[16..24].copy_from_slice(&self.first_bad.unwrap_or(u64::MAX).to_be_bytes());
        b
    }

    pub fn from_bytes(b: &[u8]) -> Option<Summary> {
        if b.len() != CONTROL_LEN || b[..8] != SUMMARY_MAGIC {
            return None;
        }
        let bad = u64::from_be_bytes(be8(&b[16..24]));
        Some(Summary {
            verified: u64::from_be_bytes(be8(&b[8..16])),
            first_bad: (bad != u64::MAX).then_some(bad),
        })
    }
}

/// The first 8 bytes of `b` (zero-padded), for `u64::from_be_bytes`.
fn be8(b: &[u8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    let n = b.len().min(8);
    out[..n].copy_from_slice(&b[..n]);
    out
}

/// A server to start.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    pub proto: Proto,
    /// Address and port to listen on (port 0: any free port).
    pub bind: SocketAddr,
}

/// What a server saw from one peer (a TCP connection, or a UDP source
/// address and port).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerReport {
    pub proto: Proto,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    /// Payload bytes that arrived intact.
    pub verified: u64,
    /// TCP: stream offset of the first wrong byte. UDP: the first wrong datagram's sequence number.
    pub first_bad: Option<u64>,
    /// UDP: datagrams received, and of those how many were wrong.
    pub datagrams: u64,
    pub bad_datagrams: u64,
    /// UDP: whether any datagram arrived with a routing header (`IPV6_RECVRTHDR`).
    /// TCP: `None` (not observable per segment).
    pub routing_header: Option<bool>,
    pub error: Option<String>,
}

/// A running server; [`Server::stop`] ends it and returns what it saw.
#[derive(Debug)]
pub struct Server {
    local: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<PeerReport>>,
}

impl Server {
    /// Bind and start serving on a new thread of the caller's namespace.
    pub fn start(spec: &ServerSpec) -> std::io::Result<Server> {
        let stop = Arc::new(AtomicBool::new(false));
        let (local, thread) = match spec.proto {
            Proto::Tcp => tcp::serve(spec.bind, stop.clone())?,
            Proto::Udp => udp::serve(spec.bind, stop.clone())?,
        };
        Ok(Server {
            local,
            stop,
            thread,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Stop accepting, wait for the open connections to end (each within
    /// [`IO_TIMEOUT`]) and return every peer's report.
    pub fn stop(self) -> Vec<PeerReport> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap_or_else(|_| {
            vec![PeerReport {
                proto: Proto::Tcp,
                peer: self.local,
                local: self.local,
                verified: 0,
                first_bad: None,
                datagrams: 0,
                bad_datagrams: 0,
                routing_header: None,
                error: Some("the server thread panicked".into()),
            }]
        })
    }
}

/// A client flow (or several concurrent ones) to run.
#[derive(Debug, Clone)]
pub struct ClientSpec {
    pub proto: Proto,
    pub server: SocketAddr,
    pub amount: Amount,
    /// Concurrent connections or sockets, each with its own seed and port.
    pub flows: u32,
    pub echo: bool,
    /// Base seed; flow `i` uses `seed + i`.
    pub seed: u64,
    /// UDP: payload bytes per datagram, header included.
    pub datagram_size: u32,
    /// UDP: kbit/s per flow.
    pub rate_kbps: u64,
}

/// What one client connection (or UDP socket) did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowReport {
    pub proto: Proto,
    /// The client's address and port: with `server`, the flow's 5-tuple.
    pub local: SocketAddr,
    pub server: SocketAddr,
    pub echo: bool,
    pub bytes_sent: u64,
    /// Bytes the server confirmed intact.
    pub bytes_verified: u64,
    /// Echo: bytes received back intact.
    pub bytes_echoed: u64,
    /// The first integrity failure, in words.
    pub corrupt: Option<String>,
    /// UDP counts: sent, received by the server, received back.
    pub datagrams_sent: u64,
    pub datagrams_received: u64,
    pub datagrams_echoed: u64,
    /// UDP: whether the server's application saw a routing header.
    pub server_routing_header: Option<bool>,
    pub elapsed: Duration,
    /// An I/O error, reset or timeout that ended the flow early.
    pub error: Option<String>,
}

impl FlowReport {
    /// Every byte arrived intact (both ways for echo). TCP: all of them;
    /// UDP: every datagram that arrived (loss shows in the counts).
    pub fn intact(&self) -> bool {
        if self.error.is_some() || self.corrupt.is_some() {
            return false;
        }
        match self.proto {
            Proto::Tcp => {
                self.bytes_verified == self.bytes_sent
                    && (!self.echo || self.bytes_echoed == self.bytes_sent)
            }
            Proto::Udp => self.datagrams_received > 0 && (!self.echo || self.datagrams_echoed > 0),
        }
    }

    /// Goodput in bit/s: bytes the server verified over the flow's time.
    pub fn throughput_bps(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.bytes_verified as f64 * 8.0 / secs
        } else {
            0.0
        }
    }

    /// A flow that failed before it sent anything.
    fn failed(spec: &ClientSpec, local: SocketAddr, error: String) -> FlowReport {
        FlowReport {
            error: Some(error),
            ..FlowReport::new(spec, local)
        }
    }

    /// A flow that has not sent anything yet.
    fn new(spec: &ClientSpec, local: SocketAddr) -> FlowReport {
        FlowReport {
            proto: spec.proto,
            local,
            server: spec.server,
            echo: spec.echo,
            bytes_sent: 0,
            bytes_verified: 0,
            bytes_echoed: 0,
            corrupt: None,
            datagrams_sent: 0,
            datagrams_received: 0,
            datagrams_echoed: 0,
            server_routing_header: None,
            elapsed: Duration::ZERO,
            error: None,
        }
    }
}

/// Every flow of a client run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientReport {
    pub flows: Vec<FlowReport>,
}

impl ClientReport {
    pub fn intact(&self) -> bool {
        !self.flows.is_empty() && self.flows.iter().all(FlowReport::intact)
    }

    /// Sum of the flows' goodput, bit/s.
    pub fn throughput_bps(&self) -> f64 {
        self.flows.iter().map(FlowReport::throughput_bps).sum()
    }
}

/// Run `spec.flows` concurrent flows to the server and report each; blocks
/// until all have ended. `progress`, if given, counts the bytes sent.
pub fn run_client(spec: &ClientSpec, progress: Option<&AtomicU64>) -> ClientReport {
    let flows = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..u64::from(spec.flows.max(1)))
            .map(|i| {
                let seed = spec.seed.wrapping_add(i);
                scope.spawn(move || match spec.proto {
                    Proto::Tcp => tcp::client(spec, seed, progress),
                    Proto::Udp => udp::client(spec, seed, progress),
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    FlowReport::failed(spec, spec.server, "the flow's thread panicked".into())
                })
            })
            .collect()
    });
    ClientReport { flows }
}

/// `10.00 MB`, `1.5 kB`, `12 B` (decimal units).
pub fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1_000_000_000 => format!("{:.2} GB", n as f64 / 1e9),
        n if n >= 1_000_000 => format!("{:.2} MB", n as f64 / 1e6),
        n if n >= 1_000 => format!("{:.1} kB", n as f64 / 1e3),
        n => format!("{n} B"),
    }
}

/// `941.2 Mbit/s`.
pub fn human_rate(bps: f64) -> String {
    match bps {
        b if b >= 1e9 => format!("{:.2} Gbit/s", b / 1e9),
        b if b >= 1e6 => format!("{:.1} Mbit/s", b / 1e6),
        b => format!("{:.1} kbit/s", b / 1e3),
    }
}

/// Bytes per chunk a bulk sender writes, and the end condition of the payload.
fn chunks(amount: Amount) -> (u64, Option<Duration>) {
    match amount {
        Amount::Bytes(n) => (n, None),
        Amount::Duration(d) => (u64::MAX, Some(d)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_is_deterministic_and_seeded() {
        let p = Pattern::new(7);
        let mut a = [0u8; 100];
        let mut b = [0u8; 60];
        p.fill(0, &mut a);
        p.fill(40, &mut b);
        assert_eq!(a[40..], b[..]);
        assert_eq!(p.first_mismatch(0, &a), None);
        let mut c = [0u8; 100];
        Pattern::new(8).fill(0, &mut c);
        assert_ne!(a, c);
        a[57] ^= 1;
        assert_eq!(p.first_mismatch(0, &a), Some(57));
        assert_eq!(p.first_mismatch(40, &b[..]), None);
        // Unaligned starts and lengths read the same stream.
        let mut c = [0u8; 29];
        p.fill(13, &mut c);
        assert_eq!(c[..], a[13..42]);
        assert_eq!(p.first_mismatch(13, &c), None);
        c[28] ^= 2;
        assert_eq!(p.first_mismatch(13, &c), Some(41));
    }

    #[test]
    fn control_messages_round_trip() {
        let h = Hello {
            echo: true,
            seed: 0xdead_beef,
        };
        assert_eq!(Hello::from_bytes(&h.to_bytes()), Some(h));
        for s in [
            Summary {
                verified: 1 << 40,
                first_bad: None,
            },
            Summary {
                verified: 3,
                first_bad: Some(3),
            },
        ] {
            assert_eq!(Summary::from_bytes(&s.to_bytes()), Some(s));
        }
        assert_eq!(Summary::from_bytes(&h.to_bytes()), None);
        assert_eq!(Hello::from_bytes(&[0; CONTROL_LEN]), None);
    }
}
