import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DotKernel } from './dot-simd.js';
import { Rng } from '../centroids/vectors.js';

test('DotKernel.scan: the WebAssembly scan (four lanes at a time) returns what the JavaScript one does — any length, ties, both floors; nothing when a value is NaN', () => {
  const simd = new DotKernel('simd');
  const js = new DotKernel('js');
  assert.ok(simd.simd && !js.simd);
  const rng = new Rng(9);
  let cases = 0;
  for (const n of [0, 1, 2, 3, 4, 5, 7, 8, 9, 37, 316, 1001]) {
    for (const kind of ['random', 'ties', 'nan'] as const) {
      const values = Float32Array.from({ length: n }, () => (kind === 'ties' ? Math.floor(rng.next() * 4) / 4 : rng.next() * 2 - 1));
      if (kind === 'nan' && n > 2) values[Math.floor(n / 2)] = NaN;
      for (const [second, slack, floorMin] of [[true, 0.01, -Infinity], [false, 0.3, -Infinity], [true, 0, 0.5], [false, 2, 0.9]] as const) {
        const got: number[][] = [];
        for (const k of [simd, js]) {
          const row = k.alloc(n * 4 + 16);
          const idx = k.alloc(n * 4 + 16);
          k.f32.set(values, row >> 2);
          const count = k.scan(row, n, second, idx, slack, floorMin);
          got.push([...k.i32.slice(idx >> 2, (idx >> 2) + count)]);
        }
        // A NaN makes the WebAssembly floor NaN, which nothing reaches (callers send a vector with a value that is not finite to the scalar path).
        if (kind === 'nan' && n > 2) assert.deepEqual(got[0], [], `${n} values with a NaN`);
        else assert.deepEqual(got[0], got[1], `${n} ${kind} values, second ${second}, slack ${slack}, floor ${floorMin}`);
        cases++;
      }
    }
  }
  assert.equal(cases, 12 * 3 * 4);
});
