import { checkSnapshotOwner, PendingChanges, StoreError, type Change, type StateStore } from '../../state/store.js';
import { DotKernel, errorBound, selectionKernel, strideOf, type SelectionKernel } from '../kernels/dot-simd.js';
import { CALL_WORDS } from '../kernels/parallel.js';
import { clampSimilarity, dot, subSeed, vectorBytes, vectorFromBytes } from '../centroids/vectors.js';
import type { AnnIndex, AnnIndexFactory } from './ann.js';

export interface ClusterIndexStoreOptions {
  readonly name: string;
  /** The nearest-neighbour index of a cluster that has reached `exactBelow` documents. */
  readonly factory: AnnIndexFactory;
  /** Most documents held over all clusters; each cluster holds at most ⌈capacity / k⌉. */
  readonly capacity: number;
  readonly m: number;
  readonly efConstruction: number;
  readonly efSearch: number;
  readonly seed: number;
  /** Clusters smaller than this are searched exhaustively (exact); from then on through `factory` (default 4,096). */
  readonly exactBelow?: number;
}

/** The most similar earlier document, as the semantic stage reports it. */
export interface IndexHit {
  readonly id: string;
  /** Cosine, clamped into [-1, 1]. */
  readonly similarity: number;
}

/** Documents to look up together: each in its cluster and (when ≥ 0) a second one. */
export interface IndexBatch {
  readonly vectors: readonly Float32Array[];
  readonly clusters: ArrayLike<number>;
  /** A second cluster to search (the next-nearest centroid), -1 for none. */
  readonly alternates?: ArrayLike<number>;
  /** When given, each document joins `clusters[i]` right after it is looked up, so later ones of the batch find it. */
  readonly ids?: readonly string[];
}

interface Cluster {
  /** Addresses of the pages (PAGE_ROWS rows each) holding the vectors, in label order. */
  pages: number[];
  count: number;
  /** Store-wide insertion number of each label (label = position). */
  seqs: number[];
  ids: string[];
  /** From `exactBelow` documents on: the approximate index over the same vectors. */
  ann: AnnIndex | undefined;
}

interface Entry {
  readonly seq: number;
  readonly cluster: number;
  readonly id: string;
  readonly vector: Float32Array;
}

/** Fewest documents a cluster is allowed before it forgets, whatever the capacity and k. */
const MIN_PER_CLUSTER = 16;
/** Rows per page of the vector arena. */
const PAGE_ROWS = 64;
export const DEFAULT_EXACT_BELOW = 4096;
/** Products per job of a search (float32 values, 1 MB): bounds its scratch space. */
const OUT_FLOATS = 1 << 18;

/** The best candidate so far of one lookup: exact similarity (not clamped yet) and where it is. */
interface Best {
  sim: number;
  id: string;
}

