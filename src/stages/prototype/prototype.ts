import type { OperatorFunction } from 'rxjs';
import { z } from 'zod';
import { dropDecision, isLive, type DocItem, type Item } from '../../records/item.js';
import { JsonStore } from '../../state/json-store.js';
import { batchwise } from '../centroids/batchwise.js';
import { CentroidStore } from '../centroids/centroid-store.js';
import { OnlineCentroids, type BatchStart } from '../centroids/online-centroids.js';
import { centroidOptionsShape, resolveCentroidOptions } from '../centroids/options.js';
import { WarmupStore } from '../centroids/warmup-store.js';
import { dot, subSeed } from '../centroids/vectors.js';
import { vectorOf } from '../semantic/semantic.js';
import { paramsHash, type Hasher } from '../text/hash.js';
import type { StageDefinition } from '../stage.js';
import type { HistogramSketch } from './histogram-sketch.js';
import { SketchStore } from './sketch-store.js';
import { streamKeepFraction } from './quota.js';

export type PrototypeScope = 'cluster' | 'global';

export interface PrototypeOptions {
  /** The stage id written in decisions (default "prototype"). */
  readonly id?: string;
  /** Overall kept fraction R the whole pipeline should end at (D4: 0.25). */
  readonly targetRatio: number;
  /** Rank a document's distance within its cluster's sketch, or within the global one. */
  readonly scope: PrototypeScope;
  /** A cluster sketch with fewer values than this is not trusted: the global one is used. */
  readonly minClusterCount: number;
  /**
   * `batch`: each batch keeps round(R · seen) − kept of its live documents, ranked by level (exact
   * to one document, per deciding task). `stream`: every document is kept when its level reaches the
   * (1 − p) quantile of the levels seen, p from the stream's counts (see quota.ts): one rule for the
   * whole stream, whichever task decides.
   */
  readonly quota?: 'batch' | 'stream';
  /** Documents per half-life of the sketches (0 = never forget). */
  readonly halfLife: number;
  /** The resolved parameters, hashed into every decision. */
  readonly params: Readonly<Record<string, unknown>>;
}

/** Cumulative counts since the stream began; all the keep rule needs besides the sketches. */
export interface PrototypeCounts {
  /** Documents that reached this stage, dropped upstream or not (dead letters are not documents). */
  readonly seen: number;
  /** Of those, the ones still live here (the survivors of exact, near and semantic). */
  readonly live: number;
  readonly kept: number;
}

export interface PrototypeReport extends PrototypeCounts {
  readonly kind: 'prototype';
  readonly stage: string;
  readonly batch: { readonly seen: number; readonly live: number; readonly kept: number };
  readonly targetRatio: number;
  /** kept / seen: the overall kept fraction so far. */
  readonly keptFraction: number;
  /** live / seen: what exact, near and semantic let through. */
  readonly upstreamFraction: number;
  /** kept / live: this stage's kept fraction, R_proto. */
  readonly protoFraction: number;
  readonly centroidVersion: number;
  /** How far the current centroid version moved from the previous one (CentroidStore.drift). */
  readonly centroidDrift: number;
  readonly k: number;
  readonly reseeded: boolean;
}

export interface PrototypeDeps {
  readonly centroids: OnlineCentroids;
  readonly sketches: SketchStore;
  readonly counts: JsonStore<PrototypeCounts>;
  readonly hasher: Hasher;
  readonly report?: (r: PrototypeReport) => void;
  /** The levels seen (quota `stream`): one sketch, in the store's global sketch. */
  readonly levels?: SketchStore;
  /** More clusterings (other seeds) whose quantiles are averaged into each document's level. */
  readonly ensemble?: readonly { readonly centroids: OnlineCentroids; readonly sketches: SketchStore }[];
}

