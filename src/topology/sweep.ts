import { ConfigError } from './registry.js';
import { fanOut } from './events.js';
import { drainTask, TaskWindows, type Committer, type LoopOptions } from './loop.js';
import type { Subtopology } from './plan.js';
import type { Pipeline } from './pipeline.js';
import { Summary } from './summary.js';
import { Task, upstreamWork, warmupHold, type InRecord, type WindowOutput } from './task.js';
import type { StageSpec } from './topology.js';
import type { Codecs } from '../io/avro/codec.js';
import type { DecodeOptions } from '../records/decode.js';
import type { Item } from '../records/item.js';
import type { Hasher } from '../stages/text/hash.js';

/** One axis of a parameter grid: `<stage>.<option>` and its trial values. */
export interface GridAxis {
  readonly key: string;
  readonly values: readonly unknown[];
}

/** `target-ratio` is the documented alias of the prototype stage's targetRatio. */
const ALIASES: Record<string, string> = { 'target-ratio': 'prototype.targetRatio', epsilon: 'semantic.epsilon', eps: 'semantic.epsilon', 'semantic.eps': 'semantic.epsilon' };

/** Parses `--grid semantic.epsilon=0.03,0.05,0.07`; values are JSON when they parse as JSON. */
export function parseGridAxis(text: string): GridAxis {
  const m = /^([A-Za-z][\w.-]*)=(.+)$/.exec(text);
  if (!m) throw new ConfigError(`--grid ${text}: expected <stage>.<option>=<v1>,<v2>,..., e.g. --grid semantic.epsilon=0.03,0.05`);
  const key = ALIASES[m[1]!] ?? m[1]!;
  if (!/^[a-z][a-z0-9-]*\.[A-Za-z]\w*$/.test(key)) throw new ConfigError(`--grid ${text}: "${m[1]}" is not <stage>.<option>`);
  const values = m[2]!.split(',').map((v) => v.trim()).filter(Boolean).map((v) => { try { return JSON.parse(v) as unknown; } catch { return v; } });
  if (values.length === 0) throw new ConfigError(`--grid ${text}: no values`);
  return { key, values };
}

/** Every combination of the axes, as `--set`-style strings (the cartesian product, first axis slowest). */
export function gridPoints(axes: readonly GridAxis[]): string[][] {
  const keys = new Set<string>();
  for (const a of axes) {
    if (keys.has(a.key)) throw new ConfigError(`--grid ${a.key} is given twice; put all its values in one --grid`);
    keys.add(a.key);
  }
  return axes.reduce<string[][]>((points, axis) => points.flatMap((p) => axis.values.map((v) => [...p, `${axis.key}=${JSON.stringify(v)}`])), [[]]);
}

/**
 * SemDeDup's recipe for choosing ε: given trial (ε, R_dedup) pairs, the ε at which the kept
 * fraction crosses the target, by linear interpolation between the two trials that bracket it
 * (R_dedup falls as ε grows). Outside the tried range, the nearest end is returned with
 * `bracketed: false`.
 */
export function interpolateEpsilon(trials: ReadonlyArray<{ epsilon: number; kept: number }>, target: number): { epsilon: number; bracketed: boolean } {
  const t = [...trials].sort((a, b) => a.epsilon - b.epsilon);
  if (t.length === 0) throw new Error('no trials');
  for (let i = 0; i + 1 < t.length; i++) {
    const a = t[i]!;
    const b = t[i + 1]!;
    if (a.kept >= target && b.kept <= target) {
      if (a.kept === b.kept) return { epsilon: (a.epsilon + b.epsilon) / 2, bracketed: true };
      return { epsilon: a.epsilon + ((a.kept - target) * (b.epsilon - a.epsilon)) / (a.kept - b.kept), bracketed: true };
    }
  }
  return t[0]!.kept < target ? { epsilon: t[0]!.epsilon, bracketed: false } : { epsilon: t[t.length - 1]!.epsilon, bracketed: false };
}

/** One parameter set's selection stages, built: a task of the sweep's second sub-topology. */
export interface SweepPoint {
  readonly stages: readonly StageSpec[];
  readonly pipeline: Pipeline;
}

/** What one parameter set did over the whole input (the shared stages' decisions included). */
export interface SweepPointResult {
  readonly summary: Summary;
  /** Clusters that kept at least one document. */
  readonly clusters: Set<number>;
  /** Documents the first selection stage saw, and what the semantic stage dropped of them. */
  reachedSelection: number;
  semanticDropped: number;
  /** Time in this set's selection stages. */
  seconds: number;
}

export interface SweepPassOptions {
  /** The source's records, in offset order (a file's lines, a topic range laid end to end). */
  readonly records: AsyncIterable<InRecord[]>;
  readonly decodeSource: (record: InRecord, seq: number) => Item;
  readonly codecs: Codecs;
  readonly decode: DecodeOptions;
  readonly hasher: Hasher;
  /** Offsets per window of the shared stages, as d4 curate's. */
  readonly window: number;
}

