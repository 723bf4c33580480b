/**
 * VERSION → media as the storage stage asks for it: /boot.iso first, then an ISO downloaded
 * before for the same VERSION and LANGUAGE, then a URL, then Microsoft (replayed on loopback).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/resolve.js';
import type { RunContext } from '../../src/supervisor/context.js';
import { createLogger } from '../../src/core/log.js';
import { StateFile } from '../../src/state/state-file.js';
import { StatusStore } from '../../src/supervisor/status.js';
import { ConsumerDownloadClient, EvalCenterClient } from '../../src/windows/microsoft-download.js';
import { WINDOWS_DOWNLOAD, windowsVersionMedia, type VersionMediaDeps } from '../../src/windows/version-media.js';
import { startMicrosoftReplay, type ReplayServer } from '../fixtures/microsoft/replay-server.js';

let dir: string;
let server: ReplayServer;
let lines: string[];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'windock-vmedia-'));
  await mkdir(join(dir, 'storage'));
  await mkdir(join(dir, 'root'));
  server = await startMicrosoftReplay('ok');
  lines = [];
});
afterEach(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

function setup(env: Record<string, string>): { ctx: RunContext; deps: VersionMediaDeps } {
  const config = resolveConfig({ STORAGE: join(dir, 'storage'), RUN_DIR: join(dir, 'run'), ...env });
  const log = createLogger({ level: 'debug', pretty: false, destination: new Writable({ write: (c, _e, done) => (lines.push(String(c)), done()) }) });
  const options = { endpoints: server.endpoints };
  return {
    ctx: { config, log, status: new StatusStore(), state: new StateFile(config.storage), signal: new AbortController().signal },
    deps: {
      resolver: { consumer: new ConsumerDownloadClient(options), evalcenter: new EvalCenterClient(options) },
      userMediaPaths: (storageDir, ownFiles) => ({ bootIso: join(dir, 'root', 'boot.iso'), storageDir, rootDir: join(dir, 'root'), knownOtherPaths: [join(dir, 'root', 'custom.iso')], ownFiles }),
    },
  };
}

describe('windowsVersionMedia', () => {
  it('uses an ISO mounted at /boot.iso without asking Microsoft', async () => {
    await writeFile(join(dir, 'root', 'boot.iso'), 'iso');
    const { ctx, deps } = setup({ VERSION: '11' });
    expect(await windowsVersionMedia(deps)('11', ctx)).toEqual({ kind: 'path', path: join(dir, 'root', 'boot.iso') });
    expect(server.requests).toHaveLength(0);
  });

  it('reports ISOs mounted where windock does not read, then resolves the link and remembers the file', async () => {
    await writeFile(join(dir, 'root', 'custom.iso'), 'iso');
    await writeFile(join(dir, 'storage', 'my-windows.iso'), 'iso');
    const { ctx, deps } = setup({ VERSION: '11', LANGUAGE: 'German' });
    const media = await windowsVersionMedia(deps)('11', ctx);
    expect(media).toMatchObject({ kind: 'url', fileName: 'Win11_24H2_German_x64.iso' });
    const warning = lines.map((l) => JSON.parse(l) as { level: number; msg: string; misplaced?: string[] }).find((l) => l.misplaced);
    expect(warning?.misplaced).toEqual([join(dir, 'root', 'custom.iso'), join(dir, 'storage', 'my-windows.iso')]);
    expect(warning?.msg).toContain('/boot.iso');
    expect(await WINDOWS_DOWNLOAD.read(ctx.state)).toEqual({ version: '11', language: 'de-DE', fileName: 'Win11_24H2_German_x64.iso' });

    // Downloaded (by the storage stage) → the next start reuses it and asks Microsoft nothing.
    await writeFile(join(dir, 'storage', 'Win11_24H2_German_x64.iso'), 'iso');
    const before = server.requests.length;
    expect(await windowsVersionMedia(deps)('win11', ctx)).toEqual({ kind: 'path', path: join(dir, 'storage', 'Win11_24H2_German_x64.iso') });
    expect(server.requests.length).toBe(before);
  });

  it('passes a URL through and gives pinned digests for static routes', async () => {
    const { ctx, deps } = setup({});
    expect(await windowsVersionMedia(deps)('https://example.test/x.iso', ctx)).toEqual({ kind: 'url', url: 'https://example.test/x.iso' });
    const server2022 = await windowsVersionMedia(deps)('2022', ctx);
    expect(server2022).toMatchObject({ kind: 'url', fileName: 'SERVER_EVAL_x64FRE_en-us.iso', sha256: '3e4fa6d8507b554856fc9ca6079cc402df11a8b79344871669f0251535255325' });
  });

  it('refuses an unknown VERSION with exit 2', async () => {
    const { ctx, deps } = setup({});
    await expect(windowsVersionMedia(deps)('12', ctx)).rejects.toMatchObject({ exitCode: 2 });
  });
});
