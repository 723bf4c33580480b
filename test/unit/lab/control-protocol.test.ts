/** The control protocol's pure parts: every line gets a request or an error reply, never a throw. */
import { describe, expect, it } from 'vitest';
import { checkSnapshotName, errorBody, parseReply, parseRequest } from '../../../src/lab/control-protocol.js';
import { AppError } from '../../../src/core/errors.js';

describe('parseRequest', () => {
  it.each([
    ['{"op":"status"}', { op: 'status' }],
    ['{"op":"snapshot-list"}', { op: 'snapshot-list' }],
    ['{"op":"snapshot-save","name":"clean"}', { op: 'snapshot-save', name: 'clean' }],
    ['{"op":"snapshot-delete","name":"v1.2_a-b"}', { op: 'snapshot-delete', name: 'v1.2_a-b' }],
    ['{"op":"snapshot-revert","name":"clean"}', { op: 'snapshot-revert', name: 'clean', discardChanges: false }],
    ['{"op":"snapshot-revert","name":"clean","discardChanges":true}', { op: 'snapshot-revert', name: 'clean', discardChanges: true }],
    ['{"op":"reset"}', { op: 'reset', discardChanges: false }],
    ['{"op":"reset","discardChanges":true,"extra":1}', { op: 'reset', discardChanges: true }],
  ])('%s', (line, request) => {
    expect(parseRequest(line)).toEqual({ request });
  });

  it.each([
    ['not json', 'one JSON object per line'],
    ['[1,2]', 'must be a JSON object'],
    ['null', 'must be a JSON object'],
    ['"status"', 'must be a JSON object'],
    ['{}', '"op" must be one of'],
    ['{"op":"format-disk"}', 'got "format-disk"'],
    ['{"op":"snapshot-save"}', 'a snapshot name must be'],
    ['{"op":"snapshot-save","name":""}', 'got ""'],
    ['{"op":"snapshot-save","name":"../x"}', 'got "../x"'],
    ['{"op":"snapshot-save","name":"-rf"}', 'got "-rf"'],
    ['{"op":"snapshot-save","name":"12"}', 'at least one letter'],
    ['{"op":"snapshot-save","name":42}', 'got 42'],
    [`{"op":"snapshot-save","name":"${'a'.repeat(65)}"}`, 'a snapshot name must be'],
    ['{"op":"reset","discardChanges":"yes"}', '"discardChanges" must be true or false, got "yes"'],
  ])('refuses %s with a config error', (line, text) => {
    const parsed = parseRequest(line);
    expect(parsed).toHaveProperty('error');
    if (!('error' in parsed)) return;
    expect(parsed.error.code).toBe('config');
    expect(parsed.error.message).toContain(text);
  });
});

it('checkSnapshotName accepts 64 characters and refuses 65', () => {
  expect(checkSnapshotName(`a${'b'.repeat(63)}`)).toHaveLength(64);
  expect(() => checkSnapshotName(`a${'b'.repeat(64)}`)).toThrow(AppError);
});

it('errorBody keeps an AppError code and hint, and makes anything else internal', () => {
  expect(errorBody(new AppError('qemu', 'boom', { hint: 'h' }))).toEqual({ code: 'qemu', message: 'boom', hint: 'h' });
  expect(errorBody(new TypeError('x is undefined'))).toEqual({ code: 'internal', message: 'x is undefined' });
  expect(errorBody('text')).toEqual({ code: 'internal', message: 'text' });
});

it('parseReply reads replies and turns garbage into an internal error', () => {
  expect(parseReply('{"ok":true,"result":[1]}')).toEqual({ ok: true, result: [1] });
  expect(parseReply('{"ok":false,"error":{"code":"config","message":"m","hint":"h"}}')).toEqual({ ok: false, error: { code: 'config', message: 'm', hint: 'h' } });
  const bad = parseReply('<html>');
  expect(bad.ok).toBe(false);
  if (!bad.ok) expect(bad.error.message).toContain('unreadable reply: "<html>"');
});
