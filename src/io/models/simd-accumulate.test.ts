import { test } from 'node:test';
import assert from 'node:assert/strict';
import { simdAccumulator } from './simd-accumulate.js';

test('the WebAssembly SIMD sum of weighted rows equals the plain sum (random 1000 × 256 matrix)', () => {
  let seed = 12345;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32) - 0.5;
  const rows = 1000;
  const dim = 256;
  const matrix = Float32Array.from({ length: rows * dim }, rand);
  const simd = simdAccumulator(matrix, dim, 64);
  assert.ok(simd, 'Node 20 has WebAssembly SIMD');
  for (const u of [0, 1, 7, 64]) {
    const picks = Array.from({ length: u }, (_, k) => ({ row: (k * 7919) % rows, count: 1 + (k % 5) }));
    picks.forEach((p, k) => simd.set(k, p.row, p.count));
    simd.run(u);
    const want = new Float64Array(dim);
    for (const p of picks) for (let d = 0; d < dim; d++) want[d]! += p.count * matrix[p.row * dim + d]!;
    for (let d = 0; d < dim; d++) assert.ok(Math.abs(simd.acc[d]! - want[d]!) < 1e-4, `u ${u}, d ${d}: ${simd.acc[d]} vs ${want[d]}`);
  }
  assert.equal(simdAccumulator(new Float32Array(30), 3, 4), undefined, 'a dimension that is not a multiple of 4 falls back to JavaScript');
});
