//! A packet capture on one interface: an AF_PACKET socket with a
//! TPACKET_V2 receive ring (`PACKET_RX_RING`, mmap).
//!
//! Why a ring and not `recv()`: the kernel copies a frame into the ring when
//! it is tapped, so the capture shows what was on the wire. A plain socket
//! queues a reference to the skb, and a router's `seg6local End` that
//! rewrites the SRH in place afterwards changes what `recv()` later reads
//! (DESIGN §10). Taps see outgoing frames after TC egress and incoming
//! frames before TC ingress.
//!
//! Each [`Frame`] carries its direction (`PACKET_OUTGOING`: sent by this
//! interface; anything else: received), its wall-clock timestamp
//! (`CLOCK_REALTIME`, as `SystemTime`: the kernel stamps a tapped frame
//! with `ktime_get_real` unless it already carries a real-time stamp) and
//! its length on the wire. Frames are cut to [`CaptureOptions::snaplen`] by
//! a one-instruction socket filter (`ret #snaplen`, the way `tcpdump -s`
//! does it) **before** the kernel copies them, so a 64 KiB GSO super-frame
//! costs the ring no more than a small one; [`Frame::len`] keeps its real
//! length. Frames the ring had no room for are counted by the kernel
//! (`PACKET_STATISTICS`, [`Capture::stats`]).
//!
//! The socket belongs to the network namespace of the thread that opened it
//! ([`Capture::open`]); the capture can then be read from any thread.
//!
//! Written by hand: no maintained crate offers a TPACKET ring on Linux
//! (pnet and pcap read with `recv()`/libpcap), and nix has no wrappers for
//! the `SOL_PACKET` options, so this module calls `libc` for them.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::time::Duration;

use crate::error::{Error, Result};

/// Default bytes kept of each frame: Ethernet, IPv6, an SRH of 16 segments
/// (8 + 16·16 bytes), a TCP header with options, and room for other
/// extension headers.
pub const DEFAULT_SNAPLEN: u32 = 512;
/// Default ring size in frames.
pub const DEFAULT_RING_FRAMES: u32 = 8192;

/// How to capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureOptions {
    /// Bytes kept of each frame (at least 64).
    pub snaplen: u32,
    /// Frames the ring holds before the kernel drops (and counts) more.
    pub ring_frames: u32,
}

impl Default for CaptureOptions {
    fn default() -> CaptureOptions {
        CaptureOptions {
            snaplen: DEFAULT_SNAPLEN,
            ring_frames: DEFAULT_RING_FRAMES,
        }
    }
}

/// One captured frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// When it was tapped: `CLOCK_REALTIME`, since the UNIX epoch.
    pub ts: Duration,
    /// Sent by the captured interface (else received by it).
    pub outgoing: bool,
    /// Its first bytes (at most the snap length), from the Ethernet header on.
    pub data: Vec<u8>,
    /// Its length on the wire.
    pub len: u32,
}

/// What the kernel counted for a capture since it was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaptureStats {
    /// Frames the socket accepted (delivered or dropped).
    pub packets: u64,
    /// Frames dropped because the ring was full.
    pub drops: u64,
}

/// `struct tpacket2_hdr` (linux/if_packet.h).
#[repr(C)]
struct Tpacket2Hdr {
    tp_status: u32,
    tp_len: u32,
    tp_snaplen: u32,
    tp_mac: u16,
    tp_net: u16,
    tp_sec: u32,
    tp_nsec: u32,
    tp_vlan_tci: u16,
    tp_vlan_tpid: u16,
    tp_padding: [u8; 4],
}

const TPACKET_V2: libc::c_int = 1;
const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;
/// `TPACKET_ALIGN(sizeof(struct tpacket2_hdr))`: where the `sockaddr_ll`
/// with the packet type sits in each frame slot.
const SLL_OFFSET: usize = 32;
/// `PACKET_OUTGOING` of linux/if_packet.h.
const PACKET_OUTGOING: u8 = 4;
/// Bytes of each slot before the frame: the header, the `sockaddr_ll`
/// and the kernel's alignment of the network header (at most 128).
const SLOT_OVERHEAD: u32 = 128;
/// Size of each ring block: the kernel needs a multiple of the page size
/// and of the frame slot.
const MIN_BLOCK: u32 = 1 << 16;

