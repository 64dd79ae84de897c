//! `labctl up FILE [--name NAME] [--replace]`: build a lab.
//!
//! Order: load and validate the file; refuse before creating anything if the
//! machine lacks a feature the lab uses ([`crate::doctor::require`]: no
//! privileges, a SID flavour the kernel lacks, a `backend: vpp` router
//! without a `vpp` binary, ...), a binary it runs is missing
//! (`mock-controller`, `srv6-agent`: [`crate::deploy::binaries_for`]), an
//! agent configuration cannot be read, or a namespace name is taken;
//! create the state directory (atomically: two `up`s of one name cannot both
//! win); journal the owner; apply the plan ([`crate::apply`]); write the
//! hosts and resolv.conf files; start the DNS server, the controller and the agents,
//! each ready by condition ([`crate::deploy`]); mark the journal complete.
//! Any failure tears down what was made.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use labns::{netns, ProcId, Wait};

use crate::apply;
use crate::deploy::{self, Deployment};
use crate::down;
use crate::error::{Error, Result};
use crate::hooks::pause_point;
use crate::plan::{self, Forwarding, LabPlan};
use crate::procs::{self, Spec};
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
    /// The labctl binary, re-executed as `labctl __dns` for the DNS server;
    /// the controller and agent binaries are looked up next to it.
    pub exe: PathBuf,
    /// Every router on this backend, whatever the file says (`labctl run
    /// --router-backend`); kept in `lab.json`, so the lab's readers see it too.
    pub router_backend: Option<topology::RouterBackend>,
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
    let mut topo = topology::parse_str(&text, &opts.file.display().to_string())?;
    state::with_router_backend(&mut topo, opts.router_backend);
    let lab = opts.name.clone().unwrap_or_else(|| topo.name.clone());
    state::validate_name(&lab)?;
    let mut plan = plan::from_topology(&topo, &lab);
    // Everything the lab will use, tried before anything is created, and
    // whether latency and jitter can be enforced.
    let (_, features) = crate::doctor::require_for_up(&crate::doctor::Needs::for_up(&topo))?;
    plan.features = features;
    let plan = Arc::new(plan);
    let vpp_bin = crate::vpp::require_vpp(&topo)?;
    let binaries = deploy::binaries_for(&topo, &opts.exe)?;
    let agent_configs = read_agent_configs(&topo, &opts.file)?;
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
        deployment: Deployment::plan(&topo, &lab, &dir, binaries),
        agent_configs,
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

/// Every client agent's `agent_config`, read (relative to the topology
/// file) before anything is made: `(node, text)`.
fn read_agent_configs(topo: &topology::Topology, file: &Path) -> Result<Vec<(String, String)>> {
    let base = file.parent().unwrap_or(Path::new("."));
    topo.nodes
        .values()
        .filter_map(|n| Some((n, n.agent_config.as_ref()?)))
        .map(|(n, rel)| {
            let path = base.join(rel);
            topology::read_input_file(&path, topology::MAX_INPUT_FILE_BYTES)
                .map(|text| (n.name.clone(), text))
                .map_err(|source| Error::AgentConfig {
                    topology: file.display().to_string(),
                    node: n.name.clone(),
                    source,
                })
        })
        .collect()
}

