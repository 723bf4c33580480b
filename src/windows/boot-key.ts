/**
 * "Press any key to boot from CD or DVD…": Windows install media waits a few seconds for a key
 * and otherwise falls through to the next boot device. On the first boot of an install nobody is
 * there to press it, so windock watches the firmware's console and presses Enter over QMP
 * (`send-key`, QMP reference "send-key") right when the firmware starts the DVD, once per run and
 * only while the media is meant to boot: after Setup's first reboot the same prompt appears again
 * and must time out, so that the machine continues from the disk.
 *
 * What the firmware prints (recorded under QEMU 7.2 with Debian's firmware; the recordings are in
 * test/unit/windows/recordings):
 *  - OVMF on the serial console, with ANSI screen codes around it:
 *      BdsDxe: loading Boot0001 "UEFI QEMU DVD-ROM QM00001 " from PciRoot(0x0)/Pci(0x1F,0x2)/Sata(0x0,0xFFFF,0x0)
 *      BdsDxe: starting Boot0001 "UEFI QEMU DVD-ROM QM00001 " from …
 *    ("failed to load … Access Denied" instead when secure boot refuses an unsigned loader);
 *  - SeaBIOS prints "Booting from DVD/CD..." — on the serial console only with its serial console
 *    enabled (fw_cfg file `etc/sercon-port`, see SEABIOS_SERCON), else on the debug port 0x402.
 * Under SeaBIOS an install boots the disk first (install-state.ts), so the CD, and a press for it,
 * only comes when the disk cannot boot: pressing then is always right.
 * The Windows boot program's own prompt ("Press any key to boot from CD or DVD") is matched too,
 * for firmware that does not announce the start.
 *
 * Pure: lines (or raw chunks) in, at most one "press now" decision out.
 */
import { stripAnsi } from '../qemu/console-text.js';
import { OPTICAL, parseFirmwareLine, startsOpticalMedia } from './firmware-boot.js';

/** What a console line means for the boot-key logic. */
export type BootConsoleEvent =
  | { kind: 'dvd-loading'; entry: string }
  | { kind: 'dvd-starting'; entry: string }
  | { kind: 'dvd-failed'; entry: string; reason: string }
  | { kind: 'cd-prompt' };

export interface KeyPress {
  /** QMP qcode names (QEMU qapi/ui.json QKeyCode). */
  keys: string[];
  /** How many presses, spaced by intervalMs: the prompt may appear a little after the start. */
  presses: number;
  intervalMs: number;
}

/** Enter five times over about two seconds. */
export const DEFAULT_KEY_PRESS: KeyPress = { keys: ['ret'], presses: 5, intervalMs: 500 };

/**
 * SeaBIOS mirrors its screen output to the serial port named by the fw_cfg file
 * `etc/sercon-port` (SeaBIOS docs "Runtime_config": an integer I/O port; 0x3f8 is COM1). The
 * file must hold the binary integer, so QEMU gets `-fw_cfg name=etc/sercon-port,file=<path>` with
 * these two bytes (little-endian 0x03f8).
 */
export const SEABIOS_SERCON = { name: 'etc/sercon-port', bytes: Uint8Array.of(0xf8, 0x03) } as const;

const CD_PROMPT = /Press any key to boot from CD or DVD/i;

export function classifyConsoleLine(raw: string): BootConsoleEvent | undefined {
  const parsed = parseFirmwareLine(raw);
  if (parsed?.firmware === 'ovmf') {
    if (!OPTICAL.test(parsed.entry)) return undefined;
    if (parsed.step === 'loading') return { kind: 'dvd-loading', entry: parsed.entry };
    if (parsed.step === 'starting') return { kind: 'dvd-starting', entry: parsed.entry };
    return { kind: 'dvd-failed', entry: parsed.entry, reason: parsed.reason ?? '' };
  }
  if (parsed && startsOpticalMedia(parsed)) return { kind: 'dvd-starting', entry: 'DVD/CD' };
  if (CD_PROMPT.test(stripAnsi(raw))) return { kind: 'cd-prompt' };
  return undefined;
}

export type WatcherDecision =
  | { action: 'press'; press: KeyPress; because: BootConsoleEvent }
  /** A DVD start seen while not armed (or already pressed): let the prompt time out. */
  | { action: 'let-time-out'; because: BootConsoleEvent }
  | { action: 'report'; because: BootConsoleEvent };

/**
 * Fed the console, decides once. `armed`: the install media is meant to boot this run (see
 * planWindowsMedia). Accepts whole lines or raw chunks: text is split on CR and LF, and the
 * unterminated rest is also checked for the prompt, which Windows prints without a newline.
 */
export class BootKeyWatcher {
  #armed: boolean;
  #pressed = false;
  #rest = '';
  readonly #press: KeyPress;

  constructor(options: { armed: boolean; press?: KeyPress }) {
    this.#armed = options.armed;
    this.#press = options.press ?? DEFAULT_KEY_PRESS;
  }

