import { Pending } from '../../state/store.js';
import type { Embedding, Vector } from '../../records/item.js';
import { fromEmbeddingRecord, toEmbeddingRecord } from './embedding-record.js';
import type { EmbeddingStore } from './types.js';

export interface MemoryEmbeddingStoreOptions {
  readonly name: string;
  /**
   * Most vectors held; the oldest inserted is evicted first. An evicted document is embedded
   * again if it comes back (a cost, never a wrong answer). A 384-d vector costs about 1.6 KB.
   */
  readonly capacity: number;
}

/**
 * The in-memory mirror of the compacted embeddings topic: the Kafka runner `load`s what the topic
 * holds at startup, the embed stage `get`s before inference and `put`s what it computed, and the
 * runner publishes `drainNew()` to the topic (key = document id) in the same transaction as the
 * batch's other outputs. Also the default store when no file or topic is given.
 */
export class MemoryEmbeddingStore implements EmbeddingStore {
  readonly name: string;
  readonly capacity: number;
  private readonly map = new Map<string, Vector>();
  private readonly pending = new Pending<Embedding>();
  /** Records `load` refused (inconsistent bytes), for the runner's log. */
  rejected = 0;

  constructor(options: MemoryEmbeddingStoreOptions) {
    if (!Number.isInteger(options.capacity) || options.capacity < 1) throw new RangeError(`store ${options.name}: capacity must be a positive integer, got ${options.capacity}`);
    this.name = options.name;
    this.capacity = options.capacity;
  }

  get(id: string): Vector | undefined {
    return this.map.get(id);
  }

  put(id: string, vector: Vector): void {
    this.set(id, { ...vector, cached: true });
    this.pending.push(toEmbeddingRecord(id, vector));
  }

  size(): number {
    return this.map.size;
  }

  drainNew(): Embedding[] {
    return this.pending.drain();
  }

  load(records: Iterable<Embedding>): number {
    let n = 0;
    for (const r of records) {
      let v: Vector;
      try {
        v = fromEmbeddingRecord(r);
      } catch {
        this.rejected++;
        continue;
      }
      this.set(r.id, v);
      n++;
    }
    return n;
  }

  private set(id: string, v: Vector): void {
    // Re-inserting moves the id to the young end, as a newer record in a compacted topic would.
    this.map.delete(id);
    this.map.set(id, v);
    if (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value!);
  }
}
