//! Interface names: the rule for written ones and the derivation of the rest.

/// Longest interface name Linux accepts (IFNAMSIZ - 1).
pub const MAX_IFNAME_LEN: usize = 15;

/// A written interface name Linux accepts and the lab can use.
pub(super) fn check_ifname(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_IFNAME_LEN {
        return Err(format!(
            "interface name {name:?} must have 1..={MAX_IFNAME_LEN} characters (Linux IFNAMSIZ)"
        ));
    }
    if name == "." || name == ".." || name == "lo" {
        return Err(format!("interface name {name:?} is reserved"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(format!(
            "interface name {name:?} may only hold letters, digits, '-', '_' and '.'"
        ));
    }
    Ok(())
}

/// The derived interface name on a node for link `id` towards `peer`:
/// `<peer>-<id>`, the peer name cut so that the whole fits in 15 characters.
/// `side` ("a"/"b") is appended to the id only when both ends of one link
/// would otherwise get the same (cut) name.
pub fn derived_ifname(peer: &str, id: usize, side: Option<&str>) -> String {
    let suffix = format!("-{id}{}", side.unwrap_or(""));
    let keep = MAX_IFNAME_LEN.saturating_sub(suffix.len());
    let cut: String = peer.chars().take(keep).collect();
    format!("{cut}{suffix}")
}

/// The derived names of both ends of link `id` (a's first): each named
/// after its peer, with a side mark when both would be cut to one name.
pub(super) fn derived_pair(a_node: &str, b_node: &str, id: usize) -> (String, String) {
    let on_a = derived_ifname(b_node, id, None);
    let on_b = derived_ifname(a_node, id, None);
    if on_a == on_b {
        (
            derived_ifname(b_node, id, Some("a")),
            derived_ifname(a_node, id, Some("b")),
        )
    } else {
        (on_a, on_b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ifnames_fit_and_keep_the_link_id() {
        assert_eq!(derived_ifname("vpp2", 1, None), "vpp2-1");
        let long = derived_ifname("a-very-long-router-name", 123, None);
        assert_eq!(long, "a-very-long-123");
        assert_eq!(long.len(), MAX_IFNAME_LEN);
        assert_eq!(
            derived_ifname("a-very-long-router-name", 7, Some("b")),
            "a-very-long--7b"
        );
    }
}
