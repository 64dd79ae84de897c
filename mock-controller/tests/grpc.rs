//! The controller over loopback gRPC with real tonic clients: streams,
//! isolation, pushes on admin changes, validation, vanishing clients,
//! static mode and shutdown. Waits are on conditions with deadlines.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use intent_proto::api::{
    self, intent_controller_client::IntentControllerClient, IntentType as I, ValueType as V,
};
mod common;

use common::{graph_of, hawk_text, intent, request, sids, HOST_A, HOST_B, LOWER, UPPER};
use mock_controller::controller::Limits;
use mock_controller::static_table::StaticTable;
use mock_controller::{AdminClient, Controller, Options, Source};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;

const DEADLINE: Duration = Duration::from_secs(20);

struct Running {
    intent: SocketAddr,
    admin: SocketAddr,
    ctrl: Controller,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), mock_controller::RunError>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

fn hawk() -> Source {
    Source::Computed(graph_of(&hawk_text()))
}

async fn start(source: Source) -> Running {
    start_with(source, Options::default()).await
}

async fn start_with(source: Source, options: Options) -> Running {
    let bound = mock_controller::bind(mock_controller::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        admin: Some("127.0.0.1:0".parse().unwrap()),
        source,
        options,
        connections: mock_controller::ConnectionLimits::default(),
    })
    .await
    .unwrap();
    let intent = bound.intent_addr().unwrap();
    let admin = bound.admin_addr().unwrap().unwrap();
    let ctrl = bound.controller();
    let (tx, rx) = oneshot::channel();
    let task = tokio::spawn(bound.serve(async {
        let _ = rx.await;
    }));
    Running {
        intent,
        admin,
        ctrl,
        stop: Some(tx),
        task,
    }
}

/// One client stream: a request sender and the result stream.
struct Client {
    tx: mpsc::Sender<api::PathRequest>,
    rx: Streaming<api::PathResult>,
}

