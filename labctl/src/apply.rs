//! Carry out a [`LabPlan`]: one OS thread per namespace.
//!
//! Each thread creates its namespace and enters it for the rest of its life
//! ([`labns::netns::create_and_enter`]: a guard that cannot leave the
//! thread; nothing ever changes the namespace of a thread it does not own),
//! opens ONE netlink connection there on a current-thread tokio runtime, and
//! sends its requests in batches (all futures in flight at once). The phases
//! are separated by a barrier shared with the calling thread, which reports
//! progress:
//!
//! 1. namespace + sysctls (`accept_dad=0` on all/default before any link
//!    exists, forwarding, `seg6_enabled`), `lo` up;
//! 2. veth pairs: the namespace of side A creates the pair with the peer
//!    placed directly in B's namespace (`IFLA_NET_NS_FD`), so no interface
//!    ever exists in the root namespace;
//! 3. addresses (nodad), links up, tbf shapers, loopback addresses;
//! 4. static routes and `seg6local End` SIDs (every link is up by now), then
//!    wait until every interface has carrier (operstate UP), so the first
//!    packets of a fresh lab are not dropped.
//!
//! Every namespace is journalled before it is created; on any error all
//! threads stop at the next barrier and the caller tears the lab down.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use labns::{netns, NetNsGuard, Wait};

use crate::error::{Error, Result};
use crate::hooks;
use crate::nl::{self, Nl};
use crate::plan::{Forwarding, LabPlan, NsPlan};
use crate::progress::Progress;
use crate::state::{Entry, Journal};

/// How long `up` waits for every interface's carrier.
const CARRIER_WAIT: Duration = Duration::from_secs(10);

const PHASES: [&str; 4] = [
    "namespaces created",
    "links created",
    "addresses and links up",
    "routes and SIDs installed",
];

/// Number of progress steps [`apply`] reports.
pub const STEPS: u64 = PHASES.len() as u64;

struct Shared {
    barrier: Barrier,
    abort: AtomicBool,
    errors: Mutex<Vec<Error>>,
}

impl Shared {
    fn fail(&self, e: Error) {
        self.abort.store(true, Ordering::SeqCst);
        self.errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(e);
    }
    fn aborted(&self) -> bool {
        self.abort.load(Ordering::SeqCst)
    }
}

/// Build every namespace, link, address, route and SID of `plan`.
/// On error, what was built stays (it is journalled): the caller tears down.
pub fn apply(plan: &Arc<LabPlan>, journal: &Journal, progress: &mut Progress) -> Result<()> {
    netns::ensure_dir()?;
    let entries: Vec<Entry> = plan
        .namespaces
        .iter()
        .map(|n| Entry::Netns(n.netns.clone()))
        .collect();
    journal.record(&entries)?;

    let n = plan.namespaces.len();
    let shared = Arc::new(Shared {
        barrier: Barrier::new(n + 1),
        abort: AtomicBool::new(false),
        errors: Mutex::new(Vec::new()),
    });
    let mut threads = Vec::with_capacity(n);
    for i in 0..n {
        let (plan2, shared2) = (Arc::clone(plan), Arc::clone(&shared));
        let spawned = thread::Builder::new()
            .name(format!("ns-{i}"))
            .stack_size(512 * 1024)
            .spawn(move || worker(i, &plan2, &shared2));
        match spawned {
            Ok(t) => threads.push(t),
            Err(e) => {
                // Threads already started wait at the barrier for n+1 parties:
                // stand in for the missing ones so nobody blocks forever.
                shared.fail(Error::Sys {
                    op: "spawn thread",
                    what: plan.namespaces[i].netns.clone(),
                    source: e,
                });
                for _ in i..n {
                    let s = Arc::clone(&shared);
                    threads.push(thread::spawn(move || {
                        for _ in PHASES {
                            s.barrier.wait();
                        }
                    }));
                }
                break;
            }
        }
    }
    for (phase, pause) in PHASES
        .iter()
        .zip(["namespaces", "links", "addresses", "routes"])
    {
        shared.barrier.wait();
        if !shared.aborted() {
            progress.step(&format!("{phase}: {n} namespaces"));
            hooks::pause_point(pause);
            if let Some(e) = hooks::injected_failure(pause) {
                shared.fail(e);
            }
            if let Some(sig) = labns::signals::pending() {
                shared.fail(Error::Interrupted(sig));
            }
        }
    }
    for t in threads {
        let _ = t.join();
    }
    let mut errors = std::mem::take(&mut *shared.errors.lock().unwrap_or_else(|p| p.into_inner()));
    match errors.len() {
        0 => Ok(()),
        _ => Err(errors.swap_remove(0)),
    }
}

