import type { CentroidSnapshot } from '../../records/item.js';
import { checkSnapshotOwner, PendingChanges, StoreError, type Change, type StateStore } from '../../state/store.js';
import { RowMatrix, type NearestBatch, type Similarities } from './nearest-batch.js';
import { nearestTwo, vectorBytes, vectorFromBytes, type Nearest } from './vectors.js';

/** A CentroidSnapshot as one JSON object: `centroids` (float32 LE bytes) as base64. */
export interface CentroidSnapshotJson extends Omit<CentroidSnapshot, 'centroids' | 'weights'> {
  readonly centroids: string;
  readonly weights: number[];
}

export function centroidSnapshotToJson(s: CentroidSnapshot): CentroidSnapshotJson {
  return { ...s, centroids: s.centroids.toString('base64'), weights: [...s.weights] };
}

/**
 * `JSON.stringify(centroidSnapshotToJson(s))` as UTF-8 bytes, the same bytes, in a third of the
 * time: the base64 of the rows (most of the record) goes into the buffer as Latin-1, without
 * passing through the JSON serialiser and the UTF-8 encoder. One record per new version.
 */
export function centroidSnapshotBytes(s: CentroidSnapshot): Buffer {
  const json = JSON.stringify(centroidSnapshotToJson({ ...s, centroids: EMPTY }));
  const at = json.indexOf(CENTROIDS_FIELD) + CENTROIDS_FIELD.length - 1;
  return Buffer.concat([Buffer.from(json.slice(0, at)), Buffer.from(s.centroids.toString('base64'), 'latin1'), Buffer.from(json.slice(at))]);
}

const EMPTY = Buffer.alloc(0);
const CENTROIDS_FIELD = '"centroids":""';

export function centroidSnapshotFromJson(j: CentroidSnapshotJson): CentroidSnapshot {
  return { ...j, centroids: Buffer.from(j.centroids, 'base64') };
}

/**
 * One changelog / published record: key = the store name, value = the CentroidSnapshot as JSON
 * (see `decodeCentroidChange`). Compaction keeps the newest version only, which is all a worker
 * needs to assign with the current version.
 */
export function decodeCentroidChange(change: Change): CentroidSnapshot | null {
  return change.value === null ? null : centroidSnapshotFromJson(JSON.parse(change.value.toString('utf8')) as CentroidSnapshotJson);
}

/**
 * The current centroids of a stage and their version: unit rows, the decayed weight behind each,
 * and the parameters hash that produced them. Every `replace` is a new version, reported as one
 * change (the CentroidSnapshot record published on the centroids topic, or appended to
 * `<out>/<store>.jsonl` in file mode), so that every decision can name the version it used.
 *
 * Memory: k · dim · 4 bytes of centroids plus k · 8 of weights (1.5 MB at k = 1,000, 384-d).
 */
export class CentroidStore implements StateStore {
  /** Marks this store's changes as CentroidSnapshot records worth publishing as they are. */
  readonly publishes = 'centroid-snapshot' as const;
  private current: CentroidSnapshot | undefined;
  private rows: Float32Array = new Float32Array(0);
  private weightArray: Float64Array = new Float64Array(0);
  /** The rows in a dot-product kernel, loaded on the first `assignBatch` after a new version. */
  private matrix: RowMatrix | undefined;
  private matrixVersion = -1;
  private readonly changes = new PendingChanges();
  /**
   * How far the last new version moved from the one before: the mean cosine distance from its
   * centroids (up to DRIFT_SAMPLE of them, evenly spaced) to the nearest centroid of the previous
   * version. 0 before the second version, and after a restore (it describes a change, not a state).
   */
  drift = 0;

  constructor(readonly name: string, readonly paramsHash: string) {}

  get ready(): boolean {
    return this.current !== undefined;
  }

  get version(): number {
    return this.current?.version ?? 0;
  }

  get k(): number {
    return this.current?.k ?? 0;
  }

  get dim(): number {
    return this.current?.dim ?? 0;
  }

  get centroids(): Float32Array {
    return this.rows;
  }

  get weights(): Float64Array {
    return this.weightArray;
  }

  nearest(v: Float32Array): Nearest {
    if (!this.current) throw new StoreError(this.name, 'no centroids yet');
    if (v.length !== this.current.dim) throw new StoreError(this.name, `a ${v.length}-d vector cannot be assigned to ${this.current.dim}-d centroids`);
    return nearestTwo(v, this.rows, this.current.k, this.current.dim);
  }

