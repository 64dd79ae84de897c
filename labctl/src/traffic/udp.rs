//! UDP: paced datagrams with a header and a pattern payload; the server
//! verifies each, echoes it if asked, notes whether the application
//! received a routing header (`IPV6_RECVRTHDR`), and answers `END` with a
//! `SUMMARY`.
//!
//! Datagram layout (big endian): magic `S6UD`, kind (1 data, 2 echo,
//! 3 end, 4 summary), flags (bit 0: echo me), 2 reserved bytes, seed (8),
//! sequence number (8), then the payload. Data payload = the flow's
//! pattern at offset `seq * 65536`; a summary's payload = received, bad,
//! verified bytes, first bad sequence (`u64::MAX`: none), routing header (1 byte).

use std::collections::BTreeMap;
use std::io::{self, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::socket::{
    recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, SockaddrStorage,
};
use nix::{getsockopt_impl, setsockopt_impl, sockopt_impl};

use super::{chunks, ClientSpec, FlowReport, Pattern, PeerReport, STOP_POLL};
use crate::scenario::Proto;

pub(super) const HEADER_LEN: usize = 24;
const MAGIC: [u8; 4] = *b"S6UD";
const DATA: u8 = 1;
const ECHO: u8 = 2;
const END: u8 = 3;
const SUMMARY: u8 = 4;
const FLAG_ECHO: u8 = 1;
/// Bytes of pattern space per sequence number (no datagram is longer).
const SEQ_STRIDE: u64 = 65_536;
/// How often and how long a client asks for the summary.
const END_TRIES: u32 = 10;
const END_WAIT: Duration = Duration::from_millis(300);
/// Room for any control message: an SRH is at most 2048 bytes.
const CMSG_SPACE: usize = 4096;
/// Socket buffers asked for (the kernel caps them at `net.core.*mem_max`):
/// bursts of a paced flow wait here instead of being dropped.
const SOCKET_BUFFER: usize = 4 << 20;

/// Ask for large socket buffers; the kernel's cap is not an error.
fn enlarge_buffers(socket: &UdpSocket) -> io::Result<()> {
    setsockopt(socket, sockopt::RcvBuf, &SOCKET_BUFFER).map_err(io::Error::from)?;
    setsockopt(socket, sockopt::SndBuf, &SOCKET_BUFFER).map_err(io::Error::from)
}

sockopt_impl!(
    /// `IPV6_RECVRTHDR`: deliver a received routing header as an `IPV6_RTHDR` control message.
    Ipv6RecvRtHdr,
    Both,
    libc::IPPROTO_IPV6,
    libc::IPV6_RECVRTHDR,
    bool
);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    kind: u8,
    flags: u8,
    seed: u64,
    seq: u64,
}

impl Header {
    fn write(self, out: &mut [u8]) {
        out[..4].copy_from_slice(&MAGIC);
        out[4] = self.kind;
        out[5] = self.flags;
        out[6..8].fill(0);
        out[8..16].copy_from_slice(&self.seed.to_be_bytes());
        out[16..24].copy_from_slice(&self.seq.to_be_bytes());
    }

    fn read(b: &[u8]) -> Option<Header> {
        if b.len() < HEADER_LEN || b[..4] != MAGIC {
            return None;
        }
        Some(Header {
            kind: b[4],
            flags: b[5],
            seed: u64::from_be_bytes(super::be8(&b[8..16])),
            seq: u64::from_be_bytes(super::be8(&b[16..24])),
        })
    }
}

/// Whether a datagram's payload is its flow's pattern for its sequence number.
fn payload_ok(h: &Header, payload: &[u8]) -> bool {
    Pattern::new(h.seed)
        .first_mismatch(h.seq * SEQ_STRIDE, payload)
        .is_none()
}

pub(super) fn serve(
    bind: SocketAddr,
    stop: Arc<AtomicBool>,
) -> io::Result<(SocketAddr, JoinHandle<Vec<PeerReport>>)> {
    let socket = UdpSocket::bind(bind)?;
    let local = socket.local_addr()?;
    setsockopt(&socket, Ipv6RecvRtHdr, &true).map_err(io::Error::from)?;
    enlarge_buffers(&socket)?;
    socket.set_read_timeout(Some(STOP_POLL))?;
    let thread = std::thread::spawn(move || receive_loop(&socket, local, &stop));
    Ok((local, thread))
}

