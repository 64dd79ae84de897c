//! Generates the `api` package (intent contract + admin API) with tonic/prost.
//! protoc comes from Debian's `protobuf-compiler` (installed by `make deps`)
//! or from the `PROTOC` environment variable.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let protoc = std::env::var_os("PROTOC")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("protoc"));
    let found = Command::new(&protoc)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        eprintln!(
            "error: protoc ({}) not found or not runnable: run `make deps` \
             (installs Debian's protobuf-compiler) or set PROTOC to a protoc binary",
            protoc.display()
        );
        std::process::exit(1);
    }
    println!("cargo:rerun-if-env-changed=PROTOC");
    let protos = ["proto/intent.proto", "proto/admin.proto"];
    for p in &protos {
        println!("cargo:rerun-if-changed={p}");
    }
    if let Err(e) = tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_protos(&protos, &["proto"])
    {
        eprintln!("error: generating code from proto/*.proto failed: {e}");
        std::process::exit(1);
    }
}
