#!/usr/bin/env bash
# Installs the Compose v2 CLI plugin (`docker compose`), which most users type, for the compose
# end-to-end test. Debian bookworm only packages the older Python `docker-compose` 1.29; trixie's
# `docker-compose` package is Compose v2 (a static Go binary needing only libc6 >= 2.34). Its
# plugin binary is taken from the trixie package without adding trixie to the machine's APT
# sources (a private list directory), and installed where the docker CLI looks for plugins.
# Idempotent: does nothing when `docker compose` already works.
set -euo pipefail
PLUGIN_DIR=/usr/local/lib/docker/cli-plugins

if docker compose version >/dev/null 2>&1; then
  echo "install-compose-v2: $(docker compose version)"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-compose-v2: run as root to install the Compose v2 plugin into $PLUGIN_DIR" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial"
# apt fetches as the unprivileged _apt user: it must be able to write here.
chown -R _apt "$work" 2>/dev/null || chmod -R 0777 "$work"
# The machine's own Debian mirror (apt-mirror.sh reads it from its APT sources).
mirror=$("$(dirname "$0")/apt-mirror.sh")
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" >"$work/sources.list"
apt_opts=(-o "Dir::Etc::sourcelist=$work/sources.list" -o "Dir::Etc::sourceparts=-" -o "Dir::State::Lists=$work/lists")
apt-get "${apt_opts[@]}" update -qq
(cd "$work" && apt-get "${apt_opts[@]}" download -qq docker-compose)
dpkg-deb -x "$work"/docker-compose_*.deb "$work/root"
install -D -m 0755 "$work/root/usr/libexec/docker/cli-plugins/docker-compose" "$PLUGIN_DIR/docker-compose"
echo "install-compose-v2: $(docker compose version)"