/// One received datagram: its length, sender, and whether it carried a routing header.
fn receive(socket: &UdpSocket, buf: &mut [u8]) -> io::Result<(usize, SocketAddr, bool)> {
    let mut cmsg = vec![0u8; CMSG_SPACE];
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<SockaddrStorage>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::empty(),
    )
    .map_err(io::Error::from)?;
    let from = msg
        .address
        .and_then(|a| a.as_sockaddr_in6().map(|s| SocketAddr::V6((*s).into())))
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an IPv6 sender"))?;
    // A truncated control area can only have held the routing header: the
    // only control message this socket asks for.
    let routing_header = match msg.cmsgs() {
        Ok(mut cmsgs) => cmsgs.any(|c| {
            matches!(c, ControlMessageOwned::Unknown(u)
                if u.cmsg_header.cmsg_level == libc::IPPROTO_IPV6
                    && u.cmsg_header.cmsg_type == libc::IPV6_RTHDR)
        }),
        Err(_) => true,
    };
    Ok((msg.bytes, from, routing_header))
}

fn receive_loop(socket: &UdpSocket, local: SocketAddr, stop: &AtomicBool) -> Vec<PeerReport> {
    let mut peers: BTreeMap<SocketAddr, PeerReport> = BTreeMap::new();
    let mut buf = vec![0u8; 65_536];
    while !stop.load(Ordering::SeqCst) {
        let (n, from, routing_header) = match receive(socket, &mut buf) {
            Ok(r) => r,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(_) => continue,
        };
        let peer = peers.entry(from).or_insert_with(|| PeerReport {
            proto: Proto::Udp,
            peer: from,
            local,
            verified: 0,
            first_bad: None,
            datagrams: 0,
            bad_datagrams: 0,
            routing_header: Some(false),
            error: None,
        });
        if routing_header {
            peer.routing_header = Some(true);
        }
        let datagram = &mut buf[..n];
        if let Err(e) = serve_datagram(socket, from, datagram, peer) {
            peer.error = Some(e.to_string());
        }
    }
    peers.into_values().collect()
}

fn serve_datagram(
    socket: &UdpSocket,
    from: SocketAddr,
    datagram: &mut [u8],
    peer: &mut PeerReport,
) -> io::Result<()> {
    let header = Header::read(datagram);
    match header {
        Some(h) if h.kind == DATA => {
            peer.datagrams += 1;
            if payload_ok(&h, &datagram[HEADER_LEN..]) {
                peer.verified += datagram.len() as u64;
            } else {
                peer.bad_datagrams += 1;
                peer.first_bad.get_or_insert(h.seq);
            }
            if h.flags & FLAG_ECHO != 0 {
                datagram[4] = ECHO;
                socket.send_to(datagram, from)?;
            }
        }
        Some(h) if h.kind == END => {
            let mut out = vec![0u8; HEADER_LEN + 33];
            Header {
                kind: SUMMARY,
                flags: 0,
                seed: h.seed,
                seq: 0,
            }
            .write(&mut out);
            let body = &mut out[HEADER_LEN..];
            body[..8].copy_from_slice(&peer.datagrams.to_be_bytes());
            body[8..16].copy_from_slice(&peer.bad_datagrams.to_be_bytes());
            body[16..24].copy_from_slice(&peer.verified.to_be_bytes());
            body[24..32].copy_from_slice(&peer.first_bad.unwrap_or(u64::MAX).to_be_bytes());
            body[32] = u8::from(peer.routing_header == Some(true));
            socket.send_to(&out, from)?;
        }
        _ => {
            peer.datagrams += 1;
            peer.bad_datagrams += 1;
        }
    }
    Ok(())
}

/// What the server's summary says.
#[derive(Debug, Clone, Copy)]
struct ServerCounts {
    received: u64,
    bad: u64,
    verified: u64,
    first_bad: Option<u64>,
    routing_header: bool,
}

fn read_summary(body: &[u8]) -> Option<ServerCounts> {
    let word = |i: usize| {
        body.get(i..i + 8)
            .map(|b| u64::from_be_bytes(super::be8(b)))
    };
    let first_bad = word(24)?;
    Some(ServerCounts {
        received: word(0)?,
        bad: word(8)?,
        verified: word(16)?,
        first_bad: (first_bad != u64::MAX).then_some(first_bad),
        routing_header: *body.get(32)? == 1,
    })
}

/// What the client's receiving thread counted.
#[derive(Debug, Default)]
struct Echoes {
    datagrams: u64,
    bytes: u64,
    first_bad: Option<u64>,
}

/// Receive echoes (counted and checked) and forward the summary.
fn client_receiver(
    socket: &UdpSocket,
    done: &AtomicBool,
    summary: &mpsc::Sender<ServerCounts>,
) -> Echoes {
    let mut echoes = Echoes::default();
    let mut buf = vec![0u8; 65_536];
    while !done.load(Ordering::SeqCst) {
        let Ok(n) = socket.recv(&mut buf) else {
            continue;
        };
        let datagram = &buf[..n];
        match Header::read(datagram) {
            Some(h) if h.kind == ECHO => {
                echoes.datagrams += 1;
                if payload_ok(&h, &datagram[HEADER_LEN..]) {
                    echoes.bytes += n as u64;
                } else {
                    echoes.first_bad.get_or_insert(h.seq);
                }
            }
            Some(h) if h.kind == SUMMARY => {
                if let Some(counts) = read_summary(&datagram[HEADER_LEN..]) {
                    let _ = summary.send(counts);
                }
            }
            _ => {}
        }
    }
    echoes
}

