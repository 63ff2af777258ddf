import { randomUUID } from 'node:crypto';
import { createKafka, type Admin, type Consumer, type Kafka } from './client.js';
import { codecs, type CodecOptions } from '../avro/codec.js';
import { roundRobin, type EpochRange, type FeedRecord, type FeedSource } from '../../feed/index.js';
import type { CrawledDocument } from '../../records/item.js';
import { framedMisreadHint } from '../../records/decode-reasons.js';

export interface KafkaFeedSourceOptions {
  readonly brokers: readonly string[];
  /** A topic of Avro CrawledDocument records, e.g. a topology's kept (curated) topic. */
  readonly topic: string;
  readonly codec?: CodecOptions;
  /** Bytes of records read ahead, over all partitions (default 32 MiB): the memory besides the shuffle buffer. */
  readonly readAheadBytes?: number;
  readonly log?: (message: string) => void;
}

/** The topic, a partition or the records a token needs are not there. Not retriable. */
export class FeedSourceError extends Error {
  override name = 'FeedSourceError';
}

export interface KafkaFeedSource extends FeedSource<Buffer> {
  /** Releases the admin connection (each read releases its own consumer). */
  close(): Promise<void>;
}

/**
 * Reads a topic of Avro CrawledDocument records for the training feed. An epoch's range is each
 * partition's [low watermark, last stable offset) when it starts, so read-committed: records of
 * open or aborted transactions are never delivered, and records produced later wait for the next
 * epoch. `read` merges the partitions round-robin, one record of each in turn in partition order,
 * each partition in offset order, so the same range always gives the same sequence, however the
 * broker's fetches interleave.
 *
 * kafkajs has no assign(): each read uses a throwaway consumer group (deleted afterwards), reads
 * from the beginning, seeks to the range's start, ignores records at or past its end, and knows
 * a partition is finished when a fetched batch reaches end − 1 (END_BATCH_PROCESS also fires for
 * a batch holding only transaction markers, so a topic that ends with a commit marker finishes).
 * Each partition has a bounded read-ahead queue: a partition that runs ahead of the round-robin
 * is paused, and resumed when its queue drains, so memory stays bounded whatever the skew.
 */
export function kafkaFeedSource(options: KafkaFeedSourceOptions): KafkaFeedSource {
  const { topic } = options;
  const kafka = createKafka(options.brokers, 'd4-feed');
  const codec = codecs(options.codec ?? {}).document;
  const log = options.log ?? (() => undefined);
  let admin: Admin | undefined;
  let closed = false;
  const getAdmin = async (): Promise<Admin> => {
    if (closed) throw new FeedSourceError(`the feed source of ${topic} is closed`);
    if (!admin) {
      const a = kafka.admin();
      await a.connect();
      admin = a;
    }
    return admin;
  };
  const offsets = async () => {
    const a = await getAdmin();
    if (!(await a.listTopics()).includes(topic)) throw new FeedSourceError(`topic ${topic} does not exist on ${options.brokers.join(',')}`);
    // fetchTopicOffsets lists read-committed offsets: `high` is the last stable offset.
    return (await a.fetchTopicOffsets(topic)).sort((x, y) => x.partition - y.partition);
  };

  return {
    id: `kafka:${topic}`,
    async range(): Promise<EpochRange> {
      return (await offsets()).map((p) => ({ partition: p.partition, start: p.low, end: p.high }));
    },
    read(range: EpochRange): AsyncIterable<FeedRecord<Buffer>> {
      const records = readRange(kafka, topic, range, offsets, options.readAheadBytes ?? 32 << 20, log, getAdmin);
      if (!options.codec?.registry) return records;
      // Registry framing: fetch a writer schema the first time its id shows, so decode stays synchronous.
      return (async function* () {
        for await (const r of records) {
          await codec.prepare([r.raw]);
          yield r;
        }
      })();
    },
    decode(raw: Buffer): { value: CrawledDocument } | { error: string; reason?: string } {
      const r = codec.decode(raw);
      // A curated document always has an id and a text: one without is bytes misread (e.g. a
      // Confluent-framed record read as plain Avro, whose header reads as an empty id).
      if ('value' in r && r.value.id.length === 0) {
        const hint = framedMisreadHint(raw);
        return { error: `decoded with an empty id, so not a curated document${hint ? `; ${hint}` : ''}`, reason: 'missing-id' };
      }
      return r;
    },
    async close(): Promise<void> {
      closed = true;
      const a = admin;
      admin = undefined;
      await a?.disconnect();
    },
  };
}

/** One partition's read-ahead: records in offset order, a byte count, and who waits for more. */
class PartitionQueue {
  private items: FeedRecord<Buffer>[] = [];
  private head = 0;
  bytes = 0;
  done = false;
  paused = false;
  error: Error | undefined;
  private wake: (() => void) | undefined;
  /** Next offset expected: anything below it is a re-delivery (a restarted consumer) and ignored. */
  next: bigint;

  constructor(readonly partition: number, start: string, readonly end: bigint) {
    this.next = BigInt(start);
    if (this.next >= end) this.done = true;
  }

  push(rec: FeedRecord<Buffer>): void {
    this.items.push(rec);
    this.bytes += rec.raw.length;
    this.signal();
  }

