//! How fast the agent turns news into map entries, with real BPF maps
//! (loaded, not attached; needs root). `cargo bench -p agent`.
//!
//! - `result_to_map`: a PathResult handed to the agent (the owner's queue,
//!   as the controller stream does on arrival) until the map holds its SID
//!   list: queue hop, match, plan, diff, write.
//! - `push_to_map`: the same end to end from the controller: an admin
//!   `SetStaticPath` on the mock controller until the map holds the list
//!   (controller, gRPC push, decode, the above).
//! - `dns_to_map`: a changed DNS answer until the map holds the path for the
//!   new address (plan, diff, write; the old address is removed after).
//!
//! - `remove_batch` (summary only): a DNS answer that drops 15 of a name's
//!   16 addresses until the owner has applied it (15 paths removed, one
//!   grace period), 100 times.
//!
//! Each is timed against a baseline in the same run, interleaved sample by
//! sample: the bare map write(s) the change needs (`set_path`, and for DNS
//! `set_path` + `remove_path`; 16 × `remove_path` for the batch) on another
//! loaded copy of the maps. The summary prints p50 and p99 over 1000
//! changes (100 batches) and the ratio of medians.
#![allow(clippy::unwrap_used)]

use std::net::Ipv6Addr;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant, SystemTime};

use agent::config::Config;
use agent::controller::Backoff;
use agent::dataplane_port::ClientDataplanePort;
use agent::owner::Update;
use agent::port::{ClientPort, PathKey, PortError, PortState, ServicePathKey};
use agent::request::{IntentsKey, RequestKey};
use agent::resolve::{DnsAnswer, LookupOutcome, Refresh, StaticLookup};
use agent::{ClientAgent, ClientSpec};
use criterion::{criterion_group, Criterion};
use dataplane::{ClientDataplane, Proto};
use intent_proto::api;
use mock_controller::static_table::StaticTable;
use mock_controller::{AdminClient, Options, Source};

const SAMPLES: usize = 1000;
const SOURCE: &str = "fcbb:cc00:1::a";
const SERVER: &str = "fcbb:cc00:2::a";
const OTHER: &str = "fcbb:cc00:2::b";
const PORT: u16 = 80;

