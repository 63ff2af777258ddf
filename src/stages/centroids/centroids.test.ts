import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kmeansPlusPlus, sphericalKMeans } from './kmeans.js';
import { CentroidStore, centroidDrift, centroidSnapshotToJson, decodeCentroidChange } from './centroid-store.js';
import { OnlineCentroids, type CentroidOptions } from './online-centroids.js';
import { WarmupStore } from './warmup-store.js';
import { dot, nearestTwo, normalized, Rng } from './vectors.js';
import { resolveCentroidOptions } from './options.js';

/** `topics` well-separated random directions and `perTopic` noisy points around each, shuffled. */
export function topicVectors(topics: number, perTopic: number, dim: number, noise: number, seed: number) {
  const rng = new Rng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  const centers = Array.from({ length: topics }, () => normalized(Array.from({ length: dim }, gauss)));
  const points: { v: Float32Array; topic: number }[] = [];
  for (let t = 0; t < topics; t++) {
    for (let p = 0; p < perTopic; p++) points.push({ topic: t, v: normalized(Array.from(centers[t]!, (c) => c + noise * gauss())) });
  }
  for (let i = points.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [points[i], points[j]] = [points[j]!, points[i]!];
  }
  return { centers, points };
}

/** Fraction of points whose cluster's majority topic is their own. */
function purity(assignment: ArrayLike<number>, topics: number[]): number {
  const byCluster = new Map<number, Map<number, number>>();
  topics.forEach((t, i) => {
    const m = byCluster.get(assignment[i]!) ?? new Map<number, number>();
    m.set(t, (m.get(t) ?? 0) + 1);
    byCluster.set(assignment[i]!, m);
  });
  let agree = 0;
  for (const m of byCluster.values()) agree += Math.max(...m.values());
  return agree / topics.length;
}

test('Rng: seeded, reproducible, uniform enough', () => {
  const a = new Rng(7);
  const b = new Rng(7);
  const xs = Array.from({ length: 10_000 }, () => a.next());
  assert.deepEqual(Array.from({ length: 10_000 }, () => b.next()), xs);
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  assert.ok(Math.abs(mean - 0.5) < 0.02, `mean ${mean}`);
  assert.ok(xs.every((x) => x >= 0 && x < 1));
});

test('nearestTwo: best and second-best rows, lower row wins ties', () => {
  const rows = Float32Array.from([1, 0, 0, 1, 1, 0]);
  const n = nearestTwo(Float32Array.from([1, 0]), rows, 3, 2);
  assert.equal(n.first, 0);
  assert.equal(n.second, 2);
  assert.equal(nearestTwo(Float32Array.from([0, 1]), rows, 1, 2).second, -1);
});

test('k-means++: k distinct seeds from the data, deterministic, cut short when points coincide', () => {
  const { points } = topicVectors(5, 40, 16, 0.1, 1);
  const vs = points.map((p) => p.v);
  const a = kmeansPlusPlus(vs, 5, new Rng(3));
  assert.deepEqual(kmeansPlusPlus(vs, 5, new Rng(3)), a);
  assert.equal(a.length, 5 * 16);
  const same = Array.from({ length: 10 }, () => normalized([1, 2, 3]));
  assert.equal(kmeansPlusPlus(same, 4, new Rng(1)).length, 3, 'one seed: every other point is at distance 0');
});

test('spherical k-means recovers well-separated topics, unit centroids, same result for the same seed', () => {
  const { points } = topicVectors(8, 50, 32, 0.15, 2);
  const vs = points.map((p) => p.v);
  const fit = sphericalKMeans(vs, 8, { iterations: 20, rng: new Rng(5) });
  assert.ok(purity(fit.assignment, points.map((p) => p.topic)) > 0.95);
  for (let j = 0; j < fit.k; j++) assert.ok(Math.abs(dot(fit.centroids.subarray(j * 32, (j + 1) * 32), fit.centroids.subarray(j * 32, (j + 1) * 32)) - 1) < 1e-5);
  assert.deepEqual(sphericalKMeans(vs, 8, { iterations: 20, rng: new Rng(5) }).centroids, fit.centroids);
  assert.equal(fit.counts.reduce((s, c) => s + c, 0), vs.length);
});

