/**
 * The matrix products of the selection stages on several threads: one pool of worker threads per
 * process, each holding an instance of the dot-product kernel on every kernel memory of this
 * thread (shared WebAssembly memories), so that a product is cut into chunks of queries (or of
 * rows, for few queries) that any thread may take.
 *
 * Scheduling is a shared counter: the calling thread opens a job, takes chunks itself like every
 * worker, and waits only for chunks a worker has already taken. A worker that is slow to wake, or
 * never does, costs speed, never the result. Every output value is computed by the same kernel
 * code whichever thread takes its chunk, so decisions do not depend on the number of threads
 * (and the kernel is only a filter, verified by the scalar path: dot-simd.ts).
 *
 * Threads: `setSelectionThreads`, else D4_SELECT_THREADS, else the machine's cores up to 4. One
 * thread: no pool, no shared memory, the kernel runs on the calling thread as before.
 */
import { availableParallelism } from 'node:os';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import type { WasmMemory } from './wasm-asm.js';

export type GemmFn = (qp: number, nq: number, r: number, nr: number, strideBytes: number, out: number, ldo: number) => void;

/**
 * Slots of the control block (Int32Array over a SharedArrayBuffer); `sleep` is never written (a
 * timed wait on it is a sleep); `byWorkers` counts the chunks workers computed; `int16`: the job is
 * a gemm16; `list`: the job is a list of `nq` products whose parameters are in the kernel memory
 * from address `qp` (CALL_WORDS int32 each), `per` of them a chunk.
 */
export const CTRL = { gen: 0, next: 1, done: 2, total: 3, per: 4, byQuery: 5, id: 6, qp: 7, nq: 8, r: 9, nr: 10, sb: 11, out: 12, ldo: 13, sleep: 14, byWorkers: 15, int16: 16, list: 17, size: 18 } as const;

/** The slots that describe a job (written before its counter is opened). */
type JobSlot = 'id' | 'int16' | 'list' | 'byQuery' | 'per' | 'qp' | 'nq' | 'r' | 'nr' | 'sb' | 'out' | 'ldo';

/** Words of one product of a list (`DotKernel.gemmList`): qp, nq, r, nr, strideBytes, out, ldo. */
export const CALL_WORDS = 7;

/**
 * Takes the next chunk of the job in `ctrl`: its number, or -1 when there is none. `next` holds
 * the job's generation (high 15 bits) and the next chunk (low 16): a claim made on another job's
 * counter (a thread that was slow between two jobs) is recognised by its generation and ignored,
 * so a chunk is never taken twice nor a chunk of a finished job computed with the next job's
 * parameters (which are written before the counter is opened).
 */
export function claim(ctrl: Int32Array): number {
  const v = Atomics.add(ctrl, CTRL.next, 1);
  if (v >>> 16 !== Atomics.load(ctrl, CTRL.gen)) return -1;
  const c = v & 0xffff;
  return c < Atomics.load(ctrl, CTRL.total) ? c : -1;
}

/** Multiply-adds below which a product stays on the calling thread (waking a worker costs ~10–50 µs). */
const PARALLEL_MIN_MACS = 1 << 20;
/** A job waits this long for the chunks workers took before it reports a stuck worker. */
const STUCK_MS = 120_000;

/** The products `from` ≤ k < `to` of the list at address `table` of the memory `words` views. */
export function runList(words: Int32Array, gemm: GemmFn, table: number, from: number, to: number): void {
  for (let k = from, t = (table >> 2) + from * CALL_WORDS; k < to; k++, t += CALL_WORDS) {
    gemm(words[t]!, words[t + 1]!, words[t + 2]!, words[t + 3]!, words[t + 4]!, words[t + 5]!, words[t + 6]!);
  }
}

/** Chunk `c` of the job in `ctrl`, computed with `gemm` (the same on every thread); `words`: an int32 view of the job's memory (for a list). */
export function runChunk(ctrl: Int32Array, gemm: GemmFn, c: number, words: () => Int32Array): void {
  const per = ctrl[CTRL.per]!;
  const [qp, nq, r, nr, sb, out, ldo] = [ctrl[CTRL.qp]!, ctrl[CTRL.nq]!, ctrl[CTRL.r]!, ctrl[CTRL.nr]!, ctrl[CTRL.sb]!, ctrl[CTRL.out]!, ctrl[CTRL.ldo]!];
  const from = c * per;
  if (ctrl[CTRL.list]) runList(words(), gemm, qp, from, Math.min(nq, from + per));
  else if (ctrl[CTRL.byQuery]) gemm(qp + 4 * from, Math.min(per, nq - from), r, nr, sb, out + 4 * from * ldo, ldo);
  else gemm(qp, nq, r + from * sb, Math.min(per, nr - from), sb, out + 4 * from, ldo);
}

let configured: number | undefined;

/** Threads for the selection kernels created from now on (undefined: D4_SELECT_THREADS, else up to 4 cores). */
export function setSelectionThreads(threads: number | undefined): void {
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1)) throw new Error(`selection threads must be a whole number ≥ 1, not ${threads}`);
  configured = threads;
}

