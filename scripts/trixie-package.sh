#!/usr/bin/env bash
# Unpacks one package of Debian trixie into a directory, for the few test tools bookworm lacks
# (Compose v2, python3-virt-firmware). The .deb comes from this machine's own Debian mirror
# (apt-mirror.sh reads it from its APT sources) through a private list directory: trixie is never
# added to the machine's APT sources and nothing is installed with dpkg.
# Usage: trixie-package.sh PACKAGE DEST   (DEST receives the package's file tree)
set -euo pipefail
package=$1 dest=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial"
# apt fetches as the unprivileged _apt user: it must be able to write here.
chown -R _apt "$work" 2>/dev/null || chmod -R 0777 "$work"
mirror=$("$(dirname "$0")/apt-mirror.sh")
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" >"$work/sources.list"
apt_opts=(-o "Dir::Etc::sourcelist=$work/sources.list" -o "Dir::Etc::sourceparts=-" -o "Dir::State::Lists=$work/lists")
apt-get "${apt_opts[@]}" update -qq
(cd "$work" && apt-get "${apt_opts[@]}" download -qq "$package")
mkdir -p "$dest"
dpkg-deb -x "$work/${package}"_*.deb "$dest"
