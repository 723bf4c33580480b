/**
 * Resumable, verified downloads with the built-in `fetch`: the entry point. The parts, one job
 * each, are in the download/ folder beside this file (a folder because they are only this
 * module's insides; callers import this file alone):
 *
 * - download/response-decision.ts — pure: the request's Range/If-Range headers, and what an
 *   answer means (append, restart, complete, retry, fail). Resume sends `Range: bytes=N-` with
 *   `If-Range` (a strong ETag, else Last-Modified): a server whose file changed answers 200 with
 *   the whole new file (RFC 9110 §13.1.5), which restarts cleanly from 0, as does a server that
 *   ignores Range. A 206 whose Content-Range does not start at N is refused (RFC 9110 §14.4):
 *   appending it would corrupt the file.
 * - download/part-file.ts — `NAME.part` and its sidecar `NAME.part.json` (the URL without query:
 *   signed URLs carry tokens there; the validators; the byte ranges known to be on disk). The
 *   sidecar is rewritten at checkpoints, after an fdatasync of the part, so its ranges survive a
 *   SIGKILL or a power cut; a restart keeps exactly them and re-fetches at most one checkpoint
 *   interval.
 * - download/progress.ts — progress through the caller's callback, and the log lines.
 * - download/job.ts — the attempts: retries of transient failures with back-off (attempt.ts), the
 *   stop signal, the body streamed into the part, the digest check before the rename.
 * - download/parallel.ts, segments.ts — CONNECTIONS: a large file whose server honours Range is
 *   fetched as pieces over several connections at once into the same part.
 *
 * SHA-256 is computed while streaming, in file order, and the part is written, by a worker thread
 * (part-writer.ts) beside the event loop that parses the bodies. Node's Hash cannot be serialized,
 * so a resume re-hashes the durable prefix once before continuing. The digest is
 * checked before the rename to the final name; a mismatch deletes the part and its sidecar (a file
 * with the wrong digest is worth nothing) and fails with both digests.
 *
 * Everything that touches the outside comes in through `DownloadDeps`, for tests.
 */
import { join } from 'node:path';
import { AppError } from '../core/errors.js';
import { DEFAULTS, defaultDownloadDeps, DownloadJob, type DownloadContext, type DownloadDeps, type DownloadOptions, type DownloadResult, type Settings } from './download/job.js';
import { fileSize, hashFile } from './download/part-file.js';
import { publicUrl } from './media.js';

export { defaultDownloadDeps, type DownloadContext, type DownloadDeps, type DownloadOptions, type DownloadResult };

export async function download(
  ctx: DownloadContext,
  options: DownloadOptions,
  deps: DownloadDeps = defaultDownloadDeps(),
): Promise<DownloadResult> {
  const settings: Settings = { ...DEFAULTS, ...stripUndefined(options), url: options.url, dir: options.dir, fileName: options.fileName };
  const log = ctx.log.child({ component: 'download', file: options.fileName });
  const finalPath = join(options.dir, options.fileName);

  const existing = await fileSize(finalPath);
  if (existing !== undefined) {
    const digest = await hashFile(finalPath, existing);
    if (options.sha256 && digest !== options.sha256) {
      throw new AppError('media', `${finalPath} exists but its SHA-256 is ${digest}, expected ${options.sha256}`, {
        hint: 'windock does not delete files in STORAGE: move the file away to download it again.',
        details: { file: options.fileName, expected: options.sha256, actual: digest },
      });
    }
    log.info({ sha256: digest, bytes: existing }, 'already downloaded');
    return { path: finalPath, sha256: digest, bytes: existing, fetchedBytes: 0, downloaded: false };
  }
  return new DownloadJob(ctx, settings, deps, log, publicUrl(options.url)).run();
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
