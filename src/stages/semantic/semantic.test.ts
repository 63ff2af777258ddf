import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TestScheduler } from 'rxjs/testing';
import { from, lastValueFrom, map, toArray, type Observable } from 'rxjs';
import { semantic, semanticStage, type SemanticCounts, type SemanticReport } from './semantic.js';
import { exactAnnIndex, type AnnIndexFactory } from './ann.js';
import { ClusterIndexStore } from './cluster-index-store.js';
import { CentroidStore } from '../centroids/centroid-store.js';
import { OnlineCentroids, type CentroidOptions } from '../centroids/online-centroids.js';
import { WarmupStore } from '../centroids/warmup-store.js';
import { normalized, Rng } from '../centroids/vectors.js';
import { JsonStore } from '../../state/json-store.js';
import { createHasher } from '../text/hash.js';
import { createHnswIndex } from '../../io/models/hnsw-index.js';
import { dropDecision, origin, type DocItem, type Item } from '../../records/item.js';
import type { BuiltStage } from '../stage.js';

const hasher = await createHasher();

export function vdoc(id: string, values: ArrayLike<number>, seq = 0): DocItem {
  return {
    kind: 'doc', seq, origin: origin({ file: 'test', line: seq + 1 }),
    doc: { id, url: null, fetched_at: null, content_type: null, language: null, text: id, metadata: {} },
    vector: { model: 'test', pooling: 'mean', dtype: 'fp32', values: normalized(values), tokens: 1, truncated: false, cached: false },
  };
}

const view = (i: Item) => (i.kind === 'doc' ? (i.drop ? `${i.doc.id}>${i.drop.duplicate_of ?? i.drop.reason}` : i.doc.id) : `dead:${i.dead.error}`);

function scheduler() {
  return new TestScheduler((actual, expected) => assert.deepStrictEqual(actual, expected));
}

function parts(options: Partial<CentroidOptions> = {}, factory: AnnIndexFactory = exactAnnIndex, capacity = 1000, exactBelow?: number) {
  const c: CentroidOptions = { k: 2, warmupDocs: 1000, sampleSize: 1000, iterations: 10, halfLife: 0, seed: 1, refitGrowth: 0, ...options };
  const centroidStore = new CentroidStore('semantic-centroids', 'h');
  const warmup = new WarmupStore('semantic-warmup', c.sampleSize, c.seed);
  const index = new ClusterIndexStore({ name: 'semantic-index', factory, capacity, m: 16, efConstruction: 100, efSearch: 64, seed: c.seed, ...(exactBelow ? { exactBelow } : {}) });
  const counts = new JsonStore<SemanticCounts>('semantic-counts', { seen: 0, dropped: 0 });
  return { centroids: new OnlineCentroids(centroidStore, warmup, c), index, counts, stores: [centroidStore, warmup, index, counts], hasher };
}

function run(source: Observable<Item>, epsilon = 0.05, p = parts()) {
  return source.pipe(semantic({ epsilon, params: {} }, p), map(view));
}

// 8-d vectors: a, b, c point different ways; a2 is a copy of a with a little noise, b2 of b.
const values = {
  a: vdoc('a', [1, 0, 0, 0, 0, 0, 0, 0]),
  b: vdoc('b', [0, 1, 0, 0, 0, 0, 0, 0]),
  c: vdoc('c', [0, 0, 1, 0, 0, 0, 0, 0]),
  A: vdoc('A', [1, 0.05, 0, 0.02, 0, 0, 0, 0]),
  B: vdoc('B', [0.03, 1, 0, 0, 0.05, 0, 0, 0]),
};

test('semantic: empty source completes with nothing', () => {
  scheduler().run(({ cold, expectObservable }) => {
    expectObservable(run(cold<Item>('|', values))).toBe('|');
  });
});

test('semantic: never-ending source emits nothing and never completes (decisions wait for the batch)', () => {
  scheduler().run(({ cold, expectObservable }) => {
    expectObservable(run(cold<Item>('a-b-', values))).toBe('----');
  });
});

test('semantic: one document is kept', () => {
  scheduler().run(({ cold, expectObservable }) => {
    expectObservable(run(cold<Item>('a|', values))).toBe('-(a|)', { a: 'a' });
  });
});

test('semantic: many documents: later near-copies dropped with the first copy as evidence, within the batch, in order', () => {
  scheduler().run(({ cold, expectObservable }) => {
    expectObservable(run(cold<Item>('a-b-c-A-B|', values)))
      .toBe('---------(abcAB|)', { a: 'a', b: 'b', c: 'c', A: 'A>a', B: 'B>b' });
  });
});

test('semantic: epsilon is the cosine budget: with a tiny epsilon the noisy copies survive', () => {
  scheduler().run(({ cold, expectObservable }) => {
    expectObservable(run(cold<Item>('a-A|', values), 0.0001)).toBe('---(aA|)', { a: 'a', A: 'A' });
  });
});

