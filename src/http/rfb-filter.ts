/**
 * A streaming filter over the RFB client → server byte stream (RFC 6143) that makes a viewer
 * view-only: it passes the handshake and the messages that only ask for pixels, and drops every
 * message that would reach the guest as input. QEMU has no per-client read-only mode (its
 * `-vnc` options apply to every client), so VIEW_ONLY is enforced here, in front of the socket,
 * whatever the browser-side code claims.
 *
 * Payloads are never buffered: only message headers (at most 20 bytes) are accumulated, the
 * rest is passed on or skipped by count, so a 100 MB ClientCutText costs no memory.
 */

export class RfbFilterError extends Error {
  override readonly name = 'RfbFilterError';
}

/** RFC 6143 §7.5 client-to-server message types, plus the extensions QEMU's vnc.c parses. */
export const CLIENT_MESSAGE = {
  setPixelFormat: 0,
  setEncodings: 2,
  framebufferUpdateRequest: 3,
  keyEvent: 4,
  pointerEvent: 5,
  clientCutText: 6,
  /** RFB community extension (rfbproto "EnableContinuousUpdates"), parsed by QEMU. */
  enableContinuousUpdates: 150,
  /** rfbproto "ClientFence". */
  clientFence: 248,
  /** rfbproto "SetDesktopSize" (ExtendedDesktopSize). */
  setDesktopSize: 251,
  /** rfbproto "QEMU Client Message": sub-type 0 Extended Key Event, 1 Audio. */
  qemu: 255,
} as const;

/** What the filter needs to decide one message: its full header size and, from it, the rest. */
interface MessageRule {
  /** Bytes needed before the payload length is known (type byte included). */
  header: number | ((partial: Buffer) => number | undefined);
  /** Bytes after the header (0 for fixed-size messages). */
  payload: (header: Buffer) => number;
  /** True when the message is input and a view-only viewer must not send it. */
  input: (header: Buffer) => boolean;
}

const fixed = (size: number, input = false): MessageRule => ({ header: size, payload: () => 0, input: () => input });

const RULES: ReadonlyMap<number, MessageRule> = new Map<number, MessageRule>([
  // §7.5.1: type, 3 padding, 16-byte PIXEL_FORMAT.
  [CLIENT_MESSAGE.setPixelFormat, fixed(20)],
  // §7.5.2: type, padding, U16 number-of-encodings, then S32 each.
  [CLIENT_MESSAGE.setEncodings, { header: 4, payload: (h) => 4 * h.readUInt16BE(2), input: () => false }],
  // §7.5.3: type, incremental, x, y, width, height.
  [CLIENT_MESSAGE.framebufferUpdateRequest, fixed(10)],
  // §7.5.4: type, down-flag, 2 padding, U32 key.
  [CLIENT_MESSAGE.keyEvent, fixed(8, true)],
  // §7.5.5: type, button-mask, x, y.
  [CLIENT_MESSAGE.pointerEvent, fixed(6, true)],
  // §7.5.6: type, 3 padding, U32 length, text. The Extended Clipboard pseudo-encoding reuses the
  // message with a negative S32 length whose absolute value is the payload size.
  [CLIENT_MESSAGE.clientCutText, { header: 8, payload: (h) => Math.abs(h.readInt32BE(4)), input: () => true }],
  [CLIENT_MESSAGE.enableContinuousUpdates, fixed(10)],
  // type, 3 padding, U32 flags, U8 length, payload (at most 64 bytes).
  [CLIENT_MESSAGE.clientFence, { header: 9, payload: (h) => h.readUInt8(8), input: () => false }],
  // type, padding, U16 width, U16 height, U8 number-of-screens, padding, 16 bytes per screen.
  // Resizing the guest's display is a change to the guest: not for a view-only viewer.
  [CLIENT_MESSAGE.setDesktopSize, { header: 8, payload: (h) => 16 * h.readUInt8(6), input: () => true }],
  [
    CLIENT_MESSAGE.qemu,
    {
      // Sub-type 0 (Extended Key Event): 12 bytes in all. Sub-type 1 (Audio): U16 operation;
      // operation 2 (set format) carries 6 more bytes (U8 format, U8 channels, U32 frequency).
      header: (partial) => {
        if (partial.length < 2) return undefined;
        const subtype = partial.readUInt8(1);
        if (subtype === 0) return 12;
        if (subtype === 1) return partial.length < 4 ? 4 : partial.readUInt16BE(2) === 2 ? 10 : 4;
        throw new RfbFilterError(`unknown QEMU client message sub-type ${subtype}`);
      },
      payload: () => 0,
      input: (h) => h.readUInt8(1) === 0,
    },
  ],
]);

