//! Drawings of a topology: Mermaid (renders in GitHub markdown) and Graphviz dot.
//!
//! # Public API
//! - [`GraphFormat`] (`mermaid` | `dot`, `FromStr`)
//! - [`render`]`(&Topology, GraphFormat) -> String`
//! - [`render_with_overlays`]`(&Topology, GraphFormat, &[Overlay]) -> String`:
//!   paths drawn on top, hop by hop (labctl's observed flow paths)
//!
//! Nodes show name, kind and SID or address; shapes tell kinds apart. Links
//! show their declared properties (one label when both directions agree,
//! `a→b` / `b→a` parts otherwise); links that are down (declared down, or
//! down in the kernel when labctl draws a running lab) are dashed and
//! labelled `(down)`, red in dot. The dot text lays out with plain `dot`,
//! left to right, each interface name at its own end of the link.

use std::fmt::Write;
use std::str::FromStr;

use crate::model::{Link, LinkProps, Node, NodeKind, Topology};
use crate::units::{format_bandwidth_kbps, format_duration_us};

/// Output format of [`render`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphFormat {
    Mermaid,
    Dot,
}

impl FromStr for GraphFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "mermaid" => Ok(GraphFormat::Mermaid),
            "dot" | "graphviz" => Ok(GraphFormat::Dot),
            other => Err(format!(
                "unknown graph format {other:?}: use mermaid or dot"
            )),
        }
    }
}

/// Draw `topo` in `format`.
pub fn render(topo: &Topology, format: GraphFormat) -> String {
    match format {
        GraphFormat::Mermaid => mermaid(topo),
        GraphFormat::Dot => dot(topo),
    }
}

/// `fcbb:bb00:1::2` for SID owners, the address for end systems.
fn node_detail(n: &Node) -> String {
    let mut parts = vec![n.kind.as_str().to_owned()];
    if let Some(f) = &n.function {
        parts.push(format!("function {f}"));
    }
    if let Some(sid) = n.sid {
        parts.push(format!("SID {sid}"));
    } else if let Some(a) = n.address {
        parts.push(a.to_string());
    }
    if let Some(agent) = n.agent {
        parts.push(format!(
            "agent {}",
            if agent == crate::AgentRole::Client {
                "client"
            } else {
                "server"
            }
        ));
    }
    if n.backend == crate::RouterBackend::Vpp {
        parts.push("vpp".to_owned());
    }
    parts.join(" · ")
}

fn props_text(p: &LinkProps) -> String {
    let mut parts = Vec::new();
    if let Some(b) = p.bandwidth_kbps {
        parts.push(format_bandwidth_kbps(b));
    }
    if let Some(l) = p.latency_us {
        parts.push(format_duration_us(l));
    }
    if let Some(j) = p.jitter_us.filter(|&j| j > 0) {
        parts.push(format!("±{}", format_duration_us(j)));
    }
    if let Some(l) = p.loss_pct.filter(|&l| l > 0.0) {
        parts.push(format!("{l}% loss"));
    }
    if let Some(u) = p.utilization_pct.filter(|&u| u > 0.0) {
        parts.push(format!("{u}% used"));
    }
    parts.join(" ")
}

fn link_label(l: &Link) -> String {
    let (ab, ba) = (props_text(&l.a_to_b), props_text(&l.b_to_a));
    let mut label = if ab == ba {
        ab
    } else {
        format!(
            "{}→{}: {ab}; {}→{}: {ba}",
            l.a.node, l.b.node, l.b.node, l.a.node
        )
    };
    if !l.flex_algos.is_empty() {
        let algos: Vec<String> = l.flex_algos.iter().map(u8::to_string).collect();
        label.push_str(&format!(" fa {}", algos.join(",")));
    }
    if !l.up {
        label.push_str(" (down)");
    }
    label.trim().to_owned()
}

/// Mermaid ids: letters, digits and `_` only.
fn mermaid_id(name: &str) -> String {
    let id: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("n_{id}")
}

fn mermaid(topo: &Topology) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "---\ntitle: {}\n---\ngraph LR", topo.name);
    for n in topo.nodes.values() {
        let text = format!("\"{}<br/><small>{}</small>\"", n.name, node_detail(n));
        let shape = match n.kind {
            NodeKind::Router => format!("[{text}]"),
            NodeKind::Host => format!("([{text}])"),
            NodeKind::Dns => format!("[({text})]"),
            NodeKind::Controller => format!("{{{{{text}}}}}"),
            NodeKind::ServiceFunction => format!("[[{text}]]"),
        };
        let _ = writeln!(
            out,
            "  {}{shape}:::{}",
            mermaid_id(&n.name),
            n.kind.as_str().replace('-', "_")
        );
    }
    for l in &topo.links {
        let edge = if l.up { "---" } else { "-.-" };
        let label = link_label(l);
        let (a, b) = (mermaid_id(&l.a.node), mermaid_id(&l.b.node));
        if label.is_empty() {
            let _ = writeln!(out, "  {a} {edge} {b}");
        } else {
            let _ = writeln!(out, "  {a} {edge}|\"{label}\"| {b}");
        }
    }
    for (class, style) in [
        ("router", "fill:#dbeafe,stroke:#1d4ed8"),
        ("host", "fill:#dcfce7,stroke:#15803d"),
        ("dns", "fill:#fef9c3,stroke:#a16207"),
        ("controller", "fill:#fae8ff,stroke:#a21caf"),
        ("service_function", "fill:#ffedd5,stroke:#c2410c"),
    ] {
        let _ = writeln!(out, "  classDef {class} {style}");
    }
    out
}

fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn dot(topo: &Topology) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "graph \"{}\" {{", dot_escape(&topo.name));
    // Plain `dot` (no engine override): ranks left to right in link
    // order, edge labels placed without overlaps.
    let _ = writeln!(out, "  rankdir=LR; nodesep=0.35; ranksep=0.8;");
    let _ = writeln!(
        out,
        "  node [fontname=\"Helvetica\", fontsize=10, style=filled];"
    );
    // Interface names sit at their own end of each edge (tail = link end
    // a, head = end b), pulled off the line so they do not cross it.
    let _ = writeln!(
        out,
        "  edge [fontname=\"Helvetica\", fontsize=8, labelfontsize=7, labelfontcolor=\"#475569\", labeldistance=1.6, labelangle=25];"
    );
    for n in topo.nodes.values() {
        let (shape, color) = match n.kind {
            NodeKind::Router => ("box", "#dbeafe"),
            NodeKind::Host => ("ellipse", "#dcfce7"),
            NodeKind::Dns => ("cylinder", "#fef9c3"),
            NodeKind::Controller => ("hexagon", "#fae8ff"),
            NodeKind::ServiceFunction => ("component", "#ffedd5"),
        };
        let _ = writeln!(
            out,
            "  \"{}\" [shape={shape}, fillcolor=\"{color}\", label=\"{}\\n{}\"];",
            dot_escape(&n.name),
            dot_escape(&n.name),
            dot_escape(&node_detail(n))
        );
    }
    for l in &topo.links {
        let style = if l.up {
            ""
        } else {
            ", style=dashed, color=\"#dc2626\", fontcolor=\"#dc2626\""
        };
        let _ = writeln!(
            out,
            "  \"{}\" -- \"{}\" [label=\"{}\", taillabel=\"{}\", headlabel=\"{}\"{style}];",
            dot_escape(&l.a.node),
            dot_escape(&l.b.node),
            dot_escape(&link_label(l)),
            dot_escape(&l.a.ifname),
            dot_escape(&l.b.ifname),
        );
    }
    out.push_str("}\n");
    out
}

/// A path drawn over the topology: a label and the nodes in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlay {
    pub label: String,
    pub nodes: Vec<String>,
}

/// Colours of successive overlays (Tailwind 600s: distinct on both themes).
const OVERLAY_COLOURS: [&str; 6] = [
    "#e11d48", "#2563eb", "#16a34a", "#d97706", "#9333ea", "#0891b2",
];

/// [`render`] with each overlay drawn on top, hop by hop: a directed,
/// coloured edge per hop labelled `label n` (n counts the hops from 1), so
/// a reader sees which way the traffic went. Consecutive nodes need not be
/// linked (an observed path is drawn as observed).
pub fn render_with_overlays(topo: &Topology, format: GraphFormat, overlays: &[Overlay]) -> String {
    let mut out = render(topo, format);
    match format {
        GraphFormat::Mermaid => {
            let mut edge = topo.links.len();
            for (k, o) in overlays.iter().enumerate() {
                let colour = OVERLAY_COLOURS[k % OVERLAY_COLOURS.len()];
                let first = edge;
                for (i, hop) in o.nodes.windows(2).enumerate() {
                    let (a, b) = (mermaid_id(&hop[0]), mermaid_id(&hop[1]));
                    let _ = writeln!(out, "  {a} ==>|\"{} {}\"| {b}", o.label, i + 1);
                    edge += 1;
                }
                if edge > first {
                    let ids: Vec<String> = (first..edge).map(|e| e.to_string()).collect();
                    let _ = writeln!(
                        out,
                        "  linkStyle {} stroke:{colour},stroke-width:3px",
                        ids.join(",")
                    );
                }
            }
        }
        GraphFormat::Dot => {
            // Reopen the graph: `render` ends it with "}\n".
            if out.ends_with("}\n") {
                out.truncate(out.len() - 2);
            }
            for (k, o) in overlays.iter().enumerate() {
                let colour = OVERLAY_COLOURS[k % OVERLAY_COLOURS.len()];
                for (i, hop) in o.nodes.windows(2).enumerate() {
                    let _ = writeln!(
                        out,
                        "  \"{}\" -- \"{}\" [dir=forward, color=\"{colour}\", fontcolor=\"{colour}\", penwidth=2.5, label=\"{} {}\"];",
                        dot_escape(&hop[0]),
                        dot_escape(&hop[1]),
                        dot_escape(&o.label),
                        i + 1
                    );
                }
            }
            out.push_str("}\n");
        }
    }
    out
}