export function selectionThreads(): number {
  if (configured !== undefined) return configured;
  const env = process.env['D4_SELECT_THREADS'];
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (!(Number.isInteger(n) && n >= 1)) throw new Error(`D4_SELECT_THREADS must be a whole number ≥ 1, not "${env}"`);
    return n;
  }
  return Math.max(1, Math.min(4, availableParallelism()));
}

export class GemmPool {
  private readonly ctrl = new Int32Array(new SharedArrayBuffer(CTRL.size * 4));
  private readonly ports: MessagePort[] = [];
  private nextId = 1;
  private readonly dropped = new FinalizationRegistry<number>((id) => { for (const p of this.ports) p.postMessage({ drop: id }); });

  /** `threads` in all: the caller's and `threads − 1` workers. */
  constructor(readonly threads: number) {
    for (let i = 1; i < threads; i++) {
      const { port1, port2 } = new MessageChannel();
      const w = new Worker(new URL('./gemm-worker.js', import.meta.url), { workerData: { ctrl: this.ctrl.buffer, port: port2 }, transferList: [port2] });
      w.unref();
      port1.unref();
      this.ports.push(port1);
    }
  }

  /** Chunks the worker threads computed so far (the rest were the calling thread's). */
  get workerChunks(): number {
    return Atomics.load(this.ctrl, CTRL.byWorkers);
  }

  /** Makes a kernel memory known to every worker; the id names it in jobs (dropped when `owner` is collected). */
  register(memory: WasmMemory, owner: object): number {
    const id = this.nextId++;
    for (const p of this.ports) p.postMessage({ id, memory });
    this.dropped.register(owner, id, owner);
    return id;
  }

  /** The workers drop memory `id` (registered for `owner`) now. */
  release(id: number, owner: object): void {
    if (!this.dropped.unregister(owner)) return;
    for (const p of this.ports) p.postMessage({ drop: id });
  }

  /** `local` (this thread's kernel on the memory `id`: its gemm, or gemm16 with `int16`) computes what it takes; returns when every chunk is done. */
  gemm(id: number, int16: boolean, local: GemmFn, qp: number, nq: number, r: number, nr: number, sb: number, out: number, ldo: number): void {
    const macs = nq * nr * (sb >> 2);
    const t = this.threads;
    const byQuery = nq >= 4 * t;
    // Four chunks a thread, so that one slow to wake does not hold the others; rows in fours (the kernel's step).
    const per = byQuery ? Math.ceil(nq / (4 * t)) : Math.ceil(nr / (16 * t)) * 4;
    const total = Math.ceil((byQuery ? nq : nr) / per);
    if (macs < PARALLEL_MIN_MACS || total < 2) { local(qp, nq, r, nr, sb, out, ldo); return; }
    this.run({ id, int16: int16 ? 1 : 0, list: 0, byQuery: byQuery ? 1 : 0, per, qp, nq, r, nr, sb, out, ldo }, total, local, () => new Int32Array(0));
  }

  /**
   * The float32 products listed at `table` (`calls` of them, CALL_WORDS int32 each, `macs`
   * multiply-adds in all) on the memory `id`, whose int32 view `words` gives; `local` is this
   * thread's gemm. Chunks of a few products, so that products of different sizes spread evenly.
   */
  gemmList(id: number, local: GemmFn, words: () => Int32Array, table: number, calls: number, macs: number): void {
    const per = Math.ceil(calls / (32 * this.threads));
    const total = Math.ceil(calls / per);
    if (macs < PARALLEL_MIN_MACS || total < 2) { runList(words(), local, table, 0, calls); return; }
    this.run({ id, int16: 0, list: 1, byQuery: 0, per, qp: table, nq: calls, r: 0, nr: 0, sb: 0, out: 0, ldo: 0 }, total, local, words);
  }

  private run(job: Record<JobSlot, number>, total: number, local: GemmFn, words: () => Int32Array): void {
    const c = this.ctrl;
    // The new generation first (from now on a claim on the old counter is refused), then the
    // parameters, then the counter of the new generation, then the wake-up.
    const gen = (Atomics.load(c, CTRL.gen) + 1) & 0x7fff;
    Atomics.store(c, CTRL.gen, gen);
    for (const slot of Object.keys(job) as JobSlot[]) c[CTRL[slot]] = job[slot];
    Atomics.store(c, CTRL.done, 0);
    Atomics.store(c, CTRL.total, total);
    Atomics.store(c, CTRL.next, gen << 16);
    Atomics.notify(c, CTRL.gen);
    for (let k; (k = claim(c)) >= 0;) {
      runChunk(c, local, k, words);
      Atomics.add(c, CTRL.done, 1);
    }
    const t0 = Date.now();
    for (let d; (d = Atomics.load(c, CTRL.done)) < total;) {
      Atomics.wait(c, CTRL.done, d, 1000);
      if (Date.now() - t0 > STUCK_MS) throw new Error(`a selection kernel thread took a chunk and did not finish it in ${STUCK_MS / 1000} s`);
    }
  }
}

let pool: GemmPool | undefined;

/** The process's pool for `selectionThreads()` threads; undefined for one thread. */
export function gemmPool(): GemmPool | undefined {
  const threads = selectionThreads();
  if (threads <= 1) return undefined;
  if (!pool || pool.threads !== threads) pool = new GemmPool(threads);
  return pool;
}
