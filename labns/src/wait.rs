//! The one deadline wait: poll a condition until it holds or a deadline
//! passes, with a [`Timeout`] that says what was awaited and how it last
//! looked. Sync ([`Wait::until`], [`Wait::try_until`]) for threads, async
//! ([`Wait::try_until_async`]) for a namespace thread's current-thread
//! runtime, and [`Wait::for_line`] for "the child printed `ready`".
//!
//! The check runs at least once, and once more after the deadline before
//! giving up, so a slow poll never reports a timeout for a condition that holds.

use std::fmt::Display;
use std::future::Future;
use std::io::{BufRead, BufReader, Read};
use std::ops::ControlFlow;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// A condition did not hold in time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("timed out after {} waiting for {what}{}", fmt_limit(*limit), last.as_ref().map(|l| format!(" ({l})")).unwrap_or_default())]
pub struct Timeout {
    /// What was awaited ("carrier on r1-0 in lab-r1").
    pub what: String,
    pub limit: Duration,
    /// How it looked at the last check, when the check said.
    pub last: Option<String>,
}

fn fmt_limit(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// How long to wait for what, and how often to look.
#[derive(Debug, Clone)]
pub struct Wait {
    what: String,
    limit: Duration,
    every: Duration,
}

impl Wait {
    /// Wait up to `limit` for `what` (named in the timeout error), looking
    /// every 2 ms (change with [`Wait::every`]).
    pub fn new(what: impl Into<String>, limit: Duration) -> Wait {
        Wait {
            what: what.into(),
            limit,
            every: Duration::from_millis(2),
        }
    }

    /// Poll interval.
    pub fn every(mut self, interval: Duration) -> Wait {
        self.every = interval;
        self
    }

    /// The error for this wait, with how the condition last looked.
    pub fn timeout(&self, last: Option<String>) -> Timeout {
        Timeout {
            what: self.what.clone(),
            limit: self.limit,
            last,
        }
    }

    /// Poll `check` until it breaks with a value; `Continue(state)` says how
    /// it looks now (reported in the timeout).
    pub fn until<T, W: Display>(
        &self,
        mut check: impl FnMut() -> ControlFlow<T, W>,
    ) -> Result<T, Timeout> {
        self.try_until(|| Ok::<_, Timeout>(check()))
    }

    /// Poll `cond` until it is true.
    pub fn until_true(&self, mut cond: impl FnMut() -> bool) -> Result<(), Timeout> {
        self.until(|| {
            if cond() {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue("not yet")
            }
        })
    }

    /// Poll a fallible `check`: an error from it ends the wait at once.
    pub fn try_until<T, W: Display, E: From<Timeout>>(
        &self,
        mut check: impl FnMut() -> Result<ControlFlow<T, W>, E>,
    ) -> Result<T, E> {
        let deadline = Instant::now() + self.limit;
        loop {
            let past = Instant::now() >= deadline;
            match check()? {
                ControlFlow::Break(v) => return Ok(v),
                ControlFlow::Continue(state) if past => {
                    return Err(self.timeout(Some(state.to_string())).into())
                }
                ControlFlow::Continue(_) => std::thread::sleep(self.every),
            }
        }
    }

    /// [`Wait::try_until`] for async checks, sleeping with tokio's timer
    /// (the runtime needs its time driver).
    pub async fn try_until_async<T, W, E, F, Fut>(&self, mut check: F) -> Result<T, E>
    where
        W: Display,
        E: From<Timeout>,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<ControlFlow<T, W>, E>>,
    {
        let deadline = tokio::time::Instant::now() + self.limit;
        loop {
            let past = tokio::time::Instant::now() >= deadline;
            match check().await? {
                ControlFlow::Break(v) => return Ok(v),
                ControlFlow::Continue(state) if past => {
                    return Err(self.timeout(Some(state.to_string())).into())
                }
                ControlFlow::Continue(_) => tokio::time::sleep(self.every).await,
            }
        }
    }

    /// Read `reader` line by line until a line satisfies `matches`; return
    /// it. The lines are read on a helper thread that keeps draining the
    /// stream after the match (so the writer never blocks on a full pipe
    /// nor fails on a closed one) until it ends.
    pub fn for_line<R>(
        &self,
        reader: R,
        matches: impl Fn(&str) -> bool + Send + 'static,
    ) -> Result<String>
    where
        R: Read + Send + 'static,
    {
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("wait-for-line".into())
            .spawn(move || drain_lines(reader, matches, tx))
            .map_err(|source| Error::Thread {
                what: format!("reading lines until {}", self.what),
                source,
            })?;
        match rx.recv_timeout(self.limit) {
            Ok(LineEvent::Matched(line)) => Ok(line),
            Ok(LineEvent::Ended { last, error }) => Err(Error::StreamEnded {
                what: self.what.clone(),
                last,
                error: error.map(|e| e.to_string()),
            }),
            Err(_) => Err(self.timeout(None).into()),
        }
    }
}

enum LineEvent {
    Matched(String),
    Ended {
        last: Option<String>,
        error: Option<std::io::Error>,
    },
}

fn drain_lines<R: Read>(reader: R, matches: impl Fn(&str) -> bool, tx: mpsc::Sender<LineEvent>) {
    let mut found = false;
    let mut last = None;
    for line in BufReader::new(reader).lines() {
        match line {
            Ok(l) if !found && matches(&l) => {
                found = true;
                let _ = tx.send(LineEvent::Matched(l));
            }
            Ok(l) => last = Some(l),
            Err(e) => {
                let _ = tx.send(LineEvent::Ended {
                    last,
                    error: Some(e),
                });
                return;
            }
        }
    }
    if !found {
        let _ = tx.send(LineEvent::Ended { last, error: None });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn returns_the_value_once_the_condition_holds() {
        let n = Cell::new(0);
        let got = Wait::new("three polls", Duration::from_secs(5)).until(|| {
            n.set(n.get() + 1);
            if n.get() == 3 {
                ControlFlow::Break("done")
            } else {
                ControlFlow::Continue(n.get())
            }
        });
        assert_eq!(got, Ok("done"));
        assert_eq!(n.get(), 3);
    }

    #[test]
    fn times_out_naming_what_and_the_last_state() {
        let started = Instant::now();
        let err = Wait::new("the moon", Duration::from_millis(30))
            .until(|| ControlFlow::<(), _>::Continue("still full"))
            .unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(30));
        assert_eq!(
            err.to_string(),
            "timed out after 30 ms waiting for the moon (still full)"
        );
        assert_eq!(err.last.as_deref(), Some("still full"));
    }

    #[test]
    fn a_check_error_ends_the_wait_at_once() {
        let err = Wait::new("x", Duration::from_secs(60))
            .try_until(|| {
                Err::<ControlFlow<(), &str>, _>(Error::from(Timeout {
                    what: "inner".into(),
                    limit: Duration::ZERO,
                    last: None,
                }))
            })
            .unwrap_err();
        assert!(err.to_string().contains("inner"), "{err}");
    }

    #[test]
    fn a_zero_limit_still_checks_once() {
        assert_eq!(
            Wait::new("x", Duration::ZERO).until(|| ControlFlow::<_, &str>::Break(7)),
            Ok(7)
        );
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn async_wait_times_out_on_the_tokio_clock() {
        let polls = Cell::new(0);
        let err = Wait::new("carrier", Duration::from_secs(10))
            .every(Duration::from_secs(1))
            .try_until_async(|| {
                polls.set(polls.get() + 1);
                async { Ok::<_, Timeout>(ControlFlow::<(), _>::Continue("no carrier on a0")) }
            })
            .await
            .unwrap_err();
        assert_eq!(err.last.as_deref(), Some("no carrier on a0"));
        // Polls at 0, 1, ..., 10 s: the last one after the deadline.
        assert_eq!(polls.get(), 11);
    }

    #[test]
    fn for_line_finds_the_line_and_reports_a_stream_that_ended() {
        let w = Wait::new("ready", Duration::from_secs(5));
        let text = "starting\nready\nmore\n";
        assert_eq!(
            w.for_line(std::io::Cursor::new(text), |l| l == "ready")
                .unwrap(),
            "ready"
        );
        let err = w
            .for_line(std::io::Cursor::new("starting\nfailed: bind\n"), |l| {
                l == "ready"
            })
            .unwrap_err();
        assert!(
            matches!(&err, Error::StreamEnded { last: Some(l), .. } if l == "failed: bind"),
            "{err:?}"
        );
    }

    #[test]
    fn for_line_times_out_on_a_silent_pipe() {
        let (reader, _writer) = std::os::unix::net::UnixStream::pair().unwrap();
        let err = Wait::new("ready", Duration::from_millis(50))
            .for_line(reader, |l| l == "ready")
            .unwrap_err();
        assert!(matches!(err, Error::Timeout(_)), "{err:?}");
    }
}
