/**
 * The health endpoints, pure: a status snapshot in, a response out. A probe never waits on QEMU:
 * the snapshot is kept current by events (DESIGN.md, "HTTP on WEB_PORT").
 *
 *   /health        200 while the VM runs (QMP says running), else 503
 *   /health/live   200 while the supervisor works as it should (downloads included), 503 once failed
 *   /health/ready  200 once the guest answers on READY_PORT
 */
import type { ErrorCode } from '../core/errors.js';
import type { StatusSnapshot } from '../supervisor/status.js';

export interface HealthResponse {
  status: 200 | 503;
  body: HealthBody;
}

export interface HealthBody {
  ok: boolean;
  phase: StatusSnapshot['phase'];
  since: string;
  guest: { state: string | null; address: string | null; reachable: boolean };
  download: StatusSnapshot['download'] | null;
  error: { code: string; message: string } | null;
}

export type HealthPath = '/health' | '/health/live' | '/health/ready';

export const HEALTH_PATHS: readonly HealthPath[] = ['/health', '/health/live', '/health/ready'];

export function isHealthPath(path: string): path is HealthPath {
  return (HEALTH_PATHS as readonly string[]).includes(path);
}

export function healthResponse(path: HealthPath, snapshot: StatusSnapshot): HealthResponse {
  const ok = decide(path, snapshot);
  return {
    status: ok ? 200 : 503,
    body: {
      ok,
      phase: snapshot.phase,
      since: snapshot.since,
      guest: { state: snapshot.guestState ?? null, address: snapshot.guestAddress ?? null, reachable: snapshot.guestReachable },
      download: snapshot.download ?? null,
      error: snapshot.error ? publicError(snapshot.error.code) : null,
    },
  };
}

/**
 * What /health says about a failure: the code and a fixed sentence per code. The full message
 * stays in the log (and on the token-protected viewer): it may name files under STORAGE or
 * RUN_DIR, or carry QEMU's stderr, and /health is open to anyone who reaches the port.
 */
export const PUBLIC_ERROR_MESSAGES: Readonly<Record<ErrorCode, string>> = {
  internal: 'windock met an internal error; its log has the details',
  config: 'a setting is invalid; the log names it',
  host: 'the host lacks a capability windock needs; the log names it and the fix',
  media: 'the boot media could not be obtained or verified; the log has the details',
  qemu: 'QEMU failed; the log has its output',
  'forced-stop': 'the guest ignored the power button and was stopped by force',
};

export function publicError(code: string): { code: ErrorCode; message: string } {
  const known = Object.hasOwn(PUBLIC_ERROR_MESSAGES, code) ? (code as ErrorCode) : 'internal';
  return { code: known, message: PUBLIC_ERROR_MESSAGES[known] };
}

function decide(path: HealthPath, s: StatusSnapshot): boolean {
  switch (path) {
    case '/health':
      return s.phase === 'running' && s.guestState === 'running';
    case '/health/live':
      return s.phase !== 'failed';
    case '/health/ready':
      return s.phase === 'running' && s.guestReachable;
  }
}