async fn open(addr: SocketAddr) -> Client {
    let mut client = IntentControllerClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let (tx, rx) = mpsc::channel(16);
    let rx = client
        .get_intent_path(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    Client { tx, rx }
}

impl Client {
    async fn send(&self, req: api::PathRequest) {
        self.tx.send(req).await.unwrap();
    }

    async fn next(&mut self) -> api::PathResult {
        tokio::time::timeout(DEADLINE, self.rx.message())
            .await
            .expect("no result before the deadline")
            .unwrap()
            .expect("stream ended")
    }

    async fn ask(&mut self, req: api::PathRequest) -> api::PathResult {
        self.send(req).await;
        self.next().await
    }

    /// Prove nothing else is queued for this stream: a marker request's
    /// answer must be the very next message (results are FIFO per stream).
    /// The marker is invalid on purpose, so it opens no session.
    async fn assert_nothing_pending(&mut self) {
        let marker = request(HOST_A, "marker", vec![intent(I::LowJitter, &[])]);
        let got = self.ask(marker).await;
        assert_eq!(
            got.ipv6_destination_address, "marker",
            "unexpected push: {got:?}"
        );
    }
}

fn hb() -> api::PathRequest {
    request(HOST_A, HOST_B, vec![intent(I::HighBandwidth, &[])])
}

fn ll() -> api::PathRequest {
    request(HOST_A, HOST_B, vec![intent(I::LowLatency, &[])])
}

async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn link(a: &str, b: &str, up: bool) -> api::SetLinkRequest {
    api::SetLinkRequest {
        a: a.into(),
        b: b.into(),
        up: Some(up),
        ..Default::default()
    }
}

#[tokio::test]
async fn several_requests_on_one_stream() {
    let srv = start(hawk()).await;
    let mut c = open(srv.intent).await;
    c.send(hb()).await;
    c.send(ll()).await;
    c.send(request(HOST_A, "bogus", vec![])).await;
    let r1 = c.next().await;
    let r2 = c.next().await;
    let r3 = c.next().await;
    assert_eq!(
        (r1.intents.clone(), r1.ipv6_sid_addresses),
        (hb().intents, sids(&UPPER))
    );
    assert_eq!(
        (r2.intents.clone(), r2.ipv6_sid_addresses),
        (ll().intents, sids(&LOWER))
    );
    assert!(r3.error.unwrap().starts_with("ipv6_destination_address: "));
    // Two valid requests are sessions; the invalid one is not.
    assert_eq!(srv.ctrl.counts(), (1, 2));
    let sessions = AdminClient::connect(&srv.admin.to_string())
        .await
        .unwrap()
        .list_sessions()
        .await
        .unwrap();
    assert_eq!(sessions.len(), 2);
    // The same, one page at a time.
    let mut admin = AdminClient::connect(&srv.admin.to_string()).await.unwrap();
    let first = admin.list_sessions_page(None, 1).await.unwrap();
    assert_eq!(first.sessions, sessions[..1]);
    let next = first.next_after_session_id;
    assert_eq!(next, Some(sessions[0].session_id));
    let second = admin.list_sessions_page(next, 1).await.unwrap();
    assert_eq!(second.sessions, sessions[1..]);
    assert_eq!(second.next_after_session_id, None);
    let hb_session = sessions.iter().find(|s| s.request == Some(hb())).unwrap();
    assert_eq!(
        hb_session.path_nodes,
        ["host-a", "site-a", "vpp1", "vpp2", "vpp4", "vpp6", "site-b", "host-b"]
    );
    assert_eq!(
        hb_session.current.as_ref().unwrap().ipv6_sid_addresses,
        sids(&UPPER)
    );
}

#[tokio::test]
async fn admin_change_pushes_to_the_right_stream_only() {
    let srv = start(hawk()).await;
    let mut a = open(srv.intent).await;
    let mut b = open(srv.intent).await;
    assert_eq!(a.ask(hb()).await.ipv6_sid_addresses, sids(&UPPER));
    assert_eq!(b.ask(ll()).await.ipv6_sid_addresses, sids(&LOWER));
    let mut admin = AdminClient::connect(&srv.admin.to_string()).await.unwrap();
    // The upper path breaks: only high-bandwidth (stream a) uses it, so
    // only it is recomputed, and it changes.
    let reply = admin.set_link(link("vpp2", "vpp4", false)).await.unwrap();
    assert_eq!((reply.sessions_recomputed, reply.results_pushed), (1, 1));
    let push = a.next().await;
    assert_eq!(push.intents, hb().intents);
    assert_eq!(push.ipv6_sid_addresses, sids(&LOWER));
    b.assert_nothing_pending().await;
    a.assert_nothing_pending().await;
    // Same metric again: nothing changed, nothing pushed.
    let reply = admin.set_link(link("vpp2", "vpp4", false)).await.unwrap();
    assert_eq!(reply.results_pushed, 0);
    // The lower path breaks too: both streams get an empty list + reason.
    let reply = admin.set_link(link("vpp3", "vpp5", false)).await.unwrap();
    assert_eq!(reply.results_pushed, 2);
    for s in [&mut a, &mut b] {
        let r = s.next().await;
        assert!(r.ipv6_sid_addresses.is_empty());
        assert_eq!(r.error.as_deref(), Some("no path from host-a to host-b"));
    }
    // The upper path is back: each gets its own new result.
    admin.set_link(link("vpp4", "vpp2", true)).await.unwrap();
    assert_eq!(a.next().await.ipv6_sid_addresses, sids(&UPPER));
    let rb = b.next().await;
    assert_eq!(
        (rb.intents, rb.ipv6_sid_addresses),
        (ll().intents, sids(&UPPER))
    );
    // Metric change through the one-call client labctl uses.
    let reply = mock_controller::set_link(
        &format!("http://{}", srv.admin),
        api::SetLinkRequest {
            a: "vpp2".into(),
            b: "vpp4".into(),
            latency_us: Some(100),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(reply.link.unwrap().a_to_b.unwrap().latency_us, Some(100));
}

#[tokio::test]
async fn admin_errors_are_statuses() {
    let srv = start(hawk()).await;
    let mut admin = AdminClient::connect(&srv.admin.to_string()).await.unwrap();
    let e = admin
        .set_link(link("vpp1", "nope", false))
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), "controller refused: unknown node \"nope\"");
    let e = admin
        .set_link(link("vpp1", "vpp6", false))
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "controller refused: no link between vpp1 and vpp6"
    );
    let mut bad = link("vpp1", "vpp2", true);
    bad.loss_pct = Some(150.0);
    let e = admin.set_link(bad).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "controller refused: loss_pct: 150 is outside 0..100 %"
    );
    // The topology file's rules, for the admin API too.
    let mut zero = link("vpp1", "vpp2", true);
    zero.bandwidth_kbps = Some(0);
    let e = admin.set_link(zero).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "controller refused: bandwidth_kbps: bandwidth 0 kbit/s is below 1kbit"
    );
    let mut zero = link("vpp1", "vpp2", true);
    zero.igp_metric = Some(0);
    let e = admin.set_link(zero).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "controller refused: igp_metric: IGP metric must be at least 1"
    );
    let link_state = &admin.list_links().await.unwrap()[1];
    assert_eq!(
        (link_state.a.as_str(), link_state.b.as_str()),
        ("vpp1", "vpp2")
    );
    assert_eq!(
        link_state.igp_metric, 10,
        "a refused change changes nothing"
    );
    assert_eq!(admin.list_links().await.unwrap().len(), 14);
    let e = admin
        .set_static_path(api::SetStaticPathRequest::default())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("computed mode"), "{e}");
}

