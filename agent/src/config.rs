//! The client configuration: the original agent's (hawkwing) YAML, so a file
//! written for it works unchanged, plus `proto` per application.
//!
//! Two stages, like the topology crate: [`RawConfig`] (serde structs keeping
//! the line and column of every value) -> [`Config`] (checked, every problem
//! reported at once as `file:line:column: field: message`). Intents are
//! written and checked by the shared rule ([`intent_proto::config`],
//! [`intent_proto::validate`]), the one the controller answers by.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv6Addr;
use std::path::Path;

use dataplane::Proto;
use intent_proto::api;
use intent_proto::config::{self as intent_config, IntentConfig};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::{Location, Spanned};
use topology::raw::SpannedMap;
use topology::{Problem, Problems};

use crate::request::IntentsKey;

/// The controller port when `hawkeye.port` is not given (the original's).
pub const DEFAULT_CONTROLLER_PORT: u16 = 5001;

/// A configuration file as written.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "srv6-agent client configuration",
    description = "Services, their applications (port, protocol) and the intents or SID lists that steer them (see docs/agent.md). The original hawkwing agent's format."
)]
pub struct RawConfig {
    /// Source address of path requests (default: the interface's global address).
    #[schemars(with = "Option<String>")]
    pub client_ipv6_address: Option<Spanned<String>>,
    /// The intent controller, used when `--controller` is not given.
    #[serde(default)]
    pub hawkeye: Option<RawController>,
    /// Services by name.
    #[schemars(with = "BTreeMap<String, RawService>")]
    pub services: SpannedMap<RawService>,
}

/// `hawkeye:` (the original controller's name).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawController {
    /// Ask this controller for paths (default false: standalone mode).
    #[schemars(with = "Option<bool>")]
    pub enabled: Option<Spanned<bool>>,
    /// IPv6 address or host name of the controller.
    #[schemars(with = "Option<String>")]
    pub address: Option<Spanned<String>>,
    /// Port of the intent service (default 5001).
    #[schemars(with = "Option<u16>")]
    pub port: Option<Spanned<i64>>,
}

/// One service: where it is and its applications.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    /// DNS name, resolved (and snooped) by the agent; wins over `ipv6_addresses`.
    #[schemars(with = "Option<String>")]
    pub domain_name: Option<Spanned<String>>,
    /// Fixed addresses (when there is no `domain_name`).
    #[schemars(with = "Option<Vec<String>>")]
    pub ipv6_addresses: Option<Spanned<Vec<Spanned<String>>>>,
    /// Applications of the service, by port.
    #[schemars(with = "Vec<RawApplication>")]
    pub applications: Spanned<Vec<Spanned<RawApplication>>>,
}

/// Transport protocol of an application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProtoName {
    Tcp,
    Udp,
}

/// One application: a port and how to steer its traffic.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawApplication {
    /// Destination port, 1..=65535.
    #[schemars(with = "u16")]
    pub port: Spanned<i64>,
    /// `tcp` (default) or `udp`.
    #[schemars(with = "Option<ProtoName>")]
    pub proto: Option<Spanned<ProtoName>>,
    /// SID list in travel order (first hop first), at most 16: the path in
    /// standalone mode, the fallback while the controller has no answer.
    #[schemars(with = "Option<Vec<String>>")]
    pub sid: Option<Spanned<Vec<Spanned<String>>>>,
    /// Intents sent to the controller, in priority order.
    #[schemars(with = "Option<Vec<IntentConfig>>")]
    pub intents: Option<Spanned<Vec<IntentConfig>>>,
}

/// A checked configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `client_ipv6_address`.
    pub source: Option<Ipv6Addr>,
    /// The controller from `hawkeye` when enabled, as a URL.
    pub controller: Option<String>,
    pub services: Vec<Service>,
    /// Accepted but worth saying (`file:line:column: field: message`).
    pub warnings: Vec<String>,
}

