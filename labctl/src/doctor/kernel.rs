//! The probes that need privileges, tried in a scratch namespace
//! `labctl-doctor-<pid>-<n>` ([`labns::netns::Scoped`]: removed when the
//! probes end, also on panic) from one thread that entered it. Each probe
//! does what the lab or the dataplane would do, with the same encoders
//! ([`crate::nl`], [`crate::bpf`]), and reports what the kernel answered.
//!
//! What the probes share is made only when the first probe asks for it
//! (`up` asks for few features): the BPF programs, `lo` up, and for XDP
//! only a veth pair (MTU 1500). Everything else is tried on `lo`: the
//! kernel parses and checks a route's encap, a qdisc or a filter the same
//! way whatever the device, and a namespace without devices of its own is
//! cheap to remove (a veth is removed under the RTNL lock while `up` is
//! already sending netlink requests: measured, it slowed `up` of hawk by
//! tens of ms). A SID route on `lo` is stored as a reject route with its
//! encap intact, which is all a probe reads back. The root qdiscs replace
//! each other (`tc qdisc replace`), so the probes can run in any order.

use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::CString;
use std::net::Ipv6Addr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use futures::stream::TryStreamExt;
use netlink_packet_core::{
    DefaultNla, Nla, NlasIterator, NLA_TYPE_MASK, NLM_F_ACK, NLM_F_CREATE, NLM_F_REPLACE,
    NLM_F_REQUEST,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteLwTunnelEncap, RouteSeg6LocalTunnel, Seg6LocalAction,
    Seg6Mode,
};
use netlink_packet_route::tc::{TcAttribute, TcHandle, TcMessage, TcOption};
use netlink_packet_route::RouteNetlinkMessage;
use rtnetlink::{LinkVrf, RouteMessageBuilder};
use topology::EndFlavor;

use super::{chain, missing, verdict, Feature, Tried, Verdict};
use crate::bpf;
use crate::nl::{self, Nl, SEG6_LOCAL_FLAVORS, SEG6_LOCAL_FLV_OPERATION};
use crate::plan::{self, SidPlan, TbfPlan};

/// Prefix of scratch namespace names.
pub(super) const SCRATCH_PREFIX: &str = "labctl-doctor-";

/// The scratch veth pair `(index, name)` for XDP, with distinct indexes as
/// in a lab (see [`crate::nl::veth`]).
const A0: (u32, &str) = (plan::FIRST_IFINDEX, "doc0a");
const B0: (u32, &str) = (plan::FIRST_IFINDEX + 1, "doc0b");
/// `lo` is always ifindex 1 in a fresh namespace.
const LO: u32 = 1;
/// `tc qdisc replace`: create, or replace what is there.
const REPLACE: u16 = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
const PROBE_MTU: u32 = 1500;

/// `BPF_FS_MAGIC` (include/uapi/linux/magic.h).
const BPF_FS_MAGIC: u64 = 0xcafe_4a11;
/// `TCA_HTB_INIT` (pkt_sched.h).
const TCA_HTB_INIT: u16 = 2;

/// Probe `wanted` (all of them scratch-namespace features) in a fresh namespace.
pub(super) fn probe(wanted: &BTreeSet<Feature>) -> BTreeMap<Feature, Verdict> {
    if wanted.is_empty() {
        return BTreeMap::new();
    }
    let name = labns::netns::unique_name(SCRATCH_PREFIX);
    let scratch = match labns::netns::Scoped::create(&name) {
        Ok(s) => s,
        Err(e) => return without_namespace(wanted, &chain(&e)),
    };
    let features: Vec<Feature> = wanted.iter().copied().collect();
    let inside = name.clone();
    let result = labns::run_in(&name, move || Scratch::probe_all(&inside, &features));
    drop(scratch);
    result.unwrap_or_else(|e| without_namespace(wanted, &chain(&e)))
}

/// Every verdict when no scratch namespace could be made or entered.
fn without_namespace(wanted: &BTreeSet<Feature>, error: &str) -> BTreeMap<Feature, Verdict> {
    wanted
        .iter()
        .map(|&f| {
            let v = if f == Feature::Privileges {
                missing(format!("creating a network namespace: {error}"))
            } else {
                Verdict::Untested {
                    reason: format!("no scratch namespace to try it in ({error})"),
                }
            };
            (f, v)
        })
        .collect()
}

