//! The controller connection: one bidirectional `GetIntentPath` stream.
//!
//! The owner publishes the requests it wants answered (a watch channel);
//! this task sends each one once per stream, and every request again on a
//! new stream (full resync after a reconnect). Every result, first answer
//! or push, goes to the owner as it arrives. When the stream fails the
//! paths stay as they are (fail-static) and the task reconnects with
//! exponential backoff and jitter.

use std::collections::BTreeSet;
use std::net::Ipv6Addr;
use std::time::{Duration, Instant, SystemTime};

use intent_proto::api::intent_controller_client::IntentControllerClient;
use intent_proto::api::PathRequest;
use rand::Rng;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Endpoint;
use tracing::{info, warn};

use crate::owner::Update;
use crate::request::RequestKey;
use crate::status::{unix_seconds, ControllerReport};

/// Reconnect timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    /// The wait before attempt `n` (0-based) after a failure: the doubled
    /// delay, capped, with "equal jitter" (a random point in its upper half)
    /// so agents that lost one controller do not return in lockstep.
    pub fn delay(&self, n: u32) -> Duration {
        let full = self.initial.saturating_mul(1u32 << n.min(20)).min(self.max);
        let half = full / 2;
        half + rand::rng().random_range(Duration::ZERO..=half)
    }
}

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct ControllerOptions {
    /// `http://[addr]:port`.
    pub url: String,
    pub source: Ipv6Addr,
    pub backoff: Backoff,
}

/// Stale sessions a stream may carry (requests no longer wanted, which the
/// protocol cannot cancel) before the agent starts a fresh stream.
const STALE_SLACK: usize = 64;

struct Connection {
    report: ControllerReport,
}

impl Connection {
    async fn publish(
        &mut self,
        owner: &mpsc::Sender<Update>,
        state: &str,
        error: Option<String>,
    ) -> bool {
        self.report.state = state.to_owned();
        self.report.since_unix = unix_seconds(SystemTime::now());
        if error.is_some() {
            self.report.last_error = error;
        }
        owner
            .send(Update::Controller(self.report.clone()))
            .await
            .is_ok()
    }
}

/// Keep one stream to the controller until `stop` turns true.
pub async fn run(
    options: ControllerOptions,
    mut requests: watch::Receiver<BTreeSet<RequestKey>>,
    owner: mpsc::Sender<Update>,
    mut stop: watch::Receiver<bool>,
) {
    let mut conn = Connection {
        report: ControllerReport {
            url: options.url.clone(),
            state: "connecting".into(),
            since_unix: unix_seconds(SystemTime::now()),
            last_error: None,
            requests: 0,
            connections: 0,
        },
    };
    let mut failures = 0u32;
    loop {
        if !conn.publish(&owner, "connecting", None).await {
            return;
        }
        let outcome = tokio::select! {
            r = stream_once(&options, &mut requests, &owner, &mut conn) => r,
            _ = stop.wait_for(|s| *s) => return,
        };
        let error = match outcome {
            Ok(Ended::Owner) => return,
            Ok(Ended::Resync) => {
                info!("restarting the controller stream to drop stale sessions");
                continue;
            }
            Ok(Ended::Closed) => "the controller closed the stream".to_owned(),
            Err(e) => e,
        };
        let wait = if conn.report.state == "connected" {
            failures = 0;
            options.backoff.delay(0)
        } else {
            failures += 1;
            options.backoff.delay(failures)
        };
        warn!(url = %options.url, error = %error, retry_in = ?wait, "controller unreachable; keeping the current paths");
        if !conn.publish(&owner, "disconnected", Some(error)).await {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

enum Ended {
    /// The owner is gone (shutdown).
    Owner,
    /// The server ended the stream cleanly.
    Closed,
    /// Too many stale sessions: start a fresh stream.
    Resync,
}

/// One stream: connect, send every wanted request, then forward results
/// and send new requests as they appear.
async fn stream_once(
    options: &ControllerOptions,
    requests: &mut watch::Receiver<BTreeSet<RequestKey>>,
    owner: &mpsc::Sender<Update>,
    conn: &mut Connection,
) -> Result<Ended, String> {
    let endpoint = Endpoint::from_shared(options.url.clone())
        .map_err(|e| format!("controller URL {}: {e}", options.url))?
        .connect_timeout(Duration::from_secs(5))
        .http2_keep_alive_interval(Duration::from_secs(10))
        .keep_alive_timeout(Duration::from_secs(20));
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let mut client = IntentControllerClient::new(channel);
    let (tx, rx) = mpsc::channel::<PathRequest>(256);
    let mut sent: BTreeSet<RequestKey> = BTreeSet::new();
    // Queue the full set before the call: the resync of a new stream.
    let wanted = requests.borrow_and_update().clone();
    send_new(&tx, &wanted, &mut sent, options.source).await?;
    let mut results = client
        .get_intent_path(ReceiverStream::new(rx))
        .await
        .map_err(|s| format!("GetIntentPath: {}", s.message()))?
        .into_inner();
    conn.report.connections += 1;
    conn.report.requests = wanted.len();
    info!(url = %options.url, requests = wanted.len(), "controller connected; all requests sent");
    if !conn.publish(owner, "connected", None).await {
        return Ok(Ended::Owner);
    }
    loop {
        tokio::select! {
            message = results.message() => match message {
                Ok(Some(result)) => {
                    let update = Update::Result { result, received: Instant::now() };
                    if owner.send(update).await.is_err() {
                        return Ok(Ended::Owner);
                    }
                }
                Ok(None) => return Ok(Ended::Closed),
                Err(status) => return Err(format!("stream: {}", status.message())),
            },
            changed = requests.changed() => {
                if changed.is_err() {
                    return Ok(Ended::Owner);
                }
                let wanted = requests.borrow_and_update().clone();
                if sent.len() > 2 * wanted.len() + STALE_SLACK {
                    return Ok(Ended::Resync);
                }
                send_new(&tx, &wanted, &mut sent, options.source).await?;
                conn.report.requests = wanted.len();
                if !conn.publish(owner, "connected", None).await {
                    return Ok(Ended::Owner);
                }
            }
        }
    }
}

async fn send_new(
    tx: &mpsc::Sender<PathRequest>,
    wanted: &BTreeSet<RequestKey>,
    sent: &mut BTreeSet<RequestKey>,
    source: Ipv6Addr,
) -> Result<(), String> {
    for key in wanted.difference(&sent.clone()) {
        tx.send(key.to_request(source))
            .await
            .map_err(|_| "the request stream closed".to_owned())?;
        sent.insert(key.clone());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_jitters_in_the_upper_half() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        for _ in 0..100 {
            let d0 = b.delay(0);
            assert!(
                d0 >= Duration::from_millis(50) && d0 <= Duration::from_millis(100),
                "{d0:?}"
            );
            let d3 = b.delay(3);
            assert!(
                d3 >= Duration::from_millis(400) && d3 <= Duration::from_millis(800),
                "{d3:?}"
            );
            let d9 = b.delay(9);
            assert!(
                d9 >= Duration::from_millis(500) && d9 <= Duration::from_secs(1),
                "{d9:?}"
            );
        }
    }
}
