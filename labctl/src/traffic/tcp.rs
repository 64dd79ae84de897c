//! TCP: `Hello`, then the pattern until the client half-closes; the server
//! verifies (and in echo mode writes every byte back) and ends with a
//! `Summary`.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::{
    chunks, ClientSpec, FlowReport, Hello, Pattern, PeerReport, Summary, CONTROL_LEN, IO_TIMEOUT,
    STOP_POLL,
};
use crate::scenario::Proto;

/// Bytes per read and write.
const CHUNK: usize = 64 * 1024;
/// How long a client waits for the connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) fn serve(
    bind: SocketAddr,
    stop: Arc<AtomicBool>,
) -> io::Result<(SocketAddr, JoinHandle<Vec<PeerReport>>)> {
    let listener = TcpListener::bind(bind)?;
    let local = listener.local_addr()?;
    listener.set_nonblocking(true)?;
    let thread = std::thread::spawn(move || accept_loop(&listener, &stop));
    Ok((local, thread))
}

/// Accept until `stop`, one thread per connection; then collect their reports.
fn accept_loop(listener: &TcpListener, stop: &AtomicBool) -> Vec<PeerReport> {
    let mut handlers: Vec<JoinHandle<PeerReport>> = Vec::new();
    let timeout = PollTimeout::try_from(STOP_POLL).unwrap_or(PollTimeout::NONE);
    while !stop.load(Ordering::SeqCst) {
        let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
        if !matches!(poll(&mut fds, timeout), Ok(n) if n > 0) {
            continue;
        }
        if let Ok((stream, peer)) = listener.accept() {
            handlers.push(std::thread::spawn(move || handle(stream, peer)));
        }
    }
    handlers.into_iter().filter_map(|h| h.join().ok()).collect()
}

/// Verify one connection's stream, echo it if asked, answer with a summary.
fn handle(stream: TcpStream, peer: SocketAddr) -> PeerReport {
    let local = stream.local_addr().unwrap_or(peer);
    let mut report = PeerReport {
        proto: Proto::Tcp,
        peer,
        local,
        verified: 0,
        first_bad: None,
        datagrams: 0,
        bad_datagrams: 0,
        routing_header: None,
        error: None,
    };
    if let Err(e) = serve_stream(stream, &mut report) {
        report.error = Some(e.to_string());
    }
    report
}

fn serve_stream(mut stream: TcpStream, report: &mut PeerReport) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut hello = [0u8; CONTROL_LEN];
    stream.read_exact(&mut hello)?;
    let hello = Hello::from_bytes(&hello)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not a labctl traffic client"))?;
    let mut verifier = Verifier::new(Pattern::new(hello.seed));
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        verifier.feed(&buf[..n]);
        if hello.echo {
            stream.write_all(&buf[..n])?;
        }
    }
    (report.verified, report.first_bad) = (verifier.verified, verifier.first_bad);
    let summary = Summary {
        verified: verifier.verified,
        first_bad: verifier.first_bad,
    };
    stream.write_all(&summary.to_bytes())?;
    stream.shutdown(Shutdown::Write)
}

/// Checks a stream against its pattern as it arrives.
struct Verifier {
    pattern: Pattern,
    offset: u64,
    verified: u64,
    first_bad: Option<u64>,
}

impl Verifier {
    fn new(pattern: Pattern) -> Verifier {
        Verifier {
            pattern,
            offset: 0,
            verified: 0,
            first_bad: None,
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        if self.first_bad.is_none() {
            match self.pattern.first_mismatch(self.offset, bytes) {
                Some(at) => {
                    self.first_bad = Some(at);
                    self.verified = at;
                }
                None => self.verified = self.offset + bytes.len() as u64,
            }
        }
        self.offset += bytes.len() as u64;
    }
}

/// One client connection: send, (receive the echo,) read the summary.
pub(super) fn client(spec: &ClientSpec, seed: u64, progress: Option<&AtomicU64>) -> FlowReport {
    let start = Instant::now();
    let stream = match TcpStream::connect_timeout(&spec.server, CONNECT_TIMEOUT) {
        Ok(s) => s,
        Err(e) => return FlowReport::failed(spec, spec.server, format!("connect: {e}")),
    };
    let local = stream.local_addr().unwrap_or(spec.server);
    let mut report = FlowReport::new(spec, local);
    if let Err(e) = exchange(stream, spec, seed, progress, &mut report) {
        report.error = Some(e.to_string());
    }
    report.elapsed = start.elapsed();
    report
}

fn exchange(
    mut stream: TcpStream,
    spec: &ClientSpec,
    seed: u64,
    progress: Option<&AtomicU64>,
    report: &mut FlowReport,
) -> io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    stream.write_all(
        &Hello {
            echo: spec.echo,
            seed,
        }
        .to_bytes(),
    )?;
    let pattern = Pattern::new(seed);
    let mut writer = stream.try_clone()?;
    // Echo needs reading while writing (the server writes back as it
    // reads); a bulk flow reads only the summary, after the payload.
    let (sent, tail) = std::thread::scope(|scope| {
        let send = scope.spawn(|| {
            let sent = send_payload(&mut writer, pattern, spec, progress);
            let _ = writer.shutdown(Shutdown::Write);
            sent
        });
        let received = read_back(&mut stream, pattern, report);
        let sent = send
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the sending thread panicked")));
        (sent, received)
    });
    report.bytes_sent = sent?;
    let summary = Summary::from_bytes(&tail?).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "the server's summary is missing or malformed",
        )
    })?;
    report.bytes_verified = summary.verified;
    if let Some(at) = summary.first_bad {
        report.corrupt = Some(format!("the server received a wrong byte at offset {at}"));
    }
    Ok(())
}

/// Write the pattern for the spec's amount; returns the bytes written.
fn send_payload(
    stream: &mut TcpStream,
    pattern: Pattern,
    spec: &ClientSpec,
    progress: Option<&AtomicU64>,
) -> io::Result<u64> {
    let (total, duration) = chunks(spec.amount);
    let start = Instant::now();
    let mut buf = vec![0u8; CHUNK];
    let mut sent = 0u64;
    while sent < total && duration.is_none_or(|d| start.elapsed() < d) {
        let n = (total - sent).min(CHUNK as u64) as usize;
        pattern.fill(sent, &mut buf[..n]);
        stream.write_all(&buf[..n])?;
        sent += n as u64;
        if let Some(p) = progress {
            p.fetch_add(n as u64, Ordering::Relaxed);
        }
    }
    Ok(sent)
}

/// Read until the server closes: in echo mode the echoed pattern (checked
/// as it comes) followed by the summary, else the summary alone. The last
/// [`CONTROL_LEN`] bytes are held back: they are the summary.
fn read_back(
    stream: &mut TcpStream,
    pattern: Pattern,
    report: &mut FlowReport,
) -> io::Result<Vec<u8>> {
    let mut verifier = Verifier::new(pattern);
    let mut pending: Vec<u8> = Vec::with_capacity(CHUNK + CONTROL_LEN);
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        pending.extend_from_slice(&buf[..n]);
        let keep = pending.len().saturating_sub(CONTROL_LEN);
        verifier.feed(&pending[..keep]);
        pending.drain(..keep);
    }
    report.bytes_echoed = verifier.verified;
    if let Some(at) = verifier.first_bad {
        report.corrupt = Some(format!(
            "the echo came back with a wrong byte at offset {at}"
        ));
    }
    if !report.echo && verifier.offset > 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the server sent data to a bulk (not echo) flow",
        ));
    }
    Ok(pending)
}
