// The one module that imports kafkajs (2.2.4: complete, unmaintained since 2024), so that a
// later move to another client touches only src/io/kafka.
import './kafkajs-fix.js'; // before kafkajs: it replaces kafkajs' aborted-transaction filter
import kafkajs from 'kafkajs';
import type { Admin, Consumer, ITopicConfig, Kafka, KafkaConfig, Producer } from 'kafkajs';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { activeClientConfig, checkTls, explainConnectError, kafkajsSecurity } from './security.js';

export type { Admin, Consumer, Kafka, Producer, EachBatchPayload, KafkaMessage, Message } from 'kafkajs';
const { Kafka: KafkaClient, logLevel, CompressionTypes } = kafkajs;
export { CompressionTypes };

/**
 * Where the brokers are: --brokers, then $D4_KAFKA_BROKERS, then bootstrap.servers of the client
 * config (--kafka-config / $D4_KAFKA_CONFIG), then the broker that `npm run kafka:up` started for
 * this checkout (.d4/kafka/broker.json), then localhost:9092.
 */
export function resolveBrokers(flag?: string): string[] {
  const fromFile = () => {
    const p = join(process.env.D4_KAFKA_DIR ?? join(process.cwd(), '.d4', 'kafka'), 'broker.json');
    return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as { bootstrap: string }).bootstrap : undefined;
  };
  const list = flag ?? process.env.D4_KAFKA_BROKERS ?? activeClientConfig()?.bootstrap?.join(',') ?? fromFile() ?? '127.0.0.1:9092';
  return list.split(',').map((b) => b.trim()).filter(Boolean);
}

/**
 * Every Kafka client of the process is made here, with the security settings of the active
 * client config (security.ts): TLS and SASL come from one place, whatever the caller.
 */
export function createKafka(brokers: readonly string[], clientId: string): Kafka {
  const config = activeClientConfig();
  const kafka = new KafkaClient({
    clientId,
    brokers: [...brokers],
    ...(kafkajsSecurity(config) as Pick<KafkaConfig, 'ssl' | 'sasl'>),
    // kafkajs logs retriable errors (e.g. "group coordinator not available" while a fresh broker
    // elects one) at ERROR level; failures that matter reach us as exceptions or CRASH events.
    logLevel: ({ debug: logLevel.DEBUG, info: logLevel.INFO, warn: logLevel.WARN, error: logLevel.ERROR } as Record<string, number>)[process.env.D4_KAFKA_LOG ?? ''] ?? logLevel.NOTHING,
    retry: { retries: 8, initialRetryTime: 200 },
    connectionTimeout: 5000,
  });
  // An untrusted certificate or refused credentials fail the first connect at once, with the
  // cause named, instead of after kafkajs' retries (TLS) or as a bare protocol error (SASL).
  let checked: Promise<void> | undefined;
  const guard = <T extends { connect(): Promise<void> }>(client: T): T => {
    const connect = client.connect.bind(client);
    client.connect = async () => {
      if (config) await (checked ??= checkTls(brokers, config));
      try {
        await connect();
      } catch (e) {
        throw explainConnectError(e, brokers, config);
      }
    };
    return client;
  };
  const admin = kafka.admin.bind(kafka);
  const producer = kafka.producer.bind(kafka);
  const consumer = kafka.consumer.bind(kafka);
  kafka.admin = (c) => guard(admin(c));
  kafka.producer = (c) => guard(producer(c));
  kafka.consumer = (c) => guard(consumer(c));
  return kafka;
}

export interface TopicSpec {
  readonly topic: string;
  readonly partitions?: number;
  /** Changelogs, embeddings and centroids keep the latest value per key. */
  readonly compacted?: boolean;
}

/** Creates the topics that do not exist yet; existing ones are left as they are. */
export async function ensureTopics(admin: Admin, specs: readonly TopicSpec[]): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const seen = new Set<string>();
  const topics: ITopicConfig[] = [];
  for (const s of specs) {
    if (existing.has(s.topic) || seen.has(s.topic)) continue;
    seen.add(s.topic);
    topics.push({
      topic: s.topic,
      numPartitions: s.partitions ?? 1,
      replicationFactor: -1, // the broker's default: 1 on the local broker, 3 in docker/docker-compose.yml
      configEntries: [
        // A 1 MB text plus its fields and a batch of them must fit: the broker default is 1 MB.
        { name: 'max.message.bytes', value: String(MAX_MESSAGE_BYTES) },
        ...(s.compacted ? [{ name: 'cleanup.policy', value: 'compact' }] : []),
      ],
    });
  }
  if (topics.length > 0) await admin.createTopics({ topics, waitForLeaders: true });
}

/** Topic-level max.message.bytes for every topic d4 creates. */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
/** kafkajs sends one record batch per partition per request; keep each well under the limit. */
const SEND_CHUNK_BYTES = 4 * 1024 * 1024;

/** Splits messages into chunks of at most SEND_CHUNK_BYTES of keys and values (at least one message each). */
export function chunkByBytes<M extends { key?: Buffer | string | null; value: Buffer | string | null }>(messages: readonly M[]): M[][] {
  const chunks: M[][] = [];
  let chunk: M[] = [];
  let bytes = 0;
  for (const m of messages) {
    const size = (m.value?.length ?? 0) + (m.key?.length ?? 0) + 64;
    if (chunk.length > 0 && bytes + size > SEND_CHUNK_BYTES) { chunks.push(chunk); chunk = []; bytes = 0; }
    chunk.push(m);
    bytes += size;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

export async function partitionsOf(admin: Admin, topic: string): Promise<number[]> {
  const meta = await admin.fetchTopicMetadata({ topics: [topic] });
  return meta.topics[0]!.partitions.map((p) => p.partitionId).sort((a, b) => a - b);
}

export async function transactionalProducer(kafka: Kafka, transactionalId: string): Promise<Producer> {
  const producer = kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1, transactionTimeout: 60_000 });
  await producer.connect();
  return producer;
}

export type { Consumer as KafkaConsumer };
