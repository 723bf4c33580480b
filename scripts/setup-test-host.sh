#!/usr/bin/env bash
# Makes a fresh Debian machine ready for `make test`: the Debian packages the tests use (listed
# in scripts/test-packages.txt). Idempotent: installs only what is missing, so a second run costs
# a second or two.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mapfile -t wanted < <(grep -v '^\s*#' "$here/test-packages.txt" | grep -v '^\s*$')
# The guest builder knows its own needs; keep the two lists from drifting apart.
mapfile -t -O "${#wanted[@]}" wanted < <(bash "$here/../test/fixtures/guest/build-guest.sh" --print-deps)

missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup-test-host: all ${#wanted[@]} packages present"
else
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup-test-host: missing packages (run as root to install): ${missing[*]}" >&2
    exit 1
  fi
  echo "setup-test-host: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# `docker compose` (v2) is not in bookworm: its plugin comes from trixie's package. Without it
# only the Compose v2 case of the compose e2e is skipped (and says so), so a failure here warns.
"$here/install-compose-v2.sh" || echo "setup-test-host: warning: no Compose v2 plugin; its e2e case will be skipped" >&2
# virt-fw-vars (python3-virt-firmware) is not in bookworm either; the OVMF store tests need it.
"$here/install-virt-firmware.sh"
