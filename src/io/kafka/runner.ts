import { chunkByBytes, createKafka, ensureTopics, partitionsOf, transactionalProducer, type EachBatchPayload, type KafkaMessage, type Message, type Producer } from './client.js';
import { changelogMessages, changelogTopic, restoreFromChangelogs } from './changelog.js';
import { codecs, type CodecOptions } from '../avro/codec.js';
import { itemFromJsonBytes, itemFromValue, type DecodeOptions } from '../../records/decode.js';
import { deadLetter, origin, type Item } from '../../records/item.js';
import { outcomes, type Pipeline } from '../../topology/pipeline.js';
import { Summary } from '../../topology/summary.js';

export interface KafkaRunOptions {
  readonly brokers: readonly string[];
  /** Consumer group, transactional-id prefix and changelog-topic prefix. */
  readonly applicationId: string;
  readonly source: { readonly topic: string; readonly format: 'avro' | 'json'; readonly partitions: number };
  readonly sinks: { readonly decisions: string; readonly kept: string; readonly deadLetter: string };
  readonly decode: DecodeOptions;
  readonly codec: CodecOptions;
  /** Stop after this long with no new records (replays and tests); run forever when absent. */
  readonly untilIdleMs?: number;
  /** Most bytes fetched per partition per poll: the size of a batch, hence of a transaction. */
  readonly maxBatchBytes: number;
  readonly log: (message: string) => void;
  /** Log every committed batch. */
  readonly verbose?: boolean;
  readonly onBatch?: (summary: Summary) => void;
}

/** A transaction failed after the stores changed: the in-memory state is ahead of Kafka. */
export class FatalRunError extends Error {
  override name = 'FatalRunError';
}

/**
 * Runs a pipeline as a consume-transform-produce loop with exactly-once output in the
 * read-committed view: each input batch's decisions, kept documents, dead letters, store
 * changelog records and consumed offsets are committed in one Kafka transaction, by a producer
 * whose transactional id is stable per input partition (kafkajs' TxnOffsetCommit has no group
 * fencing, so a stable id per partition is what fences a zombie).
 *
 * Start-up: fence every partition's previous producer (aborting its open transaction), then
 * rebuild the stores from their changelogs, then consume from the committed offsets. If a
 * transaction fails, the stores already hold the batch's changes, so the worker stops with a
 * FatalRunError and a restart rebuilds the state from what was committed.
 */
