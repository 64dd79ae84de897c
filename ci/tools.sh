#!/usr/bin/env bash
# The workflow linters, installed into $TOOLS_DIR only when missing or at
# another version, with the time each install took:
#   action-validator (crates.io, built by cargo install: a debug build
#     without default features, ~40 % less CPU than a release build; it
#     only validates a few small files): workflows and actions against
#     GitHub's schemas
#   zizmor (PyPI wheel holding a prebuilt binary, into a virtualenv):
#     security audit of workflows and actions
# Nothing is downloaded at run time: both work offline once installed.
# $TOOLS_DIR defaults to a per-user cache outside the checkout, so fresh
# clones on one machine (CI runs in one) install once.
set -euo pipefail
cd "$(dirname "$0")/.."

ACTION_VALIDATOR_VERSION=0.9.0
ZIZMOR_VERSION=1.32.0
TOOLS_DIR=${TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/srv6-e2e-tools}

has_version() { # binary version
  [[ -x $1 ]] && "$1" --version 2>/dev/null | grep -qF "$2"
}

timed() { # what command...
  local what=$1 start=$SECONDS
  shift
  echo "ci/tools.sh: installing $what"
  "$@"
  echo "ci/tools.sh: installed $what in $((SECONDS - start)) s"
}

if ! has_version "$TOOLS_DIR/bin/action-validator" "$ACTION_VALIDATOR_VERSION"; then
  timed "action-validator $ACTION_VALIDATOR_VERSION (cargo install)" \
    cargo install action-validator --version "$ACTION_VALIDATOR_VERSION" --locked \
    --debug --no-default-features --root "$TOOLS_DIR" --quiet
fi

install_zizmor() {
  python3 -m venv --clear "$TOOLS_DIR/venv"
  "$TOOLS_DIR/venv/bin/pip" install --quiet --disable-pip-version-check --only-binary=:all: \
    "zizmor==$ZIZMOR_VERSION"
}

if ! has_version "$TOOLS_DIR/venv/bin/zizmor" "$ZIZMOR_VERSION"; then
  timed "zizmor $ZIZMOR_VERSION (pip wheel)" install_zizmor
fi

echo "ci/tools.sh: $("$TOOLS_DIR/bin/action-validator" --version), $("$TOOLS_DIR/venv/bin/zizmor" --version) in $TOOLS_DIR"
