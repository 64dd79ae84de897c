//! `labctl up FILE [--name NAME] [--replace]`: build a lab.
//!
//! Order: load and validate the file; refuse before creating anything if a
//! `backend: vpp` router has no `vpp` binary, or a namespace name is taken;
//! create the state directory (atomically: two `up`s of one name cannot both
//! win); journal the owner; apply the plan ([`crate::apply`]); write the
//! resolv.conf files; start the DNS server; mark the journal complete. Any
//! failure tears down what was made.

use std::fs;
use std::io::{self, BufRead, BufReader};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::apply;
use crate::down;
use crate::error::{Error, Result};
use crate::netns;
use crate::plan::{self, Forwarding, LabPlan};
use crate::progress::Progress;
use crate::state::{self, Entry, Journal, LabMeta};

/// Options of `labctl up`.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// Topology file.
    pub file: PathBuf,
    /// Lab name (default: the file's `name`).
    pub name: Option<String>,
    /// Tear down a running lab of that name first.
    pub replace: bool,
    /// No progress output.
    pub quiet: bool,
    /// The labctl binary, re-executed as `labctl __dns` for the DNS server.
    pub exe: PathBuf,
}

/// What `up` built.
#[derive(Debug, Clone)]
pub struct UpReport {
    pub lab: String,
    pub namespaces: usize,
    pub links: usize,
    pub routes: usize,
    pub sids: usize,
    pub elapsed: Duration,
}

/// Hidden test hook: `LABCTL_PAUSE_AT=<step>` makes `up` stop after that
/// step (`namespaces`, `links`, `addresses`, `routes`, `dns`) and wait to be
/// killed, so tests can SIGKILL `up` at a known point.
pub const PAUSE_ENV: &str = "LABCTL_PAUSE_AT";

