import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterIndexStore, type IndexHit } from './cluster-index-store.js';
import { exactAnnIndex } from './ann.js';
import { setSelectionKernel, type SelectionKernel } from '../kernels/dot-simd.js';
import { normalized, Rng } from '../centroids/vectors.js';

function store(mode: SelectionKernel, capacity = 10_000) {
  setSelectionKernel(mode);
  try {
    return new ClusterIndexStore({ name: 'ix', factory: exactAnnIndex, capacity, m: 16, efConstruction: 100, efSearch: 64, seed: 1 });
  } finally {
    setSelectionKernel(undefined);
  }
}

/** Batches of documents around a few topics, with exact and near copies, inside a batch and across batches. */
function batches(seed: number) {
  const rng = new Rng(seed);
  const g = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  const dim = 48;
  const topics = Array.from({ length: 6 }, () => normalized(Array.from({ length: dim }, g)));
  const all: Float32Array[] = [];
  const out: { vectors: Float32Array[]; clusters: Int32Array; alternates: Int32Array; ids: string[] }[] = [];
  for (let b = 0; b < 12; b++) {
    const size = 1 + rng.int(90);
    const vectors: Float32Array[] = [];
    const clusters = new Int32Array(size);
    const alternates = new Int32Array(size);
    for (let i = 0; i < size; i++) {
      const r = rng.next();
      const v = r < 0.1 && all.length > 0 ? all[rng.int(all.length)]!.slice() // an exact copy
        : r < 0.3 && all.length > 0 ? normalized(Array.from(all[rng.int(all.length)]!, (x) => x + 0.04 * g())) // a near copy
          : normalized(Array.from(topics[rng.int(6)]!, (x) => x + 0.25 * g()));
      vectors.push(v);
      all.push(v);
      clusters[i] = rng.int(6);
      alternates[i] = rng.next() < 0.2 ? -1 : (clusters[i]! + 1 + rng.int(5)) % 6;
    }
    out.push({ vectors, clusters, alternates, ids: vectors.map((_, i) => `b${b}-${i}`) });
  }
  return out;
}

for (const [name, capacity] of [['no forgetting', 10_000], ['clusters that forget', 40], ['clusters that forget twice in a batch', 16]] as const) {
  test(`ClusterIndexStore.nearestAbove: the answers of one-by-one nearest + add, whole batches at a time (${name})`, () => {
    for (const threshold of [0.9, 0.97, 1]) {
      const fast = store('simd', capacity);
      const slow = store('reference', capacity);
      const js = store('js', capacity);
      for (const b of batches(Math.round(threshold * 100))) {
        const want: (IndexHit | undefined)[] = [];
        b.vectors.forEach((v, i) => {
          let best = slow.nearest(b.clusters[i]!, v);
          if (best && best.similarity < threshold) best = undefined;
          if (b.alternates[i]! >= 0) {
            let other = slow.nearest(b.alternates[i]!, v);
            if (other && other.similarity < threshold) other = undefined;
            if (other && (!best || other.similarity > best.similarity)) best = other;
          }
          slow.add(b.clusters[i]!, v, b.ids[i]!);
          want.push(best);
        });
        assert.deepEqual(fast.nearestAbove(b, threshold), want);
        assert.deepEqual(js.nearestAbove(b, threshold), want);
      }
      assert.deepEqual(fast.clusterSizes(), slow.clusterSizes());
      assert.deepEqual(fast.snapshot(), slow.snapshot(), 'the same documents, ids and vectors');
      if (capacity < 100) assert.ok(fast.size() < batches(Math.round(threshold * 100)).reduce((s, b) => s + b.vectors.length, 0), 'clusters forgot');
    }
  });
}

test('ClusterIndexStore: snapshot and changelog restore give the same answers; pages are reused after forgetting', () => {
  const a = store('simd', 30);
  const all = batches(5);
  for (const b of all.slice(0, 6)) a.nearestAbove(b, 0.95);
  const b2 = store('simd', 30);
  b2.restore(a.snapshot());
  const c = store('simd', 30);
  const d = store('simd', 30);
  for (const b of all.slice(0, 6)) d.nearestAbove(b, 0.95);
  for (const ch of d.drainChanges()) c.applyChange(ch);
  for (const b of all.slice(6)) {
    const want = a.nearestAbove(b, 0.95);
    assert.deepEqual(b2.nearestAbove(b, 0.95), want);
    assert.deepEqual(c.nearestAbove(b, 0.95), want);
  }
  assert.ok(a.size() <= 6 * 30, 'clusters forgot');
});

