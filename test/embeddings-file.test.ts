// The embeddings file of `d4 curate --embeddings`: what it writes, what it reads back, and what a
// crash can leave behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EmbeddingsFile, lineToEmbedding } from '../src/io/files/embeddings-file.js';
import { toEmbeddingRecord } from '../src/stages/embed/embedding-record.js';
import type { Vector } from '../src/records/item.js';
import { tempDir } from './helpers.js';

const vector = (values: number[], over: Partial<Vector> = {}): Vector => ({
  model: 'sentence-transformers/all-MiniLM-L6-v2', pooling: 'mean', dtype: 'q8', values: Float32Array.from(values), tokens: 9, truncated: false, cached: false, ...over,
});

test('embeddings file: put appends one JSONL line per embedding in the Embedding record shape; reopening reads them back', async () => {
  const path = join(tempDir(), 'sub', 'emb.jsonl');
  const f = new EmbeddingsFile(path);
  f.put('a', vector([0.6, 0.8]));
  f.put('b', vector([1, 0], { truncated: true, tokens: 256 }));
  assert.deepEqual(f.drainNew(), [], 'the file is its own durable log: nothing to publish');
  await f.close();

  const lines = readFileSync(path, 'utf8').split('\n');
  assert.equal(lines.length, 3);
  assert.equal(lines[2], '');
  const first = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.deepEqual(Object.keys(first).sort(), ['dim', 'dtype', 'id', 'model', 'pooling', 'tokens', 'truncated', 'vector']);
  assert.equal(first.vector, Buffer.from(Float32Array.from([0.6, 0.8]).buffer).toString('base64'), 'base64 of float32 little-endian bytes');

  const g = new EmbeddingsFile(path);
  assert.equal(g.size(), 2);
  assert.deepEqual([...g.get('a')!.values], [...Float32Array.from([0.6, 0.8])]);
  assert.equal(g.get('a')!.cached, true);
  assert.equal(g.get('b')!.truncated, true);
  assert.equal(g.get('c'), undefined);
  await g.close();
});

test('embeddings file: a later line for the same id wins (as in the compacted topic)', async () => {
  const path = join(tempDir(), 'emb.jsonl');
  const f = new EmbeddingsFile(path);
  f.put('a', vector([1, 0]));
  f.put('a', vector([0, 1], { model: 'other' }));
  assert.equal(f.get('a')!.model, 'other');
  await f.close();
  const g = new EmbeddingsFile(path);
  assert.equal(g.size(), 1);
  assert.equal(g.get('a')!.model, 'other');
  await g.close();
});

test('embeddings file: a torn last line (a crash mid-write) is skipped and counted; appends continue on a fresh line', async () => {
  const path = join(tempDir(), 'emb.jsonl');
  const f = new EmbeddingsFile(path);
  f.put('a', vector([1, 0]));
  await f.close();
  appendFileSync(path, '{"id":"b","model":"m","pool'); // torn
  const g = new EmbeddingsFile(path);
  assert.equal(g.skipped, 1);
  assert.equal(g.size(), 1);
  g.put('c', vector([0, 1]));
  await g.close();
  const h = new EmbeddingsFile(path);
  assert.deepEqual([h.get('a') !== undefined, h.get('b'), h.get('c') !== undefined], [true, undefined, true]);
  assert.equal(h.skipped, 1, 'the torn line stays skipped, and did not swallow the next record');
  await h.close();
});

test('embeddings file: lines with bad shape or inconsistent bytes are skipped, not trusted', async () => {
  const path = join(tempDir(), 'emb.jsonl');
  const good = toEmbeddingRecord('ok', vector([1, 0]));
  writeFileSync(path, [
    'not json',
    JSON.stringify({ id: 'x' }),
    JSON.stringify({ ...good, id: 'short', dim: 3, vector: good.vector.toString('base64') }),
    JSON.stringify({ ...good, vector: good.vector.toString('base64') }),
  ].join('\n') + '\n');
  const f = new EmbeddingsFile(path);
  assert.equal(f.skipped, 3);
  assert.deepEqual([...f.get('ok')!.values], [1, 0]);
  await f.close();
});

test('embeddings file: load (a mirror of the topic) writes records through; trackNew queues puts for a publisher', async () => {
  const path = join(tempDir(), 'emb.jsonl');
  const f = new EmbeddingsFile(path, { trackNew: true });
  assert.equal(f.load([toEmbeddingRecord('a', vector([1, 0])), { ...toEmbeddingRecord('bad', vector([1, 0])), dim: 7 }]), 1);
  f.put('b', vector([0, 1]));
  assert.deepEqual(f.drainNew().map((r) => r.id), ['b']);
  await f.close();
  const ids = readFileSync(path, 'utf8').trim().split('\n').map((l) => lineToEmbedding(l).id);
  assert.deepEqual(ids, ['a', 'b']);
});
