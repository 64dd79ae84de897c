//! The search's work budget and cancel flag on a graph whose Pareto sets
//! explode (2^40 mutually non-dominated partial paths).
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::AtomicBool;

use mock_controller::pathcomp::{Budget, Metric, NoPath, Query};

fn hard_query(rungs: usize) -> Query {
    // Half the total jitter: the fastest feasible path needs about half the
    // slow links, and every cheaper prefix is explored first.
    let total: u64 = (0..rungs).map(|i| 1u64 << (i % 30)).sum();
    let mut q = Query::new(&[Metric::Latency]);
    q.constraints.max_jitter_us = Some(total / 2);
    q
}

#[test]
fn exploding_pareto_sets_give_up() {
    let g = common::ladder(40);
    let (a, b) = (g.node_id("host-a").unwrap(), g.node_id("host-b").unwrap());
    let err = g
        .best_path_within(a, b, &hard_query(40), 200_000)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "path search from host-a to host-b gave up after 200000 label comparisons (constraints too hard on this graph)"
    );
    // Unconstrained it is a plain Dijkstra.
    let fast = g.best_path(a, b, &Query::new(&[Metric::Latency])).unwrap();
    assert_eq!(fast.criteria.latency_us, 0);
}

#[test]
fn a_cancelled_search_stops() {
    let g = common::ladder(40);
    let (a, b) = (g.node_id("host-a").unwrap(), g.node_id("host-b").unwrap());
    let cancel = AtomicBool::new(true);
    let budget = Budget {
        max_work: usize::MAX,
        cancel: Some(&cancel),
    };
    let err = g.best_path_with(a, b, &hard_query(40), budget).unwrap_err();
    assert_eq!(err, NoPath::Cancelled);
}
