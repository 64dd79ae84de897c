//! The lab a run uses, and what the run changes in it.
//!
//! A run reuses a running lab of the scenario's topology (the same file
//! text), or brings one up itself and takes it down at the end (unless
//! `--keep`). For the run, the controller and the agents are set up as the
//! scenario says (its `controller` and `agents` sections): every process
//! whose command differs from what runs is stopped and started again, and
//! `deploy.json` says what runs now. At the end everything the run changed
//! in a lab that stays up is put back: the controller and agents as `up`
//! made them, the links as the topology file has them, the DNS records.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use labns::Wait;

use topology::{AgentRole, Topology};

use crate::deploy::{
    self, AgentRun, AgentSpec, ControllerRun, ControllerSpec, Deployment, CONTROLLER,
};
use crate::error::{Error, Result};
use crate::procs::{self, Started};
use crate::scenario::{AgentMode, ControllerMode, Scenario};
use crate::state::{self, Journal};
use crate::up::{self, UpOptions};

/// A change to undo when the run ends.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Undo {
    Link(usize),
    Dns(String),
}

/// The lab of one run.
#[derive(Debug)]
pub struct Session {
    pub lab: String,
    pub dir: PathBuf,
    /// Brought up by this run.
    pub owned: bool,
    journal: Journal,
    /// What `up` deployed.
    original: Deployment,
    /// What runs now.
    pub current: Deployment,
    undo: Vec<Undo>,
    /// Processes this run started (reaped when they exit).
    started: Vec<Started>,
}

/// How to get the lab.
#[derive(Debug, Clone)]
pub struct LabChoice {
    pub name: Option<String>,
    pub quiet: bool,
    pub exe: PathBuf,
    pub router_backend: Option<topology::RouterBackend>,
}

impl Session {
    /// Reuse the running lab of the scenario's topology, or bring one up.
    pub fn open(scenario: &Scenario, topo: &Topology, choice: &LabChoice) -> Result<Session> {
        let lab = choice.name.clone().unwrap_or_else(|| topo.name.clone());
        state::validate_name(&lab)?;
        let dir = state::lab_dir(&lab);
        let owned = if dir.is_dir() {
            same_topology(&dir, &scenario.topology_file, &lab)?;
            false
        } else {
            up::run(&UpOptions {
                file: scenario.topology_file.clone(),
                name: Some(lab.clone()),
                replace: false,
                quiet: choice.quiet,
                exe: choice.exe.clone(),
                router_backend: choice.router_backend,
            })?;
            true
        };
        let original = Deployment::read(&dir)?;
        Ok(Session {
            journal: Journal::open(&dir)?,
            current: original.clone(),
            original,
            lab,
            dir,
            owned,
            undo: Vec::new(),
            started: Vec::new(),
        })
    }

    /// Set up the controller and the agents as the scenario says.
    pub fn setup(&mut self, scenario: &Scenario, topo: &Topology) -> Result<()> {
        let controller = self.wanted_controller(scenario)?;
        let mut agents = self.current.agents.clone();
        for (host, setup) in &scenario.agents {
            let run = match setup.role {
                AgentRole::Server => AgentRun::Server {
                    trusted: deploy::trusted_prefixes(topo),
                },
                AgentRole::Client => self.client_run(host, setup, controller.as_ref())?,
            };
            let spec = AgentSpec {
                node: host.clone(),
                netns: crate::plan::netns_name(&self.lab, host),
                interface: deploy::host_interface(topo, host)
                    .ok_or_else(|| Error::Run(format!("host {host} has no link")))?,
                run,
            };
            agents.retain(|a| a.node != *host);
            agents.push(spec);
        }
        agents.sort_by(|a, b| a.node.cmp(&b.node));
        self.switch_controller(controller)?;
        self.switch_agents(agents)
    }

    /// The controller the scenario wants (its table copied into the state directory).
    fn wanted_controller(&self, scenario: &Scenario) -> Result<Option<ControllerSpec>> {
        let Some(base) = self.original.controller.clone() else {
            return Ok(None);
        };
        let run = match scenario.controller.mode {
            ControllerMode::None => return Ok(None),
            ControllerMode::Computed => ControllerRun::Computed {
                topology: self.dir.join("topology.yaml"),
                minimal_sids: scenario.controller.minimal_sids,
            },
            ControllerMode::Static => {
                let table = scenario.controller.table.as_ref().ok_or_else(|| {
                    Error::Run("static controller mode without a table".to_string())
                })?;
                let copy = self.dir.join("controller-table.yaml");
                std::fs::copy(table, &copy).map_err(Error::io("copy", table))?;
                ControllerRun::Static { table: copy }
            }
        };
        Ok(Some(ControllerSpec { run, ..base }))
    }

