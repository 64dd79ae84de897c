//! The applier: writes the difference between the wanted state
//! ([`crate::plan`]) and what the maps hold, through the [`ClientPort`].
//!
//! All or nothing: the operations of one apply run in a safe order
//! (route MTUs lowered before a longer path is written and raised only
//! after a shorter one is; names after their service paths, removed before
//! them), and when one fails every operation already done is undone in
//! reverse, so the maps hold the old state whole, never half of a result.
//! Removals wait for packets still reading them once per apply, after the
//! last operation (the port waits before a write that could reuse them).

use std::collections::BTreeMap;
use std::net::Ipv6Addr;

use tracing::{debug, error};

use crate::plan::Wanted;
use crate::port::{ClientPort, PathKey, PortError, ServicePathKey};

/// What the applier last wrote (the maps as it keeps them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    pub paths: BTreeMap<PathKey, Vec<Ipv6Addr>>,
    pub service_paths: BTreeMap<ServicePathKey, Vec<Ipv6Addr>>,
    pub dns_names: BTreeMap<String, u32>,
    /// Destination -> SID count its route MTU is sized for.
    pub route_mtus: BTreeMap<Ipv6Addr, usize>,
}

/// One write; `None` values remove.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    RouteMtu(Ipv6Addr, Option<usize>),
    Path(PathKey, Option<Vec<Ipv6Addr>>),
    ServicePath(ServicePathKey, Option<Vec<Ipv6Addr>>),
    DnsName(String, Option<u32>),
}

impl Op {
    fn run(&self, port: &mut impl ClientPort) -> Result<(), PortError> {
        match self {
            Op::RouteMtu(dst, sids) => port.set_route_mtu(*dst, *sids),
            Op::Path(key, Some(sids)) => port.set_path(*key, sids),
            Op::Path(key, None) => port.remove_path(*key),
            Op::ServicePath(key, Some(sids)) => port.set_service_path(*key, sids),
            Op::ServicePath(key, None) => port.remove_service_path(*key),
            Op::DnsName(name, Some(id)) => port.add_dns_name(name, *id),
            Op::DnsName(name, None) => port.remove_dns_name(name),
        }
    }

    /// The operation that puts back what `written` holds for this op's key.
    fn undo(&self, written: &Written) -> Op {
        match self {
            Op::RouteMtu(dst, _) => Op::RouteMtu(*dst, written.route_mtus.get(dst).copied()),
            Op::Path(key, _) => Op::Path(*key, written.paths.get(key).cloned()),
            Op::ServicePath(key, _) => {
                Op::ServicePath(*key, written.service_paths.get(key).cloned())
            }
            Op::DnsName(name, _) => Op::DnsName(name.clone(), written.dns_names.get(name).copied()),
        }
    }
}

/// A failed apply, after its partial work was undone.
#[derive(Debug, thiserror::Error)]
#[error("applying {changes} changes: {source} (undone; the maps hold the previous state)")]
pub struct ApplyError {
    pub changes: usize,
    #[source]
    pub source: PortError,
}

/// Counts of one successful apply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    pub written: usize,
    pub removed: usize,
}

/// Owns the port and the record of what it wrote.
#[derive(Debug)]
pub struct Applier<P> {
    port: P,
    written: Written,
}

impl<P: ClientPort> Applier<P> {
    /// An applier over maps that hold nothing yet (freshly loaded).
    pub fn new(port: P) -> Applier<P> {
        Applier {
            port,
            written: Written::default(),
        }
    }

    pub fn port(&self) -> &P {
        &self.port
    }

    pub fn port_mut(&mut self) -> &mut P {
        &mut self.port
    }

    pub fn written(&self) -> &Written {
        &self.written
    }

    /// Make the maps equal to `wanted`, writing only the difference.
    pub fn apply(&mut self, wanted: &Wanted) -> Result<Applied, ApplyError> {
        let target = target_of(wanted);
        let ops = diff(&self.written, &target);
        if ops.is_empty() {
            return Ok(Applied::default());
        }
        let mut done: Vec<Op> = Vec::with_capacity(ops.len());
        for op in &ops {
            if let Err(source) = op.run(&mut self.port) {
                self.undo(&done);
                self.port.wait_for_removals();
                return Err(ApplyError {
                    changes: ops.len(),
                    source,
                });
            }
            debug!(?op, "applied");
            done.push(op.clone());
        }
        // One grace period for all the removals of this apply.
        self.port.wait_for_removals();
        let removed = ops.iter().filter(|op| op.removes()).count();
        self.written = target;
        Ok(Applied {
            written: ops.len() - removed,
            removed,
        })
    }