#[tokio::test]
async fn every_validation_case_names_its_field_and_the_stream_stays_open() {
    let srv = start(hawk()).await;
    let mut c = open(srv.intent).await;
    let cases: Vec<(api::PathRequest, &str)> = vec![
        (
            request("not-ipv6", HOST_B, vec![intent(I::LowLatency, &[])]),
            "ipv6_source_address",
        ),
        (
            request(HOST_A, "", vec![intent(I::LowLatency, &[])]),
            "ipv6_destination_address",
        ),
        (request(HOST_A, HOST_B, vec![]), "intents"),
        (
            request(
                HOST_A,
                HOST_B,
                vec![intent(I::LowLatency, &[]), intent(I::LowLatency, &[])],
            ),
            "intents[1].type",
        ),
        (
            request(
                HOST_A,
                HOST_B,
                vec![intent(I::FlexAlgo, &[(V::FlexAlgoNr, Some(127), None)])],
            ),
            "intents[0].values[0].number_value",
        ),
        (
            request(
                HOST_A,
                HOST_B,
                vec![intent(I::FlexAlgo, &[(V::FlexAlgoNr, Some(256), None)])],
            ),
            "intents[0].values[0].number_value",
        ),
        (
            request(
                HOST_A,
                HOST_B,
                vec![intent(I::LowLatency, &[(V::MinValue, Some(5), None)])],
            ),
            "intents[0].values[0].type",
        ),
        (
            request(
                HOST_A,
                HOST_B,
                vec![intent(I::LowUtilization, &[(V::MaxValue, Some(5), None)])],
            ),
            "intents[0].values[0].type",
        ),
        (
            request(
                HOST_A,
                HOST_B,
                vec![intent(I::HighBandwidth, &[(V::MaxValue, Some(5), None)])],
            ),
            "intents[0].values[0].type",
        ),
        (
            request(
                HOST_A,
                HOST_B,
                vec![intent(I::LowJitter, &[(V::MaxValue, Some(-1), None)])],
            ),
            "intents[0].values[0].number_value",
        ),
        (
            request(HOST_A, HOST_B, vec![intent(I::Unspecified, &[])]),
            "intents[0].type",
        ),
    ];
    for (req, field) in cases {
        let r = c.ask(req.clone()).await;
        assert_eq!(r.intents, req.intents);
        assert!(r.ipv6_sid_addresses.is_empty());
        let err = r.error.unwrap_or_default();
        assert!(
            err.starts_with(&format!("{field}: ")),
            "{field}: got {err:?}"
        );
    }
    // Still open and answering.
    assert_eq!(c.ask(hb()).await.ipv6_sid_addresses, sids(&UPPER));
    assert_eq!(srv.ctrl.counts(), (1, 1));
}

#[tokio::test]
async fn a_vanishing_client_leaves_the_controller_healthy() {
    let srv = start(hawk()).await;
    let mut stay = open(srv.intent).await;
    assert_eq!(stay.ask(hb()).await.ipv6_sid_addresses, sids(&UPPER));
    {
        let mut gone = open(srv.intent).await;
        assert_eq!(gone.ask(hb()).await.ipv6_sid_addresses, sids(&UPPER));
        gone.send(ll()).await;
        // Dropped mid-stream, with a request possibly still in flight.
    }
    let ctrl = srv.ctrl.clone();
    wait_until("the vanished stream's sessions to go", || {
        ctrl.counts() == (1, 1)
    })
    .await;
    let mut admin = AdminClient::connect(&srv.admin.to_string()).await.unwrap();
    let reply = admin.set_link(link("vpp2", "vpp4", false)).await.unwrap();
    assert_eq!((reply.sessions_recomputed, reply.results_pushed), (1, 1));
    assert_eq!(stay.next().await.ipv6_sid_addresses, sids(&LOWER));
    // New clients are served.
    let mut fresh = open(srv.intent).await;
    assert_eq!(fresh.ask(ll()).await.ipv6_sid_addresses, sids(&LOWER));
}

