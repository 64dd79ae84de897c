//! The `mock-controller` binary as a child process on port 0: its ports
//! come from its log, every later log line stays readable.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The running binary; killed if the test ends before stopping it.
pub struct Binary {
    pub child: Child,
    /// Every stderr line, in order.
    pub lines: mpsc::Receiver<String>,
    pub intent: String,
    pub admin: String,
    /// Lines read while waiting for the ports.
    pub startup: Vec<String>,
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn addr_in(line: &str) -> Option<String> {
    let start = line.find("Some(")? + 5;
    let end = line[start..].find(')')? + start;
    Some(line[start..end].to_owned())
}

/// Start the binary on hawk with `args` added; with `fd_limit`, under that
/// descriptor limit (soft and hard, so it cannot raise it).
pub fn start(args: &[&str], fd_limit: Option<u32>) -> Binary {
    let topo = concat!(env!("CARGO_MANIFEST_DIR"), "/../topologies/hawk.yaml");
    let exe = env!("CARGO_BIN_EXE_mock-controller");
    let mut cmd = match fd_limit {
        // The shell's `ulimit -n` sets both limits, then execs the binary.
        Some(n) => {
            let mut c = Command::new("sh");
            c.args(["-c", &format!("ulimit -n {n} && exec \"$0\" \"$@\""), exe]);
            c
        }
        None => Command::new(exe),
    };
    let child = cmd
        .args(["--topology", topo, "--listen", "127.0.0.1:0"])
        .args(["--admin", "127.0.0.1:0"])
        .args(args)
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut b = Binary {
        child,
        lines: mpsc::channel().1,
        intent: String::new(),
        admin: String::new(),
        startup: Vec::new(),
    };
    let stderr = b.child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    b.lines = rx;
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    while b.intent.is_empty() || b.admin.is_empty() {
        let line = b
            .lines
            .recv_timeout(Duration::from_secs(20))
            .expect("no listening log line");
        if line.contains("intent service listening") {
            b.intent = addr_in(&line).unwrap();
        } else if line.contains("admin service listening") {
            b.admin = addr_in(&line).unwrap();
        }
        b.startup.push(line);
    }
    b
}
