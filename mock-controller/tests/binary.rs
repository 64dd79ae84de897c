//! The `mock-controller` binary end to end: start on port 0, learn the
//! ports from its log, answer a request, change a link, stop on SIGTERM.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{intent, request, sids, HOST_A, HOST_B, LOWER, UPPER};
use intent_proto::api::{self, intent_controller_client::IntentControllerClient, IntentType};

/// Kills the child if the test fails before stopping it.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn addr_in(line: &str) -> Option<String> {
    let start = line.find("Some(")? + 5;
    let end = line[start..].find(')')? + start;
    Some(line[start..end].to_owned())
}

#[tokio::test]
async fn binary_serves_hawk_and_stops_on_sigterm() {
    let topo = concat!(env!("CARGO_MANIFEST_DIR"), "/../topologies/hawk.yaml");
    let child = Command::new(env!("CARGO_BIN_EXE_mock-controller"))
        .args([
            "--topology",
            topo,
            "--listen",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
        ])
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut guard = Guard(child);
    let stderr = guard.0.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let (mut intent_addr, mut admin_addr) = (None, None);
    while intent_addr.is_none() || admin_addr.is_none() {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("no listening log line");
        assert!(
            !line.contains("\u{1b}["),
            "no colours when not a terminal: {line}"
        );
        if line.contains("intent service listening") {
            intent_addr = addr_in(&line);
        } else if line.contains("admin service listening") {
            admin_addr = addr_in(&line);
        }
    }
    let (intent_addr, admin_addr) = (intent_addr.unwrap(), admin_addr.unwrap());

    let mut client = IntentControllerClient::connect(format!("http://{intent_addr}"))
        .await
        .unwrap();
    let (req_tx, req_rx) = tokio::sync::mpsc::channel(4);
    let mut results = client
        .get_intent_path(tokio_stream::wrappers::ReceiverStream::new(req_rx))
        .await
        .unwrap()
        .into_inner();
    req_tx
        .send(request(
            HOST_A,
            HOST_B,
            vec![intent(IntentType::HighBandwidth, &[])],
        ))
        .await
        .unwrap();
    let deadline = Duration::from_secs(20);
    let first = tokio::time::timeout(deadline, results.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.ipv6_sid_addresses, sids(&UPPER));
    let reply = mock_controller::set_link(
        &admin_addr,
        api::SetLinkRequest {
            a: "vpp1".into(),
            b: "vpp2".into(),
            up: Some(false),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(reply.results_pushed, 1);
    let push = tokio::time::timeout(deadline, results.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(push.ipv6_sid_addresses, sids(&LOWER));

    let pid = libc::pid_t::try_from(guard.0.id()).unwrap();
    // SAFETY: plain kill(2) on our own child, not reaped yet (`guard` owns it).
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    // The open stream ends and the process exits cleanly.
    let end = tokio::time::timeout(deadline, results.message())
        .await
        .unwrap();
    assert!(matches!(end, Ok(None)), "{end:?}");
    let status = tokio::task::spawn_blocking(move || {
        let s = guard.0.wait();
        (s, guard)
    });
    let (status, _guard) = tokio::time::timeout(deadline, status)
        .await
        .unwrap()
        .unwrap();
    assert!(status.unwrap().success());
}
