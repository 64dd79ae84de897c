#!/usr/bin/env bash
# The workspace's tests as `make test` runs them, split by privilege: cargo
# builds them as the calling user (target/ stays theirs), then every test
# binary runs as root (sudo -E when not root: namespaces, BPF), from its
# package directory as `cargo test` would run it. Doc tests need no
# privileges and run through cargo. Prints cargo's "test result:" lines, a
# table in the step summary and a closing "tests: N passed, N failed" line;
# exits 1 when a test failed.
#   ci/run-tests.sh [CARGO_PACKAGE_ARGS...]   (default --workspace; e.g. -p labctl)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=ci/lib.sh
. "$here/lib.sh"
cd "$here/.."
CARGO=${CARGO:-cargo}
packages=("$@")
[[ ${#packages[@]} -gt 0 ]] || packages=(--workspace)
log=$(mktemp)
binaries=$(mktemp)
trap 'rm -f "$log" "$binaries"' EXIT

failed=()
if ! "$CARGO" test "${packages[@]}" --locked --doc 2>&1 | tee -a "$log"; then
  failed+=(doctests)
fi
# Not --all-targets: benchmarks are run by `make bench`, not as tests.
"$CARGO" test "${packages[@]}" --locked --lib --bins --tests --no-run --message-format=json |
  python3 -c '
import json, os, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["profile"]["test"] and m.get("executable"):
        print(os.path.dirname(m["manifest_path"]) + "\t" + m["executable"])
' > "$binaries"

while IFS=$'\t' read -r dir exe; do
  echo "     Running ${exe#"$PWD"/} (in ${dir#"$PWD"/})"
  if ! (cd "$dir" && as_root "$exe") 2>&1 | tee -a "$log"; then
    failed+=("${exe##*/}")
  fi
done < "$binaries"

totals=$(awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1) } }
  END { printf "%d passed, %d failed", p, f }' "$log")
{
  echo "### Tests on $(uname -r): $totals"
  for b in "${failed[@]}"; do echo "- FAILED: \`$b\`"; done
} | to_summary
echo "tests: $totals"
[[ ${#failed[@]} -eq 0 ]]
