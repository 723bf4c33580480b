/**
 * runProgram against real programs: the fixtures under test/fixtures/process/ and coreutils.
 * Each result must say what ended the run and how, and every run must come back.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { waitForPath } from '../../../src/process/deadline.js';
import { describeProgramEnd, runProgram, shellStatus } from '../../../src/process/run-program.js';
import { fixture } from './fixtures.js';

describe('runProgram', () => {
  it('captures stdout and stderr of a program that exits by itself', async () => {
    const result = await runProgram([fixture('exit-early.sh'), '0']);
    expect(result, JSON.stringify(result)).toMatchObject({ endedBy: 'exit', exitCode: 0, signal: undefined, ok: true, stdout: '' });
    expect(result.stderr).toContain('Address already in use');
  });

  it('reports a non-zero exit as not ok, with its code', async () => {
    const result = await runProgram([fixture('exit-early.sh'), '7']);
    expect(result, JSON.stringify(result)).toMatchObject({ endedBy: 'exit', exitCode: 7, ok: false });
    expect(describeProgramEnd(result)).toBe('exit code 7');
  });

  it('escalates to SIGKILL when the program ignores the deadline\'s SIGTERM, and names both', async () => {
    // The deadline leaves the shell ample time to install its trap before the SIGTERM.
    const result = await runProgram([fixture('ignore-term.sh')], { timeoutMs: 1_000, graceMs: 300 });
    expect(result, JSON.stringify(result)).toMatchObject({ endedBy: 'timeout', signal: 'SIGKILL', sent: 'SIGKILL', exitCode: undefined, ok: false });
    expect(result.stdout).toBe('up, and ignoring SIGTERM');
    expect(describeProgramEnd(result, 1_000)).toBe('killed by SIGKILL after its 1000 ms deadline');
    expect(shellStatus(result)).toBe(137);
  });

  it('ends a program on abort mid-run with SIGTERM, and says abort', async () => {
    const controller = new AbortController();
    const running = runProgram(['sleep', '30'], { signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    const result = await running;
    expect(result, JSON.stringify(result)).toMatchObject({ endedBy: 'abort', signal: 'SIGTERM', sent: 'SIGTERM', ok: false });
  });

  it('escalates an abort to SIGKILL for a program that ignores SIGTERM', async () => {
    const controller = new AbortController();
    const cue = join(await mkdtemp(join(tmpdir(), 'windock-run-')), 'ignoring');
    const running = runProgram([fixture('ignore-term.sh'), cue], { signal: controller.signal, graceMs: 200 });
    await waitForPath(cue, { timeoutMs: 5_000 });
    controller.abort();
    const result = await running;
    expect(result, JSON.stringify(result)).toMatchObject({ endedBy: 'abort', signal: 'SIGKILL', sent: 'SIGKILL' });
  });

  it('does not start a program when the signal is already aborted', async () => {
    const result = await runProgram(['sleep', '30'], { signal: AbortSignal.abort() });
    expect(result, JSON.stringify(result)).toMatchObject({ endedBy: 'abort', ok: false });
  });

  it('reports a program that does not exist as start-failed (127 for a shell)', async () => {
    const result = await runProgram(['/nonexistent/windock-no-such-program', '--version']);
    expect(result, JSON.stringify(result)).toMatchObject({ endedBy: 'start-failed', exitCode: undefined, ok: false });
    expect(result.stderr).toMatch(/^\/nonexistent\/windock-no-such-program: .*ENOENT/);
    expect(shellStatus(result)).toBe(127);
    expect(describeProgramEnd(result)).toContain('could not be started');
  });

  it('keeps at most maxOutputBytes of each stream and counts what it dropped', async () => {
    const size = 1024 * 1024;
    const result = await runProgram([fixture('big-output.sh'), String(size)], { maxOutputBytes: 4096 });
    expect(result.endedBy).toBe('exit');
    expect(result.stdout.length).toBe(4096);
    expect(result.stderr.length).toBe(4096);
    expect(result.stdout).toBe('o'.repeat(4096));
    // Both streams: everything beyond the first 4096 bytes of each ("\ndone\n" included).
    expect(result.droppedBytes).toBe(2 * size + '\ndone\n'.length - 2 * 4096);
  });

  it('extends the inherited environment with `env` instead of replacing it', async () => {
    const result = await runProgram(['sh', '-c', 'echo "$WINDOCK_TEST_EXTRA:${PATH:+has-path}"'], { env: { WINDOCK_TEST_EXTRA: 'extra' } });
    expect(result.stdout).toBe('extra:has-path');
  });
});
