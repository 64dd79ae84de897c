//! What `up` runs besides the network (as root): the controller and the
//! agents ready when `up` returns; a controller or agent that dies during
//! `up` fails it with the end of its log and leaves nothing; a missing
//! binary refuses before anything exists; `labctl link set` changes the
//! kernel (shapers, droppers, link state, the underlay's routes) and tells
//! the controller, which pushes the new path to the session of a gRPC
//! client opened by the test in host-a's namespace, and to an agent.
//!
//! The tests that run `srv6-agent` fail, naming it, where it is not built
//! ([`require_binary`]); the others use hawk without agents.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use futures::StreamExt;
use labctl::deploy::{self, agent::AgentStatus};
use mock_controller::api::{self, intent_controller_client::IntentControllerClient};

fn ip6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// DESIGN §1's high-bandwidth path and hawk's low-latency one (travel order).
const UPPER: [&str; 4] = [
    "fcbb:bb00:1::2",
    "fcbb:bb00:2::2",
    "fcbb:bb00:4::2",
    "fcbb:bb00:6::2",
];
const LOWER: [&str; 4] = [
    "fcbb:bb00:1::2",
    "fcbb:bb00:3::2",
    "fcbb:bb00:5::2",
    "fcbb:bb00:6::2",
];

fn sids(list: &[&str]) -> Vec<Ipv6Addr> {
    list.iter().map(|s| ip6(s)).collect()
}

fn agent_bin() -> PathBuf {
    require_binary(deploy::AGENT_BIN)
}

/// hawk without its agents (the controller still runs): what `up`,
/// `link set` and the controller do, seen without `srv6-agent`.
fn hawk_without_agents() -> TempTopology {
    let hawk = std::fs::read_to_string(topo("hawk.yaml")).unwrap();
    TempTopology::new(&without_agents(&hawk))
}

/// A `GetIntentPath` stream to the lab's controller opened from host-a's
/// namespace (what host-a's agent would open), asking for a high-bandwidth
/// path to host-b; every result's SID list arrives on `results`.
struct Session {
    results: std::sync::mpsc::Receiver<Result<Vec<Ipv6Addr>, String>>,
}

impl Session {
    fn open(lab: &Lab) -> Session {
        let (tx, results) = std::sync::mpsc::channel();
        let request = api::PathRequest {
            ipv6_source_address: "fcbb:cc00:1::a".into(),
            ipv6_destination_address: "fcbb:cc00:2::a".into(),
            intents: vec![api::Intent {
                r#type: api::IntentType::HighBandwidth as i32,
                values: vec![],
            }],
        };
        // Detached: the stream ends when the lab's controller goes.
        let _thread = labns::spawn_in(&lab.ns("host-a"), move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let url = "http://[fcbb:cc00:5::f]:5001";
                let mut client = match IntentControllerClient::connect(url).await {
                    Ok(c) => c,
                    Err(e) => return tx.send(Err(format!("connect {url}: {e}"))).unwrap(),
                };
                // One request, then the stream stays open (the session lives).
                let requests = futures::stream::iter([request]).chain(futures::stream::pending());
                let mut stream = match client.get_intent_path(requests).await {
                    Ok(r) => r.into_inner(),
                    Err(e) => return tx.send(Err(format!("GetIntentPath: {e}"))).unwrap(),
                };
                while let Ok(Some(result)) = stream.message().await {
                    let sids = result.ipv6_sid_addresses.iter().map(|s| ip6(s)).collect();
                    if tx.send(Ok(sids)).is_err() {
                        break;
                    }
                }
            })
        })
        .unwrap();
        Session { results }
    }

    /// The next SID list the controller sent (answer or push), within 5 s.
    fn next(&self) -> Vec<Ipv6Addr> {
        self.results
            .recv_timeout(Duration::from_secs(5))
            .expect("no result from the controller within 5 s")
            .unwrap()
    }
}

/// The status of the agent of `node` in `lab` (the library's reader).
fn agent_status(lab: &Lab, node: &str) -> AgentStatus {
    let ifname = deploy::host_interface(&lab.topology(), node).unwrap();
    deploy::agent::status(&agent_bin(), &lab.ns(node), &ifname).unwrap()
}

