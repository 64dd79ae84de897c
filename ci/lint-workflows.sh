#!/usr/bin/env bash
# Lint the GitHub Actions files (.github/workflows/*.yml and action.yml):
# action-validator checks them against GitHub's schemas, zizmor audits them
# offline (template injection, excessive permissions, credentials left in
# the checkout, dangerous triggers, actions not pinned by commit: the
# policy is in .github/zizmor.yml). Both come from ci/tools.sh.
# First each tool is shown a known-bad file and must reject it, so a tool
# that silently accepts everything fails here instead of passing.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS_DIR=${TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/srv6-e2e-tools}
validator=$TOOLS_DIR/bin/action-validator
zizmor=$TOOLS_DIR/venv/bin/zizmor
for tool in "$validator" "$zizmor"; do
  [[ -x $tool ]] || { echo "lint-workflows.sh: $tool missing: run ci/tools.sh (make tools)" >&2; exit 1; }
done
audit() { "$zizmor" --offline --no-progress --color never --config .github/zizmor.yml "$@"; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# A pull_request_target workflow that checks out unpinned and interpolates
# an attacker's PR title into a shell script.
cat > "$tmp/bad.yml" <<'YAML'
on: pull_request_target
jobs:
  x:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@v4
      - run: echo "${{ github.event.pull_request.title }}"
YAML
# A job without runs-on and a step with a key GitHub does not know.
cat > "$tmp/bad-schema.yml" <<'YAML'
on: push
jobs:
  x:
    steps:
      - run: echo hi
        shell-script: echo no
YAML
if audit "$tmp/bad.yml" > "$tmp/zizmor.out" 2>&1; then
  cat "$tmp/zizmor.out"
  echo "lint-workflows.sh: zizmor accepted a known-bad workflow" >&2
  exit 1
fi
for finding in template-injection unpinned-uses dangerous-triggers; do
  grep -q "$finding" "$tmp/zizmor.out" || {
    cat "$tmp/zizmor.out"
    echo "lint-workflows.sh: zizmor did not report $finding" >&2
    exit 1
  }
done
if "$validator" "$tmp/bad-schema.yml" > "$tmp/validator.out" 2>&1; then
  cat "$tmp/validator.out"
  echo "lint-workflows.sh: action-validator accepted a workflow without runs-on" >&2
  exit 1
fi

# The workflow README.md shows users ("Running in CI"), with its placeholders
# filled in, so the snippet they copy is checked too.
snippet=$tmp/readme-snippet.yml
sed -n '/^<!-- ci-snippet/,/^<!-- \/ci-snippet -->/p' README.md |
  sed -e '/^<!--/d' -e '/^```/d' -e 's/OWNER/example-org/' \
    -e 's/COMMIT_SHA/0123456789abcdef0123456789abcdef01234567/' > "$snippet"
grep -q 'srv6-e2e@0123456789abcdef' "$snippet" || {
  echo "lint-workflows.sh: no ci-snippet workflow found in README.md" >&2
  exit 1
}

files=(.github/workflows/*.yml action.yml "$snippet")
for f in "${files[@]}"; do
  "$validator" "$f"
done
audit "${files[@]}"
echo "lint-workflows.sh: ${#files[@]} files (workflows, action.yml, the README's snippet) valid and clean ($("$validator" --version), $("$zizmor" --version))"
