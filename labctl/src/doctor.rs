//! `labctl doctor`: what this machine can run, found by **trying** each
//! thing (in a scratch network namespace that is removed afterwards), never
//! by guessing from version numbers.
//!
//! The same probes guard `labctl up` (and `labctl run`): a command states
//! what it needs as [`Needs`] and calls [`require`], which probes only those
//! features and refuses, before anything is created, with one line per unmet
//! need naming the feature, why it is needed, what failed and how to fix it.
//!
//! # Layout
//! - this file: [`Feature`] (what can be probed, with its fix),
//!   [`Verdict`], [`Probe`], [`Report`] and the entry points [`probe`],
//!   [`doctor`], [`check`], [`require`].
//! - [`needs`]: [`Needs`], what a lab or a command needs, with the reason.
//! - `kernel`: the probes that need privileges, run on one thread inside a
//!   scratch namespace `labctl-doctor-<pid>-<n>` (two veth pairs, a BPF
//!   program loaded from [`crate::bpf`], netlink from [`crate::nl`]: the
//!   same encoders `up` uses).
//! - `host`: files and tools (kernel BTF, clang, libbpf headers, protoc, vpp).
//! - `output`: the table and the JSON document.

mod host;
mod kernel;
pub mod needs;
mod output;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use topology::EndFlavor;

pub use needs::{Needs, Requirement};

/// Exit status of `labctl doctor` when a needed feature is missing or
/// could not be tested (0: every needed feature is present; 1: an error).
pub const EXIT_MISSING: u8 = 3;

/// One thing a lab may need from this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Feature {
    /// Root, or CAP_SYS_ADMIN + CAP_NET_ADMIN + CAP_BPF: tried by creating
    /// a namespace, configuring it over netlink and loading a BPF program.
    Privileges,
    /// A BPF filesystem at `/sys/fs/bpf` (tried: pin a program there).
    Bpffs,
    /// The BPF JIT (tried: a loaded program has a JIT image).
    BpfJit,
    /// Kernel BTF at `/sys/kernel/btf/vmlinux` (tried: read its header).
    Btf,
    /// TC programs through TCX links (Linux ≥ 6.6).
    Tcx,
    /// TC programs through a clsact qdisc and a direct-action `bpf` filter
    /// (the loss dropper's hook, and the dataplane's fallback from TCX).
    Clsact,
    /// Native (driver) XDP on veth.
    XdpNative,
    /// Generic (skb) XDP on veth.
    XdpGeneric,
    /// `seg6` encap routes (`ip -6 route add ... encap seg6`).
    Seg6Encap,
    /// `seg6local action End` routes.
    Seg6LocalEnd,
    /// `seg6local action End` with one flavour.
    EndFlavor(EndFlavor),
    /// The `seg6_enabled` sysctl (hosts accept SRHs addressed to them).
    Seg6Enabled,
    /// The netem qdisc (latency, jitter, loss).
    Netem,
    /// The tbf qdisc (labctl's bandwidth shaper).
    Tbf,
    /// The htb qdisc.
    Htb,
    /// VRF devices.
    Vrf,
    /// clang able to compile for `-target bpf`.
    Clang,
    /// libbpf's headers (`bpf/bpf_helpers.h`) with the kernel UAPI headers.
    LibbpfHeaders,
    /// protoc (code generation of `proto/`).
    Protoc,
    /// The FD.io `vpp` binary (`backend: vpp` routers).
    Vpp,
}

/// One row of [`FEATURES`]: a feature's name, what it is, how to get it.
struct Info {
    feature: Feature,
    id: &'static str,
    what: &'static str,
    fix: &'static str,
}

const fn info(feature: Feature, id: &'static str, what: &'static str, fix: &'static str) -> Info {
    Info {
        feature,
        id,
        what,
        fix,
    }
}

