// Unit tier for the training feed's pure parts: seeded PRNG, bounded shuffle buffer, batching by
// count and by token budget, checkpoint tokens (encode/decode, validation, option reconciliation).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Batcher, CheckpointError, decodeCheckpoint, encodeCheckpoint, estimateTokens, FeedOptionsError, planFeed, seededPrng,
  ShuffleBuffer, shuffled, EMPTY_DIGEST, PositionDigest, roundRobin, type FeedCheckpoint,
} from '../src/feed/index.js';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const isPermutationOf = (out: number[], n: number) => out.length === n && [...out].sort((a, b) => a - b).every((v, i) => v === i);

test('PRNG: a seed gives one sequence; other seeds and epochs give other ones; nextInt stays in range and is close to uniform', () => {
  const draw = (...seed: (string | number)[]) => { const r = seededPrng(...seed); return range(50).map(() => r.nextUint32()); };
  assert.deepEqual(draw('d4-feed', '7', 0), draw('d4-feed', '7', 0));
  assert.notDeepEqual(draw('d4-feed', '7', 0), draw('d4-feed', '7', 1));
  assert.notDeepEqual(draw('d4-feed', '7', 0), draw('d4-feed', '8', 0));
  // "7" the string and 7 the number are different seeds, and ("a","bc") is not ("ab","c").
  assert.notDeepEqual(draw('7'), draw(7));
  assert.notDeepEqual(draw('a', 'bc'), draw('ab', 'c'));
  const r = seededPrng('uniform');
  const counts = new Array(10).fill(0);
  for (let i = 0; i < 100_000; i++) {
    const k = r.nextInt(10);
    assert.ok(k >= 0 && k < 10 && Number.isInteger(k));
    counts[k]++;
  }
  // Chi-square with 9 degrees of freedom: 27.9 is the 0.001 tail.
  const chi = counts.reduce((s, c) => s + (c - 10_000) ** 2 / 10_000, 0);
  assert.ok(chi < 27.9, `chi-square ${chi.toFixed(1)} for counts ${counts}`);
  assert.throws(() => r.nextInt(0), RangeError);
  assert.throws(() => r.nextInt(1.5), RangeError);
});

test('shuffle buffer: the output is a permutation; it holds at most its capacity; an element leaves at most capacity places early', async () => {
  for (const capacity of [1, 2, 7, 64, 1000]) {
    const n = 500;
    const buffer = new ShuffleBuffer<number>(capacity, seededPrng('cap', capacity));
    const out: number[] = [];
    for (const x of range(n)) {
      const y = buffer.push(x);
      assert.ok(buffer.size <= capacity, `size ${buffer.size} > capacity ${capacity}`);
      if (y !== undefined) out.push(y);
    }
    out.push(...buffer.drain());
    assert.equal(buffer.size, 0);
    assert.ok(isPermutationOf(out, n), `capacity ${capacity}: not a permutation`);
    out.forEach((x, pos) => assert.ok(pos >= x - capacity, `capacity ${capacity}: ${x} left at ${pos}`));
    if (capacity === 1) assert.deepEqual(out, range(n), 'capacity 1 keeps the order');
    else assert.notDeepEqual(out, range(n));
  }
});

test('shuffle buffer: the same seed gives the same order, another seed another order', async () => {
  const run = async (seed: string) => { const out: number[] = []; for await (const x of shuffled(range(300), 50, seededPrng(seed))) out.push(x); return out; };
  assert.deepEqual(await run('a'), await run('a'));
  assert.notDeepEqual(await run('a'), await run('b'));
});

test('shuffle buffer: with capacity ≥ n it is a uniform shuffle (each element equally likely first)', () => {
  const n = 8;
  const firsts = new Array(n).fill(0);
  const trials = 40_000;
  const rng = seededPrng('uniform-shuffle');
  for (let t = 0; t < trials; t++) {
    const b = new ShuffleBuffer<number>(n, rng);
    for (const x of range(n)) b.push(x);
    firsts[b.drain().next().value as number]++;
  }
  const e = trials / n;
  const chi = firsts.reduce((s, c) => s + (c - e) ** 2 / e, 0);
  assert.ok(chi < 24.3, `chi-square ${chi.toFixed(1)} (7 d.o.f., 0.001 tail 24.3): ${firsts}`);
});

