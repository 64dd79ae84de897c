# shellcheck shell=bash
# Shared by the ci/ scripts (sourced, not run).

# Run a command as root: directly when already root (this repository's own
# CI), else through `sudo -E` with the caller's PATH (GitHub runners: the
# build stays the runner user's, only the run is privileged).
as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    "$@"
  else
    sudo -E env "PATH=$PATH" "$@"
  fi
}

# Append stdin to the GitHub step summary when there is one, and echo it.
to_summary() {
  if [[ -n ${GITHUB_STEP_SUMMARY:-} ]]; then
    tee -a "$GITHUB_STEP_SUMMARY"
  else
    cat
  fi
}
