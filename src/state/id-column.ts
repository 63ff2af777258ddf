/**
 * Document ids of a fixed number of slots as UTF-8 in byte buffers, one buffer per block of
 * 1,024 slots, instead of one JavaScript string per slot: about 1.25 × (id bytes + 1) + 4 bytes
 * per slot instead of ~40 (pointer, string header, characters), and a million fewer objects for
 * the garbage collector to trace.
 *
 * Each id is written at the end of its block's buffer (length as a varint, then the bytes);
 * replacing an id leaves the old bytes as garbage. When a buffer is full it is compacted into a
 * new one 1.25 × the live bytes, so garbage never exceeds a quarter and each byte is copied a
 * bounded number of times.
 */
const BLOCK = 1024;
const GROWTH = 1.25;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class IdColumn {
  readonly capacity: number;
  /** Offset of each slot's id in its block's buffer, plus one; 0 = empty. */
  private readonly start: Uint32Array;
  private readonly buffers: Uint8Array[];
  private readonly used: Uint32Array;
  private readonly live: Uint32Array;
  private scratch = new Uint8Array(256);
  private count = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.start = new Uint32Array(capacity);
    const blocks = Math.ceil(capacity / BLOCK);
    this.buffers = Array.from({ length: blocks }, () => new Uint8Array(0));
    this.used = new Uint32Array(blocks);
    this.live = new Uint32Array(blocks);
  }

  has(slot: number): boolean {
    return this.start[slot] !== 0;
  }

  size(): number {
    return this.count;
  }

  get(slot: number): string | undefined {
    const at = this.start[slot]! - 1;
    if (at < 0) return undefined;
    const buf = this.buffers[(slot / BLOCK) | 0]!;
    const [len, skip] = readVarint(buf, at);
    return decoder.decode(buf.subarray(at + skip, at + skip + len));
  }

  set(slot: number, id: string): void {
    if (this.scratch.length < id.length * 3 + 5) this.scratch = new Uint8Array(id.length * 3 + 5);
    const len = encoder.encodeInto(id, this.scratch.subarray(5)).written;
    const head = varintLength(len);
    const block = (slot / BLOCK) | 0;
    this.delete(slot);
    if (this.used[block]! + head + len > this.buffers[block]!.length) this.compact(block, head + len);
    const buf = this.buffers[block]!;
    const at = this.used[block]!;
    writeVarint(buf, at, len);
    buf.set(this.scratch.subarray(5, 5 + len), at + head);
    this.start[slot] = at + 1;
    this.used[block] = at + head + len;
    this.live[block] = this.live[block]! + head + len;
    this.count++;
  }

  delete(slot: number): void {
    const at = this.start[slot]! - 1;
    if (at < 0) return;
    const block = (slot / BLOCK) | 0;
    const [len, skip] = readVarint(this.buffers[block]!, at);
    this.live[block] = this.live[block]! - len - skip;
    this.start[slot] = 0;
    this.count--;
  }

  clear(): void {
    if (this.used.some((u) => u > 0)) this.start.fill(0);
    this.buffers.fill(new Uint8Array(0));
    this.used.fill(0);
    this.live.fill(0);
    this.count = 0;
  }

  bytes(): number {
    let buffers = 0;
    for (const b of this.buffers) buffers += b.byteLength + 64; // + typed-array object
    return this.start.byteLength + this.used.byteLength + this.live.byteLength + buffers;
  }

  private compact(block: number, extra: number): void {
    const old = this.buffers[block]!;
    const next = new Uint8Array(Math.max(64, Math.ceil((this.live[block]! + extra) * GROWTH)));
    let at = 0;
    const first = block * BLOCK;
    const last = Math.min(first + BLOCK, this.capacity);
    for (let slot = first; slot < last; slot++) {
      const from = this.start[slot]! - 1;
      if (from < 0) continue;
      const [len, skip] = readVarint(old, from);
      next.set(old.subarray(from, from + skip + len), at);
      this.start[slot] = at + 1;
      at += skip + len;
    }
    this.buffers[block] = next;
    this.used[block] = at;
  }
}

function varintLength(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
}

function writeVarint(buf: Uint8Array, at: number, n: number): void {
  while (n >= 0x80) {
    buf[at++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[at] = n;
}

/** [value, bytes it took]. */
function readVarint(buf: Uint8Array, at: number): [number, number] {
  let n = 0;
  let shift = 1;
  let i = at;
  for (;;) {
    const b = buf[i++]!;
    n += (b & 0x7f) * shift;
    if (b < 0x80) return [n, i - at];
    shift *= 128;
  }
}
