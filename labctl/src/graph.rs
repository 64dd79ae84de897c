//! `labctl graph FILE|LAB [--format mermaid|dot|svg|png] [--overlay RESULTS]`.
//!
//! A topology file is drawn as declared; a running lab as the kernel has
//! it: each link up or down by what its two interfaces report (both
//! running: up; anything else, including a missing namespace: down).
//! `svg` and `png` are the dot text rendered by Graphviz's `dot`, which
//! must be installed ([`GraphError::NoGraphviz`] says how otherwise).
//!
//! # Public API
//! - `pub use topology::graph::render`: `render(&Topology, topology::graph::GraphFormat) -> String`
//! - [`Format`], [`Target`] (`Target::of(arg)`: a file if one exists or it looks like a path, else a lab)
//! - [`draw`]`(&Target, Format, overlay: Option<&Path>) -> Result<Vec<u8>, GraphError>`
//! - [`live_topology`]`(lab)`: the lab's topology with the kernel's link states
//!
//! The drawing itself lives in `topology::graph` (snapshot tests there).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub use topology::graph::render;
use topology::graph::GraphFormat;
use topology::Topology;

use crate::overlay::OverlayError;

/// What `labctl graph` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Mermaid,
    Dot,
    /// `dot -Tsvg`.
    Svg,
    /// `dot -Tpng`.
    Png,
}

/// What `labctl graph` draws.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A topology file, as declared.
    File(PathBuf),
    /// A running lab, as the kernel has it.
    Lab(String),
}

impl Target {
    /// `arg` is a file when one exists at that path or it looks like a
    /// path (a `/`, a `.yaml` or `.yml` ending), else a lab name.
    pub fn of(arg: &str) -> Target {
        let looks_like_a_path =
            arg.contains('/') || arg.ends_with(".yaml") || arg.ends_with(".yml");
        if looks_like_a_path || Path::new(arg).is_file() {
            Target::File(PathBuf::from(arg))
        } else {
            Target::Lab(arg.to_string())
        }
    }
}

/// Why `labctl graph` could not draw.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error(transparent)]
    Topology(#[from] topology::LoadError),
    #[error(transparent)]
    Overlay(#[from] OverlayError),
    /// Neither a file nor a running lab has that name.
    #[error(
        "{name} is neither a topology file nor a running lab; {}",
        crate::state::running_labs_phrase()
    )]
    NoSuchTarget { name: String },
    #[error(transparent)]
    Lab(#[from] crate::Error),
    /// `--format svg|png` without Graphviz.
    #[error(
        "--format {format} renders through Graphviz's `dot`, which is not installed \
         (not found on PATH): install Graphviz (Debian/Ubuntu: apt-get install graphviz), \
         or use --format dot and render elsewhere"
    )]
    NoGraphviz { format: &'static str },
    /// `dot` ran and failed.
    #[error("dot -T{format}: {message}")]
    Dot {
        format: &'static str,
        message: String,
    },
}

/// Draw `target` in `format`, with the observed paths of a `labctl run`
/// results directory on top when `overlay` is given.
pub fn draw(
    target: &Target,
    format: Format,
    overlay: Option<&Path>,
) -> Result<Vec<u8>, GraphError> {
    let topo = match target {
        Target::File(path) => topology::load(path)?,
        Target::Lab(name) => {
            crate::state::validate_name(name)?;
            if !crate::state::lab_dir(name).is_dir() {
                return Err(GraphError::NoSuchTarget { name: name.clone() });
            }
            live_topology(name)?
        }
    };
    let text_format = match format {
        Format::Mermaid => GraphFormat::Mermaid,
        Format::Dot | Format::Svg | Format::Png => GraphFormat::Dot,
    };
    let text = match overlay {
        Some(dir) => {
            let report = crate::report::read_report(dir).map_err(OverlayError::from)?;
            crate::overlay::render(&topo, &report.paths, text_format)
        }
        None => render(&topo, text_format),
    };
    match format {
        Format::Mermaid | Format::Dot => Ok(text.into_bytes()),
        Format::Svg => run_dot(&text, "svg"),
        Format::Png => run_dot(&text, "png"),
    }
}

/// The topology of running lab `lab` (the copy `up` kept) with each link's
/// `up` replaced by the kernel's state of its two interfaces.
pub fn live_topology(lab: &str) -> crate::Result<Topology> {
    let (_, mut topo, _) = crate::status::load(lab)?;
    let plan = crate::plan::from_topology(&topo, lab);
    let names: Vec<String> = plan.namespaces.iter().map(|n| n.netns.clone()).collect();
    let live: Vec<Option<crate::live::LiveNs>> = crate::live::probe_all(&names)
        .into_iter()
        .map(Result::ok)
        .collect();
    let running = |node: &str, ifname: &str| {
        plan.namespaces
            .iter()
            .position(|n| n.node == node)
            .and_then(|i| live[i].as_ref())
            .and_then(|l| l.ifaces.iter().find(|i| i.name == ifname))
            .is_some_and(|i| i.running)
    };
    for l in &mut topo.links {
        l.up = running(&l.a.node, &l.a.ifname) && running(&l.b.node, &l.b.ifname);
    }
    Ok(topo)
}

/// `dot -T<format>` of `text`.
fn run_dot(text: &str, format: &'static str) -> Result<Vec<u8>, GraphError> {
    let dot_error = |message: String| GraphError::Dot { format, message };
    let mut child = match Command::new("dot")
        .arg(format!("-T{format}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(GraphError::NoGraphviz { format })
        }
        Err(e) => return Err(dot_error(format!("start: {e}"))),
    };
    // Written from a thread: dot may fill its output pipe before it has read all input.
    let mut stdin = child.stdin.take();
    let input = text.to_string();
    let writer = std::thread::spawn(move || stdin.as_mut().map(|s| s.write_all(input.as_bytes())));
    let out = child
        .wait_with_output()
        .map_err(|e| dot_error(format!("wait: {e}")))?;
    let written = writer.join();
    // A dot that failed may exit before reading its input: its own error
    // says why, the broken pipe it left the writer does not.
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(dot_error(format!("{} ({})", stderr.trim(), out.status)));
    }
    if let Ok(Some(Err(e))) = written {
        return Err(dot_error(format!("write its input: {e}")));
    }
    Ok(out.stdout)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn draws_hawk() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../topologies/hawk.yaml");
        let target = Target::of(path.to_str().unwrap());
        assert_eq!(target, Target::File(path.clone()));
        let text = |f| String::from_utf8(draw(&target, f, None).unwrap()).unwrap();
        assert!(text(Format::Mermaid).contains("graph LR"));
        assert!(text(Format::Dot).starts_with("graph \"hawk\""));
        assert_eq!(
            Target::of("no-such-file-x"),
            Target::Lab("no-such-file-x".into())
        );
        assert_eq!(Target::of("nope.yaml"), Target::File("nope.yaml".into()));
        assert_eq!(Target::of("a/b"), Target::File("a/b".into()));
    }
}