test('ClusterIndexStore: a re-filing writes one 4-byte move record a document; its changelog, whole or compacted, restores the re-filed clusters', () => {
  const all = batches(9);
  // Re-filings that move most documents: the new cluster is a function of the vector alone.
  const refile = (s: ClusterIndexStore, salt: number) => s.refile((vs) => vs.map((v) => Math.floor(Math.abs(v[salt]! * 1e4)) % 6), 6);
  const live = store('simd', 60);
  const log: { key: string; value: Buffer | null }[] = [];
  const step = (from: number, to: number) => { for (const b of all.slice(from, to)) live.nearestAbove(b, 0.95); log.push(...live.drainChanges()); };
  step(0, 4);
  const indexed = live.size();
  refile(live, 3);
  const moves = live.drainChanges();
  assert.equal(moves.filter((c) => c.key.startsWith('m') && c.value !== null).length, indexed, 'one move record per indexed document (then forgetting deletes some)');
  assert.ok(moves.every((c) => !c.key.startsWith('m') || c.value === null || c.value.length === 4), 'move records are 4 bytes');
  log.push(...moves);
  step(4, 7);
  refile(live, 5);
  log.push(...live.drainChanges());
  step(7, 9);
  const compacted = new Map<string, Buffer | null>();
  for (const c of log) { compacted.delete(c.key); compacted.set(c.key, c.value); }
  const whole = store('simd', 60);
  for (const c of log) whole.applyChange(c);
  const fromCompacted = store('simd', 60);
  for (const [key, value] of compacted) if (value !== null) fromCompacted.applyChange({ key, value });
  assert.deepEqual(whole.clusterSizes(), live.clusterSizes());
  assert.deepEqual(fromCompacted.clusterSizes(), live.clusterSizes());
  for (const b of all.slice(9)) {
    const want = live.nearestAbove(b, 0.95);
    assert.deepEqual(whole.nearestAbove(b, 0.95), want);
    assert.deepEqual(fromCompacted.nearestAbove(b, 0.95), want);
  }
  assert.throws(() => store('simd').applyChange({ key: 'm3', value: Buffer.alloc(3) }), /record m3 has 3 bytes, not 4/);
  for (const key of ['x3', 'm', '', '-1', '1.5']) assert.throws(() => store('simd').applyChange({ key, value: Buffer.alloc(4) }), new RegExp(`unknown changelog key ${key.replace('.', '\\.')}`));
});

test('ClusterIndexStore.nearestAbove: a cluster that forgets twice inside one batch is searched as it is at each lookup', () => {
  // Capacity 16 in one cluster: the 17th document makes it keep its newest 8, so in a batch of 30
  // the first documents are forgotten before the last ones are looked up.
  const rng = new Rng(3);
  const g = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  const fresh = () => normalized(Array.from({ length: 24 }, g));
  const first = Array.from({ length: 10 }, fresh);
  const second = Array.from({ length: 30 }, fresh);
  second[29] = second[0]!.slice(); // forgotten by then: no hit
  second[28] = second[27]!.slice(); // still held: a hit
  second[20] = first[9]!.slice(); // a stored row, forgotten at the batch's 7th document
  const ids = (b: Float32Array[], p: string) => b.map((_, i) => `${p}${i}`);
  for (const mode of ['simd', 'js'] as const) {
    const s = store(mode, 16);
    const slow = store('reference', 16);
    for (const [b, p] of [[first, 'a'], [second, 'b']] as const) {
      const batch = { vectors: b, clusters: new Int32Array(b.length), ids: ids(b, p) };
      const want = b.map((v, i) => {
        const hit = slow.nearest(0, v);
        slow.add(0, v, batch.ids[i]!);
        return hit && hit.similarity >= 0.99 ? hit : undefined;
      });
      const got = s.nearestAbove(batch, 0.99);
      assert.deepEqual(got, want, `${mode}, batch ${p}`);
      if (p === 'b') {
        assert.equal(got[28]?.id, 'b27');
        assert.equal(got[29], undefined, 'its copy was forgotten');
        assert.equal(got[20], undefined, 'the stored copy was forgotten');
        assert.equal(got.filter(Boolean).length, 1);
      }
    }
    assert.equal(s.size(), slow.size());
    assert.deepEqual(s.snapshot(), slow.snapshot());
  }
});

test('ClusterIndexStore.nearestAbove: a batch whose products take several jobs (big clusters, many lookups) answers as one by one', () => {
  // 8 clusters of ~1,000 documents and batches of 1,000 lookups (two clusters each): ~2M products a batch.
  const rng = new Rng(8);
  const g = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  const all: Float32Array[] = [];
  const fast = store('simd');
  const slow = store('reference');
  let hits = 0;
  for (let b = 0; b < 9; b++) {
    const vectors = Array.from({ length: 1000 }, () => {
      const v = all.length > 0 && rng.next() < 0.05 ? all[rng.int(all.length)]!.slice() : normalized(Array.from({ length: 32 }, g));
      all.push(v);
      return v;
    });
    const batch = { vectors, clusters: Int32Array.from(vectors, () => rng.int(8)), alternates: Int32Array.from(vectors, () => rng.int(8)), ids: vectors.map((_, i) => `${b}-${i}`) };
    const want = vectors.map((v, i) => {
      const hit = [slow.nearest(batch.clusters[i]!, v), slow.nearest(batch.alternates[i]!, v)]
        .filter((h) => h && h.similarity >= 0.95)
        .reduce<IndexHit | undefined>((best, h) => (!best || h!.similarity > best.similarity ? h : best), undefined);
      slow.add(batch.clusters[i]!, v, batch.ids[i]!);
      return hit;
    });
    hits += want.filter(Boolean).length;
    assert.deepEqual(fast.nearestAbove(batch, 0.95), want, `batch ${b}`);
  }
  assert.ok(hits > 50, `${hits} copies found`);
});
