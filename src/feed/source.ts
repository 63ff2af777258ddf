import type { CrawledDocument } from '../records/item.js';

/** One partition of an epoch: the offsets [start, end) fixed when the epoch began. */
export interface PartitionRange {
  readonly partition: number;
  /** First offset of the epoch (decimal int64). */
  readonly start: string;
  /** One past the last offset of the epoch: the last stable offset when the epoch began. */
  readonly end: string;
}

/** What one epoch reads, partitions in increasing order. */
export type EpochRange = readonly PartitionRange[];

/** A record as the source stores it; `raw` is decoded only when the record is delivered. */
export interface FeedRecord<R> {
  readonly partition: number;
  /** Decimal int64. */
  readonly offset: string;
  /** The record's key if it has one (Kafka: the document id), readable without decoding `raw`. */
  readonly key?: string;
  readonly raw: R;
}

/**
 * Where a feed reads documents from: a partitioned, append-only log such as a Kafka topic.
 * The contract that makes exact resumption possible: `read(range)` returns the same records in
 * the same order every time it is called with the same range (for Kafka: partitions merged
 * round-robin, each in offset order, read-committed), as long as the records are still there.
 */
export interface FeedSource<R> {
  /** Names the source in checkpoint tokens (e.g. "kafka:d4.curated"); a token for another source is refused. */
  readonly id: string;
  /** The range a new epoch reads: everything committed now. */
  range(): Promise<EpochRange>;
  /** The records of `range`, in a deterministic order. Fails if some can no longer be read. */
  read(range: EpochRange): AsyncIterable<FeedRecord<R>>;
  /** Never throws: a record that is not a document comes back as an error (with a reason such as not-avro when known). */
  decode(raw: R): { value: CrawledDocument } | { error: string; reason?: string };
}

/** Round-robin over several sources (one element from each in turn, skipping finished ones). */
export async function* roundRobin<T>(sources: readonly AsyncIterable<T>[]): AsyncGenerator<T> {
  const its = sources.map((s) => s[Symbol.asyncIterator]());
  const live = its.map((_, i) => i);
  try {
    while (live.length > 0) {
      for (let k = 0; k < live.length;) {
        const r = await its[live[k]!]!.next();
        if (r.done) { live.splice(k, 1); continue; }
        yield r.value;
        k++;
      }
    }
  } finally {
    await Promise.all(its.map((it) => it.return?.()));
  }
}
