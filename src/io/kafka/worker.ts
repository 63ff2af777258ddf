import { createRequire } from 'node:module';
import { chunkByBytes, createKafka, ensureTopics, transactionalProducer, type Admin, type EachBatchPayload, type Kafka, type KafkaMessage, type Message, type Producer, type TopicSpec } from './client.js';
import { changelogTopic, readTopicsToEnd } from './changelog.js';
import { codecs, type CodecOptions } from '../avro/codec.js';
import type { DecodeOptions } from '../../records/decode.js';
import type { PoisonGuardOptions } from '../../records/poison-guard.js';
import type { Embedding } from '../../records/item.js';
import type { Hasher } from '../../stages/text/hash.js';
import { fanOut, type RunObserver } from '../../topology/events.js';
import { classify, DEFAULT_RETRY, FatalRunError, retry, TaskFencedError, type RetryOptions } from '../../topology/errors.js';
import { drainTask, TaskWindows, type Committer } from '../../topology/loop.js';
import type { Pipeline } from '../../topology/pipeline.js';
import { planSubtopologies, taskId, type Subtopology } from '../../topology/plan.js';
import { Summary } from '../../topology/summary.js';
import { Task, upstreamWork, WATERMARK_HEADER, type WindowOutput, type InRecord, type OutRecord, type TaskTopics } from '../../topology/task.js';
import type { StageSpec } from '../../topology/topology.js';
import { stageDefinition } from '../../topology/registry.js';

const require = createRequire(import.meta.url);
// Kafka's default partitioner (murmur2 of the key), as kafkajs computes it for keyed records.
const murmur2 = require('kafkajs/src/producer/partitioners/default/murmur2.js') as (key: string | Buffer) => number;
export const idPartition = (id: string, partitions: number) => (murmur2(id) & 0x7fffffff) % partitions;

export interface WorkerOptions {
  readonly brokers: readonly string[];
  /** Consumer group, transactional-id prefix, internal-topic prefix. */
  readonly applicationId: string;
  readonly source: { readonly topic: string; readonly format: 'avro' | 'json' | 'embedded'; readonly partitions: number };
  readonly stages: readonly StageSpec[];
  /** Builds the stages of one task (each task owns its own stores). */
  readonly buildPipeline: (stages: readonly StageSpec[]) => Promise<Pipeline>;
  readonly hasher: Hasher;
  readonly sinks: { readonly decisions: string; readonly kept: string; readonly deadLetter: string };
  readonly embeddingsTopic?: string;
  readonly decode: DecodeOptions;
  readonly codec: CodecOptions;
  readonly window: number;
  readonly lingerMs: number;
  readonly startAt?: number;
  readonly untilIdleMs?: number;
  readonly maxBatchBytes: number;
  readonly log: (message: string) => void;
  readonly verbose?: boolean;
  readonly observers?: readonly RunObserver[];
  readonly onBatch?: (summary: Summary) => void;
  readonly retry?: RetryOptions;
  /** When too many of a window's records fail (all, by default), stop before committing it (src/records/poison-guard.ts). */
  readonly poisonGuard?: PoisonGuardOptions;
}

interface Owned {
  readonly task: Task;
  windows: TaskWindows;
  producer: Producer;
  /** A transaction failed for want of a broker: the next attempt starts from a fresh producer. */
  broken?: boolean;
  /** Set up again after fencing: the consumer was sent back here; batches fetched before that are stale. */
  resumeAt?: bigint;
  readonly topic: string;
}

/** An idle source partition promises downstream "nothing below now − this" (later records sort after). */
const IDLE_LATENESS_MS = 1_000;
/** How often the broker is asked whether it answers, and how long an answer may take. */
const PROBE_EVERY_MS = 1_000;
const PROBE_TIMEOUT_MS = 5_000;

/** How long a stopping worker waits for the consumer to leave its group. */
const LEAVE_TIMEOUT_MS = 15_000;
const withTimeout = <T>(p: Promise<T>, ms: number) => Promise.race([p, new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`no answer within ${ms} ms`)), ms).unref())]);