/**
 * One vector index per cluster, holding every document the semantic stage has judged (kept or
 * dropped: the reference SemDeDup compares with *any* earlier document), with its id.
 *
 * Vectors live in one arena: pages of 64 float32 rows in a dot-product kernel's memory
 * (kernels/dot-simd.ts), a cluster being a list of pages. A cluster below `exactBelow` documents
 * is searched exhaustively: one matrix product of the batch's queries for that cluster with its
 * pages, as a float32 filter, and the scalar `dot` for every row within the kernel's error bound of
 * the best or of the threshold — so the answer is the exact search's (`exactAnnIndex`), bit for
 * bit, at the speed of the product. From `exactBelow` documents on, a cluster also has an
 * approximate index (`factory`, HNSW in the product) built from its rows in label order, and is
 * searched through it.
 *
 * `nearestAbove` takes a whole batch: it groups the lookups by cluster, so that each page is read
 * once for all the batch's queries of that cluster (the products of every cluster's pages go to
 * the kernel as one list, which the selection threads share: kernels/parallel.ts), and finds
 * duplicates inside the batch with the scalar `dot`. A cluster that forgets during the batch is still searched in one pass: each lookup
 * is limited to the suffix of the cluster's rows and of the batch's earlier documents that the
 * one-by-one path would hold at that moment. When a batch would make a cluster reach `exactBelow`,
 * or touches a cluster searched approximately, it goes one document at a time instead: the answers
 * are always those of looking up and adding the documents one by one.
 *
 * The invariant that makes restarts exact: a cluster's index is always what a fresh index (seeded
 * with `seed` and the cluster number) becomes when its documents are added in insertion order.
 * Appends keep it; forgetting (a full cluster keeps its newest half) and re-filing (after the
 * warm-up fit, every document moves to its new nearest centroid) rebuild the clusters from the
 * stored vectors in insertion order. So a snapshot only needs the vectors and ids, and restoring
 * it (or replaying the changelog) rebuilds exactly what an uninterrupted worker has.
 *
 * Changelog: key = the insertion number, value = cluster (u32 LE), id length (u32 LE), id (UTF-8),
 * vector (float32 LE); key `m` + the insertion number, value = the cluster a re-filing moved the
 * entry to (u32 LE: a re-filing writes 4 bytes a document, not the entry again); null when
 * forgotten; key `k`, value = the number of clusters (u32 LE).
 *
 * Memory per document (384-d): the float32 row (1,536 B) and its share of a cluster's last page,
 * an id string and a number (~60 B); a cluster with an HNSW index adds its graph (~1.8 KB a
 * document plus 2.5 MB). Besides, a search's scratch space: the batch's queries and ~1 MB of
 * products. `npm run bench:select` measures it.
 */
export class ClusterIndexStore implements StateStore {
  readonly name: string;
  private clusters: Cluster[] = [];
  private dim = 0;
  private stride = 0;
  private nextSeq = 0;
  private clusterCount = 1;
  private count = 0;
  private readonly changes = new PendingChanges();
  /** The changelog being replayed (seq → entry), materialised on first use. */
  private replay: Map<number, Entry> | undefined;
  /** Of the changelog being replayed: the cluster each re-filed entry moved to last (seq → cluster). */
  private moves = new Map<number, number>();
  private readonly exactBelow: number;
  private readonly mode: SelectionKernel;
  private readonly kernel: DotKernel;
  private freePages: number[] = [];
  private pagesHeld = 0;
  /** Largest norm of any vector ever stored: the error bound of the float32 filter uses it. */
  private maxNorm = 0;
  private scratch = { at: 0, bytes: 0 };

  constructor(private readonly options: ClusterIndexStoreOptions) {
    if (!Number.isInteger(options.capacity) || options.capacity < 1) throw new StoreError(options.name, `capacity must be a positive integer, got ${options.capacity}`);
    this.name = options.name;
    this.exactBelow = Math.max(1, options.exactBelow ?? DEFAULT_EXACT_BELOW);
    this.mode = selectionKernel();
    this.kernel = new DotKernel(this.mode);
  }

  /** Tells the store how many clusters there are (the per-cluster share of the capacity). */
  setClusterCount(k: number): void {
    this.settle();
    this.countClusters(k);
  }

  /** Sets the cluster count, recording a change (key `k`) when it is new, so that a replayed changelog has it too. */
  private countClusters(k: number): void {
    const count = Math.max(1, k);
    if (count === this.clusterCount) return;
    this.clusterCount = count;
    this.changes.push({ key: CLUSTER_COUNT_KEY, value: encodeU32(count) });
  }

  get perClusterCapacity(): number {
    return Math.max(MIN_PER_CLUSTER, Math.ceil(this.options.capacity / this.clusterCount));
  }

  /** The most similar earlier document in a cluster. */
  nearest(cluster: number, vector: Float32Array): IndexHit | undefined {
    this.settle();
    this.checkDim(vector);
    const best = this.searchOne(cluster, vector, -Infinity);
    return best ? { id: best.id, similarity: clampSimilarity(best.sim) } : undefined;
  }

