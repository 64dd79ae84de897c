//! What the kernel is asked to do with one direction of a link, as a pure
//! plan: which qdiscs go on the sending interface, whether the loss dropper
//! does, and so which properties are enforced and which only declared.
//! `up` and `link set` install what [`plan`] says; `status` marks what
//! [`enforcement`] says; both depend on the kernel's [`Features`].
//!
//! The qdisc tree: bandwidth is a `tbf` at the root (handle `1:`); latency
//! and jitter are a `netem` under it (`parent 1:1 handle 10:`: tbf's one
//! class), or at the root (`1:`) without bandwidth. netem under tbf keeps
//! tbf's rate on the packets netem releases, and the netem queue holds a
//! bandwidth-delay product of packets. Loss stays the BPF dropper on the
//! `clsact` egress hook (beside the root qdisc, not in the tree), so it is
//! enforced whether or not netem exists.

use serde::{Deserialize, Serialize};
use topology::LinkProps;

use crate::plan::TbfPlan;

/// What this kernel can do for link properties (probed by `doctor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Features {
    /// `sch_netem` can be added (latency, jitter).
    pub netem: bool,
}

/// netem's knobs (microseconds; the queue in packets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct NetemPlan {
    pub latency_us: u64,
    pub jitter_us: u64,
    pub limit_packets: u32,
}

/// netem's default queue (`tc` uses 1000 packets).
const NETEM_MIN_LIMIT: u32 = 1000;

impl NetemPlan {
    /// Delay `latency_us` ± `jitter_us` on an interface sending at most
    /// `kbps` (None: unshaped) in frames of `mtu` bytes: the queue holds what
    /// is in flight during the delay, at least netem's default.
    pub fn new(latency_us: u64, jitter_us: u64, kbps: Option<u64>, mtu: u32) -> NetemPlan {
        let in_flight = kbps.map_or(0, |k| {
            let bytes = k.saturating_mul(1000) / 8 * (latency_us + jitter_us) / 1_000_000;
            bytes / u64::from(mtu.max(1)) + 1
        });
        NetemPlan {
            latency_us,
            jitter_us,
            limit_packets: u32::try_from(in_flight)
                .unwrap_or(u32::MAX)
                .max(NETEM_MIN_LIMIT),
        }
    }
}

/// Where a qdisc goes on the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Parent {
    Root,
    /// Under the root's class `1:1`.
    RootClass,
}

/// One qdisc to install (in order: a parent before its child).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Qdisc {
    Tbf {
        handle: u16,
        plan: TbfPlan,
    },
    Netem {
        parent: Parent,
        handle: u16,
        plan: NetemPlan,
    },
}

/// Handle of the root qdisc.
pub const ROOT_HANDLE: u16 = 1;
/// Handle of netem under tbf.
pub const NETEM_CHILD_HANDLE: u16 = 10;

/// Everything one sending interface gets for `props`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Shaping {
    /// Root first.
    pub qdiscs: Vec<Qdisc>,
    /// The BPF dropper's loss, percent (> 0).
    pub dropper_pct: Option<f64>,
}

/// The qdiscs and dropper for one direction of a link of MTU `mtu`.
pub fn plan(props: &LinkProps, mtu: u32, features: Features) -> Shaping {
    let tbf = props
        .bandwidth_kbps
        .map(|kbps| TbfPlan::for_rate(kbps, mtu));
    let (latency, jitter) = (props.latency_us.unwrap_or(0), props.jitter_us.unwrap_or(0));
    let netem = (features.netem && (latency > 0 || jitter > 0))
        .then(|| NetemPlan::new(latency, jitter, props.bandwidth_kbps, mtu));
    let mut qdiscs = Vec::new();
    let netem_parent = match tbf {
        Some(plan) => {
            qdiscs.push(Qdisc::Tbf {
                handle: ROOT_HANDLE,
                plan,
            });
            (Parent::RootClass, NETEM_CHILD_HANDLE)
        }
        None => (Parent::Root, ROOT_HANDLE),
    };
    if let Some(plan) = netem {
        qdiscs.push(Qdisc::Netem {
            parent: netem_parent.0,
            handle: netem_parent.1,
            plan,
        });
    }
    Shaping {
        qdiscs,
        dropper_pct: props.loss_pct.filter(|l| *l > 0.0),
    }
}

