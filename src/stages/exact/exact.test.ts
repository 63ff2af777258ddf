import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TestScheduler } from 'rxjs/testing';
import { map, type Observable } from 'rxjs';
import { exact } from './exact.js';
import { FifoMapStore } from '../../state/fifo-map-store.js';
import { createHasher, type Hasher } from '../text/hash.js';
import { origin, type DocItem, type Item } from '../../records/item.js';

const hasher = await createHasher();

function doc(id: string, text: string, seq = 0): DocItem {
  return { kind: 'doc', seq, origin: origin({ file: 'test', line: seq + 1 }), doc: { id, url: null, fetched_at: null, content_type: null, language: null, text, metadata: {} } };
}

/** What a marble diagram compares: the id, and who it duplicates when dropped. */
const view = (i: Item) => (i.kind === 'doc' ? (i.drop ? `${i.doc.id}>${i.drop.duplicate_of}` : i.doc.id) : `dead:${i.dead.error}`);

function scheduler() {
  return new TestScheduler((actual, expected) => assert.deepStrictEqual(actual, expected));
}

function run(source: Observable<Item>, h: Hasher = hasher, caseFold = false, capacity = 100) {
  return source.pipe(exact({ caseFold }, { store: new FifoMapStore({ name: 'seen', capacity }), hasher: h }), map(view));
}

const values = {
  a: doc('a', 'The cat sat.'),
  b: doc('b', 'A dog barked.'),
  c: doc('c', '  The  cat\n sat. '), // same text as a after whitespace normalisation
  d: doc('d', 'The cat sat.'), // byte-identical to a
  e: doc('e', 'Cafe\u0301 au lait'), // decomposed é
  f: doc('f', 'Caf\u00e9 au lait'), // composed é: same after NFC
  g: doc('g', 'THE CAT SAT.'),
};

test('exact: empty source completes with nothing', () => {
  scheduler().run(({ cold, expectObservable }) => {
    expectObservable(run(cold<Item>('|', values))).toBe('|');
  });
});

test('exact: never-ending source emits nothing and never completes', () => {
  scheduler().run(({ cold, expectObservable }) => {
    expectObservable(run(cold<Item>('-', values))).toBe('-');
  });
});

test('exact: one document is kept', () => {
  scheduler().run(({ cold, expectObservable }) => {
    expectObservable(run(cold<Item>('a|', values))).toBe('a|', { a: 'a' });
  });
});

test('exact: many documents: later copies dropped with the first copy as evidence, NFC and whitespace normalised', () => {
  scheduler().run(({ cold, expectObservable }) => {
    expectObservable(run(cold<Item>('a-b-c-d-e-f-g|', values)))
      .toBe('a-b-c-d-e-f-g|', { a: 'a', b: 'b', c: 'c>a', d: 'd>a', e: 'e', f: 'f>e', g: 'g' });
  });
});

test('exact: caseFold makes case variants duplicates', () => {
  scheduler().run(({ cold, expectObservable }) => {
    expectObservable(run(cold<Item>('a-g|', values), hasher, true)).toBe('a-g|', { a: 'a', g: 'g>a' });
  });
});

test('exact: an error upstream is passed on', () => {
  scheduler().run(({ cold, expectObservable }) => {
    expectObservable(run(cold<Item>('a-#', values))).toBe('a-#', { a: 'a' });
  });
});

test('exact: early unsubscribe stops the subscription', () => {
  scheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
    const src = cold<Item>('a-b-c-d|', values);
    expectObservable(run(src), '^--!').toBe('a-b', { a: 'a', b: 'b' });
    expectSubscriptions(src.subscriptions).toBe('^--!');
  });
});

test('exact: a throwing hash function becomes an error notification, not a crash', () => {
  // Throws on the second document's text only, so the first decision is still delivered.
  const throwing: Hasher = { h64: (s) => { if (s.includes('dog')) throw new Error('boom'); return hasher.h64(s); } };
  scheduler().run(({ cold, expectObservable }) => {
    expectObservable(run(cold<Item>('a-b-c|', values), throwing)).toBe('a-#', { a: 'a' }, new Error('boom'));
  });
});

test('exact: dropped documents and dead letters pass through untouched', () => {
  const dead: Item = { kind: 'dead', seq: 9, origin: origin({}), dead: { origin: origin({}), id: null, stage: 'decode', error: 'malformed-json', message: 'x', raw: Buffer.from('x'), raw_size: 1, failed_at: 0 } };
  scheduler().run(({ cold, expectObservable }) => {
    expectObservable(run(cold<Item>('a-x-d|', { ...values, x: dead }))).toBe('a-x-d|', { a: 'a', x: 'dead:malformed-json', d: 'd>a' });
  });
});

test('exact: capacity bounds the store; an evicted text is kept again (the de-duplication horizon)', () => {
  scheduler().run(({ cold, expectObservable }) => {
    // capacity 1: b evicts a, so d (a copy of a) is no longer recognised.
    expectObservable(run(cold<Item>('a-b-d|', values), hasher, false, 1)).toBe('a-b-d|', { a: 'a', b: 'b', d: 'd' });
  });
});

test('exact: decisions carry stage, reason, evidence and the parameters hash', async () => {
  const { lastValueFrom, from, toArray } = await import('rxjs');
  const store = new FifoMapStore({ name: 'seen', capacity: 10 });
  const out = await lastValueFrom(from([values.a, values.d]).pipe(exact({ caseFold: false }, { store, hasher }), toArray()));
  const drop = (out[1] as DocItem).drop!;
  assert.equal(drop.stage, 'exact');
  assert.equal(drop.reason, 'duplicate');
  assert.equal(drop.duplicate_of, 'a');
  assert.equal(drop.keep, false);
  assert.match(drop.params_hash, /^[0-9a-f]{16}$/);
  const other = await lastValueFrom(from([values.a, values.d]).pipe(exact({ caseFold: true }, { store: new FifoMapStore({ name: 's', capacity: 10 }), hasher }), toArray()));
  assert.notEqual((other[1] as DocItem).drop!.params_hash, drop.params_hash, 'different parameters, different hash');
});