/// The scratch namespace, seen from the thread inside it.
struct Scratch {
    netns: String,
    rt: tokio::runtime::Runtime,
    nl: Nl,
    /// A TC program returning `TC_ACT_OK`, or why it did not load.
    tc: OnceCell<Result<OwnedFd, String>>,
    /// An XDP program returning `XDP_PASS`, or why it did not load.
    xdp: OnceCell<Result<OwnedFd, String>>,
    /// `lo` is up (netlink works here), or why not.
    lo_up: OnceCell<Result<(), String>>,
    /// The veth pair exists and is up, or why not.
    links: OnceCell<Result<(), String>>,
}

impl Scratch {
    fn probe_all(netns: &str, features: &[Feature]) -> BTreeMap<Feature, Verdict> {
        let (rt, nl) = match Nl::connect_here(netns) {
            Ok(c) => c,
            Err(e) => {
                let set = features.iter().copied().collect();
                return without_namespace(&set, &format!("netlink: {}", chain(&e)));
            }
        };
        let s = Scratch {
            netns: netns.to_string(),
            rt,
            nl,
            tc: OnceCell::new(),
            xdp: OnceCell::new(),
            lo_up: OnceCell::new(),
            links: OnceCell::new(),
        };
        features.iter().map(|&f| (f, s.verdict(f))).collect()
    }

    fn verdict(&self, f: Feature) -> Verdict {
        use Feature::*;
        let tried = match f {
            Privileges => self.privileges(),
            Bpffs => self.bpffs(),
            BpfJit => self.jit(),
            Tcx => self.tcx(),
            Clsact => self.clsact(),
            XdpNative => self.xdp(A0, bpf::XDP_FLAGS_DRV_MODE, "native"),
            XdpGeneric => self.xdp(B0, bpf::XDP_FLAGS_SKB_MODE, "generic"),
            Seg6Encap => self.seg6_encap(),
            Seg6LocalEnd => self.seg6local(None),
            EndFlavor(flavor) => self.seg6local(Some(flavor)),
            Seg6Enabled => self.seg6_enabled(),
            Netem => self.netem(),
            Tbf => self.tbf(),
            Htb => self.htb(),
            Vrf => self.vrf(),
            Btf | Clang | LibbpfHeaders | Protoc | Vpp => Err(Verdict::Untested {
                reason: "not a kernel probe".to_string(),
            }),
        };
        verdict(tried)
    }

    /// The veth pair, both ends in this namespace, both up.
    fn make_links(&self) -> crate::Result<()> {
        let here = labns::netns::open(&self.netns)?;
        let ((ai, an), (bi, bn)) = (A0, B0);
        let pair = nl::veth(an, ai, bn, bi, PROBE_MTU, here.as_raw_fd());
        self.rt.block_on(
            self.nl
                .send_all(vec![(pair, format!("create veth {an} <-> {bn}"))]),
        )?;
        self.rt.block_on(async {
            for (index, name) in [A0, B0] {
                let (msg, flags) = nl::link_up(index);
                self.nl.send(msg, flags, format!("set {name} up")).await?;
            }
            Ok(())
        })
    }

    /// `lo` up: the first netlink request that needs CAP_NET_ADMIN.
    fn lo_up(&self) -> &Result<(), String> {
        self.lo_up.get_or_init(|| {
            let (msg, flags) = nl::link_up(LO);
            self.rt
                .block_on(self.nl.send(msg, flags, "set lo up".to_string()))
                .map_err(|e| netlink_error(&e))
        })
    }

    fn tc_prog(&self) -> &Result<OwnedFd, String> {
        self.tc.get_or_init(|| {
            bpf::load(
                bpf::BPF_PROG_TYPE_SCHED_CLS,
                0,
                &bpf::returning(bpf::TC_ACT_OK),
                "doctor_tc",
            )
            .map_err(|e| chain(&e))
        })
    }