/// Where a service is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A DNS name (lower case, no trailing dot).
    Name(String),
    Addresses(Vec<Ipv6Addr>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: String,
    /// 1-based position in the file: the service id of the DNS-snooping maps.
    pub id: u32,
    pub target: Target,
    pub applications: Vec<Application>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Application {
    pub port: u16,
    pub proto: Proto,
    /// Travel order, 1..=16 SIDs.
    pub sids: Option<Vec<Ipv6Addr>>,
    /// Wire intents (empty: none configured).
    pub intents: Vec<api::Intent>,
    /// The intents as a comparable key (what results are matched by).
    pub intents_key: IntentsKey,
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Not a readable regular UTF-8 file within the size limit.
    #[error(transparent)]
    Read(#[from] topology::ReadFileError),
    /// Every problem of the file, one `file:line:column: field: message` per line.
    #[error("{}", Problems { file, problems })]
    Invalid {
        file: String,
        problems: Vec<Problem>,
    },
}

impl Config {
    /// Read and check a configuration file (a regular file of at most
    /// [`topology::MAX_INPUT_FILE_BYTES`]).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        // The workspace's one rule for files a user names (regular, bounded, UTF-8).
        let text = topology::read_input_file(path, topology::MAX_INPUT_FILE_BYTES)?;
        Config::parse(&text, &path.display().to_string())
    }

    /// Check configuration YAML; `file` names it in problems.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let invalid = |problems| ConfigError::Invalid {
            file: file.to_owned(),
            problems,
        };
        let raw: RawConfig = serde_saphyr::from_str(text)
            .map_err(|e| invalid(vec![topology::syntax_problem(&e, text)]))?;
        let mut cx = Checker::default();
        let config = cx.config(&raw, file);
        if cx.problems.is_empty() {
            Ok(config)
        } else {
            cx.problems.sort_by_key(|p| (p.line, p.column));
            Err(invalid(cx.problems))
        }
    }

    /// Whether paths come from a controller (`hawkeye.enabled`).
    pub fn has_controller(&self) -> bool {
        self.controller.is_some()
    }

    /// One line: mode, services, applications.
    pub fn summary(&self) -> String {
        let mode = match &self.controller {
            Some(url) => format!("controller mode ({url})"),
            None => "standalone mode".to_owned(),
        };
        let apps: usize = self.services.iter().map(|s| s.applications.len()).sum();
        format!(
            "{mode}, {} services, {apps} applications",
            self.services.len()
        )
    }
}

/// Collects problems; never stops at the first.
#[derive(Default)]
struct Checker {
    problems: Vec<Problem>,
    warnings: Vec<Problem>,
}

fn problem(at: &Location, field: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem {
        line: at.line() as u32,
        column: at.column() as u32,
        field: field.into(),
        message: message.into(),
    }
}

impl Checker {
    fn err(&mut self, at: &Location, field: impl Into<String>, message: impl Into<String>) {
        self.problems.push(problem(at, field, message));
    }

    fn addr(&mut self, s: &Spanned<String>, field: &str) -> Option<Ipv6Addr> {
        // The lab's address rule, then the dataplane's (which also sets
        // apart IPv4-mapped and -compatible addresses): what passes here
        // `set_path` accepts.
        let checked = topology::unicast_address(&s.value).and_then(|a| {
            match dataplane::address::unusable(a) {
                Some(why) => Err(format!(
                    "{a} is {why}; a path leads to IPv6 unicast addresses"
                )),
                None => Ok(a),
            }
        });
        checked
            .map_err(|message| self.err(&s.referenced, field, message))
            .ok()
    }

    fn config(&mut self, raw: &RawConfig, file: &str) -> Config {
        let source = raw
            .client_ipv6_address
            .as_ref()
            .and_then(|s| self.addr(s, "client_ipv6_address"));
        let controller = raw.hawkeye.as_ref().and_then(|h| self.controller(h));
        let services = self.services(raw);
        let warnings = self
            .warnings
            .iter()
            .map(|w| {
                Problems {
                    file,
                    problems: std::slice::from_ref(w),
                }
                .to_string()
            })
            .collect();
        Config {
            source,
            controller,
            services,
            warnings,
        }
    }