/// An open capture; closed (ring unmapped, socket closed) on drop.
#[derive(Debug)]
pub struct Capture {
    fd: OwnedFd,
    ring: NonNull<u8>,
    ring_len: usize,
    slot: usize,
    slots: usize,
    next: usize,
    totals: CaptureStats,
    ifname: String,
}

// SAFETY: the ring is mapped for this capture alone and only touched through
// `&mut self`; the socket stays bound to the namespace it was opened in
// whichever thread reads it.
unsafe impl Send for Capture {}

fn os_err(ifname: &str, op: &'static str) -> Error {
    Error::Capture {
        ifname: ifname.to_string(),
        op,
        source: io::Error::last_os_error(),
    }
}

/// `setsockopt(fd, level, name, &value)` for a plain-data `value`.
fn set_opt<T>(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, value: &T) -> bool {
    // SAFETY: `value` is a live, correctly sized plain-data value the kernel only reads.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    rc == 0
}

/// Slot and block sizes of a ring for `opts`: a power-of-two slot that
/// holds a frame of `snaplen` bytes after the kernel's headers, and blocks
/// of at least 64 KiB.
fn geometry(opts: &CaptureOptions) -> (u32, u32, u32) {
    let slot = (opts.snaplen.max(64) + SLOT_OVERHEAD).next_power_of_two();
    let block = slot.max(MIN_BLOCK);
    let per_block = block / slot;
    let blocks = opts.ring_frames.max(1).div_ceil(per_block);
    (slot, block, blocks)
}

impl Capture {
    /// Capture every frame sent or received by `ifname` in the calling
    /// thread's network namespace, from now on.
    pub fn open(ifname: &str, opts: &CaptureOptions) -> Result<Capture> {
        let err = |op| os_err(ifname, op);
        // Protocol 0: the socket receives nothing until `bind` below names
        // the interface, so no frame of another interface slips in.
        // SAFETY: plain socket(2); the fd is owned right away.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(err("socket(AF_PACKET)"));
        }
        // SAFETY: `raw` is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let snaplen = opts.snaplen.max(64);
        // `ret #snaplen`: accept every frame, cut to snaplen bytes.
        let mut filter = [libc::sock_filter {
            code: (libc::BPF_RET | libc::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k: snaplen,
        }];
        let prog = libc::sock_fprog {
            len: 1,
            filter: filter.as_mut_ptr(),
        };
        if !set_opt(&fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &prog) {
            return Err(err("SO_ATTACH_FILTER"));
        }
        if !set_opt(&fd, libc::SOL_PACKET, libc::PACKET_VERSION, &TPACKET_V2) {
            return Err(err("PACKET_VERSION"));
        }
        let (slot, block, blocks) = geometry(opts);
        let req = libc::tpacket_req {
            tp_block_size: block,
            tp_block_nr: blocks,
            tp_frame_size: slot,
            tp_frame_nr: blocks * (block / slot),
        };
        if !set_opt(&fd, libc::SOL_PACKET, libc::PACKET_RX_RING, &req) {
            return Err(err("PACKET_RX_RING"));
        }
        let ring_len = block as usize * blocks as usize;
        // SAFETY: maps the ring the kernel just allocated for this socket;
        // unmapped in Drop.
        let ring = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                ring_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if ring == libc::MAP_FAILED {
            return Err(err("mmap"));
        }
        let Some(ring) = NonNull::new(ring.cast::<u8>()) else {
            return Err(err("mmap"));
        };
        let capture = Capture {
            fd,
            ring,
            ring_len,
            slot: slot as usize,
            slots: req.tp_frame_nr as usize,
            next: 0,
            totals: CaptureStats::default(),
            ifname: ifname.to_string(),
        };
        capture.bind()?;
        Ok(capture)
    }

