//! `--metrics ADDR`: the report's counters and path counts in the
//! Prometheus text format (prometheus-client), over HTTP (hyper), at any
//! path (`/metrics` by convention). Each scrape asks the dataplane's owner
//! for a fresh report, so the figures are the maps' own.

use std::convert::Infallible;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::owner::Update;
use crate::plan::Origin;
use crate::status::{self, Report};

type Labels = Vec<(String, String)>;

fn counter(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let c: Counter = Counter::default();
    c.inc_by(value);
    registry.register(name, help, c);
}

fn gauge(registry: &mut Registry, name: &str, help: &str, value: i64) {
    let g: Gauge = Gauge::default();
    g.set(value);
    registry.register(name, help, g);
}

fn len(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The report in the Prometheus text format.
pub fn encode_report(report: &Report) -> String {
    let mut registry = Registry::with_prefix("srv6_agent");
    register_packets(&mut registry, report);
    register_paths(&mut registry, report);
    register_agent_counters(&mut registry, report);
    register_controller(&mut registry, report);
    gauge(
        &mut registry,
        "dns_learned_addresses",
        "Addresses learned by DNS snooping",
        len(report.dns_learned.len()),
    );
    gauge(
        &mut registry,
        "learned_flows",
        "Return paths learned (server)",
        len(report.flows.len()),
    );
    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut text, &registry);
    text
}

/// `dataplane_packets{decision}`: the dataplane's counters.
fn register_packets(registry: &mut Registry, report: &Report) {
    let packets = Family::<Labels, Counter>::default();
    for (name, value) in &report.counters {
        packets
            .get_or_create(&vec![("decision".into(), name.clone())])
            .inc_by(*value);
    }
    registry.register(
        "dataplane_packets",
        "Packets by dataplane decision (summed over CPUs)",
        packets,
    );
}

/// `paths{origin}`: every origin, 0 included.
fn register_paths(registry: &mut Registry, report: &Report) {
    let paths = Family::<Labels, Gauge>::default();
    for origin in [
        Origin::Controller,
        Origin::Fallback,
        Origin::Config,
        Origin::None,
    ] {
        let n = report.paths.iter().filter(|p| p.origin == origin).count();
        paths
            .get_or_create(&vec![("origin".into(), origin.as_str().into())])
            .set(len(n));
    }
    registry.register(
        "paths",
        "Configured (service, address, port, protocol) entries by where their SID list comes from",
        paths,
    );
}

/// The agent's own counters.
fn register_agent_counters(registry: &mut Registry, report: &Report) {
    let a = &report.agent;
    for (name, help, value) in [
        (
            "controller_results",
            "Results received from the controller",
            a.results,
        ),
        (
            "controller_results_ignored",
            "Results that answered no current request",
            a.results_ignored,
        ),
        (
            "dns_answers",
            "DNS answers received for configured names",
            a.dns_answers,
        ),
        ("map_updates", "Applies that changed the maps", a.applies),
        (
            "map_update_errors",
            "Applies that failed and were undone",
            a.apply_errors,
        ),
    ] {
        counter(registry, name, help, value);
    }
}

/// The controller stream's state (controller mode only).
fn register_controller(registry: &mut Registry, report: &Report) {
    if let Some(c) = &report.controller {
        gauge(
            registry,
            "controller_connected",
            "1 while the controller stream is up",
            i64::from(c.state == "connected"),
        );
        counter(
            registry,
            "controller_connections",
            "Controller streams opened",
            c.connections,
        );
    }
}

async fn scrape(
    _request: Request<Incoming>,
    owner: mpsc::Sender<Update>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let response = match status::current(&owner).await {
        Some(report) => Response::builder()
            .header(
                "content-type",
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )
            .body(Full::new(Bytes::from(encode_report(&report)))),
        None => Response::builder()
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .body(Full::new(Bytes::from_static(b"the agent is stopping\n"))),
    };
    Ok(response.unwrap_or_else(|_| Response::new(Full::new(Bytes::new()))))
}

/// Serve scrapes on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, owner: mpsc::Sender<Update>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(err) => {
                warn!(error = %err, "metrics accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let owner = owner.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| scrape(req, owner.clone()));
            if let Err(err) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                debug!(error = %err, "metrics connection");
            }
        });
    }
}
