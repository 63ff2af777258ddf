import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { drainTask, TaskWindows, type LoopOptions } from '../../topology/loop.js';
import { fanOut, type RunObserver } from '../../topology/events.js';
import { planSubtopologies } from '../../topology/plan.js';
import type { Pipeline } from '../../topology/pipeline.js';
import { Summary } from '../../topology/summary.js';
import { Task, type WindowOutput } from '../../topology/task.js';
import type { StageSpec } from '../../topology/topology.js';
import type { Hasher } from '../../stages/text/hash.js';
import type { Change, StateStore } from '../../state/store.js';
import { FileCommitter, FILE_TOPICS, restoreSnapshots, writeSnapshots } from './committer.js';
import { jsonCodecs } from './json-codecs.js';
import { decodeFileRecord, readFileRecords, type FileSourceOptions } from './source.js';

export interface CurateFileOptions extends FileSourceOptions {
  readonly outDir: string;
  /** The stages `pipeline` was built from (the plan's one sub-topology). */
  readonly stages: readonly StageSpec[];
  readonly hasher: Hasher;
  /** Offsets (lines) per window; default batchSize. The selection stages decide per window. */
  readonly window?: number;
  /** Restore store snapshots from here before the run and write them back after it. */
  readonly stateDir?: string;
  /** Called after each window with the running summary. */
  readonly onBatch?: (summary: Summary) => void;
  /** Called after each window with each store's changes (e.g. to publish centroid versions to a file). */
  readonly onChanges?: (store: StateStore, changes: readonly Change[]) => void;
  /** Told what the run does (metrics, dashboard): see events.ts. A record's timestamp is when it was read. */
  readonly observer?: RunObserver;
  /** Where the loop's messages go (none by default). */
  readonly log?: (message: string) => void;
}

/**
 * The file driver of `d4 curate`: a file is one partition, so the plan has one sub-topology and
 * one task (`0_0`), run by the loop every driver runs (TaskWindows, runWindow, drainTask; see
 * topology/loop.ts). Its records are the file's lines (offset = line index), processed in windows
 * of `window` offsets aligned on offset multiples; each window is committed by appending its
 * decisions (input order), kept documents and dead letters to `outDir` before the next is read,
 * so memory stays bounded by the window. Stores are restored from, and snapshotted to, --state-dir.
 */
export async function curateFile(input: string, pipeline: Pipeline, options: CurateFileOptions): Promise<Summary> {
  const observer = fanOut(options.observer ? [options.observer] : []);
  const window = options.window ?? options.batchSize;
  const [sub, ...more] = planSubtopologies(FILE_TOPICS.app, { topic: input === '-' ? '<stdin>' : input, partitions: 1 }, options.stages);
  if (!sub || more.length > 0) throw new Error(`a file is one partition: its plan is one sub-topology, not ${more.length + 1}`);
  const task = new Task(sub, 0, pipeline, {
    topics: FILE_TOPICS, codecs: jsonCodecs(), sourceFormat: 'json', decodeSource: decodeFileRecord(input, options), decode: options,
    hasher: options.hasher, exactCaseFold: options.stages.find((s) => s.type === 'exact')?.options['caseFold'] === true,
    idPartition: () => 0, nextOrdered: false, window,
  });
  // The source clock orders documents across partitions; a file is one partition read from its start, so only the stages' stores are kept.
  if (options.stateDir) restoreSnapshots(options.stateDir, pipeline.stores, task.id, observer);
  observer.ready();
  const committer = new FileCommitter(options.outDir, options.onChanges ? { onChanges: options.onChanges } : {});
  const loop: LoopOptions = { retry: { attempts: 1, initialDelayMs: 0, maxDelayMs: 0 }, observer, log: options.log ?? (() => undefined) };
  const windows = new TaskWindows(0n, BigInt(window), task.hold);
  const summary = new Summary();
  const onOutput = (out: WindowOutput) => { summary.add(out); options.onBatch?.(summary); };
  try {
    for await (const records of readFileRecords(input, options)) {
      windows.add(records, records.at(-1)!.offset);
      await drainTask(task, windows, false, committer, loop, onOutput);
    }
    await drainTask(task, windows, true, committer, loop, onOutput);
  } finally {
    await committer.close();
  }
  if (options.stateDir) writeSnapshots(options.stateDir, pipeline.stores);
  writeFileSync(join(options.outDir, 'summary.json'), JSON.stringify({ input, params_hash: pipeline.paramsHash, ...summary.toJSON() }, null, 2) + '\n');
  return summary;
}
