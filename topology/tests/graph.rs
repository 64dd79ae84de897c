//! Graph output for hawk, pinned by snapshots.
#![allow(clippy::unwrap_used)]
use topology::graph::{render, GraphFormat};

mod common;

fn hawk() -> topology::Topology {
    common::load("hawk.yaml")
}

#[test]
fn hawk_mermaid() {
    let text = render(&hawk(), GraphFormat::Mermaid);
    // Every node and link is drawn.
    assert_eq!(text.lines().filter(|l| l.contains(":::")).count(), 14);
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("  n_") && l.contains(" ---"))
            .count(),
        14
    );
    assert!(text.contains("n_vpp1 ---|\"1gbit 4ms\"| n_vpp2"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn hawk_dot() {
    let text = render(&hawk(), GraphFormat::Dot);
    assert!(text.starts_with("graph \"hawk\" {"));
    assert_eq!(text.matches(" -- ").count(), 14);
    insta::assert_snapshot!(text);
}

#[test]
fn down_links_and_asymmetric_props_are_visible() {
    let mut t = hawk();
    t.links[1].up = false;
    t.links[2].b_to_a.latency_us = Some(7000);
    let m = render(&t, GraphFormat::Mermaid);
    assert!(m.contains("n_vpp1 -.-|\"1gbit 4ms (down)\"| n_vpp2"), "{m}");
    assert!(
        m.contains("vpp1→vpp3: 100mbit 1ms; vpp3→vpp1: 100mbit 7ms"),
        "{m}"
    );
    assert!(render(&t, GraphFormat::Dot).contains("style=dashed"));
}

#[test]
fn formats_parse() {
    assert_eq!("mermaid".parse::<GraphFormat>(), Ok(GraphFormat::Mermaid));
    assert_eq!("DOT".parse::<GraphFormat>(), Ok(GraphFormat::Dot));
    assert!("png".parse::<GraphFormat>().is_err());
}
