//! Active DNS resolution of the configured names: at start and again when
//! each answer's TTL runs out, through the namespace's resolver
//! (hickory-resolver reading `/etc/resolv.conf`, which `ip netns exec`
//! replaces by `/etc/netns/NS/resolv.conf`). Each answer goes to the
//! dataplane's owner, which replans: new addresses are steered (and, in
//! controller mode, requested), vanished ones removed.
//!
//! A name that does not exist (NXDOMAIN) or has no AAAA record has no
//! addresses; a lookup that fails (timeout, refused) keeps the last
//! addresses and is retried with backoff.

use std::collections::BTreeSet;
use std::future::Future;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::TokioResolver;
use tokio::sync::{mpsc, watch};
use tracing::{debug, warn};

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

/// The namespace's resolver.
#[derive(Debug, Clone)]
pub struct HickoryLookup {
    resolver: TokioResolver,
}

/// Why the resolver could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("DNS resolver: {0}")]
pub struct ResolverError(String);

impl HickoryLookup {
    /// From `/etc/resolv.conf`, answers not cached by the resolver (the
    /// agent keeps them itself and asks again at expiry).
    pub fn from_system() -> Result<HickoryLookup, ResolverError> {
        let mut builder =
            TokioResolver::builder_tokio().map_err(|e| ResolverError(e.to_string()))?;
        builder.options_mut().cache_size = 0;
        Ok(HickoryLookup {
            resolver: builder.build().map_err(|e| ResolverError(e.to_string()))?,
        })
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
        let mut options = ResolverOpts::default();
        options.cache_size = 0;
        let resolver = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
            .with_options(options)
            .build()
            .map_err(|e| ResolverError(e.to_string()))?;
        Ok(HickoryLookup { resolver })
    }
}

/// The IPv6 resolvers of `/etc/resolv.conf` (what DNS snooping should
/// believe; logged at start until the dataplane takes them).
pub fn system_resolvers() -> Result<Vec<Ipv6Addr>, ResolverError> {
    let (config, _) = hickory_resolver::system_conf::read_system_conf()
        .map_err(|e| ResolverError(e.to_string()))?;
    let mut out: Vec<Ipv6Addr> = config
        .name_servers()
        .iter()
        .filter_map(|ns| match ns.ip {
            IpAddr::V6(v6) => Some(v6),
            IpAddr::V4(_) => None,
        })
        .collect();
    out.dedup();
    Ok(out)
}

impl Lookup for HickoryLookup {
    async fn aaaa(&self, name: &str) -> LookupOutcome {
        // Fully qualified: no search-domain guesses.
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        match self.resolver.lookup(fqdn, RecordType::AAAA).await {
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
