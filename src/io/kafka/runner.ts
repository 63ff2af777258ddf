import { chunkByBytes, createKafka, ensureTopics, partitionsOf, transactionalProducer, type EachBatchPayload, type KafkaMessage, type Message, type Producer } from './client.js';
import { changelogMessages, changelogTopic, readTopicsToEnd, restoreFromChangelogs } from './changelog.js';
import { codecs, type CodecOptions } from '../avro/codec.js';
import { itemFromJsonBytes, itemFromValue, type DecodeOptions } from '../../records/decode.js';
import { deadLetter, origin, type Embedding, type Item } from '../../records/item.js';
import { outcomes, type Pipeline } from '../../topology/pipeline.js';
import { Summary } from '../../topology/summary.js';
import type { BuiltEmbedStage } from '../../stages/embed/embed.js';
import { fanOut, type RunObserver } from '../../topology/events.js';
import { embedReports, secondsSince, storeSizes, windowCommitted } from '../../observe/run-events.js';

export interface KafkaRunOptions {
  readonly brokers: readonly string[];
  /** Consumer group, transactional-id prefix and changelog-topic prefix. */
  readonly applicationId: string;
  readonly source: { readonly topic: string; readonly format: 'avro' | 'json'; readonly partitions: number };
  readonly sinks: { readonly decisions: string; readonly kept: string; readonly deadLetter: string };
  /** The compacted embeddings topic (keyed by document id): mirrored into the embed stage's store at start, and fed with every new embedding. */
  readonly embeddingsTopic?: string;
  readonly decode: DecodeOptions;
  readonly codec: CodecOptions;
  /**
   * Documents are processed in windows of this many offsets, aligned on offset multiples, so that
   * a batch's composition (which the selection stages' decisions depend on) does not depend on
   * how Kafka happened to deliver the records: a replay of the same offsets sees the same windows.
   */
  readonly window: number;
  /** A partial window is processed after waiting this long for the rest (the latency bound of a live stream). */
  readonly lingerMs: number;
  /** Where a new consumer group starts: the beginning, or offsets from this time (epoch ms) on. */
  readonly startAt?: number;
  /** Stop after this long with no new records (replays and tests); run forever when absent. */
  readonly untilIdleMs?: number;
  /** Most bytes fetched per partition per poll. */
  readonly maxBatchBytes: number;
  readonly log: (message: string) => void;
  /** Log every committed window. */
  readonly verbose?: boolean;
  readonly onBatch?: (summary: Summary) => void;
  /** Told what the loop does (metrics, dashboard): see topology/events.ts. */
  readonly observer?: RunObserver;
}

/** A transaction failed after the stores changed: the in-memory state is ahead of Kafka. */
export class FatalRunError extends Error {
  override name = 'FatalRunError';
}

interface Pending {
  messages: KafkaMessage[];
  /** Highest offset delivered so far, transaction markers included. */
  position: bigint;
  /** First offset not yet committed: the start of the current window. */
  next: bigint;
  since: number;
}

/**
 * Runs a pipeline as a consume-transform-produce loop with exactly-once output in the
 * read-committed view: each window's decisions, kept documents, dead letters, new embeddings,
 * store changelog records and consumed offsets are committed in one Kafka transaction, by a
 * producer whose transactional id is stable per input partition (kafkajs' TxnOffsetCommit has no
 * group fencing, so a stable id per partition is what fences a zombie).
 *
 * Start-up: fence every partition's previous producer (aborting its open transaction), rebuild
 * the stores from their changelogs and the embeddings mirror from its topic, then consume from
 * the committed offsets. If a transaction cannot be committed, the stores already hold the
 * window's changes, so the worker stops with a FatalRunError and a restart rebuilds the state
 * from what was committed.
 */
