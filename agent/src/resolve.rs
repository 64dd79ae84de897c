//! Active DNS resolution of the configured names: at start and again when
//! each answer's TTL runs out, through the namespace's resolver
//! (hickory-resolver reading `/etc/resolv.conf`, which `ip netns exec`
//! replaces by `/etc/netns/NS/resolv.conf`). Each answer goes to the
//! dataplane's owner, which replans: new addresses are steered (and, in
//! controller mode, requested), vanished ones removed.
//!
//! The resolvers of resolv.conf are also the dataplane's: DNS snooping
//! believes only their replies ([`ResolvConf::resolvers`]), and
//! [`watch_resolv_conf`] keeps both current when the file changes.
//!
//! A name that does not exist (NXDOMAIN) or has no AAAA record has no
//! addresses; a lookup that fails (timeout, refused) keeps the last
//! addresses and is retried with backoff.

use std::collections::BTreeSet;
use std::future::Future;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::TokioResolver;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use crate::owner::Update;

/// Bounds on how long an answer is trusted before asking again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refresh {
    /// Shortest wait (TTL 0 answers must not loop).
    pub min: Duration,
    /// Longest wait.
    pub max: Duration,
    /// First retry after a failed lookup (doubling up to `max_retry`).
    pub retry: Duration,
    pub max_retry: Duration,
}

impl Default for Refresh {
    fn default() -> Self {
        Refresh {
            min: Duration::from_secs(1),
            max: Duration::from_secs(3600),
            retry: Duration::from_secs(1),
            max_retry: Duration::from_secs(30),
        }
    }
}

/// One lookup's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupOutcome {
    /// AAAA addresses and how long they are valid.
    Found {
        addresses: BTreeSet<Ipv6Addr>,
        ttl: Duration,
    },
    /// NXDOMAIN or no AAAA record (for `ttl`, the negative TTL if known).
    NoAddresses {
        ttl: Option<Duration>,
        reason: String,
    },
    /// The lookup itself failed: keep what was known.
    Failed(String),
}

/// A DNS answer as the owner receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsAnswer {
    pub name: String,
    pub outcome: LookupOutcome,
    pub at: SystemTime,
    /// When the name is looked up again.
    pub next: SystemTime,
}

/// Something that looks up AAAA records (hickory; tests use a table).
pub trait Lookup: Send + Sync + 'static {
    fn aaaa(&self, name: &str) -> impl Future<Output = LookupOutcome> + Send;
}

/// The namespace's resolver. Rebuilt by [`watch_resolv_conf`] when
/// resolv.conf changes, so lookups follow the file as the dataplane's
/// resolver set does.
#[derive(Debug)]
pub struct HickoryLookup {
    resolver: std::sync::RwLock<TokioResolver>,
}

/// Why the resolver could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("DNS resolver: {0}")]
pub struct ResolverError(String);

/// The resolv.conf of this process's mount namespace (`ip netns exec`
/// and labns's `etc_overlay` bind `/etc/netns/NS/resolv.conf` over it).
pub const RESOLV_CONF: &str = "/etc/resolv.conf";

/// A parsed resolv.conf: the resolver configuration and the IPv6
/// resolvers whose replies DNS snooping believes.
#[derive(Debug, Clone)]
pub struct ResolvConf {
    config: ResolverConfig,
    options: ResolverOpts,
    /// IPv6 name servers, in file order, without repeats (IPv4 ones are
    /// not reachable through the IPv6-only dataplane and are left out).
    pub resolvers: Vec<Ipv6Addr>,
}

impl ResolvConf {
    /// Parse resolv.conf text (`path` names it in errors).
    pub fn parse(bytes: &[u8], path: &str) -> Result<ResolvConf, ResolverError> {
        let (config, options) = hickory_resolver::system_conf::parse_resolv_conf(bytes)
            .map_err(|e| ResolverError(format!("{path}: {e}")))?;
        let mut resolvers: Vec<Ipv6Addr> = Vec::new();
        for ns in config.name_servers() {
            if let IpAddr::V6(v6) = ns.ip {
                if !resolvers.contains(&v6) {
                    resolvers.push(v6);
                }
            }
        }
        Ok(ResolvConf {
            config,
            options,
            resolvers,
        })
    }

    /// No resolver at all (no resolv.conf): nothing resolves, snooping
    /// believes no reply.
    pub fn empty() -> ResolvConf {
        ResolvConf {
            config: ResolverConfig::default(),
            options: ResolverOpts::default(),
            resolvers: Vec::new(),
        }
    }

    /// Read and parse `path`; also returns the bytes (to notice changes).
    pub fn read(path: &Path) -> Result<(ResolvConf, Vec<u8>), ResolverError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| ResolverError(format!("{shown}: {e}")))?;
        Ok((ResolvConf::parse(&bytes, &shown)?, bytes))
    }
}

