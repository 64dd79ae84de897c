//! Sessions, hysteresis and limits on the small diamond graph.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::pathcomp::tests::diamond;
use api::{Intent, IntentType};

fn latency(a: &str, b: &str, us: u64) -> api::SetLinkRequest {
    api::SetLinkRequest {
        a: a.into(),
        b: b.into(),
        latency_us: Some(us),
        ..Default::default()
    }
}

fn session(hysteresis_pct: Option<f64>) -> (Controller, mpsc::Receiver<api::PathResult>) {
    let ctrl = Controller::new(
        Source::Computed(diamond()),
        Options {
            hysteresis_pct,
            ..Options::default()
        },
    );
    let StreamHandle {
        id,
        results: mut rx,
        ..
    } = ctrl.open_stream("test".into());
    ctrl.handle_request(id, low_latency());
    assert_eq!(rx.try_recv().unwrap().ipv6_sid_addresses, ["fc00:3::2"]);
    (ctrl, rx)
}

#[test]
fn without_hysteresis_every_improvement_moves() {
    let (ctrl, mut rx) = session(None);
    // Upper becomes 2 x 800 us = 1620 us vs lower 2020 us.
    ctrl.set_link(&latency("r1", "r2", 800)).unwrap();
    let r = ctrl.set_link(&latency("r2", "r4", 800)).unwrap();
    assert_eq!(r.results_pushed, 1);
    assert_eq!(rx.try_recv().unwrap().ipv6_sid_addresses, ["fc00:2::2"]);
}

