// node dist/bench/select/ann-bench.js [--sizes 4096,16384] [--queries 1000]
//
// Which nearest-neighbour index a large cluster of the semantic stage should use, measured: one
// cluster of N synthetic 384-d unit vectors (documents around a few sub-topics, 10% near-copies),
// inserted one at a time as the stage does, then queried with held-out documents (half of them
// near-copies of an indexed one). For each index: µs per insert, µs per query, recall@1 against the
// exact answer, and bytes per document (hnswlib: its documented layout; usearch: the size of its
// saved file). Candidates: hnswlib-node HNSW (the product's, m 16 / efConstruction 100 / efSearch
// 64), usearch (npm, its CommonJS build) HNSW with the same degree and lists, in f32, f16 and i8,
// and the exact flat SIMD search of ClusterIndexStore (kernels/dot-simd.ts). Prints figures and one
// JSON line; never fails on time.
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHnswIndex } from '../../src/io/models/hnsw-index.js';
import { ClusterIndexStore } from '../../src/stages/semantic/cluster-index-store.js';
import { exactAnnIndex } from '../../src/stages/semantic/ann.js';
import { dot, normalizeInPlace, Rng } from '../../src/stages/centroids/vectors.js';
import { benchArgs, numberArg, numberListArg } from '../args.js';

// The ESM entry of usearch 2.26 loads its native addon through a path that breaks under Node's
// ESM resolver; its CommonJS build is the one that works.
const require = createRequire(import.meta.url);
const usearch = require('usearch') as typeof import('usearch');

const USAGE = `
node dist/bench/select/ann-bench.js [--sizes 4096,16384] [--queries 1000]

Which index a large semantic cluster should use: hnswlib-node, usearch (f32, f16, i8) and the exact
flat SIMD search on one synthetic cluster of each size; µs per insert and query, recall@1, bytes
per document. Prints, never fails on time; the last line is one JSON object.`;
const args = benchArgs(USAGE, { sizes: { type: 'string', default: '4096,16384' }, queries: { type: 'string', default: '1000' } });
const sizes = numberListArg(USAGE, 'sizes', args.sizes, { min: 1, integer: true });
const QUERIES = numberArg(USAGE, 'queries', args.queries, { min: 1, integer: true });
const DIM = 384;

function cluster(n: number, seed: number): Float32Array[] {
  const rng = new Rng(seed);
  const g = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  const center = Float32Array.from({ length: DIM }, g);
  normalizeInPlace(center);
  const subs = Array.from({ length: 8 }, () => {
    const s = Float32Array.from(center, (c) => c + 0.06 * g());
    normalizeInPlace(s);
    return s;
  });
  const out: Float32Array[] = [];
  for (let i = 0; i < n; i++) {
    const copy = i > 10 && rng.next() < 0.1;
    const base = copy ? out[rng.int(out.length)]! : subs[rng.int(subs.length)]!;
    const v = Float32Array.from(base, (x) => x + (copy ? 0.007 : 0.05) * g());
    normalizeInPlace(v);
    out.push(v);
  }
  return out;
}

const now = () => Number(process.hrtime.bigint()) / 1e3;

function exactAnswers(points: Float32Array[], queries: Float32Array[]): number[] {
  return queries.map((q) => {
    let best = -1;
    let sim = -Infinity;
    points.forEach((p, i) => { const s = dot(q, p); if (s > sim) { sim = s; best = i; } });
    return best;
  });
}

interface Row { index: string; n: number; insert_us: number; query_us: number; recall_at_1: number; bytes_per_doc: number | null }

