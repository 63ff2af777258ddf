import { dot, nearestTwo, normalizeInPlace, Rng } from './vectors.js';

/** Centroids as one row-major float32 matrix of unit rows, with the weight behind each. */
export interface Fit {
  readonly k: number;
  readonly dim: number;
  readonly centroids: Float32Array;
  /** Points assigned to each centroid in the last assignment. */
  readonly counts: Float64Array;
  /** Centroid of each point in the last assignment. */
  readonly assignment: Int32Array;
  readonly iterations: number;
}

/**
 * k-means++ seeding (Arthur & Vassilvitskii 2007) for unit vectors: each next seed is drawn with
 * probability proportional to the squared Euclidean distance to the nearest seed so far, which
 * for unit vectors is 2·(1 − cosine), so 1 − cosine is used directly. Identical points (distance
 * 0 to a seed) are never drawn twice; when every point coincides with a seed, `k` is cut to the
 * seeds found.
 */
export function kmeansPlusPlus(points: readonly Float32Array[], k: number, rng: Rng): Float32Array {
  const n = points.length;
  if (n === 0) throw new Error('k-means++ needs at least one point');
  const dim = points[0]!.length;
  const want = Math.min(k, n);
  const rows = new Float32Array(want * dim);
  const gap = new Float64Array(n);
  let chosen = 0;
  const take = (i: number) => {
    rows.set(points[i]!, chosen * dim);
    const off = chosen * dim;
    chosen++;
    for (let p = 0; p < n; p++) {
      const d = Math.max(0, 1 - dot(points[p]!, rows, off));
      if (chosen === 1 || d < gap[p]!) gap[p] = d;
    }
  };
  take(rng.int(n));
  while (chosen < want) {
    let total = 0;
    for (let p = 0; p < n; p++) total += gap[p]!;
    if (!(total > 0)) break;
    let r = rng.next() * total;
    let pick = -1;
    for (let p = 0; p < n; p++) {
      if (gap[p]! <= 0) continue;
      pick = p;
      r -= gap[p]!;
      if (r < 0) break;
    }
    take(pick);
  }
  return chosen === want ? rows : rows.slice(0, chosen * dim);
}

/**
 * Spherical k-means (Dhillon & Modha 2001): assign by the largest cosine, move each centroid to
 * the normalised mean of its points. An emptied cluster is re-seeded with the point its own
 * centroid serves worst (the same rule every run, so the fit stays deterministic). Stops after
 * `iterations` rounds or as soon as no assignment changes.
 */
export function sphericalKMeans(points: readonly Float32Array[], k: number, options: { iterations: number; rng: Rng }): Fit {
  const n = points.length;
  const dim = points[0]!.length;
  const centroids = kmeansPlusPlus(points, k, options.rng);
  const kk = centroids.length / dim;
  const assignment = new Int32Array(n).fill(-1);
  const similarity = new Float64Array(n);
  const counts = new Float64Array(kk);
  let iterations = 0;
  const assign = (): boolean => {
    let changed = false;
    counts.fill(0);
    for (let p = 0; p < n; p++) {
      const near = nearestTwo(points[p]!, centroids, kk, dim);
      if (near.first !== assignment[p]) changed = true;
      assignment[p] = near.first;
      similarity[p] = near.firstSimilarity;
      counts[near.first]!++;
    }
    return changed;
  };
  assign();
  for (let it = 0; it < options.iterations; it++) {
    iterations++;
    const sums = new Float64Array(kk * dim);
    for (let p = 0; p < n; p++) {
      const off = assignment[p]! * dim;
      const v = points[p]!;
      for (let d = 0; d < dim; d++) sums[off + d]! += v[d]!;
    }
    for (let j = 0; j < kk; j++) {
      const row = sums.subarray(j * dim, (j + 1) * dim);
      if (counts[j]! > 0 && normalizeInPlace(row)) centroids.set(row, j * dim);
      else {
        // Empty cluster: take the worst-served point (lowest similarity, first on ties).
        let worst = 0;
        for (let p = 1; p < n; p++) if (similarity[p]! < similarity[worst]!) worst = p;
        centroids.set(points[worst]!, j * dim);
        similarity[worst] = Infinity; // do not hand the same point to two empty clusters
      }
    }
    if (!assign()) break;
  }
  return { k: kk, dim, centroids, counts, assignment, iterations };
}
