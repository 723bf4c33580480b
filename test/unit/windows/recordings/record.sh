#!/bin/bash
# Re-records the firmware console output the boot-key tests replay. Needs qemu-system-x86,
# ovmf, seabios, xorriso, isolinux, syslinux-common, mtools, dosfstools and a systemd-boot EFI
# binary (any EFI application works: it only has to be *started* by the firmware).
# Usage: [GUEST=path/to/guest.qcow2] record.sh OUTDIR
set -euo pipefail
out=${1:?OUTDIR}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
mkdir -p iso/isolinux
cp /usr/lib/ISOLINUX/isolinux.bin /usr/lib/syslinux/modules/bios/ldlinux.c32 iso/isolinux/
printf 'PROMPT 0\nTIMEOUT 1\nDEFAULT none\nLABEL none\n  KERNEL /nothing\n' > iso/isolinux/isolinux.cfg
mkfs.fat -C iso/efiboot.img 2048 >/dev/null
MTOOLS_SKIP_CHECK=1 mmd -i iso/efiboot.img ::/EFI ::/EFI/BOOT
MTOOLS_SKIP_CHECK=1 mcopy -i iso/efiboot.img /usr/lib/systemd/boot/efi/systemd-bootx64.efi ::/EFI/BOOT/BOOTX64.EFI
xorriso -as mkisofs -quiet -o test.iso -V WINDOCK_CD -b isolinux/isolinux.bin -c isolinux/boot.cat \
  -no-emul-boot -boot-load-size 4 -boot-info-table -eltorito-alt-boot -e efiboot.img -no-emul-boot iso
qemu-img create -f qcow2 empty.qcow2 1G >/dev/null
common=(-accel tcg -nodefaults -display none -m 256
  -drive file=empty.qcow2,if=none,id=d0,format=qcow2 -device virtio-blk-pci,drive=d0,bootindex=1
  -drive media=cdrom,file=test.iso,if=none,id=cd,readonly=on -device ide-cd,drive=cd,bus=ide.0,bootindex=0)
# OVMF (plain UEFI): BdsDxe lines on the serial console.
cp /usr/share/OVMF/OVMF_VARS_4M.fd vars.fd
timeout 60 qemu-system-x86_64 -machine q35 "${common[@]}" -chardev file,id=s,path="$out/ovmf-uefi-cdrom.serial.log" -serial chardev:s \
  -drive if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd -drive if=pflash,format=raw,file=vars.fd || true
# OVMF with secure boot and Microsoft keys: the unsigned loader is refused.
cp /usr/share/OVMF/OVMF_VARS_4M.ms.fd vars-ms.fd
timeout 60 qemu-system-x86_64 -machine q35,smm=on -global driver=cfi.pflash01,property=secure,value=on "${common[@]}" \
  -chardev file,id=s,path="$out/ovmf-secure-unsigned-cdrom.serial.log" -serial chardev:s \
  -drive if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.secboot.fd -drive if=pflash,format=raw,file=vars-ms.fd || true
# SeaBIOS with its serial console on COM1 (etc/sercon-port = 0x3f8), plus the debug port.
printf '\xf8\x03' > sercon-port.bin
timeout 25 qemu-system-x86_64 -machine q35 -vga std "${common[@]}" -fw_cfg name=etc/sercon-port,file=sercon-port.bin \
  -chardev file,id=s,path=seabios.serial -serial chardev:s \
  -chardev file,id=d,path="$out/seabios-cdrom.debugcon.log" -device isa-debugcon,iobase=0x402,chardev=d || true
