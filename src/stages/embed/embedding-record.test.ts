import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bytesVector, EmbeddingRecordError, fromEmbeddingRecord, toEmbeddingRecord, vectorBytes } from './embedding-record.js';
import { MemoryEmbeddingStore } from './memory-embedding-store.js';
import type { Vector } from '../../records/item.js';

const vector = (values: number[], over: Partial<Vector> = {}): Vector => ({
  model: 'm', pooling: 'mean', dtype: 'q8', values: Float32Array.from(values), tokens: 7, truncated: false, cached: false, ...over,
});

test('vector bytes are float32 little-endian, whatever the Float32Array is a view of', () => {
  const backing = new Float32Array([9, 1.5, -2, 9]);
  const b = vectorBytes(backing.subarray(1, 3));
  assert.deepEqual([...b], [0x00, 0x00, 0xc0, 0x3f, 0x00, 0x00, 0x00, 0xc0]); // 1.5, -2 in IEEE 754 LE
  assert.deepEqual([...bytesVector(b)], [1.5, -2]);
  // An odd byteOffset (a Buffer sliced from a larger message) still decodes.
  const odd = Buffer.concat([Buffer.from([7]), b]).subarray(1);
  assert.deepEqual([...bytesVector(odd)], [1.5, -2]);
  assert.throws(() => bytesVector(Buffer.alloc(5)), EmbeddingRecordError);
});

test('Vector ↔ Embedding record round trip keeps model, pooling, dtype, dim, tokens, truncation; the copy is marked cached', () => {
  const v = vector([0.6, 0.8], { truncated: true, tokens: 256 });
  const r = toEmbeddingRecord('doc-1', v);
  assert.deepEqual({ ...r, vector: undefined }, { id: 'doc-1', model: 'm', pooling: 'mean', dtype: 'q8', dim: 2, vector: undefined, tokens: 256, truncated: true });
  const back = fromEmbeddingRecord(r);
  assert.deepEqual([...back.values], [...Float32Array.from([0.6, 0.8])]);
  assert.equal(back.cached, true);
  assert.equal(back.truncated, true);
});

test('inconsistent records are refused: wrong byte count, non-positive dim, NaN', () => {
  const r = toEmbeddingRecord('a', vector([0.6, 0.8]));
  assert.throws(() => fromEmbeddingRecord({ ...r, dim: 3 }), /expected dim 3/);
  assert.throws(() => fromEmbeddingRecord({ ...r, dim: 0 }), /positive/);
  assert.throws(() => fromEmbeddingRecord({ ...r, vector: vectorBytes(Float32Array.from([NaN, 1])) }), /non-finite/);
});

test('MemoryEmbeddingStore: put is drained once for publishing, load is not; bounded with oldest-first eviction', () => {
  const s = new MemoryEmbeddingStore({ name: 'e', capacity: 2 });
  s.put('a', vector([1, 0]));
  s.put('b', vector([0, 1]));
  assert.deepEqual(s.drainNew().map((r) => r.id), ['a', 'b']);
  assert.deepEqual(s.drainNew(), []);
  assert.equal(s.get('a')!.cached, true);
  assert.equal(s.load([toEmbeddingRecord('c', vector([1, 0])), { ...toEmbeddingRecord('bad', vector([1, 0])), dim: 5 }]), 1);
  assert.equal(s.rejected, 1);
  assert.deepEqual(s.drainNew(), []);
  assert.equal(s.size(), 2);
  assert.equal(s.get('a'), undefined, 'a, the oldest, was evicted');
  assert.ok(s.get('b') && s.get('c'));
  assert.throws(() => new MemoryEmbeddingStore({ name: 'x', capacity: 0 }), RangeError);
});
