import type { DeadLetter, Decision } from '../records/item.js';
import type { BuiltEmbedStage } from '../stages/embed/embed.js';
import type { Pipeline, StageSeconds } from './pipeline.js';

/**
 * What the run loop tells observers (metrics, dashboards, logs) as it runs: named events, as
 * kafkajs' instrumentation events. Every method is optional and must not throw or block: the
 * loop calls them synchronously between windows. One observer interface serves file mode
 * (`d4 curate`), Kafka (`d4 run`, `d4 replay`) and the in-memory driver.
 */
export interface RunObserver {
  /** A task committed one window: its outputs are durable (a Kafka transaction, or the files). */
  windowCommitted?(e: WindowCommitted): void;
  /** A transactional write failed and is retried (or, when `fatal`, was not). */
  transactionFailed?(e: TransactionFailed): void;
  /** The group gave this worker a new set of tasks (every rebalance, and the first assignment). */
  tasksAssigned?(e: TasksAssigned): void;
  /** A task's store was rebuilt from its changelog (or snapshot) before the task started. */
  storeRestored?(e: StoreRestored): void;
  /** Restored and consuming: /readyz turns ready. */
  ready?(): void;
  /** Records not yet consumed per input partition this worker owns (log end − position). */
  lag?(e: PartitionLag): void;
  /** Periodic sizes of every store of every task this worker runs. */
  storeSizes?(e: readonly StoreSize[]): void;
  /** What a stage reports after a window (semantic / prototype reports, embed counters). */
  stageReport?(e: StageReport): void;
  /** The broker stopped answering, or answered again after `seconds` of outage. */
  brokerOutage?(e: { readonly state: 'down' | 'up'; readonly seconds: number }): void;
}

export interface WindowCommitted {
  /** `<subtopology>_<partition>`, as Kafka Streams names tasks. */
  readonly task: string;
  readonly subtopology: string;
  readonly partition: number;
  /** Input records the window consumed (documents, markers and watermarks alike). */
  readonly records: number;
  /** Decisions this window committed (only the ones made in this task). */
  readonly decisions: readonly Decision[];
  /** For each decision, the timestamp (epoch ms) of the crawl record it decides: decision latency = committedAt − this. */
  readonly recordTimestamps: readonly number[];
  readonly kept: number;
  readonly dead: readonly DeadLetter[];
  /** Per stage of this task: live documents in and out (what each stage let through). */
  readonly stages: readonly { readonly stage: string; readonly in: number; readonly out: number; readonly seconds: number }[];
  /** Time spent running the stages on the window. */
  readonly processSeconds: number;
  /** Time the commit took (Kafka transaction, or file writes). */
  readonly commitSeconds: number;
  readonly committedAt: number;
}

export interface TransactionFailed {
  readonly task: string;
  readonly attempt: number;
  readonly error: string;
  readonly retriable: boolean;
  /** The worker gives up on the task (fenced: another worker owns it now) or stops (fatal). */
  readonly outcome: 'retry' | 'abandoned' | 'fatal';
}

export interface TasksAssigned {
  readonly assigned: readonly string[];
  readonly revoked: readonly string[];
  /** Tasks kept across the rebalance without a restore (their committed offsets were this worker's own). */
  readonly resumed: readonly string[];
}

export interface StoreRestored {
  readonly task: string;
  readonly store: string;
  readonly records: number;
  readonly seconds: number;
}

export interface PartitionLag {
  readonly topic: string;
  readonly partition: number;
  readonly lag: number;
}

export interface StoreSize {
  readonly task: string;
  readonly store: string;
  readonly entries: number;
  readonly bytes: number;
}

export interface StageReport {
  readonly task: string;
  readonly stage: string;
  /** The stage type's own report (SemanticReport, PrototypeReport, embed counters as JSON). */
  readonly report: Readonly<Record<string, unknown>>;
}

/** Calls every observer's handler; an observer that throws is reported once on stderr and otherwise ignored. */
export function fanOut(observers: readonly RunObserver[]): Required<RunObserver> {
  const failed = new Set<RunObserver>();
  const call = <K extends keyof RunObserver>(k: K) => (e: never) => {
    for (const o of observers) {
      const f = o[k] as ((e: never) => void) | undefined;
      if (!f) continue;
      try {
        f.call(o, e);
      } catch (err) {
        if (!failed.has(o)) {
          failed.add(o);
          console.error(`[d4] an observer's ${String(k)} handler threw (ignored from now on): ${(err as Error).message}`);
        }
      }
    }
  };
  return {
    windowCommitted: call('windowCommitted'), transactionFailed: call('transactionFailed'), tasksAssigned: call('tasksAssigned'),
    storeRestored: call('storeRestored'), ready: call('ready') as () => void, lag: call('lag'), storeSizes: call('storeSizes'),
    stageReport: call('stageReport'), brokerOutage: call('brokerOutage'),
  };
}

/**
 * Live documents in and out of each stage of a window, from what the stages decided: a stage
 * stops a document by dropping or dead-lettering it. Documents that entered the first stage:
 * every decision, the dead letters a stage (not the decoder) made, and those forwarded to the
 * next sub-topology.
 */
export function stageFlow(stageIds: readonly string[], decisions: readonly Decision[], dead: readonly DeadLetter[], forwarded = 0, seconds: readonly StageSeconds[] = []): WindowCommitted['stages'][number][] {
  const stopped = new Map<string, number>(stageIds.map((id) => [id, 0]));
  for (const d of decisions) if (!d.keep && stopped.has(d.stage)) stopped.set(d.stage, stopped.get(d.stage)! + 1);
  for (const d of dead) if (stopped.has(d.stage)) stopped.set(d.stage, stopped.get(d.stage)! + 1);
  let live = forwarded + decisions.length + dead.filter((d) => stopped.has(d.stage)).length;
  return stageIds.map((stage) => {
    const out = live - stopped.get(stage)!;
    const s = { stage, in: live, out, seconds: seconds.find((t) => t.stage === stage)?.seconds ?? 0 };
    live = out;
    return s;
  });
}

/**
 * The embed stages' cumulative counters, and their model's (inference batches, padded token
 * slots), as stage reports; the selection stages report through their own `report` dependency.
 */
export function embedReports(pipeline: Pipeline, task: string): StageReport[] {
  return pipeline.stages
    .filter((s): s is BuiltEmbedStage => s.type === 'embed')
    .map((s) => ({ task, stage: s.id, report: { kind: 'embed', ...s.counters.toJSON(), model: { ...s.embedder.stats() } } }));
}