export async function runKafkaPipeline(pipeline: Pipeline, options: KafkaRunOptions): Promise<Summary> {
  const { applicationId: app, source, sinks, log } = options;
  const kafka = createKafka(options.brokers, app);
  const admin = kafka.admin();
  await admin.connect();
  const c = codecs(options.codec);
  const producers = new Map<number, Producer>();
  const consumer = kafka.consumer({ groupId: app, readUncommitted: false, sessionTimeout: 10_000, heartbeatInterval: 2_000, maxBytesPerPartition: options.maxBatchBytes, maxBytes: Math.max(options.maxBatchBytes, 1 << 20) });
  const summary = new Summary();
  let fatal: Error | undefined;
  let stopping = false;
  let stopResolve!: () => void;
  const stopped = new Promise<void>((r) => { stopResolve = r; });
  const stop = (why: string) => { if (!stopping) { stopping = true; log(why); stopResolve(); } };
  const onSignal = (sig: string) => () => stop(`${sig}: finishing the current batch, then stopping`);
  const handlers = { SIGINT: onSignal('SIGINT'), SIGTERM: onSignal('SIGTERM') };
  process.once('SIGINT', handlers.SIGINT);
  process.once('SIGTERM', handlers.SIGTERM);

  try {
    await ensureTopics(admin, [
      { topic: source.topic, partitions: source.partitions },
      { topic: sinks.decisions, partitions: source.partitions },
      { topic: sinks.kept, partitions: source.partitions },
      { topic: sinks.deadLetter },
      ...pipeline.stores.map((s) => ({ topic: changelogTopic(app, s.name), compacted: true })),
    ]);
    for (const p of await partitionsOf(admin, source.topic)) {
      const producer = await transactionalProducer(kafka, `${app}-${source.topic}-${p}`);
      await (await producer.transaction()).abort(); // initialises the producer id: fences a previous incarnation
      producers.set(p, producer);
    }
    await restoreFromChangelogs(kafka, admin, app, pipeline.stores, log);

    const decode = (m: KafkaMessage, partition: number, seq: number): Item => {
      const o = origin({ topic: source.topic, partition, offset: m.offset });
      const raw = m.value ?? Buffer.alloc(0);
      if (source.format === 'json') return itemFromJsonBytes(raw, seq, o, options.decode);
      const r = c.document.decode(raw);
      if ('error' in r) return { kind: 'dead', seq, origin: o, dead: deadLetter(o, 'decode', 'malformed-avro', r.error, raw, m.key?.toString('utf8') ?? null) };
      return itemFromValue(r.value, raw, seq, o, options.decode);
    };

    let lastActivity = Date.now();
    const eachBatch = async ({ batch, heartbeat }: EachBatchPayload) => {
      if (stopping || fatal) return;
      lastActivity = Date.now();
      const timer = setInterval(() => { heartbeat().catch(() => undefined); }, 2_000); // long batches (embedding) must heartbeat
      try {
        const items = batch.messages.map((m, i) => decode(m, batch.partition, i));
        const o = outcomes(await pipeline.process(items), pipeline.paramsHash);
        const topicMessages: { topic: string; messages: Message[] }[] = [
          { topic: sinks.decisions, messages: o.decisions.map((d) => ({ key: d.id, value: c.decision.encode(d) })) },
          { topic: sinks.kept, messages: o.kept.map((d) => ({ key: d.id, value: c.document.encode(d) })) },
          { topic: sinks.deadLetter, messages: o.dead.map((d) => ({ key: d.id ?? `${d.origin.topic}:${d.origin.partition}:${d.origin.offset}`, value: c.deadLetter.encode(d) })) },
          ...pipeline.stores.map((s) => ({ topic: changelogTopic(app, s.name), messages: changelogMessages(s) })),
        ].filter((t) => t.messages.length > 0);
        const producer = producers.get(batch.partition);
        if (!producer) throw new FatalRunError(`no producer for partition ${batch.partition} of ${source.topic} (partitions added while running? restart the worker)`);
        const next = (BigInt(batch.lastOffset()) + 1n).toString();
        // The outputs are computed once; only their transactional write is retried (abort discards
        // a partial one). kafkajs does not retry e.g. NOT_COORDINATOR on sendOffsets by itself.
        for (let attempt = 1; ; attempt++) {
          const txn = await producer.transaction();
          try {
            for (const t of topicMessages) {
              for (const messages of chunkByBytes(t.messages)) await txn.send({ topic: t.topic, messages });
            }
            await txn.sendOffsets({ consumerGroupId: app, topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: next }] }] });
            await txn.commit();
            break;
          } catch (e) {
            await txn.abort().catch(() => undefined);
            const retriable = (e as { retriable?: boolean }).retriable === true;
            if (!retriable || attempt >= 5) throw new FatalRunError(`transaction for ${batch.topic}[${batch.partition}] failed after ${attempt} attempt(s): ${(e as Error).message}`);
            log(`transaction for ${batch.topic}[${batch.partition}] failed (${(e as Error).message}); retrying (${attempt}/5)`);
            await new Promise((r) => setTimeout(r, 200 * attempt));
          }
        }
        summary.add(o);
        if (options.verbose) log(`committed ${batch.topic}[${batch.partition}] offsets ${batch.firstOffset()}..${batch.lastOffset()}: ${o.decisions.length} decisions, ${o.dead.length} dead letters`);
        options.onBatch?.(summary);
      } catch (e) {
        fatal = e instanceof FatalRunError ? e : new FatalRunError(`batch failed: ${(e as Error).stack ?? e}`);
        stop(fatal.message);
      } finally {
        clearInterval(timer);
      }
    };

    await consumer.connect();
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart) { fatal = payload.error; stop(`consumer crashed: ${payload.error.message}`); }
    });
    await consumer.subscribe({ topics: [source.topic], fromBeginning: true });
    await consumer.run({ autoCommit: false, eachBatchAutoResolve: true, partitionsConsumedConcurrently: 1, eachBatch });
    log(`consuming ${source.topic} as group ${app}`);

    const idle = options.untilIdleMs;
    const idleTimer = idle ? setInterval(() => { if (Date.now() - lastActivity > idle) stop(`idle for ${idle} ms: stopping`); }, Math.min(idle, 500)) : undefined;
    await stopped;
    if (idleTimer) clearInterval(idleTimer);
  } finally {
    process.off('SIGINT', handlers.SIGINT);
    process.off('SIGTERM', handlers.SIGTERM);
    await consumer.disconnect().catch(() => undefined);
    for (const p of producers.values()) await p.disconnect().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
  if (fatal) throw fatal;
  return summary;
}
