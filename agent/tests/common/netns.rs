//! Namespaces for the agent's root tests. The primitives (unique names, an
//! RAII guard that deletes the namespaces even on panic, `ip`/`sysctl`
//! runners, entering a namespace on a dedicated thread, the TPACKET ring
//! capture, the client — `seg6local End` router — server lab) are the
//! dataplane tests' module, included rather than copied. Added here: a DNS
//! namespace with its resolv.conf, the DNS server on a thread inside it, and
//! the `srv6-agent` binary run in a namespace. All of it belongs in the
//! workspace's `labns` crate once it lands.
#![allow(dead_code, clippy::unwrap_used)]

#[path = "../../../dataplane/tests/common/netns.rs"]
mod base;

#[allow(unused_imports)]
pub use base::*;

use std::collections::BTreeMap;
use std::net::{Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The DNS server's address in [`AgentLab`].
pub const DNS: &str = "fc00:d::1";

/// `three_node_lab` plus a DNS namespace behind the router, and the
/// client's resolv.conf (`/etc/netns/<client>/resolv.conf`, what `ip netns
/// exec` mounts over `/etc/resolv.conf`).
pub struct AgentLab {
    pub client: String,
    pub router: String,
    pub server: String,
    pub dns: String,
    _resolv: EtcNetns,
    _dns_ns: Namespaces,
    _lab: Lab,
}

/// `/etc/netns/<ns>/`, removed on drop.
struct EtcNetns(PathBuf);

impl Drop for EtcNetns {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn agent_lab() -> AgentLab {
    let lab = three_node_lab();
    let dns = format!("{}-d", lab.client.trim_end_matches("-c"));
    let dns_ns = Namespaces::create(std::slice::from_ref(&dns));
    run(&[
        "ip",
        "link",
        "add",
        "d0",
        "netns",
        &dns,
        "type",
        "veth",
        "peer",
        "name",
        "r2",
        "netns",
        &lab.router,
    ]);
    ip(&dns, &format!("addr add {DNS}/64 dev d0 nodad"));
    ip(&lab.router, "addr add fc00:d::2/64 dev r2 nodad");
    ip(&dns, "link set d0 up");
    ip(&lab.router, "link set r2 up");
    ip(&dns, "-6 route add default via fc00:d::2 dev d0");
    let etc = PathBuf::from("/etc/netns").join(&lab.client);
    std::fs::create_dir_all(&etc).unwrap();
    let resolv = EtcNetns(etc.clone());
    std::fs::write(etc.join("resolv.conf"), format!("nameserver {DNS}\n")).unwrap();
    AgentLab {
        client: lab.client.clone(),
        router: lab.router.clone(),
        server: lab.server.clone(),
        dns,
        _resolv: resolv,
        _dns_ns: dns_ns,
        _lab: lab,
    }
}

/// Run `f` on a fresh thread inside namespace `ns` (never reused).
pub fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let ns = ns.to_owned();
    std::thread::spawn(move || {
        enter(&ns);
        f()
    })
    .join()
    .unwrap()
}

/// A thread inside a namespace running a tokio runtime until stopped.
pub struct NsTask {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl NsTask {
    /// Run `serve` inside `ns` until the task is dropped; returns once
    /// `serve`'s setup (its first await point after `ready`) has run.
    pub fn spawn<F, Fut>(ns: &str, serve: F) -> NsTask
    where
        F: FnOnce(std::sync::mpsc::Sender<()>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()>,
    {
        let ns = ns.to_owned();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            enter(&ns);
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                tokio::select! {
                    () = serve(ready_tx) => {}
                    _ = stop_rx => {}
                }
            });
        });
        ready_rx.recv_timeout(Duration::from_secs(20)).unwrap();
        NsTask {
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }
}

impl Drop for NsTask {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The lab's DNS server (labctl's, hickory-server) answering `records`
/// on `[addr]:53` inside `ns`.
pub fn dns_server(ns: &str, addr: &str, records: BTreeMap<String, Ipv6Addr>) -> NsTask {
    let sa: SocketAddr = format!("[{addr}]:53").parse().unwrap();
    NsTask::spawn(ns, move |ready| async move {
        let udp = tokio::net::UdpSocket::bind(sa).await.unwrap();
        let tcp = tokio::net::TcpListener::bind(sa).await.unwrap();
        ready.send(()).unwrap();
        labctl::dns::serve(&records, udp, tcp).await.unwrap();
    })
}

pub const AGENT: &str = env!("CARGO_BIN_EXE_srv6-agent");

/// `srv6-agent ARGS` inside a namespace (through `ip netns exec`, which
/// execs it: the child's pid is the agent's); logs in a temporary file;
/// SIGKILLed on drop if still running.
pub struct AgentProcess {
    pub child: Child,
    pub ns: String,
    pub log: PathBuf,
}

impl AgentProcess {
    pub fn spawn(ns: &str, args: &[&str]) -> AgentProcess {
        let log = std::env::temp_dir().join(format!("{ns}-{}.log", args[0]));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", ns, AGENT])
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap();
        AgentProcess {
            child,
            ns: ns.to_owned(),
            log,
        }
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Wait until `status --interface IF --output json` answers; its report.
    pub fn wait_ready(&mut self, interface: &str) -> serde_json::Value {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("agent exited with {status}:\n{}", self.logs());
            }
            if let Ok(report) = status(&self.ns, interface) {
                return report;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "agent not ready:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then wait for the exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let pid = i32::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "no exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Ok(report) = status(&self.ns, "c0").or_else(|_| status(&self.ns, "s0")) {
                eprintln!("--- status of the agent in {}:\n{report:#}", self.ns);
            }
            eprintln!("--- log of the agent in {}:\n{}", self.ns, self.logs());
        }
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
            // Killed, it could not remove its run files: do it for it.
            if let Ok(meta) = std::fs::metadata(Path::new("/run/netns").join(&self.ns)) {
                use std::os::unix::fs::MetadataExt;
                let suffix = format!("@{}.", meta.ino());
                for entry in std::fs::read_dir("/run/srv6-agent")
                    .into_iter()
                    .flatten()
                    .flatten()
                {
                    if entry.file_name().to_string_lossy().contains(&suffix) {
                        let _ = std::fs::remove_file(entry.path());
                    }
                }
            }
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

/// `srv6-agent status --interface IF --output json` inside `ns`.
pub fn status(ns: &str, interface: &str) -> Result<serde_json::Value, String> {
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            AGENT,
            "status",
            "--interface",
            interface,
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
}

/// The namespace's inode number (what the agent's run files are named by).
pub fn netns_inode(ns: &str) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(Path::new("/run/netns").join(ns))
        .unwrap()
        .ino()
}
