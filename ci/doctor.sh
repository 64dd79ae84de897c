#!/usr/bin/env bash
# Log the kernel and what it can run: `labctl doctor` (as root) judged
# against the topology files given, as a table in the log and the step
# summary, and as JSON in $RESULTS_DIR/doctor.json (default results/).
#   LABCTL=path/to/labctl ci/doctor.sh [TOPOLOGY...]
# Never fails the job by itself: a missing feature fails (or skips, exit 3)
# the tests and scenarios that need it, where it is reported again.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=ci/lib.sh
. "$here/lib.sh"
LABCTL=${LABCTL:-target/debug/labctl}
RESULTS_DIR=${RESULTS_DIR:-results}
mkdir -p "$RESULTS_DIR"
echo "kernel: $(uname -r)"
rc=0
as_root "$LABCTL" doctor "$@" > "$RESULTS_DIR/doctor.txt" || rc=$?
as_root "$LABCTL" doctor "$@" --output json > "$RESULTS_DIR/doctor.json" || true
{
  echo "### labctl doctor on $(uname -r) (exit $rc)"
  echo
  echo '```text'
  cat "$RESULTS_DIR/doctor.txt"
  echo '```'
} | to_summary
