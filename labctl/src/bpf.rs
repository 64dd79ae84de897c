//! Tiny BPF programs assembled here (no clang, no object file) and the raw
//! `bpf(2)` calls around them. aya loads programs only from ELF objects,
//! which need clang; these need nothing, so `labctl doctor` works before
//! `make deps` and the lab needs no compiled object.
//!
//! - The loss dropper: a 7-instruction TC program that drops a packet when a
//!   random u32 falls below `loss × 2³²`. Used because this kernel has no
//!   `sch_netem`. [`crate::nl::dropper_filter`] attaches it as a
//!   direct-action `bpf` filter on the clsact egress hook of the sending
//!   interface. The filter holds the only reference to the program, so it
//!   lives and dies with the interface (its namespace): nothing to pin.
//! - [`returning`]: a 2-instruction program that returns a constant, which
//!   `labctl doctor` loads, pins and attaches (TCX, XDP) to find out what
//!   the kernel can do.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

use crate::error::{Error, Result};

/// `enum bpf_cmd` values (include/uapi/linux/bpf.h).
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_OBJ_PIN: libc::c_long = 6;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
const BPF_LINK_CREATE: libc::c_long = 28;
/// `enum bpf_prog_type` values.
pub const BPF_PROG_TYPE_SCHED_CLS: u32 = 3;
pub const BPF_PROG_TYPE_XDP: u32 = 6;
/// `enum bpf_attach_type` values.
pub const BPF_XDP: u32 = 37;
pub const BPF_TCX_INGRESS: u32 = 46;
/// `XDP_FLAGS_SKB_MODE` / `XDP_FLAGS_DRV_MODE` (include/uapi/linux/if_link.h).
pub const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
pub const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;
/// `XDP_PASS` (enum xdp_action).
pub const XDP_PASS: i32 = 2;
/// `BPF_FUNC_get_prandom_u32`.
const BPF_FUNC_GET_PRANDOM_U32: i32 = 7;
/// `TC_ACT_OK` / `TC_ACT_SHOT`.
pub const TC_ACT_OK: i32 = 0;
const TC_ACT_SHOT: i32 = 2;

/// `struct bpf_insn`: opcode, dst:4|src:4 registers, offset, immediate.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}

/// Drop probability as the u32 threshold the program compares against.
pub fn threshold(loss_pct: f64) -> u32 {
    let t = (loss_pct.clamp(0.0, 100.0) / 100.0 * 4_294_967_296.0).round();
    if t >= u32::MAX as f64 {
        u32::MAX
    } else {
        t as u32
    }
}

/// The program:
/// ```text
/// 0: call bpf_get_prandom_u32      ; r0 = random u32
/// 1: w1 = THRESHOLD                ; zero-extended
/// 2: if r0 >= r1 goto 5            ; unsigned
/// 3: r0 = TC_ACT_SHOT
/// 4: exit
/// 5: r0 = TC_ACT_OK
/// 6: exit
/// ```
pub fn dropper_program(threshold: u32) -> [Insn; 7] {
    [
        insn(0x85, 0, 0, 0, BPF_FUNC_GET_PRANDOM_U32), // BPF_JMP | BPF_CALL
        insn(0xb4, 1, 0, 0, threshold as i32),         // BPF_ALU | BPF_MOV | BPF_K
        insn(0x3d, 0, 1, 2, 0),                        // BPF_JMP | BPF_JGE | BPF_X
        insn(0xb7, 0, 0, 0, TC_ACT_SHOT),              // BPF_ALU64 | BPF_MOV | BPF_K
        insn(0x95, 0, 0, 0, 0),                        // BPF_JMP | BPF_EXIT
        insn(0xb7, 0, 0, 0, TC_ACT_OK),
        insn(0x95, 0, 0, 0, 0),
    ]
}

/// `r0 = code; exit`: a program that does nothing and returns `code`
/// (`TC_ACT_OK` for TC, `XDP_PASS` for XDP).
pub fn returning(code: i32) -> [Insn; 2] {
    [
        insn(0xb7, 0, 0, 0, code), // BPF_ALU64 | BPF_MOV | BPF_K
        insn(0x95, 0, 0, 0, 0),    // BPF_JMP | BPF_EXIT
    ]
}

/// The leading fields of `union bpf_attr` for `BPF_PROG_LOAD`; the rest
/// stays zero (the kernel accepts a shorter attr).
#[repr(C)]
#[derive(Debug, Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// `bpf(cmd, attr, sizeof attr)`; the errno of a failure is read by [`Error::sys`].
///
/// # Safety
/// Every pointer inside `attr` must be valid for what `cmd` does with it.
unsafe fn bpf<T>(cmd: libc::c_long, attr: &T) -> libc::c_long {
    // SAFETY: `attr` is a live, initialised `repr(C)` value of the size given;
    // the caller vouches for the pointers it holds.
    unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *const T,
            std::mem::size_of::<T>(),
        )
    }
}

