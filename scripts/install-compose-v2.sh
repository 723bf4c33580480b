#!/usr/bin/env bash
# Installs the Compose v2 CLI plugin (`docker compose`), which most users type, for the compose
# end-to-end test. Debian bookworm only packages the older Python `docker-compose` 1.29; trixie's
# `docker-compose` package is Compose v2 (a static Go binary needing only libc6 >= 2.34). Its
# plugin binary is taken from the trixie package (trixie-package.sh) and installed where the
# docker CLI looks for plugins.
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
"$(dirname "$0")/trixie-package.sh" docker-compose "$work/root"
install -D -m 0755 "$work/root/usr/libexec/docker/cli-plugins/docker-compose" "$PLUGIN_DIR/docker-compose"
echo "install-compose-v2: $(docker compose version)"
