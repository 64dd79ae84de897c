//! The tables `labctl status` prints: compact (the default: one row per
//! node and per link, values in the topology file's units, both directions
//! on one row, zeros and the values most links share left out, a mark for
//! what is declared only) and wide (`--wide`: every address, namespace,
//! interface, and each property per direction).

use std::collections::BTreeMap;
use std::io::IsTerminal;

use comfy_table::{presets, Attribute, Cell, Color, ContentArrangement, Table};

use super::{LabStatus, LinkStatus, NodeStatus, ProcStatus, PropStatus};

/// The mark after a value the kernel does not enforce (declared only).
pub const DECLARED_MARK: &str = "~";

/// How a table is laid out for where it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Style {
    /// Columns to fit (None: the terminal's when there is one, else no limit).
    pub width: Option<u16>,
    /// Colour the states.
    pub color: bool,
}

impl Style {
    /// For stdout: the width from `COLUMNS` when set (else the terminal's);
    /// colour on a terminal unless `NO_COLOR` is set to anything non-empty
    /// (no-color.org).
    pub fn for_stdout() -> Style {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            width: std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()),
            color: std::io::stdout().is_terminal() && !no_color,
        }
    }

    fn table(&self, header: &[&str], preset: &str) -> Table {
        let mut t = Table::new();
        t.load_preset(preset);
        t.set_content_arrangement(ContentArrangement::Dynamic);
        if let Some(w) = self.width {
            t.set_width(w);
        }
        t.set_header(header.iter().map(|h| match self.color {
            true => Cell::new(h).add_attribute(Attribute::Bold),
            false => Cell::new(h),
        }));
        t
    }

    /// `text` in green when `good`, red otherwise (plain without colour).
    fn state(&self, text: String, good: bool) -> Cell {
        match (self.color, good) {
            (false, _) => Cell::new(text),
            (true, true) => Cell::new(text).fg(Color::Green),
            (true, false) => Cell::new(text).fg(Color::Red),
        }
    }
}

/// Every lab, compact or wide, separated by a blank line.
pub fn render_all(labs: &[LabStatus], style: Style, wide: bool) -> String {
    labs.iter()
        .map(|s| render(s, style, wide))
        .collect::<Vec<_>>()
        .join("\n")
}

