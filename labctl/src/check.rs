//! `labctl check [NAME] [--output table|json] [--wait SECONDS]`: the lab's
//! own smoke test (Mininet's `pingall`, and more), every packet sent and
//! answered inside the lab's namespaces. One named result per check:
//!
//! - `reach A -> B`: end system B (host, dns, controller) answers an
//!   ICMPv6 echo from end system A, service address to service address.
//! - `dns NAME`: the lab DNS server answers every name it serves with the
//!   topology's address, asked from the first node that uses it (a host or
//!   the controller; the dns node itself when none does).
//! - `sid NODE SID`: an echo through the SID (SRH `[source, SID]`) comes
//!   back to its source; sent from every end system and every kernel
//!   router, the detail names the first end system, or else router, it
//!   came back to.
//!
//! Every echo runs at once, one thread and one raw socket per source
//! namespace ([`crate::echo`]); the DNS questions run beside them. A check
//! fails when no answer came within the wait. `labctl check` exits with
//! [`EXIT_FAILED`] when one did.

use std::collections::BTreeMap;
use std::net::{Ipv6Addr, SocketAddr};
use std::time::Duration;

use comfy_table::{presets, Table};
use serde::Serialize;
use topology::{NodeKind, RouterBackend, Topology};

use crate::echo::{self, Probe};
use crate::error::{Error, Result};
use crate::plan::{self, LabPlan};
use crate::state;

/// Exit status of `labctl check` when a check failed (1: the checks could
/// not be run; 0: every check passed).
pub const EXIT_FAILED: u8 = 3;

/// How long a check waits for its answer by default.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(3);

/// One named check and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// `reach A -> B`, `dns NAME` or `sid NODE SID`.
    pub name: String,
    pub passed: bool,
    /// What answered, or what did not.
    pub detail: String,
}

/// Every check of one lab.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub lab: String,
    /// Every check passed.
    pub passed: bool,
    pub checks: Vec<Check>,
}

impl CheckReport {
    /// The checks that failed.
    pub fn failed(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.passed)
    }

    /// One row per check, then a summary line.
    pub fn to_table(&self) -> String {
        let mut t = Table::new();
        t.load_preset(presets::UTF8_FULL_CONDENSED);
        t.set_header(["check", "result", "detail"]);
        for c in &self.checks {
            let result = if c.passed { "ok" } else { "FAILED" };
            t.add_row([c.name.as_str(), result, c.detail.as_str()]);
        }
        let failed = self.failed().count();
        format!(
            "lab {}\n{t}\n{} checks, {} passed, {failed} failed\n",
            self.lab,
            self.checks.len(),
            self.checks.len() - failed
        )
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }
}

/// Run every check on `name` (default: the only running lab), each
/// waiting at most `wait` for its answer.
pub fn run(name: Option<&str>, wait: Duration) -> Result<CheckReport> {
    let lab = state::select_lab(name, "name one")?;
    let (_, topo, _) = crate::status::load(&lab)?;
    let plan = plan::from_topology(&topo, &lab);
    let (echoes, dns) = std::thread::scope(|s| {
        let dns = s.spawn(|| dns_checks(&plan, &topo, wait));
        (echo_checks(&topo, &lab, wait), dns.join())
    });
    let mut checks = echoes?;
    match dns {
        Ok(dns) => checks.extend(dns?),
        Err(panic) => std::panic::resume_unwind(panic),
    }
    Ok(CheckReport {
        lab,
        passed: checks.iter().all(|c| c.passed),
        checks,
    })
}

/// A node that sends probes: its name, namespace and own address.
struct Source<'a> {
    node: &'a str,
    address: Ipv6Addr,
    end_system: bool,
}

