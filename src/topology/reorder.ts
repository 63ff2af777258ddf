import { checkSnapshotOwner, PendingChanges, type Change, type StateStore } from '../state/store.js';

/**
 * The one order every task agrees on ("first seen"): a crawl record's timestamp, then its crawl
 * partition, then its offset. The timestamp is made monotonic per partition (a record never
 * sorts before an earlier record of its partition: `OrderClock`), so within a partition the
 * order is the offset order and a partition's watermark is simply its last key.
 */
export type OrderKey = readonly [ts: number, partition: number, offset: number];

export function compareKeys(a: OrderKey, b: OrderKey): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

export const MIN_KEY: OrderKey = [-Infinity, -1, -1];

/** The offset part of an idle watermark: past every offset of its partition at that time. */
export const IDLE_OFFSET = Number.MAX_SAFE_INTEGER;

/**
 * A source task's clock: the order timestamp of its next record is max(record timestamp, the
 * last one it gave). An idle watermark at T raises it to T + 1, so nothing later sorts below T.
 * One number of state, changelogged with the task.
 */
export class OrderClock implements StateStore {
  private last = -Infinity;
  private readonly pending = new PendingChanges();
  constructor(readonly name: string) {}

  stamp(recordTs: number): number {
    if (recordTs > this.last) this.last = recordTs;
    this.touch();
    return this.last;
  }

  /** Raises the clock past `ts` (an idle watermark at ts was sent). */
  advancePast(ts: number): void {
    if (ts + 1 > this.last) this.last = ts + 1;
    this.touch();
  }

  get now(): number {
    return this.last;
  }

  private touched = false;
  private touch(): void {
    this.touched = true;
  }

  size(): number { return 1; }
  bytes(): number { return 8; }
  snapshot(): Buffer { return Buffer.from(JSON.stringify({ store: this.name, last: this.last })); }
  restore(snapshot: Buffer): void {
    const s = JSON.parse(snapshot.toString('utf8')) as { store: string; last: number | null };
    checkSnapshotOwner(this.name, s.store);
    this.last = s.last ?? -Infinity;
  }
  drainChanges(): Change[] {
    if (this.touched) {
      this.touched = false;
      this.pending.push({ key: 'clock', value: Buffer.from(String(this.last)) });
    }
    return this.pending.drain();
  }
  applyChange(c: Change): void {
    if (c.key === 'clock' && c.value) this.last = Number(c.value.toString('utf8'));
  }
}

export interface Buffered {
  readonly key: OrderKey;
  /** The encoded record, kept as it came (it is released into the stages later). */
  readonly value: Buffer;
}

const docKey = (k: OrderKey) => `d:${k[0]}:${k[1]}:${k[2]}`;
const keyOf = (s: string): OrderKey => {
  const [, ts, p, o] = s.split(':');
  return [Number(ts), Number(p), Number(o)];
};

/**
 * The input of an ordered sub-topology: documents arrive from several upstream tasks in any
 * interleaving; each upstream task also sends watermarks ("I have sent everything up to this
 * key"). A document is released when every upstream task's watermark is at or past its key, and
 * released documents come out sorted by key: the stages see the crawl order whatever the number
 * of workers. Memory: the documents ahead of the slowest upstream task (bounded by how far the
 * crawl partitions are apart), plus one key per upstream task. Changelogged like any store, so a
 * task that moves keeps what it held.
 */
export class ReorderBuffer implements StateStore {
  private readonly docs = new Map<string, Buffered>();
  private readonly watermarks = new Map<number, OrderKey>();
  private readonly pending = new PendingChanges();
  private heldBytes = 0;
  private released: OrderKey = MIN_KEY;

  constructor(readonly name: string, readonly upstreamTasks: number) {}

  add(key: OrderKey, value: Buffer): void {
    const k = docKey(key);
    if (this.docs.has(k)) return; // the same record twice (cannot happen under exactly-once; harmless)
    this.docs.set(k, { key, value });
    this.heldBytes += value.length + 64;
    this.pending.push({ key: k, value });
  }