pub(crate) fn pause_point(step: &str) {
    if std::env::var(PAUSE_ENV).is_ok_and(|v| v == step) {
        eprintln!("labctl: paused at {step}");
        // Until killed, or until an interrupt is pending (then `up` reacts
        // to it at this boundary, as it would without the pause).
        while crate::signals::pending().is_none() {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

fn check_interrupt() -> Result<()> {
    match crate::signals::pending() {
        Some(sig) => Err(Error::Interrupted(sig)),
        None => Ok(()),
    }
}

/// Hidden test hook: `LABCTL_FAIL_AT=<step>` makes that step fail, to test
/// that a failed `up` removes what it made.
pub const FAIL_ENV: &str = "LABCTL_FAIL_AT";

pub(crate) fn injected_failure(step: &str) -> Option<Error> {
    std::env::var(FAIL_ENV)
        .is_ok_and(|v| v == step)
        .then(|| Error::Unsupported(format!("injected failure after step {step} ({FAIL_ENV})")))
}

/// Build the lab described by `opts.file`.
pub fn run(opts: &UpOptions) -> Result<UpReport> {
    let start = Instant::now();
    let text = fs::read_to_string(&opts.file).map_err(Error::io("read", &opts.file))?;
    let topo = topology::parse_str(&text, &opts.file.display().to_string())
        .map_err(|e| Error::Topology(e.to_string()))?;
    let lab = opts.name.clone().unwrap_or_else(|| topo.name.clone());
    state::validate_name(&lab)?;
    let plan = Arc::new(plan::from_topology(&topo, &lab));

    let vpp_bin = crate::vpp::require_vpp(&topo)
        .map_err(|e| Error::Unsupported(format!("{e}. Nothing was created.")))?;
    let dir = state::lab_dir(&lab);
    if dir.exists() {
        if !opts.replace {
            return Err(Error::AlreadyUp {
                name: lab,
                state: dir,
            });
        }
        down::teardown(&lab)?;
    }
    for ns in &plan.namespaces {
        if netns::exists(&ns.netns) {
            return Err(Error::Unsupported(format!(
                "namespace {} already exists and does not belong to a labctl lab named {lab}; \
                 remove it (ip netns del {}) or choose another --name",
                ns.netns, ns.netns
            )));
        }
    }
    fs::create_dir_all(state::STATE_ROOT).map_err(Error::io("create", state::STATE_ROOT))?;
    match fs::create_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(Error::AlreadyUp {
                name: lab,
                state: dir,
            })
        }
        Err(e) => {
            return Err(Error::Io {
                op: "create state directory",
                path: dir,
                source: e,
            })
        }
    }
    // From here on, Ctrl-C means "stop at the next step and clean up".
    let deferred = crate::signals::Deferred::block();
    let built = build(opts, &lab, &dir, &text, &plan, &topo, vpp_bin.as_deref());
    match built {
        Ok(()) => Ok(UpReport {
            lab,
            namespaces: plan.namespaces.len(),
            links: plan.veths.len(),
            routes: plan.namespaces.iter().map(|n| n.routes.len()).sum(),
            sids: plan.namespaces.iter().map(|n| n.sids.len()).sum(),
            elapsed: start.elapsed(),
        }),
        Err(e) => {
            if let Err(cleanup) = down::teardown(&lab) {
                tracing::error!("cleanup after failed up of {lab}: {cleanup}");
            }
            if let Error::Interrupted(_) = e {
                // Consume the signal we reacted to instead of dying of it
                // when the mask is restored.
                crate::signals::consume();
            }
            drop(deferred);
            Err(e)
        }
    }
}

fn build(
    opts: &UpOptions,
    lab: &str,
    dir: &Path,
    text: &str,
    plan: &Arc<LabPlan>,
    topo: &topology::Topology,
    vpp_bin: Option<&Path>,
) -> Result<()> {
    let journal = Journal::open(dir)?;
    let me = std::process::id() as i32;
    journal.record(&[Entry::Owner {
        pid: me,
        start: state::proc_start_time(me).unwrap_or(0),
    }])?;
    let created_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    state::write_meta(
        dir,
        &LabMeta {
            name: lab.to_string(),
            source: opts.file.clone(),
            created_unix,
        },
    )?;
    let topo_copy = dir.join("topology.yaml");
    fs::write(&topo_copy, text).map_err(Error::io("write", &topo_copy))?;

    let vpp_nodes: Vec<&plan::NsPlan> = plan
        .namespaces
        .iter()
        .filter(|n| n.forwarding == Forwarding::Vpp)
        .collect();
    let steps = apply::STEPS + 1 + u64::from(plan.dns.is_some()) + vpp_nodes.len() as u64;
    let mut progress = Progress::new(steps, &format!("up {lab}"), opts.quiet);
    if let Err(e) = apply::apply(plan, &journal, &mut progress) {
        progress.abandon();
        return Err(e);
    }
    check_interrupt()?;
    write_resolvers(plan, &journal)?;
    progress.step("resolv.conf written");
    if let Some(vpp) = vpp_bin {
        for ns in vpp_nodes {
            let (pid, start) = start_vpp(vpp, topo, dir, ns)?;
            journal.record(&[Entry::Proc {
                name: format!("vpp-{}", ns.node),
                pid,
                start,
            }])?;
            progress.step(&format!("vpp on {} (pid {pid})", ns.node));
        }
    }
    if let Some(dns) = &plan.dns {
        let ns = &plan.namespaces[dns.ns].netns;
        let (pid, start) = spawn_dns(&opts.exe, lab, dir, ns)?;
        journal.record(&[Entry::Proc {
            name: "dns".to_string(),
            pid,
            start,
        }])?;
        progress.step(&format!("dns server on [{}]:53 (pid {pid})", dns.listen));
        pause_point("dns");
    }
    check_interrupt()?;
    journal.record(&[Entry::Complete])?;
    progress.finish(&format!(
        "lab {lab} up: {} namespaces, {} links",
        plan.namespaces.len(),
        plan.veths.len()
    ));
    Ok(())
}

/// `/etc/netns/<ns>/resolv.conf` (what `ip netns exec` and `labctl exec`
/// bind-mount over `/etc/resolv.conf`). Journalled before creation.
fn write_resolvers(plan: &LabPlan, journal: &Journal) -> Result<()> {
    let with: Vec<_> = plan
        .namespaces
        .iter()
        .filter_map(|n| Some((Path::new("/etc/netns").join(&n.netns), n.resolver?)))
        .collect();
    let entries: Vec<Entry> = with.iter().map(|(d, _)| Entry::Etc(d.clone())).collect();
    journal.record(&entries)?;
    // In parallel: each directory costs milliseconds on /etc.
    std::thread::scope(|scope| {
        let jobs: Vec<_> = with
            .iter()
            .map(|(d, server)| {
                scope.spawn(move || {
                    fs::create_dir_all(d).map_err(Error::io("create", d))?;
                    let f = d.join("resolv.conf");
                    let text = format!(
                        "# written by labctl: the lab DNS server\nnameserver {server}\noptions timeout:1 attempts:2\n"
                    );
                    fs::write(&f, text).map_err(Error::io("write", &f))
                })
            })
            .collect();
        jobs.into_iter()
            .map(|j| {
                j.join()
                    .unwrap_or_else(|_| Err(Error::Dns("resolv.conf writer panicked".into())))
            })
            .collect::<Result<Vec<()>>>()
    })?;
    Ok(())
}

/// Generate a VPP router's configuration (crate::vpp) into the state
/// directory and start `vpp -c startup.conf` inside its namespace. The
/// kernel only created and raised the interfaces; VPP takes them over as
/// af_packet host interfaces and configures addresses, routes and the SID.
fn start_vpp(
    vpp: &Path,
    topo: &topology::Topology,
    dir: &Path,
    ns: &plan::NsPlan,
) -> Result<(i32, u64)> {
    let opts = crate::vpp::VppOptions {
        run_dir: dir.join("vpp").join(&ns.node),
        main_core: None,
    };
    let cfg = crate::vpp::generate_with(topo, &ns.node, &opts)
        .map_err(|e| Error::Unsupported(format!("vpp config of {}: {e}", ns.node)))?;
    crate::vpp::write_config(&cfg).map_err(Error::io("write vpp config", &cfg.run_dir))?;
    let log = cfg.run_dir.join("vpp.stdout.log");
    let mut cmd = Command::new(vpp);
    cmd.arg("-c").arg(cfg.startup_conf_path());
    let child = spawn_in_netns(cmd, &ns.netns, &log, Stdio::null())?;
    let pid = child.id() as i32;
    Ok((pid, state::proc_start_time(pid).unwrap_or(0)))
}

/// Spawn `cmd` inside namespace `ns`, in its own session (it outlives
/// `up`), stderr to `log`. The process is in the namespace from its first
/// instruction, so `down` finds it by namespace even if it was never
/// journalled (a kill between spawn and journal write).
fn spawn_in_netns(
    mut cmd: Command,
    ns: &str,
    log: &Path,
    stdout: Stdio,
) -> Result<std::process::Child> {
    let ns_fd = netns::open(ns)?;
    let raw_ns = ns_fd.as_raw_fd();
    let log_file = fs::File::create(log).map_err(Error::io("create", log))?;
    cmd.stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::from(log_file));
    // SAFETY: between fork and exec only async-signal-safe system calls run:
    // setns on an fd inherited from the parent, and setsid.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(raw_ns, libc::CLONE_NEWNET) != 0 {
                return Err(io::Error::last_os_error());
            }
            libc::setsid();
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(|e| Error::Sys {
        op: "spawn",
        what: format!("{:?} in {ns}", cmd.get_program()),
        source: e,
    })?;
    drop(ns_fd);
    Ok(child)
}

