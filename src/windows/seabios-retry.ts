/**
 * A SeaBIOS install whose disk boots but cannot start Windows: Setup partitioned and formatted it,
 * then was stopped before it wrote its boot files, and the disk's boot code now prints `BOOTMGR is
 * missing` (or the like) and halts. With the disk first in the boot order (install-state.ts) the
 * CD would never get its turn, so the install would never resume. The run puts the CD first once
 * and resets the guest: the CD boots, "Press any key to boot from CD or DVD" is answered (the
 * boot-key watcher is still armed: no CD started in this run), and Setup runs again. As soon as
 * the CD has started, the CD goes back behind the disk, so that Setup's own reboot boots the disk
 * and SeaBIOS can say so.
 *
 * QEMU changes a device's `bootindex` at run time (QOM property, `qom-set`) and rebuilds the
 * firmware's boot order on the next reset (fw_cfg "bootorder"); `query-block` names the device of
 * each block node by its QOM path (`qdev`). Only the decisions here are pure.
 */
import type { QmpExecute } from '../guest/profile.js';

/** The part of QMP `query-block`'s BlockInfo read here. */
export interface BlockInfo {
  qdev?: string;
  inserted?: { 'node-name'?: string };
}

/** The QOM path of the device that holds the block node `node` (the drive's id), if any. */
export function deviceOfNode(blocks: readonly BlockInfo[], node: string): string | undefined {
  return blocks.find((b) => b.inserted?.['node-name'] === node && b.qdev)?.qdev;
}

/** Every QMP command here gets this long (bounded); the run's stop ends it earlier. */
const COMMAND_MS = 5_000;

export interface CdRetry {
  /** The disk's boot code refused: put the CD first and reset, once per run. */
  onDiskRefused(): Promise<string>;
  /** The CD started: put it back behind the disk. */
  onSetupStarted(): Promise<string | undefined>;
  attach(execute: QmpExecute): void;
}

/** `cd`: the install CD's drive id and bootindex (behind the disk's). */
export function createCdRetry(cd: { id: string; bootIndex: number }, signal: AbortSignal): CdRetry {
  let attached: (execute: QmpExecute) => void = () => undefined;
  const connected = new Promise<QmpExecute>((resolve) => (attached = resolve));
  let device: string | undefined;
  let state: 'idle' | 'cd-first' | 'done' = 'idle';
  const run = async (command: string, args?: Record<string, unknown>) => {
    const bound = AbortSignal.any([signal, AbortSignal.timeout(COMMAND_MS)]);
    // A refusal may come before QMP answers: wait for it, as long as one command may take.
    const execute = await Promise.race([
      connected,
      new Promise<never>((_, reject) => bound.addEventListener('abort', () => reject(new Error(`QMP not connected within ${COMMAND_MS} ms`)), { once: true })),
    ]);
    return execute(command, args, bound);
  };
  const setBootIndex = async (value: number) => {
    device ??= deviceOfNode((await run('query-block')) as BlockInfo[], cd.id);
    if (!device) throw new Error(`no device holds the block node ${cd.id} (query-block)`);
    await run('qom-set', { path: device, property: 'bootindex', value });
  };
  return {
    async onDiskRefused() {
      if (state !== 'idle') return 'the install CD was already booted once in this run';
      state = 'done';
      // Lower than the disk's 1: the CD boots first after the reset.
      await setBootIndex(0);
      await run('system_reset');
      state = 'cd-first';
      return 'the install CD boots first once: Setup runs again';
    },
    async onSetupStarted() {
      if (state !== 'cd-first') return undefined;
      state = 'done';
      await setBootIndex(cd.bootIndex);
      return 'the install CD is back behind the disk: the next reset boots the disk';
    },
    attach(exec) {
      attached(exec);
    },
  };
}
