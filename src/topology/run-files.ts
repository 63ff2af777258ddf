import { existsSync, mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { readFileItems, type FileSourceOptions } from '../io/files/source.js';
import { JsonlWriter, deadLetterJson } from '../io/files/sink.js';
import { outcomes, type Pipeline } from './pipeline.js';
import { Summary } from './summary.js';
import type { Change, StateStore } from '../state/store.js';
import { fanOut, type RunObserver } from './events.js';
import { embedReports, secondsSince, storeSizes, windowCommitted } from '../observe/run-events.js';

export interface CurateFileOptions extends FileSourceOptions {
  readonly outDir: string;
  /** Restore store snapshots from here before the run and write them back after it. */
  readonly stateDir?: string;
  /** Called after each batch with the running summary. */
  readonly onBatch?: (summary: Summary) => void;
  /** Called after each batch with each store's changes (e.g. to publish centroid versions to a file). */
  readonly onChanges?: (store: StateStore, changes: readonly Change[]) => void;
  /** Told what the run does (metrics, dashboard): see events.ts. A batch is a window; a record's timestamp is when its batch was read. */
  readonly observer?: RunObserver;
}

/** Where the snapshot of a store lives in a state directory. */
const snapshotPath = (dir: string, store: string) => join(dir, `${store}.snapshot`);

/**
 * Curates one file with no broker: reads batches, runs each through the pipeline, and appends
 * the decisions (input order), the kept documents and the dead letters to `outDir`. Each batch is
 * written before the next is read, so memory stays bounded by the batch size.
 */
export async function curateFile(input: string, pipeline: Pipeline, options: CurateFileOptions): Promise<Summary> {
  const observer = fanOut(options.observer ? [options.observer] : []);
  if (options.stateDir) {
    for (const store of pipeline.stores) {
      const p = snapshotPath(options.stateDir, store.name);
      const started = process.hrtime.bigint(); // observer
      if (existsSync(p)) store.restore(readFileSync(p));
      observer.storeRestored({ task: '0_0', store: store.name, records: existsSync(p) ? 1 : 0, seconds: secondsSince(started) });
    }
  }
  observer.ready();
  const decisions = new JsonlWriter(join(options.outDir, 'decisions.jsonl'));
  const kept = new JsonlWriter(join(options.outDir, 'kept.jsonl'));
  const dead = new JsonlWriter(join(options.outDir, 'dead-letter.jsonl'));
  const summary = new Summary();
  try {
    for await (const batch of readFileItems(input, options)) {
      const readAt = Date.now(); // observer
      const started = process.hrtime.bigint(); // observer
      const items = await pipeline.process(batch);
      const o = outcomes(items, pipeline.paramsHash);
      const processSeconds = secondsSince(started); // observer
      const writeStarted = process.hrtime.bigint(); // observer
      await Promise.all([decisions.writeAll(o.decisions), kept.writeAll(o.kept), dead.writeAll(o.dead.map(deadLetterJson))]);
      // observer: what this batch wrote
      observer.windowCommitted(windowCommitted({ pipeline, partition: 0, items, timestamps: items.map(() => readAt), outcomes: o, records: batch.length, processSeconds, commitSeconds: secondsSince(writeStarted) }));
      for (const r of embedReports(pipeline, '0_0')) observer.stageReport(r);
      observer.storeSizes(storeSizes(pipeline, '0_0'));
      for (const store of pipeline.stores) { // file mode persists snapshots, not changelogs
        const changes = store.drainChanges();
        if (changes.length > 0) options.onChanges?.(store, changes);
      }
      summary.add(o);
      options.onBatch?.(summary);
    }
  } finally {
    await Promise.all([decisions.close(), kept.close(), dead.close()]);
  }
  if (options.stateDir) {
    mkdirSync(options.stateDir, { recursive: true });
    for (const store of pipeline.stores) {
      const p = snapshotPath(options.stateDir, store.name);
      writeFileSync(`${p}.tmp`, store.snapshot());
      renameSync(`${p}.tmp`, p); // a crash mid-write never leaves a torn snapshot
    }
  }
  writeFileSync(join(options.outDir, 'summary.json'), JSON.stringify({ input, params_hash: pipeline.paramsHash, ...summary.toJSON() }, null, 2) + '\n');
  return summary;
}