test('shuffled(): a never-ending source streams with bounded memory; an early stop closes the source; a source error propagates', async () => {
  let pulled = 0;
  let closed = false;
  async function* forever() {
    try { for (let i = 0; ; i++) { pulled++; yield i; } } finally { closed = true; }
  }
  const out: number[] = [];
  for await (const x of shuffled(forever(), 100, seededPrng('x'))) {
    out.push(x);
    assert.ok(pulled - out.length <= 100, 'never more than the capacity held');
    if (out.length === 1000) break;
  }
  assert.equal(new Set(out).size, 1000);
  assert.ok(closed, 'breaking out returned the source');

  async function* failing() { yield 1; yield 2; throw new Error('broker gone'); }
  await assert.rejects(async () => { for await (const _ of shuffled(failing(), 10, seededPrng('y'))) { /* drain */ } }, /broker gone/);
  const empty: number[] = [];
  for await (const x of shuffled([], 10, seededPrng('z'))) empty.push(x);
  assert.deepEqual(empty, []);
  assert.throws(() => new ShuffleBuffer(0, seededPrng('z')), RangeError);
});

test('roundRobin: one from each source in turn, skipping finished ones; order is fixed whatever the timing', async () => {
  async function* slow(xs: string[], ms: number) { for (const x of xs) { await new Promise((r) => setTimeout(r, ms)); yield x; } }
  const out: string[] = [];
  for await (const x of roundRobin([slow(['a0', 'a1', 'a2', 'a3'], 3), slow(['b0'], 0), slow(['c0', 'c1'], 1)])) out.push(x);
  assert.deepEqual(out, ['a0', 'b0', 'c0', 'a1', 'c1', 'a2', 'a3']);
});

test('estimateTokens: one token per 4 UTF-8 bytes, rounded up, at least 1', () => {
  const english = 'The quick brown fox jumps over the lazy dog near the river bank today.';
  assert.equal(estimateTokens(english), Math.ceil(english.length / 4));
  const chinese = '我们在这里讨论的是一个很长的中文句子没有任何空格';
  assert.equal(estimateTokens(chinese), Math.ceil((chinese.length * 3) / 4), 'three bytes per CJK character');
  assert.equal(estimateTokens('😀😀😀'), 3, 'a surrogate pair is 4 UTF-8 bytes');
  assert.equal(estimateTokens('x'), 1);
  assert.equal(estimateTokens(''), 1);
});

test('batching by count: full batches of size n, the rest in a last partial batch', () => {
  const b = new Batcher<number>({ kind: 'count', size: 3 }, () => 1);
  const out: number[][] = [];
  for (const x of range(8)) {
    const r = b.add(x);
    assert.equal(r.closedBefore, undefined);
    if (r.closedWith) out.push(r.closedWith.items);
  }
  out.push(b.flush()!.items);
  assert.deepEqual(out, [[0, 1, 2], [3, 4, 5], [6, 7]]);
  assert.equal(b.flush(), undefined);
});

test('batching by token budget: within the budget, in order; a document over the budget goes alone; an exact fit closes at once', () => {
  const weights = [3, 4, 2, 9, 25, 1, 10, 5, 5];
  const b = new Batcher<number>({ kind: 'tokens', tokens: 10 }, (i) => weights[i]!);
  const out: { items: number[]; weight: number }[] = [];
  for (const i of range(weights.length)) {
    const r = b.add(i);
    if (r.closedBefore) out.push(r.closedBefore);
    if (r.closedWith) out.push(r.closedWith);
  }
  const last = b.flush();
  if (last) out.push(last);
  assert.deepEqual(out.map((o) => o.items), [[0, 1, 2], [3], [4], [5], [6], [7, 8]]);
  assert.deepEqual(out.map((o) => o.weight), [9, 9, 25, 1, 10, 10]);
  assert.deepEqual(out.flatMap((o) => o.items), range(weights.length), 'nothing dropped, order kept');
  for (const o of out) assert.ok(o.weight <= 10 || o.items.length === 1);
  assert.throws(() => new Batcher({ kind: 'tokens', tokens: 0 }, () => 1), RangeError);
  assert.throws(() => new Batcher({ kind: 'count', size: 2.5 }, () => 1), RangeError);
  assert.throws(() => new Batcher<number>({ kind: 'tokens', tokens: 5 }, () => Number.NaN).add(1), /finite/);
});

const sample: FeedCheckpoint = {
  v: 1, source: 'kafka:d4.curated', seed: '7', shuffleBuffer: 1000, batch: { kind: 'tokens', tokens: 4096 }, epoch: 1, position: 1234, batches: 17,
  range: [{ partition: 0, start: '0', end: '1046' }, { partition: 1, start: '5', end: '9223372036854775807' }], digest: 'afb2f86665835bb3',
};

test('checkpoint: encode/decode round-trips, is URL-safe and small', () => {
  const token = encodeCheckpoint(sample);
  assert.match(token, /^d4feed1\.[A-Za-z0-9_-]+$/);
  assert.ok(token.length < 400, `${token.length} characters`);
  assert.deepEqual(decodeCheckpoint(token), sample);
  assert.deepEqual(decodeCheckpoint(`  ${token}\n`), sample, 'surrounding whitespace from a copy is ignored');
  const boundary = { ...sample, position: 0, batches: 0, range: null, digest: EMPTY_DIGEST };
  assert.deepEqual(decodeCheckpoint(encodeCheckpoint(boundary)), boundary);
});