fn build_resolver(
    config: ResolverConfig,
    mut options: ResolverOpts,
) -> Result<TokioResolver, ResolverError> {
    // Answers are not cached by the resolver: the agent keeps them itself
    // and asks again at expiry.
    options.cache_size = 0;
    TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
        .with_options(options)
        .build()
        .map_err(|e| ResolverError(e.to_string()))
}

impl HickoryLookup {
    /// Ask the name servers of `conf`.
    pub fn from_conf(conf: &ResolvConf) -> Result<HickoryLookup, ResolverError> {
        let resolver = build_resolver(conf.config.clone(), conf.options.clone())?;
        Ok(HickoryLookup {
            resolver: std::sync::RwLock::new(resolver),
        })
    }

    /// Ask the name servers of `conf` from now on.
    pub fn reload(&self, conf: &ResolvConf) -> Result<(), ResolverError> {
        let resolver = build_resolver(conf.config.clone(), conf.options.clone())?;
        let mut current = self
            .resolver
            .write()
            .map_err(|_| ResolverError("resolver lock poisoned".into()))?;
        *current = resolver;
        Ok(())
    }

    /// Ask these servers (UDP, then TCP) instead: tests with a server on port 0.
    pub fn with_servers(servers: &[SocketAddr]) -> Result<HickoryLookup, ResolverError> {
        let mut config = ResolverConfig::default();
        for server in servers {
            let mut ns = NameServerConfig::udp_and_tcp(server.ip());
            for c in &mut ns.connections {
                c.port = server.port();
            }
            config.add_name_server(ns);
        }
        let resolver = build_resolver(config, ResolverOpts::default())?;
        Ok(HickoryLookup {
            resolver: std::sync::RwLock::new(resolver),
        })
    }

    fn current(&self) -> Option<TokioResolver> {
        self.resolver.read().ok().map(|r| r.clone())
    }
}

/// Follow resolv.conf: every `every`, read `path`; when its text changed,
/// point `lookup` at the new name servers and send the dataplane its new
/// resolver set (whose replies snooping believes). Ends on `stop` or when
/// the owner is gone. An unreadable file keeps the last set (logged once).
pub async fn watch_resolv_conf(
    path: std::path::PathBuf,
    mut last: Vec<u8>,
    every: Duration,
    lookup: std::sync::Arc<HickoryLookup>,
    owner: mpsc::Sender<Update>,
    mut stop: watch::Receiver<bool>,
) {
    let mut failing = false;
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let (conf, bytes) = match ResolvConf::read(&path) {
            Ok(read) => read,
            Err(e) => {
                if !failing {
                    warn!(error = %e, "resolv.conf unreadable; keeping the last resolvers");
                }
                failing = true;
                continue;
            }
        };
        failing = false;
        if bytes == last {
            continue;
        }
        last = bytes;
        info!(resolvers = ?conf.resolvers, "resolv.conf changed");
        if let Err(e) = lookup.reload(&conf) {
            warn!(error = %e, "keeping the previous resolver for lookups");
        }
        if owner.send(Update::Resolvers(conf.resolvers)).await.is_err() {
            return;
        }
    }
}

impl Lookup for HickoryLookup {
    async fn aaaa(&self, name: &str) -> LookupOutcome {
        // Fully qualified: no search-domain guesses.
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        let Some(resolver) = self.current() else {
            return LookupOutcome::Failed("resolver lock poisoned".into());
        };
        match resolver.lookup(fqdn, RecordType::AAAA).await {
            Ok(lookup) => {
                let addresses: BTreeSet<Ipv6Addr> = lookup
                    .answers()
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::AAAA(aaaa) => Some(aaaa.0),
                        _ => None,
                    })
                    .collect();
                let ttl = lookup
                    .valid_until()
                    .saturating_duration_since(Instant::now());
                if addresses.is_empty() {
                    return LookupOutcome::NoAddresses {
                        ttl: Some(ttl),
                        reason: "no AAAA record".into(),
                    };
                }
                LookupOutcome::Found { addresses, ttl }
            }
            Err(e) if e.is_no_records_found() => LookupOutcome::NoAddresses {
                ttl: None,
                reason: if e.is_nx_domain() {
                    "NXDOMAIN".into()
                } else {
                    "no AAAA record".into()
                },
            },
            Err(e) => LookupOutcome::Failed(e.to_string()),
        }
    }
}

/// Answers from a table that can change while the agent runs (tests,
/// benchmarks): a name maps to addresses and a TTL; a missing name has no
/// addresses.
#[derive(Debug, Default)]
pub struct StaticLookup {
    table: std::sync::Mutex<std::collections::HashMap<String, (BTreeSet<Ipv6Addr>, Duration)>>,
}

