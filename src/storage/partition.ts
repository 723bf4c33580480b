/**
 * Reads a disk's partition scheme from its first two sectors, pure. Used to guess the firmware of
 * a disk windock has no record for: GPT disks boot under UEFI, MBR disks under BIOS.
 *
 * MBR: boot signature 0x55 0xAA at bytes 510–511 of LBA 0; a partition entry of type 0xEE is the
 * "protective MBR" of a GPT disk (UEFI spec 2.10, §5.2.3), whose header at LBA 1 begins with the
 * signature "EFI PART" (§5.3.2).
 */
export type PartitionScheme = 'gpt' | 'mbr' | 'none';

const SECTOR = 512;

export function partitionScheme(firstSectors: Uint8Array): PartitionScheme {
  if (firstSectors.length >= 2 * SECTOR) {
    const header = Buffer.from(firstSectors.subarray(SECTOR, SECTOR + 8)).toString('latin1');
    if (header === 'EFI PART') return 'gpt';
  }
  if (firstSectors.length < SECTOR || firstSectors[510] !== 0x55 || firstSectors[511] !== 0xaa) return 'none';
  // Four 16-byte entries from byte 446; the type byte is at offset 4 of each.
  for (let entry = 0; entry < 4; entry++) {
    if (firstSectors[446 + entry * 16 + 4] === 0xee) return 'gpt';
  }
  return 'mbr';
}

/** ISO 9660: the primary volume descriptor at byte 32768 carries "CD001" at offset 1 (ECMA-119 §8.1). */
export const ISO9660_MAGIC_OFFSET = 32769;

export function isIso9660(bytesAtMagicOffset: Uint8Array): boolean {
  return Buffer.from(bytesAtMagicOffset.subarray(0, 5)).toString('latin1') === 'CD001';
}
