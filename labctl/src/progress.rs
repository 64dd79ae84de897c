//! Progress output: a bar on a terminal (indicatif), plain lines otherwise
//! (logs, CI, pipes). Always on stderr so stdout stays machine-readable.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Reports the steps of a long operation.
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
    start: Instant,
    last: Instant,
    quiet: bool,
}

impl Progress {
    /// A reporter for `steps` steps; `quiet` prints nothing.
    pub fn new(steps: u64, title: &str, quiet: bool) -> Progress {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(steps);
            if let Ok(style) = ProgressStyle::with_template("{prefix} [{bar:20}] {pos}/{len} {msg}")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(title.to_string());
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        let now = Instant::now();
        Progress {
            bar,
            start: now,
            last: now,
            quiet,
        }
    }

    /// One step finished.
    pub fn step(&mut self, msg: &str) {
        let now = Instant::now();
        let dt = now - self.last;
        self.last = now;
        match &self.bar {
            Some(bar) => {
                bar.inc(1);
                bar.set_message(msg.to_string());
            }
            None if !self.quiet => eprintln!("labctl: {msg} ({:.1} ms)", dt.as_secs_f64() * 1e3),
            None => {}
        }
    }

    /// Everything finished: the total time.
    pub fn finish(&self, msg: &str) {
        let total = self.start.elapsed();
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        if !self.quiet {
            eprintln!("labctl: {msg} in {:.1} ms", total.as_secs_f64() * 1e3);
        }
    }

    /// Stop drawing (an error follows).
    pub fn abandon(&self) {
        if let Some(bar) = &self.bar {
            bar.abandon();
        }
    }
}
