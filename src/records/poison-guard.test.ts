import { test } from 'node:test';
import assert from 'node:assert/strict';
import { judgeItems, judgeWindow, likelyCause, PoisonGuard, PoisonTopicError, validatePoisonGuard, type Failure } from './poison-guard.js';
import { deadLetter, origin, type Item } from './item.js';

const fail = (reason: string, message = `${reason} happened`): Failure => ({ reason, message });
const many = (n: number, reason = 'not-avro') => Array.from({ length: n }, () => fail(reason));

test('poison guard: a window whose records all failed is poisoned, whatever the share; one good record saves it by default', () => {
  const v = judgeWindow(1024, many(1024), 'd4.crawl[0] offsets 0-1023');
  assert.ok(v);
  assert.match(v, /all 1024 records of d4\.crawl\[0\] offsets 0-1023 failed \(not-avro 1024\)/);
  assert.match(v, /--format/);
  assert.match(v, /--schema-id/);
  assert.match(v, /--schema-registry/);
  assert.equal(judgeWindow(1024, many(1023), 'w'), undefined, 'default share 1: only "all" stops');
  assert.equal(judgeWindow(1024, [], 'w'), undefined);
});

test('poison guard: --max-dead-share stops when more than that share failed, not at exactly that share', () => {
  assert.equal(judgeWindow(100, many(50), 'w', { maxDeadShare: 0.5 }), undefined);
  const v = judgeWindow(100, many(51), 'w', { maxDeadShare: 0.5 });
  assert.match(v ?? '', /51 of 100 records \(51\.0%, more than the allowed 50\.0%\)/);
  assert.ok(judgeWindow(100, many(1), 'w', { maxDeadShare: 0 }), 'share 0: the first failure stops');
  assert.ok(judgeWindow(100, many(100), 'w', { maxDeadShare: 1 }));
});

test('poison guard: windows smaller than minRecords are never judged (a lone bad record in a live stream)', () => {
  assert.equal(judgeWindow(1, many(1), 'w'), undefined);
  assert.equal(judgeWindow(9, many(9), 'w'), undefined);
  assert.ok(judgeWindow(10, many(10), 'w'));
  assert.ok(judgeWindow(2, many(2), 'w', { minRecords: 2 }));
});

test('poison guard: the message names the most frequent reason, its cause and one example', () => {
  const v = judgeWindow(20, [...many(5, 'missing-id'), ...Array.from({ length: 15 }, () => fail('not-avro', 'starts with a Confluent wire-format header (magic byte 0, schema id 7): read it with --schema-id 7'))], 'w');
  assert.match(v ?? '', /\(not-avro 15, missing-id 5\)/);
  assert.match(v ?? '', /First not-avro: .*--schema-id 7/);
  assert.match(likelyCause('malformed-json'), /--format avro/);
  assert.match(likelyCause('not-framed'), /leave --schema-id/);
  assert.match(likelyCause('unknown-schema-id'), /--schema-registry/);
  assert.match(likelyCause('tombstone'), /right topic/);
});

test('poison guard: judgeItems counts dead letters among Items', () => {
  const o = origin({ topic: 't', partition: 0, offset: '0' });
  const dead: Item = { kind: 'dead', seq: 0, origin: o, dead: deadLetter(o, 'decode', 'tombstone', 'no value', Buffer.alloc(0)) };
  const doc: Item = { kind: 'doc', seq: 1, origin: o, doc: { id: 'a', url: null, fetched_at: null, content_type: null, language: null, text: 'x', metadata: {} } };
  assert.match(judgeItems(Array(12).fill(dead), 'w') ?? '', /tombstone 12/);
  assert.equal(judgeItems([...Array(12).fill(dead), doc], 'w'), undefined);
});

test('PoisonGuard (streams): judges consecutive windows, throws at the first poisoned one, and judges the partial last one on finish()', () => {
  const g = new PoisonGuard((a, b) => `records ${a}-${b}`, {}, 100);
  for (let i = 0; i < 100; i++) g.add(i === 3 ? undefined : fail('not-avro')); // one good record: not poisoned
  for (let i = 0; i < 99; i++) g.add(fail('not-avro'));
  assert.throws(() => g.add(fail('not-avro')), (e: unknown) => e instanceof PoisonTopicError && /all 100 records of records 100-199/.test(e.message) && e.retriable === false);

  const tail = new PoisonGuard((a, b) => `records ${a}-${b}`, {}, 100);
  for (let i = 0; i < 30; i++) tail.add(fail('malformed-json'));
  assert.throws(() => tail.finish(), /all 30 records of records 0-29/);
  const small = new PoisonGuard(() => 'w', {}, 100);
  for (let i = 0; i < 5; i++) small.add(fail('not-avro'));
  small.finish(); // under minRecords
});

test('poison guard: options are checked', () => {
  assert.throws(() => validatePoisonGuard({ maxDeadShare: 1.5 }), /between 0 and 1/);
  assert.throws(() => validatePoisonGuard({ maxDeadShare: Number.NaN }), /between 0 and 1/);
  assert.throws(() => validatePoisonGuard({ minRecords: 0 }), /minRecords/);
  validatePoisonGuard({ maxDeadShare: 0 });
});