/// Start `labctl __dns` inside the dns node's namespace, detached (own
/// session), and wait until it reports that its sockets are bound.
fn spawn_dns(exe: &Path, lab: &str, dir: &Path, ns: &str) -> Result<(i32, u64)> {
    let log = dir.join("dns.log");
    let mut cmd = Command::new(exe);
    cmd.arg("__dns")
        .arg("--lab")
        .arg(lab)
        .arg("--state")
        .arg(dir);
    let mut child = spawn_in_netns(cmd, ns, &log, Stdio::piped())?;
    let pid = child.id() as i32;
    let start = state::proc_start_time(pid).unwrap_or(0);
    let Some(stdout) = child.stdout.take() else {
        return Err(Error::Dns("no stdout pipe".to_string()));
    };
    // Wait for "ready" with a deadline: read on a helper thread.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let r = BufReader::new(stdout).read_line(&mut line).map(|_| line);
        let _ = tx.send(r);
    });
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(Ok(line)) if line.trim() == "ready" => Ok((pid, start)),
        other => {
            let _ = child.kill();
            let _ = child.wait();
            let log_text = fs::read_to_string(&log).unwrap_or_default();
            Err(Error::Dns(format!(
                "server did not start ({}): {}",
                match other {
                    Err(_) => "no answer in 10 s".to_string(),
                    Ok(Ok(l)) => format!("said {:?}", l.trim()),
                    Ok(Err(e)) => e.to_string(),
                },
                log_text.trim()
            )))
        }
    }
}
