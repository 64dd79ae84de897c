//! The steps of a run, in order: each one's start and end on the wall
//! clock (`CLOCK_REALTIME`, the capture rings' clock), its outcome in one
//! progress line on stderr. The first step that fails ends the run (it is
//! reported as "could not be completed"); expectations are judged on what
//! the steps that ran produced.

use std::collections::BTreeMap;
use std::net::{Ipv6Addr, SocketAddr};
use std::ops::ControlFlow;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use labns::Wait;
use topology::Topology;

use super::flows::{Destination, Flows};
use super::session::Session;
use crate::asserter::{RunRecord, StepTiming};
use crate::deploy::agent::{self, AgentStatus};
use crate::error::{Error, Result};
use crate::scenario::{
    Action, Amount, Check, Condition, Scenario, Step, Target, TargetKind, Traffic,
};
use crate::traffic::{human_bytes, human_rate};

/// How often a `wait` looks again.
const WAIT_EVERY: Duration = Duration::from_millis(100);

/// Wall clock since the UNIX epoch.
pub fn wall_clock() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// A run in progress.
#[derive(Debug)]
pub struct Runner<'a> {
    pub scenario: &'a Scenario,
    pub topo: &'a Topology,
    pub session: Session,
    pub flows: Flows,
    /// The lab's DNS records as they stand now.
    records: BTreeMap<String, Ipv6Addr>,
    /// The lab's DNS server.
    resolver: Option<SocketAddr>,
    pub record: RunRecord,
    quiet: bool,
}

impl<'a> Runner<'a> {
    pub fn new(
        scenario: &'a Scenario,
        topo: &'a Topology,
        session: Session,
        quiet: bool,
    ) -> Result<Runner<'a>> {
        let records = crate::dns::effective_records(&session.dir)?;
        let plan = crate::plan::from_topology(topo, &session.lab);
        let resolver = plan.dns.as_ref().map(|d| SocketAddr::from((d.listen, 53)));
        Ok(Runner {
            scenario,
            topo,
            session,
            flows: Flows::default(),
            records,
            resolver,
            record: RunRecord::default(),
            quiet,
        })
    }

    /// Run every step; the first error ends the run.
    pub fn steps(&mut self) -> Result<()> {
        let total = self.scenario.steps.len();
        for step in &self.scenario.steps {
            let start = wall_clock();
            let clock = Instant::now();
            let done = self.step(step);
            let end = wall_clock();
            self.record.steps.push(StepTiming {
                index: step.index,
                start,
                end,
            });
            let took = clock.elapsed().as_secs_f64();
            let head = format!(
                "[{}/{total}] {} (line {})",
                step.index + 1,
                step.label(),
                step.line
            );
            match done {
                Ok(what) => self.say(&format!("{head}: {what} ({took:.2} s)")),
                Err(e) => {
                    self.say(&format!("{head}: FAILED after {took:.2} s: {e}"));
                    return Err(Error::Run(format!("{}: {e}", step.label())));
                }
            }
        }
        Ok(())
    }

    fn say(&self, line: &str) {
        if !self.quiet {
            eprintln!("labctl: {line}");
        }
    }

    /// The address `t` stands for now (DNS names as the lab serves them).
    fn address(&self, t: &Target) -> Ipv6Addr {
        match t.kind {
            TargetKind::DnsName => self
                .records
                .get(&t.written.to_ascii_lowercase())
                .copied()
                .unwrap_or(t.address),
            TargetKind::Node | TargetKind::Address => t.address,
        }
    }

    /// One step; what it did in a few words.
    fn step(&mut self, step: &Step) -> Result<String> {
        match &step.action {
            Action::Traffic(t) => self.traffic(t),
            Action::Join(name) => {
                let r = self.flows.join(name)?;
                Ok(format!("{name} ended: {}", traffic_summary(r)))
            }
            Action::Link(change) => {
                let report = self.session.link(change)?;
                Ok(report.lines().join("; "))
            }
            Action::Dns(d) => {
                self.session.dns(&d.name, d.address)?;
                self.records.insert(d.name.clone(), d.address);
                Ok(format!("{} now answers {}", d.name, d.address))
            }
            Action::ControllerStop => {
                self.session.stop_controller()?;
                Ok("controller stopped".to_string())
            }
            Action::ControllerStart => {
                self.session.start_controller()?;
                Ok("controller started and accepting".to_string())
            }
            Action::ControllerPush(p) => super::push::push(self, p),
            Action::AgentRestart(host) => {
                self.session.restart_agent(host)?;
                Ok(format!("agent on {host} restarted and ready"))
            }
            Action::Wait(w) => self.wait(&w.condition, w.deadline),
            Action::Expect(list) => self.expect(step.index, list),
        }
    }

    fn traffic(&mut self, t: &Traffic) -> Result<String> {
        let dest = Destination {
            address: self.address(&t.to),
            resolver: self.resolver,
        };
        self.flows.start(&self.session.lab, self.topo, t, &dest)?;
        let what = format!(
            "{} {} {} -> {} ({}) port {}, {}",
            t.name,
            t.proto.as_str(),
            t.from,
            t.to.written,
            dest.address,
            t.port,
            match t.amount {
                Amount::Bytes(b) => human_bytes(b),
                Amount::Duration(d) => format!("{} s", d.as_secs_f64()),
            }
        );
        if t.background {
            return Ok(format!("{what}: started in the background"));
        }
        let r = self.flows.join(&t.name)?;
        Ok(format!("{what}: {}", traffic_summary(r)))
    }

    /// Wait for `c` until `deadline`.
    fn wait(&mut self, c: &Condition, deadline: Duration) -> Result<String> {
        let base = match c {
            Condition::FlowBytes { flow, .. } => self.flows.sent(flow).map_or(0, |(b, _)| b),
            _ => 0,
        };
        let what = describe(c);
        Wait::new(&what, deadline)
            .every(WAIT_EVERY)
            .try_until(|| self.holds(c, base))?;
        Ok(format!("{what}: holds"))
    }

    /// Whether `c` holds now (`Continue`: how it looks).
    fn holds(&self, c: &Condition, base: u64) -> Result<ControlFlow<(), String>> {
        match c {
            Condition::AgentPath {
                host,
                to,
                port,
                sids,
            } => {
                let addr = self.address(to);
                let status = self.agent_status(host)?;
                let now = status.path(addr, *port).map(|p| p.sids.clone());
                Ok(match (&now, sids) {
                    (Some(have), Some(want)) if have == want => ControlFlow::Break(()),
                    (Some(_), None) => ControlFlow::Break(()),
                    (have, _) => ControlFlow::Continue(format!("[{addr}]:{port}: {have:?}")),
                })
            }
            Condition::ControllerPath { host, to, sids } => {
                super::push::controller_holds(self, host, self.address(to), sids.as_deref())
            }
            Condition::FlowBytes {
                flow,
                bytes,
                since_wait,
            } => {
                let (sent, ended) = self
                    .flows
                    .sent(flow)
                    .ok_or_else(|| Error::Run(format!("no flow {flow} was started")))?;
                let target = if *since_wait { base + bytes } else { *bytes };
                if sent >= target {
                    return Ok(ControlFlow::Break(()));
                }
                if ended {
                    return Err(Error::Run(format!(
                        "flow {flow} ended after {sent} bytes, before {target}"
                    )));
                }
                Ok(ControlFlow::Continue(format!("{sent} bytes sent")))
            }
        }
    }

    /// The status of `host`'s agent.
    pub fn agent_status(&self, host: &str) -> Result<AgentStatus> {
        let a = self
            .session
            .agent(host)
            .ok_or_else(|| Error::Run(format!("{host} runs no agent")))?;
        let bin = self
            .session
            .current
            .binaries
            .agent
            .as_ref()
            .ok_or_else(|| Error::Run("no srv6-agent binary".to_string()))?;
        agent::status(bin, &a.netns, &a.interface)
    }

    /// An `expect` step: the agents' counters, read now (judged later).
    fn expect(&mut self, index: usize, list: &[crate::scenario::Expectation]) -> Result<String> {
        let mut counters = BTreeMap::new();
        let hosts: Vec<String> = self
            .session
            .current
            .agents
            .iter()
            .map(|a| a.node.clone())
            .collect();
        for host in hosts {
            match self.agent_status(&host) {
                Ok(s) => {
                    counters.insert(host, s.counters);
                }
                Err(e) => tracing::warn!("counters of {host}: {e}"),
            }
        }
        let read = counters.len();
        self.record.counters.insert(index, counters);
        let checks = list
            .iter()
            .filter(|e| matches!(e.check, Check::Counter { .. }))
            .count();
        Ok(format!(
            "{} expectations (judged at the end); counters of {read} agents read{}",
            list.len(),
            if checks > 0 {
                " for the counter checks"
            } else {
                ""
            }
        ))
    }
}

