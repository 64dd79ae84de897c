//! Compiles the C eBPF programs in `bpf/` with clang into `$OUT_DIR/*.bpf.o`,
//! which `src/programs.rs` embeds.
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let bpf = manifest.join("bpf");
    let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang".to_string());
    println!("cargo:rerun-if-env-changed=CLANG");
    println!("cargo:rerun-if-changed={}", bpf.display());
    for entry in std::fs::read_dir(bpf.join("include")).expect("dataplane/bpf/include exists") {
        let path = entry.expect("readable bpf/include").path();
        println!("cargo:rerun-if-changed={}", path.display());
    }
    // Debian keeps asm/ under the multiarch directory; clang -target bpf does not look there.
    let multiarch = multiarch_include();
    for name in ["client", "server", "noop"] {
        let src = bpf.join(format!("{name}.bpf.c"));
        println!("cargo:rerun-if-changed={}", src.display());
        let obj = out.join(format!("{name}.bpf.o"));
        let mut cmd = Command::new(&clang);
        cmd.args([
            "-O2",
            "-g",
            "-target",
            "bpf",
            // v3: atomic fetch-and-add and compare-and-swap (the seqlock of
            // learned flows); every kernel this runs on has it (>= 5.12).
            "-mcpu=v3",
            "-Wall",
            "-Werror",
            "-Wno-unused-parameter",
        ])
        .arg("-I")
        .arg(bpf.join("include"));
        if let Some(dir) = &multiarch {
            cmd.arg("-I").arg(dir);
        }
        cmd.arg("-c").arg(&src).arg("-o").arg(&obj);
        let status = match cmd.status() {
            Ok(status) => status,
            Err(err) => panic!(
                "cannot run `{clang}` to build the eBPF programs ({err}).\n\
                 Install the build dependencies with `make deps` (clang, libbpf-dev, linux-libc-dev)."
            ),
        };
        if !status.success() {
            panic!(
                "clang failed on {} ({status}). If headers such as <bpf/bpf_helpers.h> are missing, \
                 run `make deps`.",
                src.display()
            );
        }
    }
}

fn multiarch_include() -> Option<PathBuf> {
    let output = Command::new("gcc").arg("-print-multiarch").output().ok()?;
    let triple = String::from_utf8(output.stdout).ok()?;
    let dir = Path::new("/usr/include").join(triple.trim());
    dir.join("asm").is_dir().then_some(dir)
}
