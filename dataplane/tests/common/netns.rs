//! Network namespaces for the end-to-end tests and benchmarks, on the one
//! namespace layer of the workspace (`labns`): each namespace is a
//! `labns::netns::Scoped`, removed on drop even when the test panics, named
//! by `labns::netns::unique_name` so tests (and other suites) run in
//! parallel; code runs inside one through `labns::spawn_in` / `run_in` (a
//! thread of its own). Links, addresses and routes are set with `ip -n`.
//! Tests capture packets with `labns::Capture`, opened inside a namespace.
#![allow(dead_code, clippy::unwrap_used)]
use std::process::Command;

use labns::netns::{self, Scoped};

/// Addresses of [`three_node_lab`].
pub const CLIENT: &str = "fc00:a::1";
pub const SERVER: &str = "fc00:b::1";
pub const SID: &str = "fcbb:bb00:1::2";
pub const PORT: u16 = 5001;

/// Run a command; panic with its output if it fails.
pub fn run(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn ip(ns: &str, args: &str) {
    let mut full = vec!["ip", "-n", ns];
    full.extend(args.split_whitespace());
    run(&full);
}

/// Set sysctls (`net.ipv6.conf.all.forwarding=1`) inside namespace `ns`.
pub fn sysctl(ns: &str, settings: &[&str]) {
    let settings: Vec<(String, String)> = settings
        .iter()
        .map(|s| {
            let (key, value) = s.split_once('=').unwrap();
            (key.replace('.', "/"), value.to_string())
        })
        .collect();
    labns::run_in(ns, move || {
        for (key, value) in &settings {
            netns::sysctl(key, value).unwrap_or_else(|e| panic!("sysctl {key}={value}: {e}"));
        }
    })
    .unwrap();
}

/// Namespaces removed on drop; created with DAD off and loopback up.
#[derive(Debug)]
pub struct Namespaces {
    scoped: Vec<Scoped>,
}

impl Namespaces {
    pub fn create(names: &[String]) -> Namespaces {
        let mut guard = Namespaces { scoped: Vec::new() };
        for name in names {
            guard.scoped.push(Scoped::create(name).unwrap());
            // Before any link comes up: no DAD, or the first packets are lost
            // while addresses are tentative (DESIGN §10).
            sysctl(
                name,
                &[
                    "net.ipv6.conf.all.accept_dad=0",
                    "net.ipv6.conf.default.accept_dad=0",
                ],
            );
            ip(name, "link set lo up");
        }
        guard
    }

    /// One fresh, uniquely named namespace.
    pub fn one(tag: &str) -> (Namespaces, String) {
        let name = netns::unique_name(tag);
        (Namespaces::create(std::slice::from_ref(&name)), name)
    }
}

pub struct Lab {
    pub client: String,
    pub router: String,
    pub server: String,
    _namespaces: Namespaces,
}

/// client (c0) — router (r0, r1; `seg6local End` for SID) — server (s0),
/// 1500-byte veth links with their default offloads.
pub fn three_node_lab() -> Lab {
    let p = netns::unique_name("dp");
    let (client, router, server) = (format!("{p}-c"), format!("{p}-r"), format!("{p}-s"));
    let namespaces = Namespaces::create(&[client.clone(), router.clone(), server.clone()]);
    run(&[
        "ip", "link", "add", "c0", "netns", &client, "type", "veth", "peer", "name", "r0", "netns",
        &router,
    ]);
    run(&[
        "ip", "link", "add", "s0", "netns", &server, "type", "veth", "peer", "name", "r1", "netns",
        &router,
    ]);
    sysctl(&router, &["net.ipv6.conf.all.forwarding=1"]);
    ip(&client, &format!("addr add {CLIENT}/64 dev c0 nodad"));
    ip(&router, "addr add fc00:a::2/64 dev r0 nodad");
    ip(&router, "addr add fc00:b::2/64 dev r1 nodad");
    ip(&server, &format!("addr add {SERVER}/64 dev s0 nodad"));
    for (ns, dev) in [
        (&client, "c0"),
        (&router, "r0"),
        (&router, "r1"),
        (&server, "s0"),
    ] {
        ip(ns, &format!("link set {dev} up"));
    }
    ip(
        &router,
        &format!("-6 route add {SID}/128 encap seg6local action End dev r0"),
    );
    ip(&client, "-6 route add default via fc00:a::2 dev c0");
    ip(&server, "-6 route add default via fc00:b::2 dev s0");
    Lab {
        client,
        router,
        server,
        _namespaces: namespaces,
    }
}

/// Addresses of [`bridge_lab`]: one /64 for all three hosts.
pub const ON_LINK_CLIENT: &str = "fc00:1::1";
pub const ON_LINK_ROUTER: &str = "fc00:1::2";
pub const ON_LINK_SERVER: &str = "fc00:1::3";

/// Client (c0), router (r0; `seg6local End` for SID) and server (s0) on one
/// bridge (in a namespace of its own): the server is on-link for the
/// client, the SID is reached through the router.
pub fn bridge_lab() -> Lab {
    let p = netns::unique_name("db");
    let (client, router, server, bridge) = (
        format!("{p}-c"),
        format!("{p}-r"),
        format!("{p}-s"),
        format!("{p}-b"),
    );
    let namespaces = Namespaces::create(&[
        client.clone(),
        router.clone(),
        server.clone(),
        bridge.clone(),
    ]);
    ip(&bridge, "link add br0 type bridge");
    ip(&bridge, "link set br0 up");
    for (ns, dev, port, address) in [
        (&client, "c0", "pc", ON_LINK_CLIENT),
        (&router, "r0", "pr", ON_LINK_ROUTER),
        (&server, "s0", "ps", ON_LINK_SERVER),
    ] {
        run(&[
            "ip", "link", "add", dev, "netns", ns, "type", "veth", "peer", "name", port, "netns",
            &bridge,
        ]);
        ip(&bridge, &format!("link set {port} master br0"));
        ip(&bridge, &format!("link set {port} up"));
        ip(ns, &format!("addr add {address}/64 dev {dev} nodad"));
        ip(ns, &format!("link set {dev} up"));
    }
    sysctl(&router, &["net.ipv6.conf.all.forwarding=1"]);
    ip(
        &router,
        &format!("-6 route add {SID}/128 encap seg6local action End dev r0"),
    );
    for ns in [&client, &server] {
        ip(
            ns,
            &format!(
                "-6 route add {SID}/128 via {ON_LINK_ROUTER} dev {}",
                if *ns == client { "c0" } else { "s0" }
            ),
        );
    }
    Lab {
        client,
        router,
        server,
        _namespaces: namespaces,
    }
}
