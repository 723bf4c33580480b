#!/bin/sh
# Build-time: puts the virtio-win drivers into <out>/virtio-win (see image/Dockerfile, VIRTIO).
# Usage: bundle-virtio.sh <version|none> <url> <sha256 or empty> <out dir>
#
# The policy, in order:
#  - VIRTIO=none: no drivers, no network.
#  - the file cannot be fetched: a warning and no drivers (Windows installs on SATA and e1000e,
#    which need none), so a build without that network still gives a working image;
#  - fetched and a digest is given: sha256sum checks it before anything is unpacked, and a
#    mismatch stops the build (exit 1);
#  - fetched with no digest: its digest is printed with a warning to pin it.
# Only `<driver>/<os>/<amd64|x86>/` folders are kept (what src/windows/setup-image.ts copies into
# $WinPEDriver$): an ISO's guest tools, ARM64 builds and debug files stay out of the image.
set -eu
version=$1 url=$2 sha256=$3 out=$4
here=$(dirname "$0")
mkdir -p "$out"
if [ "$version" = "none" ]; then
  echo "VIRTIO=none: the image bundles no virtio-win drivers"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ! node "$here/fetch-file.mjs" "$url" "$work/virtio-win.pkg"; then
  echo "WARNING: $url could not be fetched: the image bundles no virtio-win drivers (Windows installs on SATA and e1000e)" >&2
  exit 0
fi
if [ -n "$sha256" ]; then
  if ! echo "$sha256  $work/virtio-win.pkg" | sha256sum -c - >/dev/null; then
    echo "ERROR: $url is not the pinned virtio-win (VIRTIO=$version wants sha256 $sha256, the file has $(sha256sum "$work/virtio-win.pkg" | cut -d' ' -f1)): another release needs its own --build-arg VIRTIO_SHA256" >&2
    exit 1
  fi
  echo "virtio-win $version: sha256 $sha256 verified"
else
  echo "WARNING: virtio-win is not pinned (VIRTIO_SHA256 is empty): fetched over HTTPS, sha256 $(sha256sum "$work/virtio-win.pkg" | cut -d' ' -f1); pin it with --build-arg VIRTIO_SHA256=..." >&2
fi
mkdir -p "$work/unpacked" "$out/virtio-win"
bsdtar -x -f "$work/virtio-win.pkg" -C "$work/unpacked"
# ISO files come out read-only: the copies must stay removable and readable by windock.
chmod -R u+w "$work/unpacked"
(cd "$work/unpacked" && find . -mindepth 3 -maxdepth 3 -type d \( -name amd64 -o -name x86 \) -exec cp -a --parents {} "$out/virtio-win/" \;)
for required in viostor/w11/amd64 NetKVM/w11/amd64; do
  if [ ! -d "$out/virtio-win/$required" ]; then
    echo "ERROR: $url holds no $required folder: not a virtio-win release" >&2
    exit 1
  fi
done
echo "virtio-win $version: $(find "$out/virtio-win" -name '*.inf' | wc -l) drivers bundled"
