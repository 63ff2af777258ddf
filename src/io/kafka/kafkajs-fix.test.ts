import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { filterAbortedMessages } from './kafkajs-fix.js';

const require = createRequire(import.meta.url);
const ABORT = Buffer.from([0, 0, 0, 0]);
const COMMIT = Buffer.from([0, 0, 0, 1]);
const rec = (offset: number, producerId: string, key: string | Buffer, control = false) => ({
  offset: String(offset), key: Buffer.isBuffer(key) ? key : Buffer.from(key), isControlRecord: control, batchContext: { producerId, inTransaction: true },
});

// Producer 1 and 2 each wrote a transaction that was aborted (offsets 0–1 and 2–3), then their
// abort markers (4, 5), then producer 3 committed one (6, marker 7). A consumer fetching from 2
// sees both aborted transactions start before its first record.
const log = [rec(2, '2', 'b0'), rec(3, '1', 'a1'), rec(4, '1', ABORT, true), rec(5, '2', ABORT, true), rec(6, '3', 'c0'), rec(7, '3', COMMIT, true)];
const aborted = [{ firstOffset: '0', producerId: '1' }, { firstOffset: '2', producerId: '2' }];
const data = (ms: { key: Buffer | null; isControlRecord?: boolean }[]) => ms.filter((m) => !m.isControlRecord).map((m) => m.key!.toString());

test('kafkajs-fix: every aborted transaction that started before a record is skipped, committed records kept', () => {
  assert.deepEqual(data(filterAbortedMessages({ messages: log, abortedTransactions: aborted })), ['c0']);
});

test('kafkajs-fix: the filter kafkajs ships leaks an aborted record here (the reason for the fix)', () => {
  // Compile kafkajs' own file afresh (the fix replaced it in the module cache).
  const path = require.resolve('kafkajs/src/consumer/filterAbortedMessages.js');
  const Module = require('node:module') as { new (id: string): { filename: string; paths: string[]; exports: unknown; _compile(src: string, file: string): void }; _nodeModulePaths(dir: string): string[] };
  const m = new Module(path);
  m.filename = path;
  m.paths = Module._nodeModulePaths(dirname(path));
  m._compile(readFileSync(path, 'utf8'), path);
  const original = m.exports as typeof filterAbortedMessages;
  assert.deepEqual(data(original({ messages: log, abortedTransactions: aborted })), ['b0', 'c0'], 'producer 2\'s aborted record leaks');
});

test('kafkajs-fix: a data record whose key is 00 00 00 00 is not taken for an abort marker', () => {
  const ms = [rec(1, '1', ABORT), rec(2, '1', 'a2'), rec(3, '1', ABORT, true)];
  assert.deepEqual(data(filterAbortedMessages({ messages: ms, abortedTransactions: [{ firstOffset: '0', producerId: '1' }] })), []);
});