fn a(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// Three 4-SID lists; every change picks one that differs from what the
/// map holds and from what the controller last sent, so every change writes.
fn lists() -> [Vec<Ipv6Addr>; 3] {
    [
        [
            "fcbb:bb00:1::2",
            "fcbb:bb00:2::2",
            "fcbb:bb00:4::2",
            "fcbb:bb00:6::2",
        ]
        .map(a)
        .to_vec(),
        [
            "fcbb:bb00:1::2",
            "fcbb:bb00:3::2",
            "fcbb:bb00:5::2",
            "fcbb:bb00:6::2",
        ]
        .map(a)
        .to_vec(),
        [
            "fcbb:bb00:1::2",
            "fcbb:bb00:3::2",
            "fcbb:bb00:4::2",
            "fcbb:bb00:6::2",
        ]
        .map(a)
        .to_vec(),
    ]
}

/// The real port, reporting each `set_path` (key, time) once the map holds it.
struct TimingPort {
    inner: ClientDataplanePort,
    written: mpsc::Sender<(PathKey, Instant)>,
}

impl ClientPort for TimingPort {
    fn set_path(&mut self, key: PathKey, sids: &[Ipv6Addr]) -> Result<(), PortError> {
        self.inner.set_path(key, sids)?;
        let _ = self.written.send((key, Instant::now()));
        Ok(())
    }
    fn remove_path(&mut self, key: PathKey) -> Result<(), PortError> {
        self.inner.remove_path(key)
    }
    fn set_service_path(
        &mut self,
        key: ServicePathKey,
        sids: &[Ipv6Addr],
    ) -> Result<(), PortError> {
        self.inner.set_service_path(key, sids)
    }
    fn remove_service_path(&mut self, key: ServicePathKey) -> Result<(), PortError> {
        self.inner.remove_service_path(key)
    }
    fn add_dns_name(&mut self, name: &str, service: u32) -> Result<(), PortError> {
        self.inner.add_dns_name(name, service)
    }
    fn remove_dns_name(&mut self, name: &str) -> Result<(), PortError> {
        self.inner.remove_dns_name(name)
    }
    fn set_route_mtu(
        &mut self,
        destination: Ipv6Addr,
        sids: Option<usize>,
    ) -> Result<(), PortError> {
        self.inner.set_route_mtu(destination, sids)
    }
    fn set_resolvers(&mut self, resolvers: &[Ipv6Addr]) -> Result<(), PortError> {
        self.inner.set_resolvers(resolvers)
    }
    fn set_local_addresses(&mut self, addresses: &[Ipv6Addr]) -> Result<(), PortError> {
        self.inner.set_local_addresses(addresses)
    }
    fn wait_for_removals(&mut self) {
        self.inner.wait_for_removals()
    }
    fn refresh_routes(&mut self) -> Result<usize, PortError> {
        self.inner.refresh_routes()
    }
    fn read(&self) -> Result<PortState, PortError> {
        self.inner.read()
    }
}

/// An agent over a [`TimingPort`], and where its writes are reported.
struct Rig {
    runtime: tokio::runtime::Runtime,
    agent: Option<ClientAgent>,
    written: mpsc::Receiver<(PathKey, Instant)>,
    /// Index into [`lists`] of what the map holds and what the controller last sent.
    holds: std::cell::Cell<usize>,
    sent: std::cell::Cell<usize>,
}

impl Rig {
    fn start(config: &str, controller: Option<String>, runtime: tokio::runtime::Runtime) -> Rig {
        let (tx, written) = mpsc::channel();
        let lookup = Arc::new(StaticLookup::new());
        let spec = ClientSpec {
            config: Config::parse(config, "bench.yaml").unwrap(),
            source: a(SOURCE),
            controller,
            backoff: Backoff::default(),
            lookup,
            refresh: Refresh::default(),
            resolvers: Vec::new(),
            interface: "bench".into(),
            programs: "loaded, not attached".into(),
        };
        let make = move || {
            Ok(TimingPort {
                inner: ClientDataplanePort::load()?,
                written: tx,
            })
        };
        let agent = runtime.block_on(ClientAgent::start(spec, make)).unwrap();
        Rig {
            runtime,
            agent: Some(agent),
            written,
            holds: std::cell::Cell::new(0),
            sent: std::cell::Cell::new(0),
        }
    }

    fn send(&self, update: Update) {
        let sender = self.agent.as_ref().unwrap().owner().sender();
        sender.blocking_send(update).unwrap();
    }

    /// Wait for the map write of `key`; the time it was done.
    fn written(&self, key: PathKey) -> Instant {
        loop {
            let (k, at) = self.written.recv_timeout(Duration::from_secs(10)).unwrap();
            if k == key {
                return at;
            }
        }
    }

    fn drain(&self) {
        while self.written.try_recv().is_ok() {}
    }

    /// A list differing from what the map holds and from the controller's last.
    fn next_list(&self) -> usize {
        let n = (0..3)
            .find(|n| *n != self.holds.get() && *n != self.sent.get())
            .unwrap_or(0);
        self.holds.set(n);
        n
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        if let Some(agent) = self.agent.take() {
            self.runtime.block_on(agent.stop());
        }
    }
}

fn key(dst: &str) -> PathKey {
    PathKey {
        destination: a(dst),
        port: PORT,
        proto: Proto::Tcp,
    }
}

const CONTROLLER_CONFIG: &str = "
services:
  web:
    ipv6_addresses: [fcbb:cc00:2::a]
    applications:
      - port: 80
        intents:
          - intent: low-latency
            max_value: 5000
";

const DNS_CONFIG: &str = "
services:
  web:
    domain_name: wb.hawk.net
    applications:
      - port: 80
        sid: [fcbb:bb00:1::2, fcbb:bb00:2::2, fcbb:bb00:4::2, fcbb:bb00:6::2]
";

/// The application's wire intents (parsed once: outside every timing).
fn intents() -> Vec<api::Intent> {
    static INTENTS: std::sync::OnceLock<Vec<api::Intent>> = std::sync::OnceLock::new();
    INTENTS
        .get_or_init(|| {
            Config::parse(CONTROLLER_CONFIG, "c.yaml").unwrap().services[0].applications[0]
                .intents
                .clone()
        })
        .clone()
}

fn result(sids: &[Ipv6Addr]) -> api::PathResult {
    let request = RequestKey {
        destination: a(SERVER),
        intents: IntentsKey::from_wire(&intents()),
    }
    .to_request(a(SOURCE));
    api::PathResult {
        ipv6_source_address: request.ipv6_source_address,
        ipv6_destination_address: request.ipv6_destination_address,
        intents: request.intents,
        ipv6_sid_addresses: sids.iter().map(ToString::to_string).collect(),
        error: None,
    }
}

/// The baseline: the bare map write on another copy of the maps.
fn baseline(dp: &mut ClientDataplane, i: usize) -> Duration {
    let start = Instant::now();
    dp.set_path(a(SERVER), PORT, Proto::Tcp, &lists()[i % 3])
        .unwrap();
    start.elapsed()
}

fn baseline_dns(dp: &mut ClientDataplane, i: usize) -> Duration {
    let (new, old) = if i.is_multiple_of(2) {
        (OTHER, SERVER)
    } else {
        (SERVER, OTHER)
    };
    let start = Instant::now();
    dp.set_path(a(new), PORT, Proto::Tcp, &lists()[0]).unwrap();
    dp.remove_path(a(old), PORT, Proto::Tcp).unwrap();
    start.elapsed()
}

/// One change handed to the owner as the controller stream does.
fn result_sample(rig: &Rig) -> Duration {
    rig.drain();
    let result = result(&lists()[rig.next_list()]);
    let received = Instant::now();
    rig.send(Update::Result { result, received });
    rig.written(key(SERVER)) - received
}

fn dns_sample(rig: &Rig, i: usize) -> Duration {
    rig.drain();
    let new = if i.is_multiple_of(2) { OTHER } else { SERVER };
    let answer = dns_update(&[a(new)]);
    let start = Instant::now();
    rig.send(answer);
    rig.written(key(new)) - start
}

/// Addresses of the batch: fcbb:cc00:3::1 .. ::16.
fn batch_addresses() -> Vec<Ipv6Addr> {
    (1..=16u16)
        .map(|i| Ipv6Addr::new(0xfcbb, 0xcc00, 3, 0, 0, 0, 0, i))
        .collect()
}

fn dns_update(addresses: &[Ipv6Addr]) -> Update {
    let now = SystemTime::now();
    Update::Dns(DnsAnswer {
        name: "wb.hawk.net".into(),
        outcome: LookupOutcome::Found {
            addresses: addresses.iter().copied().collect(),
            ttl: Duration::from_secs(60),
        },
        at: now,
        next: now + Duration::from_secs(60),
    })
}

/// The name's 16 addresses written, then an answer with only the first:
/// the time until the owner has removed the other 15 (its next report
/// waits for that).
fn batch_sample(rig: &Rig) -> Duration {
    let all = batch_addresses();
    rig.drain();
    rig.send(dns_update(&all));
    // (The first address's path stays from the last sample after the first.)
    for address in &all[1..] {
        rig.written(PathKey {
            destination: *address,
            port: PORT,
            proto: Proto::Tcp,
        });
    }
    let start = Instant::now();
    rig.send(dns_update(&[all[0]]));
    let agent = rig.agent.as_ref().unwrap();
    rig.runtime.block_on(agent.report()).unwrap();
    start.elapsed()
}

fn baseline_batch(dp: &mut ClientDataplane) -> Duration {
    let all = batch_addresses();
    for address in &all {
        dp.set_path(*address, PORT, Proto::Tcp, &lists()[0])
            .unwrap();
    }
    let start = Instant::now();
    for address in &all[1..] {
        dp.remove_path(*address, PORT, Proto::Tcp).unwrap();
    }
    start.elapsed()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A controller rig: the agent connected to a static mock controller whose
/// table answers its request.
fn controller_rig() -> (Rig, String, std::net::SocketAddr) {
    let rt = runtime();
    let table = format!(
        "paths:\n  - destination: {SERVER}\n    intents: [{{intent: low-latency, max_value: 5000}}]\n    sids: [{}]\n",
        lists()[0].iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    );
    let bound = rt
        .block_on(mock_controller::bind(mock_controller::Config {
            listen: "[::1]:0".parse().unwrap(),
            admin: Some("[::1]:0".parse().unwrap()),
            source: Source::Static(StaticTable::parse(&table, "t.yaml").unwrap()),
            options: Options::default(),
            connections: Default::default(),
        }))
        .unwrap();
    let url = format!("http://{}", bound.intent_addr().unwrap());
    let admin = bound.admin_addr().unwrap().unwrap();
    rt.spawn(bound.serve(std::future::pending()));
    let rig = Rig::start(CONTROLLER_CONFIG, Some(url.clone()), rt);
    rig.written(key(SERVER));
    (rig, url, admin)
}

fn push_sample(rig: &Rig, admin: &mut AdminClient) -> Duration {
    rig.drain();
    let list = rig.next_list();
    rig.sent.set(list);
    let push = api::SetStaticPathRequest {
        ipv6_destination_address: SERVER.into(),
        intents: intents(),
        ipv6_sid_addresses: lists()[list].iter().map(ToString::to_string).collect(),
    };
    let start = Instant::now();
    rig.runtime.block_on(admin.set_static_path(push)).unwrap();
    rig.written(key(SERVER)) - start
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("agent");
    let (rig, _url, admin_addr) = controller_rig();
    let mut admin = rig
        .runtime
        .block_on(AdminClient::connect(&format!("http://{admin_addr}")))
        .unwrap();
    let mut i = 0usize;
    group.bench_function("result_to_map", |b| {
        b.iter_custom(|n| (0..n).map(|_| result_sample(&rig)).sum())
    });
    group.bench_function("push_to_map", |b| {
        b.iter_custom(|n| (0..n).map(|_| push_sample(&rig, &mut admin)).sum())
    });
    drop(rig);
    let dns = Rig::start(DNS_CONFIG, None, runtime());
    group.bench_function("dns_to_map", |b| {
        b.iter_custom(|n| {
            (0..n)
                .map(|_| {
                    i += 1;
                    dns_sample(&dns, i)
                })
                .sum()
        })
    });
    group.finish();
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn print_line(name: &str, mut samples: Vec<Duration>, mut base: Vec<Duration>, baseline: &str) {
    samples.sort();
    base.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let (p50, p99, b50) = (
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        percentile(&base, 0.5),
    );
    println!(
        "{name:<14} p50 {:>8.1} us  p99 {:>8.1} us  | baseline ({baseline}) p50 {:>6.1} us  p99 {:>6.1} us  | ratio of medians {:>6.1}",
        us(p50),
        us(p99),
        us(b50),
        us(percentile(&base, 0.99)),
        p50.as_secs_f64() / b50.as_secs_f64()
    );
}

/// 1000 changes of each kind, interleaved sample by sample with the baseline.
fn summary() {
    println!("\n== srv6-agent: news -> map entry, {SAMPLES} changes each, interleaved with the baseline ==");
    let mut dp = ClientDataplane::load().unwrap();
    let (rig, _url, admin_addr) = controller_rig();
    let mut admin = rig
        .runtime
        .block_on(AdminClient::connect(&format!("http://{admin_addr}")))
        .unwrap();
    let (mut results, mut pushes, mut base) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..SAMPLES {
        results.push(result_sample(&rig));
        base.push(baseline(&mut dp, i));
    }
    print_line("result_to_map", results, base.clone(), "set_path");
    base.clear();
    for i in 0..SAMPLES {
        pushes.push(push_sample(&rig, &mut admin));
        base.push(baseline(&mut dp, i));
    }
    print_line("push_to_map", pushes, base.clone(), "set_path");
    drop(rig);
    let dns = Rig::start(DNS_CONFIG, None, runtime());
    let (mut changes, mut base) = (Vec::new(), Vec::new());
    for i in 0..SAMPLES {
        changes.push(dns_sample(&dns, i));
        base.push(baseline_dns(&mut dp, i));
    }
    print_line("dns_to_map", changes, base, "set_path + remove_path");
    let (mut batches, mut base) = (Vec::new(), Vec::new());
    for _ in 0..SAMPLES / 10 {
        batches.push(batch_sample(&dns));
        base.push(baseline_batch(&mut dp));
    }
    print_line("remove_batch", batches, base, "15 x remove_path");
}

criterion_group!(benches, bench);

fn main() {
    benches();
    // `cargo test --all-targets` runs this once as a smoke test (no
    // `--bench` argument): skip the summary there.
    if std::env::args().any(|a| a == "--bench") {
        summary();
    }
    Criterion::default().configure_from_args().final_summary();
}
