#!/usr/bin/env bash
# Run scenarios with `labctl run` as root (sudo -E when not root), one after
# another, from the current directory (labctl writes its pcaps, reports and
# drawings under results/<scenario>/<run>/ there):
#   LABCTL=path/to/labctl ci/run-scenarios.sh [--router-backend NAME] SCENARIO_DIR...
# Beside them, in $RESULTS_DIR/ci (default results/ci): junit/NAME.xml
# (--junit), json/NAME.json (--output json), logs/NAME.log (stderr) and
# status.tsv (name, exit code, verdict); a table goes to the step summary
# and passed/failed/invalid/skipped counts to $GITHUB_OUTPUT.
# `labctl run` exits 0 passed, 1 failed, 2 invalid, 3 skipped (the machine
# lacks a feature: reported with its reason, never counted as passed, and
# not a failure of the job). This script exits 1 when a scenario failed or
# was invalid, else 0.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=ci/lib.sh
. "$here/lib.sh"
LABCTL=${LABCTL:-target/debug/labctl}
RESULTS_DIR=${RESULTS_DIR:-results}

extra=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --router-backend) extra+=(--router-backend "$2"); shift 2 ;;
    --) shift; break ;;
    -*) echo "run-scenarios.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
if [[ $# -eq 0 ]]; then
  echo "run-scenarios.sh: no scenario directory given" >&2
  exit 2
fi

out=$RESULTS_DIR/ci
mkdir -p "$out/junit" "$out/json" "$out/logs"
: > "$out/status.tsv"
bad=0
for dir in "$@"; do
  dir=${dir%/}
  name=${dir##*/}
  echo "::group::scenario $name"
  rc=0
  as_root "$LABCTL" run "$dir" "${extra[@]}" --junit "$out/junit/$name.xml" --output json \
    > "$out/json/$name.json" 2> >(tee "$out/logs/$name.log" >&2) || rc=$?
  echo "::endgroup::"
  case $rc in
    0) verdict=passed ;;
    1) verdict=failed ;;
    2) verdict=invalid ;;
    3) verdict=skipped ;;
    *) verdict=error ;;
  esac
  [[ $rc -eq 0 || $rc -eq 3 ]] || bad=1
  printf '%s\t%s\t%s\n' "$name" "$rc" "$verdict" >> "$out/status.tsv"
  echo "scenario $name: $verdict (exit $rc)"
done
# Files labctl wrote as root go back to the caller (artifact upload, cleanup).
as_root chown -R "$(id -u):$(id -g)" "$RESULTS_DIR"
python3 "$here/summarize.py" "$out" --github-output "${GITHUB_OUTPUT:-/dev/null}" | to_summary
exit "$bad"