    /// A client agent's command for the run.
    fn client_run(
        &self,
        host: &str,
        setup: &crate::scenario::AgentSetup,
        controller: Option<&ControllerSpec>,
    ) -> Result<AgentRun> {
        let config = match &setup.config {
            Some(file) => {
                let copy = self.dir.join("agents").join(format!("{host}.run.yaml"));
                std::fs::create_dir_all(self.dir.join("agents"))
                    .map_err(Error::io("create", self.dir.join("agents")))?;
                std::fs::copy(file, &copy).map_err(Error::io("copy", file))?;
                copy
            }
            None => match self.original.agents.iter().find(|a| a.node == host) {
                Some(AgentSpec {
                    run: AgentRun::Client { config, .. },
                    ..
                }) => config.clone(),
                _ => {
                    return Err(Error::Run(format!(
                    "host {host}: the scenario gives no agent config and the topology deploys none"
                )))
                }
            },
        };
        let controller = match setup.mode {
            Some(AgentMode::Standalone) => None,
            _ => controller.map(ControllerSpec::url),
        };
        Ok(AgentRun::Client { config, controller })
    }

    /// Make `controller` run (restarted when its command differs or it is not running).
    fn switch_controller(&mut self, controller: Option<ControllerSpec>) -> Result<()> {
        let entries = state::read_journal(&self.dir, &self.lab)?.entries;
        let runs = procs::running(&entries, CONTROLLER).is_some();
        if self.current.controller == controller && (controller.is_none() || runs) {
            return Ok(());
        }
        self.stop(CONTROLLER)?;
        self.current.controller = controller;
        self.current.write(&self.dir)?;
        self.start_controller()
    }

    /// Make `agents` run: restart each whose command differs or that is
    /// not running, stop those no longer wanted; then wait until all are ready.
    fn switch_agents(&mut self, agents: Vec<AgentSpec>) -> Result<()> {
        let entries = state::read_journal(&self.dir, &self.lab)?.entries;
        let restart: Vec<AgentSpec> = agents
            .iter()
            .filter(|a| {
                !self.current.agents.contains(a)
                    || procs::running(&entries, &a.proc_name()).is_none()
            })
            .cloned()
            .collect();
        let old: Vec<String> = self
            .current
            .agents
            .iter()
            .filter(|o| {
                !agents.iter().any(|a| a.node == o.node) || restart.iter().any(|a| a.node == o.node)
            })
            .map(AgentSpec::proc_name)
            .collect();
        for name in old {
            self.stop(&name)?;
        }
        self.current.agents = agents;
        self.current.write(&self.dir)?;
        self.start_agents(&restart)?;
        self.wait_agents()
    }

    /// Wait until every agent that runs now is ready (a controller
    /// restarted under agents that stayed makes them reconnect).
    fn wait_agents(&self) -> Result<()> {
        let Some(bin) = self.current.binaries.agent.clone() else {
            return Ok(());
        };
        Wait::new("the agents to be ready", deploy::AGENTS_READY)
            .every(Duration::from_millis(100))
            .try_until(|| {
                let entries = state::read_journal(&self.dir, &self.lab)?.entries;
                let mut waiting = Vec::new();
                for a in &self.current.agents {
                    let name = a.proc_name();
                    if procs::running(&entries, &name).is_none() {
                        let log = self.dir.join(format!("{name}.log"));
                        return Err(Error::Run(format!(
                            "{name} is not running; the end of its log:\n{}",
                            procs::log_tail(&log, procs::LOG_TAIL_LINES)
                        )));
                    }
                    if let ControlFlow::Continue(why) = deploy::agent_ready(&bin, a)? {
                        waiting.push(format!("{name}: {why}"));
                    }
                }
                Ok::<_, Error>(match waiting.is_empty() {
                    true => ControlFlow::Break(()),
                    false => ControlFlow::Continue(waiting.join("; ")),
                })
            })
    }