  /**
   * `nearest` of every vector, as one matrix product (see RowMatrix): the same rows and the same
   * similarities as calling `nearest` on each, bit for bit (those asked for; the others are NaN).
   */
  assignBatch(vectors: readonly Float32Array[], similarities: Similarities = 'both'): NearestBatch {
    if (!this.current) throw new StoreError(this.name, 'no centroids yet');
    const { k, dim, version } = this.current;
    for (const v of vectors) if (v.length !== dim) throw new StoreError(this.name, `a ${v.length}-d vector cannot be assigned to ${dim}-d centroids`);
    this.matrix ??= new RowMatrix();
    if (this.matrixVersion !== version) {
      this.matrix.load(this.rows, k, dim);
      this.matrixVersion = version;
    }
    return this.matrix.nearestTwo(vectors, similarities);
  }

  /** Installs new centroids (copied) as the next version. */
  replace(centroids: Float32Array, weights: Float64Array, dim: number, now: number = Date.now()): CentroidSnapshot {
    const k = weights.length;
    if (centroids.length !== k * dim) throw new StoreError(this.name, `${centroids.length} values are not ${k} centroids of ${dim}-d`);
    const snapshot: CentroidSnapshot = {
      version: this.version + 1, k, dim, centroids: vectorBytes(centroids), weights: [...weights],
      params_hash: this.paramsHash, created_at: now,
    };
    this.drift = this.current && this.current.dim === dim ? this.driftTo(centroids, k, dim) : 0;
    this.install(snapshot);
    this.changes.push({ key: this.name, value: centroidSnapshotBytes(snapshot) });
    return snapshot;
  }

  /** `centroidDrift` of new rows from the current ones, through the current version's matrix (loaded for assignments anyway). */
  private driftTo(next: Float32Array, nextK: number, dim: number): number {
    const { k, version } = this.current!;
    if (k === 0 || nextK === 0) return 0;
    this.matrix ??= new RowMatrix();
    if (this.matrixVersion !== version) {
      this.matrix.load(this.rows, k, dim);
      this.matrixVersion = version;
    }
    const step = Math.max(1, nextK / DRIFT_SAMPLE);
    const queries: Float32Array[] = [];
    for (let f = 0; f < nextK; f += step) queries.push(next.subarray(Math.floor(f) * dim, (Math.floor(f) + 1) * dim));
    const near = this.matrix.nearestTwo(queries, 'first');
    let sum = 0;
    for (const s of near.firstSimilarity) sum += 1 - Math.min(1, s);
    return sum / queries.length;
  }

  /** The current version as the record published on the centroids topic. */
  record(): CentroidSnapshot | undefined {
    return this.current;
  }

  size(): number {
    return this.k;
  }

  bytes(): number {
    return this.rows.byteLength + this.weightArray.byteLength + (this.matrix?.bytes() ?? 0) + 200;
  }

  snapshot(): Buffer {
    return Buffer.from(JSON.stringify({ store: this.name, snapshot: this.current ? centroidSnapshotToJson(this.current) : null }));
  }

  restore(snapshot: Buffer): void {
    const parsed = JSON.parse(snapshot.toString('utf8')) as { store?: string; snapshot?: CentroidSnapshotJson | null };
    checkSnapshotOwner(this.name, parsed.store);
    if (parsed.snapshot === undefined) throw new StoreError(this.name, 'snapshot has no value');
    this.current = undefined;
    this.drift = 0;
    this.matrixVersion = -1;
    this.rows = new Float32Array(0);
    this.weightArray = new Float64Array(0);
    if (parsed.snapshot) this.install(centroidSnapshotFromJson(parsed.snapshot));
    this.changes.clear();
  }

  drainChanges(): Change[] {
    return this.changes.drain();
  }

  /** Adopts a published version; an older or equal one than the current is ignored. */
  applyChange(change: Change): void {
    const s = decodeCentroidChange(change);
    if (s && s.version > this.version) this.install(s);
  }

  private install(s: CentroidSnapshot): void {
    this.current = s;
    this.matrixVersion = -1;
    this.rows = vectorFromBytes(s.centroids, 0, s.k * s.dim);
    this.weightArray = Float64Array.from(s.weights);
  }
}

/** Centroids of a new version sampled for its drift: bounds the cost to DRIFT_SAMPLE · k · dim per version. */
const DRIFT_SAMPLE = 64;

/** Mean over (a sample of) `next`'s unit rows of 1 − the cosine to the nearest of `prev`'s unit rows (the scalar definition; CentroidStore computes it through its matrix). */
export function centroidDrift(prev: Float32Array, prevK: number, next: Float32Array, nextK: number, dim: number): number {
  if (prevK === 0 || nextK === 0) return 0;
  const step = Math.max(1, nextK / DRIFT_SAMPLE);
  let sum = 0;
  let n = 0;
  for (let f = 0; f < nextK; f += step, n++) {
    const i = Math.floor(f) * dim;
    let best = -1;
    for (let j = 0; j < prevK; j++) {
      let dot = 0;
      for (let d = 0, o = j * dim; d < dim; d++) dot += next[i + d]! * prev[o + d]!;
      if (dot > best) best = dot;
    }
    sum += 1 - Math.min(1, best);
  }
  return sum / n;
}
