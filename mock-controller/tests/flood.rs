//! Idle and half-open connections against the binary under a low descriptor
//! limit (128, soft and hard, so it cannot raise it): the controller keeps
//! serving, closes what sends nothing, warns once, and never spins. Bounded
//! in count (300 idle connections) and time (1 s handshake timeout);
//! loopback only.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{binary, intent, request, sids, HOST_A, HOST_B, UPPER};
use intent_proto::api::{intent_controller_client::IntentControllerClient, IntentType};
use tonic::transport::Endpoint;

const IDLE: usize = 300;
const DEADLINE: Duration = Duration::from_secs(30);

/// This test process holds the idle connections: let it.
fn raise_own_limit() {
    let (_, hard) = mock_controller::raise_fd_limit().unwrap();
    assert!(
        hard >= 2 * IDLE as u64,
        "descriptor hard limit {hard} too low"
    );
}

/// CPU seconds the process has used (user + system).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) in parentheses.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf(3) reads a constant; no memory is involved.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    ticks as f64 / hz as f64
}

/// Open `IDLE` connections that send nothing or half an HTTP/2 preface.
fn flood(addr: &str) -> Vec<TcpStream> {
    let addr = addr.parse().unwrap();
    (0..IDLE)
        .map(|i| {
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("idle connection {i} not even queued: {e}"));
            if i % 2 == 1 {
                // 16 of the preface's 24 bytes.
                let _ = s.write_all(b"PRI * HTTP/2.0\r\n");
            }
            s
        })
        .collect()
}

/// Ask once on a fresh connection; errors while the controller refuses.
async fn ask(addr: &str) -> Result<Vec<String>, String> {
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    let req = request(HOST_A, HOST_B, vec![intent(IntentType::HighBandwidth, &[])]);
    let mut results = IntentControllerClient::new(channel)
        .get_intent_path(tokio_stream::iter([req]))
        .await
        .map_err(|e| e.to_string())?
        .into_inner();
    match results.message().await {
        Ok(Some(r)) => Ok(r.ipv6_sid_addresses),
        other => Err(format!("{other:?}")),
    }
}

/// Until a fresh client is answered (the idle ones block it for a while).
async fn served(addr: &str) -> Vec<String> {
    let start = Instant::now();
    loop {
        match ask(addr).await {
            Ok(sids) => return sids,
            Err(e) => assert!(start.elapsed() < DEADLINE, "never served: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every idle connection ends (closed by the controller) before the deadline.
fn all_closed(idle: Vec<TcpStream>) {
    let start = Instant::now();
    for mut s in idle {
        let left = DEADLINE
            .saturating_sub(start.elapsed())
            .max(Duration::from_millis(1));
        s.set_read_timeout(Some(left)).unwrap();
        let mut buf = [0u8; 256];
        // The server's SETTINGS may come first on a half preface; then EOF.
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) if start.elapsed() < DEADLINE => break,
                Ok(0) | Err(_) => panic!("an idle connection stayed open"),
                Ok(_) => continue,
            }
        }
    }
}

/// Lines of the controller's log that contain `what`, so far.
fn count_logged(b: &binary::Binary, what: &str) -> usize {
    std::iter::from_fn(|| b.lines.try_recv().ok())
        .filter(|l| l.contains(what))
        .count()
}

async fn survives_a_flood(extra: &[&str], warning: &str) {
    raise_own_limit();
    let mut args = vec!["--handshake-timeout", "1"];
    args.extend_from_slice(extra);
    let b = binary::start(&args, Some(128));
    let pid = b.child.id();
    let (cpu_before, start) = (cpu_seconds(pid), Instant::now());
    let idle = flood(&b.intent);
    assert_eq!(served(&b.intent).await, sids(&UPPER));
    all_closed(idle);
    let (cpu, elapsed) = (cpu_seconds(pid) - cpu_before, start.elapsed().as_secs_f64());
    assert!(
        cpu < elapsed / 2.0,
        "{cpu:.2} s of CPU in {elapsed:.2} s: the accept loop spins"
    );
    // Served again, at once, now that the flood is gone.
    assert_eq!(served(&b.intent).await, sids(&UPPER));
    assert_eq!(count_logged(&b, warning), 1, "warned once");
}

/// The connection limit (default: from the descriptor limit) is reached
/// first: new connections are closed at once until idle ones time out.
#[tokio::test]
async fn idle_connections_meet_the_connection_limit() {
    survives_a_flood(&[], "connection limit reached").await;
}

/// A connection limit above the descriptor limit: accept fails with EMFILE,
/// and the controller waits for a connection to close instead of retrying.
#[tokio::test]
async fn idle_connections_meet_the_descriptor_limit() {
    survives_a_flood(&["--max-connections", "1000"], "descriptor limit reached").await;
}