/// What one `up` builds from, once the state directory is claimed.
struct Build<'a> {
    opts: &'a UpOptions,
    lab: &'a str,
    dir: &'a Path,
    plan: &'a Arc<LabPlan>,
    topo: &'a topology::Topology,
    vpp_bin: Option<&'a Path>,
    deployment: Deployment,
    /// `(node, text)` of each client agent's configuration.
    agent_configs: Vec<(String, String)>,
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
                router_backend: self.opts.router_backend,
            },
        )?;
        let topo_copy = dir.join("topology.yaml");
        fs::write(&topo_copy, text).map_err(Error::io("write", &topo_copy))?;
        state::write_json(dir, state::FEATURES, &self.plan.features)?;
        self.lab(&journal)
    }

    /// Namespaces and links, hosts and resolv.conf files, VPP, the DNS server, the
    /// controller and the agents; then the journal says complete.
    fn lab(&self, journal: &Journal) -> Result<()> {
        let Build {
            opts, lab, plan, ..
        } = *self;
        let vpp_nodes: Vec<&plan::NsPlan> = plan
            .namespaces
            .iter()
            .filter(|n| n.forwarding == Forwarding::Vpp)
            .collect();
        let d = &self.deployment;
        let steps = apply::STEPS
            + 1
            + u64::from(plan.dns.is_some())
            + vpp_nodes.len() as u64
            + u64::from(d.controller.is_some())
            + u64::from(!d.agents.is_empty());
        let mut progress = Progress::new(steps, &format!("up {lab}"), opts.quiet);
        if let Err(e) = apply::apply(plan, journal, &mut progress) {
            progress.abandon();
            return Err(e);
        }
        check_interrupt()?;
        write_etc(plan, &hosts_file(self.topo, self.lab), journal)?;
        progress.step("hosts and resolv.conf written");
        self.vpp(&vpp_nodes, journal, &mut progress)?;
        if let Some(dns) = &plan.dns {
            let ns = &plan.namespaces[dns.ns].netns;
            let id = spawn_dns(&opts.exe, lab, self.dir, ns, journal)?;
            progress.step(&format!(
                "dns server on [{}]:53 (pid {})",
                dns.listen, id.pid
            ));
            pause_point("dns");
        }
        check_interrupt()?;
        self.deploy(journal, &mut progress)?;
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

    /// Start the VPP routers.
    fn vpp(
        &self,
        nodes: &[&plan::NsPlan],
        journal: &Journal,
        progress: &mut Progress,
    ) -> Result<()> {
        let Some(vpp) = self.vpp_bin else {
            return Ok(());
        };
        for ns in nodes {
            let id = start_vpp(vpp, self.topo, self.dir, ns, journal)?;
            progress.step(&format!("vpp on {} (pid {})", ns.node, id.pid));
        }
        Ok(())
    }

    /// The agents' configurations and `deploy.json` into the state
    /// directory, then the controller and the agents, each ready by condition.
    fn deploy(&self, journal: &Journal, progress: &mut Progress) -> Result<()> {
        let (d, dir) = (&self.deployment, self.dir);
        for (node, text) in &self.agent_configs {
            let path = deploy::agent_config_path(dir, node);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).map_err(Error::io("create", parent))?;
            }
            fs::write(&path, text).map_err(Error::io("write", &path))?;
        }
        d.write(dir)?;
        if let Some(c) = &d.controller {
            let started = deploy::start_controller(d, c, dir, journal)?;
            progress.step(&format!(
                "controller on {} at {} (pid {})",
                c.node,
                c.listen(),
                started.id.pid
            ));
            pause_point("controller");
            check_interrupt()?;
        }
        if !d.agents.is_empty() {
            let all: Vec<&deploy::AgentSpec> = d.agents.iter().collect();
            let started = deploy::start_agents(d, &all, dir, journal)?;
            let pids: Vec<String> = started
                .iter()
                .map(|s| format!("{} (pid {})", s.name, s.id.pid))
                .collect();
            progress.step(&format!("agents ready: {}", pids.join(", ")));
            pause_point("agents");
            check_interrupt()?;
        }
        Ok(())
    }
}

