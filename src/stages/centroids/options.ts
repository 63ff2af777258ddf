import { z } from 'zod';
import type { CentroidOptions } from './online-centroids.js';

/** Lloyd iterations of a warm refit by default (see warmRefit below). */
const DEFAULT_WARM_REFIT = 3;

/** Options every stage with its own evolving centroids takes (semantic, prototype). */
export const centroidOptionsShape = {
  expectedDocs: z.number().int().positive().default(1_000_000)
    .describe('documents the stream is expected to hold; sets the defaults of k, warmupDocs and halfLife'),
  k: z.number().int().positive().optional().describe('centroids (default round(√expectedDocs), as in D4)'),
  warmupDocs: z.number().int().positive().optional()
    .describe('documents until which the centroids are refitted every refitGrowth, then every doubling (default 20·k, within 4,096..100,000)'),
  sampleSize: z.number().int().positive().optional().describe('reservoir sample of the stream every fit uses (default max(warmupDocs, 4,096), at most 50,000)'),
  refitGrowth: z.number().min(0).default(0.25).describe('refit on the sample when the documents seen grew by this fraction since the last fit (0: fit once, on the first batch)'),
  pointsPerCluster: z.number().min(1).default(4).describe('fewest sample points per cluster of a fit: while the sample is under pointsPerCluster·k, a fit gets fewer clusters'),
  iterations: z.number().int().min(0).default(10).describe('Lloyd iterations of each fit'),
  // Measured (docs/selection-speed.md, 2026-12-03): bench:select at 100k, online / faiss 0.245 with
  // every refit seeding afresh, 0.34-0.40 with warm refits of an unchanged k; bench:quality the same on the document corpora, better on the long
  // passage streams (24,181 passages: online~batch 0.333 -> 0.336 in order, 0.445 -> 0.465 shuffled),
  // all-blocks 0.96 -> 0.93. Warm also when k grew (the warm-up's fits): online at 100k 3,255 -> 4,367
  // docs/s back to back, bench:quality within 0.01 of that (passages-shuffled 0.458).
  warmRefit: z.number().int().min(0).default(DEFAULT_WARM_REFIT).describe('Lloyd iterations of a refit started from the current centroids (k-means++ adds the clusters a grown k asks for); 0: every fit seeds afresh'),
  halfLife: z.number().min(0).optional().describe('documents after which an old assignment counts half in the centroids and sketches (default expectedDocs; 0 = never forget)'),
  seed: z.number().int().min(0).max(0xffffffff).default(42).describe('seed of the reservoir sample, k-means++ and the HNSW levels'),
};

export interface CentroidOptionInput {
  readonly expectedDocs: number;
  readonly k?: number | undefined;
  readonly warmupDocs?: number | undefined;
  readonly sampleSize?: number | undefined;
  readonly iterations: number;
  readonly warmRefit?: number | undefined;
  readonly refitGrowth?: number | undefined;
  readonly pointsPerCluster?: number | undefined;
  readonly halfLife?: number | undefined;
  readonly seed: number;
}

/** Fills the derived defaults; the result is what goes into the parameters hash. */
export function resolveCentroidOptions(o: CentroidOptionInput): CentroidOptions & { readonly expectedDocs: number } {
  const k = o.k ?? Math.max(1, Math.round(Math.sqrt(o.expectedDocs)));
  const warmupDocs = o.warmupDocs ?? Math.min(100_000, Math.max(4096, 20 * k));
  return {
    expectedDocs: o.expectedDocs,
    k,
    warmupDocs,
    sampleSize: o.sampleSize ?? Math.min(50_000, Math.max(warmupDocs, 4096)),
    iterations: o.iterations,
    warmRefit: o.warmRefit ?? DEFAULT_WARM_REFIT,
    refitGrowth: o.refitGrowth ?? 0.25,
    pointsPerCluster: o.pointsPerCluster ?? 4,
    halfLife: o.halfLife ?? o.expectedDocs,
    seed: o.seed,
  };
}
