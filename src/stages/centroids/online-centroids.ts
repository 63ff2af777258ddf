import { sphericalKMeans } from './kmeans.js';
import { CentroidStore } from './centroid-store.js';
import { WarmupStore } from './warmup-store.js';
import { addInto, normalizeInPlace, Rng, subSeed } from './vectors.js';

export interface CentroidOptions {
  /** Target number of centroids (D4: about √N for N expected documents). */
  readonly k: number;
  /** Documents until which refits follow `refitGrowth`; after them, every doubling of the stream. */
  readonly warmupDocs: number;
  /** Size of the reservoir sample of the stream that every fit uses. */
  readonly sampleSize: number;
  /** Lloyd iterations after k-means++ seeding, per fit. */
  readonly iterations: number;
  /** Documents after which an old assignment weighs half as much as a new one; 0 = never forget. */
  readonly halfLife: number;
  readonly seed: number;
  /** Refit on the sample whenever the documents seen grew by this fraction since the last fit (until warmupDocs; by 1, i.e. doubling, after). 0: fit once, at the first batch. */
  readonly refitGrowth: number;
  /** Fewest sample points per cluster of a fit: a sample smaller than pointsPerCluster·k gets fewer clusters (default 4). */
  readonly pointsPerCluster?: number;
  /** Lloyd iterations of a refit started from the current centroids (k-means++ draws only the clusters a grown k adds); 0: every fit from a fresh k-means++ seeding. */
  readonly warmRefit?: number;
}

/** What the start of a batch did to the centroids. */
export interface BatchStart {
  /**
   * Set when the centroids were (re)fitted on the sample, which holds this batch: stages re-file
   * what they keep per cluster. `assignment[i]` is sample[i]'s centroid in the fitted version (the
   * fit's last assignment: what `assignBatch` would answer, so stages need not assign the sample again).
   */
  readonly reseeded?: { readonly sample: readonly Float32Array[]; readonly weight: number; readonly assignment: Int32Array };
}

/** What one batch did to the centroids. */
export interface BatchFold {
  /** The version the batch's documents were assigned with. */
  readonly usedVersion: number;
  readonly version: number;
}

/**
 * Evolving spherical k-means centroids with a bounded decision delay (one batch).
 *
 * Life cycle, per batch (`begin` before the batch is decided, `end` after):
 * 1. Every batch is offered to a seeded reservoir sample of the stream (`sampleSize`; while the
 *    stream is shorter than that, the sample is the whole stream).
 * 2. *Refits.* `begin` fits k-means++ plus Lloyd on the sample — which then holds this batch, so
 *    the batch is judged in-sample as batch D4 judges every document — on the first batch, and
 *    again whenever the documents seen have grown by `refitGrowth` since the last fit (×1.25 by
 *    default) until `warmupDocs`, by ×2 after that. A stream whose topics arrive one after the other
 *    (a crawl sorted by site or category) thus gets clusters for a new topic within a bounded
 *    number of documents, instead of dragging centroids fitted on the first topics across the
 *    space; the cost is a geometric series, at most (1 + 1/growth) times one fit on the sample.
 *    Every fit has at most one cluster per `pointsPerCluster` sample points (see `clustersFor`). The
 *    first fit seeds with k-means++ and runs `iterations` Lloyd rounds; a refit (with `warmRefit`
 *    > 0) starts from the current centroids, k-means++ drawing only the clusters a grown k adds,
 *    and runs `warmRefit` rounds. Stages re-file what they keep per cluster (`reseeded`).
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
/** Fewest sample points per cluster by default: a sample smaller than 4·k gets fewer clusters. */
const POINTS_PER_CLUSTER = 4;

export class OnlineCentroids {
  private fittedOn: readonly Float32Array[] | undefined;

  constructor(readonly centroids: CentroidStore, readonly warmup: WarmupStore, readonly options: CentroidOptions) {}

  get ready(): boolean {
    return this.centroids.ready;
  }