/**
 * Online SSL-prototype pruning to a target ratio: keeps the documents farthest from their
 * centroid (the "hard" ones), drops the most prototypical, so that the *cumulative* kept fraction
 * of the whole pipeline tracks `targetRatio`.
 *
 * For each batch (one batch of decision delay, so early documents are never judged on an empty
 * sketch): the centroids — this stage's own, fitted on what survived the earlier stages, as D4
 * re-clusters after SemDeDup — assign every live document; its difficulty d = 1 − cosine to the
 * centroid goes into its cluster's sketch and the global one. The batch may keep
 * t = round(R · seen) − kept documents, where `seen` counts every document that reached the
 * stage (dropped upstream or not) — so R_proto = t / live adapts to whatever exact, near and
 * semantic removed. Each document's level u = CDF(d) in its cluster's sketch (the global one for
 * scope "global" or a cluster with few values) ranks it; the t with the highest u are kept. That
 * is the same as one quantile level q for every cluster, with per-cluster thresholds
 * Q_c(q) — D4's per-cluster pruning — where q is set so the batch keeps exactly t. A drop records
 * its distance, its cluster's threshold, the cluster and the centroid version.
 *
 * @example
 * semanticSurvivors$.pipe(prototype({ targetRatio: 0.25, scope: 'cluster', minClusterCount: 20, halfLife: 1e6, params }, deps))
 */
export function prototype(options: PrototypeOptions, deps: PrototypeDeps): OperatorFunction<Item, Item> {
  const stage = options.id ?? 'prototype';
  const hash = paramsHash(deps.hasher, { type: 'prototype', ...options.params });
  const R = options.targetRatio;
  return batchwise((batch) => {
    let docs = 0;
    const positions: number[] = [];
    const vectors: Float32Array[] = [];
    batch.forEach((item, i) => {
      if (item.kind !== 'doc') return;
      docs++;
      if (isLive(item)) {
        positions.push(i);
        vectors.push(vectorOf(item, stage));
      }
    });
    const out = [...batch];
    const before = deps.counts.value;
    const seen = before.seen + docs;
    const n = vectors.length;
    const members = [{ centroids: deps.centroids, sketches: deps.sketches }, ...(deps.ensemble ?? [])];
    const lead = deps.centroids.begin(vectors);
    const judged = members.map((m, i) => judge(m.centroids, i === 0 ? lead : m.centroids.follow(lead, vectors), m.sketches, vectors, options));
    const { store, version, assignment, distance, sketchOf } = judged[0]!;
    // The level of a document: its mean quantile over the members' clusterings (one member: its quantile in its cluster).
    const level = Array.from(distance, (_, i) => judged.reduce((sum, j) => sum + j.sketchOf(j.assignment[i]!).cdf(j.distance[i]!), 0) / judged.length);
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => level[b]! - level[a]! || distance[b]! - distance[a]! || a - b);
    const keep = new Uint8Array(n);
    let t = 0;
    let q = 1;
    if (options.quota === 'stream' && deps.levels) {
      const p = streamKeepFraction(R, before, { seen: docs, live: n });
      if (options.halfLife > 0 && n > 0) deps.levels.tick(n / options.halfLife);
      for (const l of level) deps.levels.add(0, l);
      q = n > 0 ? deps.levels.global.quantile(1 - p) : 1;
      for (let i = 0; i < n; i++) if (level[i]! >= q && p > 0) { keep[i] = 1; t++; }
      deps.levels.flush();
    } else {
      t = Math.max(0, Math.min(n, Math.round(R * seen) - before.kept));
      for (let r = 0; r < t; r++) keep[order[r]!] = 1;
      // The level the last kept document reached: in each cluster, the distance at that level.
      q = t > 0 ? Math.min(1, level[order[t - 1]!]!) : 1;
    }
    for (let i = 0; i < n; i++) {
      const item = batch[positions[i]!] as DocItem;
      const evidence = { distance: distance[i]!, threshold: sketchOf(assignment[i]!).quantile(q), cluster: assignment[i]!, centroid_version: version };
      // A kept document carries the same evidence, so that its keep decision says where it stood.
      out[positions[i]!] = keep[i] ? { ...item, evidence } : { ...item, drop: dropDecision(item.doc.id, stage, 'prototypical', hash, evidence) };
    }
    judged.forEach((j, m) => members[m]!.centroids.end(vectors, j.assignment, j.version));
    for (const m of members) m.sketches.flush();
    const counts: PrototypeCounts = { seen, live: before.live + n, kept: before.kept + t };
    deps.counts.set(counts);
    deps.report?.({
      kind: 'prototype', stage, ...counts, batch: { seen: docs, live: n, kept: t }, targetRatio: R,
      keptFraction: seen ? counts.kept / seen : 0, upstreamFraction: seen ? counts.live / seen : 0, protoFraction: counts.live ? counts.kept / counts.live : 0,
      centroidVersion: store.version, centroidDrift: store.drift, k: store.k, reseeded: judged[0]!.reseeded,
    });
    return out;
  });
}

