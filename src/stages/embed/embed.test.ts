// Unit tests of the embed operator with a deterministic fake model (the real model has its own
// tests in test/embed-model.test.ts). The operator is asynchronous (the model answers with a
// Promise), so these run in real time; the time-free parts (batching by count/time, ordered
// concurrency) have marble tests beside their operators.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { concat, from, lastValueFrom, NEVER, of, take, throwError, timer, toArray, map, type Observable } from 'rxjs';
import { embed, embedStage, EmbedCounters, type EmbedOptions } from './embed.js';
import { FakeEmbedder } from './fake-embedder.js';
import { MemoryEmbeddingStore } from './memory-embedding-store.js';
import { createHasher } from '../text/hash.js';
import { dropDecision, origin, type DocItem, type Item } from '../../records/item.js';
import type { EmbeddingStore } from './types.js';

const hasher = await createHasher();
const opts: EmbedOptions = { bufferSize: 4, maxWaitMs: 20, maxInFlight: 2 };

function doc(id: string, text: string, seq = 0): DocItem {
  return { kind: 'doc', seq, origin: origin({ file: 'test', line: seq + 1 }), doc: { id, url: null, fetched_at: null, content_type: null, language: null, text, metadata: {} } };
}

const docs = (n: number, prefix = 'd') => Array.from({ length: n }, (_, i) => doc(`${prefix}${i}`, `document number ${i} about topic ${i % 3}`, i));

function setup(o: Partial<EmbedOptions> = {}, model = new FakeEmbedder(), store: EmbeddingStore = new MemoryEmbeddingStore({ name: 'test', capacity: 1000 })) {
  const counters = new EmbedCounters();
  const op = embed({ ...opts, ...o }, { embedder: model, store, counters });
  return { model, store, counters, run: (items: Item[] | Observable<Item>) => lastValueFrom((Array.isArray(items) ? from(items) : items).pipe(op, toArray()), { defaultValue: [] as Item[] }) };
}

const norm = (v: Float32Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));

test('embed: empty source completes with nothing and never calls the model', async () => {
  const { run, model } = setup();
  assert.deepEqual(await run([]), []);
  assert.equal(model.calls.length, 0);
});

test('embed: never-ending silent source emits nothing and calls nothing', async () => {
  const { model } = setup();
  const counters = new EmbedCounters();
  const seen: Item[] = [];
  const sub = NEVER.pipe(embed(opts, { embedder: model, store: new MemoryEmbeddingStore({ name: 't', capacity: 1 }), counters })).subscribe((i) => seen.push(i));
  await new Promise((r) => setTimeout(r, 50));
  sub.unsubscribe();
  assert.equal(seen.length, 0);
  assert.equal(model.calls.length, 0);
});

test('embed: one document gets a unit vector from the model, which goes into the store', async () => {
  const { run, model, store, counters } = setup();
  const [out] = await run([doc('a', 'The cat sat on the mat.')]);
  assert.ok(out && out.kind === 'doc' && out.vector);
  assert.equal(out.drop, undefined, 'embed drops nothing');
  assert.equal(out.vector.values.length, 8);
  assert.ok(Math.abs(norm(out.vector.values) - 1) < 1e-6);
  assert.deepEqual([out.vector.model, out.vector.pooling, out.vector.dtype, out.vector.cached], ['fake/bag-of-words', 'mean', 'fp32', false]);
  assert.deepEqual(model.calls, [['The cat sat on the mat.']]);
  assert.ok(store.get('a'));
  assert.equal(counters.embedded, 1);
});

test('embed: many documents: one item out per item in, in order, across buffers and out-of-order completions', async () => {
  // bufferSize 4 → 3 buffers; the model answers the first call last.
  let call = 0;
  const model = new FakeEmbedder();
  const slow: typeof model.embed = (texts) => {
    const p = FakeEmbedder.prototype.embed.call(model, texts);
    const wait = call++ === 0 ? 60 : 5;
    return p.then((r) => new Promise((res) => setTimeout(() => res(r), wait)));
  };
  model.embed = slow;
  const { run, counters } = setup({}, model);
  const input = docs(10);
  const out = await run(input);
  assert.deepEqual(out.map((i) => (i as DocItem).doc.id), input.map((i) => i.doc.id));
  assert.ok(out.every((i) => i.kind === 'doc' && i.vector));
  assert.deepEqual(model.calls.map((c) => c.length), [4, 4, 2]);
  assert.equal(counters.live, 10);
  assert.equal(counters.embedded, 10);
});

