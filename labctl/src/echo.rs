//! ICMPv6 echo probes sent from inside a lab namespace (`labctl check`):
//! plain echoes to an address, and echoes through one SID that come back
//! to the sender. Every probe of one namespace shares one raw socket on one
//! thread inside it ([`labns::spawn_in`]); unanswered probes are sent again
//! every [`RESEND`] until all are answered or the wait is over.
//!
//! The ICMPv6 echo is written here by hand: it is 8 bytes (the kernel
//! fills the checksum of a raw ICMPv6 socket), and no crate of the
//! workspace sends one from a namespace thread. The SRH comes from the
//! `srh` crate and is attached with the `IPV6_RTHDR` socket option: the
//! kernel puts the socket's destination into segment 0 and sends the
//! packet to the active segment (`ipv6_push_rthdr4`).

use std::net::{Ipv6Addr, SocketAddrV6};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::sys::socket::{
    self, sockopt, AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType, SockaddrIn6,
};
use nix::sys::time::{TimeVal, TimeValLike};
use srh::Srh;

use crate::error::{Error, Result};

/// What one probe asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Probe {
    /// An echo request to this address, answered by its echo reply.
    Echo(Ipv6Addr),
    /// An echo request to the sender's own address through this SID (SRH
    /// `[sender, SID]`, segments left 1): it comes back only when the SID's
    /// node received it and ran `End`.
    ThroughSid(Ipv6Addr),
}

/// Unanswered probes are sent again this often (loss, neighbour discovery).
pub const RESEND: Duration = Duration::from_millis(200);

const ECHO_REQUEST: u8 = 128;
const ECHO_REPLY: u8 = 129;
const NEXT_HEADER_ICMPV6: u8 = 58;

/// Send `probes` from namespace `ns`, whose own address is `src`, on a
/// thread inside it; returns, per probe, whether it was answered within `wait`.
pub fn start(
    ns: &str,
    src: Ipv6Addr,
    probes: Vec<Probe>,
    wait: Duration,
) -> Result<labns::NsThread<Result<Vec<bool>>>> {
    let netns = ns.to_string();
    Ok(labns::spawn_in(ns, move || {
        probe_here(&netns, src, &probes, wait)
    })?)
}

/// On a thread inside the namespace: send, resend and collect answers.
fn probe_here(ns: &str, src: Ipv6Addr, probes: &[Probe], wait: Duration) -> Result<Vec<bool>> {
    let sys = |op: &'static str| {
        move |e: nix::Error| Error::Sys {
            op,
            what: format!("ICMPv6 echo in {ns}"),
            source: e.into(),
        }
    };
    let fd = socket::socket(
        AddressFamily::Inet6,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::IcmpV6,
    )
    .map_err(sys("socket"))?;
    // Any id: answers are also matched by sequence number and source address.
    let id = std::process::id() as u16;
    let mut answered = vec![false; probes.len()];
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 2048];
    loop {
        for (seq, probe) in probes.iter().enumerate() {
            if !answered[seq] {
                // A failed send (no route yet, a dropper) is a lost probe.
                let _ = send(&fd, src, *probe, id, seq as u16);
            }
        }
        let resend_at = (Instant::now() + RESEND).min(deadline);
        while let Some(left) = resend_at
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
        {
            // At least 1 µs: a zero timeout would block for ever.
            let timeout = TimeVal::microseconds(left.as_micros().clamp(1, 1 << 40) as i64);
            socket::setsockopt(&fd, sockopt::ReceiveTimeout, &timeout)
                .map_err(sys("setsockopt SO_RCVTIMEO"))?;
            let Ok((n, Some(from))) = socket::recvfrom::<SockaddrIn6>(fd.as_raw_fd(), &mut buf)
            else {
                continue;
            };
            if let Some(seq) = answer_to(&buf[..n], from.ip(), id, src, probes) {
                answered[seq] = true;
            }
        }
        if answered.iter().all(|a| *a) || Instant::now() >= deadline {
            return Ok(answered);
        }
    }
}