    /// Bind to the interface for every protocol (`ETH_P_ALL`).
    fn bind(&self) -> Result<()> {
        let name = CString::new(self.ifname.as_str()).map_err(|_| Error::Capture {
            ifname: self.ifname.clone(),
            op: "interface name",
            source: io::Error::from(io::ErrorKind::InvalidInput),
        })?;
        // SAFETY: a valid NUL-terminated name.
        let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if index == 0 {
            return Err(os_err(&self.ifname, "find the interface"));
        }
        // SAFETY: sockaddr_ll is plain data; all zeroes is a valid value.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        sll.sll_ifindex = index as i32;
        // SAFETY: binding our socket to a correctly sized sockaddr_ll.
        let rc = unsafe {
            libc::bind(
                self.fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(os_err(&self.ifname, "bind"));
        }
        Ok(())
    }

    /// The interface captured.
    pub fn ifname(&self) -> &str {
        &self.ifname
    }

    fn header(&self, i: usize) -> *mut Tpacket2Hdr {
        // SAFETY: i < slots, so the slot lies inside the mapped ring.
        unsafe { self.ring.as_ptr().add(i * self.slot).cast() }
    }

    /// The next frame if the kernel has handed one over, without waiting.
    pub fn try_next(&mut self) -> Option<Frame> {
        let hdr = self.header(self.next);
        // SAFETY: the status word is shared with the kernel: read it volatile.
        let status = unsafe { std::ptr::read_volatile(&raw const (*hdr).tp_status) };
        if status & TP_STATUS_USER == 0 {
            return None;
        }
        // SAFETY: the kernel handed this slot to us (TP_STATUS_USER) and
        // wrote a header, a sockaddr_ll and `tp_snaplen` bytes at `tp_mac`,
        // all inside the slot (clamped below all the same).
        let frame = unsafe {
            let base = hdr.cast::<u8>();
            let mac = usize::from((*hdr).tp_mac).min(self.slot);
            let len = ((*hdr).tp_snaplen as usize).min(self.slot - mac);
            let pkttype = *base.add(SLL_OFFSET + 10);
            let frame = Frame {
                ts: Duration::new(u64::from((*hdr).tp_sec), (*hdr).tp_nsec),
                outgoing: pkttype == PACKET_OUTGOING,
                data: std::slice::from_raw_parts(base.add(mac), len).to_vec(),
                len: (*hdr).tp_len,
            };
            std::ptr::write_volatile(&raw mut (*hdr).tp_status, TP_STATUS_KERNEL);
            frame
        };
        self.next = (self.next + 1) % self.slots;
        Some(frame)
    }

    /// The next frame, waiting up to `timeout` for one.
    pub fn next(&mut self, timeout: Duration) -> Result<Option<Frame>> {
        if let Some(f) = self.try_next() {
            return Ok(Some(f));
        }
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN | libc::POLLERR,
            revents: 0,
        };
        let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: one pollfd of our own.
        let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
        if rc < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return Err(os_err(&self.ifname, "poll"));
        }
        Ok(self.try_next())
    }

    /// Every frame the ring holds now.
    pub fn drain(&mut self) -> Vec<Frame> {
        std::iter::from_fn(|| self.try_next()).collect()
    }

    /// Frames accepted and dropped since the capture was opened.
    pub fn stats(&mut self) -> Result<CaptureStats> {
        let mut s = libc::tpacket_stats {
            tp_packets: 0,
            tp_drops: 0,
        };
        let mut len = std::mem::size_of::<libc::tpacket_stats>() as libc::socklen_t;
        // SAFETY: the kernel writes at most `len` bytes into `s`.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&mut s as *mut libc::tpacket_stats).cast(),
                &mut len,
            )
        };
        if rc != 0 {
            return Err(os_err(&self.ifname, "PACKET_STATISTICS"));
        }
        // The kernel resets its counters on every read: keep the sums.
        self.totals.packets += u64::from(s.tp_packets);
        self.totals.drops += u64::from(s.tp_drops);
        Ok(self.totals)
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        // SAFETY: unmapping the ring this capture mapped; the fd closes itself.
        unsafe {
            libc::munmap(self.ring.as_ptr().cast(), self.ring_len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_geometry_holds_the_snap_length_and_the_kernel_rules() {
        for snaplen in [64, 512, 1500, 9000, 65_600] {
            let opts = CaptureOptions {
                snaplen,
                ring_frames: 100,
            };
            let (slot, block, blocks) = geometry(&opts);
            assert!(slot >= snaplen + SLOT_OVERHEAD, "{snaplen}");
            assert!(slot.is_power_of_two());
            assert_eq!(block % 4096, 0, "blocks are whole pages");
            assert_eq!(block % slot, 0, "slots tile a block");
            assert!(blocks * (block / slot) >= 100);
        }
        assert_eq!(geometry(&CaptureOptions::default()).0, 1024);
    }

    #[test]
    fn the_header_layout_is_the_kernels() {
        assert_eq!(std::mem::size_of::<Tpacket2Hdr>(), 32);
        assert_eq!(
            SLL_OFFSET,
            std::mem::size_of::<Tpacket2Hdr>().next_multiple_of(16)
        );
    }
}
