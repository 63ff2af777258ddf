import type { Codecs } from '../io/avro/codec.js';
import { itemFromRecordValue, itemFromValue, type DecodeOptions } from '../records/decode.js';
import { judgeItems, type PoisonGuardOptions } from '../records/poison-guard.js';
import { FatalRunError } from './errors.js';
import { fromEnvelope, toDroppedEnvelope, toEnvelope, type Travelling } from '../records/envelope.js';
import { deadLetter, keepDecision, origin, type CrawledDocument, type Decision, type DeadLetter, type DocItem, type Item } from '../records/item.js';
import type { BuiltEmbedStage } from '../stages/embed/embed.js';
import type { Hasher } from '../stages/text/hash.js';
import { normalizeText } from '../stages/text/normalize.js';
import type { StateStore } from '../state/store.js';
import type { Pipeline, StageSeconds } from './pipeline.js';
import { taskId, type Subtopology } from './plan.js';
import { stageDefinition } from './registry.js';
import { resolveStageOptions } from './topology.js';
import { IDLE_OFFSET, OrderClock, ReorderBuffer, compareKeys, type OrderKey } from './reorder.js';

/** One input record of a task, as any driver (Kafka, in-memory, file) hands it over. */
export interface InRecord {
  readonly offset: bigint;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  /** Epoch ms (the crawl record's timestamp on the source topic). */
  readonly timestamp: number;
  readonly headers?: Readonly<Record<string, string | undefined>>;
}

/** One record a window writes; `partition` unset: the driver's default partitioner by key. */
export interface OutRecord {
  readonly topic: string;
  readonly partition?: number;
  readonly key: string | null;
  readonly value: Buffer | null;
  readonly headers?: Readonly<Record<string, string>>;
}

/** What one window of a task produced: everything is committed together, with the input offset. */
export interface WindowOutput {
  readonly records: OutRecord[];
  readonly decisions: Decision[];
  readonly kept: number;
  readonly dead: DeadLetter[];
  /** For each decision, the crawl record's timestamp. */
  readonly recordTimestamps: number[];
  /** Live documents sent on to the next sub-topology. */
  readonly forwarded: number;
  readonly processSeconds: number;
  /** Wall time of each stage of this task on the window. */
  readonly stageSeconds: readonly StageSeconds[];
}

export const WATERMARK_HEADER = 'd4-kind';

export interface TaskTopics {
  readonly app: string;
  readonly decisions: string;
  readonly kept: string;
  readonly deadLetter: string;
  readonly embeddings?: string;
  /** Write kept documents as embedded-document records (the topology ends with its embed stage). */
  readonly keptWithVectors: boolean;
  readonly changelog: (store: string) => string;
}

export interface TaskContext {
  readonly topics: TaskTopics;
  readonly codecs: Codecs;
  readonly sourceFormat: 'avro' | 'json' | 'embedded';
  /**
   * How source records become items when they are not records of a crawl topic (file mode: a
   * line of a file, dead-lettered with its file:line origin; see io/files/source.ts). When set,
   * it replaces sourceFormat's decoding.
   */
  readonly decodeSource?: (record: InRecord, seq: number) => Item;
  readonly decode: DecodeOptions;
  readonly hasher: Hasher;
  /** caseFold of the exact stage: the text-hash repartition key must be the exact stage's own key. */
  readonly exactCaseFold: boolean;
  /** The partition of a document id in a topic of n partitions (Kafka's default partitioner). */
  readonly idPartition: (id: string, partitions: number) => number;
  /** The sub-topology after this one is ordered: send watermarks to every partition of it. */
  readonly nextOrdered: boolean;
  /** The window size: batch-sensitive stages (StageDefinition.windowed) get documents in chunks of it. */
  readonly window: number;
  /** When too many of a source window's records fail to decode, stop before committing it. */
  readonly poisonGuard?: PoisonGuardOptions;
  /** What the next sub-topology's first stage lets this task do per forwarded document (see StageDefinition.upstream). */
  readonly prepareNext?: (item: DocItem) => DocItem;
}

/** The next sub-topology's first stage's upstream work, if it declares any. */
export function upstreamWork(next: Subtopology | undefined): ((item: DocItem) => DocItem) | undefined {
  const first = next?.stages[0];
  if (!first) return undefined;
  return stageDefinition(first.type).upstream?.(resolveStageOptions(first, `stage ${first.id}`));
}

/**
 * The documents the next window of these stages must hold (0: an ordinary window): the most any
 * stage asks (BuiltStage.warmupHold: the prototype stage's warmupHold while it has decided
 * nothing), so that the selection stages fit and decide the stream's first documents together
 * (a bounded decision delay at the start), in windows of `window` after.
 */