#[tokio::test]
async fn half_closed_stream_still_gets_pushes() {
    let srv = start(hawk()).await;
    let Client { tx, mut rx } = open(srv.intent).await;
    tx.send(hb()).await.unwrap();
    drop(tx); // the client is done sending
    let first = tokio::time::timeout(DEADLINE, rx.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.ipv6_sid_addresses, sids(&UPPER));
    let mut admin = AdminClient::connect(&srv.admin.to_string()).await.unwrap();
    assert_eq!(
        admin
            .set_link(link("vpp2", "vpp4", false))
            .await
            .unwrap()
            .results_pushed,
        1
    );
    let push = tokio::time::timeout(DEADLINE, rx.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(push.ipv6_sid_addresses, sids(&LOWER));
}

#[tokio::test]
async fn static_mode_answers_from_the_table_and_pushes_updates() {
    let table = StaticTable::parse(
        "paths:\n  - destination: fcbb:cc00:2::a\n    intents: [{intent: high-bandwidth}]\n    sids: [fcbb:bb00:1::2, fcbb:bb00:2::2, fcbb:bb00:4::2, fcbb:bb00:6::2]\n",
        "table.yaml",
    )
    .unwrap();
    let srv = start(Source::Static(table)).await;
    let mut c = open(srv.intent).await;
    assert_eq!(c.ask(hb()).await.ipv6_sid_addresses, sids(&UPPER));
    let miss = c.ask(ll()).await;
    assert!(miss.ipv6_sid_addresses.is_empty());
    assert!(miss
        .error
        .unwrap()
        .starts_with("no static entry for destination fcbb:cc00:2::a"));
    let mut admin = AdminClient::connect(&srv.admin.to_string()).await.unwrap();
    let pushed = admin
        .set_static_path(api::SetStaticPathRequest {
            ipv6_destination_address: HOST_B.into(),
            intents: hb().intents,
            ipv6_sid_addresses: sids(&LOWER),
        })
        .await
        .unwrap();
    assert_eq!(pushed, 1);
    let push = c.next().await;
    assert_eq!(
        (push.intents, push.ipv6_sid_addresses),
        (hb().intents, sids(&LOWER))
    );
    // The low-latency session gets its answer once an entry appears.
    admin
        .set_static_path(api::SetStaticPathRequest {
            ipv6_destination_address: HOST_B.into(),
            intents: ll().intents,
            ipv6_sid_addresses: sids(&["fcbb:bb00:3::2"]),
        })
        .await
        .unwrap();
    let push = c.next().await;
    assert_eq!(
        (push.intents, push.ipv6_sid_addresses),
        (ll().intents, sids(&["fcbb:bb00:3::2"]))
    );
    let e = admin
        .set_link(link("vpp2", "vpp4", false))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("static mode"), "{e}");
}

#[tokio::test]
async fn shutdown_ends_open_streams_and_returns() {
    let mut srv = start(hawk()).await;
    let mut c = open(srv.intent).await;
    assert_eq!(c.ask(hb()).await.ipv6_sid_addresses, sids(&UPPER));
    srv.stop.take().unwrap().send(()).unwrap();
    let ended = tokio::time::timeout(DEADLINE, c.rx.message())
        .await
        .unwrap();
    assert!(matches!(ended, Ok(None)), "{ended:?}");
    tokio::time::timeout(DEADLINE, &mut srv.task)
        .await
        .expect("server did not stop")
        .unwrap()
        .unwrap();
}

