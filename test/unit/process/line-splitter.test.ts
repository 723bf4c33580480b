/** The bounded line splitter: lines whatever the chunking, CRLF, cut lines counted, the unfinished last line. */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { LineSplitter, splitStream } from '../../../src/process/line-splitter.js';

function collect(maxLineBytes: number) {
  const lines: [string, boolean][] = [];
  const splitter = new LineSplitter({ maxLineBytes, onLine: (line, cut) => lines.push([line, cut]) });
  return { lines, splitter };
}

describe('LineSplitter', () => {
  it('yields the same lines whatever the chunking, without "\\n" or "\\r\\n"', () => {
    const text = 'first\r\nsecond\n\nfourth: ünïcödé\nlast';
    for (const size of [1, 2, 3, 7, text.length]) {
      const { lines, splitter } = collect(1024);
      const bytes = Buffer.from(text);
      for (let i = 0; i < bytes.length; i += size) splitter.push(bytes.subarray(i, i + size));
      splitter.end();
      expect(lines, `chunks of ${size}`).toEqual([['first', false], ['second', false], ['', false], ['fourth: ünïcödé', false], ['last', false]]);
    }
  });

  it('cuts a line at maxLineBytes at once, drops the rest up to its newline and counts it', () => {
    const { lines, splitter } = collect(4);
    splitter.push('abcdefgh');
    expect(lines).toEqual([['abcd', true]]);
    splitter.push('ijk\nok\n');
    expect(lines).toEqual([['abcd', true], ['ok', false]]);
    expect(splitter.droppedBytes).toBe('efghijk'.length);
    expect(splitter.cutLines).toBe(1);
  });

  it('keeps a line of exactly maxLineBytes whole', () => {
    const { lines, splitter } = collect(4);
    splitter.push('abcd\nefgh');
    splitter.end();
    expect(lines).toEqual([['abcd', false], ['efgh', false]]);
    expect(splitter.droppedBytes).toBe(0);
  });

  it('holds at most one capped line however much arrives without a newline', () => {
    const { lines, splitter } = collect(16);
    const chunk = Buffer.alloc(64 * 1024, 'x');
    for (let i = 0; i < 1024; i++) splitter.push(chunk);
    splitter.end(); // the cut line was already handed on: nothing more
    expect(lines).toEqual([['x'.repeat(16), true]]);
    expect(splitter.droppedBytes).toBe(1024 * chunk.length - 16);
  });

  it('splitStream feeds a stream and resolves at its end, handing on the unfinished last line', async () => {
    const { lines, splitter } = collect(64);
    const stream = new PassThrough();
    const done = splitStream(stream, splitter);
    stream.write('one\ntw');
    stream.end('o');
    await done;
    expect(lines).toEqual([['one', false], ['two', false]]);
  });
});