test('semantic: an error upstream is passed on (the batch is abandoned)', () => {
  scheduler().run(({ cold, expectObservable }) => {
    expectObservable(run(cold<Item>('a-#', values))).toBe('--#');
  });
});

test('semantic: early unsubscribe stops the subscription', () => {
  scheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
    const src = cold<Item>('a-b-c-d|', values);
    expectObservable(run(src), '^--!').toBe('---');
    expectSubscriptions(src.subscriptions).toBe('^--!');
  });
});

test('semantic: a throwing index (a user callback) becomes an error notification, not a crash', () => {
  const throwing: AnnIndexFactory = (o) => ({ ...exactAnnIndex(o), nearest: () => { throw new Error('boom'); } });
  scheduler().run(({ cold, expectObservable }) => {
    // exactBelow 1: every cluster is searched through the factory's index from its first document on.
    expectObservable(run(cold<Item>('a-b|', values), 0.05, parts({}, throwing, 1000, 1))).toBe('---#', undefined, new Error('boom'));
  });
});

test('semantic: a live document without an embedding is an error that names the missing embed stage', async () => {
  const bare: DocItem = { ...values.a, vector: undefined } as DocItem;
  await assert.rejects(lastValueFrom(from([bare]).pipe(semantic({ epsilon: 0.05, params: {} }, parts()))), /no embedding; put the embed stage before semantic/);
});

test('semantic: dropped documents and dead letters pass through untouched and are not indexed', () => {
  const dead: Item = { kind: 'dead', seq: 9, origin: origin({}), dead: { origin: origin({}), id: null, stage: 'decode', error: 'malformed-json', message: 'x', raw: Buffer.from('x'), raw_size: 1, failed_at: 0 } };
  const gone: Item = { ...values.a, drop: dropDecision('a', 'exact', 'duplicate', 'h', { duplicate_of: 'z' }) };
  scheduler().run(({ cold, expectObservable }) => {
    expectObservable(run(cold<Item>('x-g-A|', { ...values, x: dead, g: gone })))
      .toBe('-----(xgA|)', { x: 'dead:malformed-json', g: 'g>z'.replace('g', 'a'), A: 'A' });
  });
});

test('semantic: decisions carry stage, reason, duplicate, similarity, cluster, centroid version, threshold and the parameters hash', async () => {
  const p = parts();
  const out = await lastValueFrom(from([values.a, values.b, values.A]).pipe(semantic({ epsilon: 0.05, params: { epsilon: 0.05 } }, p), toArray()));
  const drop = (out[2] as DocItem).drop!;
  assert.equal(drop.stage, 'semantic');
  assert.equal(drop.reason, 'semantic-duplicate');
  assert.equal(drop.keep, false);
  assert.equal(drop.duplicate_of, 'a');
  assert.ok(drop.similarity! > 0.95 && drop.similarity! <= 1);
  assert.equal(drop.threshold, 0.95);
  assert.equal(drop.centroid_version, 1);
  assert.ok(drop.cluster === 0 || drop.cluster === 1);
  assert.match(drop.params_hash, /^[0-9a-f]{16}$/);
  assert.deepEqual(p.counts.value, { seen: 3, dropped: 1 });
  assert.equal(p.centroids.centroids.version, 1, 'the batch the provisional centroids were fitted on does not update them');
});

test('semantic: the next-nearest cluster is searched too, so a copy across a cluster boundary is found', async () => {
  // Two clusters along x and y; a point on the diagonal and its copy can fall on either side.
  const p = parts({ k: 2 });
  const pts = [vdoc('x1', [1, 0.1, 0]), vdoc('x2', [1, -0.1, 0]), vdoc('y1', [0.1, 1, 0]), vdoc('y2', [-0.1, 1, 0]),
    vdoc('d', [1, 0.999, 0.01]), vdoc('D', [0.999, 1, 0.01])];
  const out = await lastValueFrom(from(pts).pipe(semantic({ epsilon: 0.01, params: {} }, p), toArray()));
  const drop = (out[5] as DocItem).drop;
  assert.equal(drop?.duplicate_of, 'd');
  assert.notEqual(p.centroids.centroids.nearest(pts[4]!.vector!.values).first, p.centroids.centroids.nearest(pts[5]!.vector!.values).first, 'd and D are in different clusters');
});

/** Random documents with a share of near-copies of earlier ones, in batches. */
function stream(n: number, dim: number, seed: number): DocItem[] {
  const rng = new Rng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  const topics = Array.from({ length: 6 }, () => normalized(Array.from({ length: dim }, gauss)));
  const docs: DocItem[] = [];
  for (let i = 0; i < n; i++) {
    const copyOf = i > 10 && rng.next() < 0.2 ? docs[rng.int(docs.length)] : undefined;
    const base = copyOf ? copyOf.vector!.values : topics[rng.int(topics.length)]!.map((c) => c + 0.5 * gauss());
    docs.push(vdoc(`d${i}`, Array.from(base, (c) => c + (copyOf ? 0.02 : 0) * gauss()), i));
  }
  return docs;
}

