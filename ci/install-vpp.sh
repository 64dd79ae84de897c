#!/usr/bin/env bash
# FD.io VPP from FD.io's release packages (the fdio/release apt repository
# on packagecloud), for labs with `backend: vpp` routers. Ubuntu only.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=ci/lib.sh
. "$here/lib.sh"
codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
keyring=/usr/share/keyrings/fdio-release.gpg
repo=https://packagecloud.io/fdio/release
curl -fsSL "$repo/gpgkey" | gpg --dearmor | as_root tee "$keyring" > /dev/null
echo "deb [signed-by=$keyring] $repo/ubuntu $codename main" |
  as_root tee /etc/apt/sources.list.d/fdio-release.list > /dev/null
as_root apt-get update -qq
DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends vpp vpp-plugin-core
command -v vpp
dpkg-query -W vpp