/// Every feature, in report order, with its name, description and fix.
const FEATURES: [Info; 23] = {
    use topology::EndFlavor::{NextCsid, Psp, Usd, Usp};
    use Feature::*;
    const SEG6: &str = "a kernel with CONFIG_IPV6_SEG6_LWTUNNEL=y";
    const NO_USP_USD: &str =
        "Linux implements no USP/USD flavour so far: drop it from `sid_flavors`";
    [
        info(Privileges, "privileges", "root, or CAP_SYS_ADMIN + CAP_NET_ADMIN + CAP_BPF",
            "run as root (sudo -E labctl ...), or grant CAP_SYS_ADMIN, CAP_NET_ADMIN and CAP_BPF"),
        info(Bpffs, "bpffs", "BPF filesystem at /sys/fs/bpf", "mount -t bpf bpf /sys/fs/bpf"),
        info(BpfJit, "bpf-jit", "BPF JIT compiler", "sysctl -w net.core.bpf_jit_enable=1"),
        info(Btf, "btf", "kernel BTF (/sys/kernel/btf/vmlinux)",
            "boot a kernel built with CONFIG_DEBUG_INFO_BTF=y (Ubuntu's and Debian's are)"),
        info(Tcx, "tcx", "TC BPF programs through TCX links",
            "TCX came with Linux 6.6; on older kernels the dataplane attaches through clsact instead"),
        info(Clsact, "clsact", "TC BPF programs through clsact + a direct-action filter",
            "a kernel with CONFIG_NET_SCH_INGRESS and CONFIG_NET_CLS_BPF (modprobe sch_ingress cls_bpf)"),
        info(XdpNative, "xdp-native", "native (driver) XDP on veth",
            "a kernel whose veth driver runs XDP, with XDP links (Linux >= 5.9); the dataplane's default ingress hook is TC"),
        info(XdpGeneric, "xdp-generic", "generic (skb) XDP on veth",
            "a kernel with XDP links (Linux >= 5.9); the dataplane's default ingress hook is TC"),
        info(Seg6Encap, "seg6-encap", "seg6 encap routes", SEG6),
        info(Seg6LocalEnd, "seg6local-end", "seg6local End routes", SEG6),
        info(EndFlavor(Psp), "seg6local-end-psp", "seg6local End with flavour psp",
            "a kernel with the PSP flavour (Linux >= 6.4), or a `backend: vpp` router"),
        info(EndFlavor(Usp), "seg6local-end-usp", "seg6local End with flavour usp", NO_USP_USD),
        info(EndFlavor(Usd), "seg6local-end-usd", "seg6local End with flavour usd", NO_USP_USD),
        info(EndFlavor(NextCsid), "seg6local-end-next-csid", "seg6local End with flavour next-csid",
            "a kernel with the NEXT-C-SID flavour (Linux >= 6.1), or a `backend: vpp` router"),
        info(Seg6Enabled, "seg6-enabled", "seg6_enabled sysctl",
            "a kernel with IPv6 segment routing (net.ipv6.conf.*.seg6_enabled)"),
        info(Netem, "netem", "netem qdisc (latency, jitter)",
            "modprobe sch_netem (Ubuntu: package linux-modules-extra-$(uname -r)); without it latency and jitter are declared only"),
        info(Tbf, "tbf", "tbf qdisc (bandwidth)", "modprobe sch_tbf (CONFIG_NET_SCH_TBF)"),
        info(Htb, "htb", "htb qdisc", "modprobe sch_htb (CONFIG_NET_SCH_HTB)"),
        info(Vrf, "vrf", "VRF devices",
            "modprobe vrf (CONFIG_NET_VRF; Ubuntu: package linux-modules-extra-$(uname -r))"),
        info(Clang, "clang", "clang for -target bpf",
            "make deps (Debian/Ubuntu package clang), or set CLANG to a clang binary"),
        info(LibbpfHeaders, "libbpf-headers", "libbpf headers (bpf/bpf_helpers.h)",
            "make deps (packages libbpf-dev and linux-libc-dev)"),
        info(Protoc, "protoc", "protoc",
            "make deps (package protobuf-compiler), or set PROTOC to a protoc binary"),
        info(Vpp, "vpp", "FD.io vpp binary",
            "install FD.io VPP (ci/install-vpp.sh: packagecloud fdio/release), or use `backend: linux`"),
    ]
};

impl Feature {
    /// Every feature, in report order.
    pub fn all() -> Vec<Feature> {
        FEATURES.iter().map(|i| i.feature).collect()
    }