fn worker(i: usize, plan: &LabPlan, shared: &Shared) {
    let ns = &plan.namespaces[i];
    let mut ctx = None;
    if !shared.aborted() {
        match phase_namespace(ns) {
            Ok(c) => ctx = Some(c),
            Err(e) => shared.fail(e),
        }
    }
    shared.barrier.wait();
    type Phase = fn(&Ctx, usize, &LabPlan) -> Result<()>;
    let rest: [Phase; 3] = [phase_links, phase_addresses, phase_routes];
    for phase in rest {
        if let (Some(c), false) = (&ctx, shared.aborted()) {
            if let Err(e) = phase(c, i, plan) {
                shared.fail(e);
            }
        }
        shared.barrier.wait();
    }
}

struct Ctx {
    rt: tokio::runtime::Runtime,
    nl: Nl,
    /// This worker thread is inside the namespace until it ends.
    _inside: NetNsGuard,
}

fn phase_namespace(ns: &NsPlan) -> Result<Ctx> {
    let inside = netns::create_and_enter(&ns.netns)?;
    let forwarding = if ns.forwarding == Forwarding::Kernel {
        "1"
    } else {
        "0"
    };
    for (key, value) in [
        // Before any link exists: addresses are never tentative (DESIGN §10).
        ("net/ipv6/conf/all/accept_dad", "0"),
        ("net/ipv6/conf/default/accept_dad", "0"),
        ("net/ipv6/conf/all/forwarding", forwarding),
        ("net/ipv6/conf/default/forwarding", forwarding),
        // Inherited by every interface created later (the veths).
        ("net/ipv6/conf/all/seg6_enabled", "1"),
        ("net/ipv6/conf/default/seg6_enabled", "1"),
        // A link taken down (`labctl link set --down`) keeps its addresses.
        ("net/ipv6/conf/all/keep_addr_on_down", "1"),
        ("net/ipv6/conf/default/keep_addr_on_down", "1"),
    ] {
        netns::sysctl(key, value)?;
    }
    let (rt, nl) = Nl::connect_here(&ns.netns)?;
    // A fresh namespace has only `lo`, always ifindex 1.
    let (msg, flags) = nl::link_up(1);
    rt.block_on(nl.send(msg, flags, "set lo up".to_string()))?;
    Ok(Ctx {
        rt,
        nl,
        _inside: inside,
    })
}

fn phase_links(c: &Ctx, i: usize, plan: &LabPlan) -> Result<()> {
    let mine: Vec<_> = plan.veths.iter().filter(|v| v.a_ns == i).collect();
    if mine.is_empty() {
        return Ok(());
    }
    let mut fds = Vec::with_capacity(mine.len());
    let mut reqs = Vec::with_capacity(mine.len());
    for v in mine {
        let peer_ns = &plan.namespaces[v.b_ns].netns;
        let fd = netns::open(peer_ns)?;
        reqs.push((
            nl::veth(
                &v.a_if,
                v.a_index,
                &v.b_if,
                v.b_index,
                v.mtu,
                std::os::fd::AsRawFd::as_raw_fd(&fd),
            ),
            format!("create veth {} <-> {}:{}", v.a_if, peer_ns, v.b_if),
        ));
        fds.push(fd); // keep the fd open until the kernel has used it
    }
    c.rt.block_on(c.nl.send_all(reqs))
}

/// The netlink request that adds `q` on interface `index`.
pub fn qdisc_request(
    index: u32,
    name: &str,
    q: &crate::shaping::Qdisc,
) -> (netlink_packet_route::RouteNetlinkMessage, String) {
    match q {
        crate::shaping::Qdisc::Tbf { plan: t, .. } => (
            nl::tbf(index, t),
            format!(
                "add tbf qdisc on {name} (rate {} B/s)",
                t.rate_bytes_per_sec
            ),
        ),
        crate::shaping::Qdisc::Netem {
            parent,
            handle,
            plan: n,
        } => (
            nl::netem(index, *parent, *handle, n),
            format!(
                "add netem qdisc on {name} (delay {} us, jitter {} us)",
                n.latency_us, n.jitter_us
            ),
        ),
    }
}