test('spherical k-means from given centroids (warmRefit): no k-means++; a converged fit stays put, a perturbed one returns to the topics in a few iterations', () => {
  const { points } = topicVectors(8, 50, 32, 0.15, 2);
  const vs = points.map((p) => p.v);
  const fit = sphericalKMeans(vs, 8, { iterations: 20, rng: new Rng(5) });
  const again = sphericalKMeans(vs, 8, { iterations: 3, rng: new Rng(99), init: fit.centroids });
  assert.deepEqual(again.assignment, fit.assignment, 'started from its own result: the same clusters (the seed is not used)');
  assert.equal(again.iterations, 1, 'no assignment changed: stops after one round');
  const moved = fit.centroids.map((x, i) => x + (i % 5 === 0 ? 0.2 : 0));
  const movedCopy = moved.slice();
  const back = sphericalKMeans(vs, 8, { iterations: 3, rng: new Rng(99), init: moved });
  assert.ok(purity(back.assignment, points.map((p) => p.topic)) > 0.95);
  assert.deepEqual(moved, movedCopy, 'the initial centroids are copied, not overwritten');

test('k-means++ and spherical k-means from fewer centroids than k (a grown warm refit): the given ones first, the rest drawn where they are far', () => {
  // Tight topics: a point of a covered topic has a D² weight ~1/60 of an uncovered one's.
  const { points } = topicVectors(8, 50, 32, 0.03, 2);
  const vs = points.map((p) => p.v);
  const topics = points.map((p) => p.topic);
  // Centroids of 4 of the 8 topics: the 4 drawn seeds must land on the other 4.
  const four = sphericalKMeans(vs.filter((_, i) => topics[i]! < 4), 4, { iterations: 20, rng: new Rng(5) });
  const seeds = kmeansPlusPlus(vs, 8, new Rng(3), four.centroids);
  assert.equal(seeds.length, 8 * 32);
  assert.deepEqual(seeds.subarray(0, 4 * 32), four.centroids, 'the given centroids are the first seeds, unchanged');
  assert.deepEqual(kmeansPlusPlus(vs, 8, new Rng(3), four.centroids), seeds, 'deterministic');
  const drawnTopics = new Set<number>();
  for (let j = 4; j < 8; j++) {
    const seed = seeds.subarray(j * 32, (j + 1) * 32);
    const at = vs.findIndex((v) => v.every((x, d) => x === seed[d]));
    assert.ok(at >= 0, 'a drawn seed is a data point');
    drawnTopics.add(topics[at]!);
  }
  assert.deepEqual([...drawnTopics].sort(), [4, 5, 6, 7], 'one drawn seed on each topic no given centroid covers');
  const grown = sphericalKMeans(vs, 8, { iterations: 3, rng: new Rng(3), init: four.centroids });
  assert.equal(grown.k, 8);
  assert.ok(purity(grown.assignment, topics) > 0.95);
  assert.equal(kmeansPlusPlus(vs, 4, new Rng(3), four.centroids).length, 4 * 32, 'k given: nothing drawn');
});
});

test('resolveCentroidOptions: k ≈ √expectedDocs (D4), warm-up and half-life derived', () => {
  const o = resolveCentroidOptions({ expectedDocs: 1_000_000, iterations: 10, seed: 1 });
  assert.equal(o.k, 1000);
  assert.equal(o.warmupDocs, 20_000);
  assert.equal(o.sampleSize, 20_000);
  assert.equal(o.refitGrowth, 0.25);
  assert.equal(resolveCentroidOptions({ expectedDocs: 1600, iterations: 10, seed: 1 }).sampleSize, 4096, 'a small stream is sampled whole');
  assert.equal(o.halfLife, 1_000_000);
  assert.equal(resolveCentroidOptions({ expectedDocs: 1600, iterations: 10, seed: 1 }).warmupDocs, 4096);
  assert.equal(resolveCentroidOptions({ expectedDocs: 100, k: 7, halfLife: 0, iterations: 10, seed: 1 }).k, 7);
});

