//! Shared helpers of the privileged lab tests: unique lab names, an RAII
//! guard that always runs `labctl down`, a raw-socket ICMPv6 ping run from
//! inside a namespace, and deadline-based waiting.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub const LABCTL: &str = env!("CARGO_BIN_EXE_labctl");

pub fn topo(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../topologies")
        .join(name)
}

/// A lab name unique across processes and tests: `t<pid>-<counter>`.
pub fn unique_name() -> String {
    labns::netns::unique_name("t")
}

/// Run labctl; `up` and `run` start the lab's processes, so the binaries
/// they look for next to labctl are built (or found fresh) first
/// ([`ensure_binaries`]).
pub fn labctl(args: &[&str]) -> Output {
    if matches!(args.first(), Some(&"up") | Some(&"run")) {
        ensure_binaries();
    }
    Command::new(LABCTL).args(args).output().unwrap()
}

/// The binaries a lab runs besides labctl, with their packages.
const LAB_BINARIES: [(&str, &str); 2] = [
    ("mock-controller", "mock-controller"),
    ("srv6-agent", "agent"),
];

/// The binaries a lab runs besides labctl (`up` looks for them next to
/// labctl): built once per test binary under cargo (a no-op when fresh;
/// `cargo test -p labctl` alone builds only labctl's own), as `make test`
/// and CI build them anyway. A
/// binary whose package this workspace does not have is not built: `up`
/// then refuses naming it, and [`require_binary`] fails a test that needs
/// it with [`missing_binary`]'s message. A build that fails panics.
pub fn ensure_binaries() {
    // Every test that calls this fails with the same message (a panic
    // inside `Once` would leave the others a "poisoned" one).
    static BUILT: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    if let Err(e) = BUILT.get_or_init(build_missing_binaries) {
        panic!("{e}");
    }
}

fn build_missing_binaries() -> Result<(), String> {
    let packages: Vec<&str> = LAB_BINARIES
        .iter()
        // Under cargo (CARGO is set) every one is built: cargo leaves a
        // fresh binary alone and rebuilds a stale one, which would run the
        // lab with yesterday's flags.
        .filter(|(bin, pkg)| {
            (!is_built(bin) || std::env::var_os("CARGO").is_some()) && has_package(pkg)
        })
        .map(|(_, pkg)| *pkg)
        .collect();
    if packages.is_empty() {
        return Ok(());
    }
    let cargo = std::env::var("CARGO").map_err(|_| {
        format!("{packages:?} not built next to {LABCTL}: run `cargo build --bins` first")
    })?;
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--bins"]);
    for p in &packages {
        cmd.args(["-p", p]);
    }
    if Path::new(LABCTL).parent().unwrap().ends_with("release") {
        cmd.arg("--release");
    }
    let out = cmd.output().map_err(|e| format!("cargo: {e}"))?;
    match out.status.success() {
        true => Ok(()),
        false => Err(format!(
            "building {packages:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        )),
    }
}

/// `bin` (one of the lab's binaries), built if it can be; a test that
/// needs it fails here, naming what is missing, when it cannot.
pub fn require_binary(bin: &str) -> PathBuf {
    ensure_binaries();
    let beside = Path::new(LABCTL).parent().unwrap().join(bin);
    if beside.exists() {
        return beside;
    }
    in_path_at(bin).unwrap_or_else(|| panic!("{}", missing_binary(bin)))
}

/// Every binary a lab runs ([`require_binary`] each).
pub fn require_lab_binaries() {
    for (bin, _) in LAB_BINARIES {
        require_binary(bin);
    }
}

/// Why `bin` is missing, for a test's failure message.
pub fn missing_binary(bin: &str) -> String {
    let pkg = LAB_BINARIES
        .iter()
        .find(|(b, _)| *b == bin)
        .map_or("?", |(_, p)| *p);
    format!(
        "this test needs {bin}: it is neither next to {LABCTL} nor in PATH, and this \
         workspace has no package `{pkg}` to build it from"
    )
}

fn is_built(bin: &str) -> bool {
    Path::new(LABCTL).parent().unwrap().join(bin).exists() || in_path(bin)
}

/// Whether the workspace has package directory `pkg` (`agent/Cargo.toml`).
fn has_package(pkg: &str) -> bool {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(pkg)
        .join("Cargo.toml")
        .is_file()
}

fn in_path_at(bin: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(bin))
        .find(|p| p.is_file())
}

fn in_path(bin: &str) -> bool {
    in_path_at(bin).is_some()
}

/// A topology file in its own temporary directory, removed on drop, with
/// the shipped agent configurations beside it (`agents/`), so a variant of
/// a shipped file finds the `agent_config` it names.
pub struct TempTopology {
    dir: PathBuf,
    file: String,
}

impl TempTopology {
    pub fn new(yaml: &str) -> TempTopology {
        let dir = std::env::temp_dir().join(format!("labctl-topo-{}", unique_name()));
        std::fs::create_dir_all(dir.join("agents")).unwrap();
        for f in std::fs::read_dir(topo("agents")).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, dir.join("agents").join(f.file_name().unwrap())).unwrap();
        }
        let file = dir.join("lab.yaml");
        std::fs::write(&file, yaml).unwrap();
        let file = file.to_str().unwrap().to_string();
        TempTopology { dir, file }
    }

    /// The file's absolute path, as [`Lab::up`] takes it.
    pub fn path(&self) -> &str {
        &self.file
    }
}

