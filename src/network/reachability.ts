/**
 * Does something answer on host:port? Used for /health/ready (the guest's RDP port).
 *
 * A bare TCP connect is not enough behind a user-mode forwarder: QEMU's slirp and passt accept
 * the connection on the container side first and only then try the guest, closing the accepted
 * socket when the guest refuses. So after the connect we wait a short settle time: data or a
 * socket that stays open means the guest answered; a close without data means it did not.
 *
 * That still misreads a forwarder that holds the accepted connection open while it waits for a
 * guest that is not up yet (passt does; slirp does while the guest has no NIC). For those,
 * `expectReply` counts only data: the probe sends an RDP X.224 Connection Request, which an RDP
 * server answers with a Connection Confirm ([MS-RDPBCGR] 2.2.1.1 and 2.2.1.2); a service that
 * speaks first answers anyway.
 */
import { Socket } from 'node:net';

export const DEFAULT_SETTLE_MS = 300;

/**
 * TPKT header (RFC 1006: version 3, length 19) + X.224 Connection Request (ISO 8073: LI 14, CR
 * 0xE0, dst-ref 0, src-ref 0, class 0) + RDP_NEG_REQ (type 1, length 8, requestedProtocols
 * TLS|HYBRID = 3), [MS-RDPBCGR] 2.2.1.1.
 */
export const RDP_CONNECTION_REQUEST = Buffer.from('030000130ee000000000000100080003000000', 'hex');

export function probeTcp(
  host: string,
  port: number,
  timeoutMs: number,
  signal: AbortSignal,
  options: { settleMs?: number; expectReply?: boolean } = {},
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
      if (options.expectReply) {
        // Only data counts: the connect deadline keeps running.
        socket.write(RDP_CONNECTION_REQUEST);
        return;
      }
      // Connected in time: the settle window decides now, not the connect deadline.
      clearTimeout(deadline);
      settleTimer = setTimeout(() => finish(true), settleMs);
    });
  });
}
