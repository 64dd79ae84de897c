//! The planner and the applier as tables, without root: configuration +
//! controller answers + DNS answers -> wanted map state -> the writes the
//! applier makes to an in-memory port (add, change, remove, fallback, stale
//! address, controller error, all-or-nothing, MTU order); and the owner
//! handing resolvers, local addresses and route changes to the port; the
//! first lookup after the names are in the maps; one wait per apply for
//! removals.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv6Addr;

use agent::apply::Applier;
use agent::config::Config;
use agent::plan::{plan, Inputs, Mode, Origin, Wanted};
use agent::port::{MemoryPort, PathKey, ServicePathKey};
use agent::request::{Answer, IntentsKey, RequestKey};
use dataplane::Proto;

fn a(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn sids(list: &[&str]) -> Vec<Ipv6Addr> {
    list.iter().map(|s| a(s)).collect()
}

const UPPER: [&str; 4] = [
    "fcbb:bb00:1::2",
    "fcbb:bb00:2::2",
    "fcbb:bb00:4::2",
    "fcbb:bb00:6::2",
];
const LOWER: [&str; 3] = ["fcbb:bb00:1::2", "fcbb:bb00:3::2", "fcbb:bb00:5::2"];

/// Controller mode: webserver-b by name, port 80 low-latency max 5000 with
/// a fallback, port 81 low-latency max 9000 without one.
const CONTROLLER: &str = "
hawkeye: {enabled: true, address: fcbb:cc00:5::f}
services:
  webserver-b:
    domain_name: wb.hawk.net
    applications:
      - port: 80
        sid: [fcbb:bb00:9::2]
        intents:
          - intent: low-latency
            max_value: 5000
      - port: 81
        intents:
          - intent: low-latency
            max_value: 9000
";

/// Everything the planner reads, owned, changed step by step by a test.
struct World {
    config: Config,
    mode: Mode,
    answers: HashMap<RequestKey, Answer>,
    dns: BTreeMap<String, BTreeSet<Ipv6Addr>>,
    applier: Applier<MemoryPort>,
}

impl World {
    fn new(yaml: &str) -> World {
        let config = Config::parse(yaml, "t.yaml").unwrap();
        let mode = if config.has_controller() {
            Mode::Controller
        } else {
            Mode::Standalone
        };
        World {
            config,
            mode,
            answers: HashMap::new(),
            dns: BTreeMap::new(),
            applier: Applier::new(MemoryPort::new()),
        }
    }

    fn plan(&self) -> Wanted {
        plan(Inputs {
            config: &self.config,
            mode: self.mode,
            answers: &self.answers,
            dns: &self.dns,
        })
    }

    /// Plan, apply, and return the port operations of this step.
    fn step(&mut self) -> Vec<String> {
        let wanted = self.plan();
        let before = self.applier.port().log.len();
        self.applier.apply(&wanted).unwrap();
        self.applier.port().log[before..].to_vec()
    }

    fn resolve(&mut self, name: &str, addrs: &[&str]) {
        self.dns
            .insert(name.into(), addrs.iter().map(|s| a(s)).collect());
    }

    fn answer(&mut self, dst: &str, app: usize, answer: Answer) {
        let key = self.request(dst, app);
        self.answers.insert(key, answer);
    }

    fn request(&self, dst: &str, app: usize) -> RequestKey {
        RequestKey {
            destination: a(dst),
            intents: self.config.services[0].applications[app]
                .intents_key
                .clone(),
        }
    }

    fn paths(&self) -> BTreeMap<PathKey, Vec<Ipv6Addr>> {
        self.applier.port().state.paths.clone()
    }
}

fn key(dst: &str, port: u16) -> PathKey {
    PathKey {
        destination: a(dst),
        port,
        proto: Proto::Tcp,
    }
}

#[test]
fn add_a_fixed_address_path_lowering_the_route_mtu_first() {
    let mut w = World::new(
        "services:\n  web:\n    ipv6_addresses: [fcbb:cc00:3::a]\n    applications:\n      - port: 8080\n        sid: [fcbb:bb00:1::2, fcbb:bb00:3::2, fcbb:bb00:5::2]\n",
    );
    assert_eq!(
        w.step(),
        [
            "route_mtu fcbb:cc00:3::a 1428",
            "set_path [fcbb:cc00:3::a]:8080/tcp 3"
        ]
    );
    assert_eq!(w.paths()[&key("fcbb:cc00:3::a", 8080)], sids(&LOWER));
    assert!(w.step().is_empty(), "nothing changed: nothing written");
}

#[test]
fn nothing_is_steered_before_the_name_resolves() {
    let mut w = World::new(CONTROLLER);
    let wanted = w.plan();
    assert!(wanted.entries.is_empty());
    assert!(wanted.requests.is_empty());
    assert!(w.step().is_empty());
}

#[test]
fn fallback_then_controller_then_error_then_fallback() {
    let mut w = World::new(CONTROLLER);
    w.resolve("wb.hawk.net", &["fcbb:cc00:2::a"]);
    // No answer yet: port 80 takes its fallback, port 81 is not steered.
    let wanted = w.plan();
    assert_eq!(
        wanted.requests.len(),
        2,
        "one request per intents with values"
    );
    assert_eq!(wanted.entries[0].origin, Origin::Fallback);
    assert_eq!(wanted.entries[1].origin, Origin::None);
    assert_eq!(
        wanted.entries[1].note.as_deref(),
        Some("no answer from the controller yet")
    );
    assert_eq!(
        w.step(),
        [
            "route_mtu fcbb:cc00:2::a 1460",
            "set_path [fcbb:cc00:2::a]:80/tcp 1"
        ]
    );
    // The controller answers port 80's request: its path replaces the fallback.
    w.answer("fcbb:cc00:2::a", 0, Answer::Path(sids(&UPPER)));
    assert_eq!(
        w.step(),
        [
            "route_mtu fcbb:cc00:2::a 1412",
            "set_path [fcbb:cc00:2::a]:80/tcp 4"
        ]
    );
    assert_eq!(w.plan().entries[0].origin, Origin::Controller);
    // A pushed error: the fallback stays, noted with the controller's reason.
    w.answer(
        "fcbb:cc00:2::a",
        0,
        Answer::Error("no path meets latency <= 5000 us".into()),
    );
    assert_eq!(
        w.step(),
        [
            "set_path [fcbb:cc00:2::a]:80/tcp 1",
            "route_mtu fcbb:cc00:2::a 1460"
        ],
        "a shorter path is written before the route MTU is raised"
    );
    let wanted = w.plan();
    assert_eq!(wanted.entries[0].origin, Origin::Fallback);
    assert_eq!(
        wanted.entries[0].note.as_deref(),
        Some("no path meets latency <= 5000 us")
    );
}

#[test]
fn same_intent_names_with_other_values_get_their_own_answers() {
    let mut w = World::new(CONTROLLER);
    w.resolve("wb.hawk.net", &["fcbb:cc00:2::a"]);
    w.answer("fcbb:cc00:2::a", 0, Answer::Path(sids(&UPPER)));
    w.answer("fcbb:cc00:2::a", 1, Answer::Path(sids(&LOWER)));
    w.step();
    let paths = w.paths();
    assert_eq!(paths[&key("fcbb:cc00:2::a", 80)], sids(&UPPER));
    assert_eq!(paths[&key("fcbb:cc00:2::a", 81)], sids(&LOWER));
    assert_eq!(paths.len(), 2);
    assert_eq!(
        w.applier.port().state.route_mtus[&a("fcbb:cc00:2::a")],
        1412,
        "the route MTU leaves room for the longest path to the destination"
    );
}

#[test]
fn controller_error_without_fallback_removes_the_path() {
    let mut w = World::new(CONTROLLER);
    w.resolve("wb.hawk.net", &["fcbb:cc00:2::a"]);
    w.answer("fcbb:cc00:2::a", 1, Answer::Path(sids(&LOWER)));
    w.step();
    w.answer(
        "fcbb:cc00:2::a",
        1,
        Answer::Error("no path from host-a to host-b".into()),
    );
    assert_eq!(
        w.step(),
        [
            "remove_path [fcbb:cc00:2::a]:81/tcp",
            "route_mtu fcbb:cc00:2::a 1460"
        ]
    );
    assert!(!w.paths().contains_key(&key("fcbb:cc00:2::a", 81)));
}

#[test]
fn a_changed_address_moves_the_entries_and_the_requests() {
    let mut w = World::new(CONTROLLER);
    w.resolve("wb.hawk.net", &["fcbb:cc00:2::a"]);
    w.answer("fcbb:cc00:2::a", 0, Answer::Path(sids(&UPPER)));
    w.step();
    // The name now points elsewhere: the old address's entries go, the new
    // address is requested and takes the fallback until answered; the old
    // answer is not reused for the new address.
    w.resolve("wb.hawk.net", &["fcbb:cc00:7::a"]);
    let wanted = w.plan();
    assert_eq!(
        wanted.requests,
        BTreeSet::from([
            w.request("fcbb:cc00:7::a", 0),
            w.request("fcbb:cc00:7::a", 1)
        ])
    );
    assert_eq!(
        w.step(),
        [
            "route_mtu fcbb:cc00:7::a 1460",
            "set_path [fcbb:cc00:7::a]:80/tcp 1",
            "remove_path [fcbb:cc00:2::a]:80/tcp",
            "route_mtu fcbb:cc00:2::a restore"
        ]
    );
    assert_eq!(
        w.paths().keys().copied().collect::<Vec<_>>(),
        [key("fcbb:cc00:7::a", 80)]
    );
    // An address that vanishes without a replacement: nothing left.
    w.resolve("wb.hawk.net", &[]);
    w.step();
    assert!(w.paths().is_empty());
    assert!(w.applier.port().state.route_mtus.is_empty());
}

#[test]
fn standalone_names_are_snooped_and_resolved() {
    let mut w = World::new(
        "services:\n  web:\n    domain_name: wb.hawk.net\n    applications:\n      - port: 80\n        sid: [fcbb:bb00:1::2, fcbb:bb00:2::2, fcbb:bb00:4::2, fcbb:bb00:6::2]\n        intents:\n          - intent: low-latency\n",
    );
    // Before the agent's own resolution: snooping already covers the name.
    assert_eq!(
        w.step(),
        ["set_service_path 1:80/tcp 4", "add_dns_name wb.hawk.net 1"]
    );
    assert!(w.plan().requests.is_empty(), "standalone mode asks nobody");
    w.resolve("wb.hawk.net", &["fcbb:cc00:2::a", "fcbb:cc00:2::b"]);
    w.step();
    let port = w.applier.port();
    assert_eq!(port.state.paths.len(), 2);
    assert_eq!(
        port.state.service_paths[&ServicePathKey {
            service: 1,
            port: 80,
            proto: Proto::Tcp
        }],
        sids(&UPPER)
    );
    assert_eq!(w.plan().entries[0].origin, Origin::Config);
    // Removing everything (shutdown) takes names out before their paths.
    let before = w.applier.port().log.len();
    w.applier.clear().unwrap();
    let log = &w.applier.port().log[before..];
    assert_eq!(log[2], "remove_dns_name wb.hawk.net");
    assert_eq!(log[3], "remove_service_path 1:80/tcp");
    assert_eq!(w.applier.port().state, agent::port::PortState::default());
}

#[test]
fn two_services_on_one_address_the_first_wins() {
    let mut w = World::new(
        "services:\n  one:\n    domain_name: a.hawk.net\n    applications:\n      - port: 80\n        sid: [fcbb:bb00:1::2]\n  two:\n    domain_name: b.hawk.net\n    applications:\n      - port: 80\n        sid: [fcbb:bb00:2::2]\n",
    );
    w.resolve("a.hawk.net", &["fcbb:cc00:2::a"]);
    w.resolve("b.hawk.net", &["fcbb:cc00:2::a"]);
    let wanted = w.plan();
    assert_eq!(wanted.entries.len(), 1);
    assert_eq!(wanted.entries[0].service, "one");
    assert_eq!(
        wanted.conflicts,
        ["[fcbb:cc00:2::a]:80/tcp: service two is not steered there, one already is"]
    );
}

#[test]
fn a_failed_write_is_undone_and_the_old_state_stays_whole() {
    let mut w = World::new(CONTROLLER);
    w.resolve("wb.hawk.net", &["fcbb:cc00:2::a"]);
    w.answer("fcbb:cc00:2::a", 0, Answer::Path(sids(&LOWER)));
    w.answer("fcbb:cc00:2::a", 1, Answer::Path(sids(&LOWER)));
    w.step();
    let before = w.applier.port().state.clone();
    // Both ports change; the second write fails.
    w.answer("fcbb:cc00:2::a", 0, Answer::Path(sids(&UPPER)));
    w.answer("fcbb:cc00:2::a", 1, Answer::Path(sids(&UPPER)));
    w.applier.port_mut().fail_on = Some("set_path [fcbb:cc00:2::a]:81".into());
    let err = w.applier.apply(&w.plan()).unwrap_err();
    assert!(err.to_string().contains("injected failure"), "{err}");
    assert_eq!(
        w.applier.port().state,
        before,
        "undone: the maps hold the old state"
    );
    let log = &w.applier.port().log;
    assert_eq!(
        log[log.len() - 4..],
        [
            "route_mtu fcbb:cc00:2::a 1412",
            "set_path [fcbb:cc00:2::a]:80/tcp 4",
            "set_path [fcbb:cc00:2::a]:80/tcp 3",
            "route_mtu fcbb:cc00:2::a 1428"
        ]
    );
    // The next apply (the failure gone) writes the whole change.
    w.applier.port_mut().fail_on = None;
    w.step();
    assert_eq!(w.paths()[&key("fcbb:cc00:2::a", 81)], sids(&UPPER));
}

#[test]
fn intents_keys_distinguish_values() {
    let w = World::new(CONTROLLER);
    let apps = &w.config.services[0].applications;
    assert_ne!(apps[0].intents_key, apps[1].intents_key);
    assert_eq!(
        apps[1].intents_key.to_string(),
        "low-latency max_value=9000"
    );
    assert_eq!(IntentsKey::from_wire(&apps[1].intents), apps[1].intents_key);
}

/// The owner hands resolv.conf's resolvers and the interface's addresses
/// to the port as they change, has the handoffs chosen again when routes
/// change, and reports what the port holds; the paths are not touched.
#[test]
fn the_owner_passes_resolvers_and_local_addresses_to_the_dataplane() {
    use agent::owner::{ClientOwner, Identity, Update};
    let text = "services:\n  web:\n    domain_name: wb.hawk.net\n    applications:\n      - port: 80\n        sid: [fcbb:bb00:1::2]\n";
    let config = Config::parse(text, "agent.yaml").unwrap();
    let identity = Identity {
        mode: "client (standalone)".into(),
        interface: "eth0".into(),
        programs: "memory".into(),
        started: std::time::SystemTime::now(),
    };
    let (requests, _) = tokio::sync::watch::channel(BTreeSet::new());
    let mut owner = ClientOwner::new(
        config,
        Mode::Standalone,
        a("fcbb:cc00:1::a"),
        identity,
        MemoryPort::new(),
        requests,
    );
    let writes = owner.port().log.len();
    let resolvers = vec![a("fcbb:cc00:4::f"), a("fc00:d::1")];
    assert!(owner.handle(Update::Resolvers(resolvers.clone())));
    let local = vec![a("fcbb:cc00:1::a"), a("fe80::1")];
    assert!(owner.handle(Update::LocalAddresses(local.clone())));
    assert!(owner.handle(Update::RoutesChanged));
    assert_eq!(
        owner.port().log[writes..],
        ["set_resolvers 2", "set_local_addresses 2", "refresh_routes"]
    );
    let report = owner.report();
    assert_eq!(report.resolvers, resolvers);
    assert_eq!(report.local_addresses, local);
}

/// A [`MemoryPort`] whose state the test can read from another thread, with
/// slow name writes (as a busy machine's are): the agent's first lookup must
/// still find the names and resolvers in the maps.
struct SharedPort {
    inner: MemoryPort,
    held: std::sync::Arc<std::sync::Mutex<agent::port::PortState>>,
}

impl SharedPort {
    fn sync(
        &mut self,
        done: Result<(), agent::port::PortError>,
    ) -> Result<(), agent::port::PortError> {
        *self.held.lock().unwrap() = self.inner.state.clone();
        done
    }
}

impl agent::port::ClientPort for SharedPort {
    fn set_path(&mut self, key: PathKey, sids: &[Ipv6Addr]) -> Result<(), agent::port::PortError> {
        let done = self.inner.set_path(key, sids);
        self.sync(done)
    }
    fn remove_path(&mut self, key: PathKey) -> Result<(), agent::port::PortError> {
        let done = self.inner.remove_path(key);
        self.sync(done)
    }
    fn set_service_path(
        &mut self,
        key: ServicePathKey,
        sids: &[Ipv6Addr],
    ) -> Result<(), agent::port::PortError> {
        let done = self.inner.set_service_path(key, sids);
        self.sync(done)
    }
    fn remove_service_path(&mut self, key: ServicePathKey) -> Result<(), agent::port::PortError> {
        let done = self.inner.remove_service_path(key);
        self.sync(done)
    }
    fn add_dns_name(&mut self, name: &str, service: u32) -> Result<(), agent::port::PortError> {
        // Widens the window a lookup started too early would fall into.
        std::thread::sleep(std::time::Duration::from_millis(200));
        let done = self.inner.add_dns_name(name, service);
        self.sync(done)
    }
    fn remove_dns_name(&mut self, name: &str) -> Result<(), agent::port::PortError> {
        let done = self.inner.remove_dns_name(name);
        self.sync(done)
    }
    fn set_route_mtu(
        &mut self,
        destination: Ipv6Addr,
        sids: Option<usize>,
    ) -> Result<(), agent::port::PortError> {
        let done = self.inner.set_route_mtu(destination, sids);
        self.sync(done)
    }
    fn set_resolvers(&mut self, resolvers: &[Ipv6Addr]) -> Result<(), agent::port::PortError> {
        let done = self.inner.set_resolvers(resolvers);
        self.sync(done)
    }
    fn set_local_addresses(
        &mut self,
        addresses: &[Ipv6Addr],
    ) -> Result<(), agent::port::PortError> {
        let done = self.inner.set_local_addresses(addresses);
        self.sync(done)
    }
    fn wait_for_removals(&mut self) {
        self.inner.wait_for_removals();
    }
    fn refresh_routes(&mut self) -> Result<usize, agent::port::PortError> {
        self.inner.refresh_routes()
    }
    fn read(&self) -> Result<agent::port::PortState, agent::port::PortError> {
        self.inner.read()
    }
}

/// A lookup that records what the port held when each query was asked.
struct RecordingLookup {
    held: std::sync::Arc<std::sync::Mutex<agent::port::PortState>>,
    seen: std::sync::Mutex<Vec<agent::port::PortState>>,
}

impl agent::resolve::Lookup for RecordingLookup {
    async fn aaaa(&self, _name: &str) -> agent::resolve::LookupOutcome {
        let now = self.held.lock().unwrap().clone();
        self.seen.lock().unwrap().push(now);
        agent::resolve::LookupOutcome::Found {
            addresses: [a("fc00:b::1")].into(),
            ttl: std::time::Duration::from_secs(3600),
        }
    }
}

/// The dataplane notes a DNS query only while it snoops a name (and the
/// query goes to a believed resolver), so the agent's own first query
/// must leave after both are in the maps; before, its reply counted as
/// unsolicited whenever the lookup beat the owner's first apply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_lookup_leaves_after_the_names_and_resolvers_are_in_the_maps() {
    use std::sync::{Arc, Mutex};
    let text = "services:\n  web:\n    domain_name: wb.hawk.net\n    applications:\n      - port: 80\n        sid: [fcbb:bb00:1::2]\n";
    let held = Arc::new(Mutex::new(agent::port::PortState::default()));
    let lookup = Arc::new(RecordingLookup {
        held: held.clone(),
        seen: Mutex::new(Vec::new()),
    });
    let spec = agent::ClientSpec {
        config: Config::parse(text, "agent.yaml").unwrap(),
        source: a("fcbb:cc00:1::a"),
        controller: None,
        backoff: agent::controller::Backoff::default(),
        lookup: lookup.clone(),
        refresh: agent::resolve::Refresh::default(),
        resolvers: vec![a("fc00:d::1")],
        interface: "none".into(),
        programs: "memory".into(),
    };
    let port_held = held.clone();
    let agent = agent::ClientAgent::start(spec, move || {
        Ok(SharedPort {
            inner: MemoryPort::new(),
            held: port_held,
        })
    })
    .await
    .unwrap();
    let resolved = async {
        loop {
            let report = agent.report().await.unwrap();
            if report.dns.iter().any(|n| !n.addresses.is_empty()) {
                break report;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    };
    let report = tokio::time::timeout(std::time::Duration::from_secs(20), resolved)
        .await
        .expect("the name resolved");
    assert_eq!(report.dns[0].addresses, [a("fc00:b::1")]);
    let first = lookup.seen.lock().unwrap()[0].clone();
    assert_eq!(
        first.dns_names,
        BTreeMap::from([("wb.hawk.net".to_string(), 1)])
    );
    assert_eq!(first.resolvers, [a("fc00:d::1")]);
    agent.stop().await;
}

/// A removal costs the dataplane an RCU grace period (no packet may still
/// read a removed path when its memory is reused); the applier waits once
/// per apply, however many paths and service paths it removes, and not at
/// all when it removes nothing.
#[test]
fn an_apply_waits_for_its_removals_once() {
    let mut w = World::new(
        "services:
  fixed:
    ipv6_addresses: [fc00:b::1, fc00:b::2, fc00:b::3]
    applications:
      - {port: 80, sid: [fcbb:bb00:1::2]}
      - {port: 81, sid: [fcbb:bb00:1::2]}
  named:
    domain_name: wb.hawk.net
    applications:
      - {port: 80, sid: [fcbb:bb00:1::2]}
",
    );
    w.resolve("wb.hawk.net", &["fc00:c::1", "fc00:c::2"]);
    w.step();
    assert_eq!(w.paths().len(), 8);
    assert_eq!(w.applier.port().grace_periods, 0, "nothing removed");
    // The name's two addresses go: two paths removed, one wait.
    w.resolve("wb.hawk.net", &[]);
    let ops = w.step();
    assert_eq!(
        ops.iter().filter(|o| o.starts_with("remove_path")).count(),
        2,
        "{ops:?}"
    );
    assert_eq!(w.applier.port().grace_periods, 1);
    // Shutdown: six paths, a service path and a name, one wait.
    let done = w.applier.clear().unwrap();
    assert_eq!(
        done.removed,
        6 + 1 + 1 + 3,
        "paths, service path, name, routes"
    );
    assert!(w.paths().is_empty());
    assert_eq!(w.applier.port().grace_periods, 2);
}