function model(o: Partial<CentroidOptions> = {}) {
  const options: CentroidOptions = { k: 4, warmupDocs: 100, sampleSize: 100, iterations: 10, halfLife: 0, seed: 9, refitGrowth: 0.25, ...o };
  return new OnlineCentroids(new CentroidStore('c', 'hash'), new WarmupStore('w', options.sampleSize, options.seed), options);
}

function assignAll(m: OnlineCentroids, vs: Float32Array[]): Int32Array {
  return Int32Array.from(vs, (v) => m.centroids.nearest(v).first);
}

/** Feeds batches through begin/assign/end as a stage does; returns the version each batch used. */
function feed(m: OnlineCentroids, batches: Float32Array[][]): number[] {
  return batches.map((b) => {
    m.begin(b);
    const used = m.centroids.version;
    m.end(b, assignAll(m, b), used);
    return used;
  });
}

test('OnlineCentroids: fitted on the sample (this batch included) at the first batch and at every ×1.25 until warmupDocs, every ×2 after; mini-batch updates between', () => {
  const { points } = topicVectors(4, 100, 16, 0.1, 3);
  const vs = points.map((p) => p.v);
  const m = model({ k: 4, warmupDocs: 100, sampleSize: 1000 });
  const step = (from: number, to: number) => {
    const b = vs.slice(from, to);
    const start = m.begin(b);
    const used = m.centroids.version;
    return { start, fold: m.end(b, assignAll(m, b), used) };
  };
  let r = step(0, 8);
  assert.ok(r.start.reseeded, 'the first batch is fitted on');
  assert.equal(m.centroids.k, 2, 'a sample of 8 gets at most 8 / 4 clusters');
  assert.equal(r.fold.version, 1, 'the batch the centroids were fitted on does not update them again');
  r = step(8, 9);
  assert.equal(r.start.reseeded, undefined, '9 < 1.25 · 8: no refit');
  assert.equal(r.fold.version, 2, 'a mini-batch update');
  r = step(9, 60);
  assert.ok(r.start.reseeded, '60 ≥ 1.25 · 8: refit');
  assert.equal(r.start.reseeded.sample.length, 60, 'on the whole stream so far');
  assert.equal(m.centroids.k, 4);
  assert.equal(m.warmup.fittedAt, 60);
  assert.equal(step(60, 74).start.reseeded, undefined, '74 < 75');
  assert.ok(step(74, 120).start.reseeded, '120 ≥ 1.25 · 74');
  assert.equal(step(120, 200).start.reseeded, undefined, 'past warmupDocs: 200 < 2 · 120');
  assert.ok(step(200, 240).start.reseeded, '240 ≥ 2 · 120');
  assert.ok(purity(assignAll(m, vs), points.map((p) => p.topic)) > 0.95);
  const w = m.centroids.weights.reduce((s, x) => s + x, 0);
  assert.ok(Math.abs(w - 240) < 1e-9, `weights sum to the documents seen (${w})`);
});

test('OnlineCentroids: pointsPerCluster sets the clusters of a fit on a small sample; a full sample still gets all k', () => {
  const { points } = topicVectors(4, 100, 16, 0.1, 5);
  const vs = points.map((p) => p.v);
  assert.equal(model({ k: 40 }).clustersFor(80), 20, 'default: one cluster per 4 points');
  const m = model({ k: 40, sampleSize: 1000, pointsPerCluster: 20, refitGrowth: 0.01 });
  assert.equal(m.clustersFor(80), 4);
  assert.equal(m.clustersFor(10_000), 40, 'never more than k');
  m.begin(vs.slice(0, 80));
  assert.equal(m.centroids.k, 4, 'a sample of 80 at 20 points per cluster: 4 clusters');
  m.end(vs.slice(0, 80), assignAll(m, vs.slice(0, 80)), 1);
  assert.ok(m.begin(vs.slice(80, 400)).reseeded, '400 ≥ 1.01 · 80: refit');
  assert.equal(m.centroids.k, 20);
  // 50 points per cluster asked, but a full sample of 400 with k = 40 allows only 10 (and never fewer than 4).
  const capped = model({ k: 40, sampleSize: 400, pointsPerCluster: 50 });
  assert.equal(capped.clustersFor(400), 40, 'a full sample gets all k');
  assert.equal(capped.clustersFor(100), 10);
  assert.equal(model({ k: 40, sampleSize: 40, pointsPerCluster: 50 }).clustersFor(40), 10, 'the cap stops at 4 points per cluster');
});