/// host-a's SID list towards host-b:80, once it equals `want` (5 s).
fn host_a_holds(lab: &Lab, want: &[&str]) -> bool {
    let want = sids(want);
    wait_for(Duration::from_secs(5), || {
        agent_status(lab, "host-a")
            .path(ip6("fcbb:cc00:2::a"), 80)
            .is_some_and(|p| p.sids == want && p.origin == "controller")
    })
}

#[test]
fn up_returns_with_the_controller_and_the_agents_ready() {
    agent_bin();
    let lab = Lab::up("hawk.yaml");
    // Ready by condition: the path is there the moment up returns.
    let a = agent_status(&lab, "host-a");
    let path = a
        .path(ip6("fcbb:cc00:2::a"), 80)
        .expect("host-a holds a path");
    assert_eq!(path.sids, sids(&UPPER), "DESIGN §1");
    assert_eq!(path.origin, "controller");
    assert_eq!(a.mode, "client (controller)");
    let b = agent_status(&lab, "host-b");
    assert_eq!(b.mode, "server");
    // The server trusts the lab's hosts.
    let d = deploy::Deployment::read(&Path::new("/run/labctl").join(&lab.name)).unwrap();
    let server = d.agents.iter().find(|x| x.node == "host-b").unwrap();
    assert_eq!(
        server.run,
        deploy::AgentRun::Server {
            trusted: ["fcbb:cc00:1::/48", "fcbb:cc00:2::/48", "fcbb:cc00:3::/48"]
                .iter()
                .map(|p| p.parse().unwrap())
                .collect()
        }
    );
    let (_, names) = healthy_processes(&lab.name);
    assert_eq!(names, ["agent-host-a", "agent-host-b", "controller", "dns"]);
}

/// A directory holding a copy of labctl (so `up` looks for the other
/// binaries beside it) and `extra` executables written there.
fn labctl_beside(extra: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("labctl");
    if std::fs::hard_link(LABCTL, &copy).is_err() {
        std::fs::copy(LABCTL, &copy).unwrap();
    }
    for (name, script) in extra {
        let p = dir.path().join(name);
        std::fs::write(&p, script).unwrap();
        let mode = std::os::unix::fs::PermissionsExt::from_mode(0o755);
        std::fs::set_permissions(&p, mode).unwrap();
    }
    dir
}

fn up_with(labctl: &Path, file: &str, lab: &str, path: Option<&str>) -> std::process::Output {
    let mut cmd = Command::new(labctl);
    cmd.args(["up", "-q", file, "--name", lab]);
    if let Some(p) = path {
        cmd.env("PATH", p);
    }
    cmd.output().unwrap()
}

fn nothing_made(lab: &str) {
    assert!(
        !Path::new("/run/labctl").join(lab).exists(),
        "state of {lab} left"
    );
    assert!(namespaces_of(lab).is_empty(), "namespaces of {lab} left");
}

#[test]
fn a_controller_that_dies_during_up_fails_it_with_its_log_and_leaves_nothing() {
    let fake = "#!/bin/sh\necho 'mock-controller: cannot listen: the fake says no' >&2\nexit 3\n";
    let dir = labctl_beside(&[("mock-controller", fake)]);
    let t = hawk_without_agents();
    let lab = unique_name();
    let out = up_with(&dir.path().join("labctl"), t.path(), &lab, None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("controller exited (exit status: 3)"), "{err}");
    assert!(
        err.contains("cannot listen: the fake says no"),
        "the log's tail: {err}"
    );
    nothing_made(&lab);
}

#[test]
fn up_without_agents_runs_the_controller_on_the_labs_own_topology() {
    let t = hawk_without_agents();
    let lab = Lab::up(t.path());
    let d = deploy::Deployment::read(&Path::new("/run/labctl").join(&lab.name)).unwrap();
    assert!(d.agents.is_empty());
    assert_eq!(d.controller.unwrap().node, "controller");
    // Ready when up returned: a session answers at once, with DESIGN §1's path.
    let session = Session::open(&lab);
    assert_eq!(session.next(), sids(&UPPER));
    let (_, names) = healthy_processes(&lab.name);
    assert_eq!(names, ["controller", "dns"]);
}