/// `reach` checks of every pair of end systems and `sid` checks of every
/// SID, from one thread per source namespace.
fn echo_checks(topo: &Topology, lab: &str, wait: Duration) -> Result<Vec<Check>> {
    // End systems first: a SID's detail names the first source it came back to.
    let mut sources: Vec<Source> = Vec::new();
    for end_system in [true, false] {
        sources.extend(topo.nodes.values().filter_map(|n| {
            let is_end = n.kind.is_end_system();
            // VPP routers' interfaces belong to VPP, not to their namespace's kernel.
            let kernel_router = n.kind == NodeKind::Router && n.backend != RouterBackend::Vpp;
            let sends = is_end || kernel_router;
            Some(Source {
                node: &n.name,
                address: n.address.filter(|_| sends && is_end == end_system)?,
                end_system: is_end,
            })
        }));
    }
    let ends: Vec<&Source> = sources.iter().filter(|s| s.end_system).collect();
    let sids: Vec<(&str, Ipv6Addr)> = topo
        .nodes
        .values()
        .filter(|n| n.kind.has_sid())
        .filter_map(|n| Some((n.name.as_str(), n.sid?)))
        .collect();
    let probes_of = |src: &Source| -> Vec<Probe> {
        let peers = ends.iter().filter(|e| e.node != src.node && src.end_system);
        peers
            .map(|e| Probe::Echo(e.address))
            .chain(
                sids.iter()
                    .filter(|(owner, _)| *owner != src.node)
                    .map(|(_, sid)| Probe::ThroughSid(*sid)),
            )
            .collect()
    };
    let threads = sources
        .iter()
        .map(|s| {
            let ns = plan::netns_name(lab, s.node);
            echo::start(&ns, s.address, probes_of(s), wait)
        })
        .collect::<Result<Vec<_>>>()?;
    let mut answered: BTreeMap<&str, BTreeMap<Probe, bool>> = BTreeMap::new();
    for (s, t) in sources.iter().zip(threads) {
        let got = t.join()??;
        answered.insert(s.node, probes_of(s).into_iter().zip(got).collect());
    }
    let mut checks = reach_checks(&ends, &answered, wait);
    checks.extend(sid_checks(&sources, &sids, &answered, wait));
    Ok(checks)
}

fn reach_checks(
    ends: &[&Source],
    answered: &BTreeMap<&str, BTreeMap<Probe, bool>>,
    wait: Duration,
) -> Vec<Check> {
    let mut checks = Vec::new();
    for a in ends {
        for b in ends.iter().filter(|b| b.node != a.node) {
            let passed = answered
                .get(a.node)
                .and_then(|m| m.get(&Probe::Echo(b.address)))
                .copied()
                .unwrap_or(false);
            let detail = if passed {
                format!("{} answered {}", b.address, a.address)
            } else {
                format!("no echo reply from {} within {}", b.address, secs(wait))
            };
            checks.push(Check {
                name: format!("reach {} -> {}", a.node, b.node),
                passed,
                detail,
            });
        }
    }
    checks
}

fn sid_checks(
    sources: &[Source],
    sids: &[(&str, Ipv6Addr)],
    answered: &BTreeMap<&str, BTreeMap<Probe, bool>>,
    wait: Duration,
) -> Vec<Check> {
    sids.iter()
        .map(|(owner, sid)| {
            let probe = Probe::ThroughSid(*sid);
            let tried: Vec<&str> = sources
                .iter()
                .filter(|s| s.node != *owner)
                .map(|s| s.node)
                .collect();
            let back_to = tried.iter().find(|node| {
                answered
                    .get(**node)
                    .and_then(|m| m.get(&probe))
                    .copied()
                    .unwrap_or(false)
            });
            let detail = match back_to {
                Some(node) => format!("an echo through it came back to {node}"),
                None => format!(
                    "no echo through it came back within {} (sent from {})",
                    secs(wait),
                    tried.join(", ")
                ),
            };
            Check {
                name: format!("sid {owner} {sid}"),
                passed: back_to.is_some(),
                detail,
            }
        })
        .collect()
}

/// `dns NAME` checks: one question per record, asked in parallel from the
/// first node that uses the lab resolver.
fn dns_checks(plan: &LabPlan, topo: &Topology, wait: Duration) -> Result<Vec<Check>> {
    let Some(dns) = &plan.dns else {
        return Ok(Vec::new());
    };
    let asker = plan
        .namespaces
        .iter()
        .find(|n| n.resolver.is_some())
        .unwrap_or(&plan.namespaces[dns.ns]);
    let server = SocketAddr::from((dns.listen, 53));
    let threads = topo
        .dns_records
        .keys()
        .map(|name| {
            let name = name.clone();
            labns::spawn_in(&asker.netns, move || {
                crate::dns::query_aaaa(server, &name, wait)
            })
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut checks = Vec::new();
    for ((name, want), t) in topo.dns_records.iter().zip(threads) {
        let got = t.join().map_err(Error::from)?;
        let (passed, what) = match got {
            Some(addrs) if addrs == [*want] => (true, format!("answered {want}")),
            Some(addrs) => (false, format!("answered {addrs:?}, expected {want}")),
            None => (false, format!("no answer within {}", secs(wait))),
        };
        checks.push(Check {
            name: format!("dns {name}"),
            passed,
            detail: format!("{what} (asked {server} from {})", asker.node),
        });
    }
    Ok(checks)
}

fn secs(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}
