//! The loss dropper: a 6-instruction TC program that drops a packet when a
//! random u32 falls below `loss × 2³²`. Used because this kernel has no
//! `sch_netem`. It is assembled here (no clang, no object file) and loaded
//! with a raw `bpf(BPF_PROG_LOAD)`; [`crate::nl::dropper_filter`] attaches it
//! as a direct-action `bpf` filter on the clsact egress hook of the sending
//! interface. The filter holds the only reference to the program, so it lives
//! and dies with the interface (its namespace): nothing to pin or unpin.

use std::os::fd::{FromRawFd, OwnedFd};

use crate::error::{Error, Result};

/// `BPF_PROG_LOAD` and `BPF_PROG_TYPE_SCHED_CLS` (include/uapi/linux/bpf.h).
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_TYPE_SCHED_CLS: u32 = 3;
/// `BPF_FUNC_get_prandom_u32`.
const BPF_FUNC_GET_PRANDOM_U32: i32 = 7;
/// `TC_ACT_OK` / `TC_ACT_SHOT`.
const TC_ACT_OK: i32 = 0;
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
}

/// Load the dropper for `loss_pct` percent; returns the program fd.
pub fn load_dropper(loss_pct: f64) -> Result<OwnedFd> {
    let prog = dropper_program(threshold(loss_pct));
    let license = c"GPL";
    let mut name = [0u8; 16];
    name[..11].copy_from_slice(b"labctl_loss");
    let attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_SCHED_CLS,
        insn_cnt: prog.len() as u32,
        insns: prog.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name: name,
        ..ProgLoadAttr::default()
    };
    // SAFETY: bpf(2) reads `attr` and the instruction and license buffers,
    // which outlive the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_LOAD,
            &attr as *const ProgLoadAttr,
            std::mem::size_of::<ProgLoadAttr>(),
        )
    };
    if fd < 0 {
        return Err(Error::sys(
            "bpf(BPF_PROG_LOAD) loss dropper",
            format!("{loss_pct} %"),
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
