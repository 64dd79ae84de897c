//! The name rules every crate shares: lab and node names (labctl's `--name`,
//! the topology file, namespace and directory names) and DNS names (the
//! lab's records, the dataplane's DNS snooping, the agent's services).
//!
//! DNS names follow one rule, the one of the DNS library the lab serves and
//! resolves with: [`hickory_proto::rr::Name::from_ascii`] (labels of 1..=63
//! bytes, 255 bytes in wire format). Nothing else re-implements it.

use std::fmt;

/// Longest lab or node name.
pub const MAX_NAME_LEN: usize = 32;

/// Why a lab or node name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("{0} is empty")]
    Empty(NameKind),
    #[error("{kind} {name:?} is longer than {MAX_NAME_LEN} characters")]
    TooLong { kind: NameKind, name: String },
    #[error(
        "{kind} {name:?} is invalid: use 1..={MAX_NAME_LEN} lower-case letters, digits and '-', \
         starting with a letter, not ending with '-'"
    )]
    Invalid { kind: NameKind, name: String },
}

/// What a name names (for messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    Lab,
    Node,
}

impl fmt::Display for NameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameKind::Lab => "lab name",
            NameKind::Node => "node name",
        })
    }
}

/// Check a lab or node name: they become namespace names (`<lab>-<node>`),
/// host names and directory names, so only lower-case letters, digits and
/// '-' (a DNS label's rule, lower case), starting with a letter.
pub fn check_name(kind: NameKind, name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty(kind));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong {
            kind,
            name: name.to_owned(),
        });
    }
    let chars_ok = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !chars_ok || !name.starts_with(|c: char| c.is_ascii_lowercase()) || name.ends_with('-') {
        return Err(NameError::Invalid {
            kind,
            name: name.to_owned(),
        });
    }
    Ok(())
}

/// A DNS name that the lab, the dataplane and the agent refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsNameError {
    #[error("{name:?} is not a valid DNS name: {reason}")]
    Invalid { name: String, reason: String },
    #[error("{name:?} is not a fully qualified domain name (it needs at least two labels)")]
    NotQualified { name: String },
}

/// Parse a DNS name by the one rule (see the module docs), in lower case.
pub fn dns_name(name: &str) -> Result<hickory_proto::rr::Name, DnsNameError> {
    hickory_proto::rr::Name::from_ascii(name.trim())
        .map(|n| n.to_lowercase())
        .map_err(|e| DnsNameError::Invalid {
            name: name.to_owned(),
            reason: e.to_string(),
        })
}

/// A DNS name with at least two labels (a lab record, a service's name).
pub fn qualified_dns_name(name: &str) -> Result<hickory_proto::rr::Name, DnsNameError> {
    let parsed = dns_name(name)?;
    if parsed.num_labels() < 2 {
        return Err(DnsNameError::NotQualified {
            name: name.to_owned(),
        });
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_and_node_names() {
        for ok in ["hawk", "t123-4", "host-a", "a"] {
            assert_eq!(check_name(NameKind::Lab, ok), Ok(()), "{ok}");
        }
        for bad in ["", "-x", "x-", "a/b", "a b", "A", "t_1", "a.b", "1a"] {
            assert!(check_name(NameKind::Node, bad).is_err(), "{bad:?}");
        }
        assert!(matches!(
            check_name(NameKind::Lab, &"a".repeat(MAX_NAME_LEN + 1)),
            Err(NameError::TooLong { .. })
        ));
        assert!(check_name(NameKind::Lab, &"a".repeat(MAX_NAME_LEN)).is_ok());
    }

    #[test]
    fn dns_names() {
        assert_eq!(
            qualified_dns_name("WB.Hawk.net.").map(|n| n.to_ascii()),
            Ok("wb.hawk.net.".to_owned())
        );
        assert!(dns_name("a..b").is_err());
        assert!(dns_name(&"x".repeat(64)).is_err());
        assert!(dns_name(&vec!["abcdefghi"; 26].join(".")).is_err());
        assert!(dns_name(&vec!["abcdefghi"; 25].join(".")).is_ok());
        assert!(matches!(
            qualified_dns_name("localhost"),
            Err(DnsNameError::NotQualified { .. })
        ));
    }
}
