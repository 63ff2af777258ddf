import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TestScheduler } from 'rxjs/testing';
import { from, lastValueFrom, map, toArray, type Observable } from 'rxjs';
import { prototype, prototypeStage, type PrototypeCounts, type PrototypeOptions, type PrototypeReport } from './prototype.js';
import { HistogramSketch } from './histogram-sketch.js';
import { SketchStore } from './sketch-store.js';
import { CentroidStore } from '../centroids/centroid-store.js';
import { OnlineCentroids, type CentroidOptions } from '../centroids/online-centroids.js';
import { WarmupStore } from '../centroids/warmup-store.js';
import { semanticStage } from '../semantic/semantic.js';
import { normalized, Rng } from '../centroids/vectors.js';
import { JsonStore } from '../../state/json-store.js';
import { createHasher } from '../text/hash.js';
import { dropDecision, origin, type DocItem, type Item } from '../../records/item.js';

const hasher = await createHasher();

function vdoc(id: string, values: ArrayLike<number>, seq = 0): DocItem {
  return {
    kind: 'doc', seq, origin: origin({ file: 'test', line: seq + 1 }),
    doc: { id, url: null, fetched_at: null, content_type: null, language: null, text: id, metadata: {} },
    vector: { model: 'test', pooling: 'mean', dtype: 'fp32', values: normalized(values), tokens: 1, truncated: false, cached: false },
  };
}

const view = (i: Item) => (i.kind === 'doc' ? (i.drop ? `${i.doc.id}:${i.drop.stage}` : i.doc.id) : `dead:${i.dead.error}`);

function parts(c: Partial<CentroidOptions> = {}) {
  const o: CentroidOptions = { k: 2, warmupDocs: 1000, sampleSize: 1000, iterations: 10, halfLife: 0, seed: 1, refitGrowth: 0, ...c };
  const centroidStore = new CentroidStore('prototype-centroids', 'h');
  const warmup = new WarmupStore('prototype-warmup', o.sampleSize, o.seed);
  const sketches = new SketchStore('prototype-sketches');
  const counts = new JsonStore<PrototypeCounts>('prototype-counts', { seen: 0, live: 0, kept: 0 });
  return { centroids: new OnlineCentroids(centroidStore, warmup, o), sketches, counts, hasher, stores: [centroidStore, warmup, sketches, counts] };
}

const options = (o: Partial<PrototypeOptions> = {}): PrototypeOptions => ({ targetRatio: 0.5, scope: 'cluster', minClusterCount: 4, halfLife: 0, params: {}, ...o });

/** A cluster along x: `far` documents are far from its centroid, `near` ones close to it. */
const values = {
  n: vdoc('n', [1, 0.01, 0, 0]),
  m: vdoc('m', [1, 0, 0.01, 0]),
  f: vdoc('f', [1, 0.6, 0, 0]),
  g: vdoc('g', [1, 0, 0.6, 0]),
};

function scheduler() {
  return new TestScheduler((actual, expected) => assert.deepStrictEqual(actual, expected));
}

function run(source: Observable<Item>, o = options(), p = parts({ k: 1 })) {
  return source.pipe(prototype(o, p), map(view));
}

