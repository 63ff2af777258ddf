import { sphericalKMeans } from './kmeans.js';
import { CentroidStore } from './centroid-store.js';
import { WarmupStore } from './warmup-store.js';
import { normalizeInPlace, Rng, subSeed } from './vectors.js';

export interface CentroidOptions {
  /** Target number of centroids (D4: about √N for N expected documents). */
  readonly k: number;
  /** The warm-up ends at the first batch boundary at or after this many embeddings. */
  readonly warmupDocs: number;
  /** Size of the reservoir sample of the warm-up embeddings that k-means++ is fitted on. */
  readonly sampleSize: number;
  /** Lloyd iterations after k-means++ seeding, for the provisional and the warm-up fit. */
  readonly iterations: number;
  /** Documents after which an old assignment weighs half as much as a new one; 0 = never forget. */
  readonly halfLife: number;
  readonly seed: number;
}

/** What one batch did to the centroids. */
export interface BatchFold {
  /** The version the batch's documents were assigned with. */
  readonly usedVersion: number;
  readonly version: number;
  /** Set when the warm-up fit replaced the centroids: the sample it was fitted on and the weight of each sample point. */
  readonly reseeded?: { readonly sample: readonly Float32Array[]; readonly weight: number };
}

/** Fewest points per provisional cluster: a first batch smaller than 4·k gets fewer clusters. */
const PROVISIONAL_POINTS_PER_CLUSTER = 4;

/**
 * Evolving spherical k-means centroids with a bounded decision delay.
 *
 * Life cycle, per batch (`begin` before the batch is decided, `end` after):
 * 1. The very first batch cannot wait for a full warm-up sample, so it gets *provisional*
 *    centroids: k-means++ plus Lloyd on that batch alone, with at most one cluster per 4 points.
 * 2. Every batch of the warm-up (until `warmupDocs` embeddings have been seen) is offered to a
 *    seeded reservoir sample. At the first batch boundary at or after `warmupDocs`, the
 *    *warm-up fit* (k-means++ plus Lloyd on the sample, full k) replaces the centroids; stages
 *    re-file whatever they keep per cluster. When the first batch already reaches `warmupDocs`,
 *    the warm-up fit is the first version and there is no provisional one.
 * 3. Every other batch is a mini-batch update (Sculley 2010 with the forgetting of Spark's
 *    StreamingKMeans): with a = 0.5^(n / halfLife) for a batch of n, each centroid becomes
 *    normalise(a·w·c + Σ assigned x) and its weight a·w + (points assigned). A centroid no point
 *    chose only decays. Each update is a new version.
 *
 * Documents of a batch are assigned with the version published before the batch (or the one fitted
 * on it), and the update they cause is the next version: every worker that has read version v
 * assigns a document exactly as this one did. Determinism: the sample, the seeds and every sum
 * depend only on the input order, the batch boundaries and `seed`.
 */
export class OnlineCentroids {
  private fittedOn: readonly Float32Array[] | undefined;

  constructor(readonly centroids: CentroidStore, readonly warmup: WarmupStore, readonly options: CentroidOptions) {}

  get ready(): boolean {
    return this.centroids.ready;
  }

  /** Makes sure centroids exist before a batch is decided, fitting them on this batch if needed. */
  begin(vectors: readonly Float32Array[]): void {
    this.fittedOn = undefined;
    if (vectors.length === 0) return;
    if (!this.warmup.done) this.warmup.offer(vectors);
    if (this.centroids.ready) return;
    if (this.warmup.seen >= this.options.warmupDocs) {
      this.fit(this.warmup.sample, this.options.k, this.warmup.seen / this.warmup.sample.length);
      this.warmup.finish();
    } else {
      const k = Math.min(this.options.k, Math.ceil(vectors.length / PROVISIONAL_POINTS_PER_CLUSTER));
      this.fit(vectors, k, 1);
    }
    this.fittedOn = vectors;
  }

  /** Folds a decided batch into the centroids; `assignment[i]` is the centroid vectors[i] was assigned to. */
  end(vectors: readonly Float32Array[], assignment: ArrayLike<number>, usedVersion: number): BatchFold {
    const fitted = this.fittedOn !== undefined;
    this.fittedOn = undefined;
    if (vectors.length === 0 || !this.centroids.ready) return { usedVersion, version: this.centroids.version };
    if (!this.warmup.done && this.warmup.seen >= this.options.warmupDocs) {
      const sample = this.warmup.sample;
      const weight = this.warmup.seen / sample.length;
      this.fit(sample, this.options.k, weight);
      this.warmup.finish();
      return { usedVersion, version: this.centroids.version, reseeded: { sample, weight } };
    }
    if (!fitted) this.update(vectors, assignment);
    return { usedVersion, version: this.centroids.version };
  }

  private fit(points: readonly Float32Array[], k: number, weight: number): void {
    const rng = new Rng(subSeed(this.options.seed, this.centroids.version + 1));
    const fit = sphericalKMeans(points, k, { iterations: this.options.iterations, rng });
    this.centroids.replace(fit.centroids, fit.counts.map((c) => c * weight), fit.dim);
  }

  private update(vectors: readonly Float32Array[], assignment: ArrayLike<number>): void {
    const { k, dim } = this.centroids;
    const decay = this.options.halfLife > 0 ? Math.pow(0.5, vectors.length / this.options.halfLife) : 1;
    const sums = new Float64Array(k * dim);
    const counts = new Float64Array(k);
    vectors.forEach((v, i) => {
      const j = assignment[i]!;
      counts[j]!++;
      const off = j * dim;
      for (let d = 0; d < dim; d++) sums[off + d]! += v[d]!;
    });
    const rows = Float32Array.from(this.centroids.centroids);
    const weights = this.centroids.weights.map((w) => w * decay);
    for (let j = 0; j < k; j++) {
      if (counts[j] === 0) continue;
      const off = j * dim;
      const row = sums.subarray(off, off + dim);
      const w = weights[j]!;
      for (let d = 0; d < dim; d++) row[d] = row[d]! + w * rows[off + d]!;
      if (normalizeInPlace(row)) rows.set(row, off);
      weights[j] = w + counts[j]!;
    }
    this.centroids.replace(rows, weights, dim);
  }
}