    fn info(self) -> &'static Info {
        // Every variant has a row (the unit test `every_feature_has_one_row` checks it).
        FEATURES
            .iter()
            .find(|i| i.feature == self)
            .unwrap_or(&FEATURES[0])
    }

    /// The stable name used in reports, JSON and [`FromStr`] (e.g.
    /// `seg6local-end-psp`).
    pub fn id(self) -> &'static str {
        self.info().id
    }

    /// What the feature is, in a few words.
    pub fn what(self) -> &'static str {
        self.info().what
    }

    /// How to get it when it is missing.
    pub fn fix(self) -> &'static str {
        self.info().fix
    }

    /// Probed inside the scratch namespace (needs privileges).
    fn in_scratch_namespace(self) -> bool {
        !matches!(
            self,
            Feature::Btf | Feature::Clang | Feature::LibbpfHeaders | Feature::Protoc | Feature::Vpp
        )
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// A feature name [`FromStr`] does not know; lists the known ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown feature {name:?} (known: {})", Feature::all().iter().map(|f| f.id()).collect::<Vec<_>>().join(", "))]
pub struct UnknownFeature {
    pub name: String,
}

impl FromStr for Feature {
    type Err = UnknownFeature;

    fn from_str(s: &str) -> Result<Feature, UnknownFeature> {
        Feature::all()
            .into_iter()
            .find(|f| f.id() == s)
            .ok_or_else(|| UnknownFeature {
                name: s.to_string(),
            })
    }
}

impl Serialize for Feature {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

/// What trying a feature showed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Verdict {
    /// It worked; `detail` says what was done.
    Present { detail: String },
    /// It failed; `error` is what the kernel or the tool said.
    Missing { error: String },
    /// Not tried, because something it depends on failed (`reason`).
    Untested { reason: String },
}

impl Verdict {
    /// Whether the feature works here.
    pub fn is_present(&self) -> bool {
        matches!(self, Verdict::Present { .. })
    }

    /// `present` / `missing` / `untested`.
    pub fn status(&self) -> &'static str {
        match self {
            Verdict::Present { .. } => "present",
            Verdict::Missing { .. } => "missing",
            Verdict::Untested { .. } => "untested",
        }
    }

    /// The detail, error or reason.
    pub fn text(&self) -> &str {
        match self {
            Verdict::Present { detail } => detail,
            Verdict::Missing { error } => error,
            Verdict::Untested { reason } => reason,
        }
    }
}

/// One probed feature with its verdict and who needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub feature: Feature,
    pub verdict: Verdict,
    /// The reasons of the requirements that name this feature (empty:
    /// reported, not needed).
    pub needed_by: Vec<String>,
}

/// The result of probing: every probe, and the requirements it was judged against.
#[derive(Debug, Clone)]
pub struct Report {
    /// `uname -r`.
    pub kernel: String,
    pub probes: Vec<Probe>,
    pub requirements: Vec<Requirement>,
}

impl Report {
    fn new(verdicts: BTreeMap<Feature, Verdict>, needs: &Needs) -> Report {
        let requirements = needs.requirements().to_vec();
        let probes = verdicts
            .into_iter()
            .map(|(feature, verdict)| Probe {
                feature,
                verdict,
                needed_by: requirements
                    .iter()
                    .filter(|r| r.any_of.contains(&feature))
                    .map(Requirement::label)
                    .collect(),
            })
            .collect();
        Report {
            kernel: kernel_release(),
            probes,
            requirements,
        }
    }

    /// The verdict on `feature`, if it was probed.
    pub fn verdict(&self, feature: Feature) -> Option<&Verdict> {
        self.probes
            .iter()
            .find(|p| p.feature == feature)
            .map(|p| &p.verdict)
    }

    /// Whether `req` is met (one of its features is present).
    pub fn is_met(&self, req: &Requirement) -> bool {
        req.any_of
            .iter()
            .any(|f| self.verdict(*f).is_some_and(Verdict::is_present))
    }

    /// The requirements none of whose features is present.
    pub fn unmet(&self) -> Vec<&Requirement> {
        self.requirements
            .iter()
            .filter(|r| !self.is_met(r))
            .collect()
    }

    /// Every requirement is met.
    pub fn ok(&self) -> bool {
        self.unmet().is_empty()
    }

    /// `Err` naming every unmet requirement, each with what failed and the fix.
    pub fn into_result(self) -> Result<Report, Unsupported> {
        let lines: Vec<String> = self
            .unmet()
            .into_iter()
            .map(|r| self.unmet_line(r))
            .collect();
        if lines.is_empty() {
            Ok(self)
        } else {
            Err(Unsupported { lines })
        }
    }

