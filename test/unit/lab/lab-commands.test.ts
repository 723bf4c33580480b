/** The lab command lines: words → control request, and the export's qemu-img argv. */
import { describe, expect, it } from 'vitest';
import { parseCommandLine } from '../../../src/config/command-line.js';
import { exportArgs, requestOf } from '../../../src/lab/lab-commands.js';

const words = (argv: string[]) => {
  const line = parseCommandLine(argv, '0.0.0');
  if (line.kind !== 'command') throw new Error(`not a command: ${line.output}`);
  return line;
};

describe('requestOf', () => {
  it.each([
    [['snapshot', 'save', 'clean'], { op: 'snapshot-save', name: 'clean' }],
    [['snapshot', 'list'], { op: 'snapshot-list' }],
    [['snapshot', 'delete', 'clean'], { op: 'snapshot-delete', name: 'clean' }],
    [['snapshot', 'revert', 'clean'], { op: 'snapshot-revert', name: 'clean', discardChanges: false }],
    [['snapshot', 'revert', 'clean', '--discard-changes'], { op: 'snapshot-revert', name: 'clean', discardChanges: true }],
    [['reset'], { op: 'reset', discardChanges: false }],
    [['reset', '--discard-changes'], { op: 'reset', discardChanges: true }],
  ])('windock %j', (argv, request) => {
    const line = words(argv);
    expect(requestOf(line.command as 'snapshot' | 'reset', line.lab!)).toEqual(request);
  });

  it('refuses a save without a name and a bad name (exit 2)', () => {
    const line = words(['snapshot', 'save']);
    expect(() => requestOf('snapshot', line.lab!)).toThrow(/needs a snapshot NAME/);
    expect(() => requestOf('snapshot', words(['snapshot', 'save', 'a/b']).lab!)).toThrow(/got "a\/b"/);
  });

  it('the parser refuses an unknown action', () => {
    const line = parseCommandLine(['snapshot', 'wipe'], '0.0.0');
    expect(line).toMatchObject({ kind: 'exit', exitCode: 2 });
  });
});

it('export takes its path and converts compressed, to qcow2, without forcing a shared lock', () => {
  expect(words(['export', '/storage/golden.qcow2'])).toMatchObject({ command: 'export', lab: { path: '/storage/golden.qcow2' } });
  const args = exportArgs({ path: '/storage/data.qcow2', format: 'qcow2' }, '/out/g.qcow2.part');
  expect(args).toEqual(['convert', '-c', '-f', 'qcow2', '-O', 'qcow2', '/storage/data.qcow2', '/out/g.qcow2.part']);
  expect(args).not.toContain('-U');
});
