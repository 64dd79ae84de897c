//! `labctl check`, `graph` of a running lab, `up` with links declared
//! down, and the helpful errors (exit codes of `exec`, "did you mean",
//! `down` of a lab that is not running, the privilege check, one
//! `--output` flag). Privileged (run as root); every lab has a unique name
//! and is torn down by an RAII guard.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use common::*;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `labctl check NAME --output json [--wait S]`: exit code and report.
fn check(lab: &str, wait: &str) -> (Option<i32>, serde_json::Value) {
    let out = labctl(&["check", lab, "--output", "json", "--wait", wait]);
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("check {lab}: {e}: {}", stderr(&out)));
    (out.status.code(), v)
}

fn failed_names(v: &serde_json::Value) -> BTreeSet<String> {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == false)
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

fn all_names(v: &serde_json::Value) -> BTreeSet<String> {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

/// `reach A -> B` for every ordered pair of `ends` that involves `only`
/// (every pair when `only` is None).
fn reach_names(ends: &[String], only: Option<&str>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for a in ends {
        for b in ends.iter().filter(|b| *b != a) {
            if only.is_none_or(|o| a == o || b == o) {
                out.insert(format!("reach {a} -> {b}"));
            }
        }
    }
    out
}

#[test]
fn check_passes_on_hawk_and_names_what_a_down_link_and_a_lost_sid_break() {
    let lab = Lab::up("hawk.yaml");
    let topo = lab.topology();
    let ends: Vec<String> = topo
        .nodes
        .values()
        .filter(|n| n.kind.is_end_system())
        .map(|n| n.name.clone())
        .collect();
    let mut expected = reach_names(&ends, None);
    for n in topo.nodes.values().filter(|n| n.kind.has_sid()) {
        expected.insert(format!("sid {} {}", n.name, n.sid.unwrap()));
    }
    for name in topo.dns_records.keys() {
        expected.insert(format!("dns {name}"));
    }
    assert_eq!(
        expected.len(),
        5 * 4 + 9 + 2,
        "hawk changed: update this test"
    );

    let (code, v) = check(&lab.name, "3");
    assert_eq!(code, Some(0), "{v:#}");
    assert_eq!(v["passed"], true);
    assert_eq!(v["lab"], lab.name.as_str());
    assert_eq!(all_names(&v), expected);
    assert!(failed_names(&v).is_empty(), "{v:#}");
    let dns = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "dns wb.hawk.net")
        .unwrap();
    assert!(
        dns["detail"].as_str().unwrap().contains("fcbb:cc00:2::a"),
        "{dns}"
    );

    // host-c's only link down, from inside its namespace; and vpp3's SID gone.
    let ifname = lab.ifname("host-c", "site-c");
    lab.ip("host-c", &["link", "set", "dev", &ifname, "down"]);
    lab.ip("vpp3", &["-6", "route", "del", "fcbb:bb00:3::2"]);
    let (code, v) = check(&lab.name, "1");
    assert_eq!(code, Some(3), "{v:#}");
    assert_eq!(v["passed"], false);
    let mut want = reach_names(&ends, Some("host-c"));
    want.insert("sid vpp3 fcbb:bb00:3::2".to_string());
    assert_eq!(failed_names(&v), want, "{v:#}");

    let table = labctl(&["check", &lab.name, "--wait", "0.5"]);
    assert_eq!(table.status.code(), Some(3));
    let text = stdout(&table);
    assert!(
        text.lines()
            .any(|l| l.contains("reach host-a -> host-c") && l.contains("FAILED")),
        "{text}"
    );
    assert!(
        text.contains(&format!("{} checks", expected.len())),
        "{text}"
    );
}

/// Every kind of link declared down, each the first link of a node with a
/// SID: router-service function (r1; sf1 is left with no link up),
/// host-router (r2), router-router (r3).
const DOWN_LINKS: &str = "name: downs\n\
nodes:\n  r1: {kind: router, sid: \"fcbb:bb00:1::2\"}\n  \
r2: {kind: router, sid: \"fcbb:bb00:2::2\"}\n  \
r3: {kind: router, sid: \"fcbb:bb00:3::2\"}\n  \
sf1: {kind: service-function, function: fw, sid: \"fcbb:dd00:1::2\"}\n  \
h1: {kind: host, address: \"fcbb:cc00:1::a\"}\n  \
h2: {kind: host, address: \"fcbb:cc00:2::a\"}\n\
links:\n  - {endpoints: [r1, sf1], up: false}\n  - {endpoints: [h1, r2], up: false}\n  \
- {endpoints: [r3, r1], up: false}\n  - {endpoints: [r1, r2]}\n  - {endpoints: [r2, r3]}\n  \
- {endpoints: [r3, h2]}\n";