/** One clustering's view of a batch: centroids ready for it, each document's cluster and distance folded into the sketches. */
function judge(centroids: OnlineCentroids, start: BatchStart, sketches: SketchStore, vectors: readonly Float32Array[], options: { halfLife: number; scope: PrototypeScope; minClusterCount: number }) {
  const store = centroids.centroids;
  const version = store.version;
  const n = vectors.length;
  const assignment = new Int32Array(n);
  const distance = new Float64Array(n);
  if (n > 0) {
    if (options.halfLife > 0) sketches.tick(n / options.halfLife);
    // Assigned by the fit (on a refit: the sample, which may hold some of this batch) or by the store.
    let fitted: Map<Float32Array, number> | undefined;
    if (start.reseeded) {
      // The clusters changed meaning: rebuild the sketches from the sample, less this batch (added below).
      sketches.clear();
      const { sample, weight, assignment: fit } = start.reseeded;
      fitted = new Map(sample.map((v, i) => [v, fit[i]!]));
      const current = new Set(vectors);
      sample.forEach((v, i) => {
        if (!current.has(v)) sketches.add(fit[i]!, Math.max(0, 1 - dot(v, store.centroids, fit[i]! * store.dim)), weight);
      });
    }
    const rest = fitted ? vectors.filter((v) => !fitted.has(v)) : vectors;
    const near = rest.length > 0 ? store.assignBatch(rest, 'first') : undefined;
    for (let i = 0, r = 0; i < n; i++) {
      const v = vectors[i]!;
      const known = fitted?.get(v);
      // The similarity `assignBatch` reports: the scalar dot with the nearest row.
      let sim: number;
      if (known !== undefined) {
        assignment[i] = known;
        sim = dot(v, store.centroids, known * store.dim);
      } else {
        assignment[i] = near!.first[r]!;
        sim = near!.firstSimilarity[r++]!;
      }
      distance[i] = Math.max(0, 1 - sim);
      sketches.add(assignment[i]!, distance[i]!);
    }
  }
  const sketchOf = (cluster: number): HistogramSketch => {
    const s = options.scope === 'cluster' ? sketches.cluster(cluster) : undefined;
    return s && s.n >= options.minClusterCount ? s : sketches.global;
  };
  return { store, version, assignment, distance, sketchOf, reseeded: start.reseeded !== undefined };
}

