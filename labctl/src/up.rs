//! `labctl up FILE [--name NAME] [--replace]`: build a lab.
//!
//! Order: load and validate the file; refuse before creating anything if the
//! machine lacks a feature the lab uses ([`crate::doctor::require`]: no
//! privileges, a SID flavour the kernel lacks, a `backend: vpp` router
//! without a `vpp` binary, ...) or a namespace name is taken;
//! create the state directory (atomically: two `up`s of one name cannot both
//! win); journal the owner; apply the plan ([`crate::apply`]); write the
//! resolv.conf files; start the DNS server; mark the journal complete. Any
//! failure tears down what was made.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use labns::{netns, ProcId, SpawnOptions, Wait};

use crate::apply;
use crate::down;
use crate::error::{Error, Result};
use crate::hooks::pause_point;
use crate::plan::{self, Forwarding, LabPlan};
use crate::progress::Progress;
use crate::state::{self, Entry, Journal, LabMeta};

/// How long the DNS server gets to bind and say `ready`.
const DNS_READY_WAIT: Duration = Duration::from_secs(10);

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

fn check_interrupt() -> Result<()> {
    match labns::signals::pending() {
        Some(sig) => Err(Error::Interrupted(sig)),
        None => Ok(()),
    }
}

/// Build the lab described by `opts.file`.
///
/// SIGINT, SIGTERM and SIGHUP are deferred while it runs (see
/// [`labns::signals`]): one that arrives before the lab is complete makes
/// `up` remove what it made and fail with [`Error::Interrupted`]; one that
/// arrives after is discarded (the lab is up and `up` says so). Either way
/// the exit status matches what is left.
pub fn run(opts: &UpOptions) -> Result<UpReport> {
    let start = Instant::now();
    let text = topology::read_input_file(&opts.file, topology::MAX_INPUT_FILE_BYTES)
        .map_err(topology::LoadError::Read)?;
    let topo = topology::parse_str(&text, &opts.file.display().to_string())?;
    let lab = opts.name.clone().unwrap_or_else(|| topo.name.clone());
    state::validate_name(&lab)?;
    let plan = Arc::new(plan::from_topology(&topo, &lab));
    // Everything the lab will use, tried before anything is created.
    crate::doctor::require(&crate::doctor::Needs::for_up(&topo))?;
    let vpp_bin = crate::vpp::require_vpp(&topo)?;
    // From here on, Ctrl-C means "stop at the next step and clean up".
    let _deferred = labns::signals::Deferred::block()?;
    let dir = claim(&lab, opts.replace, &plan)?;
    let build = Build {
        opts,
        lab: &lab,
        dir: &dir,
        plan: &plan,
        topo: &topo,
        vpp_bin: vpp_bin.as_deref(),
    };
    match build.run(&text) {
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
            Err(e)
        }
    }
}

/// Make the lab's state directory, refusing before anything exists when
/// the lab runs (unless `replace`: then it goes down first) or one of its
/// namespace names is taken. `mkdir` is atomic: of two `up`s of one name
/// only one gets here.
fn claim(lab: &str, replace: bool, plan: &LabPlan) -> Result<PathBuf> {
    let dir = state::lab_dir(lab);
    if dir.exists() {
        if !replace {
            return Err(Error::AlreadyUp {
                name: lab.to_string(),
                state: dir,
            });
        }
        down::teardown(lab)?;
    }
    if let Some(ns) = plan.namespaces.iter().find(|n| netns::exists(&n.netns)) {
        return Err(Error::NamespaceTaken {
            netns: ns.netns.clone(),
            lab: lab.to_string(),
        });
    }
    fs::create_dir_all(state::STATE_ROOT).map_err(Error::io("create", state::STATE_ROOT))?;
    match fs::create_dir(&dir) {
        Ok(()) => Ok(dir),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(Error::AlreadyUp {
            name: lab.to_string(),
            state: dir,
        }),
        Err(e) => Err(Error::io("create state directory", dir)(e)),
    }
}

/// What one `up` builds from, once the state directory is claimed.
struct Build<'a> {
    opts: &'a UpOptions,
    lab: &'a str,
    dir: &'a Path,
    plan: &'a Arc<LabPlan>,
    topo: &'a topology::Topology,
    vpp_bin: Option<&'a Path>,
}