export async function runKafkaPipeline(pipeline: Pipeline, options: KafkaRunOptions): Promise<Summary> {
  const { applicationId: app, source, sinks, log } = options;
  const kafka = createKafka(options.brokers, app);
  const admin = kafka.admin();
  await admin.connect();
  const c = codecs(options.codec);
  const producers = new Map<number, Producer>();
  const consumer = kafka.consumer({ groupId: app, readUncommitted: false, sessionTimeout: 10_000, heartbeatInterval: 2_000, maxBytesPerPartition: options.maxBatchBytes, maxBytes: Math.max(options.maxBatchBytes, 1 << 20) });
  const embed = pipeline.stages.find((s): s is BuiltEmbedStage => s.type === 'embed');
  const embeddingsTopic = embed ? options.embeddingsTopic : undefined;
  const summary = new Summary();
  const observer = fanOut(options.observer ? [options.observer] : []);
  const pending = new Map<number, Pending>();
  let fatal: Error | undefined;
  let stopping = false;
  let stopResolve!: () => void;
  const stopped = new Promise<void>((r) => { stopResolve = r; });
  const stop = (why: string) => { if (!stopping) { stopping = true; log(why); stopResolve(); } };
  const onSignal = (sig: string) => () => stop(`${sig}: finishing the current window, then stopping`);
  const handlers = { SIGINT: onSignal('SIGINT'), SIGTERM: onSignal('SIGTERM') };
  process.once('SIGINT', handlers.SIGINT);
  process.once('SIGTERM', handlers.SIGTERM);

  const decode = (m: KafkaMessage, partition: number, seq: number): Item => {
    const o = origin({ topic: source.topic, partition, offset: m.offset });
    const raw = m.value ?? Buffer.alloc(0);
    if (source.format === 'json') return itemFromJsonBytes(raw, seq, o, options.decode);
    const r = c.document.decode(raw);
    if ('error' in r) return { kind: 'dead', seq, origin: o, dead: deadLetter(o, 'decode', r.reason ?? 'malformed-avro', r.error, raw, m.key?.toString('utf8') ?? null) };
    return itemFromValue(r.value, raw, seq, o, options.decode);
  };

  /** Processes and commits one window of a partition: the messages below `end` (exclusive). */
  const processWindow = async (partition: number, p: Pending, end: bigint) => {
    const messages = p.messages.filter((m) => BigInt(m.offset) < end);
    p.messages = p.messages.filter((m) => BigInt(m.offset) >= end);
    if (source.format === 'avro') await c.document.prepare(messages.map((m) => m.value)); // registry: the window's writer schemas
    const started = process.hrtime.bigint(); // observer
    const items = await pipeline.process(messages.map((m, i) => decode(m, partition, i)));
    const o = outcomes(items, pipeline.paramsHash);
    const processSeconds = secondsSince(started); // observer
    const embeddings: Embedding[] = embeddingsTopic ? embed!.store.drainNew() : [];
    const topicMessages: { topic: string; messages: Message[] }[] = [
      { topic: sinks.decisions, messages: o.decisions.map((d) => ({ key: d.id, value: c.decision.encode(d) })) },
      { topic: sinks.kept, messages: o.kept.map((d) => ({ key: d.id, value: c.document.encode(d) })) },
      { topic: sinks.deadLetter, messages: o.dead.map((d) => ({ key: d.id ?? `${d.origin.topic}:${d.origin.partition}:${d.origin.offset}`, value: c.deadLetter.encode(d) })) },
      ...(embeddingsTopic ? [{ topic: embeddingsTopic, messages: embeddings.map((e) => ({ key: e.id, value: c.embedding.encode(e) })) }] : []),
      ...pipeline.stores.map((s) => ({ topic: changelogTopic(app, s.name), messages: changelogMessages(s) })),
    ].filter((t) => t.messages.length > 0);
    const producer = producers.get(partition);
    if (!producer) throw new FatalRunError(`no producer for partition ${partition} of ${source.topic} (partitions added while running? restart the worker)`);
    // The outputs are computed once; only their transactional write is retried (abort discards
    // a partial one). kafkajs does not retry e.g. NOT_COORDINATOR on sendOffsets by itself.
    const commitStarted = process.hrtime.bigint(); // observer
    for (let attempt = 1; ; attempt++) {
      const txn = await producer.transaction();
      try {
        for (const t of topicMessages) {
          for (const chunk of chunkByBytes(t.messages)) await txn.send({ topic: t.topic, messages: chunk });
        }
        await txn.sendOffsets({ consumerGroupId: app, topics: [{ topic: source.topic, partitions: [{ partition, offset: end.toString() }] }] });
        await txn.commit();
        break;
      } catch (e) {
        await txn.abort().catch(() => undefined);
        const retriable = (e as { retriable?: boolean }).retriable === true;
        observer.transactionFailed({ task: `0_${partition}`, attempt, error: (e as Error).message, retriable, outcome: !retriable || attempt >= 5 ? 'fatal' : 'retry' });
        if (!retriable || attempt >= 5) throw new FatalRunError(`transaction for ${source.topic}[${partition}] failed after ${attempt} attempt(s): ${(e as Error).message}`);
        log(`transaction for ${source.topic}[${partition}] failed (${(e as Error).message}); retrying (${attempt}/5)`);
        await new Promise((r) => setTimeout(r, 200 * attempt));
      }
    }
    // observer: what this window committed
    observer.windowCommitted(windowCommitted({ pipeline, partition, items, timestamps: messages.map((m) => Number(m.timestamp)), outcomes: o, records: Number(end - p.next), processSeconds, commitSeconds: secondsSince(commitStarted) }));
    for (const r of embedReports(pipeline, `0_${partition}`)) observer.stageReport(r);
    observer.storeSizes(storeSizes(pipeline, `0_${partition}`));
    p.next = end;
    p.since = Date.now();
    summary.add(o);
    if (options.verbose) log(`committed ${source.topic}[${partition}] offsets <${end}: ${o.decisions.length} decisions, ${o.dead.length} dead letters${embeddingsTopic ? `, ${embeddings.length} new embeddings` : ''}`);
    options.onBatch?.(summary);
  };

  const W = BigInt(options.window);
  /** Commits every complete window of a partition, and the partial one when `flush` is set. */
  const drain = async (partition: number, flush: boolean) => {
    const p = pending.get(partition);
    if (!p) return;
    for (;;) {
      const end = (p.next / W + 1n) * W; // the next offset multiple of the window above p.next
      if (p.position >= end - 1n) await processWindow(partition, p, end);
      else if (flush && p.position >= p.next) await processWindow(partition, p, p.position + 1n);
      else return;
    }
  };

  let busy: Promise<void> = Promise.resolve();
  /** eachBatch and the linger timer both process windows: one at a time. */
  const serially = (f: () => Promise<void>) => (busy = busy.then(f, f));
  const fail = (e: unknown) => {
    fatal = e instanceof FatalRunError ? e : new FatalRunError(`window failed: ${(e as Error).stack ?? e}`);
    stop(fatal.message);
  };

  let lastActivity = Date.now();
  let lingerTimer: NodeJS.Timeout | undefined;
  let idleTimer: NodeJS.Timeout | undefined;
  try {
    await ensureTopics(admin, [
      { topic: source.topic, partitions: source.partitions },
      { topic: sinks.decisions, partitions: source.partitions },
      { topic: sinks.kept, partitions: source.partitions },
      { topic: sinks.deadLetter },
      ...(embeddingsTopic ? [{ topic: embeddingsTopic, partitions: source.partitions, compacted: true }] : []),
      ...pipeline.stores.map((s) => ({ topic: changelogTopic(app, s.name), compacted: true })),
    ]);
    for (const p of await partitionsOf(admin, source.topic)) {
      const producer = await transactionalProducer(kafka, `${app}-${source.topic}-${p}`);
      await (await producer.transaction()).abort(); // initialises the producer id: fences a previous incarnation
      producers.set(p, producer);
    }
    const restoreStarted = process.hrtime.bigint(); // observer
    const restored = await restoreFromChangelogs(kafka, admin, app, pipeline.stores, log);
    for (const st of pipeline.stores) observer.storeRestored({ task: '0', store: st.name, records: restored, seconds: secondsSince(restoreStarted) });
    if (embeddingsTopic) {
      const records: Embedding[] = [];
      await readTopicsToEnd(kafka, admin, [embeddingsTopic], `${app}-embeddings-mirror`, (_t, m) => {
        if (!m.value) return;
        const r = c.embedding.decode(m.value);
        if ('value' in r) records.push(r.value);
      });
      const loaded = embed!.store.load(records);
      observer.storeRestored({ task: '0', store: `${embed!.id}-embeddings`, records: records.length, seconds: secondsSince(restoreStarted) });
      if (records.length > 0) log(`mirrored ${loaded} embedding(s) from ${embeddingsTopic}`);
    }
    if (options.startAt !== undefined) {
      // A new group starts at the first offsets at or after that time (ignored once it has committed offsets).
      const committed = await admin.fetchOffsets({ groupId: app, topics: [source.topic] });
      if (committed.every((t) => t.partitions.every((p) => p.offset === '-1'))) {
        await admin.setOffsets({ groupId: app, topic: source.topic, partitions: await admin.fetchTopicOffsetsByTimestamp(source.topic, options.startAt) });
      }
    }

    const eachBatch = async ({ batch, heartbeat }: EachBatchPayload) => {
      if (stopping || fatal) return;
      lastActivity = Date.now();
      const timer = setInterval(() => { heartbeat().catch(() => undefined); }, 2_000); // long windows (embedding) must heartbeat
      try {
        await serially(async () => {
          let p = pending.get(batch.partition);
          const first = BigInt(batch.firstOffset() ?? batch.lastOffset());
          if (!p || first < p.next) { // first batch of this partition, or re-delivered after a rebalance
            p = { messages: [], position: first - 1n, next: first, since: Date.now() };
            pending.set(batch.partition, p);
          }
          p.messages.push(...batch.messages.filter((m) => BigInt(m.offset) > p!.position));
          p.position = BigInt(batch.lastOffset());
          observer.lag({ topic: source.topic, partition: batch.partition, lag: Number(batch.offsetLag()) });
          await drain(batch.partition, false);
        });
      } catch (e) {
        fail(e);
      } finally {
        clearInterval(timer);
      }
    };

    await consumer.connect();
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart) { fatal = payload.error; stop(`consumer crashed: ${payload.error.message}`); }
    });
    // A revoked partition's buffered, uncommitted records are re-read by its next owner.
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      void serially(async () => { pending.clear(); });
      observer.tasksAssigned({ assigned: (payload.memberAssignment[source.topic] ?? []).map((p) => `0_${p}`), revoked: [], resumed: [] });
    });
    await consumer.subscribe({ topics: [source.topic], fromBeginning: true });
    await consumer.run({ autoCommit: false, eachBatchAutoResolve: true, partitionsConsumedConcurrently: 1, eachBatch });
    log(`consuming ${source.topic} as group ${app} in windows of ${options.window} offsets`);
    observer.ready();

    lingerTimer = setInterval(() => {
      if (stopping || fatal) return;
      void serially(async () => {
        for (const [partition, p] of pending) {
          if (p.messages.length > 0 || p.position >= p.next) {
            if (Date.now() - p.since >= options.lingerMs) await drain(partition, true);
          }
        }
      }).catch(fail);
    }, Math.min(options.lingerMs, 250));
    const idle = options.untilIdleMs;
    if (idle) idleTimer = setInterval(() => { if (Date.now() - lastActivity > idle) stop(`idle for ${idle} ms: stopping`); }, Math.min(idle, 500));
    await stopped;
    // Finish what was delivered before stopping cleanly (not after a failure).
    if (!fatal) await serially(async () => { for (const partition of pending.keys()) await drain(partition, true); }).catch(fail);
  } finally {
    if (lingerTimer) clearInterval(lingerTimer);
    if (idleTimer) clearInterval(idleTimer);
    process.off('SIGINT', handlers.SIGINT);
    process.off('SIGTERM', handlers.SIGTERM);
    await consumer.disconnect().catch(() => undefined);
    for (const p of producers.values()) await p.disconnect().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
  if (fatal) throw fatal;
  return summary;
}