/**
 * One pass of a sweep on the run loop every driver runs (TaskWindows, runWindow, drainTask):
 * the plan is cut in two sub-topologies joined by an in-memory internal topic, as a multi-task
 * topology is cut by a repartition topic:
 *
 *   - sub-topology 0, one task: decoding and the stages before the first selection stage
 *     (exact, near, embed), in windows of `window` source offsets, as `d4 curate` cuts them;
 *   - sub-topology 1, one task per parameter set: the selection stages of that set. Each reads
 *     every record sub-topology 0 forwards (the documents it dropped too, as every sub-topology
 *     does, see Task.route), and its window is exactly what one window of sub-topology 0
 *     forwarded, so each set decides on the batches `d4 curate` with those parameters would
 *     (same documents, same order): a sweep point reproduces a curate run.
 *
 * The shared stages run once per pass, so a sweep costs one pass of exact, near and the model,
 * whatever the number of points. Nothing is written: results are read from each window's output.
 */
export async function sweepPass(pre: { stages: readonly StageSpec[]; pipeline: Pipeline }, points: readonly SweepPoint[], o: SweepPassOptions): Promise<SweepPointResult[]> {
  if (points.length === 0) throw new Error('a sweep pass needs at least one parameter set');
  const internal = 'sweep-selection-repartition';
  const selectSub: Subtopology = {
    index: 1, name: points[0]!.stages[0]?.id ?? 'select', stages: points[0]!.stages, partitioning: 'single',
    input: { topic: internal, partitions: 1, internal: true }, ordered: false, upstreamTasks: 1,
  };
  const preSub: Subtopology = {
    index: 0, name: 'source', stages: pre.stages, partitioning: 'any',
    input: { topic: 'sweep-input', partitions: 1, internal: false }, ordered: false, upstreamTasks: 0,
    next: { topic: internal, partitions: 1, key: 'single' },
  };
  const ctx = {
    topics: { app: 'd4-sweep', decisions: 'decisions', kept: 'kept', deadLetter: 'dead-letter', keptWithVectors: false, changelog: (s: string) => `changelog:${s}` },
    codecs: o.codecs, sourceFormat: 'json' as const, decode: o.decode, hasher: o.hasher,
    exactCaseFold: pre.stages.find((s) => s.type === 'exact')?.options['caseFold'] === true,
    idPartition: () => 0, nextOrdered: false, window: o.window,
  };
  const preTask = new Task(preSub, 0, pre.pipeline, { ...ctx, decodeSource: o.decodeSource, prepareNext: upstreamWork(selectSub) });
  const selects = points.map((p) => ({
    task: new Task({ ...selectSub, stages: p.stages }, 0, p.pipeline, ctx),
    // Cut only by the flush after each window of sub-topology 0: its window is what that window forwarded.
    windows: new TaskWindows(0n, 1n << 62n),
    result: { summary: new Summary(), clusters: new Set<number>(), reachedSelection: 0, semanticDropped: 0, seconds: 0 } as SweepPointResult,
  }));

  // What each committed window of sub-topology 0 forwarded, in commit order (the internal topic, one window at a time).
  const forwarded: InRecord[][] = [];
  let internalOffset = 0n;
  const keep: Committer = {
    commit: async (_task, records) => {
      const group: InRecord[] = [];
      for (const r of records) {
        if (r.topic === internal) group.push({ offset: internalOffset++, key: r.key === null ? null : Buffer.from(r.key), value: r.value, timestamp: Date.now() });
      }
      forwarded.push(group);
    },
  };
  const discard: Committer = { commit: async () => undefined };
  const loop: LoopOptions = { retry: { attempts: 1, initialDelayMs: 0, maxDelayMs: 0 }, observer: fanOut([]), log: () => undefined };

  const afterPreWindow = async (out: WindowOutput) => {
    const records = forwarded.shift()!;
    for (const s of selects) {
      s.result.summary.add(out);
      if (records.length === 0) continue;
      s.windows.add(records, records.at(-1)!.offset);
      s.result.reachedSelection += out.forwarded;
      await drainTask(s.task, s.windows, true, discard, loop, (sel) => {
        s.result.summary.add(sel);
        s.result.seconds += sel.processSeconds;
        for (const d of sel.decisions) {
          if (d.keep && d.cluster !== null) s.result.clusters.add(d.cluster);
          if (!d.keep && d.stage === 'semantic') s.result.semanticDropped++;
        }
      });
    }
  };
  // drainTask reports each window after its commit; the selection tasks run between two windows of sub-topology 0.
  // While the selection stages hold (their warm-up), one window of sub-topology 0 spans the hold: what it forwards is their first batch.
  const hold = () => {
    const holds = new Set(points.map((p) => warmupHold(p.pipeline.stages)));
    if (holds.size > 1) throw new Error(`the parameter sets of a sweep pass must share prototype.warmupHold (${[...holds].join(' vs ')})`);
    return [...holds][0]!;
  };
  const preWindows = new TaskWindows(0n, BigInt(o.window), hold);
  const outs: WindowOutput[] = [];
  for await (const records of o.records) {
    if (records.length === 0) continue;
    preWindows.add(records, records.at(-1)!.offset);
    await drainTask(preTask, preWindows, false, keep, loop, (out) => outs.push(out));
    for (const out of outs.splice(0)) await afterPreWindow(out);
  }
  await drainTask(preTask, preWindows, true, keep, loop, (out) => outs.push(out));
  for (const out of outs.splice(0)) await afterPreWindow(out);
  return selects.map((s) => s.result);
}