  finish(error?: Error): void {
    this.done = true;
    if (error && !this.error) this.error = error;
    this.signal();
  }

  private signal(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** The queue's records in order until the partition is finished; `onTake` runs after each. */
  async *drain(onTake: (q: PartitionQueue) => void): AsyncGenerator<FeedRecord<Buffer>> {
    for (;;) {
      if (this.error) throw this.error;
      if (this.head < this.items.length) {
        const rec = this.items[this.head]!;
        this.items[this.head++] = undefined as unknown as FeedRecord<Buffer>;
        if (this.head > 4096 && this.head * 2 > this.items.length) { this.items = this.items.slice(this.head); this.head = 0; }
        this.bytes -= rec.raw.length;
        onTake(this);
        yield rec;
        continue;
      }
      if (this.done) return;
      await new Promise<void>((r) => { this.wake = r; });
    }
  }
}

async function* readRange(kafka: Kafka, topic: string, range: EpochRange, offsets: () => Promise<{ partition: number; low: string; high: string }[]>, readAheadBytes: number, log: (m: string) => void, getAdmin: () => Promise<Admin>): AsyncGenerator<FeedRecord<Buffer>> {
  // The range must still be readable: its partitions exist and no record in it was deleted.
  const now = new Map((await offsets()).map((p) => [p.partition, p]));
  for (const r of range) {
    const p = now.get(r.partition);
    if (!p) throw new FeedSourceError(`topic ${topic} has no partition ${r.partition} (recreated with fewer partitions?)`);
    if (BigInt(r.end) > BigInt(r.start) && BigInt(p.low) > BigInt(r.start)) throw new FeedSourceError(`topic ${topic} partition ${r.partition}: records from offset ${r.start} were deleted (now starts at ${p.low}), so this epoch cannot be read again exactly; start again without the token`);
    if (BigInt(p.high) < BigInt(r.end)) throw new FeedSourceError(`topic ${topic} partition ${r.partition} ends at ${p.high}, before the epoch's end ${r.end} (recreated?); start again without the token`);
  }
  const queues = range.map((r) => new PartitionQueue(r.partition, r.start, BigInt(r.end)));
  const live = queues.filter((q) => !q.done);
  if (live.length === 0) return;
  const byPartition = new Map(live.map((q) => [q.partition, q]));
  const high = Math.max(1 << 20, Math.floor(readAheadBytes / live.length));
  const low = high >> 1;

  const groupId = `d4-feed-${randomUUID()}`;
  const consumer: Consumer = kafka.consumer({
    groupId, readUncommitted: false, allowAutoTopicCreation: false,
    // All partitions paused means the fetch loop sleeps this long before it looks again.
    maxWaitTimeInMs: 100,
    maxBytesPerPartition: Math.min(high, 4 << 20),
  });
  const pause = (q: PartitionQueue) => { q.paused = true; consumer.pause([{ topic, partitions: [q.partition] }]); };
  const onTake = (q: PartitionQueue) => {
    if (q.paused && !q.done && q.bytes < low) { q.paused = false; consumer.resume([{ topic, partitions: [q.partition] }]); }
  };
  const failAll = (e: Error) => { for (const q of live) q.finish(e); };
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    const q = payload.topic === topic ? byPartition.get(payload.partition) : undefined;
    if (q && !q.done && BigInt(payload.lastOffset) >= q.end - 1n) { q.finish(); pause(q); }
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    if (payload.restart) log(`feed consumer of ${topic} restarts after: ${payload.error.message}`);
    else failAll(payload.error);
  });
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: true,
      eachBatch: async ({ batch }) => {
        const q = byPartition.get(batch.partition);
        if (!q) {
          // A partition added after the epoch began: not in this epoch's range, so stop fetching it.
          consumer.pause([{ topic, partitions: [batch.partition] }]);
          return;
        }
        if (q.done) return;
        for (const m of batch.messages) {
          const o = BigInt(m.offset);
          if (o < q.next || o >= q.end) continue;
          q.next = o + 1n;
          // kafkajs hands out slices of the whole fetch response: a copy lets a record held in
          // the shuffle buffer keep only its own bytes alive, not its fetch's megabytes.
          q.push({ partition: q.partition, offset: m.offset, ...(m.key ? { key: m.key.toString('utf8') } : {}), raw: m.value ? Buffer.from(m.value) : Buffer.alloc(0) });
        }
        // Re-pausing an already paused partition is harmless, and covers a consumer that restarted.
        if (q.bytes >= high) pause(q);
      },
    });
    // A fresh group starts at the low watermark, which is the range's start unless the range comes
    // from a token issued when the topic started further back (checked above: nothing deleted).
    for (const q of live) if (BigInt(now.get(q.partition)!.low) !== q.next) consumer.seek({ topic, partition: q.partition, offset: q.next.toString() });
    yield* roundRobin(live.map((q) => q.drain(onTake)));
  } finally {
    await consumer.disconnect().catch(() => undefined);
    // If the source was closed meanwhile, the empty group is left for the broker to expire.
    await getAdmin().then((a) => a.deleteGroups([groupId])).catch(() => undefined);
  }
}
