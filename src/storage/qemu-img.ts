/**
 * The `qemu-img` adapter: every call is an argv array (never a shell), with a
 * deadline-free but abortable run (conversions of large images legitimately take minutes; the
 * run's AbortSignal ends them). Failures become AppError('media') carrying qemu-img's own words.
 *
 * Reference: qemu-img(1), https://www.qemu.org/docs/master/tools/qemu-img.html
 */
import { describeProgramEnd, runProgram } from '../process/run-program.js';
import { AppError } from '../core/errors.js';

export interface ImageInfo {
  /** qemu-img's format name: qcow2, raw, vmdk, vpc (VHD), vhdx, ... */
  format: string;
  virtualSize: number;
  /** Bytes allocated on the host. */
  actualSize: number | undefined;
  /** The backing file as written in the image header (may be relative). */
  backingFile: string | undefined;
  /** The backing file resolved against the image's directory. */
  fullBackingFile: string | undefined;
  backingFormat: string | undefined;
  /** qcow2's external data file (format-specific data-file), when it has one. */
  dataFile: string | undefined;
  /** VMDK extent file names (format-specific extents[].filename), as QEMU resolved them. */
  extents: string[];
}

/**
 * `info` and `check` read only an image's header and tables: seconds at most even for a large
 * disk on a slow device. A file that never answers (a FIFO, a dead network mount) must not hang
 * the start for ever.
 */
const METADATA_TIMEOUT_MS = 120_000;

export interface ImageCheck {
  status: 'clean' | 'leaks' | 'corrupt' | 'failed';
  /** qemu-img's own lines about what it found (or why it could not check). */
  errors: string[];
}

export interface RunOptions {
  signal?: AbortSignal | undefined;
  /** A bound for calls that only read metadata (conversions may take minutes and have none). */
  timeoutMs?: number | undefined;
}

/** Runs qemu-img with argv; resolves with stdout, rejects with an error carrying stderr. */
export type QemuImgRun = (args: string[], options: RunOptions) => Promise<string>;

export function spawnQemuImg(binary = 'qemu-img'): QemuImgRun {
  return async (args, options) => {
    const result = await runProgram([binary, ...args], { signal: options.signal, timeoutMs: options.timeoutMs, dieWithParent: true });
    // A stop request is not a failure of the image: the stop's own reason goes up, so the run
    // ends as a stop (exit 0) rather than as "media could not be read".
    if (result.endedBy === 'abort' && options.signal?.aborted) throw options.signal.reason;
    if (!result.ok) {
      const reason = result.endedBy === 'abort' ? 'aborted' : result.stderr.trim() || describeProgramEnd(result);
      throw new QemuImgError(args, reason, result.exitCode);
    }
    return result.stdout;
  };
}

export class QemuImgError extends Error {
  override readonly name = 'QemuImgError';
  constructor(
    readonly args: string[],
    readonly reason: string,
    readonly exitCode: number | undefined,
  ) {
    super(`qemu-img ${args[0] ?? ''} failed: ${reason}`);
  }
}

export interface CreateOptions {
  path: string;
  format: 'qcow2' | 'raw';
  /** Bytes; optional for an overlay (it inherits the base's size). */
  size?: number;
  backing?: { path: string; format: string };
  /** btrfs: create the file with copy-on-write disabled (qemu-img's `nocow` creation option). */
  nocow?: boolean;
  /** ALLOCATE=Y: `preallocation=falloc` (qemu-img(1): space reserved, no data written). */
  preallocate?: boolean;
}

export class QemuImg {
  readonly #run: QemuImgRun;

  constructor(run: QemuImgRun = spawnQemuImg()) {
    this.#run = run;
  }