    /// Stop the process a journal name means now, if it runs (reaping it
    /// when this run started it).
    fn stop(&mut self, name: &str) -> Result<()> {
        let entries = state::read_journal(&self.dir, &self.lab)?.entries;
        if let Some(id) = procs::latest(&entries).get(name) {
            let child = self.started.iter_mut().find(|s| s.id == *id);
            procs::stop(name, *id, child.map(|s| &mut s.child))?;
        }
        self.started.retain_mut(|s| s.exited().is_none());
        Ok(())
    }

    /// Start the current controller (if any) and tell it the link changes.
    pub fn start_controller(&mut self) -> Result<()> {
        let Some(c) = self.current.controller.clone() else {
            return Ok(());
        };
        let started = deploy::start_controller(&self.current, &c, &self.dir, &self.journal)?;
        self.started.push(started);
        if matches!(c.run, ControllerRun::Computed { .. }) {
            crate::link::replay(&self.lab)?;
        }
        Ok(())
    }

    /// Stop the controller.
    pub fn stop_controller(&mut self) -> Result<()> {
        self.stop(CONTROLLER)
    }

    /// Start `agents` (current specs) and wait until they are ready.
    fn start_agents(&mut self, agents: &[AgentSpec]) -> Result<()> {
        if agents.is_empty() {
            return Ok(());
        }
        let refs: Vec<&AgentSpec> = agents.iter().collect();
        let started = deploy::start_agents(&self.current, &refs, &self.dir, &self.journal)?;
        self.started.extend(started);
        Ok(())
    }

    /// Restart the agent of `host` as it runs now.
    pub fn restart_agent(&mut self, host: &str) -> Result<()> {
        let spec = self
            .current
            .agents
            .iter()
            .find(|a| a.node == host)
            .cloned()
            .ok_or_else(|| Error::Run(format!("{host} runs no agent")))?;
        self.stop(&spec.proc_name())?;
        self.start_agents(&[spec])
    }

    /// The current spec of `host`'s agent.
    pub fn agent(&self, host: &str) -> Option<&AgentSpec> {
        self.current.agents.iter().find(|a| a.node == host)
    }

    /// Change a link (`labctl link set`), undone at the end.
    pub fn link(&mut self, change: &crate::scenario::LinkChange) -> Result<crate::link::SetReport> {
        if !self.undo.contains(&Undo::Link(change.link)) {
            self.undo.push(Undo::Link(change.link));
        }
        crate::link::set(&self.lab, change)
    }

    /// Change a DNS record, undone at the end.
    pub fn dns(&mut self, name: &str, addr: std::net::Ipv6Addr) -> Result<()> {
        if !self.undo.contains(&Undo::Dns(name.to_string())) {
            self.undo.push(Undo::Dns(name.to_string()));
        }
        crate::dns::set_record(&self.lab, name, Some(addr))
    }

    /// End the run: take an owned lab down (unless `keep`), else put back
    /// everything the run changed. Every step is tried; the first error is returned.
    pub fn close(mut self, keep: bool) -> Result<()> {
        if self.owned && !keep {
            return crate::down::teardown(&self.lab).map(|_| ());
        }
        let mut first: Option<Error> = None;
        let lab = self.lab.clone();
        let mut note = |r: Result<()>| {
            if let Err(e) = r {
                tracing::error!("restoring lab {lab}: {e}");
                first.get_or_insert(e);
            }
        };
        let original = self.original.clone();
        // The controller first, so the links' restoration is told to it.
        note(self.switch_controller(original.controller.clone()));
        for u in std::mem::take(&mut self.undo).into_iter().rev() {
            note(match u {
                Undo::Link(id) => crate::link::restore(&lab, id).map(|_| ()),
                Undo::Dns(name) => crate::dns::set_record(&lab, &name, None),
            });
        }
        note(self.switch_agents(original.agents.clone()));
        first.map_or(Ok(()), Err)
    }
}

/// Refuse a running lab of that name built from another topology.
fn same_topology(dir: &Path, file: &Path, lab: &str) -> Result<()> {
    let running = std::fs::read_to_string(dir.join("topology.yaml"))
        .map_err(Error::io("read", dir.join("topology.yaml")))?;
    let wanted = topology::read_input_file(file, topology::MAX_INPUT_FILE_BYTES)
        .map_err(topology::LoadError::Read)?;
    if running != wanted {
        return Err(Error::Run(format!(
            "lab {lab} runs another topology than {}; take it down or pass --name",
            file.display()
        )));
    }
    Ok(())
}