#[test]
fn hysteresis_keeps_a_usable_path_unless_clearly_better() {
    let (ctrl, mut rx) = session(Some(50.0));
    ctrl.set_link(&latency("r1", "r2", 800)).unwrap();
    let r = ctrl.set_link(&latency("r2", "r4", 800)).unwrap();
    // 20 % better is within the 50 % margin: stay, push nothing.
    assert_eq!(r.results_pushed, 0);
    assert!(rx.try_recv().is_err());
    // The current path gets much worse: upper is now > 50 % better.
    let r = ctrl.set_link(&latency("r1", "r3", 10_000)).unwrap();
    assert_eq!(r.results_pushed, 1);
    assert_eq!(rx.try_recv().unwrap().ipv6_sid_addresses, ["fc00:2::2"]);
    // Back to fast lower links: 1620 -> 2020 would be worse anyway; and
    // making lower only slightly better than upper does not move back.
    ctrl.set_link(&latency("r1", "r3", 700)).unwrap();
    let r = ctrl.set_link(&latency("r3", "r4", 700)).unwrap();
    assert_eq!(r.results_pushed, 0, "1420 vs 1620 us is only 12 % better");
    // A broken current path is replaced at once, margin or not.
    let r = ctrl
        .set_link(&api::SetLinkRequest {
            a: "r2".into(),
            b: "r4".into(),
            up: Some(false),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(r.results_pushed, 1);
    assert_eq!(rx.try_recv().unwrap().ipv6_sid_addresses, ["fc00:3::2"]);
}

#[test]
fn sessions_per_stream_are_bounded() {
    let (ctrl, mut rx) = session(None);
    let StreamHandle {
        id: other,
        results: mut other_rx,
        ..
    } = ctrl.open_stream("other".into());
    let id = 1; // the stream `session` opened
    let ask = |stream, n: usize| {
        ctrl.handle_request(
            stream,
            api::PathRequest {
                ipv6_source_address: "2001:db8:1::a".into(),
                ipv6_destination_address: format!("2001:db8:2::1:{n:x}"),
                intents: vec![Intent {
                    r#type: IntentType::LowLatency as i32,
                    values: vec![],
                }],
            },
        )
    };
    // The first session of stream 1 exists already.
    for n in 1..MAX_SESSIONS_PER_STREAM {
        ask(id, n);
        assert!(rx.try_recv().unwrap().error.is_none());
    }
    assert_eq!(ctrl.counts(), (2, MAX_SESSIONS_PER_STREAM));
    ask(id, MAX_SESSIONS_PER_STREAM);
    let refused = rx.try_recv().unwrap();
    assert!(refused.ipv6_sid_addresses.is_empty());
    assert!(refused.error.unwrap().contains("already has 4096 sessions"));
    // Asking again for an existing session is still fine, and other
    // streams are not affected.
    ask(id, 1);
    assert!(rx.try_recv().unwrap().error.is_none());
    ask(other, 1);
    assert!(other_rx.try_recv().unwrap().error.is_none());
    assert_eq!(ctrl.counts(), (2, MAX_SESSIONS_PER_STREAM + 1));
    ctrl.close_stream(id);
    assert_eq!(ctrl.counts(), (1, 1));
}

fn low_latency() -> api::PathRequest {
    api::PathRequest {
        ipv6_source_address: "2001:db8:1::a".into(),
        ipv6_destination_address: "2001:db8:2::a".into(),
        intents: vec![Intent {
            r#type: IntentType::LowLatency as i32,
            values: vec![],
        }],
    }
}

/// The SID lists of every result queued now.
fn received(rx: &mut mpsc::Receiver<api::PathResult>) -> Vec<Vec<String>> {
    std::iter::from_fn(|| rx.try_recv().ok())
        .map(|r| r.ipv6_sid_addresses)
        .collect()
}

fn queue_of(n: usize) -> Controller {
    Controller::new(
        Source::Computed(diamond()),
        Options {
            limits: Limits {
                results_per_stream: n,
                ..Limits::default()
            },
            ..Options::default()
        },
    )
}

#[test]
fn a_client_that_does_not_read_is_ended_when_its_queue_is_full() {
    let ctrl = queue_of(2);
    let mut h = ctrl.open_stream("slow".into());
    ctrl.handle_request(h.id, low_latency());
    // The lower path gets slow, then fast again: two pushes, one too many.
    assert_eq!(
        ctrl.set_link(&latency("r1", "r3", 10_000))
            .unwrap()
            .results_pushed,
        1
    );
    assert_eq!(
        ctrl.set_link(&latency("r1", "r3", 1000))
            .unwrap()
            .results_pushed,
        0
    );
    assert!(matches!(
        h.ended.try_recv(),
        Ok(StreamEnd::Overflow { limit: 2 })
    ));
    assert!(h.signal.is_closed());
    assert_eq!(ctrl.counts(), (0, 0));
    // What was queued before stays readable; nothing more comes.
    assert_eq!(received(&mut h.results), [["fc00:3::2"], ["fc00:2::2"]]);
}

#[test]
fn an_answer_waits_for_room_on_the_queue() {
    use futures::FutureExt;
    let ctrl = queue_of(1);
    let mut h = ctrl.open_stream("slow".into());
    let slot = ctrl.reserve(h.id).now_or_never().flatten().unwrap();
    ctrl.handle_request_in(h.id, low_latency(), slot);
    // The queue is full: no room until the client reads.
    assert!(ctrl.reserve(h.id).now_or_never().is_none());
    assert!(h.results.try_recv().is_ok());
    let slot = ctrl.reserve(h.id).now_or_never().flatten().unwrap();
    ctrl.handle_request_in(h.id, low_latency(), slot);
    assert!(h.results.try_recv().unwrap().error.is_none());
    assert_eq!(ctrl.counts(), (1, 1));
}

/// A request computed on a network an admin change replaced before the
/// answer was committed: the answer goes out, then the session is brought
/// up to date at once (as if the change had seen it).
#[test]
fn an_answer_overtaken_by_a_change_is_refreshed() {
    let ctrl = queue_of(8);
    let mut h = ctrl.open_stream("test".into());
    let req = low_latency();
    let key: Arc<[u8]> = req.encode_to_vec().into();
    let (net, _, refused) = ctrl.begin(h.id, &key).unwrap();
    assert_eq!(refused, None);
    // The change lands while the request is being computed.
    ctrl.set_link(&latency("r1", "r3", 10_000)).unwrap();
    let answer = answer::compute(&net, &ctrl.options, &req, Budget::default()).1;
    let stale = ctrl.commit_request(h.id, key, Arc::new(req), answer, &net, None);
    let session = stale.expect("answered on an old generation");
    ctrl.refresh(session);
    assert_eq!(received(&mut h.results), [["fc00:3::2"], ["fc00:2::2"]]);
    // Up to date now: a second refresh does nothing.
    ctrl.refresh(session);
    assert!(h.results.try_recv().is_err());
}

/// A low-latency request to another address of host b (a distinct session).
fn to_b(n: usize) -> api::PathRequest {
    api::PathRequest {
        ipv6_destination_address: format!("2001:db8:2::1:{n:x}"),
        ..low_latency()
    }
}

#[test]
fn sessions_are_bounded_for_the_whole_controller() {
    let ctrl = Controller::new(
        Source::Computed(diamond()),
        Options {
            limits: Limits {
                sessions: 3,
                ..Limits::default()
            },
            ..Options::default()
        },
    );
    let mut a = ctrl.open_stream("a".into());
    let mut b = ctrl.open_stream("b".into());
    for n in 0..2 {
        ctrl.handle_request(a.id, to_b(n));
    }
    ctrl.handle_request(b.id, to_b(0));
    assert!(b.results.try_recv().unwrap().error.is_none());
    assert_eq!(ctrl.counts(), (2, 3));
    ctrl.handle_request(b.id, to_b(1));
    let refused = b.results.try_recv().unwrap();
    assert!(refused.ipv6_sid_addresses.is_empty());
    assert_eq!(
        refused.error.as_deref(),
        Some("the controller holds 3 sessions, its limit: try again later")
    );
    assert_eq!(ctrl.counts(), (2, 3));
    // Asking again for an existing session is fine; a closed stream frees room.
    ctrl.handle_request(b.id, to_b(0));
    assert!(b.results.try_recv().unwrap().error.is_none());
    ctrl.close_stream(a.id);
    ctrl.handle_request(b.id, to_b(1));
    assert!(b.results.try_recv().unwrap().error.is_none());
    assert_eq!(ctrl.counts(), (1, 2));
    assert_eq!(received(&mut a.results).len(), 2);
}

/// A change that only makes one link worse recomputes the sessions whose
/// path uses it; anything else recomputes every session.
#[test]
fn a_link_that_only_gets_worse_recomputes_only_its_sessions() {
    let (ctrl, mut rx) = session(None);
    let other = ctrl.open_stream("wide".into());
    let wide = api::PathRequest {
        intents: vec![Intent {
            r#type: IntentType::HighBandwidth as i32,
            values: vec![],
        }],
        ..low_latency()
    };
    ctrl.handle_request(other.id, wide);
    // Upper link slower: only the high-bandwidth session (upper path) runs.
    let r = ctrl.set_link(&latency("r1", "r2", 6000)).unwrap();
    assert_eq!((r.sessions_recomputed, r.results_pushed), (1, 0));
    // Lower link down: only the low-latency session, which moves up.
    let down = api::SetLinkRequest {
        up: Some(false),
        ..latency("r3", "r4", 1000)
    };
    let r = ctrl.set_link(&down).unwrap();
    assert_eq!((r.sessions_recomputed, r.results_pushed), (1, 1));
    assert_eq!(received(&mut rx), [["fc00:2::2"]]);
    // Better (back up, faster): every session.
    let up = api::SetLinkRequest {
        up: Some(true),
        ..latency("r3", "r4", 1000)
    };
    let r = ctrl.set_link(&up).unwrap();
    assert_eq!((r.sessions_recomputed, r.results_pushed), (2, 1));
    // Bandwidth either way can attract a session: every session.
    let r = ctrl
        .set_link(&api::SetLinkRequest {
            a: "r1".into(),
            b: "r3".into(),
            bandwidth_kbps: Some(50_000),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(r.sessions_recomputed, 2);
}

#[test]
fn minimal_sids_recompute_every_session_when_the_underlay_changes() {
    let ctrl = Controller::new(
        Source::Computed(diamond()),
        Options {
            sid_mode: SidMode::Minimal,
            ..Options::default()
        },
    );
    let s = ctrl.open_stream("s".into());
    ctrl.handle_request(s.id, low_latency());
    ctrl.handle_request(s.id, to_b(1));
    // The upper link's IGP metric changes the underlay of the lower path.
    let r = ctrl
        .set_link(&api::SetLinkRequest {
            a: "r1".into(),
            b: "r2".into(),
            igp_metric: Some(5),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(r.sessions_recomputed, 2);
}

#[test]
fn session_listings_come_in_bounded_pages() {
    let ctrl = queue_of(64);
    let s = ctrl.open_stream("s".into());
    for n in 0..5 {
        ctrl.handle_request(s.id, to_b(n));
    }
    let (first, next) = ctrl.list_sessions_page(None, 2, usize::MAX);
    assert_eq!(first.len(), 2);
    let (second, next) = ctrl.list_sessions_page(next, 2, usize::MAX);
    let (third, end) = ctrl.list_sessions_page(next, 2, usize::MAX);
    assert_eq!((second.len(), third.len(), end), (2, 1, None));
    let ids: Vec<u64> = [first, second, third]
        .concat()
        .iter()
        .map(|s| s.session_id)
        .collect();
    assert_eq!(ids, [1, 2, 3, 4, 5]);
    // A byte budget ends a page early, but a page holds at least one.
    let (one, next) = ctrl.list_sessions_page(None, 100, 1);
    assert_eq!((one.len(), next), (1, Some(1)));
    assert_eq!(ctrl.list_sessions().len(), 5);
}
