//! Which addresses a path may name: one rule for the paths user space
//! writes (`set_path`, `set_service_path`) and, in C, for the return paths
//! the server learns (`unusable_address` in `bpf/include/srv6_helpers.h`;
//! the program also refuses this host's own addresses).

use std::net::Ipv6Addr;

/// Why `addr` can be neither a path's destination nor one of its SIDs, or
/// `None` if it can (RFC 4291 §2.4-2.5): a path leads to unicast addresses
/// beyond this link and this host.
pub fn unusable(addr: Ipv6Addr) -> Option<&'static str> {
    let octets = addr.octets();
    if addr.is_multicast() {
        Some("multicast")
    } else if addr.is_unicast_link_local() {
        Some("link-local")
    } else if addr.is_loopback() {
        Some("loopback")
    } else if addr.is_unspecified() {
        Some("unspecified")
    } else if addr.to_ipv4_mapped().is_some() {
        Some("IPv4-mapped")
    } else if octets[..12].iter().all(|b| *b == 0) {
        Some("IPv4-compatible (deprecated)")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_classes_rfc_4291_sets_apart_are_unusable() {
        for (text, reason) in [
            ("ff02::1", "multicast"),
            ("ff0e::1234", "multicast"),
            ("fe80::1", "link-local"),
            ("febf:ffff::1", "link-local"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("::ffff:192.0.2.1", "IPv4-mapped"),
            ("::192.0.2.1", "IPv4-compatible (deprecated)"),
        ] {
            assert_eq!(unusable(text.parse().unwrap()), Some(reason), "{text}");
        }
        for text in [
            "fcbb:bb00:1::2",
            "2001:db8::1",
            "fec0::1",
            "fe00::1",
            "::1:0:0:1",
        ] {
            assert_eq!(unusable(text.parse().unwrap()), None, "{text}");
        }
    }
}