    fn controller(&mut self, raw: &RawController) -> Option<String> {
        let enabled = raw.enabled.as_ref().is_some_and(|e| e.value);
        let port = match &raw.port {
            None => Some(DEFAULT_CONTROLLER_PORT),
            Some(p) => u16::try_from(p.value).ok().filter(|p| *p > 0).or_else(|| {
                let message = format!("{} is not a port (1..=65535)", p.value);
                self.err(&p.referenced, "hawkeye.port", message);
                None
            }),
        };
        let host = match (&raw.address, &raw.enabled) {
            (Some(a), _) => self.controller_host(a),
            (None, Some(e)) if enabled => {
                self.err(
                    &e.referenced,
                    "hawkeye.address",
                    "required when hawkeye.enabled is true",
                );
                None
            }
            (None, _) => None,
        };
        let url = format!("http://{}:{}", host?, port?);
        enabled.then_some(url)
    }

    /// `[address]` or a host name, as a URL writes it.
    fn controller_host(&mut self, address: &Spanned<String>) -> Option<String> {
        let host = address.value.trim();
        if let Ok(a) = host.parse::<Ipv6Addr>() {
            return Some(format!("[{a}]"));
        }
        if !host.is_empty() && !host.contains(':') && topology::names::dns_name(host).is_ok() {
            return Some(host.trim_end_matches('.').to_owned());
        }
        self.err(
            &address.referenced,
            "hawkeye.address",
            format!("{host:?} is neither an IPv6 address nor a host name"),
        );
        None
    }

    fn services(&mut self, raw: &RawConfig) -> Vec<Service> {
        let mut services = Vec::new();
        // (address or name) -> where first configured, to refuse the same
        // destination key in two services (one map entry cannot serve both).
        let mut names: HashMap<String, String> = HashMap::new();
        let mut keys: HashMap<(Ipv6Addr, u16, Proto), String> = HashMap::new();
        for (index, (name, raw_service)) in raw.services.0.iter().enumerate() {
            let field = format!("services.{}", name.value);
            let target = self.target(raw_service, &name.referenced, &field);
            let applications = self.applications(&raw_service.applications, &field);
            match &target {
                Some(Target::Name(dns)) => {
                    if let Some(first) = names.insert(dns.clone(), field.clone()) {
                        let at = raw_service
                            .domain_name
                            .as_ref()
                            .map_or(name.referenced, |d| d.referenced);
                        self.err(
                            &at,
                            format!("{field}.domain_name"),
                            format!("{dns} is already the name of {first}"),
                        );
                    }
                }
                Some(Target::Addresses(addrs)) => {
                    for addr in addrs {
                        for app in &applications {
                            let key = (*addr, app.port, app.proto);
                            if let Some(first) = keys.insert(key, field.clone()) {
                                self.err(
                                    &name.referenced,
                                    &field,
                                    format!(
                                        "[{addr}]:{} {} is also configured in {first}",
                                        app.port, app.proto
                                    ),
                                );
                            }
                        }
                    }
                }
                None => {}
            }
            let id = u32::try_from(index + 1).unwrap_or(u32::MAX);
            if let Some(target) = target {
                services.push(Service {
                    name: name.value.clone(),
                    id,
                    target,
                    applications,
                });
            }
        }
        services
    }