  watermark(upstream: number, key: OrderKey): void {
    const old = this.watermarks.get(upstream);
    if (old && compareKeys(old, key) >= 0) return;
    this.watermarks.set(upstream, key);
    this.pending.push({ key: `w:${upstream}`, value: Buffer.from(JSON.stringify(key)) });
  }

  /** The key up to which every upstream task has reported (MIN_KEY until all have). */
  threshold(): OrderKey {
    if (this.watermarks.size < this.upstreamTasks) return MIN_KEY;
    let min: OrderKey | undefined;
    for (const k of this.watermarks.values()) if (!min || compareKeys(k, min) < 0) min = k;
    return min ?? MIN_KEY;
  }

  /**
   * Removes and returns, in key order, the held documents at or below the threshold. With
   * `chunk`, only whole chunks of that many documents leave (the rest waits for more), unless the
   * threshold comes from idle watermarks (the crawl is caught up): then everything leaves.
   */
  release(chunk?: number): Buffered[] {
    const t = this.threshold();
    let ready = [...this.docs.values()].filter((b) => compareKeys(b.key, t) <= 0).sort((a, b) => compareKeys(a.key, b.key));
    if (chunk && t[2] !== IDLE_OFFSET) ready = ready.slice(0, ready.length - (ready.length % chunk));
    const all = ready.length === [...this.docs.values()].filter((b) => compareKeys(b.key, t) <= 0).length;
    const upTo = all ? t : ready.at(-1)?.key;
    if (upTo && compareKeys(upTo, this.released) > 0) this.released = upTo;
    for (const b of ready) {
      const k = docKey(b.key);
      this.docs.delete(k);
      this.heldBytes -= b.value.length + 64;
      this.pending.push({ key: k, value: null });
    }
    return ready;
  }

  /** For logs: how many documents are held, the lowest held key, and the upstream tasks whose watermark is below it. */
  describe(): string {
    let low: OrderKey | undefined;
    for (const b of this.docs.values()) if (!low || compareKeys(b.key, low) < 0) low = b.key;
    if (!low) return 'holds nothing';
    const behind = Array.from({ length: this.upstreamTasks }, (_, u) => u).filter((u) => { const w = this.watermarks.get(u); return !w || compareKeys(w, low!) < 0; });
    return `holds ${this.docs.size} from key ${low.join(':')}, waiting for upstream task(s) ${behind.map((u) => `${u} (at ${this.watermarks.get(u)?.join(':') ?? 'none'})`).join(', ') || 'none (released at the next window)'}`;
  }

  /** The last threshold released (what this task can promise downstream). */
  get releasedUpTo(): OrderKey {
    return this.released;
  }

  size(): number { return this.docs.size; }
  bytes(): number { return this.heldBytes + this.watermarks.size * 48; }

  snapshot(): Buffer {
    return Buffer.from(JSON.stringify({
      store: this.name, watermarks: [...this.watermarks], released: this.released[0] === -Infinity ? null : this.released,
      docs: [...this.docs.values()].map((b) => [b.key, b.value.toString('base64')]),
    }));
  }

  restore(snapshot: Buffer): void {
    const s = JSON.parse(snapshot.toString('utf8')) as { store: string; watermarks: [number, OrderKey][]; released: OrderKey | null; docs: [OrderKey, string][] };
    checkSnapshotOwner(this.name, s.store);
    this.docs.clear();
    this.heldBytes = 0;
    this.watermarks.clear();
    for (const [u, k] of s.watermarks) this.watermarks.set(u, k);
    this.released = s.released ?? MIN_KEY;
    for (const [k, v] of s.docs) this.add(k, Buffer.from(v, 'base64'));
    this.pending.clear();
  }

  drainChanges(): Change[] {
    return this.pending.drain();
  }

  applyChange(c: Change): void {
    if (c.key.startsWith('w:')) {
      if (c.value) this.watermarks.set(Number(c.key.slice(2)), JSON.parse(c.value.toString('utf8')) as OrderKey);
      return;
    }
    const existing = this.docs.get(c.key);
    if (existing) {
      this.docs.delete(c.key);
      this.heldBytes -= existing.value.length + 64;
    }
    if (c.value) {
      this.docs.set(c.key, { key: keyOf(c.key), value: c.value });
      this.heldBytes += c.value.length + 64;
    }
  }
}
