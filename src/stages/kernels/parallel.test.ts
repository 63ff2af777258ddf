import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DotKernel } from './dot-simd.js';
import { CALL_WORDS, claim, CTRL, gemmPool, type GemmPool, selectionThreads, setSelectionThreads } from './parallel.js';
import { Rng } from '../centroids/vectors.js';

/** A kernel holding `nq` queries and `nr` rows of `dim` (random), with room for the products. */
function setup(kernel: DotKernel, nq: number, nr: number, dim: number, seed: number) {
  const rng = new Rng(seed);
  const sb = ((dim + 3) & ~3) * 4;
  const rows = kernel.alloc(nr * sb);
  const queries = kernel.alloc(nq * sb);
  const pointers = kernel.alloc(nq * 4);
  const out = kernel.alloc(nq * nr * 4);
  const f = kernel.f32;
  for (let i = 0; i < nr; i++) for (let d = 0; d < dim; d++) f[(rows + i * sb) / 4 + d] = rng.next() - 0.5;
  for (let i = 0; i < nq; i++) {
    for (let d = 0; d < dim; d++) f[(queries + i * sb) / 4 + d] = rng.next() - 0.5;
    kernel.i32[pointers / 4 + i] = queries + i * sb;
  }
  return { rows, pointers, out, sb };
}

test('the pool\'s products equal the calling thread\'s, bit for bit: chunks of queries and of rows, odd sizes, two kernels in turn, a thousand jobs; the workers take part', () => {
  setSelectionThreads(1);
  const single = new DotKernel('simd');
  setSelectionThreads(3);
  const shared = [new DotKernel('simd'), new DotKernel('simd')];
  assert.ok(single.simd, 'Node 20 has WebAssembly SIMD');
  const pool = gemmPool()!;
  assert.equal(pool.threads, 3);
  const before = pool.workerChunks;
  // [queries, rows, dim]: many queries (split by query), one or three queries (split by rows), a dimension not a multiple of 4.
  for (const [nq, nr, dim] of [[301, 64, 384], [1, 4096, 384], [3, 12000, 30], [64, 316, 384]] as const) {
    const want = setup(single, nq, nr, dim, nq + nr);
    single.gemm(want.pointers, nq, want.rows, nr, want.sb, want.out, nr);
    const expected = single.f32.slice(want.out / 4, want.out / 4 + nq * nr);
    for (const k of shared) {
      const got = setup(k, nq, nr, dim, nq + nr);
      for (let rep = 0; rep < 3; rep++) {
        k.f32.fill(NaN, got.out / 4, got.out / 4 + nq * nr);
        k.gemm(got.pointers, nq, got.rows, nr, got.sb, got.out, nr);
        assert.deepEqual(k.f32.slice(got.out / 4, got.out / 4 + nq * nr), expected, `${nq} × ${nr} × ${dim}`);
      }
    }
  }
  // Many jobs in a row, alternating kernels (memories), each checked: no chunk lost or taken twice.
  const a = setup(shared[0]!, 96, 128, 96, 1);
  const b = setup(shared[1]!, 8, 4096, 32, 2);
  shared[0]!.gemm(a.pointers, 96, a.rows, 128, a.sb, a.out, 128);
  shared[1]!.gemm(b.pointers, 8, b.rows, 4096, b.sb, b.out, 4096);
  const ea = shared[0]!.f32.slice(a.out / 4, a.out / 4 + 96 * 128);
  const eb = shared[1]!.f32.slice(b.out / 4, b.out / 4 + 8 * 4096);
  for (let i = 0; i < 1000; i++) {
    const [k, s, nq, nr, e] = i % 2 ? [shared[1]!, b, 8, 4096, eb] as const : [shared[0]!, a, 96, 128, ea] as const;
    k.f32.fill(0, s.out / 4, s.out / 4 + nq * nr);
    k.gemm(s.pointers, nq, s.rows, nr, s.sb, s.out, nr);
    assert.deepEqual(k.f32.slice(s.out / 4, s.out / 4 + nq * nr), e, `job ${i}`);
  }
  assert.ok(pool.workerChunks > before, `the worker threads computed ${pool.workerChunks - before} chunks`);
  setSelectionThreads(undefined);
});