    fn tc(&self) -> Result<BorrowedFd<'_>, Verdict> {
        match self.tc_prog() {
            Ok(fd) => Ok(fd.as_fd()),
            Err(e) => Err(Verdict::Untested {
                reason: format!("no BPF program could be loaded ({e})"),
            }),
        }
    }

    fn lo(&self) -> Result<(), Verdict> {
        self.lo_up().clone().map_err(|e| Verdict::Untested {
            reason: format!("no netlink configuration here ({e})"),
        })
    }

    fn links(&self) -> Result<(), Verdict> {
        let made = self
            .links
            .get_or_init(|| self.make_links().map_err(|e| netlink_error(&e)));
        made.clone().map_err(|e| Verdict::Untested {
            reason: format!("the scratch veth pair could not be made ({e})"),
        })
    }

    /// Send `reqs` (creating things) in the scratch namespace.
    fn send(&self, reqs: Vec<(RouteNetlinkMessage, &str)>) -> Result<(), Verdict> {
        let reqs = reqs.into_iter().map(|(m, w)| (m, w.to_string())).collect();
        self.rt
            .block_on(self.nl.send_all(reqs))
            .map_err(|e| missing(netlink_error(&e)))
    }

    /// `tc qdisc replace dev lo root ...`.
    fn replace_root(&self, msg: RouteNetlinkMessage, what: &str) -> Result<(), Verdict> {
        self.lo()?;
        self.rt
            .block_on(self.nl.send(msg, REPLACE, what.to_string()))
            .map_err(|e| missing(netlink_error(&e)))
    }

    fn privileges(&self) -> Tried {
        if let Err(e) = self.tc_prog() {
            return Err(missing(format!(
                "created a network namespace, but loading a BPF program failed: {e}"
            )));
        }
        if let Err(e) = self.lo_up() {
            return Err(missing(format!(
                "created a network namespace, but configuring it over netlink failed: {e}"
            )));
        }
        // SAFETY: geteuid(2) has no preconditions and cannot fail.
        let euid = unsafe { libc::geteuid() };
        Ok(format!(
            "created a network namespace, configured it over netlink, loaded a BPF program (euid {euid})"
        ))
    }

    fn bpffs(&self) -> Tried {
        let root = Path::new("/sys/fs/bpf");
        let magic = fs_type(root).map_err(|e| missing(format!("statfs /sys/fs/bpf: {e}")))?;
        if magic != BPF_FS_MAGIC {
            return Err(missing(format!(
                "/sys/fs/bpf is not a BPF filesystem (filesystem magic {magic:#x})"
            )));
        }
        let pin = root.join(format!("{}-pin", self.netns));
        bpf::pin(self.tc()?, &pin).map_err(|e| missing(chain(&e)))?;
        std::fs::remove_file(&pin).map_err(|e| {
            missing(format!(
                "pinned {}, but unlinking it failed: {e}",
                pin.display()
            ))
        })?;
        Ok("pinned a program under /sys/fs/bpf and unpinned it".to_string())
    }

    fn jit(&self) -> Tried {
        let len = bpf::jited_len(self.tc()?).map_err(|e| missing(chain(&e)))?;
        if len == 0 {
            return Err(missing(
                "a loaded program has no JIT image: the kernel interprets BPF (net.core.bpf_jit_enable = 0)",
            ));
        }
        Ok(format!(
            "a 2-instruction program became {len} bytes of machine code"
        ))
    }

    fn tcx(&self) -> Tried {
        self.lo()?;
        let link = bpf::link_create(self.tc()?, LO, bpf::BPF_TCX_INGRESS, 0)
            .map_err(|e| missing(chain(&e)))?;
        drop(link); // detaches
        Ok("attached a TC program to an ingress hook through a TCX link".to_string())
    }

    fn clsact(&self) -> Tried {
        self.lo()?;
        let fd = self.tc()?.as_raw_fd();
        self.send(vec![
            (nl::clsact(LO), "add a clsact qdisc"),
            (
                nl::dropper_filter(LO, fd),
                "attach a direct-action bpf filter",
            ),
        ])?;
        Ok(
            "added a clsact qdisc and a direct-action bpf filter on egress, as `up` does for loss"
                .to_string(),
        )
    }

    fn xdp(&self, (index, _): (u32, &str), mode: u32, what: &str) -> Tried {
        self.links()?;
        let prog = self.xdp.get_or_init(|| {
            bpf::load(
                bpf::BPF_PROG_TYPE_XDP,
                bpf::BPF_XDP,
                &bpf::returning(bpf::XDP_PASS),
                "doctor_xdp",
            )
            .map_err(|e| chain(&e))
        });
        let prog = prog.as_ref().map_err(|e| Verdict::Untested {
            reason: format!("no XDP program could be loaded ({e})"),
        })?;
        let link = bpf::link_create(prog.as_fd(), index, bpf::BPF_XDP, mode)
            .map_err(|e| missing(chain(&e)))?;
        drop(link); // detaches
        Ok(format!(
            "attached an XDP program in {what} mode to a veth (MTU {PROBE_MTU}) through a BPF link"
        ))
    }

    fn seg6_encap(&self) -> Tried {
        self.lo()?;
        let msg = RouteMessageBuilder::<Ipv6Addr>::new()
            .destination_prefix(Ipv6Addr::new(0xfc00, 0xd0c, 0xe, 0, 0, 0, 0, 0), 64)
            .output_interface(LO)
            .output_seg6(
                Seg6Mode::Encap,
                vec![Ipv6Addr::new(0xfc00, 0xd0c, 0, 0, 0, 0, 0, 1)],
            )
            .build();
        self.send(vec![(
            RouteNetlinkMessage::NewRoute(msg),
            "add a seg6 encap route",
        )])?;
        Ok("added a route with encap seg6 mode encap".to_string())
    }

    /// `seg6local action End [flavors F]` on a veth, then read back: a
    /// kernel that does not know the flavours attribute ignores it, so only
    /// the route the kernel shows counts.
    fn seg6local(&self, flavor: Option<EndFlavor>) -> Tried {
        self.lo()?;
        let ops = flavor.map_or(0, |f| 1 << plan::flavor_op(f));
        let sid = SidPlan {
            sid: Ipv6Addr::new(0xfc00, 0xd0c, 0, 0, 0, 0, 1, ops as u16),
            flavor_ops: ops,
            label: String::new(),
            dev: "lo".to_string(),
        };
        let label = flavor.map_or("End".to_string(), |f| format!("End flavors {}", f.as_str()));
        self.send(vec![(
            nl::seg6local_end(&sid, LO),
            &format!("add a seg6local {label} route"),
        )])?;
        let shown = self
            .rt
            .block_on(self.seg6local_shown(sid.sid))
            .map_err(|e| missing(netlink_error(&e)))?;
        match shown {
            Some((Seg6LocalAction::End, shown_ops)) if shown_ops == ops => {
                Ok(format!("added a route with encap seg6local action {label}"))
            }
            Some((action, shown_ops)) => Err(missing(format!(
                "the kernel accepted seg6local {label} but shows action {action} with flavour bits {shown_ops:#x}: it ignores what it does not support"
            ))),
            None => Err(missing(format!(
                "the kernel accepted seg6local {label} but shows no such route"
            ))),
        }
    }

    /// The action and flavour bits of the seg6local route to `sid`, as the kernel shows it.
    async fn seg6local_shown(
        &self,
        sid: Ipv6Addr,
    ) -> crate::Result<Option<(Seg6LocalAction, u32)>> {
        let mut routes = self
            .nl
            .handle
            .route()
            .get(RouteMessageBuilder::<Ipv6Addr>::new().build())
            .execute();
        while let Some(r) = routes.try_next().await.map_err(|e| crate::Error::Netlink {
            netns: self.netns.clone(),
            what: "list routes".to_string(),
            message: e.to_string(),
        })? {
            let is_sid = r
                .attributes
                .contains(&RouteAttribute::Destination(RouteAddress::Inet6(sid)));
            if !is_sid {
                continue;
            }
            let tunnel = r.attributes.iter().filter_map(|a| match a {
                RouteAttribute::Encap(e) => Some(e),
                _ => None,
            });
            let mut action = None;
            let mut ops = 0;
            for encap in tunnel.flatten() {
                match encap {
                    RouteLwTunnelEncap::Seg6Local(RouteSeg6LocalTunnel::Action(a)) => {
                        action = Some(*a)
                    }
                    RouteLwTunnelEncap::Seg6Local(RouteSeg6LocalTunnel::Other(nla)) => {
                        ops |= flavor_ops(nla)
                    }
                    _ => {}
                }
            }
            return Ok(action.map(|a| (a, ops)));
        }
        Ok(None)
    }

    fn seg6_enabled(&self) -> Tried {
        let key = "net/ipv6/conf/all/seg6_enabled";
        labns::netns::sysctl(key, "1").map_err(|e| missing(chain(&e)))?;
        let shown = std::fs::read_to_string(Path::new("/proc/sys").join(key))
            .map_err(|e| missing(format!("read back {key}: {e}")))?;
        if shown.trim() != "1" {
            return Err(missing(format!(
                "{key} reads {:?} after writing 1",
                shown.trim()
            )));
        }
        Ok(format!("set {key} = 1"))
    }

    fn netem(&self) -> Tried {
        self.replace_root(netem(LO), "add a netem qdisc")?;
        Ok("added a netem root qdisc".to_string())
    }

    fn tbf(&self) -> Tried {
        let shaper = TbfPlan::for_rate(10_000, PROBE_MTU);
        self.replace_root(nl::tbf(LO, &shaper), "add a tbf qdisc")?;
        Ok("added a tbf root qdisc (10 Mbit/s), as `up` does for bandwidth".to_string())
    }

    fn htb(&self) -> Tried {
        self.replace_root(htb(LO), "add an htb qdisc")?;
        Ok("added an htb root qdisc".to_string())
    }

    fn vrf(&self) -> Tried {
        let msg = LinkVrf::new("doc-vrf", 1001).build();
        self.send(vec![(
            RouteNetlinkMessage::NewLink(msg),
            "add a vrf device",
        )])?;
        Ok("created a VRF device (table 1001)".to_string())
    }
}

