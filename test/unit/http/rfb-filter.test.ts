import { describe, expect, it } from 'vitest';
import { RfbFilterError, RfbInputFilter } from '../../../src/http/rfb-filter.js';

const handshake = Buffer.concat([Buffer.from('RFB 003.008\n', 'latin1'), Buffer.from([1]), Buffer.from([1])]);

function setPixelFormat(): Buffer {
  const b = Buffer.alloc(20);
  b[0] = 0;
  b[4] = 32;
  return b;
}
function setEncodings(codes: number[]): Buffer {
  const b = Buffer.alloc(4 + 4 * codes.length);
  b[0] = 2;
  b.writeUInt16BE(codes.length, 2);
  codes.forEach((c, i) => b.writeInt32BE(c, 4 + 4 * i));
  return b;
}
function updateRequest(incremental: boolean): Buffer {
  const b = Buffer.alloc(10);
  b[0] = 3;
  b[1] = incremental ? 1 : 0;
  b.writeUInt16BE(640, 6);
  b.writeUInt16BE(480, 8);
  return b;
}
const keyEvent = (): Buffer => Buffer.from([4, 1, 0, 0, 0, 0, 0xff, 0x0d]);
const pointerEvent = (): Buffer => Buffer.from([5, 1, 0, 10, 0, 20]);
function cutText(text: string, extended = false): Buffer {
  const body = Buffer.from(text, 'latin1');
  const b = Buffer.alloc(8);
  b[0] = 6;
  b.writeInt32BE(extended ? -body.length : body.length, 4);
  return Buffer.concat([b, body]);
}
function qemuKey(): Buffer {
  const b = Buffer.alloc(12);
  b[0] = 255;
  b[1] = 0;
  b.writeUInt16BE(1, 2);
  b.writeUInt32BE(0x61, 4);
  b.writeUInt32BE(0x1e, 8);
  return b;
}
function qemuAudio(op: number): Buffer {
  const b = Buffer.alloc(op === 2 ? 10 : 4);
  b[0] = 255;
  b[1] = 1;
  b.writeUInt16BE(op, 2);
  return b;
}
function setDesktopSize(): Buffer {
  const b = Buffer.alloc(8 + 16);
  b[0] = 251;
  b[6] = 1;
  return b;
}

/** Runs the stream through the filter cut at every `step` bytes and joins the output. */
function run(stream: Buffer, step = stream.length): { out: Buffer; filter: RfbInputFilter } {
  const filter = new RfbInputFilter();
  const parts: Buffer[] = [];
  for (let i = 0; i < stream.length; i += step) parts.push(...filter.push(stream.subarray(i, i + step)));
  return { out: Buffer.concat(parts), filter };
}

describe('RfbInputFilter', () => {
  const allowed = [setPixelFormat(), setEncodings([0, 7, -223, -258]), updateRequest(false), updateRequest(true), qemuAudio(0), qemuAudio(2)];
  const input = [keyEvent(), pointerEvent(), cutText('secret'), cutText('x'.repeat(300), true), qemuKey(), setDesktopSize()];

  it('passes the handshake and pixel requests byte for byte, in any chunking', () => {
    const stream = Buffer.concat([handshake, ...allowed]);
    for (const step of [1, 2, 3, 7, 13, stream.length]) {
      const { out, filter } = run(stream, step);
      expect(out.equals(stream)).toBe(true);
      expect(filter.dropped).toBe(0);
    }
  });

  it('drops key, pointer, clipboard, QEMU key and desktop-size messages and keeps the rest in order', () => {
    const interleaved = [allowed[0]!, input[0]!, allowed[1]!, input[1]!, input[2]!, allowed[2]!, input[3]!, input[4]!, allowed[4]!, input[5]!, allowed[5]!, allowed[3]!];
    const stream = Buffer.concat([handshake, ...interleaved]);
    const expected = Buffer.concat([handshake, allowed[0]!, allowed[1]!, allowed[2]!, allowed[4]!, allowed[5]!, allowed[3]!]);
    for (const step of [1, 5, 11, stream.length]) {
      const { out, filter } = run(stream, step);
      expect(out.equals(expected)).toBe(true);
      expect(filter.dropped).toBe(6);
    }
  });

  it('skips a large clipboard payload without buffering it', () => {
    const filter = new RfbInputFilter();
    filter.push(handshake);
    const header = Buffer.alloc(8);
    header[0] = 6;
    header.writeInt32BE(50 * 2 ** 20, 4);
    expect(filter.push(header)).toEqual([]);
    const mib = Buffer.alloc(2 ** 20, 0x41);
    for (let i = 0; i < 50; i++) expect(filter.push(mib)).toEqual([]);
    const after = filter.push(updateRequest(true));
    expect(Buffer.concat(after).equals(updateRequest(true))).toBe(true);
  });

  it('accepts a 3.3 client, which sends no security selection', () => {
    const stream = Buffer.concat([Buffer.from('RFB 003.003\n'), Buffer.from([1]), keyEvent(), updateRequest(true)]);
    const { out } = run(stream, 1);
    expect(out.equals(Buffer.concat([Buffer.from('RFB 003.003\n'), Buffer.from([1]), updateRequest(true)]))).toBe(true);
  });

  it('refuses what it cannot parse, so that the caller closes the connection', () => {
    expect(() => new RfbInputFilter().push(Buffer.from('GET / HTTP/1.1\r\n'))).toThrow(RfbFilterError);
    expect(() => new RfbInputFilter().push(Buffer.concat([Buffer.from('RFB 003.008\n'), Buffer.from([2])]))).toThrow(/security type 2/);
    expect(() => new RfbInputFilter().push(Buffer.concat([handshake, Buffer.from([99])]))).toThrow(/message type 99/);
    expect(() => new RfbInputFilter().push(Buffer.concat([handshake, Buffer.from([255, 7])]))).toThrow(/sub-type 7/);
  });
});

describe('RfbInputFilter on hostile input', () => {
  it('only ever throws RfbFilterError, whatever bytes come after a good handshake (seeded)', async () => {
    const { createPrng, fuzzSeed } = await import('../../fixtures/prng.js');
    const seed = fuzzSeed(process.env);
    const prng = createPrng(seed);
    let refused = 0;
    for (let i = 0; i < 3000; i++) {
      const filter = new RfbInputFilter();
      // Half the streams start with known message types so that the parser gets deep.
      const known = [0, 2, 3, 4, 5, 6, 150, 248, 251, 255];
      const pieces = [handshake, ...Array.from({ length: 1 + prng.int(6) }, () => {
        const body = prng.bytes(prng.int(40));
        if (prng.bool() && body.length > 0) body[0] = prng.pick(known);
        return body;
      })];
      try {
        for (const piece of pieces) {
          // Arbitrary split points: the filter must not care how the stream is chunked.
          const cut = prng.int(piece.length + 1);
          filter.push(piece.subarray(0, cut));
          filter.push(piece.subarray(cut));
        }
      } catch (error) {
        expect(error, `seed ${seed}, stream ${i}: ${String(error)}`).toBeInstanceOf(RfbFilterError);
        refused++;
      }
    }
    expect(refused, `seed ${seed}`).toBeGreaterThan(0);
  });
});
