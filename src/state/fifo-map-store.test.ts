import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FifoMapStore } from './fifo-map-store.js';

test('FifoMapStore: putIfAbsent keeps the first value', () => {
  const s = new FifoMapStore({ name: 's', capacity: 3 });
  assert.equal(s.putIfAbsent('k', 'first'), undefined);
  assert.equal(s.putIfAbsent('k', 'second'), 'first');
  assert.equal(s.size(), 1);
});

test('FifoMapStore: evicts the oldest at capacity and records the eviction in its changelog', () => {
  const s = new FifoMapStore({ name: 's', capacity: 2 });
  s.putIfAbsent('a', '1');
  s.putIfAbsent('b', '2');
  s.putIfAbsent('c', '3');
  assert.deepEqual([s.get('a'), s.get('b'), s.get('c')], [undefined, '2', '3']);
  assert.deepEqual(s.drainChanges().map((c) => [c.key, c.value?.toString() ?? null]), [['a', '1'], ['b', '2'], ['a', null], ['c', '3']]);
  assert.deepEqual(s.drainChanges(), [], 'drained');
});

test('FifoMapStore: snapshot/restore and changelog replay both rebuild the same state', () => {
  const s = new FifoMapStore({ name: 's', capacity: 2 });
  for (const [k, v] of [['a', '1'], ['b', '2'], ['c', '3']] as const) s.putIfAbsent(k, v);
  const fromSnapshot = new FifoMapStore({ name: 's', capacity: 2 });
  fromSnapshot.restore(s.snapshot());
  const fromChangelog = new FifoMapStore({ name: 's', capacity: 2 });
  for (const c of s.drainChanges()) fromChangelog.applyChange(c);
  for (const r of [fromSnapshot, fromChangelog]) {
    assert.deepEqual([r.get('a'), r.get('b'), r.get('c'), r.size()], [undefined, '2', '3', 2]);
    assert.deepEqual(r.drainChanges(), [], 'restoring records no new changes');
  }
  // Eviction order survives a restore: the next insert evicts b, the oldest.
  fromSnapshot.putIfAbsent('d', '4');
  assert.equal(fromSnapshot.get('b'), undefined);
  assert.equal(fromSnapshot.get('c'), '3');
});

test('FifoMapStore: refuses a bad capacity and a snapshot of another store', () => {
  assert.throws(() => new FifoMapStore({ name: 's', capacity: 0 }), /capacity must be a positive integer/);
  const other = new FifoMapStore({ name: 'other', capacity: 1 });
  assert.throws(() => new FifoMapStore({ name: 's', capacity: 1 }).restore(other.snapshot()), /not of this store/);
});

test('FifoMapStore: bytes() grows with entries', () => {
  const s = new FifoMapStore({ name: 's', capacity: 10 });
  const empty = s.bytes();
  s.putIfAbsent('0123456789abcdef', 'doc-1');
  assert.ok(s.bytes() > empty + 16);
});
