// The hnswlib implementation of AnnIndex (src/io/models/hnsw-index.ts), tested beside its user.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHnswIndex } from '../../io/models/hnsw-index.js';
import { exactAnnIndex, type AnnIndexOptions } from './ann.js';
import { normalized, Rng } from '../centroids/vectors.js';

const options = (o: Partial<AnnIndexOptions> = {}): AnnIndexOptions => ({ dim: 32, m: 16, efConstruction: 100, efSearch: 64, seed: 5, initialCapacity: 4, ...o });

function points(n: number, seed: number): Float32Array[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => normalized(Array.from({ length: 32 }, () => rng.next() - 0.5)));
}

test('hnsw index: exact below the threshold, HNSW above it; grows past any initial capacity; agrees with exhaustive search', () => {
  const ps = points(600, 1);
  const queries = points(100, 2);
  const exact = exactAnnIndex(options());
  const tiered = createHnswIndex(options({ exactBelow: 200 }));
  assert.equal(tiered.nearest(ps[0]!), undefined, 'empty');
  let agreeBelow = 0;
  let agreeAbove = 0;
  ps.forEach((p, i) => {
    exact.add(p, i);
    tiered.add(p, i);
    if (i === 150) agreeBelow = queries.filter((q) => tiered.nearest(q)!.label === exact.nearest(q)!.label).length;
  });
  agreeAbove = queries.filter((q) => tiered.nearest(q)!.label === exact.nearest(q)!.label).length;
  assert.equal(agreeBelow, 100, 'the exhaustive tier is exact');
  assert.ok(agreeAbove >= 95, `HNSW recall@1 ${agreeAbove}%`);
  assert.equal(tiered.size(), 600);
  const q = queries[0]!;
  assert.ok(Math.abs(tiered.nearest(q)!.similarity - exact.nearest(q)!.similarity) < 1e-5);
  assert.deepEqual(tiered.vector(7), ps[7], 'points come back bit-identical (inner-product space, no renormalisation)');
  assert.throws(() => tiered.add(ps[0]!, 0), /consecutive/);
  tiered.close();
  assert.throws(() => tiered.nearest(q), /after close/);
});

test('hnsw index: a fresh index fed the same points in the same order answers the same, in both tiers', () => {
  const ps = points(400, 3);
  const queries = points(50, 4);
  const run = () => {
    const ix = createHnswIndex(options({ exactBelow: 64 }));
    ps.forEach((p, i) => ix.add(p, i));
    const out = queries.map((q) => ix.nearest(q));
    ix.close();
    return out;
  };
  assert.deepEqual(run(), run());
});
