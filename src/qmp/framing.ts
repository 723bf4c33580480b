/**
 * QMP wire format: one JSON object per line in both directions (QEMU's docs/interop/qmp-spec.rst,
 * "Wire protocol"). This module is pure: it splits a byte stream into messages and classifies
 * them, so that it can be tested without QEMU.
 */
import { LineSplitter } from '../process/line-splitter.js';

export interface QmpGreeting {
  QMP: { version: { qemu: { major: number; minor: number; micro: number }; package: string }; capabilities: string[] };
}
export interface QmpReturn {
  return: unknown;
  id?: string;
}
export interface QmpErrorReply {
  error: { class: string; desc: string };
  id?: string;
}
export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp: { seconds: number; microseconds: number };
}

export type QmpMessage =
  | { kind: 'greeting'; message: QmpGreeting }
  | { kind: 'return'; message: QmpReturn }
  | { kind: 'error'; message: QmpErrorReply }
  | { kind: 'event'; message: QmpEvent };

export function classify(value: unknown): QmpMessage {
  if (typeof value !== 'object' || value === null) throw new SyntaxError(`QMP message is not an object: ${JSON.stringify(value)}`);
  if ('QMP' in value) return { kind: 'greeting', message: value as QmpGreeting };
  if ('return' in value) return { kind: 'return', message: value as QmpReturn };
  if ('error' in value) return { kind: 'error', message: value as QmpErrorReply };
  if ('event' in value) return { kind: 'event', message: value as QmpEvent };
  throw new SyntaxError(`unknown QMP message: ${JSON.stringify(value).slice(0, 200)}`);
}

/**
 * QMP's own replies to what windock asks are a few KiB; 16 MiB bounds a misbehaving peer without
 * ever cutting a real message.
 */
export const MAX_QMP_LINE_BYTES = 16 * 1024 * 1024;

/** Accumulates chunks and yields each complete line's parsed message. */
export class LineDecoder {
  #messages: QmpMessage[] = [];
  readonly #lines = new LineSplitter({
    maxLineBytes: MAX_QMP_LINE_BYTES,
    onLine: (line, cut) => {
      if (cut) throw new SyntaxError(`QMP message longer than ${MAX_QMP_LINE_BYTES} bytes`);
      const text = line.trim();
      if (text) this.#messages.push(classify(JSON.parse(text)));
    },
  });

  push(chunk: string | Buffer): QmpMessage[] {
    this.#messages = [];
    this.#lines.push(chunk);
    return this.#messages;
  }
}

export function encodeCommand(command: string, args: Record<string, unknown> | undefined, id: string): string {
  return `${JSON.stringify(args === undefined ? { execute: command, id } : { execute: command, arguments: args, id })}\n`;
}
