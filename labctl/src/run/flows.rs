//! The traffic of a run: each flow's server started at the node that owns
//! the destination address (a thread entered into its namespace; the
//! server's own threads are born there), its client on a thread in the
//! sending node's namespace. A destination written as a DNS name is looked
//! up by the client itself, from its node, through the lab's DNS server (a
//! real query leaving that host, as the application's own would: a
//! standalone agent learns the address by snooping its answer).
//!
//! Servers are shared by the flows to the same (node, address, port,
//! protocol) and stopped when the last of them ends.

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use labns::NsThread;
use topology::Topology;

use crate::error::{Error, Result};
use crate::plan::netns_name;
use crate::scenario::{Proto, TargetKind, Traffic};
use crate::traffic::{self, ClientReport, ClientSpec, FlowReport, Server, ServerSpec};

/// How long the client's own DNS lookup may take.
const LOOKUP_WAIT: Duration = Duration::from_secs(3);

type ServerKey = (String, SocketAddr, Proto);

#[derive(Debug)]
struct Shared {
    server: Server,
    users: usize,
}

#[derive(Debug)]
struct Running {
    thread: NsThread<ClientReport>,
    server: ServerKey,
}

/// Every flow of a run.
#[derive(Debug, Default)]
pub struct Flows {
    servers: HashMap<ServerKey, Shared>,
    running: BTreeMap<String, Running>,
    progress: BTreeMap<String, Arc<AtomicU64>>,
    done: BTreeMap<String, ClientReport>,
}

/// A flow's seed: FNV-1a of its name, so reruns send the same bytes.
fn seed(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Where a flow goes.
#[derive(Debug, Clone)]
pub struct Destination {
    /// The address the destination has now (DNS names as the lab serves them).
    pub address: Ipv6Addr,
    /// The lab's DNS server, when the client must look the name up itself.
    pub resolver: Option<SocketAddr>,
}

impl Flows {
    /// Start flow `t` of lab `lab` towards `dest`.
    pub fn start(
        &mut self,
        lab: &str,
        topo: &Topology,
        t: &Traffic,
        dest: &Destination,
    ) -> Result<()> {
        let node = topo
            .node_for_address(dest.address)
            .ok_or_else(|| Error::Run(format!("no node of the lab owns {}", dest.address)))?;
        let key: ServerKey = (
            node.name.clone(),
            SocketAddr::from((dest.address, t.port)),
            t.proto,
        );
        self.server(lab, &key)?;
        let progress = Arc::new(AtomicU64::new(0));
        let job = ClientJob {
            spec: ClientSpec {
                proto: t.proto,
                server: key.1,
                amount: t.amount,
                flows: t.flows,
                echo: t.echo,
                seed: seed(&t.name),
                datagram_size: t.datagram_size,
                rate_kbps: t.rate_kbps,
            },
            lookup: match t.to.kind {
                TargetKind::DnsName => dest.resolver.map(|r| (r, t.to.written.clone())),
                _ => None,
            },
            progress: Arc::clone(&progress),
        };
        let thread = labns::spawn_in(&netns_name(lab, &t.from), move || job.run())?;
        self.progress.insert(t.name.clone(), progress);
        self.running.insert(
            t.name.clone(),
            Running {
                thread,
                server: key,
            },
        );
        Ok(())
    }

    /// The server of `key`, started unless another flow's runs.
    fn server(&mut self, lab: &str, key: &ServerKey) -> Result<()> {
        if let Some(s) = self.servers.get_mut(key) {
            s.users += 1;
            return Ok(());
        }
        let spec = ServerSpec {
            proto: key.2,
            bind: key.1,
        };
        let server = labns::run_in(&netns_name(lab, &key.0), move || Server::start(&spec))?
            .map_err(|e| {
                Error::Run(format!(
                    "{} server on {} at {}: {e}",
                    key.2.as_str(),
                    key.0,
                    key.1
                ))
            })?;
        self.servers
            .insert(key.clone(), Shared { server, users: 1 });
        Ok(())
    }

    /// Wait for flow `name` to end; its report.
    pub fn join(&mut self, name: &str) -> Result<&ClientReport> {
        if let Some(r) = self.running.remove(name) {
            let report = r.thread.join()?;
            self.release(&r.server);
            self.done.insert(name.to_string(), report);
        }
        self.done
            .get(name)
            .ok_or_else(|| Error::Run(format!("no flow {name} was started")))
    }

    /// Stop the server of `key` when its last flow has ended.
    fn release(&mut self, key: &ServerKey) {
        let last = self.servers.get_mut(key).is_some_and(|s| {
            s.users -= 1;
            s.users == 0
        });
        if last {
            if let Some(s) = self.servers.remove(key) {
                for peer in s.server.stop().into_iter().filter(|p| p.error.is_some()) {
                    tracing::warn!("server {}: peer {}: {:?}", key.1, peer.peer, peer.error);
                }
            }
        }
    }

    /// Bytes flow `name` has sent so far, and whether it has ended.
    pub fn sent(&self, name: &str) -> Option<(u64, bool)> {
        let bytes = self.progress.get(name)?.load(Ordering::Relaxed);
        let ended = self
            .running
            .get(name)
            .is_none_or(|r| r.thread.is_finished());
        Some((bytes, ended))
    }

    /// Join every flow still running (in name order); the reports of all.
    pub fn finish(mut self) -> Result<BTreeMap<String, ClientReport>> {
        let names: Vec<String> = self.running.keys().cloned().collect();
        for n in names {
            self.join(&n)?;
        }
        Ok(self.done)
    }
}

/// A client to run on a thread inside the sending node's namespace.
struct ClientJob {
    spec: ClientSpec,
    /// Look the name up first at this server (the application's own lookup).
    lookup: Option<(SocketAddr, String)>,
    progress: Arc<AtomicU64>,
}

impl ClientJob {
    fn run(mut self) -> ClientReport {
        if let Some((resolver, name)) = &self.lookup {
            match crate::dns::query_aaaa(*resolver, name, LOOKUP_WAIT) {
                Some(addrs) if !addrs.is_empty() => {
                    self.spec.server = SocketAddr::from((addrs[0], self.spec.server.port()));
                }
                other => {
                    let why = format!("looking up {name} at {resolver}: {other:?}");
                    return ClientReport {
                        flows: vec![FlowReport::failed(&self.spec, self.spec.server, why)],
                    };
                }
            }
        }
        traffic::run_client(&self.spec, Some(&self.progress))
    }
}