impl Build<'_> {
    /// The journal's owner line, `lab.json` and the topology copy; then the lab.
    fn run(&self, text: &str) -> Result<()> {
        let (lab, dir) = (self.lab, self.dir);
        let journal = Journal::open(dir)?;
        let me = ProcId::current()?;
        journal.record(&[Entry::Owner {
            pid: me.pid,
            start: me.start,
        }])?;
        let created_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        state::write_meta(
            dir,
            &LabMeta {
                name: lab.to_string(),
                source: self.opts.file.clone(),
                created_unix,
            },
        )?;
        let topo_copy = dir.join("topology.yaml");
        fs::write(&topo_copy, text).map_err(Error::io("write", &topo_copy))?;
        self.lab(&journal)
    }

    /// Namespaces and links, resolv.conf files, VPP, the DNS server; then the
    /// journal says complete.
    fn lab(&self, journal: &Journal) -> Result<()> {
        let Build {
            opts,
            lab,
            dir,
            plan,
            topo,
            vpp_bin,
        } = *self;
        let vpp_nodes: Vec<&plan::NsPlan> = plan
            .namespaces
            .iter()
            .filter(|n| n.forwarding == Forwarding::Vpp)
            .collect();
        let steps = apply::STEPS + 1 + u64::from(plan.dns.is_some()) + vpp_nodes.len() as u64;
        let mut progress = Progress::new(steps, &format!("up {lab}"), opts.quiet);
        if let Err(e) = apply::apply(plan, journal, &mut progress) {
            progress.abandon();
            return Err(e);
        }
        check_interrupt()?;
        write_resolvers(plan, journal)?;
        progress.step("resolv.conf written");
        if let Some(vpp) = vpp_bin {
            for ns in vpp_nodes {
                let id = start_vpp(vpp, topo, dir, ns)?;
                journal.record(&[Entry::Proc {
                    name: format!("vpp-{}", ns.node),
                    pid: id.pid,
                    start: id.start,
                }])?;
                progress.step(&format!("vpp on {} (pid {})", ns.node, id.pid));
            }
        }
        if let Some(dns) = &plan.dns {
            let ns = &plan.namespaces[dns.ns].netns;
            let id = spawn_dns(&opts.exe, lab, dir, ns, journal)?;
            progress.step(&format!(
                "dns server on [{}]:53 (pid {})",
                dns.listen, id.pid
            ));
            pause_point("dns");
        }
        check_interrupt()?;
        journal.record(&[Entry::Complete])?;
        // The last boundary: a signal up to here removes the lab; one after it
        // is discarded when the deferral ends (the lab is up, and `up` says so).
        pause_point("complete");
        check_interrupt()?;
        progress.finish(&format!(
            "lab {lab} up: {} namespaces, {} links",
            plan.namespaces.len(),
            plan.veths.len()
        ));
        Ok(())
    }
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
            .map(|j| j.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
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
) -> Result<ProcId> {
    let opts = crate::vpp::VppOptions {
        run_dir: dir.join("vpp").join(&ns.node),
        main_core: None,
    };
    let cfg =
        crate::vpp::generate_with(topo, &ns.node, &opts).map_err(|source| Error::VppConfig {
            node: ns.node.clone(),
            source,
        })?;
    crate::vpp::write_config(&cfg).map_err(Error::io("write vpp config", &cfg.run_dir))?;
    let log = cfg.run_dir.join("vpp.stdout.log");
    let mut cmd = Command::new(vpp);
    cmd.arg("-c").arg(cfg.startup_conf_path());
    Ok(spawn_detached(cmd, &ns.netns, &log, Stdio::null())?.id)
}

/// Spawn `cmd` inside namespace `ns` in its own session (it outlives
/// `up`), stderr to `log`. It is in the namespace from its first
/// instruction, so `down` finds it by namespace even if it was never
/// journalled (a kill between spawn and journal write).
fn spawn_detached(mut cmd: Command, ns: &str, log: &Path, stdout: Stdio) -> Result<labns::Spawned> {
    let log_file = fs::File::create(log).map_err(Error::io("create", log))?;
    cmd.stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::from(log_file));
    Ok(labns::spawn_command_in(
        ns,
        &mut cmd,
        &SpawnOptions::new().new_session(),
    )?)
}

/// Start `labctl __dns` inside the dns node's namespace, detached (own
/// session), journal it, and wait until it reports that its sockets are bound.
fn spawn_dns(exe: &Path, lab: &str, dir: &Path, ns: &str, journal: &Journal) -> Result<ProcId> {
    let log = dir.join("dns.log");
    let mut cmd = Command::new(exe);
    cmd.arg("__dns")
        .arg("--lab")
        .arg(lab)
        .arg("--state")
        .arg(dir);
    let mut spawned = spawn_detached(cmd, ns, &log, Stdio::piped())?;
    let id = spawned.id;
    journal.record(&[Entry::Proc {
        name: "dns".to_string(),
        pid: id.pid,
        start: id.start,
    }])?;
    let Some(stdout) = spawned.child.stdout.take() else {
        return Err(Error::Dns("no stdout pipe".to_string()));
    };
    let ready = Wait::new("the dns server to say ready", DNS_READY_WAIT)
        .for_line(stdout, |l| l.trim() == "ready");
    if let Err(source) = ready {
        let _ = spawned.child.kill();
        let _ = spawned.child.wait();
        let log_text = fs::read_to_string(&log).unwrap_or_default();
        return Err(Error::DnsDidNotStart {
            log: log_text.trim().to_string(),
            source,
        });
    }
    Ok(id)
}