/// The netlink error without the scratch namespace's name (noise in a report).
fn netlink_error(e: &crate::Error) -> String {
    match e {
        crate::Error::Netlink { what, message, .. } => format!("{what}: {message}"),
        other => chain(other),
    }
}

/// The `SEG6_LOCAL_FLV_OPERATION` bits of a `SEG6_LOCAL_FLAVORS` attribute (0 otherwise).
fn flavor_ops(nla: &DefaultNla) -> u32 {
    if nla.kind() & NLA_TYPE_MASK != SEG6_LOCAL_FLAVORS {
        return 0;
    }
    let mut value = vec![0u8; nla.value_len()];
    nla.emit_value(&mut value);
    NlasIterator::new(&value[..])
        .filter_map(Result::ok)
        .filter(|inner| inner.kind() == SEG6_LOCAL_FLV_OPERATION)
        .filter_map(|inner| Some(u32::from_ne_bytes(inner.value().get(..4)?.try_into().ok()?)))
        .fold(0, |m, ops| m | ops)
}

/// `statfs(2)`'s filesystem magic of `path`.
fn fs_type(path: &Path) -> std::io::Result<u64> {
    let c_path = CString::new(path.as_os_str().as_encoded_bytes())?;
    // SAFETY: an all-zero `struct statfs` is a valid value to be overwritten.
    let mut buf: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c_path` is NUL-terminated and `buf` is a valid out pointer;
    // both outlive the call.
    if unsafe { libc::statfs(c_path.as_ptr(), &mut buf) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // `f_type`'s width and sign differ between architectures; the magic is 32 bits.
    #[allow(clippy::unnecessary_cast)]
    Ok(buf.f_type as u64 & 0xffff_ffff)
}

/// `tc qdisc add dev IF root handle 3: netem` (no impairment: only whether
/// the kernel has netem), the message `up` sends ([`crate::nl::netem`]).
fn netem(index: u32) -> RouteNetlinkMessage {
    let none = crate::shaping::NetemPlan::new(0, 0, None, 1500);
    crate::nl::netem(index, crate::shaping::Parent::Root, 3, &none)
}

/// `tc qdisc add dev IF root handle 2: htb`: `TCA_HTB_INIT` is a `struct
/// tc_htb_glob` (version 3, rate2quantum 10, defcls, debug, direct_pkts).
fn htb(index: u32) -> RouteNetlinkMessage {
    let mut glob = Vec::with_capacity(20);
    for field in [3u32, 10, 0, 0, 0] {
        glob.extend_from_slice(&field.to_ne_bytes());
    }
    root_qdisc(
        index,
        2,
        "htb",
        TcAttribute::Options(vec![TcOption::Other(DefaultNla::new(TCA_HTB_INIT, glob))]),
    )
}

/// A root qdisc with handle `major:`. The probes' qdiscs replace each other
/// at the root, so each has its own handle (`nl::tbf` has 1:): replacing a
/// qdisc by one of another kind under the same handle is refused (EINVAL).
fn root_qdisc(index: u32, major: u16, kind: &str, options: TcAttribute) -> RouteNetlinkMessage {
    let mut msg = TcMessage::with_index(index as i32);
    msg.header.parent = TcHandle::ROOT;
    msg.header.handle = TcHandle { major, minor: 0 };
    msg.attributes.push(TcAttribute::Kind(kind.to_string()));
    msg.attributes.push(options);
    RouteNetlinkMessage::NewQueueDiscipline(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flavour_bits_are_read_from_the_nested_attribute() {
        // SEG6_LOCAL_FLAVORS { SEG6_LOCAL_FLV_OPERATION = 1 << 4 } as the kernel sends it.
        let mut inner = Vec::new();
        inner.extend_from_slice(&8u16.to_ne_bytes());
        inner.extend_from_slice(&SEG6_LOCAL_FLV_OPERATION.to_ne_bytes());
        inner.extend_from_slice(&(1u32 << 4).to_ne_bytes());
        let nla = DefaultNla::new(
            SEG6_LOCAL_FLAVORS | netlink_packet_core::NLA_F_NESTED,
            inner,
        );
        assert_eq!(flavor_ops(&nla), 1 << 4);
        assert_eq!(flavor_ops(&DefaultNla::new(7, vec![0; 4])), 0);
    }
}
