//! Shared by the agent's integration tests: deadline waits (labns's
//! `Wait`), the intent controller (the real `mock-controller`) on port 0,
//! and the agent embedded with a real (loaded, unattached) client dataplane.
//!
//! The root tests' namespaces, processes and lab are in `netns.rs`.
#![allow(dead_code, clippy::unwrap_used)]

pub mod netns;

use std::future::Future;
use std::net::{Ipv6Addr, SocketAddr};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use agent::config::Config;
use agent::controller::Backoff;
use agent::dataplane_port::ClientDataplanePort;
use agent::resolve::{Refresh, StaticLookup};
use agent::status::{PathReport, Report};
use agent::{ClientAgent, ClientSpec};
use labns::{Timeout, Wait};
use mock_controller::static_table::StaticTable;
use mock_controller::{Controller, Options, Source};
use tokio::sync::oneshot;

pub const DEADLINE: Duration = Duration::from_secs(20);
pub const HOST_A: &str = "fcbb:cc00:1::a";
pub const HOST_B: &str = "fcbb:cc00:2::a";
/// The resolver the embedded agent is given (hawk's DNS node).
pub const RESOLVER: &str = "fcbb:cc00:4::f";
/// hawk's upper and lower paths (travel order).
pub const UPPER: [&str; 4] = [
    "fcbb:bb00:1::2",
    "fcbb:bb00:2::2",
    "fcbb:bb00:4::2",
    "fcbb:bb00:6::2",
];
pub const LOWER: [&str; 4] = [
    "fcbb:bb00:1::2",
    "fcbb:bb00:3::2",
    "fcbb:bb00:5::2",
    "fcbb:bb00:6::2",
];

pub fn a(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

pub fn sids(list: &[&str]) -> Vec<Ipv6Addr> {
    list.iter().map(|s| a(s)).collect()
}

/// Poll `check` every 10 ms until it returns Ok, or panic naming `what`
/// and the last value seen after `DEADLINE` (labns's `Wait`).
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let wait = Wait::new(what, DEADLINE).every(Duration::from_millis(10));
    let result: Result<T, Timeout> = wait
        .try_until_async(|| {
            let polled = check();
            async move {
                Ok(match polled.await {
                    Ok(v) => ControlFlow::Break(v),
                    Err(last) => ControlFlow::Continue(last),
                })
            }
        })
        .await;
    result.unwrap_or_else(|timeout| panic!("{timeout}"))
}

/// The mock controller serving on loopback port 0; stopped on drop.
pub struct RunningController {
    pub intent: SocketAddr,
    pub admin: SocketAddr,
    pub ctrl: Controller,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), mock_controller::RunError>>,
}

impl RunningController {
    /// Static mode from a table text; `listen` may name a port to reuse.
    pub async fn start_static(table: &str, listen: &str) -> RunningController {
        let source = Source::Static(StaticTable::parse(table, "table.yaml").unwrap());
        RunningController::start(source, listen).await
    }

    pub async fn start(source: Source, listen: &str) -> RunningController {
        let bound = mock_controller::bind(mock_controller::Config {
            listen: listen.parse().unwrap(),
            admin: Some("[::1]:0".parse().unwrap()),
            source,
            options: Options::default(),
            connections: Default::default(),
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
        RunningController {
            intent,
            admin,
            ctrl,
            stop: Some(tx),
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.intent)
    }

    /// Stop serving and wait until the port is closed.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        (&mut self.task).await.unwrap().unwrap();
    }
}

impl Drop for RunningController {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// The client agent with real BPF maps (loaded, not attached: nothing is
/// steered, no route changes), a DNS table and fast reconnects.
pub async fn start_agent(
    config: &str,
    controller: Option<String>,
    lookup: Arc<StaticLookup>,
) -> ClientAgent {
    let config = Config::parse(config, "agent.yaml").unwrap();
    let spec = ClientSpec {
        config,
        source: a(HOST_A),
        controller,
        backoff: Backoff {
            initial: Duration::from_millis(50),
            max: Duration::from_millis(400),
        },
        lookup,
        refresh: Refresh {
            min: Duration::from_millis(20),
            ..Refresh::default()
        },
        resolvers: vec![a(RESOLVER)],
        interface: "none".into(),
        programs: "loaded, not attached".into(),
    };
    ClientAgent::start(spec, ClientDataplanePort::load)
        .await
        .unwrap()
}

pub fn path<'r>(report: &'r Report, dst: &str, port: u16) -> Result<&'r PathReport, String> {
    report
        .paths
        .iter()
        .find(|p| p.destination == a(dst) && p.port == port)
        .ok_or_else(|| format!("no entry for [{dst}]:{port} in {:?}", report.paths))
}
