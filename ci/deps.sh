#!/usr/bin/env bash
# The Debian/Ubuntu packages the build, the tests, the benchmarks and the
# lint need; installs only those missing (idempotent). One list for
# everyone: `make deps`, the GitHub workflow and the composite action
# (action.yml) all run this script.
#
#   clang, libbpf-dev, linux-libc-dev: compile the C eBPF programs
#   protobuf-compiler: tonic/prost code generation for proto/
#   iproute2: lab and namespace tests (ip netns, tc) and the ip -batch baseline
#   iperf3: throughput benchmarks
#   iputils-ping: so `labctl exec NODE -- ping ...` works in a fresh lab
#   python3-venv: the virtualenv ci/tools.sh installs zizmor into
#   `make lint` runs shellcheck on the ci/ scripts
set -euo pipefail

DEB_PACKAGES=(clang libbpf-dev linux-libc-dev protobuf-compiler iproute2 iperf3 iputils-ping python3-venv shellcheck)

if [[ ${1:-} == --list ]]; then
  printf '%s\n' "${DEB_PACKAGES[@]}"
  exit 0
fi

missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "ci/deps.sh: all Debian packages present"
  exit 0
fi
echo "ci/deps.sh: installing ${missing[*]}"
sudo=()
if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
