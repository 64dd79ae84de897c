//! The probes that need no privileges: kernel BTF and the build tools,
//! each tried (read the BTF header, compile a BPF program, run protoc).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::{missing, verdict, Feature, Tried, Verdict};

/// `BTF_MAGIC` (include/uapi/linux/btf.h), little-endian on disk for an
/// x86/arm64 kernel; a big-endian kernel writes it the other way round.
const BTF_MAGIC: u16 = 0xeb9f;
const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

/// What a program using libbpf needs: the kernel UAPI headers and libbpf's
/// helper definitions (the dataplane's programs include both).
const LIBBPF_PROBE: &str = "#include <linux/bpf.h>\n\
#include <bpf/bpf_helpers.h>\n\
SEC(\"xdp\") int probe(struct xdp_md *ctx) { return XDP_PASS; }\n\
char LICENSE[] SEC(\"license\") = \"GPL\";\n";
const CLANG_PROBE: &str = "int probe(void *ctx) { return 0; }\n";

pub(super) fn probe(wanted: &BTreeSet<Feature>) -> BTreeMap<Feature, Verdict> {
    let mut out = BTreeMap::new();
    for &f in wanted {
        let tried = match f {
            Feature::Btf => btf(),
            Feature::Clang => clang(),
            Feature::LibbpfHeaders => libbpf_headers(),
            Feature::Protoc => protoc(),
            Feature::Vpp => vpp(),
            _ => Err(Verdict::Untested {
                reason: "not a host probe".to_string(),
            }),
        };
        out.insert(f, verdict(tried));
    }
    out
}

fn btf() -> Tried {
    let mut head = [0u8; 4];
    std::fs::File::open(VMLINUX_BTF)
        .and_then(|mut f| f.read_exact(&mut head))
        .map_err(|e| missing(format!("read {VMLINUX_BTF}: {e}")))?;
    let le = u16::from_le_bytes([head[0], head[1]]);
    let be = u16::from_be_bytes([head[0], head[1]]);
    if le != BTF_MAGIC && be != BTF_MAGIC {
        return Err(missing(format!(
            "{VMLINUX_BTF} does not start with the BTF magic (found {le:#06x})"
        )));
    }
    Ok(format!("{VMLINUX_BTF} holds BTF version {}", head[2]))
}

/// The clang the dataplane's build script uses: `$CLANG`, else `clang`.
fn clang_program() -> OsString {
    std::env::var_os("CLANG").unwrap_or_else(|| "clang".into())
}

/// The first line a command prints for `arg` (its version), if it runs and succeeds.
fn run_for_line(program: &OsString, arg: &str) -> Result<String, String> {
    let shown = Path::new(program).display().to_string();
    let out = Command::new(program)
        .arg(arg)
        .output()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{shown} {arg}: {}", failure(&out)));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text.lines().next().unwrap_or_default().trim().to_string())
}

/// The status and the last line of stderr of a failed command.
fn failure(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    format!("{}: {}", out.status, last.trim())
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> std::io::Result<TempDir> {
        let dir =
            std::env::temp_dir().join(labns::netns::unique_name(super::kernel::SCRATCH_PREFIX));
        std::fs::create_dir(&dir)?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Compile `source` with clang for `-target bpf`, adding the multiarch
/// include directory where Debian keeps `asm/` (as the dataplane's build
/// script does). `Ok` when clang wrote an object file.
fn compile_bpf(source: &str) -> Result<(), String> {
    let clang = clang_program();
    let dir = TempDir::new().map_err(|e| format!("temporary directory: {e}"))?;
    let (src, obj) = (dir.0.join("probe.c"), dir.0.join("probe.o"));
    std::fs::write(&src, source).map_err(|e| format!("write {}: {e}", src.display()))?;
    let mut cmd = Command::new(&clang);
    cmd.args(["-O2", "-g", "-target", "bpf", "-c"]);
    if let Ok(triple) = run_for_line(&clang, "-print-multiarch") {
        let dir = Path::new("/usr/include").join(triple);
        if dir.join("asm").is_dir() {
            cmd.arg("-I").arg(dir);
        }
    }
    let out = cmd
        .arg(&src)
        .arg("-o")
        .arg(&obj)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", Path::new(&clang).display()))?;
    if !out.status.success() {
        return Err(format!("clang -target bpf failed: {}", failure(&out)));
    }
    if !obj.is_file() {
        return Err("clang -target bpf succeeded but wrote no object".to_string());
    }
    Ok(())
}

fn clang() -> Tried {
    let version = run_for_line(&clang_program(), "--version").map_err(missing)?;
    compile_bpf(CLANG_PROBE).map_err(missing)?;
    Ok(format!("{version}: compiled a program for -target bpf"))
}

fn libbpf_headers() -> Tried {
    run_for_line(&clang_program(), "--version").map_err(|e| Verdict::Untested {
        reason: format!("needs clang ({e})"),
    })?;
    compile_bpf(LIBBPF_PROBE).map_err(missing)?;
    Ok("compiled a program including <linux/bpf.h> and <bpf/bpf_helpers.h>".to_string())
}

/// `$PROTOC`, else `protoc` (what `proto/build.rs` runs).
fn protoc() -> Tried {
    let program = std::env::var_os("PROTOC").unwrap_or_else(|| "protoc".into());
    let version = run_for_line(&program, "--version").map_err(missing)?;
    Ok(format!("{} runs: {version}", Path::new(&program).display()))
}

/// The `vpp` binary `up` would start (the same `PATH` lookup).
fn vpp() -> Tried {
    crate::vpp::find_in_path("vpp")
        .map(|p| format!("{} (executable)", p.display()))
        .ok_or_else(|| missing("no executable `vpp` in PATH"))
}
