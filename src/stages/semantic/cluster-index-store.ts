import { checkSnapshotOwner, PendingChanges, StoreError, type Change, type StateStore } from '../../state/store.js';
import { subSeed, vectorBytes, vectorFromBytes } from '../centroids/vectors.js';
import type { AnnIndex, AnnIndexFactory } from './ann.js';

export interface ClusterIndexStoreOptions {
  readonly name: string;
  readonly factory: AnnIndexFactory;
  /** Most documents held over all clusters; each cluster holds at most ⌈capacity / k⌉. */
  readonly capacity: number;
  readonly m: number;
  readonly efConstruction: number;
  readonly efSearch: number;
  readonly seed: number;
  /** Clusters smaller than this are searched exhaustively (AnnIndexOptions.exactBelow). */
  readonly exactBelow?: number;
}

interface Cluster {
  index: AnnIndex | undefined;
  /** Store-wide insertion number of each label (label = position). */
  seqs: number[];
  ids: string[];
}

interface Entry {
  readonly seq: number;
  readonly cluster: number;
  readonly id: string;
  readonly vector: Float32Array;
}

/** Fewest documents a cluster is allowed before it forgets, whatever the capacity and k. */
const MIN_PER_CLUSTER = 16;

/**
 * One nearest-neighbour index per cluster, holding every document the semantic stage has judged
 * (kept or dropped: the reference SemDeDup compares with *any* earlier document), with its id.
 *
 * The invariant that makes restarts exact: a cluster's index is always what a fresh index (seeded
 * with `seed` and the cluster number) becomes when its documents are added in insertion order.
 * Appends keep it; forgetting (a full cluster keeps its newest half) and re-filing (after the
 * warm-up fit, every document moves to its new nearest centroid) rebuild the indexes from the
 * stored vectors in insertion order. So a snapshot only needs the vectors and ids, and restoring
 * it (or replaying the changelog) rebuilds exactly the graphs an uninterrupted worker has — HNSW
 * draws a random level per insert, so restoring a serialised graph would not continue the same.
 *
 * Changelog: key = the insertion number, value = cluster (u32 LE), id length (u32 LE), id (UTF-8),
 * vector (float32 LE); null when forgotten.
 *
 * Memory per document (384-d, m = 16, hnswlib index of src/io/models/hnsw-index.ts): in a cluster
 * below `exactBelow` documents (searched exhaustively) two float32 copies of the vector, ~3.1 KB;
 * in a larger one (an HNSW graph) the vector, its level-0 links (4 + 2·m·4 = 132 B), label, lock
 * and label map, ~1.8 KB, plus 2.5 MB per graph; the JS side adds an id string and a number
 * (~60 B). `npm run bench:select` measures it (about 3.2 KB a document estimated, 5.2 KB of RSS
 * growth for both selection stages at 100,000 documents in clusters of ~300).
 */
export class ClusterIndexStore implements StateStore {
  readonly name: string;
  private clusters: Cluster[] = [];
  private dim = 0;
  private nextSeq = 0;
  private clusterCount = 1;
  private count = 0;
  private readonly changes = new PendingChanges();
  /** The changelog being replayed (seq → entry), materialised on first use. */
  private replay: Map<number, Entry> | undefined;

  constructor(private readonly options: ClusterIndexStoreOptions) {
    if (!Number.isInteger(options.capacity) || options.capacity < 1) throw new StoreError(options.name, `capacity must be a positive integer, got ${options.capacity}`);
    this.name = options.name;
  }

  /** Tells the store how many clusters there are (the per-cluster share of the capacity). */
  setClusterCount(k: number): void {
    this.settle();
    this.clusterCount = Math.max(1, k);
  }

  get perClusterCapacity(): number {
    return Math.max(MIN_PER_CLUSTER, Math.ceil(this.options.capacity / this.clusterCount));
  }

  /** The most similar earlier document in a cluster. */
  nearest(cluster: number, vector: Float32Array): { id: string; similarity: number } | undefined {
    this.settle();
    const c = this.clusters[cluster];
    if (!c?.index || c.ids.length === 0) return undefined;
    const hit = c.index.nearest(vector);
    return hit ? { id: c.ids[hit.label]!, similarity: hit.similarity } : undefined;
  }

