/**
 * The CD's one extra turn when the disk's boot code refuses under SeaBIOS (seabios-retry.ts): the
 * QMP commands it sends, in order, against a recorded `query-block` answer shape (QEMU 7.2 with
 * -blockdev nodes named after the drives: `qdev` is the device's QOM path).
 */
import { describe, expect, it } from 'vitest';
import { createCdRetry, deviceOfNode, type BlockInfo } from '../../../src/windows/seabios-retry.js';

const BLOCKS: BlockInfo[] = [
  { qdev: '/machine/peripheral-anon/device[0]', inserted: { 'node-name': 'system' } },
  { qdev: '/machine/peripheral-anon/device[1]', inserted: { 'node-name': 'install' } },
  { qdev: '/machine/peripheral-anon/device[2]' },
];

describe('deviceOfNode', () => {
  it('finds the device holding a block node, nothing for an unknown one', () => {
    expect(deviceOfNode(BLOCKS, 'install')).toBe('/machine/peripheral-anon/device[1]');
    expect(deviceOfNode(BLOCKS, 'setup')).toBeUndefined();
  });
});

describe('createCdRetry', () => {
  function harness() {
    const sent: [string, Record<string, unknown> | undefined][] = [];
    const retry = createCdRetry({ id: 'install', bootIndex: 2 }, new AbortController().signal);
    retry.attach(async (command, args) => {
      sent.push([command, args]);
      return command === 'query-block' ? BLOCKS : {};
    });
    return { sent, retry };
  }

  it('refused disk: the CD first and a reset, once; when the CD started, the CD goes back behind the disk', async () => {
    const { sent, retry } = harness();
    expect(await retry.onSetupStarted(), 'nothing to undo before a retry').toBeUndefined();
    expect(await retry.onDiskRefused()).toContain('boots first once');
    expect(await retry.onSetupStarted()).toContain('back behind the disk');
    expect(await retry.onDiskRefused(), 'once per run').toContain('already');
    expect(await retry.onSetupStarted()).toBeUndefined();
    const device = '/machine/peripheral-anon/device[1]';
    expect(sent).toEqual([
      ['query-block', undefined],
      ['qom-set', { path: device, property: 'bootindex', value: 0 }],
      ['system_reset', undefined],
      ['qom-set', { path: device, property: 'bootindex', value: 2 }],
    ]);
  });

  it('a refusal before QMP answers waits for it', async () => {
    const sent: string[] = [];
    const retry = createCdRetry({ id: 'install', bootIndex: 2 }, new AbortController().signal);
    const done = retry.onDiskRefused();
    retry.attach(async (command) => (sent.push(command), command === 'query-block' ? BLOCKS : {}));
    expect(await done).toContain('boots first once');
    expect(sent).toEqual(['query-block', 'qom-set', 'system_reset']);
  });

  it('no device for the CD: an error naming the node, nothing reset', async () => {
    const sent: string[] = [];
    const retry = createCdRetry({ id: 'cd9', bootIndex: 2 }, new AbortController().signal);
    retry.attach(async (command) => (sent.push(command), command === 'query-block' ? BLOCKS : {}));
    await expect(retry.onDiskRefused()).rejects.toThrow('no device holds the block node cd9');
    expect(sent).toEqual(['query-block']);
  });
});
