import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LshStore, bandKey, signatureWords } from './lsh-store.js';
import type { Change } from './store.js';

const [bands, rows] = [4, 2];
const words = signatureWords(bands * rows);

function store(capacity: number, name = 'near-lsh', scheme = 's1', keepShingles = false) {
  return new LshStore({ name, capacity, bands, rows, scheme, keepShingles });
}

/** A signature whose 8 nibbles are the hex digits given (band i = digits 2i, 2i+1). */
const sig = (hex: string) => Uint32Array.from([parseInt([...hex].reverse().join(''), 16) >>> 0]);

function found(s: LshStore, signature: Uint32Array): string[] {
  const n = s.findCandidates(signature);
  return [...new Set([...s.candidates.subarray(0, n)].map((slot) => s.id(slot)))].sort();
}

test('bandKey: packs the rows of a band; equal bands, equal keys', () => {
  const a = sig('12345678');
  assert.equal(bandKey(a, 0, 0, 2), 0x12);
  assert.equal(bandKey(a, 0, 3, 2), 0x78);
  assert.equal(bandKey(sig('12ffffff'), 0, 0, 2), bandKey(a, 0, 0, 2));
});

test('LshStore: a document is a candidate when it shares any band', () => {
  const s = store(10);
  s.insert('a', sig('12345678'));
  s.insert('b', sig('99999999'));
  assert.deepEqual(found(s, sig('12000000')), ['a'], 'first band shared');
  assert.deepEqual(found(s, sig('00000078')), ['a'], 'last band shared');
  assert.deepEqual(found(s, sig('10305070')), [], 'rows of different bands do not count');
  assert.deepEqual(found(s, sig('12999999')), ['a', 'b']);
  assert.equal(s.findCandidates(sig('12345678')), 1, 'once, though it shares every band');
  assert.equal(s.findCandidates(sig('12345678')), 1, 'and again on the next lookup');
  assert.equal(s.findCandidates(sig('12999999')), 2, 'a once (first band), b once (three bands)');
});

test('LshStore: FIFO eviction removes the oldest document and its band entries', () => {
  const s = store(2);
  s.insert('a', sig('11111111'));
  s.insert('b', sig('22222222'));
  s.insert('c', sig('33333333'));
  assert.deepEqual(found(s, sig('11111111')), []);
  assert.deepEqual(found(s, sig('22222222')), ['b']);
  assert.equal(s.size(), 2);
  assert.equal(s.age(1), 1, 'b is now the oldest');
  assert.equal(s.age(0), 0, 'c went into a\'s slot');
});

test('LshStore: under heavy churn the band table answers exactly like a brute-force scan', () => {
  // Small capacity and many inserts: exercises tombstones and the periodic rebuild.
  const capacity = 200;
  const s = store(capacity);
  let seed = 1;
  const rnd = () => { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; return seed; };
  const live: [string, Uint32Array][] = [];
  for (let n = 0; n < capacity * 25; n++) {
    // Few distinct band values so that buckets hold many documents.
    const signature = Uint32Array.from([rnd() & 0x33333333]);
    if (n % 7 === 0) {
      const brute = live.filter(([, other]) => [0, 1, 2, 3].some((b) => bandKey(other, 0, b, rows) === bandKey(signature, 0, b, rows))).map(([id]) => id).sort();
      assert.deepEqual(found(s, signature), [...new Set(brute)], `query at insert ${n}`);
    }
    s.insert(`d${n}`, signature);
    live.push([`d${n}`, signature]);
    if (live.length > capacity) live.shift();
  }
});

