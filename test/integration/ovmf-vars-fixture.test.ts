/**
 * The OVMF variable stores the install-state tests write (test/fixtures/ovmf-vars.ts, the
 * "Windows Boot Manager" entry bcdboot leaves) read back by an independent decoder:
 * python3-virt-firmware's `virt-fw-vars` (scripts/install-virt-firmware.sh). OVMF itself reading
 * the entry is covered by windows-install-recovery.test.ts; this shows the store is well-formed
 * to another reader too, for Debian's plain and Microsoft-keyed (secure boot) stores, and that a
 * second entry replaces BootOrder rather than adding a second live one.
 */
import { execFileSync } from 'node:child_process';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { addBootEntry, type BootEntry } from '../fixtures/ovmf-vars.js';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'windock-ovmf-vars-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const ESP = { mbrSignature: 0x57444b31, number: 1, start: 2048, sectors: 124928 };
const entry = (number: number, description = 'Windows Boot Manager'): BootEntry => ({ number, description, partition: ESP, file: '\\EFI\\Microsoft\\Boot\\bootmgfw.efi' });

/** `virt-fw-vars --print`: one `Name : decoded value` line per live variable. */
function printed(store: string): { lines: string[]; variables: Map<string, string[]> } {
  const out = execFileSync('virt-fw-vars', ['--input', store, '--print'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = out.split('\n').filter((l) => l.trim() !== '');
  const variables = new Map<string, string[]>();
  for (const line of lines) {
    const match = /^(\S+)\s+: (.*)$/.exec(line);
    if (match) variables.set(match[1]!, [...(variables.get(match[1]!) ?? []), match[2]!]);
  }
  return { lines, variables };
}

for (const template of ['OVMF_VARS_4M.fd', 'OVMF_VARS_4M.ms.fd']) {
  it(`${template}: the entry is a live load option, first in BootOrder, and what was there stays`, async () => {
    const store = join(dir, `one-${template}`);
    await copyFile(join('/usr/share/OVMF', template), store);
    const before = printed(store);
    await addBootEntry(store, entry(9));
    const after = printed(store);
    const seen = after.lines.join('\n');
    expect(after.variables.get('Boot0009'), seen).toEqual(['boot entry: title="Windows Boot Manager" devpath=Partition(nr=1)/FilePath(\\EFI\\Microsoft\\Boot\\bootmgfw.efi)']);
    expect(after.variables.get('BootOrder'), seen).toEqual(['boot order: 0009']);
    // Nothing else changed: the secure boot keys of the .ms store are still there, decoded alike.
    for (const [name, values] of before.variables) expect(after.variables.get(name), `${name} in\n${seen}`).toEqual(values);
  });
}

it('a second entry goes first and BootOrder stays one live variable holding both', async () => {
  const store = join(dir, 'two.fd');
  await copyFile('/usr/share/OVMF/OVMF_VARS_4M.fd', store);
  await addBootEntry(store, entry(9));
  await addBootEntry(store, entry(10, 'Windows Boot Manager (second)'));
  const { lines, variables } = printed(store);
  const seen = lines.join('\n');
  expect(variables.get('BootOrder'), seen).toEqual(['boot order: 000a, 0009']);
  expect(variables.get('Boot000A'), seen).toEqual(['boot entry: title="Windows Boot Manager (second)" devpath=Partition(nr=1)/FilePath(\\EFI\\Microsoft\\Boot\\bootmgfw.efi)']);
  expect(variables.get('Boot0009'), seen).toHaveLength(1);
});
