//! `expect` steps: windows and the checks, each against the flows and links
//! the scenario and its topology define.

use serde_saphyr::Spanned;

use super::{Cx, FlowDef};
use crate::scenario::model::*;
use crate::scenario::raw::*;

fn direction(raw: &Option<Spanned<RawFlowDirection>>) -> FlowDirection {
    match raw.as_ref().map(|d| d.value) {
        Some(RawFlowDirection::Reply) => FlowDirection::Reply,
        _ => FlowDirection::Request,
    }
}

impl Cx<'_> {
    pub(super) fn expectations(
        &mut self,
        index: usize,
        list: &Spanned<Vec<Spanned<RawExpectation>>>,
        field: &str,
    ) -> Option<Vec<Expectation>> {
        if list.value.is_empty() {
            self.err(
                &list.referenced,
                field,
                "an expect step needs at least one expectation",
            );
            return None;
        }
        let resolved: Vec<Option<Expectation>> = list
            .value
            .iter()
            .enumerate()
            .map(|(i, e)| self.expectation(index, e, &format!("{field}[{i}]")))
            .collect();
        resolved.into_iter().collect()
    }

    fn expectation(
        &mut self,
        index: usize,
        raw: &Spanned<RawExpectation>,
        field: &str,
    ) -> Option<Expectation> {
        let e = &raw.value;
        let checks = [
            ("srh", e.srh.is_some()),
            ("path", e.path.is_some()),
            ("reply_reversed", e.reply_reversed.is_some()),
            ("quiet", e.quiet.is_some()),
            ("server_no_srh", e.server_no_srh.is_some()),
            ("intact", e.intact.is_some()),
            ("counter", e.counter.is_some()),
        ];
        let kind = self.one_of(&raw.referenced, field, "an expectation", &checks)?;
        let window = self.window(index, e, field, kind);
        let check = self.check(e, field)?;
        Some(Expectation {
            line: u32::try_from(raw.referenced.line()).unwrap_or(u32::MAX),
            window: window?,
            check,
        })
    }

    /// `after` / `before` as step indexes, in order, not past this step.
    fn window(
        &mut self,
        index: usize,
        e: &RawExpectation,
        field: &str,
        check: &str,
    ) -> Option<Window> {
        let packet_check = matches!(check, "srh" | "path" | "reply_reversed" | "quiet");
        let lookup = |cx: &mut Self, raw: &Option<Spanned<String>>, name: &str| {
            let raw = raw.as_ref()?;
            let f = format!("{field}.{name}");
            if !packet_check {
                cx.err(
                    &raw.referenced,
                    &f,
                    format!("`{check}` is not judged on packets: it takes no window"),
                );
                return Some(None);
            }
            match cx.ids.get(&raw.value) {
                Some(i) => Some(Some((*i, raw.referenced))),
                None => {
                    cx.err(
                        &raw.referenced,
                        &f,
                        format!("no step has id {:?}", raw.value),
                    );
                    Some(None)
                }
            }
        };
        let after = lookup(self, &e.after, "after");
        let before = lookup(self, &e.before, "before");
        let mut ok = !matches!(after, Some(None)) && !matches!(before, Some(None));
        let after = after.flatten();
        let before = before.flatten();
        if let Some((a, at)) = after {
            if a >= index {
                self.err(
                    &at,
                    format!("{field}.after"),
                    "`after` must name an earlier step",
                );
                ok = false;
            }
        }
        if let Some((b, at)) = before {
            if b > index {
                self.err(
                    &at,
                    format!("{field}.before"),
                    "`before` cannot name a later step: packets are judged when this step runs",
                );
                ok = false;
            } else if after.is_some_and(|(a, _)| a >= b) {
                self.err(
                    &at,
                    format!("{field}.before"),
                    "`before` must come after `after`",
                );
                ok = false;
            }
        }
        ok.then_some(Window {
            after: after.map(|(a, _)| a),
            before: before.map_or(index, |(b, _)| b),
        })
    }

    fn check(&mut self, e: &RawExpectation, field: &str) -> Option<Check> {
        if let Some(s) = &e.srh {
            return self.srh_check(&s.value, &format!("{field}.srh"));
        }
        if let Some(p) = &e.path {
            return self.path_check(&p.value, &format!("{field}.path"));
        }
        if let Some(f) = &e.reply_reversed {
            self.flow(f, &format!("{field}.reply_reversed"))?;
            return Some(Check::ReplyReversed {
                flow: f.value.clone(),
            });
        }
        if let Some(q) = &e.quiet {
            return self.quiet(q, &format!("{field}.quiet"));
        }
        if let Some(f) = &e.server_no_srh {
            self.finished_flow(f, &format!("{field}.server_no_srh"))?;
            return Some(Check::ServerNoSrh {
                flow: f.value.clone(),
            });
        }
        if let Some(f) = &e.intact {
            self.finished_flow(f, &format!("{field}.intact"))?;
            return Some(Check::Intact {
                flow: f.value.clone(),
            });
        }
        let c = e.counter.as_ref()?;
        self.counter(&c.value, &format!("{field}.counter"))
    }

    /// A flow whose end result is known at this step (not a running background flow).
    fn finished_flow(&mut self, raw: &Spanned<String>, field: &str) -> Option<FlowDef> {
        let flow = self.flow(raw, field)?;
        if flow.background && !flow.joined {
            self.err(
                &raw.referenced,
                field,
                format!("flow {:?} may still run here: `join` it first", raw.value),
            );
            return None;
        }
        Some(flow)
    }

    fn srh_check(&mut self, s: &RawSrhCheck, field: &str) -> Option<Check> {
        let flow = self.flow(&s.flow, &format!("{field}.flow"));
        let present = s.present.as_ref().is_none_or(|p| p.value);
        let segments = match &s.segments {
            Some(list) => Some(self.addrs(list, &format!("{field}.segments"))?),
            None => None,
        };
        if let (false, Some(list)) = (present, &s.segments) {
            self.err(
                &list.referenced,
                format!("{field}.segments"),
                "segments of an SRH that must be absent",
            );
        }
        let hops = match &s.hops {
            None => None,
            Some(hops) => {
                let resolved: Vec<Option<HopCheck>> = hops
                    .iter()
                    .enumerate()
                    .map(|(i, h)| {
                        self.hop_check(h, &format!("{field}.hops[{i}]"), present, &segments)
                    })
                    .collect();
                Some(resolved.into_iter().collect::<Option<Vec<_>>>()?)
            }
        };
        flow?;
        let everywhere = hops.is_none().then(|| HopCheckAll {
            present,
            segments: segments.clone(),
        });
        Some(Check::Srh {
            flow: s.flow.value.clone(),
            direction: direction(&s.direction),
            hops: hops.unwrap_or_default(),
            everywhere,
        })
    }

    fn hop_check(
        &mut self,
        raw: &Spanned<RawHop>,
        field: &str,
        present: bool,
        segments: &Option<Vec<std::net::Ipv6Addr>>,
    ) -> Option<HopCheck> {
        let h = &raw.value;
        let hop = self.hop(&h.link, &format!("{field}.link"));
        let present = h.present.as_ref().map_or(present, |p| p.value);
        let segments = match &h.segments {
            Some(list) => Some(self.addrs(list, &format!("{field}.segments"))?),
            None => segments.clone(),
        };
        let segments_left = match &h.segments_left {
            Some(sl) => {
                let f = format!("{field}.segments_left");
                let n = self.int_in(sl, &f, 0..=255)?;
                let last = segments.as_ref().map(|s| s.len().saturating_sub(1));
                if let Some(last) = last.filter(|last| n as usize > *last) {
                    self.err(
                        &sl.referenced,
                        &f,
                        format!("segments_left {n} is past the last segment ({last})"),
                    );
                    return None;
                }
                u8::try_from(n).ok()
            }
            None => None,
        };
        let destination = match &h.destination {
            Some(d) => Some(self.addr(d, &format!("{field}.destination"))?),
            None => None,
        };
        if !present && (segments.is_some() || segments_left.is_some()) {
            self.err(
                &raw.referenced,
                field,
                "segments and segments_left of an SRH that must be absent",
            );
            return None;
        }
        Some(HopCheck {
            line: u32::try_from(raw.referenced.line()).unwrap_or(u32::MAX),
            hop: hop?,
            present,
            segments,
            segments_left,
            destination,
        })
    }

    fn path_check(&mut self, p: &RawPathCheck, field: &str) -> Option<Check> {
        let flow = self.flow(&p.flow, &format!("{field}.flow"));
        let direction = direction(&p.direction);
        let list = &p.nodes.value;
        let nf = format!("{field}.nodes");
        if list.len() < 2 {
            self.err(&p.nodes.referenced, &nf, "a path has at least two nodes");
            return None;
        }
        let known: Vec<Option<String>> = list
            .iter()
            .enumerate()
            .map(|(i, n)| {
                self.node_of(n, &format!("{nf}[{i}]"), &[])
                    .map(|n| n.name.clone())
            })
            .collect();
        let nodes: Vec<String> = known.into_iter().collect::<Option<_>>()?;
        for (i, pair) in nodes.windows(2).enumerate() {
            let linked = self
                .topo
                .is_some_and(|t| t.link_between(&pair[0], &pair[1]).is_some());
            if !linked {
                self.err(
                    &list[i + 1].referenced,
                    format!("{nf}[{}]", i + 1),
                    format!("no link between {} and {}", pair[0], pair[1]),
                );
            }
        }
        self.path_ends(flow?, direction, list, &nodes, &nf);
        Some(Check::Path {
            flow: p.flow.value.clone(),
            direction,
            nodes,
        })
    }

    /// A request path starts at the flow's sender and ends at the node of its
    /// destination; a reply path the other way round.
    fn path_ends(
        &mut self,
        flow: FlowDef,
        direction: FlowDirection,
        list: &[Spanned<String>],
        nodes: &[String],
        field: &str,
    ) {
        let last = nodes.len() - 1;
        let (sender_at, receiver_at) = match direction {
            FlowDirection::Request => (0, last),
            FlowDirection::Reply => (last, 0),
        };
        let ends = [
            (sender_at, flow.from, "the flow's sender"),
            (
                receiver_at,
                flow.to_node,
                "the node of the flow's destination",
            ),
        ];
        for (at, expected, what) in ends {
            if let Some(expected) = expected.filter(|e| *e != nodes[at]) {
                self.err(
                    &list[at].referenced,
                    format!("{field}[{at}]"),
                    format!(
                        "a {} path has {what} ({expected}) here, not {}",
                        direction.as_str(),
                        nodes[at]
                    ),
                );
            }
        }
    }

    fn quiet(&mut self, raw: &Spanned<RawQuiet>, field: &str) -> Option<Check> {
        let q = &raw.value;
        // Outer None: no flow named; inner None: a flow named but unknown.
        let flow: Option<Option<String>> = q.flow.as_ref().map(|f| {
            self.flow(f, &format!("{field}.flow"))
                .map(|_| f.value.clone())
        });
        if q.links.value.is_empty() {
            self.err(
                &q.links.referenced,
                format!("{field}.links"),
                "no links to watch",
            );
            return None;
        }
        let links: Vec<Option<(usize, [String; 2])>> = q
            .links
            .value
            .iter()
            .enumerate()
            .map(|(i, l)| {
                self.hop(l, &format!("{field}.links[{i}]"))
                    .map(|h| (h.link, [h.from, h.to]))
            })
            .collect();
        let links = links.into_iter().collect::<Option<Vec<_>>>()?;
        Some(Check::Quiet {
            flow: match flow {
                Some(known) => Some(known?),
                None => None,
            },
            links,
        })
    }

    fn counter(&mut self, c: &RawCounter, field: &str) -> Option<Check> {
        let host = self.node_of(
            &c.host,
            &format!("{field}.host"),
            &[topology::NodeKind::Host],
        );
        if host.is_some() && self.agent_role(&c.host.value).is_none() {
            self.err(
                &c.host.referenced,
                format!("{field}.host"),
                format!("{} runs no agent", c.host.value),
            );
        }
        let name_ok = c.name.value.starts_with(|ch: char| ch.is_ascii_lowercase())
            && c.name
                .value
                .chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_');
        if !name_ok {
            self.err(
                &c.name.referenced,
                format!("{field}.name"),
                format!(
                    "{:?} is not a counter name (lower case, digits, '_')",
                    c.name.value
                ),
            );
        }
        let comparisons = [
            ("equals", c.equals.is_some()),
            ("at_most", c.at_most.is_some()),
            ("at_least", c.at_least.is_some()),
        ];
        let name = self.one_of(&c.host.referenced, field, "a counter check", &comparisons)?;
        let (cmp, raw) = match name {
            "equals" => (Cmp::Equals, c.equals.as_ref()?),
            "at_most" => (Cmp::AtMost, c.at_most.as_ref()?),
            _ => (Cmp::AtLeast, c.at_least.as_ref()?),
        };
        let Ok(value) = u64::try_from(raw.value) else {
            self.err(
                &raw.referenced,
                format!("{field}.{name}"),
                "a counter is never negative",
            );
            return None;
        };
        host?;
        Some(Check::Counter {
            host: c.host.value.clone(),
            name: c.name.value.clone(),
            cmp,
            value,
        })
    }
}
