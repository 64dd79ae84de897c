//! What `attach` refuses, in a namespace of its own: devices whose frames
//! are not Ethernet (the programs parse a 14-byte Ethernet header), and
//! devices with BIG TCP enabled (GSO/GRO packets over 64 KiB carry an IPv6
//! payload length of 0 that the programs cannot steer or strip).
#![allow(clippy::unwrap_used)]
mod common;

use common::netns::{ip, Namespaces};
use dataplane::{
    ClientDataplane, DataplaneError, IngressHook, ServerDataplane, ServerOptions, Trust,
};

/// Run `f` on a thread inside a fresh namespace (removed afterwards).
fn in_namespace(f: impl FnOnce(&str) + Send + 'static) {
    let (_ns, name) = Namespaces::one("dpa");
    let inside = name.clone();
    labns::run_in(&name, move || f(&inside)).unwrap();
}

#[test]
fn attach_refuses_devices_that_are_not_ethernet() {
    in_namespace(|ns| {
        // A layer-3 tun device (ARPHRD_NONE) and the loopback (ARPHRD_LOOPBACK).
        ip(ns, "tuntap add dev tn0 mode tun");
        ip(ns, "link set tn0 up");
        for device in ["lo", "tn0"] {
            let mut client = ClientDataplane::load().unwrap();
            for hook in [IngressHook::Tc, IngressHook::XdpGeneric] {
                let err = client.attach(device, hook).unwrap_err();
                assert!(
                    matches!(&err, DataplaneError::NotEthernet { interface, .. } if interface == device),
                    "{device} {hook:?}: {err}"
                );
                assert_eq!(client.interface(), None);
            }
        }
    });
}

#[test]
fn attach_refuses_big_tcp_and_takes_the_device_once_it_is_capped() {
    in_namespace(|ns| {
        ip(ns, "link add v0 type veth peer name v1");
        ip(ns, "link set v0 gso_max_size 185000 gro_max_size 185000");
        let mut server = ServerDataplane::load(ServerOptions::new(Trust::Any)).unwrap();
        let err = server.attach("v0", IngressHook::Tc).unwrap_err();
        assert!(
            matches!(
                &err,
                DataplaneError::BigTcp {
                    gso_max_size: 185000,
                    gro_max_size: 185000,
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            err.to_string().contains("gso_max_size 65536"),
            "the error says how to cap it: {err}"
        );
        assert_eq!(server.interface(), None);
        ip(ns, "link set v0 gso_max_size 65536 gro_max_size 65536");
        server.attach("v0", IngressHook::Tc).unwrap();
        assert_eq!(server.interface(), Some("v0"));
    });
}