/// Load `insns` as a GPL program of `prog_type` named `name` (≤ 15 bytes);
/// returns the program fd.
pub fn load(
    prog_type: u32,
    expected_attach_type: u32,
    insns: &[Insn],
    name: &str,
) -> Result<OwnedFd> {
    let license = c"GPL";
    let mut prog_name = [0u8; 16];
    let len = name.len().min(15);
    prog_name[..len].copy_from_slice(&name.as_bytes()[..len]);
    let attr = ProgLoadAttr {
        prog_type,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name,
        expected_attach_type,
        ..ProgLoadAttr::default()
    };
    // SAFETY: the instruction and license buffers outlive the call.
    let fd = unsafe { bpf(BPF_PROG_LOAD, &attr) };
    if fd < 0 {
        return Err(Error::sys("bpf(BPF_PROG_LOAD)", name));
    }
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Load the dropper for `loss_pct` percent; returns the program fd.
pub fn load_dropper(loss_pct: f64) -> Result<OwnedFd> {
    let prog = dropper_program(threshold(loss_pct));
    load(BPF_PROG_TYPE_SCHED_CLS, 0, &prog, "labctl_loss").map_err(|e| match e {
        Error::Sys { op, source, .. } => Error::Sys {
            op,
            what: format!("loss dropper {loss_pct} %"),
            source,
        },
        other => other,
    })
}

/// The leading fields of `struct bpf_prog_info` (up to the JIT image size).
#[repr(C)]
#[derive(Debug, Default)]
struct ProgInfo {
    prog_type: u32,
    id: u32,
    tag: [u8; 8],
    jited_prog_len: u32,
    xlated_prog_len: u32,
}

/// `BPF_OBJ_GET_INFO_BY_FD`'s attr.
#[repr(C)]
#[derive(Debug)]
struct InfoAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

/// Size of the program's JIT-compiled image: 0 when the kernel interprets it
/// (`net.core.bpf_jit_enable = 0`).
pub fn jited_len(prog: BorrowedFd<'_>) -> Result<u32> {
    let mut info = ProgInfo::default();
    let attr = InfoAttr {
        bpf_fd: prog.as_raw_fd() as u32,
        info_len: std::mem::size_of::<ProgInfo>() as u32,
        info: &mut info as *mut ProgInfo as u64,
    };
    // SAFETY: the kernel writes at most `info_len` bytes into `info`, which
    // outlives the call.
    if unsafe { bpf(BPF_OBJ_GET_INFO_BY_FD, &attr) } < 0 {
        return Err(Error::sys("bpf(BPF_OBJ_GET_INFO_BY_FD)", "program"));
    }
    Ok(info.jited_prog_len)
}

/// `BPF_OBJ_PIN`'s attr.
#[repr(C)]
#[derive(Debug)]
struct PinAttr {
    pathname: u64,
    bpf_fd: u32,
    file_flags: u32,
}

/// Pin a program (or map, or link) at `path` in a BPF filesystem.
pub fn pin(fd: BorrowedFd<'_>, path: &Path) -> Result<()> {
    let what = path.display().to_string();
    let c_path = CString::new(what.clone())
        .map_err(|_| Error::io("pin", path)(std::io::ErrorKind::InvalidInput.into()))?;
    let attr = PinAttr {
        pathname: c_path.as_ptr() as u64,
        bpf_fd: fd.as_raw_fd() as u32,
        file_flags: 0,
    };
    // SAFETY: the path buffer outlives the call.
    if unsafe { bpf(BPF_OBJ_PIN, &attr) } < 0 {
        return Err(Error::sys("bpf(BPF_OBJ_PIN)", what));
    }
    Ok(())
}

/// `BPF_LINK_CREATE`'s attr: the common head, then room for the per-type
/// union (zero: no relative program for TCX, no options for XDP).
#[repr(C)]
#[derive(Debug, Default)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
    rest: [u64; 4],
}

/// Attach `prog` to the interface `ifindex` of the calling thread's
/// namespace as a BPF link (TCX: `BPF_TCX_INGRESS`; XDP: `BPF_XDP` with
/// `XDP_FLAGS_*_MODE`). Closing the returned link fd detaches it.
pub fn link_create(
    prog: BorrowedFd<'_>,
    ifindex: u32,
    attach_type: u32,
    flags: u32,
) -> Result<OwnedFd> {
    let attr = LinkCreateAttr {
        prog_fd: prog.as_raw_fd() as u32,
        target_ifindex: ifindex,
        attach_type,
        flags,
        ..LinkCreateAttr::default()
    };
    // SAFETY: the attr holds no pointers.
    let fd = unsafe { bpf(BPF_LINK_CREATE, &attr) };
    if fd < 0 {
        return Err(Error::sys(
            "bpf(BPF_LINK_CREATE)",
            format!("attach type {attach_type}, ifindex {ifindex}"),
        ));
    }
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds() {
        assert_eq!(threshold(0.0), 0);
        assert_eq!(threshold(50.0), 1 << 31);
        assert_eq!(threshold(100.0), u32::MAX);
        assert_eq!(threshold(250.0), u32::MAX);
    }

    #[test]
    fn program_encoding() {
        let p = dropper_program(0x8000_0000);
        assert_eq!(std::mem::size_of::<Insn>(), 8, "sizeof(struct bpf_insn)");
        assert_eq!(p[1].imm as u32, 0x8000_0000);
        assert_eq!(p[2].regs, 0x10, "dst r0, src r1");
        // The jump lands on `r0 = TC_ACT_OK`.
        assert_eq!(p[2 + p[2].off as usize + 1].imm, TC_ACT_OK);
    }

    #[test]
    fn the_kernel_verifier_accepts_it() {
        // Needs CAP_BPF (root, as all of labctl's runtime tests).
        let fd = load_dropper(10.0).expect("load");
        drop(fd);
    }
}
