/**
 * launchQemu's output handling, with a stand-in for QEMU (test/fixtures/process/serial-flood.sh):
 * a guest that writes to its serial console endlessly without a newline costs one cut line, and
 * what was dropped is counted in the exit; stderr feeds the crash report's tail.
 */
import { describe, expect, it } from 'vitest';
import { launchQemu, type QemuExit } from '../../../src/qemu/process.js';
import { within } from '../../../src/process/deadline.js';
import { capturingLogger, fixture } from '../process/fixtures.js';

describe('launchQemu', () => {
  it('bounds an endless serial line: one cut line, the rest dropped and counted', async () => {
    const { log, lines } = capturingLogger();
    const serial: string[] = [];
    const stderr: string[] = [];
    const qemu = await launchQemu([], {
      binary: fixture('serial-flood.sh'),
      log,
      maxLineBytes: 512,
      onSerialLine: (line) => serial.push(line),
      onStderrLine: (line) => stderr.push(line),
    });
    let exit: QemuExit | undefined;
    try {
      // Bounded waits only: the flood is fast, the test waits for plenty of it to pass.
      for (let i = 0; i < 500 && serial.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      qemu.kill('SIGKILL');
      exit = await within(qemu.exited, 5_000);
    }
    expect(serial).toEqual(['x'.repeat(512)]);
    expect(stderr).toEqual(['qemu-system-x86_64: warning: a stand-in']);
    expect(exit, 'QEMU stand-in exit').toMatchObject({ signal: 'SIGKILL', stderrTail: ['qemu-system-x86_64: warning: a stand-in'] });
    expect(exit?.droppedBytes, JSON.stringify(exit)).toBeGreaterThan(512);
    const warnings = lines().filter((l) => l['helper'] === 'QEMU' && l['level'] === 40);
    expect(warnings.map((l) => l['msg']), JSON.stringify(warnings)).toEqual([
      'output line too long: cut, the rest of it dropped',
      'output dropped from over-long lines',
    ]);
  });

  it('a missing QEMU binary ends with exit 127 and setpriv naming it in the stderr tail', async () => {
    // setpriv is what spawn starts; a QEMU binary that is missing makes it exit 127 instead.
    const qemu = await launchQemu([], { binary: '/nonexistent/qemu-system-x86_64', log: capturingLogger().log, onSerialLine: () => {}, onStderrLine: () => {} });
    const exit = await within(qemu.exited, 5_000);
    expect(exit, JSON.stringify(exit)).toMatchObject({ code: 127 });
    expect(exit?.stderrTail.join('\n')).toContain('/nonexistent/qemu-system-x86_64');
  });
});
