import { embedReports, stageFlow, type RunObserver } from './events.js';
import { classify, retry, TaskFencedError, FatalRunError, type RetryOptions } from './errors.js';
import { WATERMARK_HEADER, type InRecord, type OutRecord, type Task, type WindowOutput } from './task.js';

/**
 * The run loop of one task, the same for every driver (Kafka, file, in-memory): records are buffered
 * and processed in windows of `window` offsets aligned on offset multiples, so that a window's
 * composition (which the selection stages' decisions depend on) never depends on how the records
 * happened to be delivered: a replay of the same offsets sees the same windows. A partial window
 * is processed after `lingerMs` (the latency bound of a live stream), or when flushing.
 */
export class TaskWindows {
  private messages: InRecord[] = [];
  /** Highest offset delivered so far (transaction markers included, they take offsets too). */
  position: bigint;
  /** First offset not yet committed: where the current window starts. */
  next: bigint;
  since = Date.now();

  /**
   * `hold`: how many offsets the next window must span, asked before each window (Task.hold:
   * the prototype stage's warmupHold while it has decided nothing): that window ends at the first
   * offset multiple at or past next + hold, so its decisions are fitted on all of it. Nothing of
   * it is committed before it is processed, so a restart re-reads it.
   */
  constructor(committed: bigint, private readonly window: bigint, private readonly hold: () => number = () => 0) {
    this.next = committed;
    this.position = committed - 1n;
  }

  /** Adds delivered records; ones already committed or already buffered are skipped. */
  add(records: readonly InRecord[], lastOffset: bigint): void {
    for (const m of records) if (m.offset >= this.next && m.offset > this.position) this.messages.push(m);
    if (lastOffset > this.position) this.position = lastOffset;
  }

  get buffered(): number {
    return this.messages.length;
  }

  /** Buffered records that are documents (not watermarks): work still to do. */
  get bufferedDocuments(): number {
    let n = 0;
    for (const m of this.messages) if (m.headers?.[WATERMARK_HEADER] === undefined) n++;
    return n;
  }

  /** The next window to process: a complete one, or (flush) whatever was delivered. */
  take(flush: boolean): { records: InRecord[]; end: bigint } | undefined {
    const hold = BigInt(this.hold());
    // The next offset multiple above `next`; while a stage holds, the one at or past next + hold.
    const end = hold > this.window ? ((this.next + hold + this.window - 1n) / this.window) * this.window : (this.next / this.window + 1n) * this.window;
    let upTo: bigint;
    if (this.position >= end - 1n) upTo = end;
    else if (flush && this.position >= this.next) upTo = this.position + 1n;
    else return undefined;
    const records = this.messages.filter((m) => m.offset < upTo);
    this.messages = this.messages.filter((m) => m.offset >= upTo);
    return { records, end: upTo };
  }

  committed(end: bigint): void {
    this.next = end;
    this.since = Date.now();
  }
}

/** How a driver makes a window durable: one atomic write of its records and the input offset (a Kafka transaction; in file mode, appends to the output files). */
export interface Committer {
  commit(task: Task, records: readonly OutRecord[], end: bigint): Promise<void>;
}

export interface LoopOptions {
  readonly retry: RetryOptions;
  readonly observer: Required<RunObserver>;
  readonly log: (m: string) => void;
  readonly verbose?: boolean;
}

/**
 * Processes and commits one window of a task. The outputs are computed once; only their
 * transactional write is retried (a retriable failure), with backoff. A fenced task (another
 * worker owns it now) throws TaskFencedError: the caller abandons the task, whose records the new
 * owner re-reads; anything else is fatal (the stores already hold the window's changes).
 */
export async function runWindow(task: Task, windows: TaskWindows, w: { records: InRecord[]; end: bigint }, committer: Committer, o: LoopOptions): Promise<WindowOutput> {
  let out: WindowOutput;
  try {
    out = await task.process(w.records);
  } catch (e) {
    if (e instanceof FatalRunError) throw e;
    throw new FatalRunError(`task ${task.id}: processing offsets ${windows.next}..${w.end - 1n} failed: ${(e as Error).stack ?? e}`, { cause: e });
  }
  const t0 = process.hrtime.bigint();
  try {
    await retry(() => committer.commit(task, out.records, w.end), {
      ...o.retry,
      onRetry: (e, attempt, delay) => {
        o.observer.transactionFailed({ task: task.id, attempt, error: e.message, retriable: true, outcome: 'retry' });
        o.log(`task ${task.id}: transaction failed (${e.message}); retrying in ${delay} ms (${attempt}/${o.retry.attempts - 1})`);
      },
    });
  } catch (e) {
    const err = classify(e);
    const fenced = err instanceof TaskFencedError;
    o.observer.transactionFailed({ task: task.id, attempt: 0, error: err.message, retriable: err.retriable, outcome: fenced ? 'abandoned' : 'fatal' });
    if (fenced) throw err;
    throw new FatalRunError(`task ${task.id}: the transaction for offsets <${w.end} failed: ${err.message}`, { cause: e });
  }
  windows.committed(w.end);
  const commitSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  o.observer.windowCommitted({
    task: task.id, subtopology: String(task.sub.index), partition: task.partition, records: w.records.length,
    decisions: out.decisions, recordTimestamps: out.recordTimestamps, kept: out.kept, dead: out.dead,
    stages: stageFlow(task.pipeline.stages.map((s) => s.id), out.decisions, out.dead, out.forwarded, out.stageSeconds), processSeconds: out.processSeconds, commitSeconds, committedAt: Date.now(),
  });
  o.observer.storeSizes(task.stores.map((s) => ({ task: task.id, store: s.name, entries: s.size(), bytes: s.bytes() })));
  for (const r of embedReports(task.pipeline, task.id)) o.observer.stageReport(r);
  if (o.verbose) o.log(`task ${task.id}: committed offsets <${w.end}: ${out.decisions.length} decisions, ${out.forwarded} forwarded, ${out.dead.length} dead letters`);
  return out;
}

/** Runs every window a task has ready (flush: the partial one too). */
export async function drainTask(task: Task, windows: TaskWindows, flush: boolean, committer: Committer, o: LoopOptions, onOutput: (out: WindowOutput) => void): Promise<void> {
  for (let w = windows.take(flush); w; w = windows.take(flush)) onOutput(await runWindow(task, windows, w, committer, o));
}
