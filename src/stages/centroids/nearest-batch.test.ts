import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RowMatrix } from './nearest-batch.js';
import { nearestTwo, normalized, Rng } from './vectors.js';
import { DotKernel } from '../kernels/dot-simd.js';

function gaussian(rng: Rng, dim: number): Float32Array {
  return normalized(Array.from({ length: dim }, () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next())));
}

for (const mode of ['simd', 'js'] as const) {
  test(`RowMatrix (${mode}): nearestTwo's rows and similarities bit for bit — ties, copies of rows, odd counts, a dimension not a multiple of 4`, () => {
    for (const dim of [384, 30]) {
      const rng = new Rng(dim);
      const k = 37;
      const rows = new Float32Array(k * dim);
      for (let j = 0; j < k; j++) rows.set(gaussian(rng, dim), j * dim);
      rows.copyWithin(5 * dim, 2 * dim, 3 * dim); // rows 2 and 5 equal: an exact tie for every query
      const queries = Array.from({ length: 131 }, () => gaussian(rng, dim));
      queries.push(rows.slice(2 * dim, 3 * dim), rows.slice(7 * dim, 8 * dim), new Float32Array(dim));
      const m = new RowMatrix(mode);
      m.load(rows, k, dim);
      const got = m.nearestTwo(queries);
      const some = m.nearestTwo(queries, 'first');
      const none = m.nearestTwo(queries, 'none');
      queries.forEach((q, i) => {
        const want = nearestTwo(q, rows, k, dim);
        assert.deepEqual([got.first[i], got.second[i], got.firstSimilarity[i], got.secondSimilarity[i]], [want.first, want.second, want.firstSimilarity, want.secondSimilarity], `query ${i}, ${dim}-d`);
        assert.deepEqual([some.first[i], some.second[i], some.firstSimilarity[i]], [want.first, want.second, want.firstSimilarity]);
        assert.deepEqual([none.first[i], none.second[i]], [want.first, want.second]);
      });
    }
  });
}

for (const mode of ['simd', 'js'] as const) {
  test(`RowMatrix (${mode}): rows and queries of any norm, near-ties closer than the int16 product can tell, 1,000-d: nearestTwo's answer bit for bit`, () => {
    const rng = new Rng(5);
    for (const [dim, k] of [[1000, 40], [7, 9]] as const) {
      const rows = new Float32Array(k * dim);
      // Norms from 0.001 to 100: the product scales rows by the largest, so the small ones lose digits.
      for (let j = 0; j < k; j++) rows.set(gaussian(rng, dim).map((x) => x * 10 ** (j % 6 - 3) * 1.3), j * dim);
      // Row 1 a hair away from row 0 (one value moved by a float32 step): the two are ordered by the scalar dot only.
      rows.set(rows.subarray(0, dim), dim);
      rows[dim + 3] = Math.fround(rows[dim + 3]! * (1 + 2 ** -20));
      const queries = Array.from({ length: 90 }, (_, i) => gaussian(rng, dim).map((x) => x * 10 ** ((i % 5) - 2)));
      queries.push(rows.slice(0, dim), rows.slice(dim, 2 * dim), rows.slice(5 * dim, 6 * dim).map((x) => x * 1e-30));
      const m = new RowMatrix(mode);
      m.load(rows, k, dim);
      const got = m.nearestTwo(queries, 'both');
      const none = m.nearestTwo(queries, 'none');
      queries.forEach((q, i) => {
        const want = nearestTwo(q, rows, k, dim);
        assert.deepEqual([got.first[i], got.second[i], got.firstSimilarity[i], got.secondSimilarity[i]], [want.first, want.second, want.firstSimilarity, want.secondSimilarity], `query ${i}, ${dim}-d`);
        assert.deepEqual([none.first[i], none.second[i]], [want.first, want.second], `query ${i}, ${dim}-d, no similarities`);
      });
    }
  });
}

test('DotKernel.quantize16: nearest int16 of value · scale, saturated at ±32767 (both kernels)', () => {
  for (const mode of ['simd', 'js'] as const) {
    const k = new DotKernel(mode);
    const src = k.alloc(16 * 4);
    const dst = k.alloc(16 * 2);
    const values = [0, 1, -1, 0.26, -0.26, 0.74, 1000, -1000, 32766.6, 0.1, -0.1, 5, -5, 2, 3, 4];
    k.f32.set(values, src / 4);
    k.quantize16(src, 16, dst, 40);
    assert.deepEqual([...k.i16.slice(dst / 2, dst / 2 + 16)], values.map((x) => Math.max(-32767, Math.min(32767, Math.round(x * 40)))), mode);
  }
});

test('RowMatrix: a query with NaN is decided by the scalar path, not dropped', () => {
  const rows = Float32Array.from([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
  const m = new RowMatrix('simd');
  m.load(rows, 4, 4);
  const q = Float32Array.from([NaN, 1, 0, 0]);
  const got = m.nearestTwo([q]);
  const want = nearestTwo(q, rows, 4, 4);
  assert.deepEqual([got.first[0], got.second[0]], [want.first, want.second]);
});

test('DotKernel: the float32 product stays within the error bound of the scalar dot; memory grows without losing rows', () => {
  const k = new DotKernel('simd');
  const dim = 64;
  const rng = new Rng(3);
  const a = k.alloc(8 * dim * 4);
  const rows = Array.from({ length: 8 }, () => gaussian(rng, dim));
  rows.forEach((r, i) => k.f32.set(r, (a >> 2) + i * dim));
  const big = k.alloc(8 << 20); // grows the memory: views are taken again
  assert.ok(big > a);
  const q = k.alloc(dim * 4);
  k.f32.set(rows[0]!, q >> 2);
  const ptr = k.alloc(16);
  k.i32[ptr >> 2] = q;
  const out = k.alloc(8 * 4);
  k.gemm(ptr, 1, a, 8, dim * 4, out, 8);
  for (let j = 0; j < 8; j++) {
    let exact = 0;
    for (let d = 0; d < dim; d++) exact += rows[0]![d]! * rows[j]![d]!;
    assert.ok(Math.abs(k.f32[(out >> 2) + j]! - exact) < 1e-5, `row ${j}`);
  }
  assert.ok(Math.abs(k.normBound(q, dim) - 1) < 1e-5 && k.normBound(q, dim) >= 1 - 1e-7);
});
