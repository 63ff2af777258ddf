import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MinHasher, packNibbles, splitmix32, wordsFor } from './minhash.js';
import { estimateJaccard, exactJaccard, matchingValues } from './similarity.js';

/** Two random sets of n hashes sharing k: Jaccard k / (2n − k). */
function pair(n: number, k: number, next: () => number): [Int32Array, Int32Array] {
  const a = new Int32Array(n);
  const b = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    a[i] = next() | 0;
    b[i] = i < k ? a[i]! : next() | 0;
  }
  return [a, b];
}

test('MinHasher: the WebAssembly SIMD kernel and the JavaScript loop give identical minima', () => {
  const next = splitmix32(99);
  for (const numPerm of [1, 7, 16, 108, 128, 200]) {
    const simd = new MinHasher(numPerm, 3, true);
    const js = new MinHasher(numPerm, 3, false);
    assert.equal(js.simd, false);
    const out = new Uint32Array(wordsFor(numPerm));
    for (const count of [1, 2, 5, 376, 5000]) {
      const hashes = Int32Array.from({ length: count }, () => next() | 0);
      simd.sign(hashes, count, out);
      const fromSimd = [...simd.minima.subarray(0, numPerm)];
      js.sign(hashes, count, out);
      assert.deepEqual(fromSimd, [...js.minima.subarray(0, numPerm)], `${numPerm} permutations, ${count} shingles`);
    }
  }
  assert.equal(new MinHasher(8, 1).simd, true, 'Node 20 has WebAssembly SIMD: the fast path is the one tested by everything else');
});

test('MinHasher: the minimum is over the set (order and repeats do not matter); the seed fixes the permutations', () => {
  const h = new MinHasher(64, 1);
  const sig = (xs: number[]) => { const out = new Uint32Array(8); h.sign(Int32Array.from(xs), xs.length, out); return [...out]; };
  assert.deepEqual(sig([1, 2, 3, 4]), sig([4, 3, 3, 2, 1, 1]));
  assert.notDeepEqual(sig([1, 2, 3, 4]), sig([1, 2, 3, 5]));
  const other = new MinHasher(64, 2);
  const out = new Uint32Array(8);
  other.sign(Int32Array.from([1, 2, 3, 4]), 4, out);
  assert.notDeepEqual([...out], sig([1, 2, 3, 4]));
});

test('packNibbles: 4 bits per value, 8 per word, unused nibbles zero', () => {
  const out = new Uint32Array(2);
  packNibbles(Int32Array.from({ length: 12 }, (_, i) => i * 7919), 12, out);
  assert.equal(out[1]! >>> 16, 0, 'nibbles 12..15 are padding');
  const again = new Uint32Array(2);
  packNibbles(Int32Array.from({ length: 12 }, (_, i) => i * 7919), 12, again);
  assert.deepEqual(out, again);
});

test('similarity: matchingValues counts agreeing nibbles, ignoring padding', () => {
  const a = Uint32Array.from([0x12345678, 0x00000abc]);
  const b = Uint32Array.from([0x12345670, 0x00000abd]);
  assert.equal(matchingValues(a, 0, b, 0, 2, 11), 9);
  assert.equal(matchingValues(a, 0, a, 0, 2, 11), 11);
  assert.equal(estimateJaccard(11, 11), 1);
  assert.equal(estimateJaccard(0, 11), 0, 'clamped at 0');
  assert.equal(exactJaccard(Uint32Array.from([1, 2, 3]), Uint32Array.from([2, 3, 4])), 0.5);
});

test('estimated Jaccard is unbiased, with the spread b-bit MinHash theory predicts', () => {
  // 108 values, 4 bits: Var = p(1 − p)/108 / (15/16)², p = J + (1 − J)/16.
  const numPerm = 108;
  const next = splitmix32(7);
  const rows: string[] = [];
  for (const [k, trials] of [[0, 200], [150, 300], [250, 300], [300, 300], [343, 300], [400, 300]] as const) {
    const n = 400;
    const j = k / (2 * n - k);
    const estimates: number[] = [];
    for (let t = 0; t < trials; t++) {
      const h = new MinHasher(numPerm, 1000 + t);
      const [a, b] = pair(n, k, next);
      const sa = new Uint32Array(wordsFor(numPerm));
      const sb = new Uint32Array(wordsFor(numPerm));
      h.sign(a, n, sa);
      h.sign(b, n, sb);
      estimates.push((matchingValues(sa, 0, sb, 0, sa.length, numPerm) / numPerm - 1 / 16) / (15 / 16));
    }
    const mean = estimates.reduce((s, x) => s + x, 0) / trials;
    const sd = Math.sqrt(estimates.reduce((s, x) => s + (x - mean) ** 2, 0) / (trials - 1));
    const p = j + (1 - j) / 16;
    const theory = Math.sqrt((p * (1 - p)) / numPerm) / (15 / 16);
    rows.push(`J ${j.toFixed(3)}  mean estimate ${mean.toFixed(4)}  sd ${sd.toFixed(4)} (theory ${theory.toFixed(4)})`);
    assert.ok(Math.abs(mean - j) < 4 * (theory / Math.sqrt(trials)) + 1e-9, `J ${j}: mean ${mean} is biased`);
    if (theory > 0) assert.ok(sd < theory * 1.25 && sd > theory * 0.75, `J ${j}: sd ${sd} vs theory ${theory}`);
  }
  console.log(`MinHash estimate, 108 permutations, 4-bit values:\n${rows.join('\n')}`);
});
