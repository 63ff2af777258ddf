import { createKafka } from './client.js';
import { readTopicsToEnd } from './changelog.js';
import { kafkaFeedSource } from './feed-source.js';
import { codecs, type CodecOptions } from '../avro/codec.js';
import { itemFromRecordValue, type DecodeOptions } from '../../records/decode.js';
import { origin, type Embedding, type Item } from '../../records/item.js';

export interface TopicItems {
  /** The records of the topic that were committed when it was opened, as Items in batches; the same every call. */
  batches(batchSize: number): AsyncIterable<Item[]>;
  /** How many records that is. */
  readonly size: number;
  close(): Promise<void>;
}

/**
 * A topology's input topic as a repeatable source of Items, for sweeps: the range is fixed when
 * it is opened, and every pass reads the same records in the same order (partitions merged
 * round-robin, each in offset order, read-committed — the feed source's contract).
 */
export async function openTopicItems(brokers: readonly string[], topic: string, format: 'avro' | 'json', decode: DecodeOptions, codec: CodecOptions = {}): Promise<TopicItems> {
  const source = kafkaFeedSource({ brokers, topic, codec });
  const range = await source.range();
  const size = range.reduce((n, p) => n + Number(BigInt(p.end) - BigInt(p.start)), 0);
  const docs = codecs(codec).document;
  return {
    size,
    async *batches(batchSize) {
      let batch: Item[] = [];
      let seq = 0;
      for await (const r of source.read(range)) {
        const o = origin({ topic, partition: r.partition, offset: r.offset });
        if (format === 'avro') await docs.prepare([r.raw]);
        batch.push(itemFromRecordValue(r.raw, r.key ?? null, seq++, o, format, docs.decode, decode));
        if (batch.length >= batchSize) { yield batch; batch = []; }
      }
      if (batch.length > 0) yield batch;
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