fn phase_addresses(c: &Ctx, i: usize, plan: &LabPlan) -> Result<()> {
    let ns = &plan.namespaces[i];
    c.rt.block_on(async {
        let idx = c.nl.link_indexes().await?;
        let index_of = |name: &str| c.nl.index_in(&idx, name, "addresses");
        let mut reqs = Vec::new();
        let mut ups = Vec::new();
        for iface in &ns.ifaces {
            let index = index_of(&iface.name)?;
            if ns.forwarding != Forwarding::Vpp {
                for (a, plen) in &iface.addrs {
                    reqs.push((
                        nl::address(index, *a, *plen),
                        format!("add address {a}/{plen} on {}", iface.name),
                    ));
                }
            }
            if iface.loss_pct.is_some() {
                reqs.push((
                    nl::clsact(index),
                    format!("add clsact qdisc on {}", iface.name),
                ));
            }
            // Root before child: the requests reach the kernel in this
            // order on one socket.
            let shaping = crate::shaping::plan(&iface.props, iface.mtu, plan.features);
            reqs.extend(
                shaping
                    .qdiscs
                    .iter()
                    .map(|q| qdisc_request(index, &iface.name, q)),
            );
            if iface.up {
                ups.push((index, iface.name.clone()));
            }
        }
        for (a, plen) in &ns.lo_addrs {
            reqs.push((
                nl::address(1, *a, *plen),
                format!("add address {a}/{plen} on lo"),
            ));
        }
        let up_futs = ups.iter().map(|(index, name)| {
            let (msg, flags) = nl::link_up(*index);
            c.nl.send(msg, flags, format!("set {name} up"))
        });
        // Qdiscs before link-up: grafting a qdisc on a running device
        // deactivates and reactivates it, which delays its carrier by up to
        // a second (measured).
        c.nl.send_all(reqs).await?;
        futures::future::try_join_all(up_futs).await.map(|_| ())
    })
}

fn phase_routes(c: &Ctx, i: usize, plan: &LabPlan) -> Result<()> {
    let ns = &plan.namespaces[i];
    if ns.forwarding == Forwarding::Vpp {
        return Ok(());
    }
    c.rt.block_on(async {
        let idx = c.nl.link_indexes().await?;
        let mut reqs = Vec::new();
        for r in &ns.routes {
            let oif = c.nl.index_in(&idx, &r.dev, &format!("route {}", r.dst))?;
            let via = r.via.map(|v| format!(" via {v}")).unwrap_or_default();
            reqs.push((
                nl::route(r, oif),
                format!("add route {}{via} dev {}", r.dst, r.dev),
            ));
        }
        for s in &ns.sids {
            let oif = c.nl.index_in(&idx, &s.dev, &format!("SID {}", s.sid))?;
            reqs.push((
                nl::seg6local_end(s, oif),
                format!("add SID {} ({})", nl::show(s.sid), s.label),
            ));
        }
        // Loss droppers: the program fds must stay open until the kernel
        // has acknowledged the filters that take a reference on them.
        let mut progs = Vec::new();
        for iface in &ns.ifaces {
            let Some(loss) = iface.loss_pct else { continue };
            let index = c.nl.index_in(&idx, &iface.name, "loss dropper")?;
            let prog = crate::bpf::load_dropper(loss)?;
            reqs.push((
                nl::dropper_filter(index, std::os::fd::AsRawFd::as_raw_fd(&prog)),
                format!("attach loss dropper ({loss} %) to {}", iface.name),
            ));
            progs.push(prog);
        }
        let done = c.nl.send_all(reqs).await;
        drop(progs);
        done?;
        wait_running(&c.nl, ns).await
    })
}

/// Wait until every interface that should be up has carrier. Until the
/// kernel's linkwatch has seen the carrier, a veth still transmits through
/// the noop qdisc and drops: `up` returns a lab whose first packets arrive.
async fn wait_running(nl: &Nl, ns: &NsPlan) -> Result<()> {
    let want: Vec<&str> = ns
        .ifaces
        .iter()
        .filter(|i| i.up)
        .map(|i| i.name.as_str())
        .collect();
    Wait::new(format!("carrier in {}", ns.netns), CARRIER_WAIT)
        .try_until_async(|| async {
            let down = nl.links_not_running().await?;
            let waiting: Vec<&str> = want
                .iter()
                .copied()
                .filter(|w| down.iter().any(|d| d == w))
                .collect();
            if waiting.is_empty() {
                return Ok(ControlFlow::Break(()));
            }
            tracing::debug!("{}: waiting for carrier on {waiting:?}", ns.netns);
            Ok::<_, Error>(ControlFlow::Continue(format!("no carrier on {waiting:?}")))
        })
        .await
}