impl Drop for TempTopology {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A shipped topology's text without its agents (`, agent: ...` to the end
/// of a node's flow mapping removed): its lab runs no `srv6-agent`.
pub fn without_agents(yaml: &str) -> String {
    let out: String = yaml
        .lines()
        .map(|l| match (l.find(", agent: "), l.rfind('}')) {
            (Some(from), Some(to)) if from < to => format!("{}{}\n", &l[..from], &l[to..]),
            _ => format!("{l}\n"),
        })
        .collect();
    assert!(
        yaml.contains(", agent: ") && !out.contains(", agent: "),
        "no agents to remove, or one left: {out}"
    );
    out
}

/// Paths removed on drop (files or directories).
pub struct RemoveOnDrop(pub Vec<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_dir_all(p);
            let _ = std::fs::remove_file(p);
        }
    }
}

/// A running lab; `down` on drop, whatever happened.
pub struct Lab {
    pub name: String,
    pub file: PathBuf,
}

impl Lab {
    /// Bring up a shipped topology (`hawk.yaml`) or any file by absolute path.
    pub fn up(file: &str) -> Lab {
        let name = unique_name();
        let file = if file.starts_with('/') {
            PathBuf::from(file)
        } else {
            topo(file)
        };
        let lab = Lab {
            name: name.clone(),
            file: file.clone(),
        };
        let out = labctl(&["up", "-q", file.to_str().unwrap(), "--name", &name]);
        let missing: Vec<String> = LAB_BINARIES
            .iter()
            .filter(|(bin, _)| !is_built(bin))
            .map(|(bin, _)| missing_binary(bin))
            .collect();
        assert!(
            out.status.success(),
            "labctl up {name} failed: {}{}",
            String::from_utf8_lossy(&out.stderr),
            missing.join("\n")
        );
        lab
    }

    pub fn ns(&self, node: &str) -> String {
        format!("{}-{node}", self.name)
    }

    pub fn topology(&self) -> topology::Topology {
        topology::load(&self.file).unwrap()
    }

    /// The interface of `node` on its link to `peer`.
    pub fn ifname(&self, node: &str, peer: &str) -> String {
        let topo = self.topology();
        let link = topo.link_between(node, peer).unwrap();
        link.endpoint(node).unwrap().ifname.clone()
    }

    /// `ip -n <node's namespace> ARGS...`, which must succeed.
    pub fn ip(&self, node: &str, args: &[&str]) {
        ip_in(&self.ns(node), args);
    }

