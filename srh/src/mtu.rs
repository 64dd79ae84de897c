//! Keeping full-size packets working when an SRH is inserted.
//!
//! An inserted SRH of n segments adds `8 + 16·n` bytes after the sender's
//! stack has sized the packet, and veth drops an oversized frame silently
//! (DESIGN §10). The dataplane handles it without routes or user-space help:
//!
//! - **TCP**: on insert, the egress program lowers the MSS option of SYN and
//!   SYN-ACK segments to `device MTU − 40 − 20 − SRH length` (counter
//!   `mss_clamped`). The client clamps its SYN, the server its SYN-ACK, so
//!   each side sends segments that fit once the (same-sized, reversed) SRH is
//!   inserted. GSO packets need nothing more: `bpf_skb_adjust_room` lowers
//!   their `gso_size` by the SRH length.
//! - **Anything else that would not fit** (a UDP datagram within
//!   `MTU − SRH length` of the MTU, a TCP flow whose path grew after its
//!   handshake): dropped and counted as `too_big` rather than sent to be lost
//!   silently. For UDP, [`route_mtu`] is the MTU to give the destination's
//!   route (`ip -6 route ... mtu N`) so the sender's stack sizes datagrams
//!   to fit.
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