/**
 * One worker of a topology on Kafka (Kafka Streams' StreamThread): it joins the application's
 * consumer group on the crawl topic and every internal repartition topic, and runs a task for
 * each partition the group assigns to it. A task is set up when its partition is assigned —
 * its transactional producer `<app>-<task>` is initialised (fencing any previous owner and
 * aborting its open transaction), its stores are restored from their changelog partitions, its
 * input resumes at the committed offset — and torn down when it is revoked (its uncommitted window
 * is abandoned: the next owner re-reads it). A window's outputs, changelog records and input
 * offset are one transaction of the task's producer (exactly-once in the read-committed view).
 */
export interface WorkerResult {
  /** What this worker decided (documents of the tasks it ran). */
  readonly summary: Summary;
  /** Embed stages of this worker's tasks: documents the model embedded, found in the embeddings topic, or that arrived with their vector. */
  readonly embed: { embedded: number; cache_hits: number; carried: number };
}

export async function runWorker(o: WorkerOptions): Promise<WorkerResult> {
  const { applicationId: app, log } = o;
  const kafka = createKafka(o.brokers, app);
  const admin = kafka.admin();
  await admin.connect();
  // The crawl topic's own partition count cuts the topology (the topology's number is for creating it).
  let partitions: number;
  try {
    await ensureTopics(admin, [{ topic: o.source.topic, partitions: o.source.partitions }]);
    partitions = (await admin.fetchTopicMetadata({ topics: [o.source.topic] })).topics[0]!.partitions.length;
  } catch (e) {
    await admin.disconnect().catch(() => undefined);
    throw e;
  }
  if (partitions !== o.source.partitions) log(`${o.source.topic} has ${partitions} partition(s) (the topology says ${o.source.partitions} for creating it): running ${partitions} task(s) per partitioned sub-topology`);
  const plan = planSubtopologies(app, { topic: o.source.topic, partitions }, o.stages);
  const probe = createKafka(o.brokers, `${app}-probe`).admin({ retry: { retries: 0 } });
  const c = codecs(o.codec);
  const observer = fanOut(o.observers ?? []);
  const retryOptions = o.retry ?? DEFAULT_RETRY;
  const exact = o.stages.find((s) => s.type === 'exact');
  const last = o.stages.at(-1);
  const topics: TaskTopics = {
    app, decisions: o.sinks.decisions, kept: o.sinks.kept, deadLetter: o.sinks.deadLetter,
    ...(o.embeddingsTopic && o.stages.some((s) => s.type === 'embed') ? { embeddings: o.embeddingsTopic } : {}),
    keptWithVectors: last?.type === 'embed',
    changelog: (store) => changelogTopic(app, store),
  };
  const byTopic = new Map(plan.map((s) => [s.input.topic, s]));
  const summary = new Summary();
  const embedTotals = { embedded: 0, cache_hits: 0, carried: 0 };
  const owned = new Map<string, Owned>(); // `${topic}:${partition}`
  let assignment = new Set<string>();
  let fatal: Error | undefined;
  let stopping = false;
  let stopResolve!: () => void;
  const stopped = new Promise<void>((r) => { stopResolve = r; });
  const stop = (why: string) => { if (!stopping) { stopping = true; log(why); stopResolve(); } };
  const onSignal = (sig: string) => () => stop(`${sig}: finishing the current window, then stopping`);
  const handlers = { SIGINT: onSignal('SIGINT'), SIGTERM: onSignal('SIGTERM') };
  process.once('SIGINT', handlers.SIGINT);
  process.once('SIGTERM', handlers.SIGTERM);
  const consumer = kafka.consumer({ groupId: app, readUncommitted: false, sessionTimeout: 10_000, heartbeatInterval: 2_000, maxBytesPerPartition: o.maxBatchBytes, maxBytes: Math.max(o.maxBatchBytes, 1 << 20) });

  let busy: Promise<void> = Promise.resolve();
  // Batches of documents queued or being processed: never idle meanwhile (a window may take the
  // model longer than the idle timeout). Watermark-only work does not count: idle partitions
  // send watermarks every second, forever.
  let documentWork = 0;
  const serially = (f: () => Promise<void>, documents = false) => {
    if (documents) documentWork++;
    const run = async () => { try { await f(); } finally { if (documents) documentWork--; } };
    return (busy = busy.then(run, run));
  };
  /** Documents delivered to this worker's tasks and not yet decided or forwarded. */
  const heldDocuments = () => {
    let n = 0;
    for (const own of owned.values()) n += own.windows.bufferedDocuments + own.task.held;
    return n;
  };
  const fail = (e: unknown) => {
    fatal = e instanceof FatalRunError ? e : new FatalRunError(`worker failed: ${(e as Error).stack ?? e}`);
    stop(fatal.message);
  };

  const committer: Committer = {
    async commit(task, records, end) {
      const own = [...owned.values()].find((x) => x.task === task);
      if (!own || !assignment.has(`${own.topic}:${task.partition}`)) throw new TaskFencedError(`task ${task.id} is no longer owned by this worker`);
      if (own.broken) {
        // The last attempt lost the broker mid-transaction: a fresh producer under the same
        // transactional id aborts what the old one left open, then the same outputs are sent again.
        await own.producer.disconnect().catch(() => undefined);
        own.producer = await transactionalProducer(kafka, `${app}-${task.id}`);
        await (await own.producer.transaction()).abort();
        own.broken = false;
      }
      try {
        await transact(own.producer, records, { topic: own.topic, partition: task.partition, end });
      } catch (e) {
        const err = classify(e);
        if (err.retriable) own.broken = true;
        throw err;
      }
    },
  };

  const transact = async (producer: Producer, records: readonly OutRecord[], offsets?: { topic: string; partition: number; end: bigint }) => {
    const txn = await producer.transaction();
    try {
      // Every topic of the window in one produce request per chunk (not one round trip per topic), in record order.
      for (const chunk of chunkByBytes(records)) {
        const byTopic = new Map<string, Message[]>();
        for (const r of chunk) {
          const m: Message = { key: r.key, value: r.value, ...(r.partition !== undefined ? { partition: r.partition } : {}), ...(r.headers ? { headers: r.headers } : {}) };
          (byTopic.get(r.topic) ?? byTopic.set(r.topic, []).get(r.topic)!).push(m);
        }
        await txn.sendBatch({ topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) });
      }
      if (offsets) await txn.sendOffsets({ consumerGroupId: app, topics: [{ topic: offsets.topic, partitions: [{ partition: offsets.partition, offset: offsets.end.toString() }] }] });
      await txn.commit();
    } catch (e) {
      await txn.abort().catch(() => undefined);
      throw classify(e);
    }
  };

  let lastActivity = Date.now();
  const loopOptions = { retry: retryOptions, observer, log, verbose: o.verbose ?? false };
  const onOutput = (out: WindowOutput) => {
    if (out.decisions.length + out.dead.length + out.forwarded > 0) lastActivity = Date.now();
    summary.add(out);
    o.onBatch?.(summary);
  };

  /** Sets up the tasks of newly assigned partitions (retrying what the broker says is worth it: a new topic without a leader yet, an outage). */
  const setUp = (keys: readonly string[]) => retry(() => setUpOnce(keys.filter((k) => !owned.has(k))), {
    ...retryOptions,
    onRetry: (e, attempt, delay) => log(`setting up tasks failed (${e.message}); retrying in ${delay} ms (${attempt}/${retryOptions.attempts - 1})`),
  });

  /** Producers fence the old owners, then one restore reads the tasks' changelog partitions. */
  const setUpOnce = async (keys: readonly string[]) => {
    const fenced: { key: string; topic: string; task: Task; producer: Producer }[] = [];
    const settled = await Promise.allSettled(keys.map(async (key) => {
      const topic = key.slice(0, key.lastIndexOf(':'));
      const partition = Number(key.slice(key.lastIndexOf(':') + 1));
      const sub = byTopic.get(topic)!;
      const pipeline = await o.buildPipeline(sub.stages);
      const task = new Task(sub, partition, pipeline, {
        topics, codecs: c, sourceFormat: o.source.format, decode: o.decode, hasher: o.hasher, window: o.window,
        exactCaseFold: exact?.options['caseFold'] === true, idPartition, nextOrdered: plan[sub.index + 1]?.ordered ?? false,
        ...withPrepare(upstreamWork(plan[sub.index + 1])),
        ...(o.poisonGuard ? { poisonGuard: o.poisonGuard } : {}),
      });
      const producer = await transactionalProducer(kafka, `${app}-${task.id}`);
      try {
        await (await producer.transaction()).abort(); // initialises the producer id: fences the previous owner, aborts its open transaction
      } catch (e) {
        await producer.disconnect().catch(() => undefined);
        throw e;
      }
      fenced.push({ key, topic, task, producer });
    }));
    const fresh: Owned[] = [];
    try {
      const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      // Only now, with every previous owner fenced (its last transaction committed or aborted), is
      // the committed offset final: read before, a commit landing in between would be re-done here.
      const committed = new Map<string, bigint>();
      for (const t of new Set(fenced.map((f) => f.topic))) {
        for (const r of await admin.fetchOffsets({ groupId: app, topics: [t] })) {
          for (const p of r.partitions) committed.set(`${t}:${p.partition}`, p.offset === '-1' ? -1n : BigInt(p.offset));
        }
      }
      for (const { key, topic, task, producer } of fenced) {
        let start = committed.get(key) ?? -1n;
        if (start < 0n) start = await startOffset(admin, topic, task.partition, task.sub.input.internal ? undefined : o.startAt);
        fresh.push({ task, windows: new TaskWindows(start, BigInt(o.window), task.hold), producer, topic });
      }
    } catch (e) {
      for (const f of fenced) await f.producer.disconnect().catch(() => undefined);
      throw e;
    }
    const t0 = Date.now();
    let restored: number;
    try {
      restored = await restore(kafka, admin, app, fresh.map((f) => f.task), c, o.embeddingsTopic);
    } catch (e) {
      for (const f of fresh) await f.producer.disconnect().catch(() => undefined);
      throw e;
    }
    for (const f of fresh) owned.set(`${f.topic}:${f.task.partition}`, f);
    const ids = fresh.map((f) => f.task.id).sort();
    if (ids.length > 0) log(`tasks ${ids.join(', ')}: set up${restored > 0 ? `, ${restored} changelog record(s) restored` : ''} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    for (const f of fresh) for (const s of f.task.stores) observer.storeRestored({ task: f.task.id, store: s.name, records: s.size(), seconds: (Date.now() - t0) / 1000 });
    return fresh;
  };

  const tearDown = async (key: string, why: string) => {
    const own = owned.get(key);
    if (!own) return;
    owned.delete(key);
    const counters = own.task.embedStage?.counters;
    if (counters) { embedTotals.embedded += counters.embedded; embedTotals.cache_hits += counters.cacheHits; embedTotals.carried += counters.carried; }
    await own.producer.disconnect().catch(() => undefined);
    await own.task.pipeline.close().catch(() => undefined);
    if (o.verbose) log(`task ${own.task.id}: ${why}`);
  };

  /** Runs a task's ready windows; a fenced task is torn down (and set up again if this worker still owns its partition). */
  const drain = async (key: string, flush: boolean) => {
    const own = owned.get(key);
    if (!own) return;
    try {
      await drainTask(own.task, own.windows, flush, committer, loopOptions, onOutput);
    } catch (e) {
      if (!(e instanceof TaskFencedError)) throw e;
      log(`task ${own.task.id}: fenced (another worker owns it now), its window is abandoned: ${e.message}`);
      await tearDown(key, 'torn down after fencing');
      if (assignment.has(key) && !stopping) {
        const [again] = await setUp([key]);
        if (again) {
          again.resumeAt = again.windows.next;
          consumer.seek({ topic: again.topic, partition: again.task.partition, offset: again.windows.next.toString() });
          log(`task ${again.task.id}: set up again (fenced while this worker owns its partition), resuming at offset ${again.windows.next}`);
        }
      }
    }
  };

  const timers: NodeJS.Timeout[] = [];
  let brokerDownSince: number | undefined;
  try {
    const specs: TopicSpec[] = [
      { topic: o.sinks.decisions, partitions },
      { topic: o.sinks.kept, partitions },
      { topic: o.sinks.deadLetter },
      ...(topics.embeddings ? [{ topic: topics.embeddings, partitions, compacted: true }] : []),
    ];
    for (const s of plan) {
      if (s.input.internal) specs.push({ topic: s.input.topic, partitions: s.input.partitions });
      for (const store of storesOf(s)) specs.push({ topic: changelogTopic(app, store), partitions: s.input.partitions, compacted: true });
    }
    await ensureTopics(admin, specs);
    // Internal topics made for another partition count would put documents in the wrong tasks.
    const internal = plan.filter((s) => s.input.internal).map((s) => s.input.topic);
    if (internal.length > 0) {
      for (const t of (await admin.fetchTopicMetadata({ topics: internal })).topics) {
        const want = plan.find((s) => s.input.topic === t.name)!.input.partitions;
        if (t.partitions.length !== want) throw new FatalRunError(`${t.name} has ${t.partitions.length} partition(s), this topology needs ${want}: the crawl topic's partition count changed since the application started; run under a new --app-id (or delete the application's internal topics)`);
      }
    }

    const eachBatch = async ({ batch }: EachBatchPayload) => {
      if (stopping || fatal) return;
      // Watermarks alone are not activity: idle partitions send them forever.
      const documents = batch.messages.some((m) => m.headers?.[WATERMARK_HEADER] === undefined);
      if (documents) lastActivity = Date.now();
      await serially(async () => {
        if (stopping || fatal) return;
        const key = `${batch.topic}:${batch.partition}`;
        let own = owned.get(key);
        if (!own) {
          if (!assignment.has(key)) return;
          [own] = await setUp([key]);
          if (!own) return;
        }
        if (own.resumeAt !== undefined) {
          // Batches fetched before the seek start far past it; transaction markers may shift the first one by a few offsets.
          if (BigInt(batch.firstOffset() ?? batch.lastOffset()) > own.resumeAt + 8n) return;
          delete own.resumeAt;
        }
        own.windows.add(batch.messages.map(inRecord), BigInt(batch.lastOffset()));
        observer.lag({ topic: batch.topic, partition: batch.partition, lag: Number(batch.offsetLag()) });
        await drain(key, false);
      }, documents).catch(fail);
    };

    await consumer.connect();
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart) { fatal = payload.error; stop(`consumer crashed: ${payload.error.message}`); }
    });
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      const next = new Set<string>();
      for (const [topic, partitions] of Object.entries(payload.memberAssignment)) for (const p of partitions) next.add(`${topic}:${p}`);
      assignment = next;
      // A worker that is stopping takes no new tasks (kafkajs may rejoin while it leaves the group).
      if (stopping || fatal) return;
      void serially(async () => {
        if (stopping || fatal) return;
        const revoked = [...owned.keys()].filter((k) => !next.has(k));
        for (const k of revoked) await tearDown(k, 'revoked');
        // kafkajs re-fetches kept partitions from their committed offsets: drop their buffered records.
        for (const own of owned.values()) own.windows = new TaskWindows(own.windows.next, BigInt(o.window), own.task.hold);
        const added = [...next].filter((k) => !owned.has(k));
        const named = (ks: string[]) => ks.map((k) => taskId(byTopic.get(k.slice(0, k.lastIndexOf(':')))!.index, Number(k.slice(k.lastIndexOf(':') + 1)))).sort().join(', ') || 'none';
        log(`rebalance: this worker runs tasks ${named([...next])} (new: ${named(added)}, revoked: ${named(revoked)})`);
        observer.tasksAssigned({ assigned: [...next], revoked, resumed: [...owned.keys()] });
        if (added.length > 0) await setUp(added);
        observer.ready();
      }).catch(fail);
    });
    await consumer.subscribe({ topics: plan.map((s) => s.input.topic), fromBeginning: true });
    await consumer.run({ autoCommit: false, eachBatchAutoResolve: true, partitionsConsumedConcurrently: 1, eachBatch });
    log(`consuming ${plan.map((s) => `${s.input.topic} (${s.input.partitions})`).join(', ')} as group ${app} in windows of ${o.window} offsets`);

    timers.push(setInterval(() => {
      if (stopping || fatal) return;
      void serially(async () => {
        for (const [key, own] of owned) {
          if ((own.windows.buffered > 0 || own.windows.position >= own.windows.next) && Date.now() - own.windows.since >= o.lingerMs) await drain(key, true);
        }
      }).catch(fail);
    }, Math.min(o.lingerMs, 250)));

    // Idle source partitions send watermarks so that the ordered tasks release what others sent;
    // the same probe tells whether the broker answers (an outage is not idleness).
    let probing = false;
    let idleQueued = false;
    timers.push(setInterval(() => {
      if (stopping || fatal || probing) return;
      probing = true;
      void withTimeout(probe.fetchTopicOffsets(o.source.topic), PROBE_TIMEOUT_MS).then((offsets) => {
        if (brokerDownSince !== undefined) {
          const seconds = (Date.now() - brokerDownSince) / 1000;
          log(`the broker answers again after ${seconds.toFixed(1)} s`);
          observer.brokerOutage({ state: 'up', seconds });
          brokerDownSince = undefined;
          lastActivity = Date.now();
        }
        const high = new Map(offsets.map((p) => [p.partition, BigInt(p.high)]));
        // Queued, not awaited: a window stuck in a transaction must not stop the probe from noticing an outage.
        if (!idleQueued) idleQueued = true; else return;
        void serially(async () => {
          idleQueued = false;
          for (const own of owned.values()) {
            if (own.task.sub.index !== 0 || own.windows.buffered > 0 || own.windows.next < (high.get(own.task.partition) ?? 0n)) continue;
            const records = own.task.idleWatermark(Date.now(), IDLE_LATENESS_MS, Math.max(o.lingerMs, 1_000));
            if (!records) continue;
            try {
              await transact(own.producer, records);
            } catch (e) {
              if (!(classify(e) instanceof TaskFencedError)) log(`task ${own.task.id}: idle watermark not sent (${(e as Error).message})`);
            }
          }
        }).catch(fail);
      }, (e: Error) => {
        if (brokerDownSince === undefined) {
          brokerDownSince = Date.now();
          log(`the broker does not answer (${e.message}); waiting for it (an outage never counts as idle)`);
          observer.brokerOutage({ state: 'down', seconds: 0 });
        }
      }).catch(fail).finally(() => { probing = false; });
    }, PROBE_EVERY_MS));

    const idle = o.untilIdleMs;
    let lastHeldLog = 0;
    let heldSince: number | undefined;
    if (idle) {
      timers.push(setInterval(() => {
        const held = heldDocuments();
        if (brokerDownSince !== undefined || documentWork > 0 || held > 0) {
          // Say why it does not stop when nothing moves for a while (documents waiting for an upstream task's watermark).
          if (held > 0 && documentWork === 0) heldSince ??= Date.now(); else heldSince = undefined;
          if (heldSince !== undefined && Date.now() - heldSince > idle && Date.now() - lastHeldLog > idle) {
            lastHeldLog = Date.now();
            log(`--until-idle: not idle, ${held} document(s) held: ${[...owned.values()].filter((w) => w.windows.bufferedDocuments + w.task.held > 0).map((w) => `task ${w.task.id} ${w.task.describeHeld()}${w.windows.bufferedDocuments ? `, ${w.windows.bufferedDocuments} in its open window` : ''}`).join('; ')}`);
          }
          lastActivity = Date.now();
          return;
        }
        heldSince = undefined;
        if (Date.now() - lastActivity > idle) stop(`idle for ${idle} ms: stopping`);
      }, Math.min(idle, 500)));
    }
    await stopped;
    if (!fatal) await serially(async () => { for (const key of owned.keys()) await drain(key, true); }).catch(fail);
  } finally {
    for (const t of timers) clearInterval(t);
    process.off('SIGINT', handlers.SIGINT);
    process.off('SIGTERM', handlers.SIGTERM);
    await busy.catch(() => undefined);
    // kafkajs' disconnect can wait forever when a rebalance is under way (tulios/kafkajs#1462): bounded.
    await withTimeout(consumer.disconnect(), LEAVE_TIMEOUT_MS).catch((e: Error) => log(`the consumer did not leave the group cleanly (${e.message}); its partitions move on after the session timeout`));
    await busy.catch(() => undefined);
    for (const key of [...owned.keys()]) await tearDown(key, 'stopped');
    await probe.disconnect().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
  if (fatal) throw fatal;
  return { summary, embed: embedTotals };
}

const inRecord = (m: KafkaMessage): InRecord => {
  const headers: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(m.headers ?? {})) headers[k] = v === undefined ? undefined : Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
  return { offset: BigInt(m.offset), key: m.key ?? null, value: m.value ?? null, timestamp: Number(m.timestamp), headers };
};

/** The stores a sub-topology's tasks own (stage stores, the source clock, the reorder buffer). */
function storesOf(s: Subtopology): string[] {
  const names: string[] = [];
  for (const st of s.stages) names.push(...stageStores(st));
  if (s.index === 0) names.push('source-clock');
  if (s.ordered) names.push(`${s.name}-reorder`);
  return names;
}

const withPrepare = (f: ReturnType<typeof upstreamWork>) => (f ? { prepareNext: f } : {});
const stageStores = (s: StageSpec) => stageDefinition(s.type).stores(s.id);

/** Where a partition with no committed offset starts: its beginning, or the first offset at or after `startAt`. */
async function startOffset(admin: Admin, topic: string, partition: number, startAt: number | undefined): Promise<bigint> {
  if (startAt !== undefined) {
    const found = (await admin.fetchTopicOffsetsByTimestamp(topic, startAt)).find((p) => p.partition === partition);
    if (found) return BigInt(found.offset);
  }
  const low = (await admin.fetchTopicOffsets(topic)).find((p) => p.partition === partition);
  return BigInt(low?.low ?? '0');
}

/**
 * Rebuilds the tasks' stores from their changelog partitions (and an embed task's vectors from its
 * partition of the embeddings topic), reading each only up to the end offsets found now, in
 * read-committed mode (the producers were initialised first, so no open transaction holds the
 * last stable offset back). Partitions of other tasks are paused, never read.
 */
async function restore(kafka: Kafka, admin: Admin, app: string, tasks: readonly Task[], c: ReturnType<typeof codecs>, embeddingsTopic: string | undefined): Promise<number> {
  const targets = new Map<string, (m: KafkaMessage) => void>();
  const vectors = new Map<Task, Embedding[]>();
  for (const task of tasks) {
    for (const s of task.stores) targets.set(`${changelogTopic(app, s.name)}:${task.partition}`, (m) => s.applyChange({ key: m.key?.toString('utf8') ?? '', value: m.value }));
    if (task.embedStage && embeddingsTopic) {
      const list: Embedding[] = [];
      vectors.set(task, list);
      targets.set(`${embeddingsTopic}:${task.partition}`, (m) => {
        if (!m.value) return;
        const r = c.embedding.decode(m.value);
        if ('value' in r) list.push(r.value);
      });
    }
  }
  const topicsToRead = new Set([...targets.keys()].map((k) => k.slice(0, k.lastIndexOf(':'))));
  const read = await readTopicsToEnd(kafka, admin, [...topicsToRead], `${app}-restore`, (topic, partition, m) => targets.get(`${topic}:${partition}`)?.(m), new Set(targets.keys()));
  for (const [task, list] of vectors) if (list.length > 0) task.embedStage!.store.load(list);
  return read;
}