#[test]
fn an_agent_that_dies_during_up_fails_it_with_its_log_and_leaves_nothing() {
    agent_bin();
    let line = std::fs::read_to_string(topo("line.yaml")).unwrap();
    let t = TempTopology::new(&line);
    // Port 0 is no port: the agent refuses its configuration and exits.
    let cfg = Path::new(t.path())
        .parent()
        .unwrap()
        .join("agents/line-h1.yaml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(
        text.contains("port: 80"),
        "line-h1.yaml changed: update this test"
    );
    std::fs::write(&cfg, text.replace("port: 80", "port: 0")).unwrap();
    let lab = unique_name();
    let out = labctl(&["up", "-q", t.path(), "--name", &lab]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("agent-h1 exited"), "{err}");
    assert!(err.contains("port"), "the agent's own reason: {err}");
    nothing_made(&lab);
}

#[test]
fn a_missing_binary_is_named_before_anything_is_made() {
    let dir = labctl_beside(&[]);
    let lab = unique_name();
    let out = up_with(
        &dir.path().join("labctl"),
        topo("hawk.yaml").to_str().unwrap(),
        &lab,
        Some("/usr/sbin:/usr/bin:/sbin:/bin"),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let beside = dir.path().join("mock-controller");
    assert!(
        err.contains(&format!(
            "mock-controller not found (looked in {}, PATH)",
            beside.display()
        )),
        "{err}"
    );
    assert!(err.contains("Nothing was created"), "{err}");
    nothing_made(&lab);
}

/// `tc -n NS ARGS...` output.
fn tc(ns: &str, args: &[&str]) -> String {
    String::from_utf8_lossy(&tool_in("tc", ns, args)).into_owned()
}

fn link_set(lab: &Lab, args: &[&str]) -> (Option<i32>, String) {
    let mut all = vec!["link", "set"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--lab", &lab.name]);
    let out = labctl(&all);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[test]
fn link_set_shapes_the_kernel_and_the_controller_pushes_the_new_path() {
    let t = hawk_without_agents();
    let lab = Lab::up(t.path());
    let session = Session::open(&lab);
    assert_eq!(session.next(), sids(&UPPER));
    let (code, out) = link_set(&lab, &["vpp2", "vpp4", "--bandwidth", "10mbit"]);
    assert_eq!(code, Some(0), "{out}");
    let vpp2_if = lab.ifname("vpp2", "vpp4");
    assert!(
        out.contains(&format!(
            "vpp2–vpp4 a->b bandwidth 10000 kbit/s [enforced]: tbf on vpp2:{vpp2_if}"
        )),
        "{out}"
    );
    assert!(
        out.contains("controller told: 1 sessions recomputed, 1 results pushed"),
        "{out}"
    );
    for (node, peer) in [("vpp2", "vpp4"), ("vpp4", "vpp2")] {
        let qdisc = tc(
            &lab.ns(node),
            &["qdisc", "show", "dev", &lab.ifname(node, peer)],
        );
        assert!(
            qdisc.contains("tbf") && qdisc.contains("rate 10Mbit"),
            "{node}: {qdisc}"
        );
    }
    // The widest path is now the lower one: the controller pushed it.
    assert_eq!(session.next(), sids(&LOWER), "the push");
    let (_, v) = status_json(&lab.name);
    let link = &v["links"][3];
    assert_eq!(link["a"], format!("vpp2:{vpp2_if}"));
    assert!(
        link["properties"]
            .to_string()
            .contains("\"text\":\"10mbit\""),
        "{link}"
    );
    // Only the controller knows latency; it says so.
    let (code, out) = link_set(
        &lab,
        &["vpp4", "vpp2", "--latency", "9ms", "--direction", "a-to-b"],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("vpp2–vpp4 b->a latency 9000 us [declared]"),
        "{out}"
    );
    let (code, out) = link_set(&lab, &["vpp1", "vpp6", "--metric", "5"]);
    assert_eq!(code, Some(1));
    assert!(out.contains("no link between vpp1 and vpp6"), "{out}");
}

/// `ip -n NS -6 route show PREFIX` as text.
fn route_to(lab: &Lab, node: &str, prefix: &str) -> String {
    let out = ip_in(&lab.ns(node), &["-6", "route", "show", prefix]);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn link_set_takes_a_link_down_and_up_reroutes_the_underlay_and_drops() {
    let t = hawk_without_agents();
    let lab = Lab::up(t.path());
    let session = Session::open(&lab);
    assert_eq!(session.next(), sids(&UPPER));
    let (ns, ifname) = (lab.ns("vpp1"), lab.ifname("vpp1", "vpp2"));
    let (code, out) = link_set(&lab, &["vpp1", "vpp2", "--down"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("underlay recomputed [enforced]"), "{out}");
    for (node, peer) in [("vpp1", "vpp2"), ("vpp2", "vpp1")] {
        let shown = ip_in(&lab.ns(node), &["link", "show", &lab.ifname(node, peer)]);
        assert!(
            String::from_utf8_lossy(&shown).contains("state DOWN"),
            "{node}"
        );
    }
    assert_eq!(
        session.next(),
        sids(&LOWER),
        "the controller routes around the down link"
    );
    // The underlay went around it too (the controller's own stream included).
    assert!(ping(
        &lab.ns("host-a"),
        ip6("fcbb:cc00:2::a"),
        Duration::from_secs(3)
    ));
    let vpp1_to_vpp4 = route_to(&lab, "vpp1", "fcbb:bb00:4::/48");
    assert!(
        vpp1_to_vpp4.contains(&lab.ifname("vpp1", "vpp3")),
        "vpp1 reaches vpp4 over vpp3: {vpp1_to_vpp4}"
    );
    // vpp2's SID moved to its link that is still up (the route on the
    // down device is gone in the kernel).
    let sid = route_to(&lab, "vpp2", "fcbb:bb00:2::2");
    assert!(
        sid.contains("seg6local") && sid.contains(&lab.ifname("vpp2", "vpp4")),
        "vpp2's SID: {sid}"
    );
    // vpp2 is reached the long way round (vpp3, vpp5, vpp6, vpp4).
    assert!(ping(
        &lab.ns("host-a"),
        ip6("fcbb:bb00:2::1"),
        Duration::from_secs(3)
    ));
    let (code, out) = link_set(&lab, &["vpp1", "vpp2", "--up"]);
    assert_eq!(code, Some(0), "{out}");
    let shown = ip_in(&ns, &["link", "show", &ifname]);
    assert!(
        String::from_utf8_lossy(&shown).contains("state UP"),
        "carrier back when up returns"
    );
    assert_eq!(session.next(), sids(&UPPER));
    let vpp1_to_vpp4 = route_to(&lab, "vpp1", "fcbb:bb00:4::/48");
    assert!(
        vpp1_to_vpp4.contains(&ifname),
        "vpp1 reaches vpp4 over vpp2 again: {vpp1_to_vpp4}"
    );
    let (code, out) = link_set(
        &lab,
        &["vpp1", "vpp2", "--loss", "50", "--direction", "a-to-b"],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("loss 50 % [enforced]: BPF dropper on vpp1:"),
        "{out}"
    );
    assert!(tc(&ns, &["filter", "show", "dev", &ifname, "egress"]).contains("labctl_loss"));
    let (code, out) = link_set(&lab, &["vpp1", "vpp2", "--loss", "0"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(!tc(&ns, &["filter", "show", "dev", &ifname, "egress"]).contains("labctl_loss"));
}

#[test]
fn link_set_moves_the_agents_path() {
    agent_bin();
    let lab = Lab::up("hawk.yaml");
    assert!(host_a_holds(&lab, &UPPER));
    let (code, out) = link_set(&lab, &["vpp2", "vpp4", "--bandwidth", "10mbit"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("controller told: 1 sessions recomputed, 1 results pushed"),
        "{out}"
    );
    assert!(
        host_a_holds(&lab, &LOWER),
        "the agent did not follow the push"
    );
}