  add(cluster: number, vector: Float32Array, id: string): void {
    this.settle();
    this.append({ seq: this.nextSeq++, cluster, id, vector }, true);
    const c = this.clusters[cluster]!;
    if (c.ids.length > this.perClusterCapacity) this.forget(cluster);
  }

  /** Moves every document to `assign(vector)`, rebuilding all indexes in insertion order. */
  refile(assign: (v: Float32Array) => number, k: number): void {
    const entries = this.entries();
    this.closeAll();
    this.clusterCount = Math.max(1, k);
    for (const e of entries) {
      const moved = { ...e, cluster: assign(e.vector) };
      this.append(moved, false);
      this.changes.push({ key: String(e.seq), value: encodeEntry(moved) });
    }
    for (let j = 0; j < this.clusters.length; j++) if (this.clusters[j]!.ids.length > this.perClusterCapacity) this.forget(j);
  }

  clusterSizes(): number[] {
    this.settle();
    return this.clusters.map((c) => c.ids.length);
  }

  size(): number {
    this.settle();
    return this.count;
  }

  bytes(): number {
    this.settle();
    let b = 0;
    for (const c of this.clusters) {
      b += c.index?.bytes() ?? 0;
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
    const seq = Number(change.key);
    if (!Number.isInteger(seq)) throw new StoreError(this.name, `unknown changelog key ${change.key}`);
    if (change.value === null) this.replay.delete(seq);
    else this.replay.set(seq, decodeEntry(seq, change.value));
    this.nextSeq = Math.max(this.nextSeq, seq + 1);
  }

  /** Frees every native index. */
  close(): void {
    this.closeAll();
  }

  /** Rebuilds the indexes from a replayed changelog, in insertion order. */
  private settle(): void {
    if (!this.replay) return;
    const entries = [...this.replay.values()].sort((a, b) => a.seq - b.seq);
    this.replay = undefined;
    const next = this.nextSeq;
    for (const e of entries) this.append(e, false);
    this.nextSeq = next;
  }

  private entries(): Entry[] {
    this.settle();
    const out: Entry[] = [];
    this.clusters.forEach((c, cluster) => {
      c.ids.forEach((id, label) => out.push({ seq: c.seqs[label]!, cluster, id, vector: c.index!.vector(label) }));
    });
    return out.sort((a, b) => a.seq - b.seq);
  }

  private append(e: Entry, record: boolean): void {
    if (this.dim === 0) this.dim = e.vector.length;
    else if (e.vector.length !== this.dim) throw new StoreError(this.name, `a ${e.vector.length}-d vector in a ${this.dim}-d index`);
    while (this.clusters.length <= e.cluster) this.clusters.push({ index: undefined, seqs: [], ids: [] });
    const c = this.clusters[e.cluster]!;
    c.index ??= this.options.factory({
      dim: this.dim, m: this.options.m, efConstruction: this.options.efConstruction, efSearch: this.options.efSearch,
      seed: subSeed(this.options.seed, e.cluster), initialCapacity: 64,
      ...(this.options.exactBelow !== undefined ? { exactBelow: this.options.exactBelow } : {}),
    });
    c.index.add(e.vector, c.ids.length);
    c.seqs.push(e.seq);
    c.ids.push(e.id);
    this.count++;
    this.nextSeq = Math.max(this.nextSeq, e.seq + 1);
    if (record) this.changes.push({ key: String(e.seq), value: encodeEntry(e) });
  }

  /** A full cluster keeps its newest half (the semantic de-duplication horizon). */
  private forget(cluster: number): void {
    const c = this.clusters[cluster]!;
    const keep = Math.ceil(this.perClusterCapacity / 2);
    const from = c.ids.length - keep;
    const kept: Entry[] = [];
    for (let label = 0; label < c.ids.length; label++) {
      if (label < from) this.changes.push({ key: String(c.seqs[label]), value: null });
      else kept.push({ seq: c.seqs[label]!, cluster, id: c.ids[label]!, vector: c.index!.vector(label) });
    }
    c.index!.close();
    this.count -= c.ids.length;
    this.clusters[cluster] = { index: undefined, seqs: [], ids: [] };
    for (const e of kept) this.append(e, false);
  }

  private closeAll(): void {
    for (const c of this.clusters) c.index?.close();
    this.clusters = [];
    this.count = 0;
  }
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