test('checkpoint: a token that is not one, truncated, altered or inconsistent is refused with the reason', () => {
  const body = (o: unknown) => 'd4feed1.' + Buffer.from(JSON.stringify(o)).toString('base64url');
  const valid = JSON.parse(Buffer.from(encodeCheckpoint(sample).slice(8), 'base64url').toString()) as Record<string, unknown>;
  const cases: [string, RegExp][] = [
    ['', /empty/],
    ['hello', /not a d4 feed checkpoint/],
    [encodeCheckpoint(sample).slice(0, 40), /not JSON|truncated/],
    ['d4feed1.abc$%', /not base64url/],
    [body({ ...valid, v: 2 }), /version 2 is not supported/],
    [body({ ...valid, seed: undefined }), /"seed" is missing/],
    [body({ ...valid, shuffle: 0 }), /"shuffle"/],
    [body({ ...valid, batch: { kind: 'bytes', size: 3 } }), /"batch"/],
    [body({ ...valid, position: -1 }), /"position"/],
    [body({ ...valid, epoch: 1.5 }), /"epoch"/],
    [body({ ...valid, digest: 'xyz' }), /"digest"/],
    [body({ ...valid, range: [[0, '10', '5']] }), /start 10 is after end 5/],
    [body({ ...valid, range: [[1, '0', '5'], [0, '0', '5']] }), /increasing order/],
    [body({ ...valid, range: [[0, '-1', '5']] }), /range\[0\]/],
    [body({ ...valid, range: null }), /needs the epoch's "range"/],
    [body([1, 2]), /not a JSON object/],
  ];
  for (const [token, message] of cases) {
    assert.throws(() => decodeCheckpoint(token), (e: Error) => e instanceof CheckpointError && message.test(e.message), `token ${token.slice(0, 30)}… should fail with ${message}`);
  }
});

test('planFeed: defaults; a token fixes seed, shuffle buffer and batching; a conflicting option or another source is an error', () => {
  const fresh = planFeed('kafka:t', {});
  assert.equal(fresh.seed, '0');
  assert.equal(fresh.shuffleBuffer, 10_000);
  assert.deepEqual(fresh.batch, { kind: 'count', size: 32 });
  assert.equal(fresh.start.epoch, 0);
  assert.equal(fresh.start.position, 0);

  const token = encodeCheckpoint({ ...sample, source: 'kafka:t' });
  const resumed = planFeed('kafka:t', { resume: token, epochs: 3 });
  assert.equal(resumed.seed, '7');
  assert.equal(resumed.shuffleBuffer, 1000);
  assert.deepEqual(resumed.batch, { kind: 'tokens', tokens: 4096 });
  assert.equal(resumed.start.position, 1234);
  assert.doesNotThrow(() => planFeed('kafka:t', { resume: token, seed: 7, shuffleBuffer: 1000, batch: { kind: 'tokens', tokens: 4096 } }), 'the same values may be repeated');

  assert.throws(() => planFeed('kafka:other', { resume: token }), (e: Error) => e instanceof CheckpointError && /is for kafka:t, not kafka:other/.test(e.message));
  assert.throws(() => planFeed('kafka:t', { resume: token, seed: '8' }), /seed "7", not "8"/);
  assert.throws(() => planFeed('kafka:t', { resume: token, shuffleBuffer: 10 }), /shuffle buffer of 1000, not 10/);
  assert.throws(() => planFeed('kafka:t', { resume: token, batch: { kind: 'count', size: 32 } }), /--batch-tokens 4096, not --batch-size 32/);
  assert.throws(() => planFeed('kafka:t', { epochs: 0 }), FeedOptionsError);
  assert.throws(() => planFeed('kafka:t', { shuffleBuffer: -1 }), FeedOptionsError);
  assert.throws(() => planFeed('kafka:t', { batch: { kind: 'count', size: 0 } }), FeedOptionsError);
});

test('position digest: depends on every (partition, offset) and their order', () => {
  const d = (xs: [number, string][]) => { const g = new PositionDigest(); for (const [p, o] of xs) g.add(p, o); return g.hex(); };
  assert.equal(d([]), EMPTY_DIGEST);
  assert.equal(d([[0, '1'], [1, '2']]), d([[0, '1'], [1, '2']]));
  assert.notEqual(d([[0, '1'], [1, '2']]), d([[1, '2'], [0, '1']]));
  assert.notEqual(d([[0, '12']]), d([[0, '1'], [0, '2']]));
  assert.notEqual(d([[0, '1']]), d([[1, '1']]));
  assert.match(d([[3, '99']]), /^[0-9a-f]{16}$/);
});