    /// `<why> needs <feature> (<what>) <status>: <error>; fix: <fix>`, one
    /// clause per alternative (an untested feature has no fix of its own:
    /// what it depends on is unmet and named on its own line).
    fn unmet_line(&self, req: &Requirement) -> String {
        let alternatives: Vec<String> = req
            .any_of
            .iter()
            .map(|f| {
                let (status, text) = self
                    .verdict(*f)
                    .map_or(("untested", "not probed"), |v| (v.status(), v.text()));
                let fix = match self.verdict(*f) {
                    Some(Verdict::Missing { .. }) => format!("; fix: {}", f.fix()),
                    _ => String::new(),
                };
                format!("{} ({}) {status}: {text}{fix}", f.id(), f.what())
            })
            .collect();
        format!("{} needs {}", req.because, alternatives.join(" -- or "))
    }
}

/// What a command needs and this machine lacks, one line per unmet need.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("this machine lacks what it needs (`labctl doctor` probes everything):\n  - {}", lines.join("\n  - "))]
pub struct Unsupported {
    pub lines: Vec<String>,
}

/// Probe `features` (and nothing else). Features that need privileges are
/// tried together in one scratch namespace, removed before this returns.
pub fn probe(features: &BTreeSet<Feature>) -> BTreeMap<Feature, Verdict> {
    let (inside, outside): (BTreeSet<Feature>, BTreeSet<Feature>) =
        features.iter().partition(|f| f.in_scratch_namespace());
    let mut out = kernel::probe(&inside);
    out.extend(host::probe(&outside));
    out
}

/// Probe every feature and judge the result against `needs` (`labctl doctor`).
pub fn doctor(needs: &Needs) -> Report {
    let all: BTreeSet<Feature> = Feature::all().into_iter().collect();
    Report::new(probe(&all), needs)
}

/// Probe only what `needs` names and judge it.
pub fn check(needs: &Needs) -> Report {
    Report::new(probe(&needs.features()), needs)
}

/// [`check`], failing with every unmet need: what `up` and `run` call before
/// they create anything.
pub fn require(needs: &Needs) -> Result<Report, Unsupported> {
    check(needs).into_result()
}

/// [`require`] for `up`, probing netem beside the needs in the same scratch
/// namespace: where the kernel has it, latency and jitter are enforced
/// ([`crate::shaping`]); where not, they stay declared (no need fails).
pub fn require_for_up(needs: &Needs) -> Result<(Report, crate::shaping::Features), Unsupported> {
    let mut features = needs.features();
    features.insert(Feature::Netem);
    let report = Report::new(probe(&features), needs).into_result()?;
    let netem = report
        .verdict(Feature::Netem)
        .is_some_and(Verdict::is_present);
    Ok((report, crate::shaping::Features { netem }))
}

/// Refuse, with what failed and the fix, when this process lacks the
/// privileges `labctl COMMAND` needs (namespaces, netlink, signals). The
/// effective capabilities are read first: with CAP_SYS_ADMIN and
/// CAP_NET_ADMIN nothing more is done (the command's own errors tell the
/// rest); without them the [`Feature::Privileges`] probe is tried, so the
/// message is the one `up` and `doctor` give.
pub fn require_privileges(command: &str) -> Result<(), Unsupported> {
    if has_admin_capabilities() {
        return Ok(());
    }
    let mut needs = Needs::new();
    needs.need(
        Feature::Privileges,
        format!("labctl {command} (namespaces, netlink)"),
    );
    require(&needs).map(drop)
}

/// `CAP_NET_ADMIN` (12) and `CAP_SYS_ADMIN` (21) are in this process's
/// effective set (`CapEff` of /proc/self/status).
fn has_admin_capabilities() -> bool {
    const NEEDED: u64 = (1 << 12) | (1 << 21);
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let hex = s.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
            u64::from_str_radix(hex.trim(), 16).ok()
        })
        .is_some_and(|caps| caps & NEEDED == NEEDED)
}

/// What `labctl doctor` judges against: labctl itself (privileges), the
/// workspace build, and `up` plus the agents of every topology file given.
pub fn needs_of_files(files: &[std::path::PathBuf]) -> Result<Needs, topology::LoadError> {
    let mut needs = Needs::new();
    needs.need(Feature::Privileges, "labctl and the privileged tests");
    needs.extend(Needs::for_build());
    for file in files {
        let topo = topology::load(file)?;
        needs.extend(Needs::for_up(&topo));
        needs.extend(Needs::for_agents(&topo));
    }
    Ok(needs)
}

