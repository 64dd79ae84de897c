//! Namespaces for the agent's root tests. The lab (client — `seg6local End`
//! router — server, namespaces deleted by an RAII guard even on panic,
//! unique names) is the dataplane tests' module, included rather than
//! copied; captures are `labns::Capture`. Threads and processes inside a
//! namespace and every wait by condition are `labns`'s (`run_in`,
//! `spawn_in`, `spawn_command_in` with the `/etc/netns` overlay, `Wait`).
//! Added here: a DNS namespace with the client's resolv.conf, the DNS
//! server on a thread inside it, and the `srv6-agent` binary run in a
//! namespace.
#![allow(dead_code, clippy::unwrap_used)]

#[path = "../../../dataplane/tests/common/netns.rs"]
mod base;

#[allow(unused_imports)]
pub use base::*;

use std::collections::BTreeMap;
use std::net::{Ipv6Addr, SocketAddr};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use labns::Wait;

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
    /// The client's `/etc/netns/<client>/resolv.conf`.
    pub resolv_conf: PathBuf,
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
        resolv_conf: etc.join("resolv.conf"),
        _resolv: resolv,
        _dns_ns: dns_ns,
        _lab: lab,
    }
}

/// Run `f` on a fresh thread inside namespace `ns` (labns: the thread
/// ends with `f`); a panic in `f` is resumed here.
pub fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    labns::run_in(ns, f).unwrap()
}

/// A thread inside a namespace running a tokio runtime until stopped.
pub struct NsTask {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<labns::NsThread<()>>,
}

impl NsTask {
    /// Run `serve` inside `ns` until the task is dropped; returns once
    /// `serve` says it is ready.
    pub fn spawn<F, Fut>(ns: &str, serve: F) -> NsTask
    where
        F: FnOnce(std::sync::mpsc::Sender<()>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()>,
    {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = labns::spawn_in(ns, move || {
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
        })
        .unwrap();
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

/// `srv6-agent ARGS` as a command started inside `ns` the way `ip netns
/// exec` starts it (labns: `/etc/netns/NS/` over `/etc`, so it reads the
/// namespace's resolv.conf).
pub fn agent_in(ns: &str, args: &[&str], stdout: Stdio, stderr: Stdio) -> labns::Spawned {
    let mut cmd = Command::new(AGENT);
    cmd.args(args)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    labns::spawn_command_in(ns, &mut cmd, &labns::SpawnOptions::new().etc_overlay()).unwrap()
}

/// A running `srv6-agent` inside a namespace; logs in a temporary file;
/// SIGKILLed on drop if still running.
pub struct AgentProcess {
    pub child: Child,
    pub id: labns::ProcId,
    pub ns: String,
    pub interface: String,
    log: tempfile::NamedTempFile,
}

impl AgentProcess {
    /// `args` must name the interface (`--interface IF`, second and third).
    pub fn spawn(ns: &str, args: &[&str]) -> AgentProcess {
        assert_eq!(args.get(1), Some(&"--interface"), "{args:?}");
        let log = tempfile::Builder::new()
            .prefix(&format!("{ns}-{}-", args[0]))
            .suffix(".log")
            .tempfile()
            .unwrap();
        let spawned = agent_in(ns, args, Stdio::null(), log.reopen().unwrap().into());
        AgentProcess {
            child: spawned.child,
            id: spawned.id,
            ns: ns.to_owned(),
            interface: args[2].to_owned(),
            log,
        }
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// Wait until `status --interface IF --output json` answers; its report.
    pub fn wait_ready(&mut self) -> serde_json::Value {
        let what = format!("the agent on {} in {} to answer", self.interface, self.ns);
        let (ns, interface) = (self.ns.clone(), self.interface.clone());
        let child = &mut self.child;
        let ready = Wait::new(what, Duration::from_secs(30))
            .every(Duration::from_millis(20))
            .until(|| {
                if let Ok(Some(exit)) = child.try_wait() {
                    return ControlFlow::Break(Err(exit));
                }
                match status(&ns, &interface) {
                    Ok(report) => ControlFlow::Break(Ok(report)),
                    Err(e) => ControlFlow::Continue(e),
                }
            });
        match ready {
            Ok(Ok(report)) => report,
            Ok(Err(exit)) => panic!("agent exited with {exit}:\n{}", self.logs()),
            Err(timeout) => panic!("{timeout}\n{}", self.logs()),
        }
    }

    /// SIGTERM, then wait for the exit.
    pub fn terminate(&mut self) -> ExitStatus {
        assert!(self.id.signal(labns::Signal::SIGTERM).unwrap());
        let child = &mut self.child;
        Wait::new("the agent to exit after SIGTERM", Duration::from_secs(30))
            .every(Duration::from_millis(10))
            .until(|| match child.try_wait().unwrap() {
                Some(exit) => ControlFlow::Break(exit),
                None => ControlFlow::Continue("running"),
            })
            .unwrap()
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Ok(report) = status(&self.ns, &self.interface) {
                eprintln!("--- status of the agent in {}:\n{report:#}", self.ns);
            }
            eprintln!("--- log of the agent in {}:\n{}", self.ns, self.logs());
        }
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
            // Killed, it could not remove its run files: do it for it.
            if let Some(inode) = labns::netns::inode(&self.ns) {
                let base = format!("/run/srv6-agent/{}@{inode}", self.interface);
                for suffix in ["sock", "lock"] {
                    let _ = std::fs::remove_file(format!("{base}.{suffix}"));
                }
            }
        }
    }
}

/// `srv6-agent status --interface IF --output json` inside `ns`.
pub fn status(ns: &str, interface: &str) -> Result<serde_json::Value, String> {
    let args = ["status", "--interface", interface, "--output", "json"];
    let out = agent_in(ns, &args, Stdio::piped(), Stdio::piped())
        .child
        .wait_with_output()
        .unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
}

/// Poll the agent's JSON status until `check` accepts it.
pub fn wait_status(
    ns: &str,
    interface: &str,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    Wait::new(what, Duration::from_secs(30))
        .every(Duration::from_millis(20))
        .until(|| match status(ns, interface) {
            Ok(r) if check(&r) => ControlFlow::Break(r),
            last => ControlFlow::Continue(format!("{last:?}")),
        })
        .unwrap_or_else(|timeout| panic!("{timeout}"))
}

/// The namespace's inode number (what the agent's run files are named by).
pub fn netns_inode(ns: &str) -> u64 {
    labns::netns::inode(ns).unwrap()
}
