//! `cargo bench -p labctl`: `labctl up` / `labctl down` wall time against a
//! plain iproute2 baseline building the SAME plan in the same run.
//!
//! Topologies: hawk (14 nodes, with its DNS server) and generated chains
//! `h1 - r1 - ... - rN - h2` of 25, 50, 100 and 200 routers (every router
//! routes to every other router's locator and both host prefixes).
//!
//! Baseline ("ip -batch"): one `ip -batch` in the root namespace that adds
//! the namespaces and creates every veth pair directly inside them, then one
//! `ip -n NS -batch` per namespace for addresses (nodad), links up, routes
//! and SIDs — `ip -batch` cannot switch namespaces per line. It sets no
//! sysctls and starts no DNS server, so labctl does strictly more work.
//! Teardown baseline: one `ip -batch` of `netns del`.
//!
//! Needs root. Prints a table of medians with labctl/baseline ratios.
#![allow(clippy::unwrap_used)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use labctl::plan::{self, LabPlan};

const LABCTL: &str = env!("CARGO_BIN_EXE_labctl");

fn chain_yaml(name: &str, routers: usize) -> String {
    let mut y = format!("name: {name}\nnodes:\n");
    for i in 1..=routers {
        writeln!(y, "  r{i}: {{kind: router, sid: \"fcbb:bb00:{i:x}::2\"}}").unwrap();
    }
    y.push_str("  h1: {kind: host, address: \"fcbb:cc00:1::a\"}\n");
    y.push_str("  h2: {kind: host, address: \"fcbb:cc00:2::a\"}\n");
    y.push_str("links:\n  - {endpoints: [h1, r1]}\n");
    for i in 1..routers {
        writeln!(y, "  - {{endpoints: [r{i}, r{}]}}", i + 1).unwrap();
    }
    writeln!(y, "  - {{endpoints: [r{routers}, h2]}}").unwrap();
    y
}

