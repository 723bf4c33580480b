/**
 * STORAGE that the user windock runs as cannot write: a real child process as uid/gid 65534
 * (nobody, via setpriv) runs ensureStorageDir against a root-owned 0755 directory.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeTempDirs, transpileModules } from './storage-helpers.js';
import { sha256File } from '../fixtures/digest.js';

const temp = makeTempDirs();
afterEach(() => temp.cleanup());

describe('STORAGE not writable for the running user', () => {
  it('fails with a clear message naming the directory and the fix, the disk byte-identical', () => {
    const code = temp.make('windock-nonroot-code-');
    transpileModules(['src/core/errors.ts', 'src/storage/storage-dir.ts'], code);
    const script = join(code, 'child.mjs');
    writeFileSync(
      script,
      `import { ensureStorageDir } from './src/storage/storage-dir.js';
try { await ensureStorageDir(process.argv[2]); console.log(JSON.stringify({ ok: true })); }
catch (e) { console.log(JSON.stringify({ code: e.code, exitCode: e.exitCode, message: e.message, hint: e.hint })); }
`,
    );
    chmodSync(code, 0o755);
    execFileSync('chmod', ['-R', 'a+rX', code]);
    const storage = temp.make();
    chmodSync(storage, 0o755);
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', join(storage, 'data.qcow2'), '64M']);
    const before = sha256File(join(storage, 'data.qcow2'));
    const result = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, script, storage], { encoding: 'utf8' });
    expect(result.status).toBe(0);
    const outcome = JSON.parse(result.stdout.trim()) as Record<string, unknown>;
    expect(outcome).toMatchObject({ code: 'config', exitCode: 2, message: `STORAGE ${storage} is not writable: permission denied (EACCES)` });
    expect(String(outcome.hint)).toMatch(/write access/);
    expect(sha256File(join(storage, 'data.qcow2'))).toBe(before);
  });
});
