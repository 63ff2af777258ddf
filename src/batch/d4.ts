import { sphericalKMeans } from '../stages/centroids/kmeans.js';
import { dot, Rng, subSeed } from '../stages/centroids/vectors.js';

/**
 * The batch D4 selection as published (Tirumala et al. 2023, with SemDeDup and SSL prototypes),
 * over the embeddings of a whole corpus: the yardstick the online stages are measured against,
 * and an audit mode in its own right (`d4 batch`).
 */
export interface BatchSelectOptions {
  /** Overall kept fraction R, counted over every document of the corpus (D4: 0.25). */
  readonly targetRatio: number;
  /** SemDeDup: cosine ≥ 1 − epsilon is a duplicate. */
  readonly epsilon: number;
  /** Clusters of the first k-means (default round(√n), as D4). */
  readonly k?: number;
  /** Clusters of the re-clustering of the survivors (default round(√survivors)). */
  readonly k2?: number;
  /** Lloyd iterations (D4: 20). */
  readonly iterations: number;
  readonly seed: number;
  /** Rank difficulty within each cluster (D4) or over the whole corpus. */
  readonly scope: 'cluster' | 'global';
  /** Run SemDeDup (the semantic stage). */
  readonly dedup: boolean;
  /** Run prototype pruning (the prototype stage). */
  readonly prototype: boolean;
  /** ε values whose R_dedup is reported (the ε → R_dedup curve). */
  readonly epsilonCurve?: readonly number[];
}

export type BatchVerdict =
  | { readonly keep: true }
  | { readonly keep: false; readonly stage: 'semantic'; readonly duplicateOf: number; readonly similarity: number; readonly cluster: number; readonly threshold: number }
  | { readonly keep: false; readonly stage: 'prototype'; readonly distance: number; readonly threshold: number | null; readonly cluster: number };

export interface BatchSelection {
  /** One verdict per input vector, in input order; `duplicateOf` is an input index. */
  readonly verdicts: BatchVerdict[];
  /** The centroids of the first clustering (SemDeDup) and of the re-clustering (prototypes): k · dim unit rows. */
  readonly centroids: { readonly dedup: Float32Array | null; readonly prototype: Float32Array | null; readonly dim: number };
  readonly stats: {
    readonly documents: number;
    readonly embedded: number;
    readonly k: number | null;
    readonly k2: number | null;
    readonly dedupKept: number;
    readonly protoKept: number;
    /** R_dedup for each ε: the fraction of embedded documents SemDeDup would keep. */
    readonly epsilonCurve: readonly { readonly epsilon: number; readonly keptFraction: number }[];
    readonly seconds: { readonly cluster: number; readonly dedup: number; readonly recluster: number; readonly prototype: number };
  };
}

export const DEFAULT_EPSILON_CURVE = [0.01, 0.02, 0.03, 0.05, 0.08, 0.1, 0.12, 0.15, 0.2, 0.25, 0.3];

const seconds = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;

/**
 * Selects from `vectors` (unit embeddings of the documents that survived exact and near
 * de-duplication) out of `documents` documents in all:
 * 1. spherical k-means, k ≈ √n, `iterations` rounds, k-means++ seeding;
 * 2. SemDeDup with the reference keep rule: inside each cluster, farthest from the centroid first;
 *    a document is dropped when its cosine to *any* earlier one (dropped or not) is ≥ 1 − ε;
 * 3. spherical k-means again on the survivors;
 * 4. SSL prototypes: difficulty = 1 − cosine to the centroid; the
 *    T = min(survivors, round(R · documents)) hardest survive, ranked within each cluster (the
 *    same kept fraction from every cluster, D4) or globally.
 */
