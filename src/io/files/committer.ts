import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Committer } from '../../topology/loop.js';
import type { RunObserver } from '../../topology/events.js';
import type { OutRecord, Task, TaskTopics } from '../../topology/task.js';
import type { Change, StateStore } from '../../state/store.js';
import { JsonlWriter } from './sink.js';

/**
 * The "topics" of file mode: each output file of `d4 curate --out <dir>` is a topic the Task
 * writes (its records are JSON lines, see json-codecs.ts). Store changes go to no file: file mode
 * persists whole snapshots (--state-dir) instead of changelogs.
 */
export const FILE_TOPICS: TaskTopics = {
  app: 'd4-curate',
  decisions: 'decisions.jsonl',
  kept: 'kept.jsonl',
  deadLetter: 'dead-letter.jsonl',
  keptWithVectors: false,
  changelog: (store) => `changelog:${store}`,
};

export interface FileCommitterOptions {
  /** Told each window's changes of each store that changed (e.g. to publish centroid versions to a file). */
  readonly onChanges?: (store: StateStore, changes: readonly Change[]) => void;
}

/**
 * How file mode commits a window: its decisions, kept documents and dead letters are appended to
 * their files in `outDir` (in the window's order, which is the input order), and each store's
 * changes are handed to `onChanges`. A file run has no input offset to keep (it reads its file
 * from the start; its memory carries over through --state-dir snapshots), so `end` is not kept.
 * Nothing is retried: a failed write is fatal.
 */
export class FileCommitter implements Committer {
  private readonly writers: ReadonlyMap<string, JsonlWriter>;
  private readonly changelogs = new Map<string, StateStore>();

  constructor(outDir: string, private readonly options: FileCommitterOptions = {}) {
    this.writers = new Map([FILE_TOPICS.decisions, FILE_TOPICS.kept, FILE_TOPICS.deadLetter].map((t) => [t, new JsonlWriter(join(outDir, t))]));
  }

  async commit(task: Task, records: readonly OutRecord[]): Promise<void> {
    const lines = new Map<JsonlWriter, Buffer[]>();
    const changes = new Map<StateStore, Change[]>();
    for (const r of records) {
      const writer = this.writers.get(r.topic);
      if (writer) {
        if (!r.value) throw new Error(`task ${task.id}: a record for ${r.topic} has no value`);
        let list = lines.get(writer);
        if (!list) lines.set(writer, (list = []));
        list.push(r.value);
        continue;
      }
      const store = this.storeOf(task, r.topic);
      if (!store) throw new Error(`task ${task.id}: file mode writes no topic ${r.topic}`);
      let list = changes.get(store);
      if (!list) changes.set(store, (list = []));
      list.push({ key: r.key ?? '', value: r.value });
    }
    await Promise.all([...lines].map(([w, l]) => w.writeLines(l)));
    for (const [store, list] of changes) this.options.onChanges?.(store, list);
  }

  async close(): Promise<void> {
    await Promise.all([...this.writers.values()].map((w) => w.close()));
  }

  private storeOf(task: Task, topic: string): StateStore | undefined {
    if (!this.changelogs.has(topic)) for (const s of task.stores) this.changelogs.set(FILE_TOPICS.changelog(s.name), s);
    return this.changelogs.get(topic);
  }
}

/** Where the snapshot of a store lives in a state directory. */
const snapshotPath = (dir: string, store: string) => join(dir, `${store}.snapshot`);

/** Restores each store from its snapshot in `dir`, where there is one (a first run has none). */
export function restoreSnapshots(dir: string, stores: readonly StateStore[], task: string, observer: Required<RunObserver>): void {
  for (const store of stores) {
    const p = snapshotPath(dir, store.name);
    const started = process.hrtime.bigint();
    const found = existsSync(p);
    if (found) store.restore(readFileSync(p));
    observer.storeRestored({ task, store: store.name, records: found ? 1 : 0, seconds: Number(process.hrtime.bigint() - started) / 1e9 });
  }
}

/** Writes each store's snapshot to `dir`; a crash mid-write never leaves a torn snapshot (write, then rename). */
export function writeSnapshots(dir: string, stores: readonly StateStore[]): void {
  mkdirSync(dir, { recursive: true });
  for (const store of stores) {
    const p = snapshotPath(dir, store.name);
    writeFileSync(`${p}.tmp`, store.snapshot());
    renameSync(`${p}.tmp`, p);
  }
}