  /**
   * `qemu-img info --output=json`. `-U` (force share) reads an image that a running QEMU holds,
   * e.g. a golden base that other containers use right now. `format` skips format probing where
   * the format is known (QEMU warns that probing raw images is unsafe).
   */
  async info(path: string, format?: string, options: RunOptions = {}): Promise<ImageInfo> {
    const args = ['info', '-U', '--output=json', ...(format ? ['-f', format] : []), path];
    const raw = await this.#call(args, { timeoutMs: METADATA_TIMEOUT_MS, ...options }, `cannot read the disk image ${path}`);
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(raw) as Record<string, unknown>;
    } catch (error) {
      throw new AppError('media', `qemu-img info ${path} printed no JSON`, { cause: error });
    }
    return {
      format: String(parsed['format']),
      virtualSize: Number(parsed['virtual-size']),
      actualSize: typeof parsed['actual-size'] === 'number' ? parsed['actual-size'] : undefined,
      backingFile: optionalString(parsed['backing-filename']),
      fullBackingFile: optionalString(parsed['full-backing-filename']),
      backingFormat: optionalString(parsed['backing-filename-format']),
      ...formatSpecific(parsed['format-specific']),
    };
  }

  /** `qemu-img create`; with `backing` an overlay (`-b base -F fmt`, the format always given). */
  async create(options: CreateOptions, run: RunOptions = {}): Promise<void> {
    await this.#call(createArgs(options), run, `cannot create the disk image ${options.path}`);
  }

  /** Grows an image to `size` bytes. Never used to shrink (the plan refuses that earlier). */
  async resize(path: string, format: string, size: number, options: RunOptions = {}): Promise<void> {
    await this.#call(['resize', '-f', format, path, String(size)], options, `cannot grow the disk image ${path}`);
  }

  /** Full copy into a new image; sparse (zeroes are not written) as qemu-img does by default. */
  async convert(
    source: { path: string; format: string },
    target: { path: string; format: 'qcow2' | 'raw'; nocow?: boolean },
    options: RunOptions = {},
  ): Promise<void> {
    await this.#call(convertArgs(source, target), options, `cannot convert ${source.path} to ${target.format}`);
  }

  /**
   * `qemu-img check` of a qcow2 image's metadata: read-only, reports without repairing (no `-r`).
   * Its exit status says what it found (qemu-img(1)): 0 consistent, 3 leaked clusters only
   * (space lost, no data at risk), 2 corruptions, 1 the check could not complete.
   */
  async check(path: string, format: string, options: RunOptions = {}): Promise<ImageCheck> {
    try {
      await this.#run(['check', '-U', '-f', format, path], { timeoutMs: METADATA_TIMEOUT_MS, ...options });
      return { status: 'clean', errors: [] };
    } catch (error) {
      if (!(error instanceof QemuImgError) || error.reason === 'aborted') throw error;
      const errors = error.reason.split('\n').filter((line) => /^(ERROR|Leaked cluster)/.test(line));
      const status = error.exitCode === 3 ? 'leaks' : error.exitCode === 2 ? 'corrupt' : 'failed';
      return { status, errors: errors.length > 0 ? errors : [error.reason] };
    }
  }

  /** Copies the first `count` 512-byte sectors of an image, as raw bytes, into `target`. */
  async readSectors(path: string, format: string, count: number, target: string, options: RunOptions = {}): Promise<void> {
    await this.#call(
      ['dd', '-U', '-f', format, '-O', 'raw', 'bs=512', `count=${count}`, `if=${path}`, `of=${target}`],
      options,
      `cannot read the first sectors of ${path}`,
    );
  }

  async #call(args: string[], options: RunOptions, what: string): Promise<string> {
    try {
      return await this.#run(args, options);
    } catch (error) {
      const reason = error instanceof QemuImgError ? error.reason : (error as Error).message;
      throw new AppError('media', `${what}: ${reason}`, {
        hint: 'Check that the file is a disk image qemu-img can read and that STORAGE has free space.',
        cause: error,
        details: { argv: ['qemu-img', ...args] },
      });
    }
  }
}

export function createArgs(options: CreateOptions): string[] {
  const args = ['create', '-q', '-f', options.format];
  if (options.backing) args.push('-b', options.backing.path, '-F', options.backing.format);
  const creation = [...(options.nocow ? ['nocow=on'] : []), ...(options.preallocate ? ['preallocation=falloc'] : [])];
  if (creation.length > 0) args.push('-o', creation.join(','));
  args.push(options.path);
  if (options.size !== undefined) args.push(String(options.size));
  return args;
}

export function convertArgs(
  source: { path: string; format: string },
  target: { path: string; format: 'qcow2' | 'raw'; nocow?: boolean },
): string[] {
  // -U: the source may be a base in use by other containers; it is only read.
  const args = ['convert', '-U', '-f', source.format, '-O', target.format];
  if (target.nocow) args.push('-o', 'nocow=on');
  args.push(source.path, target.path);
  return args;
}

/** qemu-img's `format-specific.data` (qapi/block-core.json ImageInfoSpecificQCow2 / ImageInfoSpecificVmdk). */
function formatSpecific(value: unknown): Pick<ImageInfo, 'dataFile' | 'extents'> {
  const data = (value as { data?: { 'data-file'?: unknown; extents?: unknown } } | undefined)?.data;
  const extents = Array.isArray(data?.extents) ? data.extents : [];
  return {
    dataFile: optionalString(data?.['data-file']),
    extents: extents.map((e) => optionalString((e as { filename?: unknown } | null)?.filename)).filter((f): f is string => f !== undefined),
  };
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