/// The iproute2 scripts (root batch, per-namespace batches) building `p`.
fn baseline_scripts(p: &LabPlan) -> (String, Vec<(String, String)>) {
    let mut root = String::new();
    for ns in &p.namespaces {
        writeln!(root, "netns add {}", ns.netns).unwrap();
    }
    for v in &p.veths {
        let (a, b) = (&p.namespaces[v.a_ns].netns, &p.namespaces[v.b_ns].netns);
        writeln!(
            root,
            "link add {} netns {a} mtu {} type veth peer name {} netns {b} mtu {}",
            v.a_if, v.mtu, v.b_if, v.mtu
        )
        .unwrap();
    }
    let mut per_ns = Vec::new();
    for ns in &p.namespaces {
        let mut s = String::from("link set lo up\n");
        for i in &ns.ifaces {
            for (a, l) in &i.addrs {
                writeln!(s, "addr add {a}/{l} dev {} nodad", i.name).unwrap();
            }
            writeln!(s, "link set {} up", i.name).unwrap();
        }
        for (a, l) in &ns.lo_addrs {
            writeln!(s, "addr add {a}/{l} dev lo").unwrap();
        }
        for r in &ns.routes {
            let via = r.via.map(|v| format!(" via {v}")).unwrap_or_default();
            writeln!(s, "route add {}{via} dev {}", r.dst, r.dev).unwrap();
        }
        for sid in &ns.sids {
            writeln!(
                s,
                "route add {}/128 encap seg6local action End dev {}",
                sid.sid, sid.dev
            )
            .unwrap();
        }
        per_ns.push((ns.netns.clone(), s));
    }
    (root, per_ns)
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn timed(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

fn ip_batch(script: &str, netns: Option<&str>, dir: &Path, file: &str) {
    let path = dir.join(file);
    std::fs::write(&path, script).unwrap();
    let mut cmd = Command::new("ip");
    if let Some(ns) = netns {
        cmd.args(["-n", ns]);
    }
    run(cmd.arg("-batch").arg(&path));
}

/// Whatever a panicking run left behind (the labctl lab, baseline
/// namespaces) is removed on drop; a clean run leaves nothing to do.
struct Cleanup {
    lab: String,
    namespaces: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if Path::new("/run/labctl").join(&self.lab).exists() {
            let _ = Command::new(LABCTL)
                .args(["down", "-q", &self.lab])
                .status();
        }
        for ns in &self.namespaces {
            if Path::new("/run/netns").join(ns).exists() {
                let _ = Command::new("ip").args(["netns", "del", ns]).status();
            }
        }
    }
}

struct Row {
    name: String,
    nodes: usize,
    links: usize,
    routes: usize,
    up: Duration,
    down: Duration,
    base_up: Duration,
    base_down: Duration,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn measure(label: &str, file: &Path, reps: usize, dir: &Path) -> Row {
    let topo = topology::load(file).unwrap();
    let (mut up, mut down, mut bup, mut bdown) = (vec![], vec![], vec![], vec![]);
    let mut counts = (0, 0, 0);
    for rep in 0..reps {
        let lab = format!("b{}-{rep}", std::process::id());
        up.push(timed(|| {
            run(Command::new(LABCTL).args(["up", "-q", file.to_str().unwrap(), "--name", &lab]))
        }));
        down.push(timed(|| {
            run(Command::new(LABCTL).args(["down", "-q", &lab]))
        }));

        let base = format!("c{}-{rep}", std::process::id());
        let p = plan::from_topology(&topo, &base);
        counts = (
            p.namespaces.len(),
            p.veths.len(),
            p.namespaces
                .iter()
                .map(|n| n.routes.len() + n.sids.len())
                .sum(),
        );
        let (root, per_ns) = baseline_scripts(&p);
        let _guard = Cleanup {
            lab: lab.clone(),
            namespaces: p.namespaces.iter().map(|n| n.netns.clone()).collect(),
        };
        bup.push(timed(|| {
            ip_batch(&root, None, dir, "root.batch");
            for (i, (ns, s)) in per_ns.iter().enumerate() {
                ip_batch(s, Some(ns), dir, &format!("ns{i}.batch"));
            }
        }));
        let del: String = p
            .namespaces
            .iter()
            .map(|n| format!("netns del {}\n", n.netns))
            .collect();
        bdown.push(timed(|| ip_batch(&del, None, dir, "del.batch")));
    }
    Row {
        name: label.to_string(),
        nodes: counts.0,
        links: counts.1,
        routes: counts.2,
        up: median(up),
        down: median(down),
        base_up: median(bup),
        base_down: median(bdown),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` does not: then
    // run one small case once, as a smoke test of this benchmark's code.
    // A filter argument selects rows by name.
    let bench = std::env::args().any(|a| a == "--bench");
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = std::env::temp_dir().join(format!("labctl-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cases: Vec<(String, PathBuf, usize)> =
        vec![("hawk".into(), root.join("topologies/hawk.yaml"), 5)];
    for n in [25usize, 50, 100, 200] {
        let f = dir.join(format!("chain{n}.yaml"));
        std::fs::write(&f, chain_yaml(&format!("chain{n}"), n)).unwrap();
        cases.push((format!("chain-{n}"), f, if n >= 100 { 3 } else { 5 }));
    }
    let mut rows = Vec::new();
    if !bench {
        cases.retain(|(label, _, _)| label == "chain-25");
        cases[0].2 = 1;
    }
    for (label, file, reps) in cases {
        if filter.as_ref().is_some_and(|f| !label.contains(f.as_str())) {
            continue;
        }
        let r = measure(&label, &file, reps, &dir);
        eprintln!(
            "{label}: up {:.1} ms (ip -batch {:.1} ms)",
            ms(r.up),
            ms(r.base_up)
        );
        rows.push(r);
    }
    println!();
    println!(
        "{:<10} {:>5} {:>5} {:>6} | {:>9} {:>9} {:>6} | {:>9} {:>9} {:>6}",
        "topology",
        "nodes",
        "links",
        "routes",
        "up ms",
        "ip-batch",
        "ratio",
        "down ms",
        "ip-batch",
        "ratio"
    );
    for r in &rows {
        println!(
            "{:<10} {:>5} {:>5} {:>6} | {:>9.1} {:>9.1} {:>6.2} | {:>9.1} {:>9.1} {:>6.2}",
            r.name,
            r.nodes,
            r.links,
            r.routes,
            ms(r.up),
            ms(r.base_up),
            ms(r.up) / ms(r.base_up),
            ms(r.down),
            ms(r.base_down),
            ms(r.down) / ms(r.base_down),
        );
    }
    println!("(medians; ratio = labctl / ip-batch, < 1 means labctl is faster)");
    let _ = std::fs::remove_dir_all(&dir);
}
