# One entry point for a newcomer and for CI: `make test` installs what it needs
# (Debian packages through apt; crates through cargo; the workflow linters)
# and runs every test and lint.
SHELL := /bin/bash
CARGO ?= cargo

# Debian packages the build, the tests, the benchmarks and the lint need: the
# list and the install (only what is missing) live in ci/deps.sh, which the
# GitHub workflow and the composite action (action.yml) run too.
# The workflow linters (action-validator from crates.io, zizmor from PyPI)
# are installed by ci/tools.sh into TOOLS_DIR (default ~/.cache/srv6-e2e-tools)
# when missing, printing how long each install took.

.PHONY: all deps tools build test lint lint-ci fmt bench fuzz clean lab

all: build

# Idempotent: installs only the packages that are missing.
deps:
	@ci/deps.sh

tools:
	@ci/tools.sh

build: deps
	$(CARGO) build --workspace --all-targets

lint: deps lint-ci
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# The GitHub workflows and action.yml: schema (action-validator) and audit
# (zizmor, offline); the CI scripts: shellcheck, then their own tests.
lint-ci: deps tools
	ci/lint-workflows.sh
	shellcheck -x ci/*.sh .ci/run
	ci/selftest.sh

fmt:
	$(CARGO) fmt --all

# Privileged tests (namespaces, attached BPF programs) need root: CI runs as root.
# Not --all-targets: benchmarks are run by `make bench`, not as tests.
test: deps lint
	$(CARGO) test --workspace --doc
	$(CARGO) test --workspace --lib --bins --tests

bench: deps
	$(CARGO) bench --workspace

# The dataplane fuzz under three fresh random seeds, 10^6 packets per program
# and seed (`make test` runs fixed seeds). Seeds are printed first: reproduce a
# failure with FUZZ_SEEDS=<seed> FUZZ_PACKETS=1000000.
fuzz: deps
	@seeds=$$(for i in 1 2 3; do od -An -N8 -tu8 /dev/urandom | tr -d ' '; done | paste -sd,); \
	echo "make fuzz: FUZZ_SEEDS=$$seeds FUZZ_PACKETS=1000000"; \
	FUZZ_SEEDS=$$seeds FUZZ_PACKETS=1000000 $(CARGO) test --release -p dataplane --test bpf_fuzz

# The main job: bring up the reference hawk lab (replacing a running one).
lab: deps
	$(CARGO) build -p labctl
	./target/debug/labctl up topologies/hawk.yaml --replace
	./target/debug/labctl status hawk

clean:
	$(CARGO) clean
