/** Helpers for the storage integration tests: temp dirs, images with real content, digests. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import ts from 'typescript';

export interface TempDirs {
  make(prefix?: string): string;
  /** `mount ARGS... MOUNTPOINT`, unmounted (lazily, last first) by `cleanup` before the removal. */
  mount(...args: string[]): void;
  /** A new directory with a tmpfs of `size` (`2m`) on it: a small disk to fill. */
  makeTmpfs(size: string): string;
  cleanup(): void;
}

export function makeTempDirs(): TempDirs {
  const dirs: string[] = [];
  const mounts: string[] = [];
  const temp: TempDirs = {
    make(prefix = 'windock-storage-') {
      const dir = mkdtempSync(join(tmpdir(), prefix));
      dirs.push(dir);
      return dir;
    },
    mount(...args) {
      execFileSync('mount', args);
      mounts.push(args.at(-1)!);
    },
    makeTmpfs(size) {
      const dir = temp.make();
      temp.mount('-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir);
      return dir;
    },
    cleanup() {
      for (const mount of mounts.splice(0).reverse()) execFileSync('umount', ['-l', mount]);
      for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    },
  };
  return temp;
}

/** A small image with an MBR and recognisable data in its first MiB, in the given format. */
export function makeImage(dir: string, name: string, format: 'qcow2' | 'raw' | 'vmdk' | 'vpc' | 'vhdx', size = 16 * 2 ** 20): string {
  const raw = join(dir, `${name}.src.raw`);
  const data = Buffer.alloc(size);
  for (let i = 0; i < 2 ** 20; i++) data[i] = (i * 7) & 0xff;
  data[510] = 0x55;
  data[511] = 0xaa;
  data[446 + 4] = 0x83;
  writeFileSync(raw, data);
  const path = join(dir, name);
  if (format === 'raw') execFileSync('cp', [raw, path]);
  else execFileSync('qemu-img', ['convert', '-q', '-f', 'raw', '-O', format, raw, path]);
  rmSync(raw);
  return path;
}

export function imageInfo(path: string): Record<string, unknown> {
  return JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', path], { encoding: 'utf8' })) as Record<string, unknown>;
}

/** Writes a pattern through QEMU's block layer into an image (as a guest would). */
export function guestWrite(path: string, format: string, pattern: number, offset = 0, length = 65536): void {
  execFileSync('qemu-io', ['-f', format, '-c', `write -P ${pattern} ${offset} ${length}`, path], { stdio: 'ignore' });
}

export function readsPattern(path: string, format: string, pattern: number, offset = 0, length = 65536): boolean {
  try {
    execFileSync('qemu-io', ['-r', '-U', '-f', format, '-c', `read -P ${pattern} ${offset} ${length}`, path], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Transpiles project modules (paths relative to the repository) into `outDir` as JavaScript, for
 * tests that must run windock code in a child process (SIGKILL, another user). Only modules whose
 * imports are other listed modules or node: builtins can run there.
 */
export function transpileModules(modules: string[], outDir: string, root = process.cwd()): void {
  for (const module of modules) {
    const source = readFileSync(join(root, module), 'utf8');
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    });
    const target = join(outDir, module.replace(/\.ts$/, '.js'));
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, outputText);
  }
}
