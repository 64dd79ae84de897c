//! Generated VPP configuration for hawk, pinned by snapshots.
#![allow(clippy::unwrap_used)]
use topology::vpp::{generate, generate_with, VppError, VppOptions};

mod common;

fn hawk() -> topology::Topology {
    common::load("hawk.yaml")
}

#[test]
fn hawk_vpp1() {
    let t = hawk();
    let c = generate(&t, "vpp1").unwrap();
    assert_eq!(
        c.startup_conf_path(),
        std::path::Path::new("/run/labctl/hawk/vpp/vpp1/startup.conf")
    );
    assert!(c
        .startup_conf
        .contains("exec /run/labctl/hawk/vpp/vpp1/setup.cli"));
    assert!(!c.startup_conf.contains("{{"), "{}", c.startup_conf);
    assert!(!c.cli.contains("{{"), "{}", c.cli);
    // One host interface per link of vpp1, one route per routed prefix, the End SID.
    assert_eq!(c.cli.matches("create host-interface").count(), 3);
    assert_eq!(c.cli.matches("ip route add").count(), 13);
    assert!(c
        .cli
        .contains("ip route add fcbb:cc00:2::/48 via 2001:db8:12::2 host-vpp2-1"));
    assert!(c
        .cli
        .contains("set interface ip address host-vpp2-1 2001:db8:12::1/64"));
    assert!(c
        .cli
        .contains("sr localsid address fcbb:bb00:1::2 behavior end"));
    insta::assert_snapshot!("hawk_vpp1_startup_conf", c.startup_conf);
    insta::assert_snapshot!("hawk_vpp1_setup_cli", c.cli);
}

#[test]
fn hawk_all_routers() {
    let t = hawk();
    let mut all = String::new();
    for n in t.nodes_of_kind(topology::NodeKind::Router) {
        let c = generate(&t, &n.name).unwrap();
        all.push_str(&format!("### {}\n{}\n", n.name, c.cli));
    }
    insta::assert_snapshot!("hawk_all_routers_setup_cli", all);
}

#[test]
fn options_and_flavours() {
    let mut t = hawk();
    let opts = VppOptions {
        run_dir: "/tmp/x".into(),
        main_core: Some(1),
    };
    let c = generate_with(&t, "vpp2", &opts).unwrap();
    assert!(c.startup_conf.contains("cpu { main-core 1 }"));
    assert!(c.startup_conf.contains("cli-listen /tmp/x/cli.sock"));
    t.nodes
        .get_mut("vpp2")
        .unwrap()
        .sid_behavior
        .flavors
        .insert(topology::EndFlavor::Psp);
    assert!(generate(&t, "vpp2")
        .unwrap()
        .cli
        .contains("behavior end psp"));
    t.nodes
        .get_mut("vpp2")
        .unwrap()
        .sid_behavior
        .flavors
        .insert(topology::EndFlavor::NextCsid);
    assert_eq!(
        generate(&t, "vpp2"),
        Err(VppError::UnsupportedFlavor {
            node: "vpp2".into(),
            flavor: "next-csid"
        })
    );
}

#[test]
fn refuses_non_routers() {
    let t = hawk();
    assert_eq!(
        generate(&t, "nope"),
        Err(VppError::UnknownNode("nope".into()))
    );
    let e = generate(&t, "host-a").unwrap_err();
    assert_eq!(
        e.to_string(),
        "host-a is a host node; VPP configuration exists for routers only"
    );
}