test('HistogramSketch: quantiles and CDF within half a bin of the exact ones; decay favours recent values; JSON and byte round trips', () => {
  const rng = new Rng(4);
  const xs = Array.from({ length: 20_000 }, () => 0.2 + 0.6 * rng.next() * rng.next());
  const s = new HistogramSketch();
  for (const x of xs) s.add(x);
  const sorted = [...xs].sort((a, b) => a - b);
  for (const q of [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99]) {
    assert.ok(Math.abs(s.quantile(q) - sorted[Math.floor(q * (xs.length - 1))]!) < 0.002, `q ${q}`);
    assert.ok(Math.abs(s.cdf(s.quantile(q)) - q) < 1e-6);
  }
  assert.deepEqual(HistogramSketch.fromJSON(JSON.parse(JSON.stringify(s.toJSON()))).toJSON(), s.toJSON());
  // The changelog's bytes: exact, 10 bytes a non-zero bin; the JSON of older changelogs still reads.
  const bytes = s.toBytes();
  assert.deepEqual(HistogramSketch.fromBytes(bytes).toJSON(), s.toJSON());
  assert.equal(bytes.length, 40 + 10 * s.toJSON().bins.length);
  assert.equal(bytes[0], 2);
  assert.deepEqual(HistogramSketch.fromBytes(Buffer.from(JSON.stringify(s.toJSON()))).toJSON(), s.toJSON());
  // Format 1 (changelogs of 2026-12-03): format byte, at, n, total, count, then per bin its index and weight.
  const j = s.toJSON();
  const v1 = Buffer.alloc(29 + 10 * j.bins.length);
  v1[0] = 1;
  v1.writeDoubleLE(j.at, 1); v1.writeDoubleLE(j.n, 9); v1.writeDoubleLE(j.total, 17); v1.writeUInt32LE(j.bins.length, 25);
  j.bins.forEach(([i, w], c) => { v1.writeUInt16LE(i, 29 + 10 * c); v1.writeDoubleLE(w, 31 + 10 * c); });
  assert.deepEqual(HistogramSketch.fromBytes(v1).toJSON(), j, 'format 1 still reads');
  // A record at an odd offset of a larger buffer (as a Kafka message may be): read all the same.
  const odd = Buffer.concat([Buffer.from([7]), bytes]).subarray(1);
  assert.deepEqual(HistogramSketch.fromBytes(odd).toJSON(), j);
  assert.deepEqual(HistogramSketch.fromBytes(new HistogramSketch().toBytes()).toJSON(), new HistogramSketch().toJSON());
  assert.throws(() => HistogramSketch.fromBytes(bytes.subarray(0, bytes.length - 3)), /bins need/);
  assert.throws(() => HistogramSketch.fromBytes(Buffer.from([9, 1, 2])), /format byte 9/);
  const d = new HistogramSketch();
  for (let i = 0; i < 100; i++) d.add(0.2);
  d.decayTo(3); // three half-lives later: the old values weigh 1/8
  for (let i = 0; i < 100; i++) d.add(0.8);
  assert.ok(Math.abs(d.cdf(0.5) - 12.5 / 112.5) < 1e-9);
  assert.equal(new HistogramSketch().quantile(0.5), 0, 'an empty sketch answers the low end');
});

test('prototype: empty source completes with nothing', () => {
  scheduler().run(({ cold, expectObservable }) => {
    expectObservable(run(cold<Item>('|', values))).toBe('|');
  });
});

test('prototype: never-ending source emits nothing and never completes', () => {
  scheduler().run(({ cold, expectObservable }) => {
    expectObservable(run(cold<Item>('n-f-', values))).toBe('----');
  });
});

test('prototype: one document at R = 0.5 is kept (the batch may keep round(0.5 · 1) = 1)', () => {
  scheduler().run(({ cold, expectObservable }) => {
    expectObservable(run(cold<Item>('n|', values))).toBe('-(n|)', { n: 'n' });
  });
});

test('prototype: many documents: the farthest from the centroid survive, the most prototypical are dropped, judged after the whole batch', () => {
  scheduler().run(({ cold, expectObservable }) => {
    expectObservable(run(cold<Item>('n-f-m-g|', values)))
      .toBe('-------(nfmg|)', { n: 'n:prototype', f: 'f', m: 'm:prototype', g: 'g' });
  });
});

test('prototype: an error upstream is passed on', () => {
  scheduler().run(({ cold, expectObservable }) => {
    expectObservable(run(cold<Item>('n-#', values))).toBe('--#');
  });
});

test('prototype: early unsubscribe stops the subscription', () => {
  scheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
    const src = cold<Item>('n-f-m|', values);
    expectObservable(run(src), '^-!').toBe('--');
    expectSubscriptions(src.subscriptions).toBe('^-!');
  });
});

test('prototype: a throwing report callback becomes an error notification', () => {
  scheduler().run(({ cold, expectObservable }) => {
    const p = { ...parts({ k: 1 }), report: () => { throw new Error('boom'); } };
    expectObservable(run(cold<Item>('n-f|', values), options(), p)).toBe('---#', undefined, new Error('boom'));
  });
});

