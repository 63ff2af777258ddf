import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IdColumn } from './id-column.js';

test('IdColumn: set, get, overwrite and delete, with ids of any length and script', () => {
  const c = new IdColumn(3000);
  const ids = ['a', '', 'c4-0001', 'Ünïcødé-東京-😀', 'x'.repeat(300), 'y'.repeat(20_000)];
  ids.forEach((id, i) => c.set(i * 500, id));
  ids.forEach((id, i) => assert.equal(c.get(i * 500), id));
  assert.equal(c.size(), ids.length);
  assert.equal(c.get(1), undefined);
  assert.equal(c.has(1), false);
  c.set(0, 'replaced');
  assert.equal(c.get(0), 'replaced');
  c.delete(500);
  assert.equal(c.has(500), false);
  assert.equal(c.size(), ids.length - 1);
});

test('IdColumn: rewriting every slot many times (a FIFO ring) keeps every id and bounded memory', () => {
  const capacity = 5000;
  const c = new IdColumn(capacity);
  for (let n = 0; n < capacity * 6; n++) c.set(n % capacity, `doc-${n}`);
  for (let slot = 0; slot < capacity; slot++) assert.equal(c.get(slot), `doc-${capacity * 5 + slot}`);
  const perId = c.bytes() / capacity;
  // "doc-2xxxx" is 10 bytes + 1 length byte; at most 1.25× that, plus 4 B of offset and block overhead.
  assert.ok(perId < 1.25 * 11 + 4 + 1, `${perId.toFixed(1)} bytes per id`);
  c.clear();
  assert.equal(c.size(), 0);
  assert.equal(c.get(7), undefined);
});