const rows: Row[] = [];
for (const n of sizes) {
  const all = cluster(n + QUERIES, n);
  const points = all.slice(0, n);
  // Held-out queries: every other one a near-copy of an indexed point.
  const rng = new Rng(7);
  const queries = all.slice(n).map((q, i) => {
    if (i % 2) return q;
    const v = Float32Array.from(points[rng.int(n)]!, (x) => x + 0.003 * (rng.next() - 0.5));
    normalizeInPlace(v);
    return v;
  });
  const truth = exactAnswers(points, queries);
  const record = (index: string, insertUs: number, queryUs: number, labels: number[], bytes: number | null) => {
    const recall = labels.filter((l, i) => l === truth[i]).length / labels.length;
    rows.push({ index, n, insert_us: Number((insertUs / n).toFixed(1)), query_us: Number((queryUs / queries.length).toFixed(1)), recall_at_1: Number(recall.toFixed(4)), bytes_per_doc: bytes === null ? null : Math.round(bytes / n) });
    console.log(`  ${n.toLocaleString('en')} docs  ${index.padEnd(26)} insert ${(insertUs / n).toFixed(1).padStart(7)} µs  query ${(queryUs / queries.length).toFixed(1).padStart(7)} µs  recall@1 ${recall.toFixed(3)}  ${bytes === null ? '' : `${Math.round(bytes / n)} B/doc`}`);
  };

  // hnswlib-node, as the product builds it (exactBelow 1: a graph from the first point).
  {
    const ix = createHnswIndex({ dim: DIM, m: 16, efConstruction: 100, efSearch: 64, seed: 1, initialCapacity: 64, exactBelow: 1 });
    let t = now();
    points.forEach((p, i) => ix.add(p, i));
    const ins = now() - t;
    t = now();
    const labels = queries.map((q) => ix.nearest(q)!.label);
    record('hnswlib-node HNSW f32', ins, now() - t, labels, ix.bytes());
    ix.close();
  }
  for (const [name, scalar] of [['usearch HNSW f32', 'f32'], ['usearch HNSW f16', 'f16'], ['usearch HNSW i8', 'i8']] as const) {
    const ix = new usearch.Index({ dimensions: DIM, metric: 'ip' as never, quantization: scalar as never, connectivity: 16, expansion_add: 100, expansion_search: 64, multi: false } as never);
    let t = now();
    points.forEach((p, i) => ix.add(BigInt(i), p, 1));
    const ins = now() - t;
    t = now();
    const labels = queries.map((q) => Number(ix.search(q, 1, 1).keys[0]));
    const qUs = now() - t;
    const dir = mkdtempSync(join(tmpdir(), 'd4-ann-'));
    let bytes: number | null = null;
    try {
      ix.save(join(dir, 'ix.usearch'));
      bytes = statSync(join(dir, 'ix.usearch')).size;
    } catch { /* size unknown */ }
    rmSync(dir, { recursive: true, force: true });
    record(name, ins, qUs, labels, bytes);
  }
  // The exact flat search of the store (float32 SIMD filter + scalar check): one cluster.
  {
    const store = new ClusterIndexStore({ name: 'ix', factory: exactAnnIndex, capacity: 10 * n, m: 16, efConstruction: 100, efSearch: 64, seed: 1, exactBelow: 10 * n });
    let t = now();
    points.forEach((p, i) => store.add(0, p, `d${i}`));
    const ins = now() - t;
    const ids = new Map(points.map((_, i) => [`d${i}`, i]));
    t = now();
    const labels = queries.map((q) => ids.get(store.nearest(0, q)!.id)!);
    record('exact flat SIMD (store)', ins, now() - t, labels, store.bytes());
    // One batch of 32 queries against the cluster at once, as nearestAbove groups them.
    t = now();
    for (let i = 0; i < queries.length; i += 32) store.nearestAbove({ vectors: queries.slice(i, i + 32), clusters: new Int32Array(Math.min(32, queries.length - i)) }, 0.92);
    const grouped = now() - t;
    console.log(`  ${n.toLocaleString('en')} docs  exact flat SIMD, 32 queries a call: query ${(grouped / queries.length).toFixed(1)} µs`);
    rows.push({ index: 'exact flat SIMD (store), grouped', n, insert_us: 0, query_us: Number((grouped / queries.length).toFixed(1)), recall_at_1: 1, bytes_per_doc: null });
    store.close();
  }
}
console.log(JSON.stringify({ bench: 'select-ann', dim: DIM, queries: QUERIES, rows }));