impl StaticLookup {
    pub fn new() -> StaticLookup {
        StaticLookup::default()
    }

    /// Answer `name` with `addresses`, valid for `ttl`, from now on.
    pub fn set(&self, name: &str, addresses: &[Ipv6Addr], ttl: Duration) {
        if let Ok(mut table) = self.table.lock() {
            table.insert(name.to_owned(), (addresses.iter().copied().collect(), ttl));
        }
    }
}

impl Lookup for StaticLookup {
    async fn aaaa(&self, name: &str) -> LookupOutcome {
        let entry = self.table.lock().ok().and_then(|t| t.get(name).cloned());
        match entry {
            Some((addresses, ttl)) if !addresses.is_empty() => {
                LookupOutcome::Found { addresses, ttl }
            }
            Some((_, ttl)) => LookupOutcome::NoAddresses {
                ttl: Some(ttl),
                reason: "no AAAA record".into(),
            },
            None => LookupOutcome::NoAddresses {
                ttl: None,
                reason: "NXDOMAIN".into(),
            },
        }
    }
}

/// How long until `name` is asked again after `outcome`; `failures` counts
/// consecutive failed lookups.
fn next_wait(outcome: &LookupOutcome, refresh: &Refresh, failures: u32) -> Duration {
    match outcome {
        LookupOutcome::Found { ttl, .. } => (*ttl).clamp(refresh.min, refresh.max),
        LookupOutcome::NoAddresses { ttl, .. } => ttl
            .unwrap_or(refresh.max_retry)
            .clamp(refresh.min, refresh.max_retry),
        LookupOutcome::Failed(_) => {
            let factor = 1u32 << failures.min(16);
            refresh.retry.saturating_mul(factor).min(refresh.max_retry)
        }
    }
}

/// Keep resolving `name` until `stop` turns true or the owner is gone.
pub async fn resolve_forever<L: Lookup>(
    lookup: std::sync::Arc<L>,
    name: String,
    refresh: Refresh,
    owner: mpsc::Sender<Update>,
    mut stop: watch::Receiver<bool>,
) {
    let mut failures = 0u32;
    loop {
        let outcome = tokio::select! {
            outcome = lookup.aaaa(&name) => outcome,
            _ = stop.wait_for(|s| *s) => return,
        };
        let wait = next_wait(&outcome, &refresh, failures);
        match &outcome {
            LookupOutcome::Failed(e) => {
                failures += 1;
                warn!(%name, error = %e, retry_in = ?wait, "DNS lookup failed; keeping the last addresses");
            }
            other => {
                failures = 0;
                debug!(%name, outcome = ?other, next_in = ?wait, "DNS answer");
            }
        }
        let now = SystemTime::now();
        let answer = DnsAnswer {
            name: name.clone(),
            outcome,
            at: now,
            next: now + wait,
        };
        if owner.send(Update::Dns(answer)).await.is_err() {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolvers_are_the_ipv6_name_servers_in_file_order_once() {
        let text = b"# lab\nsearch hawk.net\nnameserver fcbb:cc00:4::f\nnameserver 192.0.2.53\n\
                     nameserver fc00:d::1\nnameserver fcbb:cc00:4::f\noptions ndots:1\n";
        let conf = ResolvConf::parse(text, "resolv.conf").unwrap();
        assert_eq!(
            conf.resolvers,
            ["fcbb:cc00:4::f", "fc00:d::1"]
                .map(|s| s.parse::<Ipv6Addr>().unwrap())
                .to_vec()
        );
        let none = ResolvConf::parse(b"nameserver 192.0.2.53\n", "resolv.conf").unwrap();
        assert!(none.resolvers.is_empty());
    }

    #[test]
    fn waits_follow_ttl_within_bounds_and_back_off_on_failure() {
        let r = Refresh::default();
        let found = |s| LookupOutcome::Found {
            addresses: BTreeSet::new(),
            ttl: Duration::from_secs(s),
        };
        assert_eq!(next_wait(&found(60), &r, 0), Duration::from_secs(60));
        assert_eq!(next_wait(&found(0), &r, 0), Duration::from_secs(1));
        assert_eq!(next_wait(&found(86400), &r, 0), Duration::from_secs(3600));
        let failed = LookupOutcome::Failed("timeout".into());
        assert_eq!(next_wait(&failed, &r, 0), Duration::from_secs(1));
        assert_eq!(next_wait(&failed, &r, 3), Duration::from_secs(8));
        assert_eq!(next_wait(&failed, &r, 40), Duration::from_secs(30));
        let none = LookupOutcome::NoAddresses {
            ttl: Some(Duration::from_secs(5)),
            reason: "NXDOMAIN".into(),
        };
        assert_eq!(next_wait(&none, &r, 0), Duration::from_secs(5));
    }
}