fn render(s: &LabStatus, style: Style, wide: bool) -> String {
    let mut out = title(s, style);
    let common = Common::of(&s.links);
    let tables = match wide {
        false => vec![nodes(s, style), links(s, style, &common)],
        true => vec![
            wide_nodes(s, style),
            wide_links(s, style),
            wide_processes(s, style),
        ],
    };
    for t in tables {
        // The borderless tables pad every cell; trailing blanks only wrap
        // a terminal narrower than the padding.
        for line in t.to_string().lines() {
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    if !wide {
        out.push_str(&common.line());
        out.push_str(&processes_line(&s.processes));
    }
    out.push_str(&legend(s));
    out
}

fn title(s: &LabStatus, style: Style) -> String {
    let health = match (s.complete, s.healthy) {
        (false, _) => "INCOMPLETE: up did not finish; run labctl down",
        (true, true) => "healthy",
        (true, false) => "UNHEALTHY",
    };
    let health = match style.color {
        true if s.healthy => format!("\x1b[32m{health}\x1b[0m"),
        true => format!("\x1b[31m{health}\x1b[0m"),
        false => health.to_string(),
    };
    let mut out = format!("lab {} ({}): {health}\n", s.name, s.source);
    for p in &s.problems {
        out.push_str(&format!("UNHEALTHY: {p}\n"));
    }
    out
}

fn legend(s: &LabStatus) -> String {
    let declared = s
        .links
        .iter()
        .flat_map(|l| &l.properties)
        .any(|p| !p.enforced() && !is_zero(p));
    let mut parts = vec!["routes: installed/planned".to_string()];
    if declared {
        parts.push(format!(
            "{DECLARED_MARK} declared only (the controller's input; this kernel does not enforce it)"
        ));
    }
    format!("{}\n", parts.join(" · "))
}

fn nodes(s: &LabStatus, style: Style) -> Table {
    let mut t = style.table(
        &["node", "kind", "address", "SID", "routes"],
        presets::NOTHING,
    );
    for n in &s.nodes {
        let name = match n.netns_present {
            true => Cell::new(&n.name),
            false => style.state(format!("{} (no namespace)", n.name), false),
        };
        t.add_row([
            name,
            Cell::new(&n.kind),
            Cell::new(n.address.as_deref().unwrap_or("")),
            Cell::new(sid(n)),
            routes(n, style),
        ]);
    }
    t
}

fn sid(n: &NodeStatus) -> String {
    match (&n.sid, &n.sid_behavior) {
        (Some(sid), Some(b)) => format!("{sid} {b}"),
        _ => String::new(),
    }
}

/// Installed (kernel) / planned routes, red when they differ.
fn routes(n: &NodeStatus, style: Style) -> Cell {
    match &n.live {
        Some(l) => style.state(
            format!("{}/{}", l.static_routes, n.routes),
            l.static_routes == n.routes,
        ),
        None => style.state(format!("?/{}", n.routes), false),
    }
}

/// The kernel state, with the declared one when it differs.
fn link_state(l: &LinkStatus, style: Style) -> Cell {
    let declared = if l.up { "up" } else { "down" };
    match l.state == declared {
        true => style.state(l.state.clone(), l.state == "up" || !l.up),
        false => style.state(format!("{} (declared {declared})", l.state), false),
    }
}

fn links(s: &LabStatus, style: Style, common: &Common) -> Table {
    let mut t = style.table(&["link", "a", "b", "state", "properties"], presets::NOTHING);
    for l in &s.links {
        t.add_row([
            Cell::new(l.id),
            Cell::new(node_of(&l.a)),
            Cell::new(node_of(&l.b)),
            link_state(l, style),
            Cell::new(compact_props(l, common)),
        ]);
    }
    t
}

/// `node` of `node:ifname`.
fn node_of(end: &str) -> &str {
    end.split_once(':').map_or(end, |(n, _)| n)
}

/// A value in the file's units with the declared-only mark.
fn marked(p: &PropStatus) -> String {
    let suffix = if p.property == "utilization" {
        " used"
    } else {
        ""
    };
    match p.enforced() {
        true => format!("{}{suffix}", p.text),
        false => format!("{}{suffix}{DECLARED_MARK}", p.text),
    }
}

fn is_zero(p: &PropStatus) -> bool {
    p.value.as_f64() == Some(0.0)
}

/// One link's properties that are neither zero nor what most links have:
/// once when both directions agree, else `→ a-to-b ← b-to-a`.
fn compact_props(l: &LinkStatus, common: &Common) -> String {
    let shown = |direction: &str| -> Vec<String> {
        l.properties
            .iter()
            .filter(|p| p.direction == direction && !is_zero(p) && !common.has(p))
            .map(marked)
            .collect()
    };
    let mut parts = Vec::new();
    if Some(l.mtu) != common.mtu {
        parts.push(format!("mtu {}", l.mtu));
    }
    let (ab, ba) = (shown("a->b"), shown("b->a"));
    match l.symmetric {
        true => parts.extend(ab),
        false => {
            parts.push(format!("→ {}", ab.join(" ")));
            parts.push(format!("← {}", ba.join(" ")));
        }
    }
    parts.join(" ")
}

/// The MTU and the value of each property that most link directions share
/// (a lab's defaults, in effect): said once under the links table instead
/// of on every row.
struct Common {
    mtu: Option<u32>,
    /// property -> the text most directions have (only when more than one does).
    props: BTreeMap<String, PropStatus>,
}

impl Common {
    fn of(links: &[LinkStatus]) -> Common {
        let mtu = most_common(links.iter().map(|l| l.mtu)).map(|(m, _)| m);
        let mut by_property: BTreeMap<&str, Vec<&PropStatus>> = BTreeMap::new();
        for p in links.iter().flat_map(|l| &l.properties) {
            by_property.entry(&p.property).or_default().push(p);
        }
        let props = by_property
            .into_iter()
            .filter_map(|(property, ps)| {
                let (text, n) = most_common(ps.iter().map(|p| p.text.clone()))?;
                let p = ps.iter().find(|p| p.text == text)?;
                (n > 1 && !is_zero(p)).then(|| (property.to_string(), (*p).clone()))
            })
            .collect();
        Common { mtu, props }
    }

    fn has(&self, p: &PropStatus) -> bool {
        self.props
            .get(&p.property)
            .is_some_and(|c| c.text == p.text)
    }

    /// `every link unless its row says otherwise: mtu 9000 10gbit 50us~`.
    fn line(&self) -> String {
        let mut parts: Vec<String> = self.mtu.iter().map(|m| format!("mtu {m}")).collect();
        parts.extend(self.props.values().map(marked));
        match parts.is_empty() {
            true => String::new(),
            false => format!("links unless a row says otherwise: {}\n", parts.join(" ")),
        }
    }
}

/// The most frequent item and its count (the first of equals).
fn most_common<T: Ord + Clone>(items: impl Iterator<Item = T>) -> Option<(T, usize)> {
    let mut counts: BTreeMap<T, usize> = BTreeMap::new();
    for i in items {
        *counts.entry(i).or_default() += 1;
    }
    counts
        .into_iter()
        .fold(None, |best: Option<(T, usize)>, (item, n)| match best {
            Some((_, m)) if m >= n => best,
            _ => Some((item, n)),
        })
}

/// `processes: dns ✓ controller ✓ agent-host-a ✗ gone`.
fn processes_line(procs: &[ProcStatus]) -> String {
    if procs.is_empty() {
        return String::new();
    }
    let each: Vec<String> = procs
        .iter()
        .map(|p| match (p.alive, p.answers) {
            (true, _) => format!("{} ✓", p.name),
            (false, Some(false)) => format!("{} ✗ does not answer", p.name),
            (false, _) => format!("{} ✗ {}", p.name, p.state),
        })
        .collect();
    format!("processes: {}\n", each.join("  "))
}

fn wide_nodes(s: &LabStatus, style: Style) -> Table {
    let mut t = style.table(
        &["node", "kind", "namespace", "addresses", "SID", "routes"],
        presets::UTF8_FULL_CONDENSED,
    );
    for n in &s.nodes {
        t.add_row([
            Cell::new(&n.name),
            Cell::new(&n.kind),
            style.state(
                format!(
                    "{}{}",
                    n.netns,
                    if n.netns_present { "" } else { " (MISSING)" }
                ),
                n.netns_present,
            ),
            Cell::new(n.addresses.join("\n")),
            Cell::new(sid(n)),
            routes(n, style),
        ]);
    }
    t
}

fn wide_links(s: &LabStatus, style: Style) -> Table {
    let mut t = style.table(
        &["link", "a", "b", "mtu", "state", "properties"],
        presets::UTF8_FULL_CONDENSED,
    );
    for l in &s.links {
        let props: Vec<String> = l
            .properties
            .iter()
            .map(|p| format!("{} {} {}", p.direction, p.property, marked(p)))
            .collect();
        t.add_row([
            Cell::new(l.id),
            Cell::new(&l.a),
            Cell::new(&l.b),
            Cell::new(l.mtu),
            link_state(l, style),
            Cell::new(props.join("\n")),
        ]);
    }
    t
}

fn wide_processes(s: &LabStatus, style: Style) -> Table {
    let mut t = style.table(
        &["process", "pid", "alive", "state", "answers"],
        presets::UTF8_FULL_CONDENSED,
    );
    for p in &s.processes {
        t.add_row([
            Cell::new(&p.name),
            Cell::new(p.pid),
            style.state(p.alive.to_string(), p.alive),
            Cell::new(&p.state),
            Cell::new(p.answers.map(|a| a.to_string()).unwrap_or_default()),
        ]);
    }
    t
}