  /**
   * For each document of the batch, in order: the most similar earlier document in its cluster or
   * its alternate whose similarity is at least `threshold` (the cluster's on a tie), or undefined.
   * With `ids`, each document then joins its cluster. The same answers as, for each document in
   * turn, `nearest` in both clusters, keeping the alternate's only when strictly more similar,
   * followed by `add`.
   */
  nearestAbove(batch: IndexBatch, threshold: number): (IndexHit | undefined)[] {
    this.settle();
    const n = batch.vectors.length;
    const out: (IndexHit | undefined)[] = new Array<IndexHit | undefined>(n).fill(undefined);
    if (n === 0) return out;
    for (const v of batch.vectors) this.checkDim(v);
    if (this.dim === 0) this.setDim(batch.vectors[0]!.length);
    const alt = (i: number) => batch.alternates?.[i] ?? -1;
    if (this.mode === 'reference' || !this.batchable(batch)) {
      for (let i = 0; i < n; i++) {
        const v = batch.vectors[i]!;
        out[i] = pick(this.searchOne(batch.clusters[i]!, v, threshold), alt(i) >= 0 ? this.searchOne(alt(i), v, threshold) : undefined);
        if (batch.ids) this.insert(batch.clusters[i]!, v, batch.ids[i]!);
      }
      return out;
    }
    // Where each lookup's cluster begins, as the one-by-one path has it then: a position in the
    // cluster's stored rows followed by the batch's documents of that cluster (a full cluster keeps
    // its newest ⌈capacity/2⌉, so what a lookup sees is always a suffix of that sequence).
    const capacity = this.perClusterCapacity;
    const keep = Math.ceil(capacity / 2);
    const size = new Map<number, number>();
    const joined = new Map<number, number>();
    const stored0 = (c: number) => this.clusters[c]?.count ?? 0;
    const from = new Int32Array(2 * n);
    for (let i = 0; i < n; i++) {
      for (let slot = 0; slot < 2; slot++) {
        const c = slot === 0 ? batch.clusters[i]! : alt(i);
        if (c >= 0) from[slot * n + i] = stored0(c) + (joined.get(c) ?? 0) - (size.get(c) ?? stored0(c));
      }
      if (batch.ids) {
        const c = batch.clusters[i]!;
        const grown = (size.get(c) ?? stored0(c)) + 1;
        size.set(c, grown > capacity ? keep : grown);
        joined.set(c, (joined.get(c) ?? 0) + 1);
      }
    }
    // Stored rows: one pass per cluster over all of the batch's lookups there.
    const stored: (Best | undefined)[][] = [new Array<Best | undefined>(n), new Array<Best | undefined>(n)];
    const lookups = new Map<number, number[]>();
    for (let i = 0; i < n; i++) {
      for (let slot = 0; slot < 2; slot++) {
        const c = slot === 0 ? batch.clusters[i]! : alt(i);
        if (c < 0 || from[slot * n + i]! >= stored0(c)) continue;
        let list = lookups.get(c);
        if (!list) lookups.set(c, (list = []));
        list.push(slot * n + i);
      }
    }
    this.searchFlat(lookups, batch.vectors, threshold, (q, best) => { stored[q >= n ? 1 : 0]![q % n] = best; }, from);
    // Earlier documents of this batch, with the scalar dot (a few per cluster).
    const pending = new Map<number, number[]>();
    for (let i = 0; i < n; i++) {
      const v = batch.vectors[i]!;
      const hits: (Best | undefined)[] = [undefined, undefined];
      for (let slot = 0; slot < 2; slot++) {
        const c = slot === 0 ? batch.clusters[i]! : alt(i);
        if (c < 0) continue;
        let best = stored[slot]![i];
        const list = pending.get(c) ?? [];
        for (let r = Math.max(0, from[slot * n + i]! - stored0(c)); r < list.length; r++) {
          const j = list[r]!;
          const s = dot(v, batch.vectors[j]!);
          if (s >= threshold && (!best || s > best.sim)) best = { sim: s, id: batch.ids![j]! };
        }
        hits[slot] = best;
      }
      out[i] = pick(hits[0], hits[1]);
      if (batch.ids) {
        const c = batch.clusters[i]!;
        let list = pending.get(c);
        if (!list) pending.set(c, (list = []));
        list.push(i);
      }
    }
    if (batch.ids) for (let i = 0; i < n; i++) this.insert(batch.clusters[i]!, batch.vectors[i]!, batch.ids[i]!);
    return out;
  }

