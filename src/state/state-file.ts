/**
 * `STORAGE/windock.json`: the facts windock must remember across restarts (the guest's MAC, the
 * media identity, the install state). Written atomically — temp file, fsync, rename, fsync of the
 * directory — so that a power cut leaves either the old or the new file, never half of one. A file
 * damaged from outside is set aside and what can be saved of it is kept (state-salvage.ts).
 */
import type { DiskBus, NicModel } from '../qemu/vm-spec.js';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AppError } from '../core/errors.js';
import { writeFileAtomic } from './durable-file.js';
import { judgeStateText, storedFieldCheck } from './state-salvage.js';

export interface PersistedState {
  /** Format version of this file. */
  schema: 1;
  mac?: string;
  /** Identity of the media the disk was made from (path or URL, size, mtime or digest). */
  media?: { source: string; kind: string; size?: number; mtimeMs?: number; sha256?: string; /** local file (a download lands in STORAGE) */ path?: string };
  /** Overlay setup: the base the system disk is layered on. */
  base?: { path: string; size: number; mtimeMs: number };
  install?: { mediaAttached: boolean; bootedFromDisk: boolean; completedAt?: string };
  /** Firmware mode the system disk was set up with; kept for its life (BIOS and UEFI installs don't boot under each other). */
  bootMode?: 'uefi' | 'secure' | 'legacy';
  /** The bus the system disk was first attached on: an installed OS only boots from the bus it has drivers for. */
  diskBus?: DiskBus;
  /** The NIC model the guest was installed with: Windows keeps its network settings per adapter, and has drivers for this one. */
  nicModel?: NicModel;
  webToken?: string;
}

export const STATE_FILE = 'windock.json';

/**
 * A part of windock.json that one module owns and types (the Windows download record is
 * windows/version-media.ts's): read back only when it passes the file's check for that key
 * (state-salvage.ts), written whole. The only way to a key PersistedState does not list.
 */
export interface StateSlice<T> {
  readonly key: string;
  read(file: StateFile): Promise<T | undefined>;
  write(file: StateFile, value: T): Promise<void>;
  /** Sets the slice inside an `update` of the file: several facts written in one atomic write. */
  put(state: PersistedState, value: T): void;
}

export function stateSlice<T>(key: string): StateSlice<T> {
  const check = storedFieldCheck(key);
  if (!check) throw new Error(`windock.json has no check for the slice "${key}": add one to state-salvage.ts`);
  return {
    key,
    read: async (file) => {
      const value: unknown = Reflect.get(await file.read(), key);
      return check(value) ? (value as T) : undefined;
    },
    write: async (file, value) => {
      await file.update((s) => void Reflect.set(s, key, value));
    },
    put: (state, value) => void Reflect.set(state, key, value),
  };
}

/** What was done with a damaged windock.json (state-salvage.ts), for the caller's warning. */
export interface StateRecovery {
  file: string;
  /** The damaged file's bytes, kept under this name. */
  kept: string;
  reason: string;
  recovered: string[];
  dropped: string[];
}

export interface StateFileOptions {
  /** Told once when a damaged file was replaced by what could be saved of it. */
  onRecovered?: (recovery: StateRecovery) => void;
  now?: () => Date;
}

export class StateFile {
  readonly path: string;
  readonly #options: StateFileOptions;
  #state: PersistedState | undefined;
  /** One load for concurrent first reads: a damaged file is set aside once. */
  #loading: Promise<PersistedState> | undefined;
  /** Writes are serialized: two quick updates never interleave their temp files. */
  #chain: Promise<void> = Promise.resolve();

  constructor(storageDir: string, options: StateFileOptions = {}) {
    this.path = join(storageDir, STATE_FILE);
    this.#options = options;
  }

  async read(): Promise<PersistedState> {
    if (this.#state) return this.#state;
    this.#loading ??= this.#load().finally(() => (this.#loading = undefined));
    this.#state = await this.#loading;
    return this.#state;
  }

  async #load(): Promise<PersistedState> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return { schema: 1 };
      throw new AppError('config', `${this.path} cannot be read (${code ?? (error as Error).message})`, {
        hint: 'windock.json must be a regular file that the user windock runs as can read and write.',
        cause: error,
        details: { file: this.path, errno: code },
      });
    }
    const verdict = judgeStateText(bytes.toString('utf8'));
    if (verdict.kind === 'ok') return verdict.state;
    if (verdict.kind === 'newer') {
      // Never rewrite what a newer windock recorded: it may hold the only record of the install state.
      throw new AppError('config', `${this.path} has schema ${JSON.stringify(verdict.schema)}, written by a newer windock; this one reads schema 1`, {
        hint: 'Run the windock version that wrote it, or move the file away to start with fresh state.',
        details: { file: this.path, schema: verdict.schema },
      });
    }
    // The damaged bytes are kept, durably, before anything replaces them.
    const stamp = (this.#options.now?.() ?? new Date()).toISOString().replace(/[:.]/g, '-');
    const kept = `${this.path}.corrupt-${stamp}`;
    await writeFileAtomic(kept, bytes);
    await writeFileAtomic(this.path, `${JSON.stringify(verdict.state, null, 2)}\n`);
    this.#options.onRecovered?.({ file: this.path, kept, reason: verdict.reason, recovered: verdict.recovered, dropped: verdict.dropped });
    return verdict.state;
  }

  /** Applies `change` to the current state and persists the result atomically. */
  async update(change: (state: PersistedState) => PersistedState | void): Promise<PersistedState> {
    const run = async (): Promise<PersistedState> => {
      const current = structuredClone(await this.read());
      const next = change(current) ?? current;
      await writeFileAtomic(this.path, `${JSON.stringify(next, null, 2)}\n`);
      this.#state = next;
      return next;
    };
    const result = this.#chain.then(run);
    this.#chain = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}