test('a list of products (gemmList) on the pool: each product as the calling thread computes it alone, whatever thread takes it; the workers take part', () => {
  setSelectionThreads(1);
  const single = new DotKernel('simd');
  setSelectionThreads(3);
  try {
    const shared = new DotKernel('simd');
    const pool = gemmPool()!;
    // 60 products of different sizes over one set of rows and queries (as a cluster's pages are), outputs side by side.
    const rng = new Rng(4);
    const calls = Array.from({ length: 60 }, () => ({ nq: 1 + rng.int(40), q0: rng.int(20), nr: 4 * (1 + rng.int(16)), r0: 4 * rng.int(400) }));
    const ldo = 64;
    const run = (k: DotKernel, list: boolean) => {
      const { rows, pointers, out, sb } = setup(k, 60, 2000, 384, 9);
      const outs = k.alloc(calls.length * 60 * ldo * 4);
      const table = k.alloc(calls.length * CALL_WORDS * 4);
      k.f32.fill(NaN, outs / 4, outs / 4 + calls.length * 60 * ldo);
      let macs = 0;
      calls.forEach((c, i) => {
        const args = [pointers + 4 * c.q0, c.nq, rows + c.r0 * sb, c.nr, sb, outs + i * 60 * ldo * 4, ldo];
        if (list) k.i32.set(args, table / 4 + i * CALL_WORDS);
        else k.gemm(args[0]!, args[1]!, args[2]!, args[3]!, args[4]!, args[5]!, args[6]!);
        macs += c.nq * c.nr * 384;
      });
      if (list) k.gemmList(table, calls.length, macs);
      return k.f32.slice(outs / 4, outs / 4 + calls.length * 60 * ldo);
    };
    const want = run(single, false);
    const before = pool.workerChunks;
    for (let rep = 0; rep < 20; rep++) assert.deepEqual(run(shared, true), want, `list ${rep}`);
    assert.deepEqual(run(single, true), want, 'one thread');
    assert.ok(want.some((x) => Number.isNaN(x)) && want.some((x) => x !== 0 && Number.isFinite(x)), 'outputs written where products go, nowhere else');
    assert.ok(pool.workerChunks > before, `the worker threads computed ${pool.workerChunks - before} chunks`);
  } finally {
    setSelectionThreads(undefined);
  }
});

test('the pool\'s int16 products (gemm16) are the exact integer sums, as on the calling thread, split by queries and by rows', () => {
  setSelectionThreads(3);
  try {
    const k = new DotKernel('simd');
    const rng = new Rng(11);
    for (const [nq, nr, dim] of [[301, 64, 384], [2, 8192, 64]] as const) {
      const rows = k.alloc(nr * dim * 2);
      const queries = k.alloc(nq * dim * 2);
      const pointers = k.alloc(nq * 4);
      const out = k.alloc(nq * nr * 4);
      // Values up to ±200: every sum below 2^24, so its float32 is the integer itself.
      const v = k.i16;
      for (let i = 0; i < (nr + nq) * dim; i++) v[rows / 2 + i] = Math.floor(rng.next() * 401) - 200;
      for (let i = 0; i < nq; i++) k.i32[pointers / 4 + i] = queries + i * dim * 2;
      k.gemm16(pointers, nq, rows, nr, dim * 2, out, nr);
      const w = k.i16;
      for (let i = 0; i < nq; i += 37) {
        for (let j = 0; j < nr; j += 13) {
          let exact = 0;
          for (let d = 0; d < dim; d++) exact += w[queries / 2 + i * dim + d]! * w[rows / 2 + j * dim + d]!;
          assert.equal(k.f32[out / 4 + i * nr + j], exact, `${nq} × ${nr}: query ${i}, row ${j}`);
        }
      }
    }
  } finally {
    setSelectionThreads(undefined);
  }
});

test('claim: chunks of the open job once each, then none; a claim on another job\'s counter is refused', () => {
  const ctrl = new Int32Array(new SharedArrayBuffer(CTRL.size * 4));
  Atomics.store(ctrl, CTRL.gen, 5);
  Atomics.store(ctrl, CTRL.total, 3);
  Atomics.store(ctrl, CTRL.next, 5 << 16);
  assert.deepEqual([claim(ctrl), claim(ctrl), claim(ctrl), claim(ctrl), claim(ctrl)], [0, 1, 2, -1, -1]);
  // A thread that read the counter of job 5 after job 6 was announced (its parameters being written).
  Atomics.store(ctrl, CTRL.next, 5 << 16);
  Atomics.store(ctrl, CTRL.gen, 6);
  assert.equal(claim(ctrl), -1);
});

test('selection threads: a whole number ≥ 1 from the setter or D4_SELECT_THREADS, else the cores up to 4; anything else is refused with the value', () => {
  const env = process.env['D4_SELECT_THREADS'];
  try {
    delete process.env['D4_SELECT_THREADS'];
    assert.ok(selectionThreads() >= 1 && selectionThreads() <= 4);
    process.env['D4_SELECT_THREADS'] = '3';
    assert.equal(selectionThreads(), 3);
    setSelectionThreads(2);
    assert.equal(selectionThreads(), 2, 'the setter wins');
    setSelectionThreads(undefined);
    for (const bad of ['0', '1.5', 'two', '-1']) {
      process.env['D4_SELECT_THREADS'] = bad;
      assert.throws(() => selectionThreads(), new RegExp(`D4_SELECT_THREADS must be a whole number ≥ 1, not "${bad.replace('.', '\\.')}"`));
    }
    assert.throws(() => setSelectionThreads(0), /whole number ≥ 1, not 0/);
  } finally {
    if (env === undefined) delete process.env['D4_SELECT_THREADS']; else process.env['D4_SELECT_THREADS'] = env;
    setSelectionThreads(undefined);
  }
});

test('a pool of one thread is never made: one thread computes on its own memory', () => {
  setSelectionThreads(1);
  try {
    const k = new DotKernel('simd');
    assert.ok(!(k as unknown as { pool?: GemmPool }).pool);
  } finally {
    setSelectionThreads(undefined);
  }
});
