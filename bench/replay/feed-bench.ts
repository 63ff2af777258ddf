// Documents/s of the training feed from Kafka on this machine.
//
//   node dist/bench/replay/feed-bench.js [--docs 50000] [--partitions 2] [--shuffle-buffer 10000] [--batch-size 256] [--rounds 2] [--topic <existing>]
//
// Writes --docs real documents (../shared/data, repeated under new ids until there are enough)
// to a fresh Avro topic of --partitions partitions, then times `feed()` over it: one epoch,
// shuffled, batched, with a checkpoint token per batch, from the first fetch to the last batch,
// including the throwaway consumer group's join. Also times the same read with no shuffle
// (--shuffle-buffer 1) and a resume from the middle (which re-reads, without decoding, what was
// delivered). Needs a broker: $D4_KAFKA_BROKERS, or the one `npm run kafka:up` started. Each
// figure is the best of --rounds runs (the machine is shared). Last line: one JSON object.
// `measureFeed` is the reusable part (for `npm run bench:replay`).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchArgs, numberArg } from '../args.js';
import { randomUUID } from 'node:crypto';
import { feed, type FeedOptions } from '../../src/feed/index.js';
import { chunkByBytes, createKafka, ensureTopics, resolveBrokers, CompressionTypes } from '../../src/io/kafka/client.js';
import { kafkaFeedSource } from '../../src/io/kafka/feed-source.js';
import { codecs } from '../../src/io/avro/codec.js';
import type { CrawledDocument } from '../../src/records/item.js';

const root = join(import.meta.dirname, '..', '..', '..');

export interface FeedFigures {
  readonly documents: number;
  readonly batches: number;
  readonly seconds: number;
  readonly docs_per_s: number;
  /** Avro bytes read per second. */
  readonly mb_per_s: number;
}

/** Times one pass of `feed()` over `topic` with `options` (one epoch unless said otherwise). */
export async function measureFeed(brokers: readonly string[], topic: string, options: FeedOptions): Promise<FeedFigures> {
  const source = kafkaFeedSource({ brokers, topic });
  let documents = 0;
  let batches = 0;
  let chars = 0;
  const started = performance.now();
  try {
    for await (const b of feed(source, options)) {
      batches++;
      documents += b.documents.length;
      for (const d of b.documents) chars += d.text.length;
    }
  } finally {
    await source.close();
  }
  const seconds = (performance.now() - started) / 1000;
  return { documents, batches, seconds, docs_per_s: documents / seconds, mb_per_s: chars / 1e6 / seconds };
}

/** Real documents from ../shared/data, repeated under new ids up to `n`. */
export function benchDocuments(n: number): CrawledDocument[] {
  const files = ['web/c4-en-1k.jsonl', 'bbc-news-2225.jsonl', 'web/cc-wet-697.jsonl'];
  const base = files.flatMap((f) => readFileSync(join(root, '..', 'shared', 'data', f), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { id: string | number; text: string }));
  return Array.from({ length: n }, (_, i) => {
    const d = base[i % base.length]!;
    return { id: `${d.id}#${Math.floor(i / base.length)}`, url: null, fetched_at: null, content_type: null, language: null, text: d.text, metadata: {} };
  });
}

/** A fresh topic holding `docs` as Avro CrawledDocuments, keyed by id. */
export async function writeBenchTopic(brokers: readonly string[], docs: readonly CrawledDocument[], partitions: number): Promise<string> {
  const topic = `bench-feed-${randomUUID().slice(0, 8)}`;
  const kafka = createKafka(brokers, 'd4-bench-feed');
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, [{ topic, partitions }]);
  await admin.disconnect();
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const c = codecs().document;
  try {
    for (const chunk of chunkByBytes(docs.map((d) => ({ key: d.id, value: c.encode(d) })))) {
      await producer.send({ topic, messages: chunk, acks: -1, compression: CompressionTypes.None });
    }
  } finally {
    await producer.disconnect();
  }
  return topic;
}

const FEED_USAGE = `
node dist/bench/replay/feed-bench.js [--docs 50000] [--partitions 2] [--shuffle-buffer 10000] [--batch-size 256] [--rounds 2] [--topic <existing>]

Documents/s of the training feed from Kafka (a fresh Avro topic of --docs documents, or --topic):
shuffled, unshuffled, and a resume from the middle; each figure the best of --rounds. Needs a
broker: $D4_KAFKA_BROKERS, or the one \`npm run kafka:up\` started. The last line is one JSON object.`;

async function main(): Promise<void> {
  const a = benchArgs(FEED_USAGE, {
    docs: { type: 'string', default: '50000' },
    partitions: { type: 'string', default: '2' },
    'shuffle-buffer': { type: 'string', default: '10000' },
    'batch-size': { type: 'string', default: '256' },
    rounds: { type: 'string', default: '2' },
    topic: { type: 'string' },
  });
  for (const name of ['docs', 'partitions', 'shuffle-buffer', 'batch-size', 'rounds'] as const) numberArg(FEED_USAGE, name, a[name], { min: 1, integer: true });
  const brokers = resolveBrokers();
  const n = Number(a.docs);
  let topic = a.topic;
  if (!topic) {
    const t0 = performance.now();
    topic = await writeBenchTopic(brokers, benchDocuments(n), Number(a.partitions));
    console.log(`wrote ${n} documents to ${topic} (${a.partitions} partitions) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  const batch = { kind: 'count', size: Number(a['batch-size']) } as const;
  const best = async (options: FeedOptions) => {
    let top: FeedFigures | undefined;
    for (let r = 0; r < Number(a.rounds); r++) {
      const f = await measureFeed(brokers, topic!, options);
      if (!top || f.docs_per_s > top.docs_per_s) top = f;
    }
    return top!;
  };
  const shuffledRun = await best({ seed: 'bench', shuffleBuffer: Number(a['shuffle-buffer']), batch });
  console.log(`feed, shuffle buffer ${a['shuffle-buffer']}, batches of ${batch.size}: ${shuffledRun.documents} documents in ${shuffledRun.seconds.toFixed(2)} s = ${Math.round(shuffledRun.docs_per_s)} documents/s (${shuffledRun.mb_per_s.toFixed(1)} M chars/s)`);
  const plain = await best({ seed: 'bench', shuffleBuffer: 1, batch });
  console.log(`feed, no shuffle: ${Math.round(plain.docs_per_s)} documents/s (${plain.mb_per_s.toFixed(1)} M chars/s)`);
  // Resume from the middle: half the epoch is re-read without decoding, then delivered.
  const source = kafkaFeedSource({ brokers, topic });
  let token = '';
  let seen = 0;
  for await (const b of feed(source, { seed: 'bench', shuffleBuffer: Number(a['shuffle-buffer']), batch })) {
    seen += b.documents.length;
    token = b.checkpoint;
    if (seen >= shuffledRun.documents / 2) break;
  }
  await source.close();
  const resumed = await measureFeed(brokers, topic, { resume: token });
  console.log(`resume after ${seen} documents: the other ${resumed.documents} in ${resumed.seconds.toFixed(2)} s`);
  console.log(JSON.stringify({ bench: 'feed', topic, documents: shuffledRun.documents, partitions: Number(a.partitions), shuffle_buffer: Number(a['shuffle-buffer']), batch_size: batch.size, docs_per_s: Math.round(shuffledRun.docs_per_s), docs_per_s_no_shuffle: Math.round(plain.docs_per_s), resume_seconds: Number(resumed.seconds.toFixed(2)) }));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((e) => { console.error(e); process.exitCode = 1; });
}
