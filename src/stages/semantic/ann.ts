import { clampSimilarity, dot } from '../centroids/vectors.js';

/**
 * A nearest-neighbour index over unit vectors by inner product (= cosine), as a stage sees it.
 * The product's implementation is HNSW (src/io/models/hnsw-index.ts, hnswlib-node); tests use
 * `exactAnnIndex`. Labels are 0, 1, 2, ... in insertion order.
 */
export interface AnnIndex {
  /** Adds the next point; the index grows as needed, there is no capacity to hit. */
  add(vector: Float32Array, label: number): void;
  /** The most similar point, or undefined when the index is empty. */
  nearest(vector: Float32Array): { readonly label: number; readonly similarity: number } | undefined;
  /** The stored vector of a label (for snapshots and re-filing). */
  vector(label: number): Float32Array;
  size(): number;
  /** Estimated bytes held. */
  bytes(): number;
  /** Frees native memory; the index is unusable afterwards. */
  close(): void;
}

export interface AnnIndexOptions {
  readonly dim: number;
  /** HNSW graph degree. */
  readonly m: number;
  readonly efConstruction: number;
  readonly efSearch: number;
  /** Seeds the level of each inserted point: a fresh index fed the same points in the same order is the same graph. */
  readonly seed: number;
  /** Points to allocate room for at first. */
  readonly initialCapacity: number;
  /** Below this many points the index may search exhaustively (exact) instead of through a graph. */
  readonly exactBelow?: number;
}

export type AnnIndexFactory = (options: AnnIndexOptions) => AnnIndex;

/** Brute-force exact search: the reference the HNSW index approximates, and the test double. */
export const exactAnnIndex: AnnIndexFactory = (options) => {
  const rows: Float32Array[] = [];
  return {
    add(vector, label) {
      if (label !== rows.length) throw new Error(`labels must be consecutive: expected ${rows.length}, got ${label}`);
      if (vector.length !== options.dim) throw new Error(`expected a ${options.dim}-d vector, got ${vector.length}-d`);
      rows.push(Float32Array.from(vector));
    },
    nearest(vector) {
      let best = -1;
      let sim = -Infinity;
      for (let i = 0; i < rows.length; i++) {
        const s = dot(vector, rows[i]!);
        if (s > sim) { sim = s; best = i; }
      }
      return best < 0 ? undefined : { label: best, similarity: clampSimilarity(sim) };
    },
    vector: (label) => rows[label]!,
    size: () => rows.length,
    bytes: () => rows.length * (options.dim * 4 + 64),
    close: () => { rows.length = 0; },
  };
};