/// One condition in words.
fn describe(c: &Condition) -> String {
    match c {
        Condition::AgentPath {
            host,
            to,
            port,
            sids,
        } => match sids {
            Some(s) => format!(
                "the agent of {host} to hold {s:?} for {}:{port}",
                to.written
            ),
            None => format!(
                "the agent of {host} to hold a path for {}:{port}",
                to.written
            ),
        },
        Condition::ControllerPath { host, to, sids } => match sids {
            Some(s) => format!("the controller to hold {s:?} for {host} -> {}", to.written),
            None => format!("the controller to hold a path for {host} -> {}", to.written),
        },
        Condition::FlowBytes {
            flow,
            bytes,
            since_wait,
        } => match since_wait {
            true => format!("flow {flow} to send {} more", human_bytes(*bytes)),
            false => format!("flow {flow} to have sent {}", human_bytes(*bytes)),
        },
    }
}

/// `10.00 MB of 10.00 MB verified, 812.3 Mbit/s` (or the first error).
fn traffic_summary(r: &crate::traffic::ClientReport) -> String {
    let sent: u64 = r.flows.iter().map(|f| f.bytes_sent).sum();
    let verified: u64 = r.flows.iter().map(|f| f.bytes_verified).sum();
    let mut s = format!(
        "{} of {} verified, {}",
        human_bytes(verified),
        human_bytes(sent),
        human_rate(r.throughput_bps())
    );
    if let Some(e) = r
        .flows
        .iter()
        .find_map(|f| f.error.as_ref().or(f.corrupt.as_ref()))
    {
        s.push_str(&format!(", {e}"));
    }
    s
}