test('LshStore: snapshot/restore and changelog replay both rebuild the same state, recording no changes', () => {
  const s = store(3, 'near-lsh', 's1', true);
  const docs = ['11111111', '22222222', '33333333', '44444444', '55555555'];
  const changes: Change[] = [];
  docs.forEach((hex, i) => {
    s.insert(`d${i}`, sig(hex), Uint32Array.from([i, i + 1]));
    changes.push(...s.drainChanges()); // as the runner does after each batch
  });
  const fromSnapshot = store(3, 'near-lsh', 's1', true);
  fromSnapshot.restore(s.snapshot());
  const fromChangelog = store(3, 'near-lsh', 's1', true);
  assert.deepEqual(changes.map((c) => c.key), ['0', '1', '2', '0', '1'], 'key = slot; a slot is rewritten, never deleted');
  for (const c of changes) fromChangelog.applyChange(c);
  for (const r of [fromSnapshot, fromChangelog]) {
    assert.equal(r.size(), 3);
    assert.deepEqual(docs.map((hex) => found(r, sig(hex))), [[], [], ['d2'], ['d3'], ['d4']]);
    assert.deepEqual([...r.shingles(1)!], [4, 5]);
    assert.deepEqual(r.drainChanges(), [], 'restoring records no new changes');
    // Eviction order survives: the next insert evicts d2, the oldest.
    r.insert('d5', sig('66666666'));
    assert.deepEqual(found(r, sig('33333333')), []);
    assert.deepEqual(found(r, sig('44444444')), ['d3']);
  }
});

test('LshStore: a compacted changelog (latest record per slot) is enough', () => {
  const s = store(3);
  for (let i = 0; i < 8; i++) s.insert(`d${i}`, sig(String(i).repeat(8)));
  const latest = new Map(s.drainChanges().map((c) => [c.key, c]));
  const r = store(3);
  for (const c of latest.values()) r.applyChange(c);
  assert.deepEqual(['5', '6', '7'].map((d) => found(r, sig(d.repeat(8)))), [['d5'], ['d6'], ['d7']]);
  assert.deepEqual(found(r, sig('44444444')), []);
  r.insert('d8', sig('88888888'));
  assert.deepEqual(found(r, sig('55555555')), [], 'd5 was the oldest');
});

test('LshStore: more than capacity inserts between drains report each slot once, with its latest content', () => {
  const s = store(2);
  for (let i = 0; i < 5; i++) s.insert(`d${i}`, sig(String(i).repeat(8)));
  assert.deepEqual(s.drainChanges().map((c) => c.key), ['1', '0']);
});

test('LshStore: restoring into another capacity keeps the newest documents', () => {
  const s = store(4);
  for (let i = 0; i < 6; i++) s.insert(`d${i}`, sig(String(i).repeat(8)));
  const smaller = store(2);
  smaller.restore(s.snapshot());
  assert.deepEqual(['2', '3', '4', '5'].map((d) => found(smaller, sig(d.repeat(8)))), [[], [], ['d4'], ['d5']]);
  smaller.insert('d6', sig('66666666'));
  assert.deepEqual(found(smaller, sig('44444444')), [], 'd4 was the oldest');
});

test('LshStore: refuses bad options, another store\'s snapshot, other signature parameters, a changelog of another capacity', () => {
  assert.throws(() => store(0), /capacity must be a positive integer/);
  assert.throws(() => new LshStore({ name: 's', capacity: 1, bands: 0, rows: 1, scheme: 'x' }), /bands and rows/);
  const s = store(2);
  s.insert('a', sig('12345678'));
  assert.throws(() => store(2, 'other').restore(s.snapshot()), /not of this store/);
  assert.throws(() => store(2, 'near-lsh', 's2').restore(s.snapshot()), /other signature parameters/);
  assert.throws(() => store(2).restore(Buffer.from('garbage')), /not an LSH store snapshot|not of this store/);
  const change = s.drainChanges()[0]!;
  assert.throws(() => store(3).applyChange({ key: '1', value: change.value }), /another capacity/);
  assert.throws(() => store(3).applyChange({ key: '0', value: null }), /never deletes/);
});

test('LshStore: bytes() counts the slab, the table and the ids', () => {
  const s = store(1000);
  const empty = s.bytes();
  assert.ok(empty >= 1000 * words * 4 + 1000 * bands * 4, 'slab and table are allocated up front');
  for (let i = 0; i < 1000; i++) s.insert(`document-${i}`, sig('12345678'));
  assert.ok(s.bytes() > empty + 1000 * 'document-0'.length);
});