test('embed: a second pass embeds nothing: every vector comes from the store (counted)', async () => {
  const { run, model, counters } = setup();
  const input = docs(9);
  const first = await run(input);
  const calls = model.calls.length;
  const second = await run(input);
  assert.equal(model.calls.length, calls, 'no model call on the second pass');
  assert.equal(counters.cacheHits, 9);
  assert.ok(second.every((i) => i.kind === 'doc' && i.vector?.cached === true));
  second.forEach((i, k) => assert.deepEqual((i as DocItem).vector!.values, (first[k] as DocItem).vector!.values));
});

test('embed: a stored vector of another model, pooling or dtype is not used: the document is embedded again', async () => {
  const store = new MemoryEmbeddingStore({ name: 's', capacity: 10 });
  const other = new FakeEmbedder({ model: 'fake/other' });
  await setup({}, other, store).run([doc('a', 'alpha beta')]);
  const { run, model, counters } = setup({}, new FakeEmbedder(), store);
  const [out] = await run([doc('a', 'alpha beta')]);
  assert.equal(model.calls.length, 1);
  assert.equal(counters.staleInStore, 1);
  assert.equal((out as DocItem).vector!.model, 'fake/bag-of-words');
  assert.equal(store.get('a')!.model, 'fake/bag-of-words', 'the newer embedding replaces it, as in a compacted topic');
});

test('embed: the same id twice in one buffer is embedded once', async () => {
  const { run, model, counters } = setup();
  const out = await run([doc('a', 'alpha beta', 0), doc('a', 'alpha beta', 1), doc('b', 'gamma', 2)]);
  assert.deepEqual(model.calls, [['alpha beta', 'gamma']]);
  assert.equal(out.length, 3);
  assert.deepEqual((out[1] as DocItem).vector!.values, (out[0] as DocItem).vector!.values);
  assert.equal(counters.embedded, 2);
  assert.equal(counters.cacheHits, 1);
});

test('embed: dropped documents and dead letters pass through untouched and are not embedded', async () => {
  const { run, model } = setup();
  const dropped: DocItem = { ...doc('x', 'dropped text', 1), drop: dropDecision('x', 'exact', 'duplicate', '0', { duplicate_of: 'a' }) };
  const dead: Item = { kind: 'dead', seq: 2, origin: origin({}), dead: { origin: origin({}), id: null, stage: 'decode', error: 'malformed-json', message: 'x', raw: Buffer.from('x'), raw_size: 1, failed_at: 0 } };
  const out = await run([doc('a', 'alpha', 0), dropped, dead]);
  assert.equal(out[1], dropped);
  assert.equal(out[2], dead);
  assert.deepEqual(model.calls, [['alpha']]);
});

test('embed: empty texts are dead-lettered by this stage (blank, or nothing the tokenizer keeps); the rest go on', async () => {
  const { run, model, counters } = setup();
  const out = await run([doc('e1', '', 0), doc('e2', ' \n\t ', 1), doc('z', '\u200b\u200b', 2), doc('ok', 'real words here', 3)]);
  for (const i of out.slice(0, 3)) {
    assert.equal(i.kind, 'dead');
    if (i.kind !== 'dead') continue;
    assert.equal(i.dead.stage, 'embed');
    assert.equal(i.dead.error, 'empty-text');
    assert.ok(i.dead.id);
  }
  assert.equal(out[3]!.kind, 'doc');
  assert.ok((out[3] as DocItem).vector);
  assert.deepEqual(model.calls, [['\u200b\u200b', 'real words here']], 'blank texts never reach the model');
  assert.deepEqual(Object.fromEntries(counters.deadLettered), { 'empty-text': 3 });
});