/// One echo request; a [`Probe::ThroughSid`] carries its SRH as a sticky
/// `IPV6_RTHDR` option, cleared again for plain echoes.
fn send(fd: &OwnedFd, src: Ipv6Addr, probe: Probe, id: u16, seq: u16) -> nix::Result<usize> {
    let (dst, srh) = match probe {
        Probe::Echo(dst) => (dst, Vec::new()),
        Probe::ThroughSid(sid) => {
            let srh = Srh::from_travel_order(NEXT_HEADER_ICMPV6, src, &[sid])
                .map(|s| s.to_bytes())
                .unwrap_or_default();
            (src, srh)
        }
    };
    set_rthdr(fd, &srh)?;
    let mut pkt = vec![ECHO_REQUEST, 0, 0, 0];
    pkt.extend_from_slice(&id.to_be_bytes());
    pkt.extend_from_slice(&seq.to_be_bytes());
    pkt.extend_from_slice(b"labctl check");
    let to = SockaddrIn6::from(SocketAddrV6::new(dst, 0, 0, 0));
    socket::sendto(fd.as_raw_fd(), &pkt, &to, MsgFlags::empty())
}

/// Set (or, with no bytes, clear) the socket's routing header.
fn set_rthdr(fd: &OwnedFd, rthdr: &[u8]) -> nix::Result<()> {
    // SAFETY: setsockopt(2) reads `rthdr.len()` bytes from a live slice.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_RTHDR,
            rthdr.as_ptr().cast(),
            rthdr.len() as libc::socklen_t,
        )
    };
    nix::errno::Errno::result(rc).map(drop)
}

/// The probe (its sequence number) a received ICMPv6 message answers: an
/// echo reply from the probed address, or for a probe through a SID our
/// own request (or the reply to it) coming back from our own address.
fn answer_to(
    icmp: &[u8],
    from: Ipv6Addr,
    id: u16,
    src: Ipv6Addr,
    probes: &[Probe],
) -> Option<usize> {
    let [kind, _, _, _, i0, i1, s0, s1, ..] = *icmp else {
        return None;
    };
    if u16::from_be_bytes([i0, i1]) != id {
        return None;
    }
    let seq = usize::from(u16::from_be_bytes([s0, s1]));
    let ok = match probes.get(seq)? {
        Probe::Echo(dst) => kind == ECHO_REPLY && from == *dst,
        Probe::ThroughSid(_) => matches!(kind, ECHO_REQUEST | ECHO_REPLY) && from == src,
    };
    ok.then_some(seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn answers_are_matched_by_kind_id_sequence_and_source() {
        let me = ip("fcbb:cc00:1::a");
        let probes = [
            Probe::Echo(ip("fcbb:cc00:2::a")),
            Probe::ThroughSid(ip("fcbb:bb00:1::2")),
        ];
        let msg = |kind: u8, id: u16, seq: u16| {
            let mut m = vec![kind, 0, 0, 0];
            m.extend_from_slice(&id.to_be_bytes());
            m.extend_from_slice(&seq.to_be_bytes());
            m
        };
        let peer = ip("fcbb:cc00:2::a");
        assert_eq!(answer_to(&msg(129, 7, 0), peer, 7, me, &probes), Some(0));
        assert_eq!(
            answer_to(&msg(129, 8, 0), peer, 7, me, &probes),
            None,
            "other id"
        );
        assert_eq!(
            answer_to(&msg(128, 7, 0), peer, 7, me, &probes),
            None,
            "a request"
        );
        assert_eq!(
            answer_to(&msg(129, 7, 0), me, 7, me, &probes),
            None,
            "wrong source"
        );
        assert_eq!(answer_to(&msg(128, 7, 1), me, 7, me, &probes), Some(1));
        assert_eq!(answer_to(&msg(129, 7, 1), me, 7, me, &probes), Some(1));
        assert_eq!(answer_to(&msg(128, 7, 1), peer, 7, me, &probes), None);
        assert_eq!(
            answer_to(&msg(129, 7, 9), peer, 7, me, &probes),
            None,
            "no probe 9"
        );
        assert_eq!(
            answer_to(&[129, 0, 0], peer, 7, me, &probes),
            None,
            "truncated"
        );
    }
}
