//! Steps: exactly one action each; traffic, join, link, dns, controller,
//! controller_push, agent_restart, wait (expectations: `expect.rs`).

use serde_saphyr::Spanned;
use topology::units::{parse_bandwidth_kbps, parse_bytes, parse_duration_us, parse_percent};
use topology::{AgentRole, LinkProps, NodeKind};

use super::{Cx, FlowDef};
use crate::scenario::model::*;
use crate::scenario::raw::*;
use crate::traffic::MIN_DATAGRAM_SIZE;

impl Cx<'_> {
    pub(super) fn step(&mut self, index: usize, raw: &Spanned<RawStep>) -> Option<Step> {
        let s = &raw.value;
        let field = format!("steps[{index}]");
        let actions = [
            ("traffic", s.traffic.is_some()),
            ("join", s.join.is_some()),
            ("link", s.link.is_some()),
            ("dns", s.dns.is_some()),
            ("controller", s.controller.is_some()),
            ("controller_push", s.controller_push.is_some()),
            ("agent_restart", s.agent_restart.is_some()),
            ("wait", s.wait.is_some()),
            ("expect", s.expect.is_some()),
        ];
        self.one_of(&raw.referenced, &field, "a step", &actions)?;
        let action = self.action(index, s, &field)?;
        Some(Step {
            index,
            id: s.id.as_ref().map(|i| i.value.clone()),
            line: u32::try_from(raw.referenced.line()).unwrap_or(u32::MAX),
            action,
        })
    }

    fn action(&mut self, index: usize, s: &RawStep, field: &str) -> Option<Action> {
        if let Some(t) = &s.traffic {
            return self
                .traffic(&t.value, &format!("{field}.traffic"))
                .map(Action::Traffic);
        }
        if let Some(j) = &s.join {
            return self.join(j, &format!("{field}.join")).map(Action::Join);
        }
        if let Some(l) = &s.link {
            return self.link(l, &format!("{field}.link")).map(Action::Link);
        }
        if let Some(d) = &s.dns {
            return self.dns(&d.value, &format!("{field}.dns")).map(Action::Dns);
        }
        if let Some(c) = &s.controller {
            self.needs_controller(&c.referenced, &format!("{field}.controller"));
            return Some(match c.value {
                RawControllerAction::Stop => Action::ControllerStop,
                RawControllerAction::Start => Action::ControllerStart,
            });
        }
        if let Some(p) = &s.controller_push {
            let f = format!("{field}.controller_push");
            return self.push(p, &f).map(Action::ControllerPush);
        }
        if let Some(h) = &s.agent_restart {
            let f = format!("{field}.agent_restart");
            self.node_of(h, &f, &[NodeKind::Host])?;
            if self.agent_role(&h.value).is_none() {
                self.err(&h.referenced, &f, format!("{} runs no agent", h.value));
                return None;
            }
            return Some(Action::AgentRestart(h.value.clone()));
        }
        if let Some(w) = &s.wait {
            return self.wait(w, &format!("{field}.wait")).map(Action::Wait);
        }
        let list = s.expect.as_ref()?;
        self.expectations(index, list, &format!("{field}.expect"))
            .map(Action::Expect)
    }

    fn needs_controller(&mut self, at: &serde_saphyr::Location, field: &str) {
        if self.controller_mode == ControllerMode::None {
            self.err(
                at,
                field,
                "no controller runs in this scenario (controller.mode is none)",
            );
        }
    }

    fn traffic(&mut self, t: &RawTraffic, field: &str) -> Option<Traffic> {
        let name = self.flow_name(&t.name, &format!("{field}.name"));
        let from = self.node_of(&t.from, &format!("{field}.from"), &[NodeKind::Host]);
        let to = self.target(&t.to, &format!("{field}.to"));
        let port = self.port(&t.port, &format!("{field}.port"));
        let amount = self.amount(t, field);
        let flows = match &t.flows {
            Some(f) => self.int_in(f, &format!("{field}.flows"), 1..=i64::from(MAX_FLOWS)),
            None => Some(1),
        };
        let proto = match t.proto.as_ref().map(|p| p.value) {
            Some(RawProto::Udp) => Proto::Udp,
            _ => Proto::Tcp,
        };
        let (datagram_size, rate_kbps) = self.udp_options(t, proto, field);
        let to_node = to
            .as_ref()
            .and_then(|to| self.topo?.node_for_address(to.address))
            .map(|n| n.name.clone());
        if let (Some(from), Some(to_node)) = (from, &to_node) {
            if from.name == *to_node {
                self.err(
                    &t.to.referenced,
                    format!("{field}.to"),
                    "a flow cannot go to its own host",
                );
            }
        }
        let background = t.background.as_ref().is_some_and(|b| b.value);
        // Registered even when other fields are wrong, so later steps that
        // name the flow do not add problems of their own.
        if let Some(name) = &name {
            self.flows.insert(
                name.clone(),
                FlowDef {
                    from: from.map(|f| f.name.clone()),
                    to_node,
                    background,
                    joined: false,
                },
            );
        }
        Some(Traffic {
            name: name?,
            proto,
            from: from?.name.clone(),
            to: to?,
            port: port?,
            amount: amount?,
            flows: u32::try_from(flows?).ok()?,
            echo: t.echo.as_ref().is_some_and(|e| e.value),
            background,
            datagram_size: datagram_size?,
            rate_kbps: rate_kbps?,
        })
    }

    fn flow_name(&mut self, raw: &Spanned<String>, field: &str) -> Option<String> {
        let name = &raw.value;
        let ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok {
            self.err(
                &raw.referenced,
                field,
                format!("{name:?} is not a flow name: use letters, digits, '-' and '_'"),
            );
            return None;
        }
        if self.flows.contains_key(name) {
            self.err(
                &raw.referenced,
                field,
                format!("flow {name:?} is started twice"),
            );
            return None;
        }
        Some(name.clone())
    }

    fn amount(&mut self, t: &RawTraffic, field: &str) -> Option<Amount> {
        match (&t.bytes, &t.duration) {
            (Some(b), None) => {
                let f = format!("{field}.bytes");
                let n = self.unit(b, &f, parse_bytes)?;
                if n == 0 {
                    self.err(&b.referenced, &f, "a flow sends at least one byte");
                    return None;
                }
                Some(Amount::Bytes(n))
            }
            (None, Some(d)) => {
                let f = format!("{field}.duration");
                let us = self.unit(d, &f, parse_duration_us)?;
                if us == 0 {
                    self.err(&d.referenced, &f, "a duration must be longer than 0");
                    return None;
                }
                Some(Amount::Duration(std::time::Duration::from_micros(us)))
            }
            (Some(b), Some(_)) => {
                self.err(&b.referenced, field, "give `bytes` or `duration`, not both");
                None
            }
            (None, None) => {
                self.err(
                    &t.name.referenced,
                    field,
                    "a flow needs `bytes` or `duration`",
                );
                None
            }
        }
    }

    /// `datagram_size` and `rate`: UDP only, with defaults.
    fn udp_options(
        &mut self,
        t: &RawTraffic,
        proto: Proto,
        field: &str,
    ) -> (Option<u32>, Option<u64>) {
        if proto == Proto::Tcp {
            for (name, at) in [
                (
                    "datagram_size",
                    t.datagram_size.as_ref().map(|d| d.referenced),
                ),
                ("rate", t.rate.as_ref().map(|r| r.referenced)),
            ] {
                if let Some(at) = at {
                    self.err(&at, format!("{field}.{name}"), "only UDP flows take this");
                }
            }
        }
        let size = match &t.datagram_size {
            Some(d) => self
                .int_in(
                    d,
                    &format!("{field}.datagram_size"),
                    i64::from(MIN_DATAGRAM_SIZE)..=65507,
                )
                .and_then(|n| u32::try_from(n).ok()),
            None => Some(DEFAULT_DATAGRAM_SIZE),
        };
        let rate = match &t.rate {
            Some(r) => self.unit(r, &format!("{field}.rate"), parse_bandwidth_kbps),
            None => Some(DEFAULT_UDP_RATE_KBPS),
        };
        (size, rate)
    }

    fn join(&mut self, raw: &Spanned<String>, field: &str) -> Option<String> {
        let flow = self.flow(raw, field)?;
        if !flow.background {
            self.err(
                &raw.referenced,
                field,
                format!(
                    "flow {:?} is not a background flow: its step already waited for it",
                    raw.value
                ),
            );
            return None;
        }
        if flow.joined {
            self.err(
                &raw.referenced,
                field,
                format!("flow {:?} is joined twice", raw.value),
            );
            return None;
        }
        if let Some(f) = self.flows.get_mut(&raw.value) {
            f.joined = true;
        }
        Some(raw.value.clone())
    }

    fn link(&mut self, raw: &Spanned<RawLinkChange>, field: &str) -> Option<LinkChange> {
        let l = &raw.value;
        let hop = self.hop(&l.between, &format!("{field}.between"));
        let unit = |cx: &mut Self, v: &Option<Spanned<topology::raw::Scalar>>, name, parse| {
            v.as_ref()
                .and_then(|v| cx.unit(v, &format!("{field}.{name}"), parse))
        };
        let props = LinkProps {
            bandwidth_kbps: unit(self, &l.bandwidth, "bandwidth", parse_bandwidth_kbps),
            latency_us: unit(self, &l.latency, "latency", parse_duration_us),
            jitter_us: unit(self, &l.jitter, "jitter", parse_duration_us),
            loss_pct: l
                .loss
                .as_ref()
                .and_then(|v| self.unit(v, &format!("{field}.loss"), parse_percent)),
            utilization_pct: l
                .utilization
                .as_ref()
                .and_then(|v| self.unit(v, &format!("{field}.utilization"), parse_percent)),
        };
        let igp_metric = l.igp_metric.as_ref().and_then(|m| {
            self.int_in(m, &format!("{field}.igp_metric"), 1..=i64::from(u32::MAX))
                .and_then(|n| u32::try_from(n).ok())
        });
        let any_prop = [&l.bandwidth, &l.latency, &l.jitter, &l.loss, &l.utilization]
            .iter()
            .any(|p| p.is_some());
        if !any_prop && l.up.is_none() && l.igp_metric.is_none() {
            self.err(
                &raw.referenced,
                field,
                "nothing to change: set up, bandwidth, latency, jitter, loss, utilization or igp_metric",
            );
        }
        let hop = hop?;
        let link = self.topo?.links.get(hop.link)?;
        // The step names the ends in its own order; the model's direction is
        // relative to the topology's (a, b).
        let written_is_ab = link.a.node == hop.from;
        let direction = match (l.direction.as_ref().map(|d| d.value), written_is_ab) {
            (None | Some(RawLinkDirection::Both), _) => LinkDirection::Both,
            (Some(RawLinkDirection::AToB), true) | (Some(RawLinkDirection::BToA), false) => {
                LinkDirection::AToB
            }
            (Some(RawLinkDirection::AToB), false) | (Some(RawLinkDirection::BToA), true) => {
                LinkDirection::BToA
            }
        };
        Some(LinkChange {
            link: hop.link,
            between: [hop.from, hop.to],
            direction,
            up: l.up.as_ref().map(|u| u.value),
            props,
            igp_metric,
        })
    }

    fn dns(&mut self, d: &RawDnsChange, field: &str) -> Option<DnsChange> {
        if let Some(topo) = self.topo {
            if topo.nodes_of_kind(NodeKind::Dns).next().is_none() {
                self.err(&d.name.referenced, field, "the topology has no dns node");
            }
        }
        let name = match topology::names::qualified_dns_name(&d.name.value) {
            Ok(n) => Some(n.to_ascii().trim_end_matches('.').to_owned()),
            Err(e) => {
                self.err(&d.name.referenced, format!("{field}.name"), e.to_string());
                None
            }
        };
        let to = self.target(&d.to, &format!("{field}.to"));
        let (name, to) = (name?, to?);
        if to.kind == TargetKind::DnsName {
            self.err(
                &d.to.referenced,
                format!("{field}.to"),
                "a record points to a node or an IPv6 address, not another name",
            );
            return None;
        }
        self.records.insert(name.clone(), to.address);
        Some(DnsChange {
            name,
            address: to.address,
        })
    }

    fn push(&mut self, raw: &Spanned<RawPathPush>, field: &str) -> Option<PathPush> {
        let p = &raw.value;
        if self.controller_mode != ControllerMode::Static {
            self.err(
                &raw.referenced,
                field,
                "a path is pushed in static mode only (controller.mode: static)",
            );
        }
        let host = self.client_host(&p.host, &format!("{field}.host"));
        let to = self.target(&p.to, &format!("{field}.to"));
        let port = self.port(&p.port, &format!("{field}.port"));
        let sids = self.sids(&p.sids, &format!("{field}.sids"));
        Some(PathPush {
            host: host?,
            to: to?,
            port: port?,
            sids: sids?,
        })
    }

    /// A host running a client agent in this scenario.
    fn client_host(&mut self, raw: &Spanned<String>, field: &str) -> Option<String> {
        self.node_of(raw, field, &[NodeKind::Host])?;
        if self.agent_role(&raw.value) != Some(AgentRole::Client) {
            self.err(
                &raw.referenced,
                field,
                format!("{} runs no client agent in this scenario", raw.value),
            );
            return None;
        }
        Some(raw.value.clone())
    }

    fn wait(&mut self, raw: &Spanned<RawWait>, field: &str) -> Option<Wait> {
        let w = &raw.value;
        let deadline = match &w.deadline {
            Some(d) => {
                let f = format!("{field}.deadline");
                let us = self.unit(d, &f, parse_duration_us)?;
                if us == 0 {
                    self.err(&d.referenced, &f, "a deadline must be longer than 0");
                }
                std::time::Duration::from_micros(us)
            }
            None => DEFAULT_DEADLINE,
        };
        let conditions = [
            ("agent_path", w.agent_path.is_some()),
            ("controller_path", w.controller_path.is_some()),
            ("flow_bytes", w.flow_bytes.is_some()),
        ];
        self.one_of(&raw.referenced, field, "a wait", &conditions)?;
        let condition = self.condition(w, field)?;
        Some(Wait {
            condition,
            deadline,
        })
    }

    fn condition(&mut self, w: &RawWait, field: &str) -> Option<Condition> {
        if let Some(c) = &w.agent_path {
            let f = format!("{field}.agent_path");
            let host = self.client_host(&c.value.host, &format!("{f}.host"));
            let (to, sids) = self.path_target(&c.value, &f);
            let port = match &c.value.port {
                Some(p) => self.port(p, &format!("{f}.port")),
                None => {
                    self.err(
                        &c.referenced,
                        format!("{f}.port"),
                        "an agent path is per port: give `port`",
                    );
                    None
                }
            };
            return Some(Condition::AgentPath {
                host: host?,
                to: to?,
                port: port?,
                sids: sids?,
            });
        }
        if let Some(c) = &w.controller_path {
            let f = format!("{field}.controller_path");
            self.needs_controller(&c.referenced, &f);
            let host = self.node_of(&c.value.host, &format!("{f}.host"), &[NodeKind::Host]);
            let (to, sids) = self.path_target(&c.value, &f);
            if let Some(p) = &c.value.port {
                self.err(
                    &p.referenced,
                    format!("{f}.port"),
                    "controller sessions have no port",
                );
            }
            return Some(Condition::ControllerPath {
                host: host?.name.clone(),
                to: to?,
                sids: sids?,
            });
        }
        let c = w.flow_bytes.as_ref()?;
        let f = format!("{field}.flow_bytes");
        let flow = self.flow(&c.value.flow, &format!("{f}.flow"));
        let amounts = [
            ("at_least", c.value.at_least.is_some()),
            ("more", c.value.more.is_some()),
        ];
        let name = self.one_of(&c.referenced, &f, "flow_bytes", &amounts)?;
        let (amount, since_wait) = match (&c.value.at_least, &c.value.more) {
            (Some(a), _) => (a, false),
            (None, Some(m)) => (m, true),
            (None, None) => return None,
        };
        let bytes = self.unit(amount, &format!("{f}.{name}"), parse_bytes);
        flow?;
        Some(Condition::FlowBytes {
            flow: c.value.flow.value.clone(),
            bytes: bytes?,
            since_wait,
        })
    }

    /// `to` and the optional `sids` of a path condition; the inner `Option`
    /// of `sids` is "not given", the outer one "given but wrong".
    fn path_target(
        &mut self,
        c: &RawPathCondition,
        field: &str,
    ) -> (Option<Target>, Option<Option<Vec<std::net::Ipv6Addr>>>) {
        let to = self.target(&c.to, &format!("{field}.to"));
        let sids = match &c.sids {
            Some(s) => self.sids(s, &format!("{field}.sids")).map(Some),
            None => Some(None),
        };
        (to, sids)
    }
}