export function batchSelect(vectors: readonly Float32Array[], documents: number, options: BatchSelectOptions): BatchSelection {
  const n = vectors.length;
  const verdicts: BatchVerdict[] = Array.from({ length: n }, () => ({ keep: true as const }));
  const times = { cluster: 0, dedup: 0, recluster: 0, prototype: 0 };
  let k: number | null = null;
  let k2: number | null = null;
  const curveEps = options.epsilonCurve ?? DEFAULT_EPSILON_CURVE;
  let maxSim = new Float64Array(0);
  let dedupCentroids: Float32Array | null = null;
  let protoCentroids: Float32Array | null = null;
  let survivors = Array.from({ length: n }, (_, i) => i);

  if (options.dedup && n > 0) {
    let t0 = process.hrtime.bigint();
    const fit = sphericalKMeans(vectors, options.k ?? Math.max(1, Math.round(Math.sqrt(n))), { iterations: options.iterations, rng: new Rng(subSeed(options.seed, 1)) });
    k = fit.k;
    dedupCentroids = fit.centroids;
    times.cluster = seconds(t0);
    t0 = process.hrtime.bigint();
    const threshold = 1 - options.epsilon;
    maxSim = new Float64Array(n).fill(-Infinity);
    for (const members of membersOf(fit.assignment, fit.k)) {
      const simToCentroid = members.map((i) => dot(vectors[i]!, fit.centroids, fit.assignment[i]! * fit.dim));
      // Farthest from the centroid first; input order on ties.
      const order = members.map((_, m) => m).sort((a, b) => simToCentroid[a]! - simToCentroid[b]! || members[a]! - members[b]!).map((m) => members[m]!);
      for (let r = 1; r < order.length; r++) {
        const i = order[r]!;
        let best = -Infinity;
        let of = -1;
        for (let e = 0; e < r; e++) {
          const s = dot(vectors[i]!, vectors[order[e]!]!);
          if (s > best) { best = s; of = order[e]!; }
        }
        maxSim[i] = best;
        if (best >= threshold) verdicts[i] = { keep: false, stage: 'semantic', duplicateOf: of, similarity: Math.min(1, best), cluster: fit.assignment[i]!, threshold };
      }
    }
    survivors = survivors.filter((i) => verdicts[i]!.keep);
    times.dedup = seconds(t0);
  }
  const dedupKept = survivors.length;

  if (options.prototype && survivors.length > 0) {
    let t0 = process.hrtime.bigint();
    const points = survivors.map((i) => vectors[i]!);
    const fit = sphericalKMeans(points, options.k2 ?? Math.max(1, Math.round(Math.sqrt(points.length))), { iterations: options.iterations, rng: new Rng(subSeed(options.seed, 2)) });
    k2 = fit.k;
    protoCentroids = fit.centroids;
    times.recluster = seconds(t0);
    t0 = process.hrtime.bigint();
    const distance = points.map((p, s) => Math.max(0, 1 - dot(p, fit.centroids, fit.assignment[s]! * fit.dim)));
    const groups = options.scope === 'cluster' ? membersOf(fit.assignment, fit.k) : [points.map((_, s) => s)];
    // Level of each survivor within its group: mid-rank of its distance, in (0, 1).
    const level = new Float64Array(points.length);
    for (const g of groups) {
      const sorted = [...g].sort((a, b) => distance[a]! - distance[b]! || a - b);
      sorted.forEach((s, r) => { level[s] = (r + 0.5) / sorted.length; });
    }
    const T = Math.max(0, Math.min(points.length, Math.round(options.targetRatio * documents)));
    const order = points.map((_, s) => s).sort((a, b) => level[b]! - level[a]! || distance[b]! - distance[a]! || a - b);
    const kept = new Uint8Array(points.length);
    for (let r = 0; r < T; r++) kept[order[r]!] = 1;
    // A cluster's threshold: the smallest distance it kept (null when it kept nothing).
    const minKept = new Map<number, number>();
    points.forEach((_, s) => {
      if (!kept[s]) return;
      const c = fit.assignment[s]!;
      minKept.set(c, Math.min(minKept.get(c) ?? Infinity, distance[s]!));
    });
    points.forEach((_, s) => {
      if (kept[s]) return;
      const c = fit.assignment[s]!;
      verdicts[survivors[s]!] = { keep: false, stage: 'prototype', distance: distance[s]!, threshold: minKept.get(c) ?? null, cluster: c };
    });
    times.prototype = seconds(t0);
  }
  const protoKept = verdicts.filter((v) => v.keep).length;
  const epsilonCurve = options.dedup && n > 0
    ? curveEps.map((epsilon) => ({ epsilon, keptFraction: countBelow(maxSim, 1 - epsilon) / n }))
    : [];
  const dim = vectors[0]?.length ?? 0;
  return { verdicts, centroids: { dedup: dedupCentroids, prototype: protoCentroids, dim }, stats: { documents, embedded: n, k, k2, dedupKept, protoKept, epsilonCurve, seconds: times } };
}

function membersOf(assignment: Int32Array, k: number): number[][] {
  const groups: number[][] = Array.from({ length: k }, () => []);
  assignment.forEach((c, i) => groups[c]!.push(i));
  return groups;
}

function countBelow(values: Float64Array, threshold: number): number {
  let c = 0;
  for (const v of values) if (v < threshold) c++;
  return c;
}
