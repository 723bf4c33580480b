#!/bin/bash
# Re-records the firmware console output the boot-key tests replay. Needs qemu-system-x86,
# ovmf, seabios, xorriso, isolinux, syslinux-common, mtools, dosfstools and a systemd-boot EFI
# binary (any EFI application works: it only has to be *started* by the firmware).
# Usage: record.sh OUTDIR
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
