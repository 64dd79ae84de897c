//! The pure planner: (configuration, controller answers, DNS answers) ->
//! the map state the client dataplane should hold. No I/O; the applier
//! ([`crate::apply`]) writes the difference.
//!
//! Rules, per service (file order) × address × application:
//! - **controller mode**, application with intents: one request per
//!   (address, intents with values); its answer's path (origin
//!   `controller`), else the application's `sid` list (origin `fallback`:
//!   no answer yet, a controller error, or a refused path), else no path;
//! - an application with only a `sid` list, or any application in
//!   **standalone mode**: its `sid` list (origin `config`);
//! - a name's addresses are the last DNS answer (none before the first);
//!   in standalone mode the name also goes into the DNS-snooping map with
//!   a service path per application, so addresses the application itself
//!   resolves are steered too;
//! - the same (address, port, protocol) from two services (two names
//!   resolving to one address): the first service in the file wins.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv6Addr;

use crate::config::{Application, Config, Service, Target};
use crate::port::{PathKey, ServicePathKey};
use crate::request::{Answer, RequestKey};

/// Where paths come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// SID lists from the configuration, names snooped and resolved.
    Standalone,
    /// Paths from the controller; `sid` lists are fallbacks.
    Controller,
}

/// Where one entry's SID list came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// The `sid` list, as the configured path.
    Config,
    /// The controller's answer.
    Controller,
    /// The `sid` list, standing in for a controller answer.
    Fallback,
    /// Not steered (no answer and no `sid` list).
    None,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Config => "config",
            Origin::Controller => "controller",
            Origin::Fallback => "fallback",
            Origin::None => "none",
        }
    }
}

/// One (service, address, port, protocol) and what it gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub service: String,
    pub key: PathKey,
    /// Empty when not steered.
    pub sids: Vec<Ipv6Addr>,
    pub origin: Origin,
    /// The request that decides it (controller mode, with intents).
    pub request: Option<RequestKey>,
    /// Why there is no controller path (its error, or "no answer yet").
    pub note: Option<String>,
}

/// The wanted state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wanted {
    /// Every entry, steered or not, in configuration order.
    pub entries: Vec<Entry>,
    pub service_paths: BTreeMap<ServicePathKey, Vec<Ipv6Addr>>,
    pub dns_names: BTreeMap<String, u32>,
    /// The requests the controller should have (controller mode).
    pub requests: BTreeSet<RequestKey>,
    /// Entries dropped because an earlier service has the same key.
    pub conflicts: Vec<String>,
}

impl Wanted {
    /// The steered entries as the map should hold them.
    pub fn paths(&self) -> BTreeMap<PathKey, &[Ipv6Addr]> {
        self.entries
            .iter()
            .filter(|e| !e.sids.is_empty())
            .map(|e| (e.key, e.sids.as_slice()))
            .collect()
    }
}

/// Everything the plan depends on.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    pub config: &'a Config,
    pub mode: Mode,
    pub answers: &'a HashMap<RequestKey, Answer>,
    /// Name -> its current addresses (absent: not resolved yet).
    pub dns: &'a BTreeMap<String, BTreeSet<Ipv6Addr>>,
}

/// Compute the wanted state.
pub fn plan(inputs: Inputs<'_>) -> Wanted {
    let mut wanted = Wanted::default();
    let mut taken: HashMap<PathKey, String> = HashMap::new();
    for service in &inputs.config.services {
        plan_snooping(&mut wanted, inputs.mode, service);
        for address in addresses(&inputs, service) {
            for app in &service.applications {
                let key = PathKey {
                    destination: address,
                    port: app.port,
                    proto: app.proto,
                };
                if let Some(first) = taken.get(&key) {
                    wanted.conflicts.push(format!(
                        "{key}: service {} is not steered there, {first} already is",
                        service.name
                    ));
                    continue;
                }
                taken.insert(key, service.name.clone());
                let entry = plan_entry(&inputs, service, app, key);
                if let Some(request) = &entry.request {
                    wanted.requests.insert(request.clone());
                }
                wanted.entries.push(entry);
            }
        }
    }
    wanted
}

fn addresses(inputs: &Inputs<'_>, service: &Service) -> Vec<Ipv6Addr> {
    match &service.target {
        Target::Addresses(list) => list.clone(),
        Target::Name(name) => inputs
            .dns
            .get(name)
            .map(|set| set.iter().copied().collect())
            .unwrap_or_default(),
    }
}

/// Standalone mode: the name into the snooping map, a service path per application.
fn plan_snooping(wanted: &mut Wanted, mode: Mode, service: &Service) {
    let Target::Name(name) = &service.target else {
        return;
    };
    if mode != Mode::Standalone {
        return;
    }
    wanted.dns_names.insert(name.clone(), service.id);
    for app in &service.applications {
        if let Some(sids) = &app.sids {
            let key = ServicePathKey {
                service: service.id,
                port: app.port,
                proto: app.proto,
            };
            wanted.service_paths.insert(key, sids.clone());
        }
    }
}

fn plan_entry(inputs: &Inputs<'_>, service: &Service, app: &Application, key: PathKey) -> Entry {
    let configured = app.sids.clone().unwrap_or_default();
    let mut entry = Entry {
        service: service.name.clone(),
        key,
        origin: if configured.is_empty() {
            Origin::None
        } else {
            Origin::Config
        },
        sids: configured,
        request: None,
        note: None,
    };
    if inputs.mode == Mode::Standalone || app.intents_key.is_empty() {
        return entry;
    }
    let request = RequestKey {
        destination: key.destination,
        intents: app.intents_key.clone(),
    };
    match inputs.answers.get(&request) {
        Some(Answer::Path(sids)) => {
            entry.sids = sids.clone();
            entry.origin = Origin::Controller;
        }
        other => {
            entry.note = Some(match other {
                Some(Answer::Error(e)) => e.clone(),
                _ => "no answer from the controller yet".to_owned(),
            });
            if entry.origin == Origin::Config {
                entry.origin = Origin::Fallback;
            }
        }
    }
    entry.request = Some(request);
    entry
}
