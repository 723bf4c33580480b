/**
 * The image's virtio-win step (image/bundle-virtio.sh, run by image/Dockerfile): a release is
 * verified against its pinned SHA-256 before anything is unpacked, a mismatch stops the build, a
 * file that cannot be fetched leaves the image without drivers (and working), and only the
 * `<driver>/<os>/<amd64|x86>` folders Setup needs are kept. Run on the host against a local
 * server holding real virtio-win-shaped media: an ISO made with xorriso (Fedora's form) and a
 * tar.xz (qemus/virtiso-whql's, what dockur/windows bundles).
 */
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { access, constants, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startHttpServer, type TestHttpServer } from '../fixtures/http-server.js';

const SCRIPT = new URL('../../image/bundle-virtio.sh', import.meta.url).pathname;

/** A virtio-win release's layout in small: what must be kept and what must stay out. */
const TREE: Record<string, string> = {
  'viostor/w11/amd64/viostor.inf': '[Version]\nSignature="$WINDOWS NT$"\n',
  'viostor/w11/amd64/viostor.sys': 'driver',
  'viostor/w11/ARM64/viostor.inf': 'arm',
  'viostor/2k22/amd64/viostor.inf': 'inf',
  'NetKVM/w11/amd64/netkvm.inf': 'inf',
  'NetKVM/w10/x86/netkvm.inf': 'inf',
  'vioscsi/w11/amd64/vioscsi.inf': 'inf',
  'amd64/w11/viostor.inf': 'flat copy the image does not need',
  'guest-agent/qemu-ga-x86_64.msi': 'tools',
  'virtio-win-guest-tools.exe': 'tools',
};
const KEPT = ['NetKVM/w10/x86/netkvm.inf', 'NetKVM/w11/amd64/netkvm.inf', 'vioscsi/w11/amd64/vioscsi.inf', 'viostor/2k22/amd64/viostor.inf', 'viostor/w11/amd64/viostor.inf', 'viostor/w11/amd64/viostor.sys'];

let base: string;
let server: TestHttpServer;
const files: Record<string, Buffer> = {};

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'windock-virtio-'));
  const tree = join(base, 'tree');
  for (const [path, text] of Object.entries(TREE)) {
    await mkdir(join(tree, path, '..'), { recursive: true });
    await writeFile(join(tree, path), text);
  }
  execFileSync('xorriso', ['-as', 'mkisofs', '-quiet', '-J', '-R', '-V', 'virtio-win-0.1.285', '-o', join(base, 'virtio-win.iso'), tree]);
  execFileSync('tar', ['-cJf', join(base, 'virtio-win.tar.xz'), '-C', tree, '.']);
  const noStorage = join(base, 'not-virtio');
  await mkdir(join(noStorage, 'NetKVM/w11/amd64'), { recursive: true });
  await writeFile(join(noStorage, 'NetKVM/w11/amd64/netkvm.inf'), 'inf');
  execFileSync('tar', ['-cJf', join(base, 'not-virtio.tar.xz'), '-C', noStorage, '.']);
  for (const name of ['virtio-win.iso', 'virtio-win.tar.xz', 'not-virtio.tar.xz']) files[`/${name}`] = readFileSync(join(base, name));
  server = await startHttpServer(({ path }) => (files[path] ? { kind: 'serve', file: { body: files[path]! } } : { kind: 'status', status: 404 }));
}, 60_000);

afterAll(async () => {
  await server?.close();
  await rm(base, { recursive: true, force: true });
});

const sha256 = (body: Buffer) => createHash('sha256').update(body).digest('hex');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  out: string;
}

async function bundle(version: string, url: string, digest: string): Promise<Run> {
  const out = await mkdtemp(join(base, 'out-'));
  return new Promise((resolve) => {
    execFile('sh', [SCRIPT, version, url, digest, out], { timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr, out });
    });
  });
}

async function filesUnder(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath ?? e.path, e.name).slice(dir.length + 1)).sort();
}

const said = (run: Run) => `exit ${run.code}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`;

it('a pinned ISO whose digest matches: only the <driver>/<os>/<amd64|x86> folders are kept, writable', async () => {
  const run = await bundle('0.1.285', server.url('/virtio-win.iso'), sha256(files['/virtio-win.iso']!));
  expect(run.code, said(run)).toBe(0);
  expect(run.stdout, said(run)).toContain('sha256');
  expect(run.stdout).toContain('verified');
  const kept = await filesUnder(join(run.out, 'virtio-win'));
  expect(kept, said(run)).toEqual(KEPT);
  // ISO files unpack read-only; a later build step or an overlay must still be able to replace them.
  await access(join(run.out, 'virtio-win/viostor/w11/amd64/viostor.inf'), constants.W_OK);
});

it("dockur's tar.xz form unpacks the same way", async () => {
  const run = await bundle('1.9.60', server.url('/virtio-win.tar.xz'), sha256(files['/virtio-win.tar.xz']!));
  expect(run.code, said(run)).toBe(0);
  expect(await filesUnder(join(run.out, 'virtio-win')), said(run)).toEqual(KEPT);
});

it('a digest mismatch stops the build before anything is unpacked, naming both digests', async () => {
  const wrong = sha256(Buffer.from('another release'));
  const run = await bundle('0.1.285', server.url('/virtio-win.iso'), wrong);
  expect(run.code, said(run)).toBe(1);
  expect(run.stderr, said(run)).toContain(wrong);
  expect(run.stderr).toContain(sha256(files['/virtio-win.iso']!));
  expect(run.stderr).toContain('VIRTIO_SHA256');
  expect(await filesUnder(run.out), said(run)).toEqual([]);
});

it('a file that cannot be fetched (404, or nothing listening) leaves the image without drivers and the build going', async () => {
  for (const url of [server.url('/virtio-win-9.9.9.iso'), 'http://127.0.0.1:9/virtio-win.iso']) {
    const run = await bundle('0.1.285', url, sha256(files['/virtio-win.iso']!));
    expect(run.code, said(run)).toBe(0);
    expect(run.stderr, said(run)).toMatch(/WARNING: .* could not be fetched: the image bundles no virtio-win drivers/);
    expect(await filesUnder(run.out), said(run)).toEqual([]);
  }
});

it('no digest: the file is used with a warning that prints its digest to pin', async () => {
  const run = await bundle('1.9.60', server.url('/virtio-win.tar.xz'), '');
  expect(run.code, said(run)).toBe(0);
  expect(run.stderr, said(run)).toContain(`not pinned (VIRTIO_SHA256 is empty): fetched over HTTPS, sha256 ${sha256(files['/virtio-win.tar.xz']!)}`);
  expect(await filesUnder(join(run.out, 'virtio-win'))).toEqual(KEPT);
});

it('an archive without the storage driver is refused: it is not a virtio-win release', async () => {
  const run = await bundle('1.9.60', server.url('/not-virtio.tar.xz'), sha256(files['/not-virtio.tar.xz']!));
  expect(run.code, said(run)).toBe(1);
  expect(run.stderr, said(run)).toContain('holds no viostor/w11/amd64 folder');
});

it('VIRTIO=none fetches nothing', async () => {
  const before = server.requests.length;
  const run = await bundle('none', server.url('/virtio-win.iso'), '');
  expect(run.code, said(run)).toBe(0);
  expect(run.stdout).toContain('VIRTIO=none');
  expect(server.requests.length, said(run)).toBe(before);
  expect(await filesUnder(run.out)).toEqual([]);
});