    fn target(&mut self, raw: &RawService, at: &Location, field: &str) -> Option<Target> {
        let addresses = raw.ipv6_addresses.as_ref().map(|list| {
            if list.value.is_empty() {
                self.err(
                    &list.referenced,
                    format!("{field}.ipv6_addresses"),
                    "the list is empty",
                );
            }
            list.value
                .iter()
                .enumerate()
                .filter_map(|(i, a)| self.addr(a, &format!("{field}.ipv6_addresses[{i}]")))
                .collect::<Vec<_>>()
        });
        match (&raw.domain_name, addresses) {
            (Some(name), addresses) => {
                if let Some(list) = raw.ipv6_addresses.as_ref().filter(|_| addresses.is_some()) {
                    self.warnings.push(problem(
                        &list.referenced,
                        format!("{field}.ipv6_addresses"),
                        "ignored: domain_name wins (as in the original agent)",
                    ));
                }
                match topology::names::qualified_dns_name(&name.value) {
                    Ok(n) => Some(Target::Name(n.to_ascii().trim_end_matches('.').to_owned())),
                    Err(e) => {
                        self.err(
                            &name.referenced,
                            format!("{field}.domain_name"),
                            e.to_string(),
                        );
                        None
                    }
                }
            }
            (None, Some(addresses)) => Some(Target::Addresses(addresses)),
            (None, None) => {
                self.err(at, field, "needs a domain_name or ipv6_addresses");
                None
            }
        }
    }

    fn applications(
        &mut self,
        raw: &Spanned<Vec<Spanned<RawApplication>>>,
        service_field: &str,
    ) -> Vec<Application> {
        if raw.value.is_empty() {
            self.err(
                &raw.referenced,
                format!("{service_field}.applications"),
                "no applications",
            );
        }
        let mut seen: HashMap<(u16, Proto), usize> = HashMap::new();
        let mut out = Vec::new();
        for (i, app) in raw.value.iter().enumerate() {
            let field = format!("{service_field}.applications[{i}]");
            let Some(parsed) = self.application(app, &field) else {
                continue;
            };
            if let Some(first) = seen.insert((parsed.port, parsed.proto), i) {
                self.err(
                    &app.value.port.referenced,
                    format!("{field}.port"),
                    format!(
                        "port {} {} is already applications[{first}]",
                        parsed.port, parsed.proto
                    ),
                );
                continue;
            }
            out.push(parsed);
        }
        out
    }

    fn application(&mut self, app: &Spanned<RawApplication>, field: &str) -> Option<Application> {
        let raw = &app.value;
        let port = match u16::try_from(raw.port.value) {
            Ok(p) if p > 0 => Some(p),
            _ => {
                self.err(
                    &raw.port.referenced,
                    format!("{field}.port"),
                    format!("{} is not a port (1..=65535)", raw.port.value),
                );
                None
            }
        };
        let proto = match raw.proto.as_ref().map(|p| p.value) {
            None | Some(ProtoName::Tcp) => Proto::Tcp,
            Some(ProtoName::Udp) => Proto::Udp,
        };
        let sids = match &raw.sid {
            None => Some(None),
            Some(list) => self.sids(list, &format!("{field}.sid")).map(Some),
        };
        let intents = match &raw.intents {
            Some(list) => match intent_config::to_wire(&list.value, list.referenced) {
                Ok(wire) => Some(wire),
                Err(e) => {
                    self.err(&e.location, format!("{field}.{}", e.field), e.message);
                    None
                }
            },
            None => Some(Vec::new()),
        };
        if raw.sid.is_none() && raw.intents.is_none() {
            self.err(
                &app.referenced,
                field,
                "needs intents (controller mode) or a sid list (standalone), or both",
            );
        }
        let (port, sids, intents) = (port?, sids?, intents?);
        Some(Application {
            port,
            proto,
            sids,
            intents_key: IntentsKey::from_wire(&intents),
            intents,
        })
    }

    /// `None` when a problem was recorded.
    fn sids(&mut self, raw: &Spanned<Vec<Spanned<String>>>, field: &str) -> Option<Vec<Ipv6Addr>> {
        let n = raw.value.len();
        if n == 0 || n > srh::MAX_SIDS {
            self.err(
                &raw.referenced,
                field,
                format!(
                    "{n} SIDs: a path holds 1 to {} (the dataplane's limit)",
                    srh::MAX_SIDS
                ),
            );
            return None;
        }
        let before = self.problems.len();
        let sids: Vec<Ipv6Addr> = raw
            .value
            .iter()
            .enumerate()
            .filter_map(|(i, s)| self.addr(s, &format!("{field}[{i}]")))
            .collect();
        (self.problems.len() == before).then_some(sids)
    }
}