/// Whether `property` of `props` is enforced by the kernel, and how (or
/// why not).
pub fn enforcement(property: &str, props: &LinkProps, features: Features) -> (bool, &'static str) {
    let zero = match property {
        "latency" => props.latency_us == Some(0),
        "jitter" => props.jitter_us == Some(0),
        "loss" => props.loss_pct == Some(0.0),
        _ => false,
    };
    match property {
        _ if zero => (true, "zero: nothing to apply"),
        "bandwidth" => (true, "tbf qdisc on the sending interface"),
        "loss" => (true, "BPF dropper on the sending interface's TC egress"),
        "latency" | "jitter" if features.netem => (true, "netem qdisc on the sending interface"),
        "latency" | "jitter" => (false, "no netem in this kernel"),
        _ => (false, "controller input only"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const NETEM: Features = Features { netem: true };
    const NO_NETEM: Features = Features { netem: false };

    fn props(bw: Option<u64>, lat: Option<u64>, jit: Option<u64>, loss: Option<f64>) -> LinkProps {
        LinkProps {
            bandwidth_kbps: bw,
            latency_us: lat,
            jitter_us: jit,
            loss_pct: loss,
            utilization_pct: Some(30.0),
        }
    }

    fn kinds(s: &Shaping) -> Vec<(&'static str, Parent, u16)> {
        s.qdiscs
            .iter()
            .map(|q| match q {
                Qdisc::Tbf { handle, .. } => ("tbf", Parent::Root, *handle),
                Qdisc::Netem { parent, handle, .. } => ("netem", *parent, *handle),
            })
            .collect()
    }

    #[test]
    fn bandwidth_and_latency_are_tbf_at_the_root_with_netem_under_it() {
        // hawk's vpp1-vpp2: 1gbit, 4ms, MTU 9000.
        let p = props(Some(1_000_000), Some(4000), Some(500), None);
        let s = plan(&p, 9000, NETEM);
        assert_eq!(
            kinds(&s),
            [("tbf", Parent::Root, 1), ("netem", Parent::RootClass, 10)]
        );
        let Qdisc::Netem { plan: n, .. } = s.qdiscs[1] else {
            panic!()
        };
        assert_eq!((n.latency_us, n.jitter_us), (4000, 500));
        // 1 Gbit/s for 4.5 ms = 562,500 bytes = 62.5 frames of 9000 < 1000.
        assert_eq!(n.limit_packets, 1000);
        assert_eq!(s.dropper_pct, None);
    }

    #[test]
    fn a_fast_long_link_queues_its_bandwidth_delay_product() {
        // 10 Gbit/s for 100 ms = 125,000,000 bytes = 83,333 frames of 1500, + 1.
        let s = plan(
            &props(Some(10_000_000), Some(100_000), None, None),
            1500,
            NETEM,
        );
        let Qdisc::Netem { plan: n, .. } = s.qdiscs[1] else {
            panic!()
        };
        assert_eq!(n.limit_packets, 83_334);
    }

    #[test]
    fn without_netem_only_tbf_and_the_dropper_are_installed() {
        let p = props(Some(100_000), Some(1000), Some(200), Some(2.5));
        let s = plan(&p, 1500, NO_NETEM);
        assert_eq!(kinds(&s), [("tbf", Parent::Root, 1)]);
        assert_eq!(s.dropper_pct, Some(2.5));
        let no_netem = (false, "no netem in this kernel");
        assert_eq!(enforcement("latency", &p, NO_NETEM), no_netem);
        assert_eq!(enforcement("jitter", &p, NO_NETEM), no_netem);
        let netem = (true, "netem qdisc on the sending interface");
        assert_eq!(enforcement("latency", &p, NETEM), netem);
        let dropper = (true, "BPF dropper on the sending interface's TC egress");
        assert_eq!(enforcement("loss", &p, NO_NETEM), dropper);
        let tbf = (true, "tbf qdisc on the sending interface");
        assert_eq!(enforcement("bandwidth", &p, NO_NETEM), tbf);
        let input = (false, "controller input only");
        assert_eq!(enforcement("utilization", &p, NETEM), input);
    }

    /// The netem message as `tc qdisc add dev IF parent 1:1 handle 10: netem
    /// delay 4ms 500us limit 1000` encodes it: `struct tc_netem_qopt` with
    /// the times in 64 ns ticks (4 ms = 62,500; 500 us = 7,812).
    #[test]
    fn netem_under_tbf_is_encoded_as_tc_does() {
        use netlink_packet_core::Nla;
        use netlink_packet_route::tc::{TcAttribute, TcHandle};
        use netlink_packet_route::RouteNetlinkMessage;
        let n = NetemPlan::new(4000, 500, Some(1_000_000), 9000);
        let RouteNetlinkMessage::NewQueueDiscipline(msg) =
            crate::nl::netem(7, Parent::RootClass, NETEM_CHILD_HANDLE, &n)
        else {
            panic!("not a new qdisc")
        };
        assert_eq!(msg.header.index, 7);
        assert_eq!(msg.header.parent, TcHandle { major: 1, minor: 1 });
        assert_eq!(
            msg.header.handle,
            TcHandle {
                major: 10,
                minor: 0
            }
        );
        assert!(msg.attributes.contains(&TcAttribute::Kind("netem".into())));
        let qopt = msg
            .attributes
            .iter()
            .find_map(|a| match a {
                TcAttribute::Other(nla) if nla.kind() == 2 => {
                    let mut v = vec![0u8; nla.value_len()];
                    nla.emit_value(&mut v);
                    Some(v)
                }
                _ => None,
            })
            .unwrap();
        let fields: Vec<u32> = qopt
            .chunks(4)
            .map(|c| u32::from_ne_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(fields, [62_500, 1000, 0, 0, 0, 7_812]);
    }

    #[test]
    fn latency_without_bandwidth_is_netem_at_the_root() {
        let s = plan(&props(None, Some(2000), None, Some(1.0)), 1500, NETEM);
        assert_eq!(kinds(&s), [("netem", Parent::Root, 1)]);
        assert_eq!(s.dropper_pct, Some(1.0), "loss stays the dropper");
    }

    #[test]
    fn zeros_install_nothing_and_count_as_enforced() {
        let p = props(None, Some(0), Some(0), Some(0.0));
        assert_eq!(plan(&p, 1500, NETEM), Shaping::default());
        for prop in ["latency", "jitter", "loss"] {
            assert_eq!(
                enforcement(prop, &p, NO_NETEM),
                (true, "zero: nothing to apply")
            );
        }
        // Jitter alone still needs netem (delay 0 ± jitter).
        let s = plan(&props(None, Some(0), Some(300), None), 1500, NETEM);
        assert_eq!(kinds(&s), [("netem", Parent::Root, 1)]);
    }
}