/// The `ip -j -6 route` entry of `dst` in namespace `ns`, if any.
fn route_to(ns: &str, dst: &str) -> Option<serde_json::Value> {
    let routes: serde_json::Value =
        serde_json::from_slice(&ip_in(ns, &["-j", "-6", "route", "show"])).unwrap();
    routes
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["dst"] == dst)
        .cloned()
}

#[test]
fn up_comes_up_with_every_kind_of_link_declared_down() {
    let file = TempTopology::new(DOWN_LINKS);
    let lab = Lab::up(file.path());
    let topo = lab.topology();
    for node in ["r1", "r2", "r3"] {
        let first = topo
            .links
            .iter()
            .find(|l| l.endpoint(node).is_some())
            .unwrap();
        assert!(!first.up, "{node}: its first link is declared down");
        // The SID route is installed, on an interface that is up.
        let sid = topo.nodes[node].sid.unwrap().to_string();
        let route = route_to(&lab.ns(node), &sid)
            .unwrap_or_else(|| panic!("{node}: no route for its SID {sid}"));
        assert_eq!(route["encap"], "seg6local", "{route}");
        let dev = route["dev"].as_str().unwrap();
        let link: serde_json::Value =
            serde_json::from_slice(&ip_in(&lab.ns(node), &["-j", "link", "show", "dev", dev]))
                .unwrap();
        assert_eq!(link[0]["operstate"], "UP", "{node}: SID on {dev}: {link}");
    }
    // sf1's only link is down: no interface can carry its SID.
    assert_eq!(route_to(&lab.ns("sf1"), "fcbb:dd00:1::2"), None);

    // What is cut off is unreachable; everything else, every other SID included, works.
    let (code, v) = check(&lab.name, "1");
    assert_eq!(code, Some(3), "{v:#}");
    let want: BTreeSet<String> = ["reach h1 -> h2", "reach h2 -> h1", "sid sf1 fcbb:dd00:1::2"]
        .map(String::from)
        .into();
    assert_eq!(failed_names(&v), want, "{v:#}");
}

#[test]
fn graph_of_a_running_lab_draws_links_as_the_kernel_has_them() {
    let lab = Lab::up("line.yaml");
    let dot = |lab: &Lab| {
        let out = labctl(&["graph", &lab.name, "--format", "dot"]);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    let edge = |text: &str, a: &str, b: &str| {
        text.lines()
            .find(|l| l.contains(&format!("\"{a}\" -- \"{b}\"")))
            .unwrap_or_else(|| panic!("no edge {a} -- {b}: {text}"))
            .to_string()
    };
    let before = dot(&lab);
    assert!(before.starts_with("graph \"line\""), "{before}");
    assert!(!before.contains("(down)"), "{before}");
    assert!(
        !before.contains("layout="),
        "plain dot lays it out: {before}"
    );
    let r1_r2 = edge(&before, "r1", "r2");
    // Interface names at their own ends: r1's interface is the tail's.
    let topo = lab.topology();
    let link = topo.link_between("r1", "r2").unwrap();
    assert!(
        r1_r2.contains(&format!("taillabel=\"{}\"", link.a.ifname))
            && r1_r2.contains(&format!("headlabel=\"{}\"", link.b.ifname)),
        "{r1_r2}"
    );

    lab.ip("r2", &["link", "set", "dev", &link.b.ifname, "down"]);
    let after = dot(&lab);
    let r1_r2 = edge(&after, "r1", "r2");
    assert!(
        r1_r2.contains("(down)") && r1_r2.contains("style=dashed"),
        "{r1_r2}"
    );
    for (a, b) in [("h1", "r1"), ("r2", "h2")] {
        assert!(!edge(&after, a, b).contains("(down)"), "{after}");
    }
    let mermaid = stdout(&labctl(&["graph", &lab.name]));
    assert!(mermaid.contains("-.-"), "a down link is dotted: {mermaid}");

    let none = labctl(&["graph", "no-such-lab-or-file"]);
    assert_eq!(none.status.code(), Some(1));
    assert!(
        stderr(&none).contains("neither a topology file nor a running lab"),
        "{}",
        stderr(&none)
    );
}

/// A directory with an executable `dot` running `script`, standing in for Graphviz.
fn fake_graphviz(script: &str) -> RemoveOnDrop {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("labctl-fake-dot-{}", unique_name()));
    std::fs::create_dir_all(&dir).unwrap();
    let dot = dir.join("dot");
    std::fs::write(&dot, format!("#!/bin/sh\n{script}\n")).unwrap();
    std::fs::set_permissions(&dot, std::fs::Permissions::from_mode(0o755)).unwrap();
    RemoveOnDrop(vec![dir])
}

