import { randomUUID } from 'node:crypto';
import { chunkByBytes, createKafka, ensureTopics, CompressionTypes } from './client.js';
import { codecs, type CodecOptions } from '../avro/codec.js';
import { readFileItems } from '../files/source.js';
import type { DecodeOptions } from '../../records/decode.js';
import type { DeadLetter } from '../../records/item.js';

export interface ProduceOptions extends DecodeOptions {
  readonly brokers: readonly string[];
  readonly topic: string;
  /** avro: validated CrawledDocument records; json: each input line's bytes as they are. */
  readonly format: 'avro' | 'json';
  readonly partitions: number;
  readonly codec: CodecOptions;
  readonly batchSize: number;
  readonly onDeadLetter?: (d: DeadLetter) => void;
}

/** Moves a file into a topic, keyed by document id. Returns produced and refused counts. */
export async function produceFile(input: string, options: ProduceOptions): Promise<{ produced: number; refused: number }> {
  const kafka = createKafka(options.brokers, 'd4-produce');
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, [{ topic: options.topic, partitions: options.partitions }]);
  await admin.disconnect();
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const c = codecs(options.codec);
  let produced = 0;
  let refused = 0;
  try {
    // In json mode the worker validates: read every line whole, however large its text.
    const reader = options.format === 'json' ? { ...options, maxBytes: Number.MAX_SAFE_INTEGER / 4 } : options;
    for await (const batch of readFileItems(input, reader)) {
      const messages = [];
      for (const item of batch) {
        if (options.format === 'json') {
          // Raw mode: the worker validates, so a bad line reaches the topic and gets dead-lettered there.
          const raw = item.kind === 'dead' ? item.dead.raw : Buffer.from(JSON.stringify(item.doc));
          messages.push({ key: item.kind === 'doc' ? item.doc.id : `${input}:${item.origin.line}`, value: raw });
        } else if (item.kind === 'doc') {
          messages.push({ key: item.doc.id, value: c.document.encode(item.doc) });
        } else {
          refused++;
          options.onDeadLetter?.(item.dead);
        }
      }
      for (const chunk of chunkByBytes(messages)) await producer.send({ topic: options.topic, messages: chunk, acks: -1, compression: CompressionTypes.None });
      produced += messages.length;
    }
  } finally {
    await producer.disconnect();
  }
  return { produced, refused };
}

export type RecordKind = 'decision' | 'document' | 'dead-letter' | 'embedding' | 'centroids' | 'raw';

export interface ConsumeOptions {
  readonly brokers: readonly string[];
  readonly topic: string;
  readonly as: RecordKind;
  readonly codec: CodecOptions;
  /** Stop after this many records. */
  readonly max?: number;
  /** Stop when nothing arrived for this long. */
  readonly idleMs: number;
  readonly groupId?: string;
  readonly onRecord: (value: unknown, meta: { partition: number; offset: string; key: string | null }) => void;
}

/** Reads a topic from the beginning in read-committed mode and hands each record, decoded, to onRecord. */
export async function consumeTopic(options: ConsumeOptions): Promise<number> {
  const kafka = createKafka(options.brokers, 'd4-consume');
  const groupId = options.groupId ?? `d4-consume-${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, readUncommitted: false });
  const c = codecs(options.codec);
  const decoders: Record<RecordKind, (b: Buffer) => unknown> = {
    decision: (b) => c.decision.decode(b),
    document: (b) => c.document.decode(b),
    'dead-letter': (b) => c.deadLetter.decode(b),
    embedding: (b) => c.embedding.decode(b),
    centroids: (b) => c.centroids.decode(b),
    raw: (b) => ({ value: b.toString('utf8') }),
  };
  let n = 0;
  let last = Date.now();
  let finish!: () => void;
  const finished = new Promise<void>((r) => { finish = r; });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [options.topic], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        last = Date.now();
        if (options.max !== undefined && n >= options.max) return finish();
        const kind = options.as === 'dead-letter' ? 'deadLetter' : options.as;
        if (kind !== 'raw') await c[kind].prepare([message.value]);
        const r = decoders[options.as](message.value ?? Buffer.alloc(0)) as { value?: unknown; error?: string; reason?: string };
        options.onRecord(r.error !== undefined ? { error: r.error, ...(r.reason ? { reason: r.reason } : {}) } : r.value, { partition, offset: message.offset, key: message.key?.toString('utf8') ?? null });
        n++;
        if (options.max !== undefined && n >= options.max) finish();
      },
    });
    const timer = setInterval(() => { if (Date.now() - last > options.idleMs) finish(); }, 100);
    await finished;
    clearInterval(timer);
  } finally {
    await consumer.disconnect();
    if (!options.groupId) {
      const admin = kafka.admin();
      await admin.connect();
      await admin.deleteGroups([groupId]).catch(() => undefined);
      await admin.disconnect();
    }
  }
  return n;
}