  add(cluster: number, vector: Float32Array, id: string): void {
    this.settle();
    this.checkDim(vector);
    this.insert(cluster, vector, id);
  }

  /** Moves every document to its cluster by `assign` (all vectors at once), rebuilding every cluster in insertion order. */
  refile(assign: (vectors: readonly Float32Array[]) => ArrayLike<number>, k: number): void {
    const entries = this.entries();
    const to = assign(entries.map((e) => e.vector));
    this.closeAll();
    this.countClusters(k);
    entries.forEach((e, i) => {
      this.append({ ...e, cluster: to[i]! }, false);
      // A move record (the new cluster, 4 bytes) instead of the whole entry again (~1.5 KB at 384-d).
      this.changes.push({ key: moveKey(e.seq), value: encodeU32(to[i]!) });
    });
    for (let j = 0; j < this.clusters.length; j++) if (this.clusters[j]!.count > this.perClusterCapacity) this.forget(j);
  }

  clusterSizes(): number[] {
    this.settle();
    return this.clusters.map((c) => c.count);
  }

  size(): number {
    this.settle();
    return this.count;
  }

  /** The kernel memory (every page, used or free, and the scratch space), the approximate indexes and the ids. */
  bytes(): number {
    this.settle();
    let b = this.kernel.bytes;
    for (const c of this.clusters) {
      b += c.ann?.bytes() ?? 0;
      b += 8 * c.seqs.length;
      for (const id of c.ids) b += 40 + 2 * id.length;
    }
    return b;
  }

  snapshot(): Buffer {
    const entries = this.entries();
    const header = Buffer.from(JSON.stringify({
      store: this.name, dim: this.dim, nextSeq: this.nextSeq, clusterCount: this.clusterCount,
      entries: entries.map((e) => [e.seq, e.cluster, e.id]),
    }));
    const len = Buffer.alloc(4);
    len.writeUInt32LE(header.length);
    return Buffer.concat([len, header, ...entries.map((e) => vectorBytes(e.vector))]);
  }

  restore(snapshot: Buffer): void {
    const len = snapshot.readUInt32LE(0);
    const h = JSON.parse(snapshot.subarray(4, 4 + len).toString('utf8')) as { store?: string; dim: number; nextSeq: number; clusterCount: number; entries: [number, number, string][] };
    checkSnapshotOwner(this.name, h.store);
    this.closeAll();
    this.replay = undefined;
    this.moves = new Map();
    this.clusterCount = h.clusterCount;
    h.entries.forEach(([seq, cluster, id], i) => {
      this.append({ seq, cluster, id, vector: vectorFromBytes(snapshot, 4 + len + i * h.dim * 4, h.dim) }, false);
    });
    this.nextSeq = h.nextSeq;
    this.changes.clear();
  }

  drainChanges(): Change[] {
    return this.changes.drain();
  }

