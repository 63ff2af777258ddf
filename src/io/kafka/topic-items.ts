import { createKafka } from './client.js';
import { readTopicsToEnd } from './changelog.js';
import { kafkaFeedSource } from './feed-source.js';
import { codecs, type CodecOptions } from '../avro/codec.js';
import { itemFromRecordValue, type DecodeOptions } from '../../records/decode.js';
import { origin, type Embedding, type Item } from '../../records/item.js';
import type { InRecord } from '../../topology/task.js';

export interface TopicRecords {
  /**
   * The records of the topic that were committed when it was opened, laid end to end as one
   * partition (offsets 0, 1, …), in batches; the same records in the same order every call.
   */
  records(batchSize: number): AsyncIterable<InRecord[]>;
  /** A record of `records()` as an Item, its origin the topic, partition and offset it came from. */
  decode(record: InRecord, seq: number): Item;
  /** How many records that is. */
  readonly size: number;
  close(): Promise<void>;
}

const ORIGIN_HEADER = 'd4-origin';

/**
 * A topology's input topic as a repeatable source of records, for sweeps: the range is fixed
 * when it is opened, and every pass reads the same records in the same order (partitions merged
 * round-robin, each in offset order, read-committed — the feed source's contract).
 */
export async function openTopicRecords(brokers: readonly string[], topic: string, format: 'avro' | 'json', decode: DecodeOptions, codec: CodecOptions = {}): Promise<TopicRecords> {
  const source = kafkaFeedSource({ brokers, topic, codec });
  const range = await source.range();
  const size = range.reduce((n, p) => n + Number(BigInt(p.end) - BigInt(p.start)), 0);
  const docs = codecs(codec).document;
  return {
    size,
    async *records(batchSize) {
      let batch: InRecord[] = [];
      let offset = 0n;
      for await (const r of source.read(range)) {
        if (format === 'avro') await docs.prepare([r.raw]); // with a schema registry: the writer schema, fetched before decoding
        batch.push({ offset: offset++, key: r.key === undefined ? null : Buffer.from(r.key), value: r.raw, timestamp: Date.now(), headers: { [ORIGIN_HEADER]: `${r.partition}:${r.offset}` } });
        if (batch.length >= batchSize) { yield batch; batch = []; }
      }
      if (batch.length > 0) yield batch;
    },
    decode(record, seq) {
      const [partition, offset] = (record.headers?.[ORIGIN_HEADER] ?? '0:0').split(':');
      const o = origin({ topic, partition: Number(partition), offset: offset! });
      return itemFromRecordValue(record.value, record.key?.toString('utf8') ?? null, seq, o, format, docs.decode, decode);
    },
    close: () => source.close(),
  };
}

/** Every record of a compacted embeddings topic (the latest per document id). */
export async function readEmbeddingsTopic(brokers: readonly string[], topic: string, codec: CodecOptions = {}): Promise<Embedding[]> {
  const kafka = createKafka(brokers, 'd4-embeddings-reader');
  const admin = kafka.admin();
  await admin.connect();
  const c = codecs(codec).embedding;
  const records: Embedding[] = [];
  try {
    const topics = new Set(await admin.listTopics());
    if (!topics.has(topic)) return records;
    await readTopicsToEnd(kafka, admin, [topic], 'd4-embeddings-reader', (_t, _p, m) => {
      const r = m.value ? c.decode(m.value) : undefined;
      if (r && 'value' in r) records.push(r.value);
    });
  } finally {
    await admin.disconnect();
  }
  return records;
}