#[test]
fn svg_and_png_render_through_dot_or_say_how_to_get_it() {
    let line = topo("line.yaml");
    let file = line.to_str().unwrap();
    // Prints its arguments, then its input.
    let fake = fake_graphviz("echo \"args: $*\"\nexec /bin/cat");
    let with_path = |path: &std::path::Path, format: &str| {
        Command::new(LABCTL)
            .args(["graph", file, "--format", format])
            .env("PATH", path)
            .output()
            .unwrap()
    };
    for format in ["svg", "png"] {
        let out = with_path(&fake.0[0], format);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(format!("args: -T{format}").as_str()));
        assert_eq!(
            lines.next(),
            Some("graph \"line\" {"),
            "dot source on stdin"
        );
    }
    let empty = std::env::temp_dir().join(format!("labctl-no-dot-{}", unique_name()));
    std::fs::create_dir_all(&empty).unwrap();
    let _gone = RemoveOnDrop(vec![empty.clone()]);
    let out = with_path(&empty, "svg");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("not installed") && err.contains("apt-get install graphviz"),
        "{err}"
    );
    assert!(out.stdout.is_empty());

    let failing = fake_graphviz("echo 'syntax error in line 1' >&2\nexit 2");
    let out = with_path(&failing.0[0], "png");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("dot -Tpng: syntax error in line 1"), "{err}");
}

#[test]
fn exec_exits_like_a_shell_and_suggests_node_names() {
    let lab = Lab::up("line.yaml");
    let out = lab.exec("h1", &["no-such-command-x"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    assert!(stderr(&out).contains("no-such-command-x: command not found"));

    let scratch = std::env::temp_dir().join(format!("labctl-noexec-{}", unique_name()));
    std::fs::write(&scratch, "not a program\n").unwrap();
    let _gone = RemoveOnDrop(vec![scratch.clone()]);
    let out = lab.exec("h1", &[scratch.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(126), "{}", stderr(&out));

    assert_eq!(
        lab.exec("h1", &["sh", "-c", "exit 42"]).status.code(),
        Some(42)
    );
    assert_eq!(lab.exec("h1", &["true"]).status.code(), Some(0));

    let out = lab.exec("h11", &["true"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("did you mean \"h1\"?"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn down_of_a_lab_that_is_not_running_says_so_and_lists_the_running_ones() {
    let lab = Lab::up("line.yaml");
    let missing = unique_name();
    let out = labctl(&["down", &missing]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("no lab named {missing} is running")),
        "{err}"
    );
    let running = err.split("running labs: ").nth(1).unwrap_or_default();
    assert!(
        running.trim().split(", ").any(|l| l == lab.name),
        "{} not listed: {err}",
        lab.name
    );
}

#[test]
fn privileged_verbs_refuse_without_privileges_and_name_the_fix() {
    use std::os::unix::process::CommandExt;
    for args in [
        vec!["status"],
        vec!["check", "x"],
        vec!["down", "x"],
        vec!["exec", "h1", "--", "true"],
    ] {
        let out = Command::new(LABCTL)
            .args(&args)
            .uid(65534)
            .gid(65534)
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("needs privileges") && err.contains("fix: run as root"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn every_reporting_verb_has_the_same_output_flag() {
    for verb in ["status", "check", "doctor", "validate"] {
        let help = stdout(&labctl(&[verb, "-h"]));
        assert!(
            help.contains("-o, --output <OUTPUT>")
                && help.contains("[default: table] [possible values: table, json]"),
            "{verb}: {help}"
        );
    }
}

#[test]
fn validate_output_json_has_the_summary_or_every_located_problem() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../topology/tests/fixtures/invalid/unknown-field.yaml");
    let out = labctl(&["validate", fixture.to_str().unwrap(), "-o", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["summary"], serde_json::Value::Null);
    let p = &v["problems"][0];
    assert_eq!(
        (p["line"].clone(), p["column"].clone()),
        (5.into(), 22.into()),
        "{v:#}"
    );
    assert_eq!(p["field"], "nodes.r2.sidd");
    assert!(
        p["message"]
            .as_str()
            .unwrap()
            .contains("(did you mean `sid`?)"),
        "{p}"
    );
    assert!(p["file"].as_str().unwrap().ends_with("unknown-field.yaml"));

    let hawk = topo("hawk.yaml");
    let out = labctl(&["validate", hawk.to_str().unwrap(), "--output", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], true);
    assert!(
        v["summary"]
            .as_str()
            .unwrap()
            .contains("lab hawk, 14 nodes"),
        "{v}"
    );
    assert_eq!(v["problems"], serde_json::json!([]));

    let out = labctl(&["validate", "/no/such/file.yaml", "-o", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["problems"][0]["line"], 0);
}
