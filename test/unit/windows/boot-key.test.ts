/**
 * The boot-key watcher against firmware console output recorded from real QEMU runs
 * (test/unit/windows/recordings, made by record.sh there): OVMF booting a CD, OVMF with secure
 * boot refusing an unsigned loader, SeaBIOS booting a CD with its serial console on.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BootKeyWatcher, classifyConsoleLine, pressKeys, sendKeyCommand, type KeyPress } from '../../../src/windows/boot-key.js';

const recording = (name: string) => readFileSync(new URL(`./recordings/${name}`, import.meta.url), 'latin1');

/** Feeds a recording in uneven chunks, as a pipe delivers it. */
function replay(watcher: BootKeyWatcher, text: string, chunk = 37) {
  const decisions = [];
  for (let i = 0; i < text.length; i += chunk) decisions.push(...watcher.feed(text.slice(i, i + chunk)));
  return decisions;
}

describe('boot-key watcher on recorded firmware output', () => {
  it('OVMF: presses once, when BdsDxe starts the DVD (not when it is merely loading)', () => {
    const decisions = replay(new BootKeyWatcher({ armed: true }), recording('ovmf-uefi-cdrom.serial.log'));
    const presses = decisions.filter((d) => d.action === 'press');
    expect(presses).toHaveLength(1);
    expect(presses[0]!.because).toEqual({ kind: 'dvd-starting', entry: 'UEFI QEMU DVD-ROM QM00001' });
    // The "loading" line came first and only reported.
    expect(decisions[0]).toMatchObject({ action: 'report', because: { kind: 'dvd-loading' } });
    // UiApp, started later by the same firmware, is no DVD.
    expect(decisions.filter((d) => d.because.kind === 'dvd-starting')).toHaveLength(1);
  });

  it('OVMF secure boot refusing the loader: reports the failure, presses nothing, ignores "Press any key to enter the Boot Manager Menu"', () => {
    const decisions = replay(new BootKeyWatcher({ armed: true }), recording('ovmf-secure-unsigned-cdrom.serial.log'));
    expect(decisions.filter((d) => d.action === 'press')).toHaveLength(0);
    expect(decisions).toContainEqual({ action: 'report', because: { kind: 'dvd-failed', entry: 'UEFI QEMU DVD-ROM QM00001', reason: 'Access Denied' } });
  });

  it('SeaBIOS with its serial console: presses on "Booting from DVD/CD..."', () => {
    const decisions = replay(new BootKeyWatcher({ armed: true }), recording('seabios-sercon-cdrom.serial.log'), 11);
    expect(decisions.filter((d) => d.action === 'press').map((d) => d.because)).toEqual([{ kind: 'dvd-starting', entry: 'DVD/CD' }]);
  });

  it('SeaBIOS debug port output carries the same line', () => {
    const decisions = replay(new BootKeyWatcher({ armed: true }), recording('seabios-cdrom.debugcon.log'));
    expect(decisions.filter((d) => d.action === 'press')).toHaveLength(1);
  });

  it('does not press when not armed (install done, or Setup already wrote to the disk)', () => {
    const decisions = replay(new BootKeyWatcher({ armed: false }), recording('ovmf-uefi-cdrom.serial.log'));
    expect(decisions.filter((d) => d.action === 'press')).toHaveLength(0);
    expect(decisions).toContainEqual({ action: 'let-time-out', because: { kind: 'dvd-starting', entry: 'UEFI QEMU DVD-ROM QM00001' } });
  });

  it('presses only for the first DVD start of a run: after Setup\'s reboot the prompt must time out', () => {
    const watcher = new BootKeyWatcher({ armed: true });
    const log = recording('ovmf-uefi-cdrom.serial.log');
    const first = replay(watcher, log);
    const second = replay(watcher, log);
    expect(first.filter((d) => d.action === 'press')).toHaveLength(1);
    expect(second.filter((d) => d.action === 'press')).toHaveLength(0);
    expect(watcher.pressed).toBe(true);
  });

  it('sees the Windows prompt even without a line end (it prints dots after it)', () => {
    const watcher = new BootKeyWatcher({ armed: true });
    expect(watcher.feed('\x1b[2J\x1b[01;01HPress any key to boot from CD or DVD')).toMatchObject([{ action: 'press', because: { kind: 'cd-prompt' } }]);
    expect(watcher.feed('.....')).toEqual([]);
  });
});

describe('console line classification', () => {
  it('ignores boot entries that are not optical and unrelated prompts', () => {
    expect(classifyConsoleLine('BdsDxe: starting Boot0002 "UEFI QEMU HARDDISK QM00003 " from PciRoot(0x0)')).toBeUndefined();
    expect(classifyConsoleLine('BdsDxe: Press any key to enter the Boot Manager Menu.')).toBeUndefined();
    expect(classifyConsoleLine('BdsDxe: starting Boot0003 "UEFI QEMU QEMU CD-ROM " from PciRoot(0x0)/Pci(0x3,0x0)/Scsi(0x0,0x0)')).toEqual({ kind: 'dvd-starting', entry: 'UEFI QEMU QEMU CD-ROM' });
  });
});

describe('key presses over QMP', () => {
  it('sends send-key with qcode "ret" the planned number of times', async () => {
    const sent: unknown[] = [];
    const waits: number[] = [];
    const plan: KeyPress = { keys: ['ret'], presses: 3, intervalMs: 400 };
    const result = await pressKeys(async (command, args) => void sent.push({ command, args }), plan, new AbortController().signal, async (ms) => void waits.push(ms));
    expect(result).toEqual({ sent: 3 });
    expect(sent).toEqual(Array(3).fill({ command: 'send-key', args: { keys: [{ type: 'qcode', data: 'ret' }] } }));
    expect(waits).toEqual([400, 400]);
    expect(sendKeyCommand(['ret'])).toEqual({ execute: 'send-key', arguments: { keys: [{ type: 'qcode', data: 'ret' }] } });
  });

  it('stops at the first QMP error and returns it for the log', async () => {
    let calls = 0;
    const result = await pressKeys(async () => {
      if (++calls === 2) throw new Error('QMP gone');
    }, { keys: ['ret'], presses: 5, intervalMs: 1 }, new AbortController().signal, async () => undefined);
    expect(result.sent).toBe(1);
    expect(String(result.error)).toContain('QMP gone');
  });
});

describe('boot-key handler (the supervisor adapter)', () => {
  it('queues a press decided before QMP is attached, then sends it; logs each step', async () => {
    const logged: string[] = [];
    const log = { info: (_o: object, msg: string) => void logged.push(msg), warn: (_o: object, msg: string) => void logged.push(`WARN ${msg}`) };
    const { createBootKeyHandler } = await import('../../../src/windows/boot-key.js');
    const handler = createBootKeyHandler({ watcher: new BootKeyWatcher({ armed: true, press: { keys: ['ret'], presses: 2, intervalMs: 1 } }), log, signal: new AbortController().signal, sleep: async () => undefined });
    for (const line of recording('ovmf-uefi-cdrom.serial.log').split('\r\n')) handler.onSerialLine(line);
    const sent: string[] = [];
    handler.attach(async (command) => void sent.push(command));
    await new Promise((resolve) => setImmediate(resolve));
    expect(sent).toEqual(['send-key', 'send-key']);
    expect(logged).toContain('firmware boot step');
    expect(logged.some((m) => m.startsWith('the install media is starting'))).toBe(true);
    expect(logged).toContain('keys pressed: the install media boots');
  });
});
