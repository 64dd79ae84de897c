//! `labctl doctor` tells the truth about this machine: every probe's verdict
//! is compared with a direct check of the same thing done another way —
//! iproute2 and tc in a fresh namespace of the test's own, a BPF object
//! compiled by clang and attached by ip/tc, `/proc`, `stat -f` — never with
//! a constant. And `up` refuses, creating nothing, what the kernel lacks.
//! Runs as root (as every privileged test here).

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use common::{labctl, unique_name, Lab, TempTopology, LABCTL};
use serde_json::Value;

/// `labctl doctor --output json` (no topology: every probe, labctl's own needs).
fn report() -> &'static Value {
    static REPORT: OnceLock<Value> = OnceLock::new();
    REPORT.get_or_init(|| {
        let out = labctl(&["doctor", "--output", "json"]);
        let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("doctor JSON: {e}: {}", String::from_utf8_lossy(&out.stdout))
        });
        let code = out.status.code();
        assert_eq!(code == Some(0), json["ok"] == true, "exit {code:?} vs ok");
        json
    })
}

fn probe(feature: &str) -> &'static Value {
    report()["probes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["feature"] == feature)
        .unwrap_or_else(|| panic!("no probe {feature}"))
}

/// The probe says present exactly when the direct check `works` does; as
/// root nothing is left untested.
fn assert_agrees(feature: &str, works: bool, direct: &str) {
    let p = probe(feature);
    let want = if works { "present" } else { "missing" };
    assert_eq!(
        p["status"], want,
        "{feature}: doctor says {p}, but {direct} says {want}"
    );
    if !works {
        assert!(p["fix"].as_str().is_some_and(|f| !f.is_empty()), "{p}");
    }
}

/// A fresh namespace of the test's own (removed on drop), with `lo` up.
fn scratch() -> labns::netns::Scoped {
    let ns = labns::netns::Scoped::create(&labns::netns::unique_name("tdoc")).unwrap();
    assert!(run(&["ip", "-n", ns.name(), "link", "set", "lo", "up"])
        .status
        .success());
    ns
}

fn run(argv: &[&str]) -> Output {
    Command::new(argv[0]).args(&argv[1..]).output().unwrap()
}

/// Run `argv` inside `ns` (`ip netns exec`): whether it succeeded.
fn works_in(ns: &labns::netns::Scoped, argv: &[&str]) -> bool {
    let mut full = vec!["ip", "netns", "exec", ns.name()];
    full.extend_from_slice(argv);
    run(&full).status.success()
}

/// A veth pair `va`/`vb` made by iproute2 in a fresh namespace.
fn scratch_with_veth() -> labns::netns::Scoped {
    let ns = scratch();
    assert!(works_in(
        &ns,
        &["ip", "link", "add", "va", "type", "veth", "peer", "name", "vb"]
    ));
    assert!(works_in(&ns, &["ip", "link", "set", "va", "up"]));
    assert!(works_in(&ns, &["ip", "link", "set", "vb", "up"]));
    ns
}