test('embed: a text longer than maxTokens is embedded from its start, with the truncation in notes and counted', async () => {
  const { run, counters } = setup({}, new FakeEmbedder({ maxTokens: 6 }));
  const [long, short] = await run([doc('l', 'one two three four five six seven eight', 0), doc('s', 'one two', 1)]);
  assert.deepEqual((long as DocItem).notes, { embed_truncated: true, embed_tokens: 6 });
  assert.equal((long as DocItem).vector!.truncated, true);
  assert.equal((short as DocItem).notes, undefined);
  assert.equal(counters.truncated, 1);
});

test('embed: a partial buffer is embedded after maxWaitMs, before the source goes on (batching by time)', async () => {
  const { model } = setup();
  const t0 = Date.now();
  const times: number[] = [];
  const source = concat(of<Item>(doc('a', 'alpha', 0)), timer(300).pipe(map((): Item => doc('b', 'beta', 1))));
  await lastValueFrom(source.pipe(embed({ bufferSize: 100, maxWaitMs: 20, maxInFlight: 2 }, { embedder: model, store: new MemoryEmbeddingStore({ name: 't', capacity: 10 }) }), map(() => times.push(Date.now() - t0)), toArray()));
  assert.equal(model.calls.length, 2);
  assert.ok(times[0]! < 250, `first item out after ${times[0]} ms, before the second arrived`);
});

test('embed: an error upstream is passed on after the items before it', async () => {
  const { run } = setup({ bufferSize: 1 });
  const seen: string[] = [];
  await assert.rejects(lastValueFrom(concat(of<Item>(doc('a', 'alpha')), timer(50).pipe(map(() => { throw new Error('upstream'); })))
    .pipe(embed({ ...opts, bufferSize: 1 }, { embedder: new FakeEmbedder(), store: new MemoryEmbeddingStore({ name: 't', capacity: 10 }) }), map((i) => seen.push((i as DocItem).doc.id)))));
  assert.deepEqual(seen, ['a']);
  await assert.rejects(run(throwError(() => new Error('at once'))), /at once/);
});

test('embed: a failing model becomes an error notification (retriable for the runner), not a crash', async () => {
  const model = new FakeEmbedder({ failWith: () => Object.assign(new Error('session failed'), { retriable: true }) });
  const { run } = setup({}, model);
  await assert.rejects(run(docs(3)), /session failed/);
});

test('embed: early unsubscribe stops the stream; no item is lost before it', async () => {
  const { model } = setup();
  const out = await lastValueFrom(from(docs(12)).pipe(embed(opts, { embedder: model, store: new MemoryEmbeddingStore({ name: 't', capacity: 100 }) }), take(2), toArray()));
  assert.deepEqual(out.map((i) => (i as DocItem).doc.id), ['d0', 'd1']);
});

test('embedStage.build: params name what shapes the vectors; a factory-made embedder is owned and closed, a given one is not', async () => {
  const options = embedStage.options.parse({});
  const given = new FakeEmbedder();
  const built = await embedStage.build('embed', options, { hasher, embedder: given });
  assert.deepEqual(built.params, { model: 'fake/bag-of-words', pooling: 'mean', dtype: 'fp32', maxTokens: 16, dim: 8 });
  assert.deepEqual(built.stores, []);
  await built.close?.();
  assert.equal(given.closed, false);

  let made: FakeEmbedder | undefined;
  let asked: unknown;
  const owned = await embedStage.build('embed', embedStage.options.parse({ model: 'x/y', maxTokens: 128, dtype: 'fp32' }), {
    hasher, createEmbedder: async (o) => { asked = o; return (made = new FakeEmbedder({ model: o.model })); },
  });
  assert.equal((asked as { model: string; maxTokens: number; dtype: string }).model, 'x/y');
  assert.equal((asked as { maxTokens: number }).maxTokens, 128);
  await owned.close?.();
  assert.equal(made!.closed, true);

  await assert.rejects(async () => embedStage.build('embed', options, { hasher }), /needs deps.embedder or deps.createEmbedder/);
  assert.equal(embedStage.options.safeParse({ pooling: 'max' }).success, false);
  assert.equal(embedStage.options.safeParse({ device: 'tpu' }).success, false);
});
