import { test } from 'node:test';
import assert from 'node:assert/strict';
import { batchSelect, type BatchSelectOptions } from './d4.js';
import { dot, normalized, Rng } from '../stages/centroids/vectors.js';

const base: BatchSelectOptions = { targetRatio: 0.25, epsilon: 0.02, iterations: 20, seed: 1, scope: 'cluster', dedup: true, prototype: true };

/** Topic documents plus near-copies of earlier ones (copyOf[i] = the original's index, or -1). */
function corpus(n: number, dim: number, seed: number) {
  const rng = new Rng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  const topics = Array.from({ length: 6 }, () => normalized(Array.from({ length: dim }, gauss)));
  const vectors: Float32Array[] = [];
  const copyOf: number[] = [];
  for (let i = 0; i < n; i++) {
    const original = i > 20 && rng.next() < 0.15 ? rng.int(i) : -1;
    const src = original >= 0 ? vectors[original]! : topics[rng.int(6)]!.map((c) => c + 0.5 * gauss());
    vectors.push(normalized(Array.from(src, (c) => c + (original >= 0 ? 0.01 : 0) * gauss())));
    copyOf.push(original);
  }
  return { vectors, copyOf };
}

test('batchSelect: SemDeDup drops near-copies (one per duplicate group survives), then prototypes prune to exactly round(R · documents)', () => {
  const { vectors, copyOf } = corpus(800, 24, 1);
  const r = batchSelect(vectors, 1000, base); // 200 documents were removed before embedding
  assert.equal(r.verdicts.length, 800);
  const semantic = r.verdicts.filter((v) => !v.keep && v.stage === 'semantic');
  const copies = copyOf.filter((c) => c >= 0).length;
  assert.ok(semantic.length >= copies * 0.9 && semantic.length <= copies * 1.1, `${semantic.length} semantic drops for ${copies} copies`);
  for (const v of semantic) if (!v.keep && v.stage === 'semantic') assert.ok(v.similarity >= 0.98);
  assert.equal(r.stats.dedupKept, 800 - semantic.length);
  assert.equal(r.verdicts.filter((v) => v.keep).length, 250);
  assert.equal(r.stats.protoKept, 250);
  assert.equal(r.stats.k, 28, 'k = round(√800)');
  const again = batchSelect(vectors, 1000, base);
  assert.deepEqual(again.verdicts, r.verdicts, 'deterministic');
  assert.deepEqual(again.centroids, r.centroids);
});

test('batchSelect: the reference keep rule: of two duplicates, the one farther from the centroid survives', () => {
  const { vectors } = corpus(300, 16, 2);
  const r = batchSelect(vectors, 300, { ...base, prototype: false, k: 5 });
  const c = r.centroids.dedup!;
  let checked = 0;
  r.verdicts.forEach((v, i) => {
    if (v.keep || v.stage !== 'semantic') return;
    checked++;
    const j = v.duplicateOf;
    assert.ok(Math.abs(dot(vectors[i]!, vectors[j]!) - v.similarity) < 1e-6);
    assert.ok(dot(vectors[j]!, c, v.cluster * 16) <= dot(vectors[i]!, c, v.cluster * 16), `${j} (kept before ${i}) is farther from the centroid`);
  });
  assert.ok(checked > 10);
});

test('batchSelect: the ε → R_dedup curve is monotone and matches the drop count at the chosen ε', () => {
  const { vectors } = corpus(500, 16, 3);
  const r = batchSelect(vectors, 500, { ...base, prototype: false, epsilonCurve: [0.005, 0.02, 0.1, 0.3] });
  const fractions = r.stats.epsilonCurve.map((p) => p.keptFraction);
  assert.deepEqual([...fractions].sort((a, b) => b - a), fractions);
  assert.equal(r.stats.epsilonCurve[1]!.keptFraction, r.stats.dedupKept / 500);
});

test('batchSelect: prototype pruning alone, per cluster or global, keeps the hardest; nothing to do on no vectors', () => {
  const { vectors } = corpus(400, 16, 4);
  for (const scope of ['cluster', 'global'] as const) {
    const r = batchSelect(vectors, 400, { ...base, dedup: false, scope });
    assert.equal(r.verdicts.filter((v) => v.keep).length, 100);
    for (const v of r.verdicts) if (!v.keep && v.stage === 'prototype' && v.threshold !== null) assert.ok(v.distance <= v.threshold + 1e-12 || scope === 'cluster');
  }
  assert.deepEqual(batchSelect([], 10, base).verdicts, []);
});