  /** Makes sure centroids exist before a batch is decided, fitting them on the sample (which then holds this batch) when due. */
  begin(vectors: readonly Float32Array[]): BatchStart {
    this.fittedOn = undefined;
    if (vectors.length === 0) return {};
    const w = this.warmup;
    w.offer(vectors);
    if (this.centroids.ready && !this.refitDue()) return {};
    const sample = w.sample;
    const weight = w.seen / sample.length;
    const assignment = this.fit(sample, this.clustersFor(sample.length), weight);
    w.markFitted();
    this.fittedOn = vectors;
    return { reseeded: { sample, weight, assignment } };
  }

  /**
   * `begin` for another clustering of the same stream (another seed) that shares the leader's
   * sample: it refits exactly when the leader did, on the same sample, and offers nothing itself.
   */
  follow(leader: BatchStart, vectors: readonly Float32Array[]): BatchStart {
    this.fittedOn = undefined;
    if (vectors.length === 0 || !leader.reseeded) return {};
    const { sample, weight } = leader.reseeded;
    const assignment = this.fit(sample, this.clustersFor(sample.length), weight);
    this.fittedOn = vectors;
    return { reseeded: { sample, weight, assignment } };
  }

  /**
   * Clusters of a fit on `n` sample points: one per `pointsPerCluster` of them, at most k. Above
   * 4, the points per cluster are capped at sampleSize / k, so that a full sample gets all k.
   */
  clustersFor(n: number): number {
    const { k, sampleSize } = this.options;
    const perCluster = Math.min(this.options.pointsPerCluster ?? POINTS_PER_CLUSTER, Math.max(POINTS_PER_CLUSTER, sampleSize / k));
    return Math.max(1, Math.min(k, Math.ceil(n / perCluster)));
  }

  private refitDue(): boolean {
    const { refitGrowth, warmupDocs } = this.options;
    if (!(refitGrowth > 0)) return false;
    const w = this.warmup;
    return w.seen >= (1 + (w.fittedAt < warmupDocs ? refitGrowth : 1)) * w.fittedAt;
  }

  /** Folds a decided batch into the centroids; `assignment[i]` is the centroid vectors[i] was assigned to. */
  end(vectors: readonly Float32Array[], assignment: ArrayLike<number>, usedVersion: number): BatchFold {
    const fitted = this.fittedOn !== undefined;
    this.fittedOn = undefined;
    if (vectors.length === 0 || !this.centroids.ready) return { usedVersion, version: this.centroids.version };
    if (!fitted) this.update(vectors, assignment);
    return { usedVersion, version: this.centroids.version };
  }

  /** Fits on `points` and installs the result; returns each point's centroid in it. */
  private fit(points: readonly Float32Array[], k: number, weight: number): Int32Array {
    const rng = new Rng(subSeed(this.options.seed, this.centroids.version + 1));
    // Warm: from the current centroids (k-means++ adds the clusters a grown k asks for).
    const warm = (this.options.warmRefit ?? 0) > 0 && this.centroids.ready && this.centroids.k <= k && this.centroids.dim === points[0]!.length;
    const fit = sphericalKMeans(points, k, warm ? { iterations: this.options.warmRefit!, rng, init: this.centroids.centroids } : { iterations: this.options.iterations, rng });
    this.centroids.replace(fit.centroids, fit.counts.map((c) => c * weight), fit.dim);
    return fit.assignment;
  }

  private update(vectors: readonly Float32Array[], assignment: ArrayLike<number>): void {
    const { k, dim } = this.centroids;
    const decay = this.options.halfLife > 0 ? Math.pow(0.5, vectors.length / this.options.halfLife) : 1;
    const sums = new Float64Array(k * dim);
    const counts = new Float64Array(k);
    for (let i = 0; i < vectors.length; i++) {
      const j = assignment[i]!;
      counts[j]!++;
      addInto(sums, j * dim, vectors[i]!);
    }
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
