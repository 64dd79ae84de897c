//! Privileged end-to-end tests of `labctl up/down/status/exec` (run as root).
//! Every lab has a unique name and is torn down by an RAII guard.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::Ipv6Addr;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

fn ip6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

#[test]
fn hawk_hosts_reach_each_other_dns_resolves_and_seg6_steers_the_lower_path() {
    let lab = Lab::up("hawk.yaml");
    let topo = lab.topology();

    // Every end system pings every other end system (service addresses).
    let ends: Vec<_> = topo
        .nodes
        .values()
        .filter(|n| n.kind.is_end_system())
        .collect();
    assert!(ends.len() >= 5);
    for a in &ends {
        for b in &ends {
            if a.name != b.name {
                let dst = b.address.unwrap();
                assert!(
                    ping(&lab.ns(&a.name), dst, Duration::from_secs(3)),
                    "{} cannot reach {} ({dst})",
                    a.name,
                    b.name
                );
            }
        }
    }

    // The lab DNS answers host-a (through site-a) with the model's record.
    let out = lab.exec("host-a", &["getent", "ahosts", "wb.hawk.net"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "getent failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("fcbb:cc00:2::a"), "getent said: {text}");

    // Kernel seg6 inline encap on host-a along the lower path, to host-c
    // (host-b's address is the deployed agent's: it holds a route to it).
    let l35 = topo.link_between("vpp3", "vpp5").unwrap();
    let (ns3, if35) = (lab.ns(&l35.a.node), l35.a.ifname.clone());
    assert_eq!(l35.a.node, "vpp3");
    let host_c = ip6("fcbb:cc00:3::a");
    const N: u64 = 20;

    // Without steering the underlay takes the upper path: the lower link stays quiet.
    let before = tx_packets(&ns3, &if35);
    for _ in 0..N {
        assert!(ping(&lab.ns("host-a"), host_c, Duration::from_secs(3)));
    }
    let plain = tx_packets(&ns3, &if35) - before;
    assert!(
        plain < N,
        "underlay already used the lower path ({plain} packets)"
    );

    let host_a_if = lab.ifname("host-a", "site-a");
    lab.ip(
        "host-a",
        &[
            "-6",
            "route",
            "add",
            "fcbb:cc00:3::a/128",
            "encap",
            "seg6",
            "mode",
            "inline",
            "segs",
            "fcbb:bb00:1::2,fcbb:bb00:3::2,fcbb:bb00:5::2,fcbb:bb00:6::2",
            "dev",
            &host_a_if,
        ],
    );
    let before = tx_packets(&ns3, &if35);
    for _ in 0..N {
        assert!(
            ping(&lab.ns("host-a"), host_c, Duration::from_secs(3)),
            "steered echo did not come back"
        );
    }
    let steered = tx_packets(&ns3, &if35) - before;
    assert!(steered >= N, "only {steered} packets crossed vpp3 -> vpp5");
}

#[test]
fn status_reports_nodes_processes_and_enforcement() {
    let lab = Lab::up("hawk.yaml");
    let out = labctl(&["status", &lab.name, "--output", "json"]);
    assert!(out.status.success());
    let all: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 1, "a list, as without NAME");
    let v = &all[0];
    assert_eq!(v["name"], lab.name.as_str());
    assert_eq!(v["complete"], true);
    let nodes = v["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 14);
    assert!(nodes.iter().all(|n| n["netns_present"] == true));
    let vpp1 = nodes.iter().find(|n| n["name"] == "vpp1").unwrap();
    assert_eq!(vpp1["sid"], "fcbb:bb00:1::2");
    // Live kernel state: the SID route, every planned route, the addresses.
    assert_eq!(vpp1["live"]["sids"], 1);
    assert_eq!(vpp1["live"]["static_routes"], vpp1["routes"]);
    let addrs: Vec<&str> = vpp1["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(addrs.contains(&"lo fcbb:bb00:1::1/128"), "{addrs:?}");
    // `up` returns only when every link has carrier (a fresh lab drops
    // nothing): the first status already sees them all up.
    let down: Vec<&serde_json::Value> = v["links"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["state"] != "up")
        .collect();
    assert!(
        down.is_empty(),
        "links without carrier right after up: {down:?}"
    );
    let procs = v["processes"].as_array().unwrap();
    assert!(procs
        .iter()
        .any(|p| p["name"] == "dns" && p["alive"] == true));
    let props: Vec<&serde_json::Value> = v["links"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| l["properties"].as_array().unwrap())
        .collect();
    assert!(props
        .iter()
        .any(|p| p["property"] == "bandwidth" && p["enforcement"] == "enforced"));
    assert!(props
        .iter()
        .any(|p| p["property"] == "latency" && p["enforcement"] == "declared"));
    // Numbers as numbers, with the file's notation beside them (vpp1-vpp2
    // is `bandwidth: 1gbit, latency: 4ms` in hawk.yaml).
    let l12 = &v["links"][1];
    assert_eq!(l12["a"].as_str().unwrap().split(':').next(), Some("vpp1"));
    assert_eq!(l12["symmetric"], true);
    let prop = |dir: &str, name: &str| {
        l12["properties"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["direction"] == dir && p["property"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(prop("b->a", "bandwidth")["value"], 1_000_000);
    assert_eq!(prop("b->a", "bandwidth")["unit"], "kbit/s");
    assert_eq!(prop("b->a", "bandwidth")["text"], "1gbit");
    assert_eq!(prop("a->b", "latency")["value"], 4000);
    assert_eq!(prop("a->b", "latency")["text"], "4ms");

    // The enforced bandwidth really is a tbf qdisc on the sending side.
    let topo = lab.topology();
    let l12 = topo.link_between("vpp1", "vpp2").unwrap();
    let q = Command::new("tc")
        .args([
            "-n",
            &lab.ns(&l12.a.node),
            "-j",
            "qdisc",
            "show",
            "dev",
            &l12.a.ifname,
        ])
        .output()
        .unwrap();
    let q: serde_json::Value = serde_json::from_slice(&q.stdout).unwrap();
    assert_eq!(q[0]["kind"], "tbf", "{q}");

    let table = labctl(&["status", &lab.name]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("fcbb:bb00:1::2 End"), "{text}");
    assert!(
        text.contains(" 1gbit 4ms~\n"),
        "enforced bandwidth, declared latency: {text}"
    );
    assert!(text.contains("~ declared only"), "the legend: {text}");
}

#[test]
fn down_removes_everything() {
    let lab = Lab::up("hawk.yaml");
    let pids = journal_pids(&lab.name);
    assert_eq!(
        journal_names(&lab.name),
        ["dns", "controller", "agent-host-a", "agent-host-b"],
        "the dns server, the controller and the agents are journalled"
    );
    assert_eq!(pids.len(), 4);
    let agent_files = agent_run_files(&lab);
    assert_eq!(
        agent_files.len(),
        4,
        "a socket and a lock per agent: {agent_files:?}"
    );
    let ifnames: Vec<String> = lab
        .topology()
        .links
        .iter()
        .flat_map(|l| [l.a.ifname.clone(), l.b.ifname.clone()])
        .collect();
    assert_eq!(namespaces_of(&lab.name).len(), 14);
    let out = labctl(&["down", &lab.name]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_nothing_left(&lab.name, &pids, &ifnames);
    // The agents got SIGTERM first: they removed their socket and lock.
    let left: Vec<_> = agent_files.iter().filter(|f| f.exists()).collect();
    assert!(left.is_empty(), "agent files left: {left:?}");
}

#[test]
fn exec_propagates_exit_codes_and_runs_in_the_namespace() {
    let lab = Lab::up("line.yaml");
    let out = lab.exec("h1", &["sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    let out = lab.exec("h1", &["ip", "-6", "-o", "addr", "show"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("fcbb:cc00:1::a"), "{text}");
    let out = lab.exec("nosuchnode", &["true"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no node nosuchnode"));
}

#[test]
fn up_of_a_running_name_fails_unless_replace() {
    let lab = Lab::up("line.yaml");
    let file = lab.file.to_str().unwrap().to_string();
    let again = labctl(&["up", "-q", &file, "--name", &lab.name]);
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("already up"), "{err}");
    // The running lab is untouched by the refused attempt.
    assert!(ping(
        &lab.ns("h1"),
        ip6("fcbb:cc00:2::a"),
        Duration::from_secs(3)
    ));
    let replaced = labctl(&["up", "-q", &file, "--name", &lab.name, "--replace"]);
    assert!(
        replaced.status.success(),
        "{}",
        String::from_utf8_lossy(&replaced.stderr)
    );
    assert!(ping(
        &lab.ns("h1"),
        ip6("fcbb:cc00:2::a"),
        Duration::from_secs(3)
    ));
}

#[test]
fn two_labs_side_by_side_tear_down_independently() {
    let a = Lab::up("line.yaml");
    let b = Lab::up("line.yaml");
    let h2 = ip6("fcbb:cc00:2::a");
    assert!(ping(&a.ns("h1"), h2, Duration::from_secs(3)));
    assert!(ping(&b.ns("h1"), h2, Duration::from_secs(3)));
    let out = labctl(&["down", &a.name]);
    assert!(out.status.success());
    assert!(namespaces_of(&a.name).is_empty());
    assert_eq!(namespaces_of(&b.name).len(), 4);
    assert!(
        ping(&b.ns("h1"), h2, Duration::from_secs(3)),
        "b broke when a went down"
    );
}

/// Start `up` with the pause hook, wait for it to reach `step`, SIGKILL it.
fn kill_up_at(file: &str, step: &str) -> String {
    let (name, mut child) = pause_up_at(file, step);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    name
}

/// Start `up` with the pause hook and wait until it reached `step`.
fn pause_up_at(file: &str, step: &str) -> (String, std::process::Child) {
    // The shipped labs run agents and a controller: without them up stops early.
    require_lab_binaries();
    let name = unique_name();
    let path = topo(file);
    let mut child = Command::new(LABCTL)
        .args(["up", path.to_str().unwrap(), "--name", &name])
        .env("LABCTL_PAUSE_AT", step)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let reached = labns::Wait::new(format!("up to pause at {step}"), Duration::from_secs(30))
        .for_line(stderr, |l| l.contains("paused at"));
    if reached.is_err() {
        child.kill().unwrap();
        child.wait().unwrap();
        panic!("up never reached {step}");
    }
    (name, child)
}

/// Send `sig` to `child` and wait (deadline 10 s) for its exit status.
fn signal_and_wait(child: &mut std::process::Child, sig: i32) -> std::process::ExitStatus {
    unsafe { libc::kill(child.id() as i32, sig) };
    let mut status = None;
    assert!(
        wait_for(Duration::from_secs(10), || {
            status = child.try_wait().unwrap();
            status.is_some()
        }),
        "up did not stop after signal {sig}"
    );
    status.unwrap()
}

#[test]
fn ctrl_c_during_up_removes_the_partial_lab() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        let (name, mut child) = pause_up_at("line.yaml", "links");
        assert!(!namespaces_of(&name).is_empty());
        let status = signal_and_wait(&mut child, sig);
        assert_eq!(
            status.code(),
            Some(1),
            "a clean error exit, not death by signal"
        );
        assert_nothing_left(&name, &[], &[]);
    }
}

#[test]
fn sigkill_during_up_then_down_leaves_nothing() {
    for (file, step) in [("line.yaml", "links"), ("hawk.yaml", "dns")] {
        let name = kill_up_at(file, step);
        assert!(
            !namespaces_of(&name).is_empty(),
            "{step}: nothing was built before the kill"
        );
        let pids = journal_pids(&name);
        if step == "dns" {
            assert_eq!(pids.len(), 1, "dns server was journalled");
        }
        let status = labctl(&["status", &name, "--output", "json"]);
        let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
        assert_eq!(v[0]["complete"], false);
        let out = labctl(&["down", &name]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_nothing_left(&name, &pids, &[]);
    }
}

#[test]
fn bad_input_creates_nothing() {
    let name = unique_name();
    let dir = std::env::temp_dir().join(format!("labctl-bad-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("bad.yaml");
    std::fs::write(
        &f,
        "name: x\nnodes:\n  r1: {kind: router, sid: notanaddress}\nlinks: []\n",
    )
    .unwrap();
    let out = labctl(&["up", f.to_str().unwrap(), "--name", &name]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.yaml"));
    assert!(namespaces_of(&name).is_empty());
    assert!(!std::path::Path::new("/run/labctl").join(&name).exists());
    let out = labctl(&[
        "up",
        topo("line.yaml").to_str().unwrap(),
        "--name",
        "bad/name",
    ]);
    assert!(!out.status.success());

    // A VPP router on a machine without `vpp`: refused before anything exists.
    let line = std::fs::read_to_string(topo("line.yaml")).unwrap();
    let vpp = line.replace(
        r#"r1: {kind: router, sid: "fcbb:bb00:1::2"}"#,
        r#"r1: {kind: router, sid: "fcbb:bb00:1::2", backend: vpp}"#,
    );
    assert_ne!(vpp, line, "line.yaml changed: update this test");
    let f = dir.join("vpp.yaml");
    std::fs::write(&f, vpp).unwrap();
    let out = labctl(&["up", f.to_str().unwrap(), "--name", &name]);
    let err = String::from_utf8_lossy(&out.stderr);
    if which_vpp() {
        // With VPP installed the lab must come up instead.
        assert!(out.status.success(), "{err}");
        assert!(labctl(&["down", &name]).status.success());
    } else {
        assert!(!out.status.success());
        assert!(err.contains("vpp") && err.contains("r1"), "{err}");
        assert!(namespaces_of(&name).is_empty());
        assert!(!std::path::Path::new("/run/labctl").join(&name).exists());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

fn which_vpp() -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("vpp").is_file()))
        .unwrap_or(false)
}

#[test]
fn declared_loss_is_enforced_by_the_bpf_dropper() {
    let dir = std::env::temp_dir().join(format!("labctl-loss-{}", unique_name()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("loss.yaml");
    std::fs::write(
        &f,
        "name: lossy\nnodes:\n  r1: {kind: router, sid: \"fcbb:bb00:1::2\"}\n  \
         h1: {kind: host, address: \"fcbb:cc00:1::a\"}\n  \
         h2: {kind: host, address: \"fcbb:cc00:2::a\"}\nlinks:\n  \
         - {endpoints: [h1, r1], a_to_b: {loss: 50}}\n  - {endpoints: [r1, h2]}\n",
    )
    .unwrap();
    let lab = Lab::up(f.to_str().unwrap());
    let h2 = ip6("fcbb:cc00:2::a");
    // Resolve neighbours first (ND packets cross the dropper too).
    assert!(ping(&lab.ns("h1"), h2, Duration::from_secs(15)));
    const N: u16 = 400;
    let got = ping_burst(&lab.ns("h1"), h2, N);
    // 50 % loss on h1 -> r1 only: expect N/2 = 200 replies (sd 10).
    assert!(
        (140..=260).contains(&got),
        "{got} of {N} replies with 50 % loss"
    );
    // The reverse direction is not lossy: from h2 everything comes back.
    assert!(ping(
        &lab.ns("h2"),
        ip6("fcbb:cc00:1::a"),
        Duration::from_secs(5)
    ));
    let topo = lab.topology();
    let r1_addr = topo
        .link_between("r1", "h2")
        .unwrap()
        .endpoint("r1")
        .unwrap()
        .addr;
    assert!(ping(&lab.ns("h2"), r1_addr, Duration::from_secs(5)));
    let got_rev = ping_burst(&lab.ns("h2"), r1_addr, N);
    assert!(
        got_rev >= N as usize - 5,
        "{got_rev} of {N} on the clean path"
    );
    drop(lab);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_failure_during_up_removes_what_was_made() {
    require_lab_binaries();
    for step in ["links", "routes"] {
        let name = unique_name();
        let out = Command::new(LABCTL)
            .args([
                "up",
                "-q",
                topo("hawk.yaml").to_str().unwrap(),
                "--name",
                &name,
            ])
            .env("LABCTL_FAIL_AT", step)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{step}: up succeeded");
        assert!(err.contains("injected failure"), "{step}: {err}");
        assert_nothing_left(&name, &[], &[]);
    }
}

#[test]
fn declared_bandwidth_is_enforced_by_tbf() {
    let dir = std::env::temp_dir().join(format!("labctl-bw-{}", unique_name()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("bw.yaml");
    std::fs::write(
        &f,
        "name: bw\nnodes:\n  r1: {kind: router, sid: \"fcbb:bb00:1::2\"}\n  \
         h1: {kind: host, address: \"fcbb:cc00:1::a\"}\n  \
         h2: {kind: host, address: \"fcbb:cc00:2::a\"}\nlinks:\n  \
         - {endpoints: [h1, r1], a_to_b: {bandwidth: 20mbit}}\n  - {endpoints: [r1, h2]}\n",
    )
    .unwrap();
    let lab = Lab::up(f.to_str().unwrap());
    let h2 = ip6("fcbb:cc00:2::a");
    assert!(ping(&lab.ns("h1"), h2, Duration::from_secs(5)));
    let bps = tcp_goodput(
        &lab.ns("h1"),
        &lab.ns("h2"),
        h2,
        Duration::from_millis(1500),
    );
    eprintln!(
        "goodput through the 20 Mbit/s link: {:.1} Mbit/s",
        bps / 1e6
    );
    // Shaped to 20 Mbit/s on h1 -> r1 (veth alone does several Gbit/s here).
    assert!(
        bps < 20e6 * 1.3,
        "{:.1} Mbit/s through a 20 Mbit/s link",
        bps / 1e6
    );
    assert!(
        bps > 20e6 * 0.3,
        "{:.1} Mbit/s: the link barely works",
        bps / 1e6
    );
    drop(lab);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A small lab with a DNS server: h1 - r1 - dns.
const DNS_LAB: &str = "name: dnsy\n\
dns:\n  records:\n    h1.lab.test: h1\n\
nodes:\n  r1: {kind: router, sid: \"fcbb:bb00:1::2\"}\n  \
h1: {kind: host, address: \"fcbb:cc00:1::a\"}\n  \
dns: {kind: dns, address: \"fcbb:cc00:4::f\"}\n\
links:\n  - {endpoints: [h1, r1]}\n  - {endpoints: [r1, dns]}\n";

fn dns_process(v: &serde_json::Value) -> serde_json::Value {
    v["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "dns")
        .unwrap()
        .clone()
}

#[test]
fn status_probes_the_dns_server_by_function_and_fails_when_a_process_is_dead() {
    let file = TempTopology::new(DNS_LAB);
    let lab = Lab::up(file.path());
    let (code, v) = status_json(&lab.name);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["healthy"], true);
    let dns = dns_process(&v);
    assert_eq!(dns["alive"], true, "{dns}");
    assert_eq!(dns["answers"], true, "{dns}");
    let pid = labns::ProcId::of(dns["pid"].as_i64().unwrap() as i32).unwrap();

    // Stopped: the process exists but serves nothing.
    assert!(pid.signal(labns::Signal::SIGSTOP).unwrap());
    let (code, v) = status_json(&lab.name);
    let dns = dns_process(&v);
    assert_eq!(code, Some(3), "{v}");
    assert_eq!(
        (dns["alive"].clone(), dns["state"].clone()),
        (false.into(), "stopped".into())
    );
    assert_eq!(v["healthy"], false);
    assert!(v["problems"][0].as_str().unwrap().contains("dns"), "{v}");
    let table = labctl(&["status", &lab.name]);
    assert_eq!(table.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&table.stdout).contains("UNHEALTHY: process dns"));
    assert!(pid.signal(labns::Signal::SIGCONT).unwrap());
    assert_eq!(status_json(&lab.name).0, Some(0), "running again");

    // Running but unreachable: only asking it shows that it does not serve.
    let dev = lab.ifname("dns", "r1");
    let ip = |verb: &str| {
        lab.ip(
            "dns",
            &[
                "-6",
                "addr",
                verb,
                "fcbb:cc00:4::f/128",
                "dev",
                &dev,
                "nodad",
            ],
        )
    };
    ip("del");
    let (code, v) = status_json(&lab.name);
    let dns = dns_process(&v);
    assert_eq!(code, Some(3), "{v}");
    assert_eq!(
        (
            dns["alive"].clone(),
            dns["state"].clone(),
            dns["answers"].clone()
        ),
        (false.into(), "running".into(), false.into())
    );
    ip("add");
    assert_eq!(status_json(&lab.name).0, Some(0), "serving again");

    // Dead: the lab is complete but not healthy.
    assert!(pid.signal(labns::Signal::SIGKILL).unwrap());
    assert!(wait_for(Duration::from_secs(5), || !pid.state().exists()));
    let (code, v) = status_json(&lab.name);
    assert_eq!(code, Some(3), "{v}");
    assert_eq!(v["complete"], true);
    assert_eq!(v["healthy"], false);
    assert_eq!(dns_process(&v)["alive"], false);
}

#[test]
fn a_signal_when_up_is_complete_never_leaves_a_lab_behind_a_killed_status() {
    let (name, mut child) = pause_up_at("line.yaml", "complete");
    assert_eq!(namespaces_of(&name).len(), 4, "the lab is complete");
    let status = signal_and_wait(&mut child, libc::SIGTERM);
    // Before `up` returns, a signal means "remove the lab and fail", even
    // after the journal says complete: never a lab left up by a process
    // that died of the signal (which is what happened: killed, lab up).
    assert_eq!(status.code(), Some(1), "{status:?}");
    assert_nothing_left(&name, &[], &[]);
}

#[test]
fn down_removes_what_it_can_from_a_damaged_journal_and_follows_nothing_outside_the_lab() {
    let lab = Lab::up("line.yaml");
    let victim_dir = std::env::temp_dir().join(format!("labctl-victim-{}", lab.name));
    let victim_file = std::env::temp_dir().join(format!("labctl-victim-{}-file", lab.name));
    std::fs::create_dir_all(&victim_dir).unwrap();
    std::fs::write(victim_dir.join("keep"), "x").unwrap();
    std::fs::write(&victim_file, "x").unwrap();
    let _cleanup = RemoveOnDrop(vec![victim_dir.clone(), victim_file.clone()]);
    let journal = std::path::Path::new("/run/labctl")
        .join(&lab.name)
        .join("journal");
    let text = std::fs::read_to_string(&journal).unwrap();
    let (first, rest) = text.split_once('\n').unwrap();
    // Damage in the middle, foreign lines, paths that climb out: before
    // the lines that name the lab's namespaces.
    let bad = format!(
        "proc dns notapid 5\nfrobnicate 1 2\netc /etc/netns/../..{}\nnetns ../..{}\n",
        victim_dir.display(),
        victim_file.display()
    );
    std::fs::write(&journal, format!("{first}\n{bad}{rest}")).unwrap();

    let out = labctl(&["down", &lab.name]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    for line in 2..=5 {
        assert!(
            err.contains(&format!("journal:{line}:")),
            "line {line} not reported: {err}"
        );
    }
    assert_nothing_left(&lab.name, &[], &[]);
    assert!(
        victim_dir.join("keep").exists(),
        "followed an etc line outside /etc/netns"
    );
    assert!(
        victim_file.exists(),
        "followed a netns line outside /run/netns"
    );
}

#[test]
fn down_as_a_non_root_user_fails_at_once_with_the_permission_error() {
    use std::os::unix::process::CommandExt;
    let file = TempTopology::new(DNS_LAB);
    let lab = Lab::up(file.path());
    let out = Command::new(LABCTL)
        .args(["down", &lab.name])
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    // Refused by the privilege check, with the fix, before anything is touched.
    assert!(err.contains("Permission denied"), "{err}");
    assert!(err.contains("fix: run as root"), "{err}");
    assert!(!err.contains("did not exit"), "blamed SIGKILL: {err}");
    // Nothing was removed: the lab still works.
    assert_eq!(namespaces_of(&lab.name).len(), 3);
    assert_eq!(status_json(&lab.name).0, Some(0));
}

/// `labctl status hawk` fits one screen: at most 40 lines at 120 columns,
/// none wider; and the compact and wide tables of a live hawk lab as
/// snapshots (the lab's name, source path, namespaces and pids redacted:
/// everything else comes from hawk.yaml and the kernel).
#[test]
fn status_of_hawk_fits_a_screen_compact_and_wide() {
    let lab = Lab::up("hawk.yaml");
    let out = Command::new(LABCTL)
        .args(["status", &lab.name])
        .env("COLUMNS", "120")
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.lines().count() <= 40,
        "{} lines:\n{text}",
        text.lines().count()
    );
    assert!(
        text.lines().all(|l| l.chars().count() <= 120),
        "a line wider than 120 columns:\n{text}"
    );
    assert!(!text.contains('\x1b'), "no colour off a terminal: {text:?}");

    let mut s = labctl::status::collect(&lab.name).unwrap();
    s.name = "hawk".into();
    s.source = "topologies/hawk.yaml".into();
    s.created_unix = 0;
    for n in &mut s.nodes {
        n.netns = n.netns.replace(&lab.name, "hawk");
    }
    for p in &mut s.processes {
        p.pid = 0;
    }
    let render = |wide, width| {
        let style = labctl::status::table::Style {
            width,
            color: false,
        };
        labctl::status::table::render_all(std::slice::from_ref(&s), style, wide)
    };
    let compact = render(false, Some(120));
    assert_eq!(
        compact,
        text.replace(&lab.name, "hawk")
            .replace(&lab.file.display().to_string(), "topologies/hawk.yaml"),
        "what labctl prints"
    );
    insta::assert_snapshot!("status_hawk_compact", compact);
    insta::assert_snapshot!("status_hawk_wide", render(true, None));
}

/// Every node's name resolves, bare and as NODE.LAB, to the address
/// hawk.yaml gives it: from the hosts file of a host's and of a router's
/// namespace (`getent` through `labctl exec`, nsswitch `files` first), and
/// from the lab DNS server asked directly from host-a's namespace; and
/// `labctl exec` runs with the node's name as host name.
#[test]
fn node_names_resolve_from_hosts_files_and_the_lab_dns() {
    let lab = Lab::up("hawk.yaml");
    let topo = lab.topology();
    let getent = |node: &str, name: &str| {
        let out = lab.exec(node, &["getent", "hosts", name]);
        assert_eq!(out.status.code(), Some(0), "{node}: getent hosts {name}");
        let text = String::from_utf8(out.stdout).unwrap();
        text.split_whitespace()
            .next()
            .unwrap()
            .parse::<Ipv6Addr>()
            .unwrap()
    };
    let dns_addr = topo.nodes["dns"].address.unwrap();
    let server = std::net::SocketAddr::from((dns_addr, 53));
    for (node, want) in [("vpp1", "fcbb:bb00:1::1"), ("host-b", "fcbb:cc00:2::a")] {
        let qualified = format!("{node}.{}", lab.name);
        for name in [node, qualified.as_str()] {
            assert_eq!(getent("host-a", name), ip6(want), "host-a: {name}");
            assert_eq!(getent("site-c", name), ip6(want), "site-c: {name}");
            let n = name.to_string();
            let answer = labns::run_in(&lab.ns("host-a"), move || {
                labctl::dns::query_aaaa(server, &n, Duration::from_secs(2))
            })
            .unwrap();
            assert_eq!(answer, Some(vec![ip6(want)]), "the lab DNS: {name}");
        }
    }
    // The file's own records still answer.
    assert_eq!(getent("host-a", "wb.hawk.net"), ip6("fcbb:cc00:2::a"));
    // An exec'd command's host name is its node's.
    for node in ["host-a", "vpp3"] {
        let out = lab.exec(node, &["uname", "-n"]);
        assert_eq!(String::from_utf8(out.stdout).unwrap(), format!("{node}\n"));
    }
}