    pub fn exec(&self, node: &str, cmd: &[&str]) -> Output {
        let mut args = vec!["exec", node, "--lab", &self.name, "--"];
        args.extend_from_slice(cmd);
        labctl(&args)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if Path::new("/run/labctl").join(&self.name).exists() {
            let out = labctl(&["down", "-q", &self.name]);
            if !out.status.success() && !std::thread::panicking() {
                panic!(
                    "labctl down {}: {}",
                    self.name,
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }
}

/// Poll `cond` until it holds or `limit` passes.
pub fn wait_for(limit: Duration, cond: impl FnMut() -> bool) -> bool {
    labns::Wait::new("a test condition", limit)
        .every(Duration::from_millis(10))
        .until_true(cond)
        .is_ok()
}

/// ICMPv6 echo from inside namespace `ns` to `dst`: true once a reply
/// arrives (retrying until `limit`). Runs on its own thread inside the
/// namespace (labns::run_in): the test harness's threads never move.
pub fn ping(ns: &str, dst: Ipv6Addr, limit: Duration) -> bool {
    labns::run_in(ns, move || ping_here(dst, limit)).unwrap()
}

/// A raw ICMPv6 socket in the calling thread's namespace with a receive
/// timeout; returns the socket and `dst` as sockaddr.
fn icmp_socket(dst: Ipv6Addr, timeout_us: i64) -> (i32, libc::sockaddr_in6) {
    // SAFETY: plain system calls on values built here.
    unsafe {
        let s = libc::socket(libc::AF_INET6, libc::SOCK_RAW, libc::IPPROTO_ICMPV6);
        assert!(s >= 0, "raw socket");
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: timeout_us,
        };
        libc::setsockopt(
            s,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &tv as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::timeval>() as u32,
        );
        let mut sa: libc::sockaddr_in6 = std::mem::zeroed();
        sa.sin6_family = libc::AF_INET6 as u16;
        sa.sin6_addr.s6_addr = dst.octets();
        (s, sa)
    }
}

/// Send one echo request (type 128) with `id`/`seq`; the kernel fills the checksum.
fn send_echo(s: i32, sa: &libc::sockaddr_in6, id: u16, seq: u16) {
    // SAFETY: sendto(2) of a buffer that outlives the call.
    unsafe {
        let mut pkt = vec![128u8, 0, 0, 0];
        pkt.extend_from_slice(&id.to_be_bytes());
        pkt.extend_from_slice(&seq.to_be_bytes());
        pkt.extend_from_slice(b"labctl-test");
        // Errors (ENOBUFS when a dropper discards the packet) count as loss.
        libc::sendto(
            s,
            pkt.as_ptr() as *const libc::c_void,
            pkt.len(),
            0,
            sa as *const _ as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_in6>() as u32,
        );
    }
}

fn ping_here(dst: Ipv6Addr, limit: Duration) -> bool {
    unsafe {
        let (s, sa) = icmp_socket(dst, 200_000);
        let id = (std::process::id() & 0xffff) as u16;
        let deadline = Instant::now() + limit;
        let mut seq: u16 = 0;
        let mut ok = false;
        'outer: while Instant::now() < deadline {
            seq = seq.wrapping_add(1);
            send_echo(s, &sa, id, seq);
            let until = Instant::now() + Duration::from_millis(500);
            while Instant::now() < until {
                let mut buf = [0u8; 2048];
                let mut from: libc::sockaddr_in6 = std::mem::zeroed();
                let mut len = std::mem::size_of::<libc::sockaddr_in6>() as u32;
                let n = libc::recvfrom(
                    s,
                    buf.as_mut_ptr() as *mut libc::c_void,
                    buf.len(),
                    0,
                    &mut from as *mut _ as *mut libc::sockaddr,
                    &mut len,
                );
                if n >= 8
                    && buf[0] == 129
                    && buf[4..6] == id.to_be_bytes()
                    && buf[6..8] == seq.to_be_bytes()
                    && from.sin6_addr.s6_addr == dst.octets()
                {
                    ok = true;
                    break 'outer;
                }
            }
        }
        libc::close(s);
        ok
    }
}

/// Send `count` ICMPv6 echo requests from `ns` to `dst` back to back, then
/// collect replies for up to 2 s; returns how many distinct replies came back.
pub fn ping_burst(ns: &str, dst: Ipv6Addr, count: u16) -> usize {
    labns::run_in(ns, move || unsafe {
        let (s, sa) = icmp_socket(dst, 100_000);
        // Room for every reply: they are read only after the burst is sent.
        let rcvbuf: libc::c_int = 8 << 20;
        libc::setsockopt(
            s,
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            &rcvbuf as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as u32,
        );
        let id = ((std::process::id() + 7) & 0xffff) as u16;
        for seq in 0..count {
            send_echo(s, &sa, id, seq);
        }
        let mut seen = std::collections::HashSet::new();
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline && seen.len() < count as usize {
            let mut buf = [0u8; 256];
            let n = libc::recv(s, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0);
            if n >= 8 && buf[0] == 129 && buf[4..6] == id.to_be_bytes() {
                seen.insert(u16::from_be_bytes([buf[6], buf[7]]));
            }
        }
        libc::close(s);
        seen.len()
    })
    .unwrap()
}

/// tx packets of interface `ifname` in namespace `ns` (from `ip -s -j link`).
pub fn tx_packets(ns: &str, ifname: &str) -> u64 {
    let out = ip_in(ns, &["-s", "-j", "link", "show", "dev", ifname]);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    v[0]["stats64"]["tx"]["packets"].as_u64().unwrap()
}

/// `ip -n NS ARGS...`, which must succeed; returns its stdout.
pub fn ip_in(ns: &str, args: &[&str]) -> Vec<u8> {
    tool_in("ip", ns, args)
}

/// `TOOL -n NS ARGS...` (ip, tc), which must succeed; returns its stdout.
pub fn tool_in(tool: &str, ns: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(tool)
        .args(["-n", ns])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{tool} -n {ns} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `labctl status LAB --output json`: its exit code and the lab's document
/// (the one entry of the list).
pub fn status_json(lab: &str) -> (Option<i32>, serde_json::Value) {
    let out = labctl(&["status", lab, "--output", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "status of {lab}: {e}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    // Always a list of labs; NAME makes it one.
    (out.status.code(), v[0].clone())
}

/// The status of a healthy lab (exit 0, every process answering) and its
/// processes' names in status order.
pub fn healthy_processes(lab: &str) -> (serde_json::Value, Vec<String>) {
    let (code, v) = status_json(lab);
    assert_eq!(code, Some(0), "{}", v["problems"]);
    let procs = v["processes"].as_array().unwrap();
    for p in procs {
        assert_eq!(p["answers"], true, "{p}");
    }
    let names = procs
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    (v, names)
}

/// Names under /run/netns that start with `<lab>-`.
pub fn namespaces_of(lab: &str) -> Vec<String> {
    let prefix = format!("{lab}-");
    std::fs::read_dir("/run/netns")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .filter(|n| n.starts_with(&prefix))
                .collect()
        })
        .unwrap_or_default()
}

/// Assert that nothing of lab `lab` is left on the machine.
pub fn assert_nothing_left(lab: &str, pids: &[i32], ifnames: &[String]) {
    assert!(
        namespaces_of(lab).is_empty(),
        "namespaces left: {:?}",
        namespaces_of(lab)
    );
    assert!(
        !Path::new("/run/labctl").join(lab).exists(),
        "state dir left"
    );
    let etc: Vec<String> = std::fs::read_dir("/etc/netns")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .filter(|n| n.starts_with(&format!("{lab}-")))
                .collect()
        })
        .unwrap_or_default();
    assert!(etc.is_empty(), "/etc/netns dirs left: {etc:?}");
    for pid in pids {
        let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                let st = s[s.rfind(')').unwrap() + 1..]
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .to_string();
                st != "Z" && st != "X"
            })
            .unwrap_or(false);
        assert!(!alive, "process {pid} still alive");
    }
    let root_links = Command::new("ip")
        .args(["-j", "link", "show"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&root_links.stdout).unwrap();
    for l in v.as_array().unwrap() {
        let name = l["ifname"].as_str().unwrap_or_default();
        assert!(
            !ifnames.iter().any(|i| i == name),
            "interface {name} in the root namespace"
        );
    }
}

