// Builders of the run loop's observer events from what a loop has at hand after a window, so a
// loop's emission is one line per event (file mode, the Kafka runner, and the lead's new loop).
import type { Item } from '../records/item.js';
import type { Outcomes, Pipeline } from '../topology/pipeline.js';
import type { StageReport, StoreSize, WindowCommitted } from '../topology/events.js';

export interface WindowFacts {
  readonly pipeline: Pipeline;
  readonly subtopology?: string;
  readonly partition: number;
  /** The pipeline's output items of the window, in input order (one per input record). */
  readonly items: readonly Item[];
  /** Per input record of the window (same order as `items`): its timestamp, epoch ms. */
  readonly timestamps: readonly number[];
  readonly outcomes: Outcomes;
  /** Input records (offsets) the window consumed, markers included. */
  readonly records: number;
  readonly processSeconds: number;
  readonly commitSeconds: number;
  readonly committedAt?: number;
}

/** The WindowCommitted event of a window: per-stage in/out from the decisions, latency timestamps per decision. */
export function windowCommitted(f: WindowFacts): WindowCommitted {
  const subtopology = f.subtopology ?? '0';
  const ids = f.pipeline.stages.map((s) => s.id);
  const stopped = new Map<string, number>(ids.map((id) => [id, 0]));
  for (const d of f.outcomes.decisions) if (!d.keep && stopped.has(d.stage)) stopped.set(d.stage, stopped.get(d.stage)! + 1);
  for (const d of f.outcomes.dead) if (stopped.has(d.stage)) stopped.set(d.stage, stopped.get(d.stage)! + 1);
  // Documents that entered the first stage: every decision, and the dead letters a stage (not the decoder) made.
  let live = f.outcomes.decisions.length + f.outcomes.dead.filter((d) => stopped.has(d.stage)).length;
  const stages = ids.map((stage) => {
    const out = live - stopped.get(stage)!;
    const s = { stage, in: live, out, seconds: 0 };
    live = out;
    return s;
  });
  const recordTimestamps: number[] = [];
  f.items.forEach((item, i) => { if (item.kind === 'doc') recordTimestamps.push(f.timestamps[i] ?? NaN); });
  return {
    task: `${subtopology}_${f.partition}`, subtopology, partition: f.partition, records: f.records,
    decisions: f.outcomes.decisions, recordTimestamps, kept: f.outcomes.kept.length, dead: f.outcomes.dead,
    stages, processSeconds: f.processSeconds, commitSeconds: f.commitSeconds, committedAt: f.committedAt ?? Date.now(),
  };
}

/** Sizes of the pipeline's stores. */
export function storeSizes(pipeline: Pipeline, task: string): StoreSize[] {
  return pipeline.stores.map((s) => ({ task, store: s.name, entries: s.size(), bytes: s.bytes() }));
}

/** The embed stages' cumulative counters as stage reports (the selection stages report through their own `report` dependency). */
export function embedReports(pipeline: Pipeline, task: string): StageReport[] {
  return pipeline.stages
    .filter((s) => s.type === 'embed')
    .map((s) => ({ task, stage: s.id, report: { kind: 'embed', ...(s as unknown as { counters: { toJSON(): Record<string, unknown> } }).counters.toJSON() } }));
}

/** Seconds since `start` (a process.hrtime.bigint()). */
export const secondsSince = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e9;
