/**
 * A QMP client over a unix socket: waits for QEMU's greeting, negotiates capabilities, runs
 * commands with ids, and delivers events. When the connection closes every pending call is
 * rejected (a caller never waits on a dead QEMU), as qemu.qmp's QMPClient does.
 */
import { EventEmitter } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { poll } from '../process/deadline.js';
import { encodeCommand, LineDecoder, type QmpEvent, type QmpGreeting, type QmpMessage } from './framing.js';
import { QmpCommandError, QmpDisconnectedError, QmpProtocolError, QmpTimeoutError } from './errors.js';

export interface ExecuteOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

interface Pending {
  command: string;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

type Events = { event: [QmpEvent]; close: [] };

export class QmpClient extends EventEmitter<Events> {
  readonly greeting: QmpGreeting;
  readonly #socket: Socket;
  readonly #pending = new Map<string, Pending>();
  #nextId = 1;
  #closed = false;

  private constructor(socket: Socket, greeting: QmpGreeting, decoder: LineDecoder) {
    super();
    this.#socket = socket;
    this.greeting = greeting;
    socket.on('data', (chunk: string) => {
      let messages: QmpMessage[];
      try {
        messages = decoder.push(chunk);
      } catch (error) {
        this.#fail(new QmpProtocolError(`QEMU sent malformed QMP: ${(error as Error).message}`));
        return;
      }
      for (const message of messages) this.#dispatch(message);
    });
    socket.on('close', () => this.#fail(new QmpDisconnectedError('QMP connection closed')));
    socket.on('error', () => undefined); // 'close' follows and rejects what is pending.
  }

  /**
   * Connects to QEMU's QMP socket, retrying until it exists (QEMU creates it shortly after
   * start), reads the greeting and enters command mode (`qmp_capabilities`, QMP spec §4).
   */
  static async connect(path: string, options: { timeoutMs: number; signal?: AbortSignal; retryMs?: number }): Promise<QmpClient> {
    const deadline = Date.now() + options.timeoutMs;
    let lastError: unknown;
    return poll(
      async () => {
        try {
          const client = await QmpClient.#open(path, deadline - Date.now());
          await client.execute('qmp_capabilities', undefined, { timeoutMs: Math.max(1000, deadline - Date.now()), signal: options.signal });
          return client;
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (code !== 'ENOENT' && code !== 'ECONNREFUSED') throw error;
          lastError = error;
          return undefined; // not there yet: QEMU creates the socket shortly after start
        }
      },
      {
        timeoutMs: options.timeoutMs,
        signal: options.signal,
        intervalMs: options.retryMs ?? 20,
        what: () => new QmpTimeoutError(`QMP socket ${path} did not answer within ${options.timeoutMs} ms`, { cause: lastError }),
      },
    );
  }

  static #open(path: string, timeoutMs: number): Promise<QmpClient> {
    return new Promise((resolve, reject) => {
      const socket = netConnect(path);
      socket.setEncoding('utf8');
      const decoder = new LineDecoder();
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new QmpTimeoutError(`no QMP greeting on ${path} within ${timeoutMs} ms`));
      }, Math.max(1, timeoutMs));
      const onError = (error: Error): void => {
        clearTimeout(timer);
        reject(error);
      };
      socket.once('error', onError);
      socket.once('close', () => onError(new QmpDisconnectedError(`QMP socket ${path} closed before the greeting`)));
      const onData = (chunk: string): void => {
        let messages: QmpMessage[];
        try {
          messages = decoder.push(chunk);
        } catch (error) {
          socket.destroy();
          onError(new QmpProtocolError(`malformed QMP greeting: ${(error as Error).message}`));
          return;
        }
        if (messages.length === 0) return;
        clearTimeout(timer);
        socket.off('data', onData);
        socket.removeAllListeners('error');
        socket.removeAllListeners('close');
        const [first, ...rest] = messages;
        if (first?.kind !== 'greeting' || rest.length > 0) {
          socket.destroy();
          reject(new QmpProtocolError('QEMU did not start with a QMP greeting'));
          return;
        }
        resolve(new QmpClient(socket, first.message, decoder));
      };
      socket.on('data', onData);
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Runs a QMP command and resolves with its `return` value. */
  execute<T = unknown>(command: string, args?: Record<string, unknown>, options: ExecuteOptions = {}): Promise<T> {
    if (this.#closed) return Promise.reject(new QmpDisconnectedError(`QMP connection closed; cannot run ${command}`));
    const id = `windock-${this.#nextId++}`;
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = (): void => settle(() => reject(options.signal?.reason ?? new Error('aborted')));
      const settle = (action: () => void): void => {
        if (!this.#pending.delete(id)) return;
        if (timer) clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        action();
      };
      this.#pending.set(id, {
        command,
        resolve: (value) => settle(() => resolve(value as T)),
        reject: (error) => settle(() => reject(error)),
      });
      if (options.timeoutMs !== undefined) {
        timer = setTimeout(() => settle(() => reject(new QmpTimeoutError(`QMP ${command} got no answer within ${options.timeoutMs} ms`))), options.timeoutMs);
      }
      if (options.signal) {
        if (options.signal.aborted) return onAbort();
        options.signal.addEventListener('abort', onAbort, { once: true });
      }
      this.#socket.write(encodeCommand(command, args, id));
    });
  }

  close(): void {
    this.#socket.destroy();
  }

  #dispatch(message: QmpMessage): void {
    switch (message.kind) {
      case 'event':
        this.emit('event', message.message);
        return;
      case 'return':
      case 'error': {
        const id = message.message.id;
        const pending = id === undefined ? undefined : this.#pending.get(id);
        if (!pending) return; // An answer to a call that already timed out or was aborted.
        if (message.kind === 'return') pending.resolve(message.message.return);
        else pending.reject(new QmpCommandError(pending.command, message.message.error.class, message.message.error.desc));
        return;
      }
      case 'greeting':
        this.#fail(new QmpProtocolError('QEMU sent a second greeting'));
    }
  }

  #fail(error: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.destroy();
    for (const pending of [...this.#pending.values()]) pending.reject(error);
    this.emit('close');
  }
}
