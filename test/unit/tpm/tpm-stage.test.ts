/**
 * The TPM step's decisions: when a TPM is started at all, and what a swtpm that cannot start leads
 * to (the fallback to UEFI without a TPM, or today's exit with the error).
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../../src/config/resolve.js';
import { AppError } from '../../../src/core/errors.js';
import { createLogger } from '../../../src/core/log.js';
import type { TpmSession } from '../../../src/tpm/swtpm.js';
import { needsTpm, onTpmFailure, startTpmStage, TPM_FALLBACK_WARNING, type TpmFacts } from '../../../src/tpm/tpm-stage.js';

const windowsNewDisk: TpmFacts = { userBootMode: undefined, recordedBootMode: undefined, guestInstallsWithoutTpm: true };

describe('needsTpm', () => {
  it.each([
    ['secure', undefined, true],
    [undefined, 'secure', true],
    ['uefi', 'secure', false],
    ['secure', 'uefi', true],
    [undefined, 'uefi', false],
    [undefined, undefined, false],
    ['legacy', undefined, false],
  ] as const)('settled %s, recorded %s: %s', (settled, recorded, want) => {
    expect(needsTpm(settled, recorded)).toBe(want);
  });
});

describe('onTpmFailure', () => {
  it('a hands-off Windows on a disk with no recorded firmware falls back to UEFI', () => {
    expect(onTpmFailure(windowsNewDisk)).toEqual({ action: 'fall-back', bootMode: 'uefi' });
  });

  it.each([
    ['a disk recorded as secure', { recordedBootMode: 'secure' }, /recorded|windock\.json/],
    ['an explicit BOOT_MODE=secure', { userBootMode: 'secure' }, /BOOT_MODE=secure/],
    ['a guest without an answer file (BOOT image, MANUAL=Y)', { guestInstallsWithoutTpm: false }, /hands-off/],
  ] as const)('%s keeps the exit with the error', (_name, change, reason) => {
    const plan = onTpmFailure({ ...windowsNewDisk, ...change });
    expect(plan.action).toBe('fail');
    expect(plan.action === 'fail' && plan.reason).toMatch(reason);
  });
});

function context(env: Record<string, string>) {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({ write: (chunk, _e, done) => (lines.push(JSON.parse(String(chunk)) as Record<string, unknown>), done()) });
  const config = resolveConfig({ STORAGE: '/tmp/windock-unit-storage', ...env });
  return { ctx: { config, log: createLogger({ level: 'debug', pretty: false, destination }), signal: new AbortController().signal }, lines };
}

const swtpmError = new AppError('host', 'swtpm exited unexpectedly (exit code 1): Could not open UnixIO socket: Permission denied', { hint: 'Run with DEBUG=Y.' });
const failing = async (): Promise<TpmSession> => {
  throw swtpmError;
};

describe('startTpmStage', () => {
  it('falls back with one warning naming swtpm\'s error, and hands on BOOT_MODE=uefi', async () => {
    const { ctx, lines } = context({ BOOT_MODE: 'secure' });
    const result = await startTpmStage(ctx, failing, windowsNewDisk);
    expect(result.tpm).toBeUndefined();
    expect(result.config.bootMode).toBe('uefi');
    const warnings = lines.filter((l) => l['level'] === 40);
    expect(warnings, JSON.stringify(lines)).toEqual([expect.objectContaining({ msg: TPM_FALLBACK_WARNING, err: swtpmError.message, bootMode: 'uefi' })]);
  });

  it('refuses the fallback with the error, its hint saying why', async () => {
    const { ctx, lines } = context({ BOOT_MODE: 'secure' });
    const error = await startTpmStage(ctx, failing, { ...windowsNewDisk, recordedBootMode: 'secure' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'host', exitCode: 3, message: swtpmError.message });
    expect((error as AppError).hint).toMatch(/^Run with DEBUG=Y\. No fallback to UEFI without a TPM: the disk was set up with secure boot/);
    expect(lines.filter((l) => l['level'] === 40), JSON.stringify(lines)).toEqual([]);
  });

  it('starts nothing when the firmware will not be secure', async () => {
    const { ctx } = context({ BOOT_MODE: 'uefi' });
    const calls: string[] = [];
    const result = await startTpmStage(ctx, async () => (calls.push('start'), await failing()), windowsNewDisk);
    expect({ calls, tpm: result.tpm, config: result.config }).toEqual({ calls: [], tpm: undefined, config: ctx.config });
  });

  it('a stop request during the start is passed on, not turned into a fallback', async () => {
    const { ctx, lines } = context({ BOOT_MODE: 'secure' });
    const stop = new AbortController();
    const aborted = new Error('stop requested');
    const error = await startTpmStage({ ...ctx, signal: stop.signal }, async () => {
      stop.abort(aborted);
      throw aborted;
    }, windowsNewDisk).catch((e: unknown) => e);
    expect(error).toBe(aborted);
    expect(lines.filter((l) => l['level'] === 40)).toEqual([]);
  });
});

describe('after a fallback', () => {
  it('the Windows profile keeps the firmware recorded for the disk (no TPM asked for again); only BOOT_MODE overrides it', async () => {
    const { createWindowsProfile } = await import('../../../src/windows/windows-profile.js');
    const { ctx } = context({ VERSION: '11' });
    const profile = await createWindowsProfile(ctx.config, ctx.log);
    expect(profile.installsWithoutTpm).toBe(true);
    const modes = {
      newDisk: profile.settle(ctx.config, { schema: 1 }, ctx.log).bootMode,
      afterFallback: profile.settle(ctx.config, { schema: 1, bootMode: 'uefi' }, ctx.log).bootMode,
      explicit: profile.settle({ ...ctx.config, bootMode: 'secure' }, { schema: 1, bootMode: 'uefi' }, ctx.log).bootMode,
    };
    expect(modes).toEqual({ newDisk: 'secure', afterFallback: 'uefi', explicit: 'secure' });
    expect(needsTpm(modes.afterFallback, 'uefi')).toBe(false);
    const manual = await createWindowsProfile({ ...ctx.config, manual: true }, ctx.log);
    expect(manual.installsWithoutTpm).toBe(false);
  });
});