const optionsSchema = z.strictObject({
  targetRatio: z.number().gt(0).max(1).default(0.25).describe('overall kept fraction R of the pipeline (D4: 0.25); R_proto adapts to what earlier stages dropped'),
  scope: z.enum(['cluster', 'global']).default('cluster').describe('rank distances within each cluster (D4) or over all clusters'),
  minClusterCount: z.number().int().positive().default(20).describe('a cluster sketch with fewer values falls back to the global sketch'),
  quota: z.enum(['batch', 'stream']).default('batch').describe('batch: each batch keeps its share, ranked; stream: one level threshold from the stream\'s counts, whichever task decides'),
  ensemble: z.number().int().min(1).max(8).default(3).describe('clusterings (other seeds, one shared sample) whose quantiles are averaged into a document\'s level: less seed noise than one k-means'),
  ...centroidOptionsShape,
  // Measured by `npm run bench:quality` (README, "Selection quality"): clusters of ~40 sample points
  // from the first batch on, refitted on every batch until warmupDocs, agree with batch D4 as well as
  // another batch seed does; the shared defaults (4 points, ×1.25) judged the first batches on
  // clusters of a handful of points.
  pointsPerCluster: z.number().min(1).default(40).describe('fewest sample points per cluster of a fit: while the sample is under pointsPerCluster·k, a fit gets fewer clusters (at most sampleSize / k, so that a full sample gets all k)'),
  // Measured by `npm run bench:quality` (README): in windows of 256, a document decided among the
  // stream's first 256 or 512 cannot know the clusters the rest will form (shuffled corpora lost
  // there); the run loop (Task.hold → TaskWindows, or the reorder buffer of an ordered task) makes the first window this long instead.
  warmupHold: z.number().int().min(0).default(2048).describe('documents the stream\'s first window holds undecided, decided together once it is full (or at a flush, or after --linger-ms on a topic): a bounded decision delay at the start, so the first decisions are fitted on that many documents; 0 or at most the window: none'),
  refitGrowth: z.number().min(0).default(0.05).describe('refit on the sample when the documents seen grew by this fraction since the last fit, until warmupDocs (0: fit once, on the first batch); 0.05 refits every batch of up to 1/20 of the stream so far'),
});

export type PrototypeStageOptions = z.infer<typeof optionsSchema>;

export const prototypeStage: StageDefinition<PrototypeStageOptions> = {
  type: 'prototype',
  summary: 'online SSL-prototype pruning: drop the documents nearest their centroid so the overall kept fraction tracks --target-ratio (streaming per-cluster quantiles)',
  options: optionsSchema,
  // With the default ensemble of 3; another ensemble size has as many `-centroids-<i>` and `-sketches-<i>` stores.
  stores: (id) => [`${id}-centroids`, `${id}-warmup`, `${id}-sketches`, `${id}-counts`, `${id}-levels`, `${id}-centroids-2`, `${id}-sketches-2`, `${id}-centroids-3`, `${id}-sketches-3`],
  partitioning: 'single',
  windowed: true,
  build(id, options, deps) {
    const c = resolveCentroidOptions(options);
    const params = { ...options, ...c };
    const [centroidsName, warmupName, sketchesName, countsName, levelsName] = prototypeStage.stores(id) as [string, string, string, string, string];
    const centroidStore = new CentroidStore(centroidsName, paramsHash(deps.hasher, { type: 'prototype', ...params }));
    const warmup = new WarmupStore(warmupName, c.sampleSize, c.seed);
    const sketches = new SketchStore(sketchesName);
    const counts = new JsonStore<PrototypeCounts>(countsName, { seen: 0, live: 0, kept: 0 });
    const levels = new SketchStore(levelsName);
    const report = deps['report'] as ((r: PrototypeReport) => void) | undefined;
    // The other clusterings share the sample (and its store) with the first one.
    const ensemble = Array.from({ length: options.ensemble - 1 }, (_, i) => {
      const cs = new CentroidStore(`${centroidsName}-${i + 2}`, centroidStore.paramsHash);
      return { centroids: new OnlineCentroids(cs, warmup, { ...c, seed: subSeed(c.seed, 1000 + i) }), sketches: new SketchStore(`${sketchesName}-${i + 2}`), store: cs };
    });
    return {
      id, type: 'prototype', params, stores: [centroidStore, warmup, sketches, counts, levels, ...ensemble.flatMap((e) => [e.store, e.sketches])],
      warmupHold: () => (counts.value.seen === 0 ? options.warmupHold : 0),
      operator: prototype({ id, targetRatio: options.targetRatio, scope: options.scope, minClusterCount: options.minClusterCount, halfLife: c.halfLife, quota: options.quota, params }, {
        centroids: new OnlineCentroids(centroidStore, warmup, c), sketches, counts, hasher: deps.hasher, ...(report ? { report } : {}), ensemble, levels,
      }),
    };
  },
};
