/**
 * A download over several connections (CONNECTIONS): the missing ranges of the part, cut into
 * pieces (segments.ts), fetched in file order by up to CONNECTIONS connections at once, each
 * piece one `Range: bytes=S-E` request with `If-Range` (so that a changed file answers 200 and
 * is never stitched from two versions, RFC 9110 §13.1.5), written at its offset into the same
 * part. A piece that breaks or stalls is retried from its last received byte, a bounded number
 * of times without progress (attempt.ts); a 200 to a piece (the server ignores Range, or the file
 * changed) stops every connection, and the job continues on one connection or starts over.
 * Checkpoints record every durable range (part-file.ts), so a restart resumes each unfinished
 * piece from its durable point. The hash stays in file order in the writer thread.
 */
import type { DownloadContext, DownloadDeps, Settings } from './job.js';
import type { Logger } from '../../core/log.js';
import { PartWriteError, type PartWriter } from '../part-writer.js';
import { AttemptError, IdleTimer, readChunk, roomToWrite, unreachable, waitBeforeRetry, type RetryPolicy } from './attempt.js';
import { writeFailure, type PartFile } from './part-file.js';
import type { ProgressReporter } from './progress.js';
import { decidePiece, ifRangeValue, pieceHeaders } from './response-decision.js';
import type { ByteRange } from './segments.js';

export interface ParallelEnv {
  ctx: DownloadContext;
  settings: Settings & { connections: number };
  deps: DownloadDeps;
  log: Logger;
  shownUrl: string;
  part: PartFile;
  progress: ProgressReporter;
  retry: RetryPolicy;
  /** Counts bytes that came over the network. */
  onFetched: (bytes: number) => void;
}

/** The first request's answer, already open at the first piece's start: it becomes that piece. */
export interface OpenedPiece {
  response: Response;
  signal: AbortSignal;
  idle: IdleTimer;
}

/** Where a piece is: the next byte to receive, and its end (exclusive). */
interface Cursor {
  at: number;
  readonly end: number;
}

/** Fetches `pieces` (in file order) over up to `connections` connections; resolves when all are in. */
export async function fetchPieces(env: ParallelEnv, pieces: readonly ByteRange[], opened?: OpenedPiece): Promise<void> {
  // Opened beside the first requests, not before them: starting the writer thread takes a while
  // on a busy machine, and the connections' answers are on their way meanwhile.
  const writer = env.part.writer();
  writer.catch(() => undefined);
  const queue = [...pieces];
  const stop = new AbortController();
  const signal = AbortSignal.any([env.ctx.signal, stop.signal]);
  let failure: unknown;
  const connections = Math.max(1, Math.min(env.settings.connections, queue.length));
  env.log.info({ connections, pieces: queue.length, pieceBytes: pieces[0] ? pieces[0][1] - pieces[0][0] : 0 }, 'downloading over several connections');
  const connection = async (first: OpenedPiece | undefined): Promise<void> => {
    for (let piece = queue.shift(); piece && !signal.aborted; piece = queue.shift()) {
      await fetchPiece(env, writer, { at: piece[0], end: piece[1] }, signal, first);
      first = undefined;
    }
  };
  try {
    const running = Array.from({ length: connections }, (_, i) =>
      connection(i === 0 ? opened : undefined).catch((error: unknown) => {
        // The first failure ends every connection; the others' errors are its consequence.
        failure ??= error;
        stop.abort(error);
      }),
    );
    await Promise.all(running);
  } finally {
    // Whatever ended the pieces, every byte received is made durable and recorded.
    await writer.catch(() => undefined);
    await env.part.checkpoint();
  }
  if (failure !== undefined) throw failure;
}