test('OnlineCentroids: refitGrowth 0 fits once, on the first batch; a follower refits with the leader, on its sample, with its own seed', () => {
  const { points } = topicVectors(4, 60, 16, 0.1, 4);
  const vs = points.map((p) => p.v);
  const m = model({ k: 4, refitGrowth: 0 });
  const follower = new OnlineCentroids(new CentroidStore('c2', 'hash'), m.warmup, { ...m.options, seed: 77 });
  const first = m.begin(vs.slice(0, 100));
  assert.ok(first.reseeded);
  const followed = follower.follow(first, vs.slice(0, 100));
  assert.equal(followed.reseeded?.sample, first.reseeded.sample, 'the leader\'s sample');
  assert.equal(followed.reseeded?.weight, first.reseeded.weight);
  // Each fit's own assignment of the sample: what its store answers for the sample (prototype uses it instead of assigning again).
  for (const [c, start] of [[m, first], [follower, followed]] as const) {
    assert.deepEqual(start.reseeded!.assignment, c.centroids.assignBatch(start.reseeded!.sample, 'none').first, c.centroids.name);
  }
  assert.notDeepEqual(followed.reseeded?.assignment, first.reseeded.assignment, 'another clustering, other rows');
  assert.equal(follower.centroids.k, 4);
  assert.notDeepEqual(follower.centroids.centroids, m.centroids.centroids, 'another seed');
  m.end(vs.slice(0, 100), assignAll(m, vs.slice(0, 100)), 1);
  const later = m.begin(vs.slice(100, 240));
  assert.equal(later.reseeded, undefined, 'never again');
  assert.deepEqual(follower.follow(later, vs.slice(100, 240)), {});
  assert.equal(m.warmup.seen, 240, 'the follower offered nothing');
});

test('OnlineCentroids: mini-batch updates follow a drifting topic; the half-life sets how fast', () => {
  const dim = 8;
  const e = (i: number) => normalized(Array.from({ length: dim }, (_, d) => (d === i ? 1 : 0)));
  const drifted = normalized([1, 1, 0, 0, 0, 0, 0, 0]);
  const run = (halfLife: number) => {
    const m = model({ k: 1, warmupDocs: 10, sampleSize: 10, halfLife });
    feed(m, [Array.from({ length: 10 }, () => e(0))]);
    feed(m, Array.from({ length: 10 }, () => Array.from({ length: 10 }, () => drifted)));
    return dot(m.centroids.centroids, drifted);
  };
  const forgetting = run(20);
  const remembering = run(0);
  assert.ok(forgetting > remembering, `half-life 20: ${forgetting} vs never forget: ${remembering}`);
  assert.ok(forgetting > 0.99);
});

test('OnlineCentroids: deterministic for the same input, batches and seed; another seed may differ', () => {
  const { points } = topicVectors(6, 50, 16, 0.2, 5);
  const vs = points.map((p) => p.v);
  const batches = [vs.slice(0, 40), vs.slice(40, 130), vs.slice(130, 300)];
  const run = (seed: number) => {
    const m = model({ k: 6, warmupDocs: 100, seed });
    feed(m, batches);
    return m.centroids.centroids;
  };
  assert.deepEqual(run(1), run(1));
  assert.notDeepEqual(run(1), run(2));
});

