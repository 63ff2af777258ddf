import { DotKernel, errorBound, norm, selectionKernel, strideOf } from '../kernels/dot-simd.js';
import { RowMatrix } from './nearest-batch.js';
import { addInto, dot, normalizeInPlace, Rng } from './vectors.js';

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
 *
 * With `initial` rows (unit, at most k of them), those are the first seeds, taken as they are, and
 * k-means++ draws only the rest: a fit whose k grew keeps the clusters it had.
 */
export function kmeansPlusPlus(points: readonly Float32Array[], k: number, rng: Rng, initial?: Float32Array): Float32Array {
  const n = points.length;
  if (n === 0) throw new Error('k-means++ needs at least one point');
  const dim = points[0]!.length;
  const given = initial ? Math.min(k, initial.length / dim) : 0;
  const want = Math.max(given, Math.min(k, n));
  const rows = new Float32Array(want * dim);
  const gap = new Float64Array(n);
  let chosen = 0;
  if (initial && given > 0) {
    // The given seeds' gaps in one batched pass: 1 − the largest cosine, the value `take` reaches seed by seed.
    rows.set(initial.subarray(0, given * dim));
    chosen = given;
    const matrix = new RowMatrix();
    matrix.load(rows, given, dim);
    const near = matrix.nearestTwo(points, 'first');
    matrix.release();
    for (let p = 0; p < n; p++) gap[p] = Math.max(0, 1 - near.firstSimilarity[p]!);
    if (chosen === want) return rows;
  }
  const seedDots = selectionKernel() === 'reference' ? undefined : seedDotProducts(points, dim);
  const take = (i: number) => {
    rows.set(points[i]!, chosen * dim);
    const off = chosen * dim;
    chosen++;
    // Every point's float32 product with the new seed; the scalar `dot` only where it may lower the gap.
    const approx = chosen === 1 || !seedDots ? undefined : seedDots.products(points[i]!);
    for (let p = 0; p < n; p++) {
      if (approx && Math.max(0, 1 - approx.value[p]! - approx.delta[p]!) >= gap[p]!) continue;
      const d = Math.max(0, 1 - dot(points[p]!, rows, off));
      if (chosen === 1 || d < gap[p]!) gap[p] = d;
    }
  };
  if (chosen === 0) take(rng.int(n));
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
  seedDots?.release();
  return chosen === want ? rows : rows.slice(0, chosen * dim);
}

/**
 * Spherical k-means (Dhillon & Modha 2001): assign by the largest cosine, move each centroid to
 * the normalised mean of its points. An emptied cluster is re-seeded with the point its own
 * centroid serves worst (the same rule every run, so the fit stays deterministic). Stops after
 * `iterations` rounds or as soon as no assignment changes.
 */
export function sphericalKMeans(points: readonly Float32Array[], k: number, options: { iterations: number; rng: Rng; init?: Float32Array }): Fit {
  const n = points.length;
  const dim = points[0]!.length;
  // Initial centroids fewer than k: k-means++ adds the rest.
  const centroids = options.init && options.init.length >= k * dim ? options.init.slice(0, k * dim) : kmeansPlusPlus(points, k, options.rng, options.init);
  const kk = centroids.length / dim;
  const assignment = new Int32Array(n).fill(-1);
  const similarity = new Float64Array(n);
  const counts = new Float64Array(kk);
  let iterations = 0;
  const matrix = new RowMatrix();
  // Each point's similarity to its centroid is only needed to re-seed an empty cluster: computed
  // then, from the centroids the points were assigned to, as the scalar path would have.
  let assignedTo = centroids;
  let similarityKnown = false;
  const knowSimilarity = () => {
    if (similarityKnown) return;
    for (let p = 0; p < n; p++) similarity[p] = dot(points[p]!, assignedTo, assignment[p]! * dim);
    similarityKnown = true;
  };
  const assign = (): boolean => {
    let changed = false;
    counts.fill(0);
    matrix.load(centroids, kk, dim);
    const near = matrix.nearestTwo(points, 'none');
    for (let p = 0; p < n; p++) {
      if (near.first[p] !== assignment[p]) changed = true;
      assignment[p] = near.first[p]!;
      counts[near.first[p]!]!++;
    }
    assignedTo = centroids.slice();
    similarityKnown = false;
    return changed;
  };
  assign();
  for (let it = 0; it < options.iterations; it++) {
    iterations++;
    const sums = new Float64Array(kk * dim);
    for (let p = 0; p < n; p++) addInto(sums, assignment[p]! * dim, points[p]!);
    for (let j = 0; j < kk; j++) {
      const row = sums.subarray(j * dim, (j + 1) * dim);
      if (counts[j]! > 0 && normalizeInPlace(row)) centroids.set(row, j * dim);
      else {
        // Empty cluster: take the worst-served point (lowest similarity, first on ties).
        knowSimilarity();
        let worst = 0;
        for (let p = 1; p < n; p++) if (similarity[p]! < similarity[worst]!) worst = p;
        centroids.set(points[worst]!, j * dim);
        similarity[worst] = Infinity; // do not hand the same point to two empty clusters
      }
    }
    if (!assign()) break;
  }
  matrix.release();
  return { k: kk, dim, centroids, counts, assignment, iterations };
}

/**
 * The points in a dot-product kernel, and their float32 products with one vector, each with its
 * error bound (kernels/dot-simd.ts): k-means++ only needs the scalar `dot` where a new seed may
 * come nearer than the nearest seed so far, which after the first few seeds is rare.
 */
function seedDotProducts(points: readonly Float32Array[], dim: number): { products: (seed: Float32Array) => { value: Float32Array; delta: Float64Array }; release: () => void } {
  const n = points.length;
  const stride = strideOf(dim);
  const nPad = (n + 3) & ~3;
  let kernel: DotKernel | undefined;
  let at = { rows: 0, query: 0, pointers: 0, out: 0 };
  const value = new Float32Array(n);
  const delta = new Float64Array(n);
  const norms = Float64Array.from(points, norm);
  const products = (seed: Float32Array) => {
    if (!kernel) {
      kernel = new DotKernel();
      const rows = kernel.alloc(nPad * stride * 4);
      const query = kernel.alloc(stride * 4);
      const pointers = kernel.alloc(8);
      const out = kernel.alloc(2 * nPad * 4);
      at = { rows, query, pointers, out };
      const f = kernel.f32;
      points.forEach((p, i) => f.set(p, (rows >> 2) + i * stride));
    }
    const f = kernel.f32;
    f.set(seed, at.query >> 2);
    kernel.i32[at.pointers >> 2] = at.query;
    kernel.gemm(at.pointers, 1, at.rows, nPad, stride * 4, at.out, nPad);
    value.set(kernel.f32.subarray(at.out >> 2, (at.out >> 2) + n));
    const ns = norm(seed);
    for (let p = 0; p < n; p++) {
      const d = errorBound(dim, norms[p]!, ns);
      delta[p] = Number.isFinite(d) ? d : Infinity;
    }
    return { value, delta };
  };
  return { products, release: () => kernel?.release() };
}
