import { test } from 'node:test';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { TestScheduler } from 'rxjs/testing';
import { from, lastValueFrom, map, toArray, type Observable } from 'rxjs';
import { near, nearScheme, nearStage, prepare, type NearOptions } from './near.js';
import { Shingler } from './shingles.js';
import { LshStore } from '../../state/lsh-store.js';
import { createHasher } from '../text/hash.js';
import { normalizeText } from '../text/normalize.js';
import { origin, type DocItem, type Item } from '../../records/item.js';

const hasher = await createHasher();

function doc(id: string, text: string, seq = 0): DocItem {
  return { kind: 'doc', seq, origin: origin({ file: 'test', line: seq + 1 }), doc: { id, url: null, fetched_at: null, content_type: null, language: null, text, metadata: {} } };
}

const defaults: NearOptions = { shingle: 'word', ngram: 5, caseFold: true, threshold: 0.65, verify: 'estimate', seed: 1 };

function newStore(options: Partial<NearOptions> = {}, capacity = 100): LshStore {
  const o = { ...defaults, ...options };
  return new LshStore({ name: 'near-lsh', capacity, bands: 18, rows: 6, scheme: nearScheme(o), keepShingles: o.verify === 'exact' });
}

/** What a marble diagram compares: the id, and who it duplicates when dropped. */
const view = (i: Item) => (i.kind === 'doc' ? (i.drop ? `${i.doc.id}>${i.drop.duplicate_of}` : i.doc.id) : `dead:${i.dead.error}`);

function scheduler() {
  return new TestScheduler((actual, expected) => assert.deepStrictEqual(actual, expected));
}

function run(source: Observable<Item>, options: Partial<NearOptions> = {}, store = newStore(options)) {
  return source.pipe(near({ ...defaults, ...options }, { store, hasher }), map(view));
}

const base = 'The committee met on Tuesday to review the proposed budget for the coming year, and after a long debate '
  + 'the members agreed to increase spending on schools and roads while cutting administrative costs across every department of the city';
const values = {
  a: doc('a', base),
  b: doc('b', `${base} today`), // one word appended: J = 35/36 (39 words, 35 5-grams)
  c: doc('c', 'A completely different text about the migration of birds across the northern seas in early spring, when the days grow longer and warmer.'),
  d: doc('d', base.toUpperCase().replace(/ /g, '\n  ')), // case and whitespace only
  e: doc('e', base.split(' ').map((w, i) => (i % 3 === 0 ? 'x' : w)).join(' ')), // a third of the words changed: J ≈ 0
  f: doc('f', '!!! ... ???'), // no word at all
  g: doc('g', '!!! ... ???'),
};

test('near: empty source completes with nothing', () => {
  scheduler().run(({ cold, expectObservable }) => {
    expectObservable(run(cold<Item>('|', values))).toBe('|');
  });
});

test('near: never-ending source emits nothing and never completes', () => {
  scheduler().run(({ cold, expectObservable }) => {
    expectObservable(run(cold<Item>('-', values))).toBe('-');
  });
});

test('near: one document is kept', () => {
  scheduler().run(({ cold, expectObservable }) => {
    expectObservable(run(cold<Item>('a|', values))).toBe('a|', { a: 'a' });
  });
});

test('near: many documents: near copies dropped against the first seen; different texts kept', () => {
  scheduler().run(({ cold, expectObservable }) => {
    expectObservable(run(cold<Item>('a-b-c-d-e|', values)))
      .toBe('a-b-c-d-e|', { a: 'a', b: 'b>a', c: 'c', d: 'd>a', e: 'e' });
  });
});

test('near: caseFold off makes an upper-cased copy a different text', () => {
  scheduler().run(({ cold, expectObservable }) => {
    expectObservable(run(cold<Item>('a-d|', values), { caseFold: false })).toBe('a-d|', { a: 'a', d: 'd' });
  });
});

test('near: a text without words is kept and not remembered', () => {
  scheduler().run(({ cold, expectObservable }) => {
    expectObservable(run(cold<Item>('f-g|', values))).toBe('f-g|', { f: 'f', g: 'g' });
  });
});

test('near: an error upstream is passed on', () => {
  scheduler().run(({ cold, expectObservable }) => {
    expectObservable(run(cold<Item>('a-#', values))).toBe('a-#', { a: 'a' });
  });
});

test('near: early unsubscribe stops the subscription', () => {
  scheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
    const src = cold<Item>('a-c-b-d|', values);
    expectObservable(run(src), '^--!').toBe('a-c', { a: 'a', c: 'c' });
    expectSubscriptions(src.subscriptions).toBe('^--!');
  });
});

test('near: a throwing store becomes an error notification, not a crash', () => {
  class FailingStore extends LshStore {
    override insert(id: string, signature: Uint32Array, shingles?: Uint32Array): number {
      if (id === 'c') throw new Error('store full of bees');
      return super.insert(id, signature, shingles);
    }
  }
  const o = { ...defaults };
  const store = new FailingStore({ name: 'near-lsh', capacity: 10, bands: 18, rows: 6, scheme: nearScheme(o) });
  scheduler().run(({ cold, expectObservable }) => {
    expectObservable(run(cold<Item>('a-b-c-d|', values), {}, store)).toBe('a-b-#', { a: 'a', b: 'b>a' }, new Error('store full of bees'));
  });
});

