// Builders of the run loop's observer events from what a loop has at hand after a window, so a
// loop's emission is one line per event (topology/loop.ts, which every driver runs).
import type { DeadLetter, Decision, Item } from '../records/item.js';
import type { Outcomes, Pipeline } from '../topology/pipeline.js';
import type { StageReport, WindowCommitted } from '../topology/events.js';
import type { BuiltEmbedStage } from '../stages/embed/embed.js';

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

/**
 * Live documents in and out of each stage of a window, from what the stages decided: a stage
 * stops a document by dropping or dead-lettering it. Documents that entered the first stage:
 * every decision, the dead letters a stage (not the decoder) made, and those forwarded to the
 * next sub-topology.
 */
export function stageFlow(stageIds: readonly string[], decisions: readonly Decision[], dead: readonly DeadLetter[], forwarded = 0): WindowCommitted['stages'][number][] {
  const stopped = new Map<string, number>(stageIds.map((id) => [id, 0]));
  for (const d of decisions) if (!d.keep && stopped.has(d.stage)) stopped.set(d.stage, stopped.get(d.stage)! + 1);
  for (const d of dead) if (stopped.has(d.stage)) stopped.set(d.stage, stopped.get(d.stage)! + 1);
  let live = forwarded + decisions.length + dead.filter((d) => stopped.has(d.stage)).length;
  return stageIds.map((stage) => {
    const out = live - stopped.get(stage)!;
    const s = { stage, in: live, out, seconds: 0 };
    live = out;
    return s;
  });
}

/** The WindowCommitted event of a window: per-stage in/out from the decisions, latency timestamps per decision. */
export function windowCommitted(f: WindowFacts): WindowCommitted {
  const subtopology = f.subtopology ?? '0';
  const stages = stageFlow(f.pipeline.stages.map((s) => s.id), f.outcomes.decisions, f.outcomes.dead);
  const recordTimestamps: number[] = [];
  f.items.forEach((item, i) => { if (item.kind === 'doc') recordTimestamps.push(f.timestamps[i] ?? NaN); });
  return {
    task: `${subtopology}_${f.partition}`, subtopology, partition: f.partition, records: f.records,
    decisions: f.outcomes.decisions, recordTimestamps, kept: f.outcomes.kept.length, dead: f.outcomes.dead,
    stages, processSeconds: f.processSeconds, commitSeconds: f.commitSeconds, committedAt: f.committedAt ?? Date.now(),
  };
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