/// A BPF object with a `classifier` (TC) and an `xdp` program that pass everything,
/// compiled once by clang, for ip and tc to load themselves.
fn bpf_object() -> &'static Path {
    static OBJ: OnceLock<PathBuf> = OnceLock::new();
    OBJ.get_or_init(|| {
        // Cargo's scratch directory for integration tests (under target/).
        let dir =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("doctor-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let src = dir.join("pass.bpf.c");
        std::fs::write(
            &src,
            "#define SEC(n) __attribute__((section(n), used))\n\
             SEC(\"classifier\") int pass_tc(void *ctx) { return 0; }\n\
             SEC(\"xdp\") int pass_xdp(void *ctx) { return 2; }\n\
             char LICENSE[] SEC(\"license\") = \"GPL\";\n",
        )
        .unwrap();
        let obj = dir.join("pass.bpf.o");
        let out = run(&[
            "clang",
            "-O2",
            "-g",
            "-target",
            "bpf",
            "-c",
            src.to_str().unwrap(),
            "-o",
            obj.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "clang: {out:?}");
        obj
    })
}

#[test]
fn privileges_agree_with_the_effective_uid() {
    let out = run(&["id", "-u"]);
    let root = String::from_utf8_lossy(&out.stdout).trim() == "0";
    assert_agrees("privileges", root, "id -u");
}

#[test]
fn bpffs_agrees_with_stat() {
    let out = run(&["stat", "-f", "-c", "%T", "/sys/fs/bpf"]);
    let fs_type = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_agrees(
        "bpffs",
        fs_type == "bpf_fs",
        &format!("stat -f /sys/fs/bpf ({fs_type})"),
    );
}

#[test]
fn bpf_jit_agrees_with_the_sysctl() {
    let text = std::fs::read_to_string("/proc/sys/net/core/bpf_jit_enable").unwrap();
    assert_agrees("bpf-jit", text.trim() != "0", "net.core.bpf_jit_enable");
}

#[test]
fn btf_agrees_with_sysfs() {
    let exists = Path::new("/sys/kernel/btf/vmlinux").is_file();
    assert_agrees("btf", exists, "/sys/kernel/btf/vmlinux exists");
}

#[test]
fn tcx_agrees_with_the_kernel_symbols() {
    // The kernel exports tcx_link_attach exactly when it has TCX links.
    let syms = std::fs::read_to_string("/proc/kallsyms").unwrap();
    let tcx = syms
        .lines()
        .any(|l| l.split_whitespace().nth(2) == Some("tcx_link_attach"));
    assert_agrees("tcx", tcx, "tcx_link_attach in /proc/kallsyms");
}

#[test]
fn clsact_agrees_with_tc() {
    let obj = bpf_object().to_str().unwrap();
    let ns = scratch();
    let works = works_in(&ns, &["tc", "qdisc", "add", "dev", "lo", "clsact"])
        && works_in(
            &ns,
            &[
                "tc",
                "filter",
                "add",
                "dev",
                "lo",
                "egress",
                "bpf",
                "da",
                "obj",
                obj,
                "sec",
                "classifier",
            ],
        );
    assert_agrees(
        "clsact",
        works,
        "tc qdisc add clsact + tc filter add bpf da",
    );
}

#[test]
fn xdp_native_agrees_with_ip() {
    let obj = bpf_object().to_str().unwrap();
    let ns = scratch_with_veth();
    let works = works_in(
        &ns,
        &[
            "ip", "link", "set", "dev", "va", "xdpdrv", "obj", obj, "sec", "xdp",
        ],
    );
    assert_agrees("xdp-native", works, "ip link set va xdpdrv");
}

#[test]
fn xdp_generic_agrees_with_ip() {
    let obj = bpf_object().to_str().unwrap();
    let ns = scratch_with_veth();
    let works = works_in(
        &ns,
        &[
            "ip",
            "link",
            "set",
            "dev",
            "va",
            "xdpgeneric",
            "obj",
            obj,
            "sec",
            "xdp",
        ],
    );
    assert_agrees("xdp-generic", works, "ip link set va xdpgeneric");
}

#[test]
fn seg6_encap_agrees_with_ip() {
    let ns = scratch_with_veth();
    let works = works_in(
        &ns,
        &[
            "ip",
            "-6",
            "route",
            "add",
            "fc00:1::/64",
            "encap",
            "seg6",
            "mode",
            "encap",
            "segs",
            "fc00::1",
            "dev",
            "va",
        ],
    );
    assert_agrees("seg6-encap", works, "ip -6 route add ... encap seg6");
}

/// Whether iproute2 adds a `seg6local End [flavors F]` route on a veth and
/// shows it back with the flavour; `None` when this iproute2 predates
/// flavours (6.1) and cannot say.
fn ip_seg6local(flavor: Option<&str>) -> Option<bool> {
    let help = run(&["ip", "route", "help"]);
    let help = [help.stdout, help.stderr].concat();
    if flavor.is_some() && !String::from_utf8_lossy(&help).contains("FLAVOR") {
        return None;
    }
    let ns = scratch_with_veth();
    let mut argv = vec![
        "ip",
        "-6",
        "route",
        "add",
        "fc00::5",
        "encap",
        "seg6local",
        "action",
        "End",
    ];
    if let Some(f) = flavor {
        argv.extend(["flavors", f]);
    }
    argv.extend(["dev", "va"]);
    if !works_in(&ns, &argv) {
        return Some(false);
    }
    let show = run(&["ip", "-n", ns.name(), "-6", "route", "show", "fc00::5"]);
    let shown = String::from_utf8_lossy(&show.stdout);
    Some(match flavor {
        Some(f) => shown.contains(&format!("flavors {f}")),
        None => shown.contains("seg6local action End"),
    })
}

#[test]
fn seg6local_end_agrees_with_ip() {
    let works = ip_seg6local(None).expect("plain End needs no new iproute2");
    assert_agrees(
        "seg6local-end",
        works,
        "ip -6 route add ... encap seg6local action End",
    );
}

#[test]
fn each_end_flavour_agrees_with_ip() {
    for flavor in ["psp", "usp", "usd", "next-csid"] {
        let feature = format!("seg6local-end-{flavor}");
        match ip_seg6local(Some(flavor)) {
            Some(works) => assert_agrees(&feature, works, &format!("ip ... End flavors {flavor}")),
            None => {
                // Loud, not silent: this iproute2 cannot express flavours, so
                // only what needs no oracle is checked (the probe ran).
                eprintln!(
                    "iproute2 predates flavours: {feature} checked only for having been tried"
                );
                assert_ne!(probe(&feature)["status"], "untested", "{}", probe(&feature));
            }
        }
    }
}

#[test]
fn seg6_enabled_agrees_with_procfs() {
    let exists = Path::new("/proc/sys/net/ipv6/conf/all/seg6_enabled").exists();
    assert_agrees(
        "seg6-enabled",
        exists,
        "/proc/sys/net/ipv6/conf/all/seg6_enabled exists",
    );
}

#[test]
fn qdiscs_agree_with_tc() {
    for (feature, qdisc) in [
        ("netem", &["netem", "delay", "1ms"][..]),
        (
            "tbf",
            &["tbf", "rate", "1mbit", "burst", "4k", "limit", "10k"][..],
        ),
        ("htb", &["htb"][..]),
    ] {
        let ns = scratch();
        let mut argv = vec!["tc", "qdisc", "add", "dev", "lo", "root", "handle", "1:"];
        argv.extend_from_slice(qdisc);
        let works = works_in(&ns, &argv);
        assert_agrees(feature, works, &format!("tc qdisc add ... {}", qdisc[0]));
    }
}

#[test]
fn vrf_agrees_with_ip() {
    let ns = scratch();
    let works = works_in(
        &ns,
        &["ip", "link", "add", "vrf-t", "type", "vrf", "table", "10"],
    );
    assert_agrees("vrf", works, "ip link add type vrf");
}

#[test]
fn build_tools_agree_with_running_them() {
    let runs = |p: &str| {
        Command::new(p)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang".to_string());
    let protoc = std::env::var("PROTOC").unwrap_or_else(|_| "protoc".to_string());
    assert_agrees("clang", runs(&clang), "clang --version");
    assert_agrees("protoc", runs(&protoc), "protoc --version");
    let header = Path::new("/usr/include/bpf/bpf_helpers.h").is_file();
    assert_agrees(
        "libbpf-headers",
        header,
        "/usr/include/bpf/bpf_helpers.h exists",
    );
}

#[test]
fn vpp_agrees_with_the_shell() {
    let found = run(&["sh", "-c", "command -v vpp"]).status.success();
    assert_agrees("vpp", found, "command -v vpp");
}

#[test]
fn the_scratch_namespace_is_gone_afterwards() {
    let child = Command::new(LABCTL)
        .args(["doctor", "--output", "json"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.code().is_some());
    let prefix = format!("labctl-doctor-{pid}-");
    let left: Vec<String> = std::fs::read_dir("/run/netns")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn without_privileges_doctor_says_so_and_exits_3() {
    use std::os::unix::process::CommandExt;
    let out = Command::new(LABCTL)
        .args(["doctor", "--output", "json"])
        .current_dir("/")
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let privileges = json["probes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["feature"] == "privileges")
        .unwrap();
    assert_eq!(privileges["status"], "missing", "{privileges}");
    assert!(
        privileges["error"]
            .as_str()
            .unwrap()
            .contains("Permission denied"),
        "{privileges}"
    );
    assert!(
        json["unmet"][0].as_str().unwrap().contains("run as root"),
        "{json}"
    );
}

/// line.yaml with `sid_flavors: [FLAVOR]` on r1.
fn line_with_flavor(flavor: &str) -> TempTopology {
    let line = std::fs::read_to_string(common::topo("line.yaml")).unwrap();
    let plain = r#"r1: {kind: router, sid: "fcbb:bb00:1::2"}"#;
    assert!(line.contains(plain), "line.yaml changed: update this test");
    TempTopology::new(&line.replace(
        plain,
        &format!(r#"r1: {{kind: router, sid: "fcbb:bb00:1::2", sid_flavors: [{flavor}]}}"#),
    ))
}

/// The SID route of r1 in a line lab, as iproute2 shows it.
fn r1_sid_route(lab: &Lab) -> String {
    let shown = run(&[
        "ip",
        "-n",
        &lab.ns("r1"),
        "-6",
        "route",
        "show",
        "fcbb:bb00:1::2",
    ]);
    String::from_utf8_lossy(&shown.stdout).into_owned()
}

#[test]
fn up_refuses_a_flavour_the_kernel_lacks_and_creates_nothing() {
    let flavor = "usp";
    let file = line_with_flavor(flavor);
    let supported = match ip_seg6local(Some(flavor)) {
        Some(works) => works,
        None => {
            eprintln!("iproute2 predates flavours: up judged against doctor's own verdict");
            probe("seg6local-end-usp")["status"] == "present"
        }
    };
    if supported {
        let lab = Lab::up(file.path());
        assert!(r1_sid_route(&lab).contains("flavors usp"));
        return;
    }
    let name = unique_name();
    let out = labctl(&["up", file.path(), "--name", &name, "-q"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("seg6local-end-usp") && err.contains("r1"),
        "{err}"
    );
    assert!(err.contains("Nothing was created"), "{err}");
    assert!(!Path::new("/run/labctl").join(&name).exists());
    let prefix = format!("{name}-");
    assert!(!std::fs::read_dir("/run/netns")
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with(&prefix)));
}

#[test]
fn a_flavour_the_kernel_has_is_installed_with_it() {
    // The flavours attribute once had the wrong number and the kernel
    // silently dropped it: the route must show the flavour.
    let Some(true) = ip_seg6local(Some("psp")) else {
        eprintln!("this kernel or iproute2 cannot show End.PSP: checked by the test above instead");
        assert_ne!(probe("seg6local-end-psp")["status"], "untested");
        return;
    };
    let lab = Lab::up(line_with_flavor("psp").path());
    let shown = r1_sid_route(&lab);
    assert!(shown.contains("action End flavors psp"), "{shown}");
}

#[test]
fn doctor_exits_3_when_a_topology_needs_what_is_missing() {
    let file = line_with_flavor("usd");
    let out = labctl(&["doctor", file.path(), "--output", "json"]);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let usd = ip_seg6local(Some("usd"))
        .unwrap_or_else(|| probe("seg6local-end-usd")["status"] == "present");
    let all_else_met = report()["ok"] == true;
    let expected = if usd && all_else_met { 0 } else { 3 };
    assert_eq!(out.status.code(), Some(expected), "{json}");
    let unmet: Vec<&str> = json["unmet"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        unmet
            .iter()
            .any(|l| l.starts_with("line: the SIDs of r1 needs seg6local-end-usd")),
        !usd,
        "{unmet:?}"
    );
}