test('near: dropped documents and dead letters pass through untouched', () => {
  const dead: Item = { kind: 'dead', seq: 9, origin: origin({}), dead: { origin: origin({}), id: null, stage: 'decode', error: 'malformed-json', message: 'x', raw: Buffer.from('x'), raw_size: 1, failed_at: 0 } };
  const dropped: Item = { ...values.c, drop: { id: 'c', keep: false, stage: 'exact', reason: 'duplicate', duplicate_of: 'z', similarity: 1, cluster: null, centroid_version: null, distance: null, threshold: null, params_hash: '0', decided_at: 0 } };
  scheduler().run(({ cold, expectObservable }) => {
    // The already-dropped c is not remembered, so the second (live) c is kept.
    expectObservable(run(cold<Item>('a-x-y-c-b|', { ...values, x: dead, y: dropped })))
      .toBe('a-x-y-c-b|', { a: 'a', x: 'dead:malformed-json', y: 'c>z', c: 'c', b: 'b>a' });
  });
});

test('near: capacity bounds the store; an evicted document is no longer matched (the horizon)', () => {
  scheduler().run(({ cold, expectObservable }) => {
    // capacity 1: c evicts a, so b (a near copy of a) is kept.
    expectObservable(run(cold<Item>('a-c-b|', values), {}, newStore({}, 1))).toBe('a-c-b|', { a: 'a', c: 'c', b: 'b' });
  });
});

test('near: verify "exact" decides on exact shingle Jaccard', async () => {
  const store = newStore({ verify: 'exact' });
  const out = await lastValueFrom(from([values.a, values.b, values.e]).pipe(near({ ...defaults, verify: 'exact' }, { store, hasher }), toArray()));
  const drop = (out[1] as DocItem).drop!;
  assert.equal(drop.duplicate_of, 'a');
  assert.equal(drop.similarity, Math.round((35 / 36) * 1e4) / 1e4, '35 shared 5-grams of 36');
  assert.equal((out[2] as DocItem).drop, undefined);
  assert.throws(() => near({ ...defaults, verify: 'exact' }, { store: newStore(), hasher }), /keeps shingles/);
});

test('near: decisions carry stage, reason, evidence, threshold and the parameters hash', async () => {
  const out = await lastValueFrom(from([values.a, values.b]).pipe(near(defaults, { store: newStore(), hasher }), toArray()));
  const drop = (out[1] as DocItem).drop!;
  assert.deepEqual([drop.id, drop.keep, drop.stage, drop.reason, drop.duplicate_of, drop.threshold], ['b', false, 'near', 'near-duplicate', 'a', 0.65]);
  assert.ok(drop.similarity! >= 0.65 && drop.similarity! <= 1, `similarity ${drop.similarity}`);
  assert.match(drop.params_hash, /^[0-9a-f]{16}$/);
  const other = await lastValueFrom(from([values.a, values.b]).pipe(near({ ...defaults, threshold: 0.6 }, { store: newStore(), hasher }), toArray()));
  assert.notEqual((other[1] as DocItem).drop!.params_hash, drop.params_hash, 'different parameters, different hash');
  assert.throws(() => near({ ...defaults, seed: 2 }, { store: newStore(), hasher }), /holds .* signatures/);
});

test('near: word shingles of prepare() equal those of the shared normalizeText, on awkward and on real multilingual text', () => {
  // Raw Common Crawl WET extracts (many languages, messy whitespace), read from ../shared/data.
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
  const wet = readFileSync(resolve(root, '..', 'shared', 'data', 'web', 'cc-wet-697.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { text: string }).text);
  const texts = [base, values.d.doc.text, '  Tabs\tand\u00a0no-break\u2003spaces\u3000ideographic\r\nCRLF \ufeffBOM ', 'Cafe\u0301 CAF\u00c9 İstanbul ǅ straße', '😀 emoji 😀 words 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 text', ...wet];
  const s = new Shingler({ mode: 'word', n: 2 });
  const shingles = (t: string) => { const n = s.shingle(t); return [...s.hashes.subarray(0, n)]; };
  for (const caseFold of [true, false]) {
    for (const t of texts) assert.deepEqual(shingles(prepare(t, { shingle: 'word', caseFold })), shingles(normalizeText(t, { caseFold })), t);
  }
  assert.equal(prepare(' a  b ', { shingle: 'char', caseFold: false }), 'a b', 'character shingles see the normalised whitespace');
});

test('near stage definition: defaults, store name, summary with b × r and thresholds, options validated', () => {
  const o = nearStage.options.parse({});
  assert.deepEqual(o, { shingle: 'word', ngram: 5, caseFold: true, bands: 18, rows: 6, threshold: 0.65, verify: 'estimate', capacity: 1_000_000, seed: 1 });
  assert.equal(nearStage.options.parse({ shingle: 'char' }).ngram, 24);
  assert.deepEqual(nearStage.stores('near'), ['near-lsh']);
  assert.match(nearStage.summary, /18 × 6/);
  assert.match(nearStage.summary, /\(1\/b\)\^\(1\/r\) = 0\.62/);
  assert.match(nearStage.summary, /≥ 0\.65/);
  assert.equal(nearStage.options.safeParse({ bands: 0 }).success, false);
  assert.equal(nearStage.options.safeParse({ threshold: 1.5 }).success, false);
  assert.equal(nearStage.options.safeParse({ bogus: 1 }).success, false);
});

test('near stage: built from its definition, it drops and owns one store', async () => {
  const built = await nearStage.build('near', nearStage.options.parse({ capacity: 10 }), { hasher });
  assert.equal(built.stores.length, 1);
  assert.equal(built.stores[0]!.name, 'near-lsh');
  const out = await lastValueFrom(from([values.a, values.b]).pipe(built.operator, map(view), toArray()));
  assert.deepEqual(out, ['a', 'b>a']);
  assert.equal(built.stores[0]!.size(), 1, 'the duplicate is not stored');
});