  applyChange(change: Change): void {
    if (!this.replay) {
      this.replay = new Map(this.entries().map((e) => [e.seq, e]));
      this.closeAll();
    }
    if (change.key === CLUSTER_COUNT_KEY) {
      if (change.value !== null) this.clusterCount = decodeU32(this.name, change);
      return;
    }
    const move = change.key.startsWith(MOVE_PREFIX);
    const digits = move ? change.key.slice(MOVE_PREFIX.length) : change.key;
    if (!/^\d+$/.test(digits)) throw new StoreError(this.name, `unknown changelog key ${change.key}`);
    const seq = Number(digits);
    if (move) {
      if (change.value === null) this.moves.delete(seq);
      else this.moves.set(seq, decodeU32(this.name, change));
    } else if (change.value === null) this.replay.delete(seq);
    else this.replay.set(seq, decodeEntry(seq, change.value));
    this.nextSeq = Math.max(this.nextSeq, seq + 1);
  }

  /** Frees every approximate index. */
  close(): void {
    this.closeAll();
  }

  /** Whether a batch can be looked up cluster by cluster: no cluster it touches is approximate or turns approximate. */
  private batchable(batch: IndexBatch): boolean {
    if (!Number.isFinite(this.maxNorm)) return false;
    const adds = new Map<number, number>();
    const n = batch.vectors.length;
    for (let i = 0; i < n; i++) {
      const c = batch.clusters[i]!;
      const a = batch.alternates?.[i] ?? -1;
      if (this.clusters[c]?.ann || (a >= 0 && this.clusters[a]?.ann)) return false;
      if (batch.ids) adds.set(c, (adds.get(c) ?? 0) + 1);
    }
    for (const [c, added] of adds) if ((this.clusters[c]?.count ?? 0) + added >= this.exactBelow) return false;
    return true;
  }

  /** The most similar document of one cluster with similarity ≥ threshold, as the cluster is now. */
  private searchOne(cluster: number, v: Float32Array, threshold: number): Best | undefined {
    const c = this.clusters[cluster];
    if (!c || c.count === 0) return undefined;
    if (c.ann) {
      const hit = c.ann.nearest(v);
      return hit && hit.similarity >= threshold ? { sim: hit.similarity, id: c.ids[hit.label]! } : undefined;
    }
    if (this.mode === 'reference' || !Number.isFinite(this.maxNorm)) {
      const f = this.kernel.f32;
      let best = -1;
      let sim = -Infinity;
      for (let label = 0; label < c.count; label++) {
        const s = dot(v, f, this.rowIndex(c, label));
        if (s > sim) { sim = s; best = label; }
      }
      return best >= 0 && sim >= threshold ? { sim, id: c.ids[best]! } : undefined;
    }
    let found: Best | undefined;
    this.searchFlat(new Map([[cluster, [0]]]), [v], threshold, (_, best) => { found = best; });
    return found;
  }

