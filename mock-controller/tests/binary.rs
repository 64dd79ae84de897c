//! The `mock-controller` binary end to end: start on port 0, learn the
//! ports from its log, answer a request, change a link, stop on SIGTERM.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::binary;
use common::{intent, request, sids, HOST_A, HOST_B, LOWER, UPPER};
use intent_proto::api::{self, intent_controller_client::IntentControllerClient, IntentType};

#[tokio::test]
async fn binary_serves_hawk_and_stops_on_sigterm() {
    let mut guard = binary::start(&[], None);
    for line in &guard.startup {
        assert!(
            !line.contains("\u{1b}["),
            "no colours when not a terminal: {line}"
        );
    }
    let (intent_addr, admin_addr) = (guard.intent.clone(), guard.admin.clone());

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

    let pid = libc::pid_t::try_from(guard.child.id()).unwrap();
    // SAFETY: plain kill(2) on our own child, not reaped yet (`guard` owns it).
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    // The open stream ends and the process exits cleanly.
    let end = tokio::time::timeout(deadline, results.message())
        .await
        .unwrap();
    assert!(matches!(end, Ok(None)), "{end:?}");
    let status = tokio::task::spawn_blocking(move || {
        let s = guard.child.wait();
        (s, guard)
    });
    let (status, _guard) = tokio::time::timeout(deadline, status)
        .await
        .unwrap()
        .unwrap();
    assert!(status.unwrap().success());
}

/// A request with a 60 kB address is logged with a short prefix of it only.
#[tokio::test]
async fn logs_never_carry_unbounded_input() {
    let guard = binary::start(&[], None);
    let mut client = IntentControllerClient::connect(format!("http://{}", guard.intent))
        .await
        .unwrap();
    let huge = format!("fcbb:cc00:2::{}", "a".repeat(60_000));
    let req = request(HOST_A, &huge, vec![intent(IntentType::HighBandwidth, &[])]);
    let mut results = client
        .get_intent_path(tokio_stream::iter([req]))
        .await
        .unwrap()
        .into_inner();
    let answer = tokio::time::timeout(Duration::from_secs(20), results.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(answer.error.is_some());
    let logged = loop {
        let line = guard.lines.recv_timeout(Duration::from_secs(20)).unwrap();
        if line.contains("no path") {
            break line;
        }
    };
    assert!(logged.len() < 500, "{} bytes: {logged:.300}", logged.len());
    assert!(logged.contains("60013 bytes"), "{logged}");
}
