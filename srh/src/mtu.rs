//! Keeping full-size packets working when an SRH is inserted.
//!
//! An inserted SRH of n segments adds `8 + 16·n` bytes after the sender's
//! stack has sized the packet, and veth drops an oversized frame silently
//! (DESIGN §10). How the dataplane keeps full-size packets working
//! (docs/dataplane.md, "MTU"):
//!
//! - **TCP**: on insert, the egress program lowers the MSS option of SYN and
//!   SYN-ACK segments to [`clamped_mss`] (counter `mss_clamped`), so each
//!   side sends segments that fit once the (same-sized, reversed) SRH is in.
//!   GSO packets keep that segment size when it fits (`FIXED_GSO`).
//! - **Anything that still would not fit** (a flow whose path grew after its
//!   handshake, UDP near the MTU) is turned into an ICMPv6 Packet Too Big
//!   for the sender's own stack (`too_big`), which then sends smaller.
//! - **Whoever writes a path** lowers the destination's route MTU to
//!   [`route_mtu`] before the path grows (`ip -6 route ... mtu N`), and
//!   raises it only after the path shrinks: live sockets size their
//!   segments to fit before any is too big.
use crate as srh;

/// Bytes an SRH carrying `sids` SIDs (plus the final destination) adds.
pub const fn srh_overhead(sids: usize) -> usize {
    srh::srh_len(sids + 1)
}

/// The TCP MSS the egress program advertises on a device of `mtu` bytes for
/// a path of `sids` SIDs.
pub const fn clamped_mss(mtu: usize, sids: usize) -> usize {
    mtu.saturating_sub(40 + 20 + srh_overhead(sids))
}

/// The route MTU that keeps datagrams to a destination steered over `sids`
/// SIDs within a device MTU of `mtu`.
pub const fn route_mtu(mtu: usize, sids: usize) -> usize {
    mtu.saturating_sub(srh_overhead(sids))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_path_overheads() {
        // hawk's high-bandwidth path: 4 SIDs + final destination = 5 segments.
        assert_eq!(srh_overhead(4), 88);
        assert_eq!(clamped_mss(1500, 4), 1352);
        assert_eq!(route_mtu(1500, 4), 1412);
        assert_eq!(srh_overhead(srh::MAX_SIDS), 280);
    }
}