  /**
   * Exhaustive search of stored rows, for each cluster of `lookups` its queries (an index q into
   * `vectors`, modulo its length): the float32 product of every query with every row (the products
   * of all the clusters' pages in one job of the kernel, which its threads share), then the scalar
   * `dot` for the rows within the error bound of the best and of the threshold. Reports, per
   * query, the exact most similar row (lowest label on a tie) if its similarity ≥ threshold, among
   * the rows from label `from[q]` on (all of them without `from`).
   */
  private searchFlat(lookups: ReadonlyMap<number, readonly number[]>, vectors: readonly Float32Array[], threshold: number, report: (q: number, best: Best | undefined) => void, from?: Int32Array): void {
    if (lookups.size === 0) return;
    const n = vectors.length;
    const strideBytes = this.stride * 4;
    // Clusters in groups of at most OUT_FLOATS products (one job each; any cluster alone): the
    // scratch space stays small whatever the batch.
    const rowsOf = (cluster: number) => this.clusters[cluster]!.pages.length * PAGE_ROWS;
    const groups: [number, readonly number[]][][] = [[]];
    let floats = 0;
    for (const [cluster, list] of lookups) {
      const products = list.length * rowsOf(cluster);
      if (groups.at(-1)!.length > 0 && floats + products > OUT_FLOATS) { groups.push([]); floats = 0; }
      groups.at(-1)!.push([cluster, list]);
      floats += products;
    }
    const most = (of: (cluster: number, list: readonly number[]) => number) => Math.max(...groups.map((g) => g.reduce((sum, [c, list]) => sum + of(c, list), 0)));
    const s = this.scratchFor(n, most((_, list) => list.length), most((c, list) => list.length * rowsOf(c)), most((c) => rowsOf(c) / PAGE_ROWS), Math.max(...[...lookups.keys()].map(rowsOf)));
    // Every query once; then per cluster the pointers to its queries and one product per page.
    const f32 = this.kernel.f32;
    for (let i = 0; i < n; i++) {
      const at = (s.queries >> 2) + i * this.stride;
      f32.set(vectors[i]!, at);
      // The padding is zero (the space may have held other parts of an earlier search).
      if (this.stride !== this.dim) f32.fill(0, at + this.dim, at + this.stride);
    }
    const bounds = new Float64Array(n);
    for (let i = 0; i < n; i++) bounds[i] = this.kernel.normBound(s.queries + i * strideBytes, this.stride);
    const candidates: number[] = [];
    for (const members of groups) {
      const w = this.kernel.i32;
      const searches: { c: Cluster; list: readonly number[]; out: number; ldo: number }[] = [];
      let p = s.pointers >> 2;
      let t = s.table >> 2;
      let out = s.out;
      let macs = 0;
      for (const [cluster, list] of members) {
        const c = this.clusters[cluster]!;
        const ldo = c.pages.length * PAGE_ROWS;
        const qp = p * 4;
        for (const q of list) w[p++] = s.queries + (q % n) * strideBytes;
        for (let k = 0; k < c.pages.length; k++) {
          const rows = (Math.min(PAGE_ROWS, c.count - k * PAGE_ROWS) + 3) & ~3;
          w[t] = qp; w[t + 1] = list.length; w[t + 2] = c.pages[k]!; w[t + 3] = rows;
          w[t + 4] = strideBytes; w[t + 5] = out + k * PAGE_ROWS * 4; w[t + 6] = ldo;
          t += CALL_WORDS;
          macs += list.length * rows * this.stride;
        }
        searches.push({ c, list, out, ldo });
        out += list.length * ldo * 4;
      }
      this.kernel.gemmList(s.table, (t - (s.table >> 2)) / CALL_WORDS, macs);
      const f = this.kernel.f32;
      for (const { c, list, out, ldo } of searches) {
        for (let r = 0; r < list.length; r++) {
          const q = list[r]!;
          const v = vectors[q % n]!;
          const lo = from?.[q] ?? 0;
          const delta = errorBound(this.dim, bounds[q % n]!, this.maxNorm);
          candidates.length = 0;
          if (Number.isFinite(delta)) {
            // Rows within 2δ of the best float32 value and within δ of the threshold.
            const count = this.kernel.scan(out + (r * ldo + lo) * 4, c.count - lo, false, s.idx, 2 * delta, threshold - delta);
            const idx = this.kernel.i32;
            for (let j = 0; j < count; j++) candidates.push(lo + idx[(s.idx >> 2) + j]!);
          } else {
            for (let j = lo; j < c.count; j++) candidates.push(j);
          }
          let best = -1;
          let sim = -Infinity;
          for (const label of candidates) {
            const x = dot(v, f, this.rowIndex(c, label));
            if (x > sim) { sim = x; best = label; }
          }
          report(q, best >= 0 && sim >= threshold ? { sim, id: c.ids[best]! } : undefined);
        }
      }
    }
  }

  private rowIndex(c: Cluster, label: number): number {
    return (c.pages[Math.floor(label / PAGE_ROWS)]! >> 2) + (label % PAGE_ROWS) * this.stride;
  }