test('CentroidStore: each version is one CentroidSnapshot change; snapshot/restore and changelog replay give the same centroids', () => {
  const s = new CentroidStore('sem-centroids', 'ph');
  assert.equal(s.ready, false);
  s.replace(Float32Array.from([1, 0, 0, 1]), Float64Array.from([3, 4]), 2, 1000);
  s.replace(Float32Array.from([0.6, 0.8, 0, 1]), Float64Array.from([5, 4]), 2, 2000);
  const changes = s.drainChanges();
  assert.equal(changes.length, 2);
  assert.ok(changes.every((c) => c.key === 'sem-centroids'));
  const last = decodeCentroidChange(changes[1]!)!;
  // The record is exactly the JSON of the snapshot (the fast serialiser splices the base64 in).
  assert.equal(changes[1]!.value!.toString('utf8'), JSON.stringify(centroidSnapshotToJson(last)));
  assert.equal(last.version, 2);
  assert.equal(last.k, 2);
  assert.equal(last.dim, 2);
  assert.equal(last.centroids.length, 16);
  assert.equal(last.centroids.readFloatLE(0), Math.fround(0.6));
  assert.deepEqual(last.weights, [5, 4]);
  assert.equal(last.params_hash, 'ph');
  const restored = new CentroidStore('sem-centroids', 'ph');
  restored.restore(s.snapshot());
  assert.deepEqual(restored.centroids, s.centroids);
  assert.equal(restored.version, 2);
  const replayed = new CentroidStore('sem-centroids', 'ph');
  for (const c of changes) replayed.applyChange(c);
  replayed.applyChange(changes[0]!); // an older version arriving late is ignored
  assert.equal(replayed.version, 2);
  assert.deepEqual(replayed.centroids, s.centroids);
  assert.throws(() => new CentroidStore('other', 'ph').restore(s.snapshot()), /not of this store/);
  assert.throws(() => s.nearest(Float32Array.from([1, 0, 0])), /3-d vector/);
});

test('WarmupStore: a uniform reservoir of the first documents; snapshot and changelog replay continue identically', () => {
  const vs = Array.from({ length: 1000 }, (_, i) => Float32Array.from([i, 0]));
  const w = new WarmupStore('w', 100, 11);
  w.offer(vs.slice(0, 400));
  const replayed = new WarmupStore('w', 100, 11);
  for (const c of w.drainChanges()) replayed.applyChange(c);
  const restored = new WarmupStore('w', 100, 11);
  restored.restore(w.snapshot());
  for (const s of [w, restored, replayed]) s.offer(vs.slice(400));
  assert.equal(w.seen, 1000);
  assert.equal(w.sample.length, 100);
  assert.deepEqual(restored.sample, w.sample);
  assert.deepEqual(replayed.sample, w.sample);
  const mean = w.sample.reduce((s, v) => s + v[0]!, 0) / 100;
  assert.ok(mean > 400 && mean < 600, `a uniform sample of 0..999 has mean ≈ 500 (got ${mean})`);
  w.finish();
  assert.equal(w.size(), 0);
  const after = w.drainChanges();
  assert.equal(after.filter((c) => c.value === null).length, 100);
  for (const c of after) replayed.applyChange(c);
  assert.equal(replayed.done, true);
  assert.equal(replayed.size(), 0);
});

test('centroid drift: 0 for the same centroids, 1 − cos to the nearest previous centroid otherwise; set by replace, cleared by restore', () => {
  const e = (i: number) => { const v = new Float32Array(3); v[i] = 1; return v; };
  const rows = (...vs: Float32Array[]) => { const out = new Float32Array(vs.length * 3); vs.forEach((v, i) => out.set(v, i * 3)); return out; };
  const prev = rows(e(0), e(1));
  assert.equal(centroidDrift(prev, 2, prev, 2, 3), 0);
  // A new set: e(1) (unchanged, 0) and a centroid 60° from e(0) (cos 0.5): mean (0 + 0.5) / 2.
  const tilted = normalized(Float32Array.from([1, 0, Math.sqrt(3)]));
  assert.ok(Math.abs(centroidDrift(prev, 2, rows(e(1), tilted), 2, 3) - 0.25) < 1e-6);
  const store = new CentroidStore('c', 'h');
  store.replace(prev, Float64Array.from([1, 1]), 3);
  assert.equal(store.drift, 0, 'no previous version');
  store.replace(rows(e(1), tilted, e(2)), Float64Array.from([1, 1, 1]), 3);
  assert.ok(Math.abs(store.drift - (0 + 0.5 + 1) / 3) < 1e-6, 'k may change between versions');
  const restored = new CentroidStore('c', 'h');
  restored.restore(store.snapshot());
  assert.equal(restored.drift, 0);
  assert.equal(restored.version, 2);
});
