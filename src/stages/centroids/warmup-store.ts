import { checkSnapshotOwner, PendingChanges, StoreError, type Change, type StateStore } from '../../state/store.js';
import { Rng, vectorBytes, vectorFromBytes } from './vectors.js';

interface Meta {
  readonly seen: number;
  readonly done: boolean;
  /** Documents seen when the centroids were last fitted on the sample (0: never). */
  readonly fittedAt?: number;
  readonly rng: number;
  readonly dim: number;
}

/**
 * The sample the centroids are fitted on: a uniform reservoir (Vitter's Algorithm R, seeded) of
 * the stream's embeddings, and the count at the last fit. Changelog keys: `meta` (JSON: seen,
 * done, fittedAt, RNG state) and `slot:<i>` (one float32 vector each; a slot is rewritten when a
 * later document replaces it, about sampleSize · ln(N / sampleSize) times over N documents).
 * `finish` empties it for good.
 *
 * Memory: sampleSize · dim · 4 bytes (30 MB for 20,000 384-d vectors).
 */
export class WarmupStore implements StateStore {
  private seenCount = 0;
  private finished = false;
  private fittedAtCount = 0;
  private rng: Rng;
  private dim = 0;
  private slots: Float32Array[] = [];
  private readonly changes = new PendingChanges();

  constructor(readonly name: string, readonly sampleSize: number, private readonly seed: number) {
    if (!Number.isInteger(sampleSize) || sampleSize < 1) throw new StoreError(name, `sampleSize must be a positive integer, got ${sampleSize}`);
    this.rng = new Rng(seed);
  }

  get seen(): number {
    return this.seenCount;
  }

  get done(): boolean {
    return this.finished;
  }

  get sample(): readonly Float32Array[] {
    return this.slots;
  }

  /** Documents seen when the centroids were last fitted on the sample (0: never). */
  get fittedAt(): number {
    return this.fittedAtCount;
  }

  /** Records that the centroids were just fitted on the sample. */
  markFitted(): void {
    this.fittedAtCount = this.seenCount;
    this.changes.push({ key: 'meta', value: this.encodeMeta() });
  }

  /** Offers vectors in stream order; each of the first n has a sampleSize/n chance of being held. */
  offer(vectors: readonly Float32Array[]): void {
    if (this.finished || vectors.length === 0) return;
    for (const v of vectors) {
      if (this.dim === 0) this.dim = v.length;
      let slot = -1;
      if (this.slots.length < this.sampleSize) slot = this.slots.length;
      else {
        const j = this.rng.int(this.seenCount + 1);
        if (j < this.sampleSize) slot = j;
      }
      this.seenCount++;
      if (slot < 0) continue;
      this.slots[slot] = v;
      this.changes.push({ key: `slot:${slot}`, value: vectorBytes(v) });
    }
    this.changes.push({ key: 'meta', value: this.encodeMeta() });
  }

  /** Ends the warm-up and frees the sample. */
  finish(): void {
    this.changes.push(...this.slots.map((_, i) => ({ key: `slot:${i}`, value: null })));
    this.slots = [];
    this.finished = true;
    this.changes.push({ key: 'meta', value: this.encodeMeta() });
  }

  size(): number {
    return this.slots.length;
  }

  bytes(): number {
    return this.slots.length * (this.dim * 4 + 80) + 100;
  }

  snapshot(): Buffer {
    const header = Buffer.from(JSON.stringify({ store: this.name, ...this.meta(), slots: this.slots.length }));
    const body = Buffer.concat(this.slots.map(vectorBytes));
    const len = Buffer.alloc(4);
    len.writeUInt32LE(header.length);
    return Buffer.concat([len, header, body]);
  }

  restore(snapshot: Buffer): void {
    const len = snapshot.readUInt32LE(0);
    const header = JSON.parse(snapshot.subarray(4, 4 + len).toString('utf8')) as Meta & { store?: string; slots: number };
    checkSnapshotOwner(this.name, header.store);
    this.setMeta(header);
    this.slots = [];
    for (let i = 0; i < header.slots; i++) this.slots.push(vectorFromBytes(snapshot, 4 + len + i * header.dim * 4, header.dim));
    this.changes.clear();
  }

  drainChanges(): Change[] {
    return this.changes.drain();
  }

  applyChange(change: Change): void {
    if (change.key === 'meta') {
      if (change.value) this.setMeta(JSON.parse(change.value.toString('utf8')) as Meta);
      return;
    }
    const m = /^slot:(\d+)$/.exec(change.key);
    if (!m) throw new StoreError(this.name, `unknown changelog key ${change.key}`);
    const i = Number(m[1]);
    if (change.value === null) {
      // Slots are only ever deleted all together, when the warm-up ends.
      this.slots.length = Math.min(this.slots.length, i);
    } else this.slots[i] = vectorFromBytes(change.value);
  }

  private meta(): Meta {
    return { seen: this.seenCount, done: this.finished, fittedAt: this.fittedAtCount, rng: this.rng.state, dim: this.dim };
  }

  private encodeMeta(): Buffer {
    return Buffer.from(JSON.stringify(this.meta()));
  }

  private setMeta(m: Meta): void {
    this.seenCount = m.seen;
    this.finished = m.done;
    this.fittedAtCount = m.fittedAt ?? 0;
    this.rng = new Rng(this.seed);
    this.rng.state = m.rng;
    this.dim = m.dim;
  }
}
