#!/usr/bin/env bash
# Tests of the CI scripts themselves (run by `make lint`): run-scenarios.sh
# against a stand-in labctl that passes, fails, is invalid or skips (exit
# 3), checking the exit status (a skip does not fail the job; a failure or
# an invalid scenario does), status.tsv, the summary table with the skip's
# reason, the step outputs and the JUnit counts.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "selftest.sh: $*" >&2; exit 1; }

# labctl run DIR ... --junit PATH --output json: behaves as the DIR's name says.
cat > "$tmp/labctl" <<'SH'
#!/usr/bin/env bash
[[ $1 == run ]] || exit 99
dir=$2; shift 2
while [[ $# -gt 0 ]]; do
  case $1 in --junit) junit=$2; shift 2 ;; *) shift ;; esac
done
name=${dir##*/}
case $name in
  pass) cases=3; failures=0; code=0 ;;
  fail) cases=3; failures=1; code=1; echo "FAIL high-bandwidth: vpp1->vpp2 SL 3, expected 2" >&2 ;;
  bad) cases=0; failures=0; code=2; echo "scenario.yaml:3:5: steps: unknown field" >&2 ;;
  skip) cases=0; failures=0; code=3; echo "skipped: needs netem (missing: add a netem qdisc: No such file or directory)" >&2 ;;
esac
printf '<testsuites tests="%d" failures="%d" errors="0"><testsuite name="%s" tests="%d" failures="%d" errors="0" skipped="0"/></testsuites>\n' \
  "$cases" "$failures" "$name" "$cases" "$failures" > "$junit"
echo '{"scenario": "'"$name"'"}'
exit "$code"
SH
chmod +x "$tmp/labctl"
mkdir -p "$tmp/s/pass" "$tmp/s/fail" "$tmp/s/bad" "$tmp/s/skip"

run() { # expected-exit scenario...
  local want=$1 rc=0
  shift
  : > "$tmp/out" && : > "$tmp/summary"
  LABCTL=$tmp/labctl RESULTS_DIR=$tmp/results GITHUB_OUTPUT=$tmp/out GITHUB_STEP_SUMMARY=$tmp/summary \
    "$here/run-scenarios.sh" "$@" > "$tmp/log" 2>&1 || rc=$?
  [[ $rc -eq $want ]] || { cat "$tmp/log"; fail "run-scenarios.sh $* exited $rc, expected $want"; }
}

run 0 "$tmp/s/pass" "$tmp/s/skip/"
grep -qx $'pass\t0\tpassed' "$tmp/results/ci/status.tsv" || fail "status.tsv: $(cat "$tmp/results/ci/status.tsv")"
grep -qx $'skip\t3\tskipped' "$tmp/results/ci/status.tsv" || fail "status.tsv: $(cat "$tmp/results/ci/status.tsv")"
grep -q '^### Scenarios: 1 passed, 1 skipped$' "$tmp/summary" || fail "summary: $(cat "$tmp/summary")"
grep -q '| skip | .* skipped | 3 | 0 / 0 passed | skipped: needs netem' "$tmp/summary" || fail "summary: $(cat "$tmp/summary")"
grep -q '| pass | .* passed | 0 | 3 / 3 passed |' "$tmp/summary" || fail "summary: $(cat "$tmp/summary")"
{ grep -qx 'skipped=1' "$tmp/out" && grep -qx 'passed=1' "$tmp/out"; } || fail "outputs: $(cat "$tmp/out")"
[[ $(cat "$tmp/results/ci/json/pass.json") == '{"scenario": "pass"}' ]] || fail "json report not kept"

run 1 "$tmp/s/pass" "$tmp/s/fail"
grep -q '| fail | .* failed | 1 | 2 / 3 passed | FAIL high-bandwidth' "$tmp/summary" || fail "summary: $(cat "$tmp/summary")"
run 1 "$tmp/s/bad"
grep -qx 'invalid=1' "$tmp/out" || fail "outputs: $(cat "$tmp/out")"
run 2
echo "selftest.sh: run-scenarios.sh passes, fails and skips as documented"