/// Pids of the lab's processes from its journal.
pub fn journal_pids(lab: &str) -> Vec<i32> {
    std::fs::read_to_string(Path::new("/run/labctl").join(lab).join("journal"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w.first() == Some(&"proc")).then(|| w[2].parse().unwrap())
        })
        .collect()
}

/// TCP goodput from `from_ns` to `[dst]:port` in `to_ns` while sending for
/// `send_for`, in bit/s as seen by the receiver (first to last byte).
pub fn tcp_goodput(from_ns: &str, to_ns: &str, dst: Ipv6Addr, send_for: Duration) -> f64 {
    use std::io::{Read, Write};
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let receiver = labns::spawn_in(to_ns, move || {
        let l = std::net::TcpListener::bind((dst, 0)).unwrap();
        ready_tx.send(l.local_addr().unwrap().port()).unwrap();
        let (mut c, _) = l.accept().unwrap();
        let mut buf = vec![0u8; 1 << 16];
        let (mut bytes, mut first, mut last) = (0u64, None, Instant::now());
        loop {
            let n = c.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            let now = Instant::now();
            first.get_or_insert(now);
            last = now;
            bytes += n as u64;
        }
        let secs = (last - first.unwrap()).as_secs_f64();
        bytes as f64 * 8.0 / secs
    })
    .unwrap();
    let port = ready_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    labns::run_in(from_ns, move || {
        let mut c = std::net::TcpStream::connect((dst, port)).unwrap();
        let chunk = vec![0x5au8; 1 << 16];
        let end = Instant::now() + send_for;
        while Instant::now() < end {
            c.write_all(&chunk).unwrap();
        }
    })
    .unwrap();
    receiver.join().unwrap()
}

/// The names of the processes a lab's journal lists, in journal order.
pub fn journal_names(lab: &str) -> Vec<String> {
    let text = std::fs::read_to_string(Path::new("/run/labctl").join(lab).join("journal")).unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix("proc "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// The status sockets and lock files of a lab's agents under
/// `/run/srv6-agent/` (named `IF@NETNS-INODE`, docs/agent.md).
pub fn agent_run_files(lab: &Lab) -> Vec<PathBuf> {
    let topo = lab.topology();
    let mut out = Vec::new();
    for n in topo.nodes.values().filter(|n| n.agent.is_some()) {
        let ino = labns::netns::inode(&lab.ns(&n.name)).unwrap();
        let ifname = topo
            .links
            .iter()
            .find_map(|l| l.endpoint(&n.name))
            .unwrap()
            .ifname
            .clone();
        for ext in ["sock", "lock"] {
            let f = PathBuf::from(format!("/run/srv6-agent/{ifname}@{ino}.{ext}"));
            if f.exists() {
                out.push(f);
            }
        }
    }
    out
}
