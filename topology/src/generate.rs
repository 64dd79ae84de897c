//! Generated topologies, for tests and benchmarks that need a lab larger
//! than the shipped ones (e.g. route counts, the SID limit of long paths).
//!
//! # Public API
//! - [`chain_yaml`]`(routers) -> String`: topology file text of a chain.

/// Most routers [`chain_yaml`] numbers: SIDs are `fcbb:bb00:<n>::2`, one 16-bit group.
pub const MAX_CHAIN_ROUTERS: usize = 0xffff;

/// The file text of lab `chain`: routers `r0 - r1 - ... - r<n-1>` in a line
/// (router `ri` has SID `fcbb:bb00:<i+1>::2`), host `ha` (`fcbb:cc00:1::a`)
/// on `r0` and host `hb` (`fcbb:cc00:2::a`) on the last router; subnets,
/// addresses and interface names derived. `routers` is clamped to
/// `1..=MAX_CHAIN_ROUTERS`.
pub fn chain_yaml(routers: usize) -> String {
    let routers = routers.clamp(1, MAX_CHAIN_ROUTERS);
    let mut yaml = String::from("name: chain\nnodes:\n");
    for i in 0..routers {
        yaml += &format!(
            "  r{i}: {{kind: router, sid: \"fcbb:bb00:{:x}::2\"}}\n",
            i + 1
        );
    }
    yaml += "  ha: {kind: host, address: \"fcbb:cc00:1::a\"}\n";
    yaml += "  hb: {kind: host, address: \"fcbb:cc00:2::a\"}\n";
    yaml += "links:\n  - {endpoints: [ha, r0]}\n";
    for i in 1..routers {
        yaml += &format!("  - {{endpoints: [r{}, r{i}]}}\n", i - 1);
    }
    yaml += &format!("  - {{endpoints: [r{}, hb]}}\n", routers - 1);
    yaml
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_load_and_have_the_named_shape() {
        for n in [1, 2, 7] {
            let t = crate::parse_str(&chain_yaml(n), "chain.yaml").unwrap();
            assert_eq!((t.nodes.len(), t.links.len()), (n + 2, n + 1));
            let last = format!("r{}", n - 1);
            assert!(t.link_between("ha", "r0").is_some());
            assert!(t.link_between(&last, "hb").is_some());
            assert_eq!(
                t.nodes[&last].sid,
                Some(format!("fcbb:bb00:{n:x}::2").parse().unwrap())
            );
        }
        let longest = chain_yaml(MAX_CHAIN_ROUTERS + 5);
        assert!(longest.contains("  r65534: {kind: router, sid: \"fcbb:bb00:ffff::2\"}\n"));
        assert!(!longest.contains("r65535"));
    }
}
