#!/usr/bin/env bash
# Install the Rust toolchain CI builds and lints with ($RUST_TOOLCHAIN,
# default: the release this workspace is developed on; clippy's lints change
# between releases, so `make lint` pins it). Runner images ship rustup.
# Steps that build then set RUSTUP_TOOLCHAIN to the same value.
set -euo pipefail
toolchain=${RUST_TOOLCHAIN:-1.95.0}
rustup toolchain install "$toolchain" --profile minimal --component clippy,rustfmt --no-self-update
rustup run "$toolchain" rustc --version