/// `topologies/*.yaml` under the current directory, sorted (none when there
/// is no such directory): what `labctl doctor` reads without arguments.
pub fn default_topologies() -> Vec<std::path::PathBuf> {
    let Ok(dir) = std::fs::read_dir("topologies") else {
        return Vec::new();
    };
    let mut files: Vec<_> = dir
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

/// `uname -r` (the kernel release), or `unknown`.
pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string())
}

/// A probe's outcome: `Ok(detail)` present, `Err(verdict)` missing or untested.
type Tried = Result<String, Verdict>;

fn missing(error: impl Into<String>) -> Verdict {
    Verdict::Missing {
        error: error.into(),
    }
}

fn verdict(tried: Tried) -> Verdict {
    match tried {
        Ok(detail) => Verdict::Present { detail },
        Err(v) => v,
    }
}

/// An error with its whole source chain on one line (`a: b: c`).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.ends_with(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_feature_has_one_row() {
        use Feature::*;
        // A match without a wildcard: a new variant fails to compile here
        // until it is listed, and then fails below until it has a row.
        let listed = |f: Feature| match f {
            Privileges | Bpffs | BpfJit | Btf | Tcx | Clsact | XdpNative | XdpGeneric
            | Seg6Encap | Seg6LocalEnd | EndFlavor(_) | Seg6Enabled | Netem | Tbf | Htb | Vrf
            | Clang | LibbpfHeaders | Protoc | Vpp => f,
        };
        let mut variants = vec![
            Privileges,
            Bpffs,
            BpfJit,
            Btf,
            Tcx,
            Clsact,
            XdpNative,
            XdpGeneric,
            Seg6Encap,
            Seg6LocalEnd,
            Seg6Enabled,
            Netem,
            Tbf,
            Htb,
            Vrf,
            Clang,
            LibbpfHeaders,
            Protoc,
            Vpp,
        ];
        variants.extend(
            [
                topology::EndFlavor::Psp,
                topology::EndFlavor::Usp,
                topology::EndFlavor::Usd,
                topology::EndFlavor::NextCsid,
            ]
            .map(EndFlavor),
        );
        for f in variants {
            assert_eq!(
                FEATURES.iter().filter(|i| i.feature == listed(f)).count(),
                1,
                "{f:?}"
            );
        }
        assert_eq!(Feature::all().len(), FEATURES.len());
    }

    #[test]
    fn ids_round_trip_and_are_unique() {
        let all = Feature::all();
        let ids: BTreeSet<&str> = all.iter().map(|f| f.id()).collect();
        assert_eq!(ids.len(), all.len());
        for f in all {
            assert_eq!(f.id().parse::<Feature>(), Ok(f));
        }
        let e = "seg6local-end-foo".parse::<Feature>().unwrap_err();
        assert!(e.to_string().contains("seg6local-end-next-csid"), "{e}");
    }

    #[test]
    fn a_requirement_is_met_by_any_of_its_features() {
        let mut needs = Needs::new();
        needs.need_any(&[Feature::Tcx, Feature::Clsact], "the agent");
        needs.need(Feature::Netem, "latency");
        let verdicts = BTreeMap::from([
            (
                Feature::Tcx,
                Verdict::Missing {
                    error: "EINVAL".into(),
                },
            ),
            (
                Feature::Clsact,
                Verdict::Present {
                    detail: "ok".into(),
                },
            ),
            (
                Feature::Netem,
                Verdict::Untested {
                    reason: "no root".into(),
                },
            ),
        ]);
        let report = Report::new(verdicts, &needs);
        assert!(!report.ok());
        let unmet = report.unmet();
        assert_eq!(unmet.len(), 1);
        assert_eq!(unmet[0].because, "latency");
        let err = report.into_result().unwrap_err().to_string();
        assert!(
            err.contains("latency needs netem (netem qdisc (latency, jitter)) untested: no root"),
            "{err}"
        );
        assert!(
            !err.contains("fix:"),
            "an untested feature has no fix: {err}"
        );
        assert!(!err.contains("the agent"), "{err}");
    }
}
