// How the embedder groups texts into inference calls (no model needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_BATCHING, planBatches } from '../src/io/models/embedder.js';

test('planBatches: by count only, in input order when not sorting', () => {
  assert.deepEqual(planBatches([5, 9, 3, 7, 2], 2, false), [[0, 1], [2, 3], [4]]);
  assert.deepEqual(planBatches([], 8, true), []);
});

test('planBatches: sorted longest first (stable on ties), so the last batches dealt out are the short ones', () => {
  assert.deepEqual(planBatches([5, 9, 3, 9, 2], 2, true), [[1, 3], [0, 2], [4]]);
});

test('planBatches: a token budget (texts × longest) packs short texts together and sends long ones alone', () => {
  const lengths = [256, 20, 256, 18, 30, 25, 200];
  // Sorted: 256, 256, 200, 30, 25, 20, 18. Budget 256: each long text alone; 30 × 8 = 240 fits 4 short ones.
  assert.deepEqual(planBatches(lengths, 64, true, 256), [[0], [2], [6], [4, 5, 1, 3]]);
  // The count still caps a batch.
  assert.deepEqual(planBatches(lengths, 2, true, 256), [[0], [2], [6], [4, 5], [1, 3]]);
  // Unsorted: the running longest decides.
  assert.deepEqual(planBatches([10, 10, 100, 10], 64, false, 200), [[0, 1], [2, 3]]); // 2 × 100 fits 200
  assert.deepEqual(planBatches([10, 10, 100, 10], 64, false, 199), [[0, 1], [2], [3]]);
  // A text longer than the budget still goes, alone.
  assert.deepEqual(planBatches([500, 500], 64, true, 256), [[0], [1]]);
});

test('planBatches: every text lands in exactly one batch, within both bounds unless alone', () => {
  const lengths = Array.from({ length: 500 }, (_, i) => 3 + ((i * 7919) % 254));
  for (const sort of [false, true]) {
    const batches = planBatches(lengths, DEFAULT_BATCHING.cpu.batchSize, sort, DEFAULT_BATCHING.cpu.batchTokens);
    assert.deepEqual(batches.flat().sort((a, b) => a - b), lengths.map((_, i) => i));
    for (const b of batches) {
      assert.ok(b.length <= 64);
      if (b.length > 1) assert.ok(b.length * Math.max(...b.map((i) => lengths[i]!)) <= 256);
    }
  }
});