pub(super) fn client(spec: &ClientSpec, seed: u64, progress: Option<&AtomicU64>) -> FlowReport {
    let start = Instant::now();
    let any: SocketAddr = if spec.server.is_ipv6() {
        "[::]:0".parse().unwrap_or(spec.server)
    } else {
        "0.0.0.0:0".parse().unwrap_or(spec.server)
    };
    let socket = match UdpSocket::bind(any).and_then(|s| s.connect(spec.server).map(|()| s)) {
        Ok(s) => s,
        Err(e) => return FlowReport::failed(spec, spec.server, format!("udp socket: {e}")),
    };
    let local = socket.local_addr().unwrap_or(spec.server);
    let mut report = FlowReport::new(spec, local);
    if let Err(e) = socket
        .set_read_timeout(Some(STOP_POLL))
        .and_then(|()| enlarge_buffers(&socket))
    {
        report.error = Some(e.to_string());
        return report;
    }
    let done = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel();
    let (sent, counts, echoes) = std::thread::scope(|scope| {
        let receiver = scope.spawn(|| client_receiver(&socket, &done, &tx));
        let sent = send_datagrams(&socket, spec, seed, progress);
        let counts = sent
            .as_ref()
            .ok()
            .and_then(|_| ask_summary(&socket, seed, &rx));
        done.store(true, Ordering::SeqCst);
        let echoes = receiver.join().unwrap_or_default();
        (sent, counts, echoes)
    });
    report.elapsed = start.elapsed();
    fill_report(&mut report, spec, sent, counts, echoes);
    report
}

fn fill_report(
    report: &mut FlowReport,
    spec: &ClientSpec,
    sent: io::Result<u64>,
    counts: Option<ServerCounts>,
    echoes: Echoes,
) {
    match sent {
        Ok(n) => {
            report.datagrams_sent = n;
            report.bytes_sent = n * u64::from(spec.datagram_size);
        }
        Err(e) => report.error = Some(format!("send: {e}")),
    }
    report.datagrams_echoed = echoes.datagrams;
    report.bytes_echoed = echoes.bytes;
    if let Some(seq) = echoes.first_bad {
        report.corrupt = Some(format!("echoed datagram {seq} came back wrong"));
    }
    match counts {
        Some(c) => {
            report.datagrams_received = c.received;
            report.bytes_verified = c.verified;
            report.server_routing_header = Some(c.routing_header);
            if let Some(seq) = c.first_bad {
                report.corrupt = Some(format!(
                    "the server received {} wrong datagrams, the first seq {seq}",
                    c.bad
                ));
            }
        }
        None if report.error.is_none() => {
            report.error = Some(format!(
                "no summary from the server after {END_TRIES} tries"
            ));
        }
        None => {}
    }
}

/// Send paced data datagrams for the spec's amount; returns how many.
fn send_datagrams(
    socket: &UdpSocket,
    spec: &ClientSpec,
    seed: u64,
    progress: Option<&AtomicU64>,
) -> io::Result<u64> {
    let size = (spec.datagram_size as usize).max(HEADER_LEN);
    let (total, duration) = chunks(spec.amount);
    let count = total.div_ceil(size as u64);
    // Pacing: datagram n leaves at start + n * interval.
    let interval =
        Duration::from_secs_f64(size as f64 * 8.0 / (spec.rate_kbps.max(1) as f64 * 1000.0));
    let flags = if spec.echo { FLAG_ECHO } else { 0 };
    let pattern = Pattern::new(seed);
    let mut buf = vec![0u8; size];
    let start = Instant::now();
    let mut seq = 0u64;
    while seq < count && duration.is_none_or(|d| start.elapsed() < d) {
        let due = interval.saturating_mul(u32::try_from(seq).unwrap_or(u32::MAX));
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
        Header {
            kind: DATA,
            flags,
            seed,
            seq,
        }
        .write(&mut buf);
        pattern.fill(seq * SEQ_STRIDE, &mut buf[HEADER_LEN..]);
        socket.send(&buf)?;
        if let Some(p) = progress {
            p.fetch_add(size as u64, Ordering::Relaxed);
        }
        seq += 1;
    }
    Ok(seq)
}

/// Send END until a summary comes back (UDP may lose either).
fn ask_summary(
    socket: &UdpSocket,
    seed: u64,
    rx: &mpsc::Receiver<ServerCounts>,
) -> Option<ServerCounts> {
    let mut end = [0u8; HEADER_LEN];
    Header {
        kind: END,
        flags: 0,
        seed,
        seq: 0,
    }
    .write(&mut end);
    (0..END_TRIES).find_map(|_| {
        socket.send(&end).ok()?;
        rx.recv_timeout(END_WAIT).ok()
    })
}