test('prototype: documents dropped upstream count toward the ratio and pass through; dead letters do not count', async () => {
  const dead: Item = { kind: 'dead', seq: 9, origin: origin({}), dead: { origin: origin({}), id: null, stage: 'decode', error: 'malformed-json', message: 'x', raw: Buffer.from('x'), raw_size: 1, failed_at: 0 } };
  const gone = (id: string): Item => ({ ...vdoc(id, [0, 1, 0, 0]), drop: dropDecision(id, 'exact', 'duplicate', 'h', { duplicate_of: 'z' }) });
  const p = parts({ k: 1 });
  // 8 documents, R = 0.5: 4 may be kept; 4 were dropped upstream, so all 4 live ones are kept.
  const out = await lastValueFrom(from([gone('x1'), values.n, gone('x2'), values.f, dead, gone('x3'), values.m, gone('x4'), values.g]).pipe(prototype(options(), p), toArray()));
  assert.deepEqual(out.map(view), ['x1:exact', 'n', 'x2:exact', 'f', 'dead:malformed-json', 'x3:exact', 'm', 'x4:exact', 'g']);
  assert.deepEqual(p.counts.value, { seen: 8, live: 4, kept: 4 });
});

test('prototype: a drop records distance, threshold, cluster, centroid version and the parameters hash', async () => {
  const out = await lastValueFrom(from([values.n, values.f, values.m, values.g]).pipe(prototype(options({ params: { targetRatio: 0.5 } }), parts({ k: 1 })), toArray()));
  const drop = (out[0] as DocItem).drop!;
  assert.equal(drop.stage, 'prototype');
  assert.equal(drop.reason, 'prototypical');
  assert.equal(drop.cluster, 0);
  assert.equal(drop.centroid_version, 1);
  assert.ok(drop.distance! >= 0 && drop.distance! < drop.threshold!, `${drop.distance} < ${drop.threshold}`);
  assert.match(drop.params_hash, /^[0-9a-f]{16}$/);
});

/** Documents around `topics` directions, the distance to the topic varying widely. */
function stream(n: number, dim: number, seed: number, topics = 8): DocItem[] {
  const rng = new Rng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  const centers = Array.from({ length: topics }, () => normalized(Array.from({ length: dim }, gauss)));
  return Array.from({ length: n }, (_, i) => {
    const c = centers[rng.int(topics)]!;
    const spread = 0.1 + 0.6 * rng.next();
    return vdoc(`d${i}`, Array.from(c, (x) => x + spread * gauss()), i);
  });
}

const batchesOf = <T>(xs: T[], size: number): T[][] => Array.from({ length: Math.ceil(xs.length / size) }, (_, i) => xs.slice(i * size, (i + 1) * size));

async function decide(p: ReturnType<typeof parts>, o: PrototypeOptions, batches: Item[][]): Promise<Item[]> {
  const out: Item[] = [];
  for (const b of batches) out.push(...await lastValueFrom(from(b).pipe(prototype(o, p), toArray())));
  return out;
}

