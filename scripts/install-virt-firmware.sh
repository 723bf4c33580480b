#!/usr/bin/env bash
# Installs `virt-fw-vars` (python3-virt-firmware, trixie only), which the tests use to read back
# the OVMF variable stores they write (test/integration/ovmf-vars-fixture.test.ts): an
# independent decoder of the "Windows Boot Manager" entries the install-state tests depend on.
# The package is pure Python; its dependencies come from bookworm (scripts/test-packages.txt).
# It is unpacked under /usr/local/lib/windock-test and run by a small wrapper with Debian's own
# python3. Idempotent: does nothing when `virt-fw-vars` already works.
set -euo pipefail
BIN=/usr/local/bin/virt-fw-vars
ROOT=/usr/local/lib/windock-test/virt-firmware

if virt-fw-vars --help >/dev/null 2>&1; then
  echo "install-virt-firmware: virt-fw-vars present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-virt-firmware: run as root to install virt-fw-vars into $BIN" >&2
  exit 1
fi
rm -rf "$ROOT"
"$(dirname "$0")/trixie-package.sh" python3-virt-firmware "$ROOT"
cat >"$BIN" <<WRAPPER
#!/bin/sh
PYTHONPATH=$ROOT/usr/lib/python3/dist-packages exec /usr/bin/python3 -c 'import sys; from virt.firmware.vars import main; sys.exit(main())' "\$@"
WRAPPER
chmod 0755 "$BIN"
virt-fw-vars --help >/dev/null
echo "install-virt-firmware: $BIN (python3-virt-firmware from trixie)"
