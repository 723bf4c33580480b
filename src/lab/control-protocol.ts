/**
 * The control protocol between `windock snapshot|reset|export` (run with `docker exec`) and the
 * running supervisor: JSON lines over a private unix socket in RUN_DIR. One request per line, one
 * reply per request, in order. Everything here is pure: parsing a line never throws, it gives a
 * request or the error reply to send back (a control client is trusted — only root in the
 * container reaches the 0600 socket — but its input is still checked like any other input).
 *
 *   → {"op":"snapshot-save","name":"clean"}
 *   ← {"ok":true,"result":{"name":"clean","created":true}}
 *   ← {"ok":false,"error":{"code":"config","message":"...","hint":"..."}}
 */
import { AppError, type ErrorCode } from '../core/errors.js';

export const CONTROL_SOCKET = 'control.sock';

/** A request line longer than this is refused (and the connection closed): no unbounded buffer. */
export const MAX_REQUEST_BYTES = 16 * 1024;

export type ControlRequest =
  | { op: 'status' }
  | { op: 'snapshot-list' }
  | { op: 'snapshot-save'; name: string }
  | { op: 'snapshot-delete'; name: string }
  /** `discardChanges`: no automatic snapshot of the current state first (the user said so). */
  | { op: 'snapshot-revert'; name: string; discardChanges: boolean }
  | { op: 'reset'; discardChanges: boolean };

export type ControlOp = ControlRequest['op'];

export interface ControlErrorBody {
  code: ErrorCode;
  message: string;
  hint?: string;
}

export type ControlReply = { ok: true; result: unknown } | { ok: false; error: ControlErrorBody };

const OPS: readonly ControlOp[] = ['status', 'snapshot-list', 'snapshot-save', 'snapshot-delete', 'snapshot-revert', 'reset'];

/**
 * Snapshot names: letters, digits and `._-`, starting with a letter or digit, at most 64 bytes.
 * QEMU accepts almost anything as a tag, but the name travels through command lines, JSON and
 * the viewer page; a plain name also cannot be mistaken for a numeric snapshot id (qcow2 looks
 * snapshots up by id as well as by name, block/snapshot.c bdrv_snapshot_find), hence at least one
 * letter.
 */
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function checkSnapshotName(name: unknown): string {
  if (typeof name !== 'string' || !NAME_RE.test(name) || !/[A-Za-z]/.test(name)) {
    throw new AppError('config', `a snapshot name must be 1 to 64 letters, digits, ".", "_" or "-" (with at least one letter, starting with a letter or digit), got ${JSON.stringify(name)}`, {
      hint: 'For example: windock snapshot save clean',
    });
  }
  return name;
}

/** Parses one request line; a bad line gives the error to reply with, never a throw. */
export function parseRequest(line: string): { request: ControlRequest } | { error: ControlErrorBody } {
  try {
    return { request: requestOf(line) };
  } catch (error) {
    return { error: errorBody(error) };
  }
}

function requestOf(line: string): ControlRequest {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new AppError('config', `a control request must be one JSON object per line, got ${JSON.stringify(line.slice(0, 80))}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new AppError('config', `a control request must be a JSON object, got ${JSON.stringify(line.slice(0, 80))}`);
  }
  const fields = value as Record<string, unknown>;
  const op = fields['op'];
  if (typeof op !== 'string' || !(OPS as readonly string[]).includes(op)) {
    throw new AppError('config', `a control request's "op" must be one of ${OPS.join(', ')}, got ${JSON.stringify(op)}`);
  }
  const discard = fields['discardChanges'];
  if (discard !== undefined && typeof discard !== 'boolean') {
    throw new AppError('config', `"discardChanges" must be true or false, got ${JSON.stringify(discard)}`);
  }
  switch (op as ControlOp) {
    case 'status':
      return { op: 'status' };
    case 'snapshot-list':
      return { op: 'snapshot-list' };
    case 'snapshot-save':
      return { op: 'snapshot-save', name: checkSnapshotName(fields['name']) };
    case 'snapshot-delete':
      return { op: 'snapshot-delete', name: checkSnapshotName(fields['name']) };
    case 'snapshot-revert':
      return { op: 'snapshot-revert', name: checkSnapshotName(fields['name']), discardChanges: discard === true };
    case 'reset':
      return { op: 'reset', discardChanges: discard === true };
  }
}

export function errorBody(error: unknown): ControlErrorBody {
  if (error instanceof AppError) return { code: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}) };
  return { code: 'internal', message: error instanceof Error ? error.message : String(error) };
}

export function encodeReply(reply: ControlReply): string {
  return `${JSON.stringify(reply)}\n`;
}

/** Parses a reply line on the client side; anything else is an internal error of the peer. */
export function parseReply(line: string): ControlReply {
  try {
    const value = JSON.parse(line) as Partial<ControlReply> & Record<string, unknown>;
    if (value.ok === true && 'result' in value) return { ok: true, result: value.result };
    const error = value.error as Partial<ControlErrorBody> | undefined;
    if (value.ok === false && error && typeof error.message === 'string') {
      return { ok: false, error: { code: (error.code ?? 'internal') as ErrorCode, message: error.message, ...(typeof error.hint === 'string' ? { hint: error.hint } : {}) } };
    }
  } catch {
    // fall through
  }
  return { ok: false, error: { code: 'internal', message: `the supervisor sent an unreadable reply: ${JSON.stringify(line.slice(0, 120))}` } };
}
