/**
 * QMP wire format: one JSON object per line in both directions (QEMU's docs/interop/qmp-spec.rst,
 * "Wire protocol"). This module is pure: it splits a byte stream into messages and classifies
 * them, so that it can be tested without QEMU.
 */

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

/** Accumulates chunks and yields each complete line's parsed message. */
export class LineDecoder {
  #buffer = '';

  push(chunk: string): QmpMessage[] {
    this.#buffer += chunk;
    const messages: QmpMessage[] = [];
    let newline: number;
    while ((newline = this.#buffer.indexOf('\n')) >= 0) {
      const line = this.#buffer.slice(0, newline).trim();
      this.#buffer = this.#buffer.slice(newline + 1);
      if (line) messages.push(classify(JSON.parse(line)));
    }
    return messages;
  }
}

export function encodeCommand(command: string, args: Record<string, unknown> | undefined, id: string): string {
  return `${JSON.stringify(args === undefined ? { execute: command, id } : { execute: command, arguments: args, id })}\n`;
}