/** One piece, retried from where it got to until it is whole. */
async function fetchPiece(env: ParallelEnv, writer: Promise<PartWriter>, cursor: Cursor, signal: AbortSignal, opened: OpenedPiece | undefined): Promise<void> {
  const start = cursor.at;
  let failures = 0;
  for (;;) {
    const before = cursor.at;
    try {
      await attemptPiece(env, writer, cursor, signal, opened);
      return;
    } catch (error) {
      opened = undefined;
      if (signal.aborted || !(error instanceof AttemptError) || error.reset) throw error;
      // An attempt that moved the piece forward starts a fresh series of retries.
      failures = cursor.at > before ? 1 : failures + 1;
      await waitBeforeRetry({ ...env.retry, signal }, error, failures, env.part.durableBytes, { piece: `${start}-${cursor.end}`, at: cursor.at });
      if (signal.aborted) throw error;
    }
  }
}

async function attemptPiece(env: ParallelEnv, writer: Promise<PartWriter>, cursor: Cursor, signal: AbortSignal, opened: OpenedPiece | undefined): Promise<void> {
  const { settings, part } = env;
  let piece = opened;
  if (!piece) {
    const attempt = new AbortController();
    const attemptSignal = AbortSignal.any([signal, attempt.signal]);
    // The timer bounds the wait for the answer too: fetch is aborted with the attempt.
    const idle = new IdleTimer(settings.idleTimeoutMs, () => attempt.abort(new Error('stalled')));
    let response: Response;
    try {
      response = await env.deps.fetch(settings.url, { headers: pieceHeaders(ifRangeValue(part.sidecar)!, cursor.at, cursor.end), signal: attemptSignal, redirect: 'follow' });
    } catch (error) {
      idle.stop();
      throw unreachable(settings.url, error);
    }
    piece = { response, signal: attemptSignal, idle };
    const { status, statusText, headers } = response;
    const decision = decidePiece({ status, statusText, headers, start: cursor.at, end: cursor.end, total: part.sidecar.total!, sidecar: part.sidecar, shownUrl: env.shownUrl, now: Date.now() });
    if (decision.action !== 'stream') {
      idle.stop();
      await response.body?.cancel().catch(() => undefined);
      if (decision.action === 'fail') throw new AttemptError(decision.reason, false);
      if (decision.action === 'retry') throw new AttemptError(decision.reason, true, decision.retryAfterMs);
      throw new AttemptError(decision.reason, true, 0, { reset: decision.action === 'changed' ? 'discard' : 'prefix' });
    }
  }
  try {
    await streamPiece(env, await writer, piece, cursor, signal);
  } finally {
    piece.idle.stop();
  }
}

/** Writes the body at the cursor until the piece's end (bytes past it are not this piece's). */
async function streamPiece(env: ParallelEnv, writer: PartWriter, piece: OpenedPiece, cursor: Cursor, signal: AbortSignal): Promise<void> {
  const { part, settings } = env;
  const { partPath } = part.paths;
  if (!piece.response.body) throw new AttemptError('the server sent no body', true);
  const reader = piece.response.body.getReader();
  const stream = writer.stream(cursor.at);
  // Another connection's failure or a stop ends this read at once.
  const onStop = (): void => void reader.cancel().catch(() => undefined);
  signal.addEventListener('abort', onStop, { once: true });
  try {
    while (cursor.at < cursor.end) {
      const chunk = await readChunk(reader, env.ctx.signal, piece.signal, settings.idleTimeoutMs);
      if (chunk.done) break;
      piece.idle.touch();
      const room = cursor.end - cursor.at;
      const bytes = chunk.value.length > room ? chunk.value.subarray(0, room) : chunk.value;
      // Counted before the hand-over: a transferred chunk's length reads 0 afterwards.
      const length = bytes.length;
      cursor.at += length;
      env.onFetched(length);
      part.write(stream, bytes);
      await roomToWrite(writer, settings.idleTimeoutMs, signal, partPath);
      env.progress.update(part.received, part.sidecar.total);
    }
  } catch (error) {
    throw error instanceof PartWriteError ? writeFailure(error, partPath) : error;
  } finally {
    signal.removeEventListener('abort', onStop);
    // The first answer runs on past its piece: cancelling ends its connection, not just the read.
    await reader.cancel().catch(() => undefined);
  }
  if (signal.aborted) throw signal.reason;
  if (cursor.at < cursor.end) throw new AttemptError(`the connection ended at byte ${cursor.at}, before the end of its piece (${cursor.end})`, true);
}
