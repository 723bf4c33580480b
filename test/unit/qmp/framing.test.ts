import { describe, expect, it } from 'vitest';
import { classify, encodeCommand, LineDecoder } from '../../../src/qmp/framing.js';

describe('QMP framing', () => {
  it('splits a byte stream into messages at newlines, whatever the chunking', () => {
    const stream =
      '{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}}\r\n' +
      '{"return": {}, "id": "windock-1"}\r\n' +
      '{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "POWERDOWN"}\r\n' +
      '{"error": {"class": "GenericError", "desc": "nope"}, "id": "windock-2"}\r\n';
    for (const size of [1, 3, 7, 64, stream.length]) {
      const decoder = new LineDecoder();
      const kinds: string[] = [];
      for (let i = 0; i < stream.length; i += size) kinds.push(...decoder.push(stream.slice(i, i + size)).map((m) => m.kind));
      expect(kinds).toEqual(['greeting', 'return', 'event', 'error']);
    }
  });

  it('keeps an incomplete line until its end arrives', () => {
    const decoder = new LineDecoder();
    expect(decoder.push('{"return": {}, "id"')).toEqual([]);
    expect(decoder.push(': "x"}\n')).toEqual([{ kind: 'return', message: { return: {}, id: 'x' } }]);
  });

  it('refuses what is not QMP', () => {
    expect(() => classify([1, 2])).toThrow(SyntaxError);
    expect(() => classify({ hello: 1 })).toThrow(/unknown QMP message/);
    expect(() => new LineDecoder().push('not json\n')).toThrow(SyntaxError);
  });

  it('encodes a command with its id, and arguments only when given', () => {
    expect(encodeCommand('query-status', undefined, 'a')).toBe('{"execute":"query-status","id":"a"}\n');
    expect(encodeCommand('send-key', { keys: [] }, 'b')).toBe('{"execute":"send-key","arguments":{"keys":[]},"id":"b"}\n');
  });
});
