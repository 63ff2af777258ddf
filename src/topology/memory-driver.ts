import { fanOut, type RunObserver } from './events.js';
import { classify, TaskFencedError, type RetryOptions } from './errors.js';
import { drainTask, TaskWindows, type Committer } from './loop.js';
import { taskId, type Subtopology } from './plan.js';
import type { InRecord, OutRecord, Task, WindowOutput } from './task.js';

interface Stored extends InRecord {
  readonly partitionKey: string | null;
}

/**
 * Kafka Streams' TopologyTestDriver for d4: topics, partitions, offsets and transactions in
 * memory, driving the very loop the Kafka worker runs (TaskWindows, runWindow, drainTask) over the
 * same Task objects. A commit appends a window's records and moves its input offset atomically,
 * as a Kafka transaction does. Tests can deliver records in any chunk size, make commits fail,
 * crash a task (its memory is lost, it is rebuilt from its changelog and committed offset) and
 * revoke one mid-window.
 */
export class MemoryDriver {
  private readonly topics = new Map<string, Stored[][]>();
  private readonly offsets = new Map<string, bigint>(); // `${topic}:${p}` → committed
  private readonly tasks = new Map<string, { task: Task; windows: TaskWindows }>();
  /** Commits that will fail next: `retriable` ones are retried by the loop, others are fatal. */
  readonly failures: { retriable: boolean; fenced?: boolean }[] = [];
  readonly outputs: WindowOutput[] = [];
  private readonly observer: Required<RunObserver>;
  readonly log: string[] = [];

  constructor(
    private readonly plan: readonly Subtopology[],
    private readonly newTask: (sub: Subtopology, partition: number) => Promise<Task>,
    private readonly options: { window: number; retry?: RetryOptions; observers?: RunObserver[] } = { window: 64 },
  ) {
    this.observer = fanOut(options.observers ?? []);
    for (const s of plan) this.topic(s.input.topic, s.input.partitions);
  }

  private topic(name: string, partitions = 1): Stored[][] {
    let t = this.topics.get(name);
    if (!t) { t = Array.from({ length: partitions }, () => []); this.topics.set(name, t); }
    while (t.length < partitions) t.push([]);
    return t;
  }

  /** Appends records to a topic partition (a producer outside the topology, e.g. the crawler). */
  produce(topic: string, partition: number, records: readonly { key: string | null; value: Buffer; timestamp?: number }[]): void {
    const log = this.topic(topic, partition + 1)[partition]!;
    for (const r of records) log.push({ offset: BigInt(log.length), key: r.key === null ? null : Buffer.from(r.key), value: r.value, timestamp: r.timestamp ?? Date.now(), partitionKey: r.key });
  }

  /** Every record of a topic, partitions in order. */
  read(topic: string): Stored[] {
    return (this.topics.get(topic) ?? []).flat();
  }

  committed(topic: string, partition: number): bigint {
    return this.offsets.get(`${topic}:${partition}`) ?? 0n;
  }

  private readonly committer: Committer = {
    commit: async (task: Task, records: readonly OutRecord[], end: bigint) => {
      const f = this.failures.shift();
      if (f) throw f.fenced ? new TaskFencedError(`task ${task.id}: fenced (test)`) : classify(Object.assign(new Error(`commit refused (test, ${f.retriable ? 'retriable' : 'fatal'})`), { retriable: f.retriable }));
      for (const r of records) {
        const parts = this.topic(r.topic, (r.partition ?? 0) + 1);
        const p = r.partition ?? 0;
        parts[p]!.push({ offset: BigInt(parts[p]!.length), key: r.key === null ? null : Buffer.from(r.key), value: r.value, timestamp: Date.now(), partitionKey: r.key, ...(r.headers ? { headers: r.headers } : {}) });
      }
      this.offsets.set(`${task.sub.input.topic}:${task.partition}`, end);
    },
  };

  /** The task of sub-topology `sub`, partition `p`, set up (restored from its changelogs) if needed. */
  private async taskOf(sub: Subtopology, p: number) {
    const id = taskId(sub.index, p);
    let t = this.tasks.get(id);
    if (!t) {
      const task = await this.newTask(sub, p);
      for (const s of task.stores) {
        for (const r of this.topic(`changelog:${s.name}`, sub.input.partitions)[p] ?? []) s.applyChange({ key: r.partitionKey ?? '', value: r.value });
      }
      t = { task, windows: new TaskWindows(this.committed(sub.input.topic, p), BigInt(this.options.window), task.hold) };
      this.tasks.set(id, t);
    }
    return t;
  }

  /** Forgets a task's memory (a crash, or the partition moved away): its uncommitted window is abandoned. */
  drop(id: string): void {
    this.tasks.delete(id);
  }

  /**
   * Delivers what every task has not read yet, `chunk` records at a time, and runs ready windows,
   * until nothing moves; `flush` also runs partial windows at the end (linger, or a clean stop).
   * Stops at the first fatal error (thrown), as a worker does.
   */
  async run(options: { chunk?: number; flush?: boolean } = {}): Promise<void> {
    const chunk = BigInt(options.chunk ?? 1_000_000);
    const loop = { retry: this.options.retry ?? { attempts: 3, initialDelayMs: 0, maxDelayMs: 0 }, observer: this.observer, log: (m: string) => { this.log.push(m); } };
    let idled = false;
    for (let moved = true; moved;) {
      moved = false;
      for (const sub of this.plan) {
        for (let p = 0; p < sub.input.partitions; p++) {
          const t = await this.taskOf(sub, p);
          const log = this.topics.get(sub.input.topic)![p]!;
          const from = t.windows.position + 1n > t.windows.next ? t.windows.position + 1n : t.windows.next;
          if (from < BigInt(log.length)) {
            const to = from + chunk < BigInt(log.length) ? from + chunk : BigInt(log.length);
            t.windows.add(log.slice(Number(from), Number(to)), to - 1n);
            moved = true;
          }
          const before = t.windows.next;
          try {
            await drainTask(t.task, t.windows, options.flush ?? false, this.committer, loop, (o) => this.outputs.push(o));
          } catch (e) {
            if (!(e instanceof TaskFencedError)) throw e;
            this.drop(t.task.id); // re-read from the committed offset by a new incarnation
            moved = true;
          }
          if (t.windows.next !== before) moved = true;
        }
      }
      if (!moved && options.flush && !idled) {
        // The crawl is read to its end: the source tasks say so (idle watermarks), so the ordered tasks release everything.
        idled = true;
        for (let p = 0; p < this.plan[0]!.input.partitions; p++) {
          const t = await this.taskOf(this.plan[0]!, p);
          const records = t.task.idleWatermark(Date.now(), 0, 0);
          if (records) { await this.committer.commit(t.task, records, t.windows.next); moved = true; }
        }
      }
    }
  }

  /** Changelog topics are named `changelog:<store>` here (the Kafka worker uses `<app>-<store>-changelog`). */
  static changelog(store: string): string {
    return `changelog:${store}`;
  }
}