export function warmupHold(stages: Pipeline['stages']): number {
  return stages.reduce((h, s) => Math.max(h, s.warmupHold?.() ?? 0), 0);
}

/**
 * A task: one partition of one sub-topology, with its own stores. It turns a window of input
 * records into the records to commit (decisions, kept documents, dead letters, documents for
 * the next sub-topology, watermarks, embeddings, changelog records); the driver commits them
 * with the window's end offset, atomically. A task never talks to a broker or a file: what it
 * writes is encoded by `ctx.codecs` (Avro for Kafka, JSON lines for files).
 */
export class Task {
  readonly id: string;
  readonly stores: StateStore[];
  private readonly clock?: OrderClock;
  private readonly reorder?: ReorderBuffer;
  private readonly embed?: BuiltEmbedStage;
  private idleSentAt = -Infinity;
  /** Batch-sensitive stages get the crawl order in chunks of this many documents. */
  private readonly chunk?: number;

  constructor(readonly sub: Subtopology, readonly partition: number, readonly pipeline: Pipeline, private readonly ctx: TaskContext) {
    this.id = taskId(sub.index, partition);
    if (sub.index === 0) this.clock = new OrderClock('source-clock');
    if (sub.ordered) this.reorder = new ReorderBuffer(`${sub.name}-reorder`, sub.upstreamTasks);
    this.embed = pipeline.stages.find((s): s is BuiltEmbedStage => s.type === 'embed');
    if (sub.stages.some((s) => stageDefinition(s.type).windowed)) this.chunk = ctx.window;
    this.stores = [...pipeline.stores, ...(this.clock ? [this.clock] : []), ...(this.reorder ? [this.reorder] : [])];
  }

  /**
   * The offsets the drivers' TaskWindows must give the next window beyond the window size (see
   * warmupHold), asked before each window. An ordered sub-topology holds in its reorder buffer
   * instead (its release is then a whole multiple of the hold, rounded to the window), and its
   * input windows stay `window` offsets.
   */
  readonly hold = (): number => (this.chunk && !this.reorder ? warmupHold(this.pipeline.stages) : 0);

  /** Documents this task holds back until every upstream task's watermark passes them. */
  get held(): number {
    return this.reorder?.size() ?? 0;
  }

  /** What the reorder buffer holds and which upstream watermarks it waits for (for logs). */
  describeHeld(): string {
    return this.reorder ? this.reorder.describe() : 'holds nothing';
  }

  /** The stage that holds the embeddings to mirror at set-up, when this task embeds. */
  get embedStage(): BuiltEmbedStage | undefined {
    return this.embed;
  }

  async process(records: readonly InRecord[]): Promise<WindowOutput> {
    const t0 = process.hrtime.bigint();
    // With a schema registry: the writer schemas the window's records name, fetched before decoding.
    if (this.sub.index === 0 && !this.ctx.decodeSource) await (this.ctx.sourceFormat === 'avro' ? this.ctx.codecs.document.prepare(records.map((m) => m.value)) : undefined);
    const travelling = this.sub.index === 0 ? this.fromSource(records) : this.fromUpstream(records);
    if (this.sub.index === 0) {
      // Poison-topic guard: stop before the stores change and before anything is committed.
      const first = records[0]?.offset;
      const poison = judgeItems(travelling.map((t) => t.item), `${this.sub.input.topic}[${this.partition}] offsets ${first ?? '-'}-${records.at(-1)?.offset ?? '-'}`, this.ctx.poisonGuard);
      if (poison) throw new FatalRunError(`${poison}. Nothing of this window was committed: fix the option and run again under the same application id`);
    }
    // Batch-sensitive stages decide chunk by chunk: a release of several chunks (watermarks that came late) is not one bigger batch.
    const items: Item[] = [];
    const perBatch: StageSeconds[][] = [];
    for (const batch of this.batches(travelling)) {
      const r = await this.pipeline.processTimed(batch.map((t) => t.item));
      items.push(...r.items);
      perBatch.push(r.stageSeconds);
    }
    const stageSeconds = perBatch.length === 1 ? perBatch[0]! : sumStageSeconds(perBatch);
    const out = this.route(travelling, items);
    if (this.ctx.nextOrdered && this.sub.next) {
      const wm = this.watermarkAfter(records);
      if (wm) out.records.push(...this.watermarkRecords(wm));
    }
    this.changelogs(out.records);
    return { ...out, processSeconds: Number(process.hrtime.bigint() - t0) / 1e9, stageSeconds };
  }