head -c 2500 seabios.serial > "$out/seabios-sercon-cdrom.serial.log"
# The install-state recordings (firmware-boot.test.ts) boot the test guest's disk
# (test/fixtures/guest/build-guest.sh; GUEST=its guest.qcow2), from the repository root:
#  - OVMF with a "Windows Boot Manager" boot option on the guest's ESP, written into the variable
#    store by test/fixtures/ovmf-vars.ts (compiled with tsc, since node cannot run .ts here);
#  - SeaBIOS booting the disk, and SeaBIOS falling through from a CD without El Torito to the disk.
if [ -n "${GUEST:-}" ]; then
  repo=$(cd "$(dirname "$0")/../../../.." && pwd)
  "$repo/node_modules/.bin/tsc" --target es2022 --module nodenext --moduleResolution nodenext --types node \
    --typeRoots "$repo/node_modules/@types" --outDir "$work/js" "$repo/test/fixtures/ovmf-vars.ts"
  cp /usr/share/OVMF/OVMF_VARS_4M.fd wbm-vars.fd
  node --input-type=module -e "import { addBootEntry } from '$work/js/ovmf-vars.js';
    await addBootEntry('wbm-vars.fd', { number: 4, description: 'Windows Boot Manager', partition: { mbrSignature: 0x57444b31, number: 1, start: 2048, sectors: 124928 }, file: '\\\\EFI\\\\BOOT\\\\BOOTX64.EFI' });"
  qemu-img create -f qcow2 -b "$GUEST" -F qcow2 guest.qcow2 >/dev/null
  disk=(-drive file=guest.qcow2,if=none,id=d0,format=qcow2 -device ide-hd,drive=d0,bus=ide.0)
  timeout 50 qemu-system-x86_64 -accel tcg -machine q35 -nodefaults -display none -m 256 "${disk[@]},bootindex=1" \
    -chardev file,id=s,path=wbm.serial -serial chardev:s \
    -drive if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd -drive if=pflash,format=raw,file=wbm-vars.fd || true
  head -c 3000 wbm.serial > "$out/ovmf-windows-boot-manager-hd.serial.log"
  timeout 40 qemu-system-x86_64 -accel tcg -machine q35 -nodefaults -display none -vga std -m 256 "${disk[@]},bootindex=1" \
    -fw_cfg name=etc/sercon-port,file=sercon-port.bin -chardev file,id=s,path=hd.serial -serial chardev:s || true
  head -c 1500 hd.serial > "$out/seabios-sercon-hard-disk.serial.log"
  mkdir -p plain && echo x > plain/readme.txt && xorriso -as mkisofs -quiet -o plain.iso -V NOBOOT plain
  timeout 40 qemu-system-x86_64 -accel tcg -machine q35 -nodefaults -display none -vga std -m 256 "${disk[@]},bootindex=2" \
    -drive media=cdrom,file=plain.iso,if=none,id=cd,readonly=on -device ide-cd,drive=cd,bus=ide.1,bootindex=1 \
    -fw_cfg name=etc/sercon-port,file=sercon-port.bin -chardev file,id=s,path=fall.serial -serial chardev:s || true
  head -c 700 fall.serial > "$out/seabios-sercon-cd-failed-hard-disk.serial.log"
fi

# SeaBIOS with the disk before the CD (how windock orders a SeaBIOS install): a blank disk fails
# and the CD boots, and a disk with an MBR whose code prints an error (as a disk Setup partitioned
# but did not finish does). The boot code is test/fixtures/bios-boot.ts's, compiled like above.
repo=$(cd "$(dirname "$0")/../../../.." && pwd)
"$repo/node_modules/.bin/tsc" --target es2022 --module nodenext --moduleResolution nodenext --types node \
  --typeRoots "$repo/node_modules/@types" --outDir "$work/js" "$repo/test/fixtures/bios-boot.ts"
node --input-type=module -e "import { buildBiosBootCd, buildMbrDisk } from '$work/js/bios-boot.js';
  buildBiosBootCd('$work', '$work/bios-cd.iso', 'windock-cd: booted'); buildMbrDisk('$work/mbr.raw', 'Missing operating system');"
qemu-img create -f qcow2 blank.qcow2 64M >/dev/null
for case in blank-disk-then-cd:blank.qcow2:qcow2 disk-boot-code-fails:mbr.raw:raw; do
  IFS=: read -r name file format <<<"$case"
  timeout 20 qemu-system-x86_64 -accel tcg -machine q35 -nodefaults -display none -vga std -m 256 \
    -drive file="$file",if=none,id=d0,format="$format" -device ide-hd,drive=d0,bus=ide.0,bootindex=1 \
    -drive media=cdrom,file=bios-cd.iso,if=none,id=cd,readonly=on -device ide-cd,drive=cd,bus=ide.1,bootindex=2 \
    -fw_cfg name=etc/sercon-port,file=sercon-port.bin -chardev file,id=s,path="$out/seabios-sercon-$name.serial.log" -serial chardev:s || true
done