test('prototype: the cumulative kept fraction tracks R after every batch, whatever upstream removed; the drops lie below their cluster threshold', async () => {
  const docs = stream(3000, 16, 5);
  // Upstream removed a varying share: none in the first third, 40% in the middle, 10% at the end.
  const rng = new Rng(1);
  const items: Item[] = docs.map((d, i) => {
    const p = i < 1000 ? 0 : i < 2000 ? 0.4 : 0.1;
    return rng.next() < p ? { ...d, drop: dropDecision(d.doc.id, 'semantic', 'semantic-duplicate', 'h', {}) } : d;
  });
  const reports: PrototypeReport[] = [];
  const p = { ...parts({ k: 8, warmupDocs: 600, sampleSize: 500, halfLife: 2000 }), report: (r: PrototypeReport) => reports.push(r) };
  const out = await decide(p, options({ targetRatio: 0.25, minClusterCount: 20, halfLife: 2000 }), batchesOf(items, 256));
  for (const r of reports) assert.ok(Math.abs(r.keptFraction - 0.25) <= 1 / r.seen + 1e-12, `after ${r.seen}: ${r.keptFraction}`);
  const kept = out.filter((i) => i.kind === 'doc' && !i.drop).length;
  assert.equal(kept, Math.round(0.25 * 3000));
  assert.equal(reports.filter((r) => r.reseeded).length, 1);
  const last = reports.at(-1)!;
  assert.ok(Math.abs(last.upstreamFraction * last.protoFraction - last.keptFraction) < 1e-12, 'R = R_upstream × R_proto');
  // Kept documents are the hard ones: their mean distance is well above the dropped ones'.
  const dist = (i: Item) => (i.kind === 'doc' && i.drop?.stage === 'prototype' ? i.drop.distance! : undefined);
  const dropped = out.map(dist).filter((d): d is number => d !== undefined);
  const thresholds = out.filter((i): i is DocItem => i.kind === 'doc' && i.drop?.stage === 'prototype').map((i) => i.drop!.threshold!);
  assert.ok(dropped.filter((d, i) => d <= thresholds[i]! + 0.01).length / dropped.length > 0.95, 'drops are below their cluster threshold');
});

test('prototype: scope global ranks every document against one sketch', async () => {
  const docs = stream(600, 16, 6);
  const p = parts({ k: 4 });
  const out = await decide(p, options({ targetRatio: 0.3, scope: 'global' }), batchesOf(docs, 200));
  assert.equal(out.filter((i) => i.kind === 'doc' && !i.drop).length, 180);
});

test('prototype: restarted from snapshots or from the changelogs, a worker decides as an uninterrupted one (across the warm-up fit)', async () => {
  const docs = stream(1500, 16, 7);
  const batches = batchesOf(docs, 128);
  const c = { k: 6, warmupDocs: 500, sampleSize: 300, halfLife: 800 };
  const o = options({ targetRatio: 0.25, halfLife: 800, minClusterCount: 10 });
  const expected = (await decide(parts(c), o, batches)).map(view);
  for (const cut of [1, 3, 6]) {
    const first = parts(c);
    const head = (await decide(first, o, batches.slice(0, cut))).map(view);
    const changes = first.stores.map((s) => s.drainChanges());
    const snap = parts(c);
    first.stores.forEach((s, i) => snap.stores[i]!.restore(s.snapshot()));
    const log = parts(c);
    changes.forEach((cs, i) => cs.forEach((ch) => log.stores[i]!.applyChange(ch)));
    for (const p of [snap, log]) assert.deepEqual([...head, ...(await decide(p, o, batches.slice(cut))).map(view)], expected, `restart after batch ${cut}`);
  }
});

test('prototypeStage: defaults (R = 0.25, per-cluster), named stores, validated options', async () => {
  const o = prototypeStage.options.parse({});
  assert.equal(o.targetRatio, 0.25);
  assert.equal(o.scope, 'cluster');
  assert.equal(o.ensemble, 3);
  assert.equal(o.pointsPerCluster, 40, 'clusters of ~40 sample points from the first batch on (bench:quality)');
  assert.equal(o.refitGrowth, 0.05);
  assert.equal(semanticStage.options.parse({}).pointsPerCluster, 4, 'the semantic stage keeps the shared defaults');
  assert.deepEqual(prototypeStage.stores('p'), ['p-centroids', 'p-warmup', 'p-sketches', 'p-counts', 'p-levels', 'p-centroids-2', 'p-sketches-2', 'p-centroids-3', 'p-sketches-3']);
  const built = await prototypeStage.build('p', prototypeStage.options.parse({ expectedDocs: 10_000 }), { hasher });
  assert.equal(built.params['k'], 100);
  assert.deepEqual(built.stores.map((s) => s.name).sort(), [...prototypeStage.stores('p')].sort(), 'the built stages own exactly the named stores');
  assert.equal(prototypeStage.options.safeParse({ ensemble: 0 }).success, false);
  assert.equal(prototypeStage.options.safeParse({ targetRatio: 0 }).success, false);
  assert.equal(prototypeStage.options.safeParse({ scope: 'nope' }).success, false);
});