  get pressed(): boolean {
    return this.#pressed;
  }

  /** Stop pressing for the rest of the run (e.g. the install finished). */
  disarm(): void {
    this.#armed = false;
  }

  feed(chunk: string): WatcherDecision[] {
    const parts = (this.#rest + chunk).split(/\r\n|\r|\n/);
    this.#rest = parts.pop() ?? '';
    const decisions: WatcherDecision[] = [];
    for (const line of parts) {
      const decision = this.#decide(line);
      if (decision) decisions.push(decision);
    }
    // The prompt is printed without a line end and followed by dots: look at the open line too.
    if (CD_PROMPT.test(stripAnsi(this.#rest))) {
      const decision = this.#decide(this.#rest);
      this.#rest = '';
      if (decision) decisions.push(decision);
    }
    // A console that never sends a newline must not grow the buffer without bound.
    if (this.#rest.length > 4096) this.#rest = this.#rest.slice(-1024);
    return decisions;
  }

  #decide(line: string): WatcherDecision | undefined {
    const event = classifyConsoleLine(line);
    if (!event) return undefined;
    if (event.kind === 'dvd-loading' || event.kind === 'dvd-failed') return { action: 'report', because: event };
    if (this.#armed && !this.#pressed) {
      this.#pressed = true;
      return { action: 'press', press: this.#press, because: event };
    }
    return { action: 'let-time-out', because: event };
  }
}

/** The QMP command of one press (QMP reference: send-key, keys are KeyValue of type qcode). */
export function sendKeyCommand(keys: readonly string[]): { execute: 'send-key'; arguments: { keys: { type: 'qcode'; data: string }[] } } {
  return { execute: 'send-key', arguments: { keys: keys.map((data) => ({ type: 'qcode', data })) } };
}

/**
 * Performs a press plan through a QMP execute function (the lead's QMP client), with a deadline
 * per command and the run's abort signal. Errors end the presses (the prompt then times out, as
 * without windock) and are returned for the log rather than thrown.
 */
export async function pressKeys(
  execute: (command: string, args: Record<string, unknown>, signal: AbortSignal) => Promise<unknown>,
  press: KeyPress,
  signal: AbortSignal,
  sleep: (ms: number, signal: AbortSignal) => Promise<void>,
): Promise<{ sent: number; error?: unknown }> {
  let sent = 0;
  for (let i = 0; i < press.presses; i++) {
    if (signal.aborted) break;
    try {
      const command = sendKeyCommand(press.keys);
      await execute(command.execute, command.arguments, AbortSignal.any([signal, AbortSignal.timeout(2_000)]));
      sent++;
    } catch (error) {
      return { sent, error };
    }
    if (i + 1 < press.presses) await sleep(press.intervalMs, signal).catch(() => undefined);
  }
  return { sent };
}

type Execute = (command: string, args: Record<string, unknown>, signal: AbortSignal) => Promise<unknown>;

interface HandlerLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/**
 * The adapter the supervisor wires: `onSerialLine` goes to QEMU's serial console reader (it is
 * fed before QMP is connected), `attach` gets QMP's execute once connected. A press decided
 * before QMP is attached waits for it.
 */
export function createBootKeyHandler(options: {
  watcher: BootKeyWatcher;
  log: HandlerLog;
  signal: AbortSignal;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}): { onSerialLine(line: string): void; attach(execute: Execute): void } {
  const { watcher, log, signal } = options;
  const sleep = options.sleep ?? ((ms, s) => new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    s.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  }));
  let execute: Execute | undefined;
  let pending: KeyPress | undefined;
  const run = (press: KeyPress, exec: Execute) => {
    void pressKeys(exec, press, signal, sleep).then((result) => {
      if (result.error) log.warn({ sent: result.sent, err: String(result.error) }, 'pressing keys for the install media failed; its prompt times out');
      else log.info({ sent: result.sent }, 'keys pressed: the install media boots');
    });
  };
  return {
    onSerialLine(line) {
      for (const decision of watcher.feed(`${line}\n`)) {
        const event = decision.because;
        if (decision.action === 'report') {
          log.info({ event: event.kind, ...('entry' in event ? { entry: event.entry } : {}), ...('reason' in event ? { reason: event.reason } : {}) }, 'firmware boot step');
        } else if (decision.action === 'let-time-out') {
          log.info({ event: event.kind }, 'install media prompt left to time out: the disk boots');
        } else {
          log.info({ event: event.kind, presses: decision.press.presses }, 'the install media is starting: pressing Enter for "Press any key to boot from CD or DVD"');
          if (execute) run(decision.press, execute);
          else pending = decision.press;
        }
      }
    },
    attach(exec) {
      execute = exec;
      if (pending) {
        const press = pending;
        pending = undefined;
        run(press, exec);
      }
    },
  };
}