  /**
   * Scratch space of a search, 16-aligned parts: `queries` float32 rows, `pointers` int32,
   * `outFloats` products, `calls` product parameters, the indices of a scan of `widest` values.
   * It only grows (to twice what it was at least): about the batch's queries and OUT_FLOATS
   * products (more only for a cluster whose lookups alone have more).
   */
  private scratchFor(queries: number, pointers: number, outFloats: number, calls: number, widest: number): { queries: number; pointers: number; out: number; table: number; idx: number } {
    const align = (b: number) => (b + 15) & ~15;
    const parts = [queries * this.stride * 4, align(pointers * 4), outFloats * 4, align(calls * CALL_WORDS * 4), widest * 4 + 64];
    const need = parts.reduce((a, b) => a + b, 0);
    if (need > this.scratch.bytes) {
      const bytes = Math.max(need, 2 * this.scratch.bytes);
      this.scratch = { at: this.kernel.alloc(bytes), bytes };
    }
    const at: number[] = [];
    parts.reduce((offset, size) => { at.push(offset); return offset + size; }, this.scratch.at);
    return { queries: at[0]!, pointers: at[1]!, out: at[2]!, table: at[3]!, idx: at[4]! };
  }

  private checkDim(v: Float32Array): void {
    if (this.dim !== 0 && v.length !== this.dim) throw new StoreError(this.name, `a ${v.length}-d vector in a ${this.dim}-d index`);
  }

  private setDim(dim: number): void {
    this.dim = dim;
    this.stride = strideOf(dim);
  }

  /** Rebuilds the clusters from a replayed changelog, in insertion order, each entry in the cluster its last move record names. */
  private settle(): void {
    if (!this.replay) return;
    const entries = [...this.replay.values()].sort((a, b) => a.seq - b.seq);
    const moves = this.moves;
    this.replay = undefined;
    this.moves = new Map();
    const next = this.nextSeq;
    for (const e of entries) {
      const to = moves.get(e.seq);
      this.append(to === undefined ? e : { ...e, cluster: to }, false);
    }
    this.nextSeq = next;
  }

  private vectorAt(c: Cluster, label: number): Float32Array {
    const at = this.rowIndex(c, label);
    return this.kernel.f32.slice(at, at + this.dim);
  }

  private entries(): Entry[] {
    this.settle();
    const out: Entry[] = [];
    this.clusters.forEach((c, cluster) => {
      for (let label = 0; label < c.count; label++) out.push({ seq: c.seqs[label]!, cluster, id: c.ids[label]!, vector: this.vectorAt(c, label) });
    });
    return out.sort((a, b) => a.seq - b.seq);
  }

  private takePage(): number {
    const pageBytes = PAGE_ROWS * this.stride * 4;
    this.pagesHeld++;
    const page = this.freePages.pop();
    if (page === undefined) return this.kernel.alloc(pageBytes);
    this.kernel.f32.fill(0, page >> 2, (page + pageBytes) >> 2);
    return page;
  }

  private releasePages(c: Cluster): void {
    this.pagesHeld -= c.pages.length;
    this.freePages.push(...c.pages);
    c.pages = [];
  }

  /** A new document joins a cluster (recorded); a cluster over its share of the capacity then forgets. */
  private insert(cluster: number, vector: Float32Array, id: string): void {
    this.append({ seq: this.nextSeq++, cluster, id, vector }, true);
    if (this.clusters[cluster]!.count > this.perClusterCapacity) this.forget(cluster);
  }

