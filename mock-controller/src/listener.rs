//! Accepting connections without letting idle or excess clients take the
//! controller down: a connection limit per service, a handshake timeout,
//! and a descriptor limit that degrades to "not accepting" instead of a
//! busy loop. tonic's own accept loop retries a failing `accept` at once,
//! forever (100 % CPU at the descriptor limit), and hyper has no timeout
//! for the HTTP/2 preface: hence this module.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::Stream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;
use tonic::transport::server::{Connected, TcpConnectInfo};
use tracing::{debug, warn};

/// Bytes of the HTTP/2 client connection preface (RFC 9113 §3.4).
const PREFACE_LEN: usize = 24;
/// Descriptors kept free for everything but connections (listeners, logs,
/// the runtime).
const RESERVED_FDS: u64 = 64;
/// How often the same warning may be logged.
const WARN_EVERY: Duration = Duration::from_secs(60);
/// How long accepting pauses at the descriptor limit when no connection
/// closes meanwhile.
const FD_BACKOFF: Duration = Duration::from_secs(1);

/// Limits on each service's connections.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Open connections per service; a new one past it is closed at once.
    pub max_connections: usize,
    /// A connection that has not sent the HTTP/2 preface by then is closed.
    pub handshake_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: default_max_connections(),
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

/// Half the descriptors the process may open (less a reserve) per
/// service, at most 1024 and at least 8.
pub fn default_max_connections() -> usize {
    let soft = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_or(1024, |(soft, _)| soft);
    usize::try_from(soft.saturating_sub(RESERVED_FDS) / 2)
        .unwrap_or(1024)
        .clamp(8, 1024)
}

/// Raise the soft descriptor limit to the hard one where allowed; returns
/// the (soft, hard) limits now in force.
pub fn raise_fd_limit() -> io::Result<(u64, u64)> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
        return Ok((hard, hard));
    }
    Ok((soft, hard))
}

/// A warning logged at most once per [`WARN_EVERY`].
#[derive(Debug, Default)]
struct Throttled(Option<Instant>);

impl Throttled {
    fn due(&mut self) -> bool {
        let due = self.0.is_none_or(|t| t.elapsed() >= WARN_EVERY);
        if due {
            self.0 = Some(Instant::now());
        }
        due
    }
}

/// One service's accept loop state.
#[derive(Debug)]
struct Acceptor {
    listener: TcpListener,
    service: &'static str,
    limits: ConnectionLimits,
    permits: Arc<Semaphore>,
    /// Notified whenever a connection closes.
    closed: Arc<Notify>,
    full: Throttled,
    out_of_fds: Throttled,
}

/// Whether an accept error means the process or system ran out of
/// descriptors (or memory for them): retrying at once cannot succeed.
fn out_of_descriptors(e: &io::Error) -> bool {
    use nix::errno::Errno;
    e.raw_os_error().is_some_and(|n| {
        [Errno::EMFILE, Errno::ENFILE, Errno::ENOBUFS, Errno::ENOMEM]
            .iter()
            .any(|&errno| errno as i32 == n)
    })
}

impl Acceptor {
    /// The next connection within the limits.
    async fn next(&mut self) -> Conn {
        loop {
            let (stream, peer) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) if out_of_descriptors(&e) => {
                    if self.out_of_fds.due() {
                        warn!(service = self.service, error = %e, "descriptor limit reached: not accepting until a connection closes");
                    }
                    // Not the listener's readiness (still set: the client
                    // waits in the backlog) but a closing connection.
                    let closed = self.closed.notified();
                    let _ = tokio::time::timeout(FD_BACKOFF, closed).await;
                    continue;
                }
                Err(e) => {
                    // Per-connection errors (the peer reset before accept):
                    // go on, with a pause in case one repeats.
                    debug!(service = self.service, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            match Arc::clone(&self.permits).try_acquire_owned() {
                Ok(permit) => return self.wrap(stream, permit),
                Err(_) => {
                    if self.full.due() {
                        let limit = self.limits.max_connections;
                        warn!(
                            service = self.service,
                            limit,
                            "connection limit reached: closing new connections until one closes"
                        );
                    }
                    debug!(service = self.service, %peer, "connection refused: limit");
                }
            }
        }
    }

    fn wrap(&self, stream: TcpStream, permit: OwnedSemaphorePermit) -> Conn {
        let _ = stream.set_nodelay(true);
        Conn {
            stream,
            _permit: permit,
            closed: Arc::clone(&self.closed),
            handshake: Some(Box::pin(tokio::time::sleep(self.limits.handshake_timeout))),
            preface_left: PREFACE_LEN,
        }
    }
}

/// The connections of `listener` within `limits`, for
/// `tonic::transport::Server::serve_with_incoming_shutdown`. The stream
/// never yields an error: accept errors are handled here.
pub fn incoming(
    listener: TcpListener,
    service: &'static str,
    limits: ConnectionLimits,
) -> impl Stream<Item = Result<Conn, io::Error>> {
    let acceptor = Acceptor {
        listener,
        service,
        limits,
        permits: Arc::new(Semaphore::new(limits.max_connections.max(1))),
        closed: Arc::new(Notify::new()),
        full: Throttled::default(),
        out_of_fds: Throttled::default(),
    };
    futures::stream::unfold(acceptor, |mut a| async move {
        let conn = a.next().await;
        Some((Ok(conn), a))
    })
}

/// An accepted connection: holds its place under the limit while open, and
/// fails reading once the handshake timeout passes without the preface.
#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
    closed: Arc<Notify>,
    /// Until the preface is in: the deadline.
    handshake: Option<Pin<Box<Sleep>>>,
    preface_left: usize,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.closed.notify_waiters();
    }
}

impl Connected for Conn {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.stream.connect_info()
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        let Some(deadline) = self.handshake.as_mut() else {
            return polled;
        };
        match polled {
            Poll::Ready(Ok(())) => {
                let read = buf.filled().len() - before;
                self.preface_left = self.preface_left.saturating_sub(read);
                if self.preface_left == 0 {
                    self.handshake = None;
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if deadline.as_mut().poll(cx).is_ready() => {
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no HTTP/2 preface within the handshake timeout",
                )))
            }
            other => other,
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
