// The one module that imports hnswlib-node: the nearest-neighbour index of the semantic stage
// (the AnnIndex of src/stages/semantic/ann.ts). Stages get it through their deps (`annIndex`).
import hnswlib from 'hnswlib-node';
import type { AnnIndex, AnnIndexFactory, AnnIndexOptions } from '../../stages/semantic/ann.js';

const { HierarchicalNSW, BruteforceSearch } = hnswlib;
type Hnsw = InstanceType<typeof HierarchicalNSW>;
type Brute = InstanceType<typeof BruteforceSearch>;

/** Clusters smaller than this are searched exhaustively (see createHnswIndex). */
export const DEFAULT_EXACT_BELOW = 2048;

/**
 * Every hnswlib HierarchicalNSW allocates 65,536 label locks up front (~2.5 MB, measured), and a
 * dropped JS wrapper frees its native index only when the garbage collector gets to it. Closed
 * graphs are therefore kept here and re-initialised (`initIndex` frees the old native index at
 * once) instead of allocating new ones.
 */
const pool = new Map<number, Hnsw[]>();
const POOL_MAX = 64;

function takeHnsw(dim: number): Hnsw {
  return pool.get(dim)?.pop() ?? new HierarchicalNSW('ip', dim);
}

function releaseHnsw(dim: number, index: Hnsw): void {
  const free = pool.get(dim) ?? [];
  pool.set(dim, free);
  if (free.length < POOL_MAX) {
    index.initIndex({ maxElements: 1 }); // frees the points now; the label locks stay with the wrapper
    free.push(index);
  }
}

/**
 * A cluster's index over unit vectors in inner-product space (distance = 1 − dot, so
 * similarity = 1 − distance is the cosine). Inner product rather than hnswlib's "cosine" space
 * because that one normalises each point again on insert, and re-inserting a stored point (a
 * restore, a re-filing) must give the very same float32 values.
 *
 * Two tiers, because an HNSW graph has a fixed cost of ~2.5 MB and most clusters are small:
 * - below `exactBelow` points (default 2,048): hnswlib's exhaustive BruteforceSearch (SIMD; exact,
 *   0.15 ms a query at 2,048 × 384-d on the 2-core machine), with a float32 copy of the points kept
 *   here (hnswlib cannot hand them back); it is rebuilt twice as large when full;
 * - from then on: an HNSW graph (hnswlib HierarchicalNSW), built from the points in label order,
 *   doubled (`resizeIndex`) whenever full, so no capacity is ever hit.
 * hnswlib draws each point's HNSW level from a generator seeded with `seed` when the graph is
 * created, so the index is a function of the points added and their order: a fresh one fed the
 * same points in the same order answers every query the same way.
 *
 * Memory per point (384-d, m = 16): exhaustive tier 2 × 1,536 B (the copy and hnswlib's) + ~40 B;
 * HNSW tier 1,536 (vector) + 132 (level-0 links) + 8 (label) + ~80 (upper levels, lock, label
 * map) ≈ 1,760 B, plus the graph's 2.5 MB (1.2 KB a point at 2,048 points, 250 B at 10,000).
 */
export const createHnswIndex: AnnIndexFactory = (options: AnnIndexOptions): AnnIndex => {
  const { dim } = options;
  const exactBelow = Math.max(1, options.exactBelow ?? DEFAULT_EXACT_BELOW);
  let count = 0;
  let points: Float32Array | undefined = new Float32Array(Math.max(16, Math.min(options.initialCapacity, exactBelow)) * dim);
  let brute: Brute | undefined = newBrute(points.length / dim);
  let graph: Hnsw | undefined;
  let closed = false;

  function newBrute(capacity: number): Brute {
    const b = new BruteforceSearch('ip', dim);
    b.initIndex(capacity);
    return b;
  }

  function row(label: number): Float32Array {
    return points!.subarray(label * dim, (label + 1) * dim);
  }

  function toGraph(): void {
    graph = takeHnsw(dim);
    graph.initIndex({ maxElements: Math.max(2 * count, 16), m: options.m, efConstruction: options.efConstruction, randomSeed: options.seed });
    graph.setEf(options.efSearch);
    for (let label = 0; label < count; label++) graph.addPoint(Array.from(row(label)), label);
    brute?.initIndex(1); // frees hnswlib's copy now rather than at the next garbage collection
    brute = undefined;
    points = undefined;
  }

  const check = () => {
    if (closed) throw new Error('nearest-neighbour index used after close()');
  };

  return {
    add(vector, label) {
      check();
      if (vector.length !== dim) throw new Error(`expected a ${dim}-d vector, got ${vector.length}-d`);
      if (label !== count) throw new Error(`labels must be consecutive: expected ${count}, got ${label}`);
      if (graph) {
        if (count >= graph.getMaxElements()) graph.resizeIndex(graph.getMaxElements() * 2);
        graph.addPoint(Array.from(vector), label);
        count++;
        return;
      }
      if (count * dim >= points!.length) {
        const grown = new Float32Array(points!.length * 2);
        grown.set(points!);
        points = grown;
        brute!.initIndex(1);
        brute = newBrute(points.length / dim);
        for (let l = 0; l < count; l++) brute.addPoint(Array.from(row(l)), l);
      }
      points!.set(vector, count * dim);
      brute!.addPoint(Array.from(vector), label);
      count++;
      if (count >= exactBelow) toGraph();
    },
    nearest(vector) {
      check();
      if (count === 0) return undefined;
      const r = (graph ?? brute!).searchKnn(Array.from(vector), 1);
      const label = r.neighbors[0];
      if (label === undefined) return undefined;
      const s = 1 - r.distances[0]!;
      return { label, similarity: s > 1 ? 1 : s < -1 ? -1 : s };
    },
    vector(label) {
      check();
      if (label < 0 || label >= count) throw new Error(`no point ${label} (${count} points)`);
      return graph ? Float32Array.from(graph.getPoint(label)) : row(label).slice();
    },
    size: () => count,
    bytes: () => (graph ? count * (dim * 4 + 4 + 2 * options.m * 4 + 8 + 80) + 2.5 * 1048576 : count * (2 * dim * 4 + 40)),
    close() {
      if (closed) return;
      closed = true;
      if (graph) releaseHnsw(dim, graph);
      brute?.initIndex(1);
      graph = undefined;
      brute = undefined;
      points = undefined;
    },
  };
};
