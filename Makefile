# One entry point for a newcomer and for CI: `make test` installs what it needs
# (Debian packages through apt; crates through cargo) and runs every test.
SHELL := /bin/bash
CARGO ?= cargo

# Debian packages the build, the tests and the benchmarks need.
#   clang, libbpf-dev, linux-libc-dev: compile the C eBPF programs
#   protobuf-compiler: tonic/prost code generation for proto/
#   iproute2: lab and namespace tests (ip netns, tc) and the ip -batch baseline
#   iperf3: throughput benchmarks
#   iputils-ping: so `labctl exec NODE -- ping ...` works in a fresh lab
DEB_PACKAGES := clang libbpf-dev linux-libc-dev protobuf-compiler iproute2 iperf3 iputils-ping

.PHONY: all deps build test lint fmt bench fuzz clean lab

all: build

# Idempotent: installs only the packages that are missing.
deps:
	@missing=""; \
	for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing$$missing"; \
	  if [ "$$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "make deps: all Debian packages present"; fi

build: deps
	$(CARGO) build --workspace --all-targets

lint: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

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
