/**
 * `STORAGE/windock.json`: the facts windock must remember across restarts (the guest's MAC, the
 * media identity, the install state). Written atomically — temp file, fsync, rename, fsync of the
 * directory — so that a power cut leaves either the old or the new file, never half of one.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AppError } from '../errors.js';
import { writeFileAtomic } from './durable-file.js';

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
  diskBus?: 'scsi' | 'blk' | 'sata' | 'nvme';
  webToken?: string;
  /** Room for later facts without a schema bump. */
  [key: string]: unknown;
}

export const STATE_FILE = 'windock.json';

export class StateFile {
  readonly path: string;
  #state: PersistedState | undefined;
  /** Writes are serialized: two quick updates never interleave their temp files. */
  #chain: Promise<void> = Promise.resolve();

  constructor(storageDir: string) {
    this.path = join(storageDir, STATE_FILE);
  }

  async read(): Promise<PersistedState> {
    if (this.#state) return this.#state;
    try {
      const parsed = JSON.parse(await readFile(this.path, 'utf8')) as PersistedState;
      if (typeof parsed !== 'object' || parsed === null || parsed.schema !== 1) {
        throw new Error(`unknown schema ${JSON.stringify((parsed as { schema?: unknown })?.schema)}`);
      }
      this.#state = parsed;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        this.#state = { schema: 1 };
      } else {
        // Never overwrite a file we cannot read: it may hold the only record of the install state.
        throw new AppError('internal', `${this.path} cannot be read: ${(error as Error).message}`, {
          hint: 'Fix or move the file away by hand; windock does not replace it on its own.',
          cause: error,
        });
      }
    }
    return this.#state;
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