  private append(e: Entry, record: boolean): void {
    if (this.dim === 0) this.setDim(e.vector.length);
    else if (e.vector.length !== this.dim) throw new StoreError(this.name, `a ${e.vector.length}-d vector in a ${this.dim}-d index`);
    while (this.clusters.length <= e.cluster) this.clusters.push({ pages: [], count: 0, seqs: [], ids: [], ann: undefined });
    const c = this.clusters[e.cluster]!;
    const label = c.count;
    if (label % PAGE_ROWS === 0) c.pages.push(this.takePage());
    const at = this.rowIndex(c, label);
    this.kernel.f32.set(e.vector, at);
    const nv = this.kernel.normBound(at * 4, this.stride);
    if (!(nv <= this.maxNorm)) this.maxNorm = nv;
    c.count++;
    c.seqs.push(e.seq);
    c.ids.push(e.id);
    if (c.ann) c.ann.add(e.vector, label);
    else if (c.count >= this.exactBelow) {
      c.ann = this.options.factory({
        dim: this.dim, m: this.options.m, efConstruction: this.options.efConstruction, efSearch: this.options.efSearch,
        seed: subSeed(this.options.seed, e.cluster), initialCapacity: 2 * c.count, exactBelow: 1,
      });
      for (let l = 0; l < c.count; l++) c.ann.add(this.vectorAt(c, l), l);
    }
    this.count++;
    this.nextSeq = Math.max(this.nextSeq, e.seq + 1);
    if (record) this.changes.push({ key: String(e.seq), value: encodeEntry(e) });
  }

  /** A full cluster keeps its newest half (the semantic de-duplication horizon). */
  private forget(cluster: number): void {
    const c = this.clusters[cluster]!;
    const keep = Math.ceil(this.perClusterCapacity / 2);
    const from = c.count - keep;
    const kept: Entry[] = [];
    for (let label = 0; label < c.count; label++) {
      if (label < from) this.changes.push({ key: String(c.seqs[label]), value: null }, { key: moveKey(c.seqs[label]!), value: null });
      else kept.push({ seq: c.seqs[label]!, cluster, id: c.ids[label]!, vector: this.vectorAt(c, label) });
    }
    c.ann?.close();
    this.releasePages(c);
    this.count -= c.count;
    this.clusters[cluster] = { pages: [], count: 0, seqs: [], ids: [], ann: undefined };
    for (const e of kept) this.append(e, false);
  }

  private closeAll(): void {
    for (const c of this.clusters) {
      c.ann?.close();
      this.releasePages(c);
    }
    this.clusters = [];
    this.count = 0;
  }
}

/** The hit of a cluster, or its alternate's when strictly more similar (clamped, as reported). */
function pick(a: Best | undefined, b: Best | undefined): IndexHit | undefined {
  const first = a ? { id: a.id, similarity: clampSimilarity(a.sim) } : undefined;
  if (!b) return first;
  const second = { id: b.id, similarity: clampSimilarity(b.sim) };
  return !first || second.similarity > first.similarity ? second : first;
}

/**
 * Changelog keys: `<seq>` holds an entry (cluster, id, vector), `m<seq>` the cluster a re-filing
 * moved it to (newest wins, as compaction keeps it; forgetting an entry deletes both keys), `k`
 * the number of clusters (each cluster's share of the capacity).
 */
const MOVE_PREFIX = 'm';
const CLUSTER_COUNT_KEY = 'k';
const moveKey = (seq: number): string => `${MOVE_PREFIX}${seq}`;

function encodeU32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n, 0);
  return b;
}

function decodeU32(store: string, change: Change): number {
  if (change.value!.length !== 4) throw new StoreError(store, `record ${change.key} has ${change.value!.length} bytes, not 4`);
  return change.value!.readUInt32LE(0);
}

function encodeEntry(e: Entry): Buffer {
  const id = Buffer.from(e.id, 'utf8');
  const head = Buffer.alloc(8);
  head.writeUInt32LE(e.cluster, 0);
  head.writeUInt32LE(id.length, 4);
  return Buffer.concat([head, id, vectorBytes(e.vector)]);
}

function decodeEntry(seq: number, b: Buffer): Entry {
  const cluster = b.readUInt32LE(0);
  const idLen = b.readUInt32LE(4);
  const id = b.subarray(8, 8 + idLen).toString('utf8');
  return { seq, cluster, id, vector: vectorFromBytes(b, 8 + idLen) };
}