  /**
   * An idle source task's watermark: "nothing of mine will sort below `now − lateness`", so the
   * ordered tasks downstream can release what the other partitions sent. Sent by the driver when
   * this task's partition has been read to its end for a while; at most once per `everyMs`.
   */
  idleWatermark(now: number, latenessMs: number, everyMs: number): OutRecord[] | undefined {
    if (!this.clock || !this.ctx.nextOrdered || now - this.idleSentAt < everyMs) return undefined;
    const ts = Math.max(now - latenessMs, this.clock.now);
    if (ts === -Infinity) return undefined;
    this.idleSentAt = now;
    this.clock.advancePast(ts);
    const records = this.watermarkRecords([ts, this.partition, IDLE_OFFSET]);
    this.changelogs(records);
    return records;
  }

  private fromSource(records: readonly InRecord[]): Travelling[] {
    const { codecs: c, decode } = this.ctx;
    const out: Travelling[] = [];
    records.forEach((m, seq) => {
      const o = origin({ topic: this.sub.input.topic, partition: this.partition, offset: m.offset.toString() });
      const ts = this.clock!.stamp(m.timestamp);
      const key: OrderKey = [ts, this.partition, Number(m.offset)];
      const raw = m.value ?? Buffer.alloc(0);
      let item: Item;
      if (this.ctx.decodeSource) item = this.ctx.decodeSource(m, seq);
      else if (this.ctx.sourceFormat !== 'embedded') item = itemFromRecordValue(m.value, m.key?.toString('utf8') ?? null, seq, o, this.ctx.sourceFormat, c.document.decode, decode);
      else {
        const r = c.embeddedDocument.decode(raw);
        if ('error' in r) item = { kind: 'dead', seq, origin: o, dead: deadLetter(o, 'decode', 'malformed-avro', `not an embedded-document record: ${r.error}`, raw, m.key?.toString('utf8') ?? null) };
        else {
          const t = fromEnvelope(r.value, seq);
          item = itemFromValue(t.item.doc, raw, seq, o, decode);
          if (item.kind === 'doc' && t.item.vector) item = { ...item, vector: t.item.vector };
        }
      }
      out.push({ item: item as DocItem, key, recordTs: m.timestamp });
    });
    return out;
  }

  private fromUpstream(records: readonly InRecord[]): Travelling[] {
    const c = this.ctx.codecs;
    const decodeEnvelope = (value: Buffer, seq: number): Travelling => {
      const r = c.embeddedDocument.decode(value);
      if ('error' in r) throw new Error(`task ${this.id}: an internal record of ${this.sub.input.topic} does not decode (${r.error}); was the topic written by another version of d4?`);
      return fromEnvelope(r.value, seq);
    };
    const direct: Travelling[] = [];
    for (const m of records) {
      if (m.headers?.[WATERMARK_HEADER] === 'watermark') {
        const w = JSON.parse(m.value!.toString('utf8')) as { from: number; key: OrderKey };
        this.reorder?.watermark(w.from, w.key);
        continue;
      }
      if (!m.value) continue;
      if (this.reorder) {
        const r = c.embeddedDocument.decode(m.value);
        if ('error' in r) throw new Error(`task ${this.id}: an internal record of ${this.sub.input.topic} does not decode (${r.error})`);
        this.reorder.add([r.value.order_ts, r.value.order_partition, r.value.order_offset], m.value);
      } else direct.push(decodeEnvelope(m.value, direct.length));
    }
    if (!this.reorder) return direct;
    return this.reorder.release(this.firstChunk()).map((b, seq) => decodeEnvelope(b.value, seq));
  }

  /** The release unit of an ordered task's windowed stages: the window, or while a stage holds (its warm-up) the hold rounded up to windows, whose documents leave together. */
  private firstChunk(): number | undefined {
    const hold = this.chunk ? warmupHold(this.pipeline.stages) : 0;
    return this.chunk && hold > this.chunk ? Math.ceil(hold / this.chunk) * this.chunk : this.chunk;
  }

  /**
   * The pipeline batches of a window: all of it, except in an ordered task with windowed stages,
   * whose release (a multiple of the chunk, or what an idle watermark let go) is cut into chunks
   * counted from its start — the first one the warm-up hold — so that the stages see the same
   * batches however late the watermarks came (a restart, another number of workers).
   */
  private batches(travelling: Travelling[]): Travelling[][] {
    if (!this.reorder || !this.chunk || travelling.length <= this.chunk) return [travelling];
    const out: Travelling[][] = [];
    let size = this.firstChunk()!;
    for (let i = 0; i < travelling.length; i += size, size = this.chunk) out.push(travelling.slice(i, i + size));
    return out;
  }

  private lastWatermark?: OrderKey;