/// A search that runs for minutes (a huge work budget) blocks neither
/// another stream's answer nor the admin API; closing its stream stops it.
#[tokio::test]
async fn a_hard_request_blocks_no_other_stream_nor_the_admin_api() {
    let options = Options {
        limits: Limits {
            search_work: usize::MAX,
            ..Limits::default()
        },
        ..Options::default()
    };
    let srv = start_with(Source::Computed(common::ladder(40)), options).await;
    let hard = open(srv.intent).await;
    hard.send(common::ladder_request(40)).await;
    let ctrl = srv.ctrl.clone();
    wait_until("the hard search to run", || ctrl.computing() == 1).await;

    let mut easy = open(srv.intent).await;
    let r = easy.ask(ll()).await;
    assert_eq!(r.error, None);
    assert_eq!(r.ipv6_sid_addresses.len(), 0, "routers without SIDs");
    let mut admin = AdminClient::connect(&srv.admin.to_string()).await.unwrap();
    assert_eq!(admin.list_links().await.unwrap().len(), 162);
    assert_eq!(admin.list_sessions().await.unwrap().len(), 1);
    let reply = admin
        .set_link(api::SetLinkRequest {
            a: "n0".into(),
            b: "y0".into(),
            latency_us: Some(5),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(reply.sessions_recomputed, 1);
    assert_eq!(ctrl.computing(), 1, "the hard search is still running");

    // Its client goes away: the search is cancelled, not run to the end.
    drop(hard);
    wait_until("the hard search to stop", || ctrl.computing() == 0).await;
    assert_eq!(ctrl.counts(), (1, 1));
}

/// Oversized input is refused by its length, and neither the error nor the
/// admin error quotes more than a short prefix of it.
#[tokio::test]
async fn oversized_input_is_quoted_by_a_short_prefix() {
    let srv = start(hawk()).await;
    let mut c = open(srv.intent).await;
    let huge = "f".repeat(60_000);
    let r = c
        .ask(request(&huge, HOST_B, vec![intent(I::LowLatency, &[])]))
        .await;
    let err = r.error.unwrap();
    assert!(err.len() < 200, "{} bytes of error", err.len());
    assert!(err.starts_with("ipv6_source_address: \"ffff"), "{err}");
    assert!(err.contains("60000 bytes"), "{err}");
    // The echo is the request (bounded by the message size limit).
    assert_eq!(r.ipv6_source_address.len(), 60_000);
    let name = format!("sf-{huge}");
    let r = c
        .ask(request(
            HOST_A,
            HOST_B,
            vec![intent(I::Sfc, &[(V::Sfc, None, Some(&name))])],
        ))
        .await;
    let err = r.error.unwrap();
    assert!(err.len() < 200, "{err}");
    assert!(
        err.starts_with("intents[0].values[0].string_value: "),
        "{err}"
    );
    assert_eq!(c.ask(hb()).await.ipv6_sid_addresses, sids(&UPPER));

    let mut admin = AdminClient::connect(&srv.admin.to_string()).await.unwrap();
    let e = admin
        .set_link(link(&huge, "vpp2", false))
        .await
        .unwrap_err();
    let e = e.to_string();
    assert!(e.len() < 200, "{} bytes of admin error", e.len());
    assert!(
        e.starts_with("controller refused: unknown node \"ffff"),
        "{e}"
    );
}

/// A request message over the size limit ends its stream with a status
/// naming the limit (not OK, not silence); other streams go on.
#[tokio::test]
async fn an_oversized_message_ends_the_stream_with_a_clear_status() {
    let srv = start(hawk()).await;
    let mut c = open(srv.intent).await;
    assert_eq!(c.ask(hb()).await.ipv6_sid_addresses, sids(&UPPER));
    let name = "f".repeat(5 << 20);
    c.send(request(
        HOST_A,
        HOST_B,
        vec![intent(I::Sfc, &[(V::Sfc, None, Some(&name))])],
    ))
    .await;
    let end = tokio::time::timeout(DEADLINE, c.rx.message())
        .await
        .expect("no end before the deadline");
    let status = end.expect_err("the stream must end with an error status");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status}");
    assert!(
        status
            .message()
            .contains(&mock_controller::MAX_MESSAGE_BYTES.to_string()),
        "{status}"
    );
    let ctrl = srv.ctrl.clone();
    wait_until("the stream's sessions to go", || ctrl.counts() == (0, 0)).await;
    let mut fresh = open(srv.intent).await;
    assert_eq!(fresh.ask(hb()).await.ipv6_sid_addresses, sids(&UPPER));
    // The admin API has the same limit (tonic's own status names it).
    let mut admin = AdminClient::connect(&srv.admin.to_string()).await.unwrap();
    let e = admin
        .set_link(link(&name, "vpp2", false))
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains(&mock_controller::MAX_MESSAGE_BYTES.to_string()),
        "{e}"
    );
}