async function decide(op: (s: Observable<Item>) => Observable<Item>, batches: DocItem[][]): Promise<string[]> {
  const out: string[] = [];
  for (const b of batches) out.push(...(await lastValueFrom(from(b).pipe(op, toArray()))).map(view));
  return out;
}

const batchesOf = <T>(xs: T[], size: number): T[][] => Array.from({ length: Math.ceil(xs.length / size) }, (_, i) => xs.slice(i * size, (i + 1) * size));

for (const [name, factory, exactBelow] of [['exact index', exactAnnIndex, undefined], ['hnswlib, exhaustive tier', createHnswIndex, undefined], ['hnswlib, HNSW tier from 20 points', createHnswIndex, 20]] as const) {
  test(`semantic (${name}): a worker restarted from snapshots, or from the changelogs, decides exactly as an uninterrupted one — across the warm-up fit and forgetting`, async () => {
    const docs = stream(900, 24, 3);
    const batches = batchesOf(docs, 100);
    const opts: Partial<CentroidOptions> = { k: 6, warmupDocs: 250, sampleSize: 200, halfLife: 500 };
    const whole = parts(opts, factory, 300, exactBelow); // capacity 300 over 6 clusters: clusters forget
    const expected = await decide((s) => s.pipe(semantic({ epsilon: 0.02, params: {} }, whole)), batches);
    assert.ok(expected.filter((v) => v.includes('>')).length > 50, 'the near-copies are found');

    for (const cut of [1, 2, 4]) {
      const first = parts(opts, factory, 300, exactBelow);
      const op1 = (s: Observable<Item>) => s.pipe(semantic({ epsilon: 0.02, params: {} }, first));
      const head = await decide(op1, batches.slice(0, cut));
      const changes = first.stores.map((st) => st.drainChanges());
      const fromSnapshot = parts(opts, factory, 300, exactBelow);
      first.stores.forEach((st, i) => fromSnapshot.stores[i]!.restore(st.snapshot()));
      const fromChangelog = parts(opts, factory, 300, exactBelow);
      changes.forEach((cs, i) => cs.forEach((c) => fromChangelog.stores[i]!.applyChange(c)));
      for (const p of [fromSnapshot, fromChangelog]) {
        const tail = await decide((s) => s.pipe(semantic({ epsilon: 0.02, params: {} }, p)), batches.slice(cut));
        assert.deepEqual([...head, ...tail], expected, `restart after batch ${cut}`);
      }
    }
    assert.ok(whole.index.size() <= 300, `bounded: ${whole.index.size()} documents indexed`);
  });
}

test('semantic: the same input, batches and seed give the same decisions; reports are cumulative', async () => {
  const docs = stream(400, 16, 8);
  const reports: SemanticReport[] = [];
  const pa = { ...parts({ k: 5, warmupDocs: 150 }), report: (r: SemanticReport) => reports.push(r) };
  const pb = parts({ k: 5, warmupDocs: 150 });
  const a = await decide((s) => s.pipe(semantic({ epsilon: 0.02, params: {} }, pa)), batchesOf(docs, 64));
  const b = await decide((s) => s.pipe(semantic({ epsilon: 0.02, params: {} }, pb)), batchesOf(docs, 64));
  assert.deepEqual(a, b);
  assert.equal(reports.length, 7);
  assert.equal(reports.at(-1)!.seen, 400);
  assert.equal(reports.at(-1)!.dropped, a.filter((v) => v.includes('>')).length);
  assert.equal(reports.filter((r) => r.reseeded).length, 1, 'one warm-up fit');
});

test('semanticStage: options validated with defaults; build needs the index factory; stores are named after the stage id', async () => {
  const options = semanticStage.options.parse({ expectedDocs: 2500 });
  assert.equal(options.epsilon, 0.08);
  assert.deepEqual(semanticStage.stores('sem'), ['sem-centroids', 'sem-warmup', 'sem-index', 'sem-counts']);
  assert.throws(() => semanticStage.build('sem', options, { hasher }), /annIndex/);
  const built = await semanticStage.build('sem', options, { hasher, annIndex: exactAnnIndex }) as BuiltStage;
  assert.equal(built.params['k'], 50, 'k = √2500');
  assert.deepEqual(built.stores.map((s) => s.name), ['sem-centroids', 'sem-warmup', 'sem-index', 'sem-counts']);
  assert.equal(semanticStage.options.safeParse({ epsilon: 2 }).success, false);
  await built.close?.();
});