type State =
  | { kind: 'version' }
  | { kind: 'security' }
  | { kind: 'client-init' }
  | { kind: 'header' }
  | { kind: 'payload'; remaining: number; pass: boolean };

const VERSION_LENGTH = 12;
/** RFC 6143 §7.2: security type 1 is None. */
const SECURITY_NONE = 1;

/**
 * Filters one connection's client → server stream. `push` returns the pieces to forward (views
 * into the input where possible); it throws RfbFilterError on a stream it cannot parse, and the
 * caller must then close the connection: an unparsable stream cannot be filtered safely.
 *
 * windock starts QEMU's VNC server without authentication (the socket lives in RUN_DIR and the
 * viewer token guards the WebSocket), so the handshake the filter expects is: ProtocolVersion
 * (12 bytes), for 3.7/3.8 the chosen security type (1 byte, must be None), ClientInit (1 byte).
 */
export class RfbInputFilter {
  #state: State = { kind: 'version' };
  /** Bytes of an incomplete handshake step or message header. */
  #pending: Buffer = Buffer.alloc(0);
  #dropped = 0;

  /** Number of input messages dropped so far. */
  get dropped(): number {
    return this.#dropped;
  }

  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let data = chunk;
    while (data.length > 0) {
      const state = this.#state;
      if (state.kind === 'payload') {
        const take = Math.min(state.remaining, data.length);
        if (state.pass) out.push(data.subarray(0, take));
        data = data.subarray(take);
        state.remaining -= take;
        if (state.remaining === 0) this.#state = { kind: 'header' };
        continue;
      }
      const need = this.#needed();
      if (need === undefined || this.#pending.length < need) {
        // Take one byte more than we know we need only when the header size is still unknown.
        const want = need === undefined ? 1 : need - this.#pending.length;
        const take = Math.min(want, data.length);
        this.#pending = Buffer.concat([this.#pending, data.subarray(0, take)]);
        data = data.subarray(take);
        const now = this.#needed();
        if (now === undefined || this.#pending.length < now) continue;
      }
      this.#complete(out);
    }
    return out;
  }

  /** Bytes the current step needs in #pending, or undefined while its header size is unknown. */
  #needed(): number | undefined {
    switch (this.#state.kind) {
      case 'version':
        return VERSION_LENGTH;
      case 'security':
      case 'client-init':
        return 1;
      case 'header': {
        if (this.#pending.length === 0) return undefined;
        const type = this.#pending.readUInt8(0);
        const rule = RULES.get(type);
        if (!rule) throw new RfbFilterError(`unknown RFB client message type ${type}`);
        return typeof rule.header === 'number' ? rule.header : rule.header(this.#pending);
      }
      case 'payload':
        return 0;
    }
  }

  /** #pending holds a complete step: decide, emit and move on. */
  #complete(out: Buffer[]): void {
    const bytes = this.#pending;
    this.#pending = Buffer.alloc(0);
    switch (this.#state.kind) {
      case 'version': {
        // RFC 6143 §7.1.1: "RFB 003.008\n". Versions other than 3.7 and 3.8 are treated as 3.3,
        // as QEMU's vnc.c does; 3.3 clients send no security selection (the server picks).
        const match = /^RFB (\d{3})\.(\d{3})\n$/.exec(bytes.toString('latin1'));
        if (!match) throw new RfbFilterError('not an RFB ProtocolVersion message');
        const minor = Number(match[2]);
        out.push(bytes);
        this.#state = match[1] === '003' && (minor === 7 || minor === 8) ? { kind: 'security' } : { kind: 'client-init' };
        return;
      }
      case 'security': {
        const type = bytes.readUInt8(0);
        if (type !== SECURITY_NONE) throw new RfbFilterError(`unexpected RFB security type ${type}, expected 1 (None)`);
        out.push(bytes);
        this.#state = { kind: 'client-init' };
        return;
      }
      case 'client-init':
        out.push(bytes);
        this.#state = { kind: 'header' };
        return;
      case 'header': {
        const rule = RULES.get(bytes.readUInt8(0)) as MessageRule;
        const pass = !rule.input(bytes);
        if (pass) out.push(bytes);
        else this.#dropped++;
        const remaining = rule.payload(bytes);
        this.#state = remaining > 0 ? { kind: 'payload', remaining, pass } : { kind: 'header' };
        return;
      }
      case 'payload':
        return;
    }
  }
}