    /// Remove everything written (shutdown): paths first, route MTUs last.
    pub fn clear(&mut self) -> Result<Applied, ApplyError> {
        self.apply(&Wanted::default())
    }

    fn undo(&mut self, done: &[Op]) {
        for op in done.iter().rev() {
            let back = op.undo(&self.written);
            if let Err(err) = back.run(&mut self.port) {
                error!(error = %err, ?back, "undo failed: this map entry may differ from the agent's record");
            }
        }
    }
}

impl Op {
    fn removes(&self) -> bool {
        matches!(
            self,
            Op::Path(_, None)
                | Op::ServicePath(_, None)
                | Op::DnsName(_, None)
                | Op::RouteMtu(_, None)
        )
    }
}

fn target_of(wanted: &Wanted) -> Written {
    let paths: BTreeMap<PathKey, Vec<Ipv6Addr>> = wanted
        .paths()
        .into_iter()
        .map(|(k, s)| (k, s.to_vec()))
        .collect();
    let mut route_mtus: BTreeMap<Ipv6Addr, usize> = BTreeMap::new();
    for (key, sids) in &paths {
        let n = route_mtus.entry(key.destination).or_default();
        *n = (*n).max(sids.len());
    }
    Written {
        paths,
        service_paths: wanted.service_paths.clone(),
        dns_names: wanted.dns_names.clone(),
        route_mtus,
    }
}

/// Changed or new entries of `to` against `from`, and removals.
fn changes<K: Ord + Clone, V: PartialEq + Clone>(
    from: &BTreeMap<K, V>,
    to: &BTreeMap<K, V>,
) -> (Vec<(K, V)>, Vec<K>) {
    let set = to
        .iter()
        .filter(|(k, v)| from.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let removed = from
        .keys()
        .filter(|k| !to.contains_key(*k))
        .cloned()
        .collect();
    (set, removed)
}

/// The operations from `from` to `to`, in the safe order.
fn diff(from: &Written, to: &Written) -> Vec<Op> {
    let (mtu_set, mtu_removed) = changes(&from.route_mtus, &to.route_mtus);
    let (path_set, path_removed) = changes(&from.paths, &to.paths);
    let (svc_set, svc_removed) = changes(&from.service_paths, &to.service_paths);
    let (name_set, name_removed) = changes(&from.dns_names, &to.dns_names);
    let grows = |dst: &Ipv6Addr, n: usize| from.route_mtus.get(dst).is_none_or(|old| n > *old);
    let mut ops = Vec::new();
    // Before paths: a route that must leave more room (a longer path).
    ops.extend(
        mtu_set
            .iter()
            .filter(|(d, n)| grows(d, *n))
            .map(|(d, n)| Op::RouteMtu(*d, Some(*n))),
    );
    ops.extend(
        svc_set
            .into_iter()
            .map(|(k, v)| Op::ServicePath(k, Some(v))),
    );
    ops.extend(name_set.into_iter().map(|(k, v)| Op::DnsName(k, Some(v))));
    ops.extend(path_set.into_iter().map(|(k, v)| Op::Path(k, Some(v))));
    ops.extend(path_removed.into_iter().map(|k| Op::Path(k, None)));
    ops.extend(name_removed.into_iter().map(|k| Op::DnsName(k, None)));
    ops.extend(svc_removed.into_iter().map(|k| Op::ServicePath(k, None)));
    // After paths: routes that may carry more again.
    ops.extend(
        mtu_set
            .iter()
            .filter(|(d, n)| !grows(d, *n))
            .map(|(d, n)| Op::RouteMtu(*d, Some(*n))),
    );
    ops.extend(mtu_removed.into_iter().map(|d| Op::RouteMtu(d, None)));
    ops
}
