/**
 * VERSION → media as the storage stage asks for it: /boot.iso first, then an ISO downloaded
 * before for the same VERSION and LANGUAGE, then a URL, then Microsoft (replayed on loopback), its
 * file downloaded by the storage stage's real downloader.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/resolve.js';
import type { RunContext } from '../../src/supervisor/context.js';
import { createLogger } from '../../src/core/log.js';
import { StateFile } from '../../src/state/state-file.js';
import { StatusStore } from '../../src/supervisor/status.js';
import { downloadMedia, safeDownloadName, type FetchMedia } from '../../src/storage/prepare.js';
import { defaultVersionMediaDeps, WINDOWS_DOWNLOAD, windowsVersionMedia, type VersionMediaDeps } from '../../src/windows/version-media.js';
import { startMicrosoftReplay, type ReplayServer } from '../fixtures/microsoft/replay-server.js';

const GERMAN_ISO = Buffer.alloc(64 * 1024, 7);

let dir: string;
let server: ReplayServer;
let lines: string[];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'windock-vmedia-'));
  await mkdir(join(dir, 'storage'));
  await mkdir(join(dir, 'root'));
  server = await startMicrosoftReplay('ok', { files: { 'Win11_24H2_German_x64.iso': GERMAN_ISO } });
  lines = [];
});
afterEach(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

/** The storage stage's downloader, as prepare.ts hands it to the resolver. */
const realFetch = (ctx: RunContext): FetchMedia => (r) => downloadMedia(ctx, { url: r.url, dir: ctx.config.storage, fileName: safeDownloadName(r.fileName), sha256: r.sha256 });
const noFetch: FetchMedia = async (r) => {
  throw new Error(`nothing may be downloaded here, got ${r.url}`);
};

function setup(env: Record<string, string>): { ctx: RunContext; deps: VersionMediaDeps } {
  const config = resolveConfig({ STORAGE: join(dir, 'storage'), RUN_DIR: join(dir, 'run'), ...env });
  const log = createLogger({ level: 'debug', pretty: false, destination: new Writable({ write: (c, _e, done) => (lines.push(String(c)), done()) }) });
  const options = { endpoints: server.endpoints };
  return {
    ctx: { config, log, status: new StatusStore(), state: new StateFile(config.storage), signal: new AbortController().signal },
    deps: {
      microsoft: defaultVersionMediaDeps(options).microsoft,
      retryDelayMs: 0,
      userMediaPaths: (storageDir, ownFiles) => ({ bootIso: join(dir, 'root', 'boot.iso'), storageDir, rootDir: join(dir, 'root'), knownOtherPaths: [join(dir, 'root', 'custom.iso')], ownFiles }),
    },
  };
}

describe('windowsVersionMedia', () => {
  it('uses an ISO mounted at /boot.iso without asking Microsoft', async () => {
    await writeFile(join(dir, 'root', 'boot.iso'), 'iso');
    const { ctx, deps } = setup({ VERSION: '11' });
    expect(await windowsVersionMedia(deps)('11', ctx, noFetch)).toEqual({ kind: 'path', path: join(dir, 'root', 'boot.iso') });
    expect(server.requests).toHaveLength(0);
  });

  it('reports ISOs mounted where windock does not read, then downloads from Microsoft and remembers the file', async () => {
    await writeFile(join(dir, 'root', 'custom.iso'), 'iso');
    await writeFile(join(dir, 'storage', 'my-windows.iso'), 'iso');
    const { ctx, deps } = setup({ VERSION: '11', LANGUAGE: 'German' });
    const media = await windowsVersionMedia(deps)('11', ctx, realFetch(ctx));
    const iso = join(dir, 'storage', 'Win11_24H2_German_x64.iso');
    expect(media).toEqual({ kind: 'path', path: iso });
    expect((await readFile(iso)).equals(GERMAN_ISO)).toBe(true);
    const warning = lines.map((l) => JSON.parse(l) as { level: number; msg: string; misplaced?: string[] }).find((l) => l.misplaced);
    expect(warning?.misplaced).toEqual([join(dir, 'root', 'custom.iso'), join(dir, 'storage', 'my-windows.iso')]);
    expect(warning?.msg).toContain('/boot.iso');
    expect(await WINDOWS_DOWNLOAD.read(ctx.state)).toEqual({ version: '11', language: 'de-DE', fileName: 'Win11_24H2_German_x64.iso', source: 'Microsoft download flow (windows11, de-DE)' });

    // The next start reuses it and asks Microsoft nothing.
    const before = server.requests.length;
    expect(await windowsVersionMedia(deps)('win11', ctx, noFetch)).toEqual({ kind: 'path', path: iso });
    expect(server.requests.length).toBe(before);
  });

  it('passes a URL through, and fetches a static link with the digest the catalog pins', async () => {
    const { ctx, deps } = setup({});
    expect(await windowsVersionMedia(deps)('https://example.test/x.iso', ctx, noFetch)).toEqual({ kind: 'url', url: 'https://example.test/x.iso' });
    // 2022: the Evaluation Center's file (the replay serves no bytes of it) fails, then the static link.
    const asked: Parameters<FetchMedia>[0][] = [];
    const recording: FetchMedia = async (r) => {
      asked.push(r);
      if (asked.length === 1) throw new Error('the server answered 405');
      await writeFile(join(dir, 'storage', r.fileName), 'iso');
      return join(dir, 'storage', r.fileName);
    };
    expect(await windowsVersionMedia(deps)('2022', ctx, recording)).toEqual({ kind: 'path', path: join(dir, 'storage', 'SERVER_EVAL_x64FRE_en-us.iso') });
    expect(asked.map((r) => [new URL(r.url).host === new URL(server.base).host, r.sha256])).toEqual([
      [true, undefined],
      [false, '3e4fa6d8507b554856fc9ca6079cc402df11a8b79344871669f0251535255325'],
    ]);
  });

  it('refuses an unknown VERSION with exit 2', async () => {
    const { ctx, deps } = setup({});
    await expect(windowsVersionMedia(deps)('12', ctx, noFetch)).rejects.toMatchObject({ exitCode: 2 });
  });
});