/// The lab's `/etc/hosts`: localhost, then every node as `NODE` and
/// `NODE.LAB` ([`topology::Topology::node_records`]), one line per address.
fn hosts_file(topo: &topology::Topology, lab: &str) -> String {
    let mut by_addr: std::collections::BTreeMap<std::net::Ipv6Addr, Vec<String>> =
        Default::default();
    for (name, addr) in topo.node_records(lab) {
        by_addr.entry(addr).or_default().push(name);
    }
    let mut text = "# written by labctl: the lab's nodes\n127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n".to_string();
    for (addr, mut names) in by_addr {
        // The bare name first: it is what `getent hosts ADDR` answers.
        names.sort_by_key(|n| (n.contains('.'), n.clone()));
        text.push_str(&format!("{addr} {}\n", names.join(" ")));
    }
    text
}

/// `/etc/netns/<ns>/hosts` for every namespace, and `resolv.conf` for those
/// with a resolver (what `ip netns exec` and `labctl exec` bind-mount over
/// `/etc/`'s). Journalled before creation.
fn write_etc(plan: &LabPlan, hosts: &str, journal: &Journal) -> Result<()> {
    let dirs: Vec<_> = plan
        .namespaces
        .iter()
        .map(|n| (Path::new("/etc/netns").join(&n.netns), n.resolver))
        .collect();
    let entries: Vec<Entry> = dirs.iter().map(|(d, _)| Entry::Etc(d.clone())).collect();
    journal.record(&entries)?;
    // In parallel: each directory costs milliseconds on /etc.
    std::thread::scope(|scope| {
        let jobs: Vec<_> = dirs
            .iter()
            .map(|(d, server)| scope.spawn(move || write_etc_dir(d, hosts, *server)))
            .collect();
        jobs.into_iter()
            .map(|j| j.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect::<Result<Vec<()>>>()
    })?;
    Ok(())
}

fn write_etc_dir(d: &Path, hosts: &str, resolver: Option<std::net::Ipv6Addr>) -> Result<()> {
    fs::create_dir_all(d).map_err(Error::io("create", d))?;
    let f = d.join("hosts");
    fs::write(&f, hosts).map_err(Error::io("write", &f))?;
    if let Some(server) = resolver {
        let f = d.join("resolv.conf");
        let text = format!(
            "# written by labctl: the lab DNS server\nnameserver {server}\noptions timeout:1 attempts:2\n"
        );
        fs::write(&f, text).map_err(Error::io("write", &f))?;
    }
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
    journal: &Journal,
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
    let spec = Spec {
        name: format!("vpp-{}", ns.node),
        netns: ns.netns.clone(),
        program: vpp.to_path_buf(),
        args: vec![
            "-c".to_string(),
            cfg.startup_conf_path().display().to_string(),
        ],
        etc_overlay: false,
        log: cfg.run_dir.join("vpp.stdout.log"),
    };
    Ok(procs::start(&spec, journal, Some(Stdio::null()))?.id)
}

/// Start `labctl __dns` inside the dns node's namespace, detached (own
/// session), journal it, and wait until it reports that its sockets are bound.
fn spawn_dns(exe: &Path, lab: &str, dir: &Path, ns: &str, journal: &Journal) -> Result<ProcId> {
    let spec = Spec {
        name: "dns".to_string(),
        netns: ns.to_string(),
        program: exe.to_path_buf(),
        args: vec![
            "__dns".to_string(),
            "--lab".to_string(),
            lab.to_string(),
            "--state".to_string(),
            dir.display().to_string(),
        ],
        etc_overlay: false,
        log: dir.join("dns.log"),
    };
    let mut started = procs::start(&spec, journal, Some(Stdio::piped()))?;
    let Some(stdout) = started.child.stdout.take() else {
        return Err(Error::Dns("no stdout pipe".to_string()));
    };
    let ready = Wait::new("the dns server to say ready", DNS_READY_WAIT)
        .for_line(stdout, |l| l.trim() == "ready");
    if let Err(source) = ready {
        let _ = started.child.kill();
        let _ = started.child.wait();
        let log_text = fs::read_to_string(&spec.log).unwrap_or_default();
        return Err(Error::DnsDidNotStart {
            log: log_text.trim().to_string(),
            source,
        });
    }
    Ok(started.id)
}
