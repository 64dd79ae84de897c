#!/usr/bin/env bash
# Bring topologies up (validate, doctor-checked `up --replace`, status) or
# down, as root (sudo -E when not root): the composite action's labs, which
# `labctl run` then reuses for scenarios of the same topology.
#   LABCTL=path/to/labctl ci/labs.sh up|down TOPOLOGY...
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=ci/lib.sh
. "$here/lib.sh"
LABCTL=${LABCTL:-target/debug/labctl}
verb=${1:?usage: labs.sh up|down TOPOLOGY...}
shift
case $verb in
  up)
    for file in "$@"; do
      "$LABCTL" validate "$file"
      as_root "$LABCTL" up "$file" --replace
      as_root "$LABCTL" status
    done
    ;;
  down)
    # Every lab, whatever happened before (the step runs even after a failure).
    as_root "$LABCTL" down --all
    ;;
  *)
    echo "labs.sh: unknown verb $verb (up or down)" >&2
    exit 2
    ;;
esac
