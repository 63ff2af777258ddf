import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bandThreshold, candidateProbability, jaccardThreshold, rowAgreement } from './lsh.js';
import { MinHasher, splitmix32, wordsFor } from './minhash.js';
import { bandKey } from '../../state/lsh-store.js';

test('LSH threshold maths: (1/b)^(1/r), moved to the Jaccard scale for 4-bit values', () => {
  assert.equal(bandThreshold(14, 8).toFixed(3), '0.719', 'datatrove 14 × 8');
  assert.equal(bandThreshold(20, 13).toFixed(3), '0.794', 'NeMo Curator 20 × 13');
  assert.equal(bandThreshold(18, 6).toFixed(3), '0.618');
  assert.equal(jaccardThreshold(18, 6).toFixed(3), '0.592');
  assert.equal(rowAgreement(0), 1 / 16);
  assert.equal(rowAgreement(1), 1);
  assert.ok(candidateProbability(0.3, 18, 6) < 0.05);
  assert.ok(candidateProbability(0.72, 18, 6) > 0.95);
});

test('the share of pairs sharing a band matches 1 − (1 − p^r)^b', () => {
  const [bands, rows, n] = [18, 6, 300];
  const next = splitmix32(11);
  const trials = 400;
  for (const k of [100, 200, 250]) {
    const j = k / (2 * n - k);
    let found = 0;
    for (let t = 0; t < trials; t++) {
      const h = new MinHasher(bands * rows, 50 + t);
      const a = Int32Array.from({ length: n }, () => next() | 0);
      const b = Int32Array.from({ length: n }, (_, i) => (i < k ? a[i]! : next() | 0));
      const sa = new Uint32Array(wordsFor(bands * rows));
      const sb = new Uint32Array(wordsFor(bands * rows));
      h.sign(a, n, sa);
      h.sign(b, n, sb);
      for (let band = 0; band < bands; band++) {
        if (bandKey(sa, 0, band, rows) === bandKey(sb, 0, band, rows)) { found++; break; }
      }
    }
    const expected = candidateProbability(j, bands, rows);
    const sd = Math.sqrt((expected * (1 - expected)) / trials);
    assert.ok(Math.abs(found / trials - expected) < 4 * sd + 0.01, `J ${j.toFixed(3)}: ${found / trials} found, theory ${expected.toFixed(3)}`);
  }
});