  private watermarkAfter(records: readonly InRecord[]): OrderKey | undefined {
    let wm: OrderKey | undefined;
    if (this.clock) {
      const last = records.at(-1);
      if (last) wm = [this.clock.now, this.partition, Number(last.offset)];
    } else if (this.reorder) {
      const t = this.reorder.releasedUpTo;
      if (t[0] !== -Infinity) wm = t;
    }
    if (!wm || (this.lastWatermark && compareKeys(wm, this.lastWatermark) <= 0)) return undefined;
    this.lastWatermark = wm;
    return wm;
  }

  private watermarkRecords(key: OrderKey): OutRecord[] {
    const next = this.sub.next!;
    const value = Buffer.from(JSON.stringify({ from: this.partition, key }));
    return Array.from({ length: next.partitions }, (_, q) => ({ topic: next.topic, partition: q, key: null, value, headers: { [WATERMARK_HEADER]: 'watermark' } }));
  }

  private route(travelling: readonly Travelling[], items: readonly Item[]): Omit<WindowOutput, 'processSeconds' | 'stageSeconds'> {
    const { topics, codecs: c } = this.ctx;
    const records: OutRecord[] = [];
    const decisions: Decision[] = [];
    const dead: DeadLetter[] = [];
    const recordTimestamps: number[] = [];
    let kept = 0;
    let forwarded = 0;
    const next = this.sub.next;
    items.forEach((item, i) => {
      const t = travelling[i]!;
      if (item.kind === 'dead') {
        dead.push(item.dead);
        records.push({ topic: topics.deadLetter, key: item.dead.id ?? `${item.dead.origin.topic}:${item.dead.origin.partition}:${item.dead.origin.offset}`, value: c.deadLetter.encode(item.dead) });
      } else if (item.drop) {
        if (!t.decidedUpstream) {
          decisions.push(item.drop);
          recordTimestamps.push(t.recordTs);
          records.push({ topic: topics.decisions, key: item.doc.id, value: c.decision.encode(item.drop) });
        }
        // Every document reaches the last sub-topology, as in a one-task run: later stages count the dropped ones too.
        if (next) records.push({ topic: next.topic, partition: this.route_(item.doc, next), key: item.doc.id, value: c.embeddedDocument.encode(toDroppedEnvelope({ ...t, item: item as DocItem & { drop: Decision } })) });
      } else if (next) {
        forwarded++;
        const fwd = this.ctx.prepareNext ? this.ctx.prepareNext(item) : item;
        const value = c.embeddedDocument.encode(toEnvelope({ item: fwd, key: t.key, recordTs: t.recordTs }));
        records.push({ topic: next.topic, partition: this.route_(item.doc, next), key: item.doc.id, value });
      } else {
        const d = keepDecision(item, this.pipeline.paramsHash, item.evidence ?? {});
        decisions.push(d);
        recordTimestamps.push(t.recordTs);
        kept++;
        records.push({ topic: topics.decisions, key: item.doc.id, value: c.decision.encode(d) });
        records.push({
          topic: topics.kept, key: item.doc.id,
          value: topics.keptWithVectors && item.vector ? c.embeddedDocument.encode(toEnvelope({ item, key: t.key, recordTs: t.recordTs })) : c.document.encode(item.doc),
        });
      }
    });
    if (this.embed && topics.embeddings) {
      for (const e of this.embed.store.drainNew()) {
        records.push({ topic: topics.embeddings, partition: this.ctx.idPartition(e.id, this.sub.input.partitions), key: e.id, value: c.embedding.encode(e) });
      }
    }
    return { records, decisions, kept, dead, recordTimestamps, forwarded };
  }

  private route_(doc: CrawledDocument, next: NonNullable<Subtopology['next']>): number {
    if (next.key === 'single') return 0;
    if (next.key === 'id') return this.ctx.idPartition(doc.id, next.partitions);
    const h = this.ctx.hasher.h64(normalizeText(doc.text, { caseFold: this.ctx.exactCaseFold }));
    return Number(BigInt(`0x${h}`) % BigInt(next.partitions));
  }

  private changelogs(records: OutRecord[]): void {
    for (const s of this.stores) {
      for (const ch of s.drainChanges()) records.push({ topic: this.ctx.topics.changelog(s.name), partition: this.partition, key: ch.key, value: ch.value });
    }
  }
}

/** Each stage's seconds over several batches of one window. */
function sumStageSeconds(batches: readonly (readonly StageSeconds[])[]): StageSeconds[] {
  return batches[0]?.map((s, i) => ({ ...s, seconds: batches.reduce((sum, b) => sum + b[i]!.seconds, 0) })) ?? [];
}
