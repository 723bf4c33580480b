/**
 * Does something answer on host:port? Used for /health/ready (the guest's RDP port).
 *
 * A bare TCP connect is not enough behind a user-mode forwarder: QEMU's slirp and passt accept
 * the connection on the container side first and only then try the guest, closing the accepted
 * socket when the guest refuses. So after the connect we wait a short settle time: data or a
 * socket that stays open means the guest answered; a close without data means it did not.
 */
import { Socket } from 'node:net';

export const DEFAULT_SETTLE_MS = 300;

export function probeTcp(
  host: string,
  port: number,
  timeoutMs: number,
  signal: AbortSignal,
  options: { settleMs?: number } = {},
): Promise<boolean> {
  const settleMs = Math.min(options.settleMs ?? DEFAULT_SETTLE_MS, timeoutMs);
  return new Promise<boolean>((resolve) => {
    if (signal.aborted) return resolve(false);
    const socket = new Socket();
    let settled = false;
    let settleTimer: NodeJS.Timeout | undefined;
    const finish = (answer: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      clearTimeout(settleTimer);
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(answer);
    };
    const onAbort = () => finish(false);
    const deadline = setTimeout(() => finish(false), timeoutMs);
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('error', () => finish(false));
    socket.once('close', () => finish(false));
    socket.once('data', () => finish(true));
    socket.connect({ host, port }, () => {
      // Connected in time: the settle window decides now, not the connect deadline.
      clearTimeout(deadline);
      settleTimer = setTimeout(() => finish(true), settleMs);
    });
  });
}
