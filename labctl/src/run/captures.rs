//! The capture rings of a run: one [`labns::Capture`] per link, opened on
//! the link's `a` end inside its namespace before any traffic, read by one
//! thread each until the run stops them. A frame the `a` end sent crossed
//! the link a→b; one it received, b→a.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use labns::{Capture, CaptureOptions, Wait};
use topology::Topology;

use crate::capture::{CapturedPacket, Direction, LinkCapture};
use crate::error::{Error, Result};
use crate::plan::netns_name;

/// How long every ring must have been quiet before the captures stop (the
/// last packets of a flow may still cross routers after its sockets closed).
const QUIET: Duration = Duration::from_millis(50);
/// The longest the stop waits for that quiet.
const QUIET_LIMIT: Duration = Duration::from_secs(2);
/// How often a reader looks at its stop flag.
const POLL: Duration = Duration::from_millis(50);

/// Every link's capture, running.
#[derive(Debug)]
pub struct Captures {
    stop: Arc<AtomicBool>,
    /// Wall-clock nanoseconds of the last frame any ring delivered.
    last_frame: Arc<AtomicU64>,
    readers: Vec<JoinHandle<Result<LinkCapture>>>,
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

impl Captures {
    /// Open a ring on every link of `topo` (lab `lab`) and start reading.
    pub fn start(lab: &str, topo: &Topology) -> Result<Captures> {
        let stop = Arc::new(AtomicBool::new(false));
        let last_frame = Arc::new(AtomicU64::new(now_nanos()));
        let mut readers = Vec::with_capacity(topo.links.len());
        for link in &topo.links {
            let ifname = link.a.ifname.clone();
            let ns = netns_name(lab, &link.a.node);
            let cap = labns::run_in(&ns, move || {
                Capture::open(&ifname, &CaptureOptions::default())
            })??;
            let (stop, last, id) = (Arc::clone(&stop), Arc::clone(&last_frame), link.id);
            let reader = std::thread::Builder::new()
                .name(format!("capture-{id}"))
                .spawn(move || read(cap, id, &stop, &last))
                .map_err(|source| Error::Sys {
                    op: "start a capture thread",
                    what: format!("link {id}"),
                    source,
                })?;
            readers.push(reader);
        }
        Ok(Captures {
            stop,
            last_frame,
            readers,
        })
    }

    /// Wait until the rings have been quiet a moment, stop reading and
    /// return every link's frames and drops.
    pub fn finish(self) -> Result<Vec<LinkCapture>> {
        let last = Arc::clone(&self.last_frame);
        // Quiet by condition; at worst after QUIET_LIMIT the capture stops anyway.
        let _ = Wait::new("the capture rings to be quiet", QUIET_LIMIT)
            .every(Duration::from_millis(10))
            .until_true(|| {
                now_nanos().saturating_sub(last.load(Ordering::Relaxed)) >= QUIET.as_nanos() as u64
            });
        self.stop.store(true, Ordering::SeqCst);
        self.readers
            .into_iter()
            .map(|r| r.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    }
}

/// Read `cap` until `stop`, then drain it and read its drop count.
fn read(mut cap: Capture, link: usize, stop: &AtomicBool, last: &AtomicU64) -> Result<LinkCapture> {
    let mut packets = Vec::new();
    let mut push = |f: labns::Frame| {
        last.store(now_nanos(), Ordering::Relaxed);
        packets.push(CapturedPacket {
            ts: f.ts,
            direction: if f.outgoing {
                Direction::AToB
            } else {
                Direction::BToA
            },
            frame: f.data,
            orig_len: f.len,
        });
    };
    let started = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        if let Some(f) = cap.next(POLL)? {
            push(f);
        }
    }
    for f in cap.drain() {
        push(f);
    }
    let stats = cap.stats()?;
    tracing::debug!(
        "capture of link {link}: {} frames, {} dropped in {:?}",
        packets.len(),
        stats.drops,
        started.elapsed()
    );
    Ok(LinkCapture {
        link,
        packets,
        dropped: stats.drops,
    })
}
