/**
 * A streaming quantile sketch for cosine distances (1 − cosine, always in [0, 2]): a fixed
 * histogram of `BINS` equal bins with linear interpolation inside a bin, and exponential decay.
 *
 * Why not a general-purpose sketch: DDSketch (@datadog/sketches-js 2.1.1) and t-digest (tdigest
 * 0.1.3) are built for unbounded, heavy-tailed values and give relative-error guarantees; here
 * the domain is a fixed, short interval, where equal bins give an absolute error of at most half a
 * bin (0.001 with 1,000 bins) — below anything a keep rule can notice — and they also give what
 * those libraries lack: exact serialisation for snapshots, merging by addition, and decay
 * (multiplying every bin by the same factor), all deterministic.
 *
 * Memory: 8 KB per sketch (1,000 float64 bins), allocated on first use.
 */
export const BINS = 1000;
const LO = 0;
const HI = 2;
const WIDTH = (HI - LO) / BINS;
/** `toBytes`: the format byte (JSON starts with `{`, 0x7b) and the header's length (format 1's too, still read). */
const BYTES_FORMAT = 2;
const BYTES_HEAD = 40;
const V1_HEAD = 29;
const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

export class HistogramSketch {
  bins: Float64Array | undefined;
  /** Decayed total weight. */
  total = 0;
  /** Values ever added (not decayed): whether the sketch has seen enough to be trusted. */
  n = 0;
  /** The decay clock (in half-lives) when the bins were last brought up to date. */
  at = 0;
  private prefix: Float64Array | undefined;

  /** Brings the weights to clock `now` (weights halve per unit) before new values are added. */
  decayTo(now: number): void {
    if (now > this.at && this.bins) {
      const f = Math.pow(0.5, now - this.at);
      for (let i = 0; i < BINS; i++) this.bins[i] = this.bins[i]! * f;
      this.total *= f;
      this.prefix = undefined;
    }
    this.at = Math.max(this.at, now);
  }

  add(value: number, weight = 1): void {
    this.bins ??= new Float64Array(BINS);
    this.bins[binOf(value)]! += weight;
    this.total += weight;
    this.n++;
    this.prefix = undefined;
  }

  /** Fraction of the weight below `value` (0 when empty). */
  cdf(value: number): number {
    if (!this.bins || !(this.total > 0)) return 0;
    const p = this.prefixSums();
    const x = Math.min(HI, Math.max(LO, value));
    const b = Math.min(BINS - 1, Math.floor((x - LO) / WIDTH));
    const within = (x - LO - b * WIDTH) / WIDTH;
    return (p[b]! + within * this.bins[b]!) / this.total;
  }

  /** The value below which a fraction q of the weight lies (q in [0, 1]). */
  quantile(q: number): number {
    if (!this.bins || !(this.total > 0)) return LO;
    const p = this.prefixSums();
    const target = Math.min(1, Math.max(0, q)) * this.total;
    // The first bin whose upper edge reaches the target; interpolate inside it.
    let lo = 0;
    let hi = BINS - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (p[mid + 1]! >= target) hi = mid;
      else lo = mid + 1;
    }
    const w = this.bins[lo]!;
    const within = w > 0 ? (target - p[lo]!) / w : 0;
    return LO + (lo + Math.min(1, Math.max(0, within))) * WIDTH;
  }

  toJSON(): { at: number; n: number; total: number; bins: [number, number][] } {
    const bins: [number, number][] = [];
    if (this.bins) for (let i = 0; i < BINS; i++) if (this.bins[i] !== 0) bins.push([i, this.bins[i]!]);
    return { at: this.at, n: this.n, total: this.total, bins };
  }

  static fromJSON(j: { at: number; n: number; total: number; bins: [number, number][] }): HistogramSketch {
    const s = new HistogramSketch();
    s.at = j.at;
    s.n = j.n;
    s.total = j.total;
    if (j.bins.length > 0) {
      s.bins = new Float64Array(BINS);
      for (const [i, w] of j.bins) s.bins[i] = w;
    }
    return s;
  }

  /**
   * The sketch as bytes, for the changelog (one record per touched sketch per batch, so its cost
   * counts): format byte 2 and seven zero bytes, `at`, `n`, `total` (float64 LE), the count of
   * non-zero bins (uint32 LE) and four zero bytes, then the weights of those bins (float64 LE) and
   * their indices (uint16 LE), 40 + 10 bytes a bin. Exact, like `toJSON`; the weights are aligned,
   * so both arrays are written as typed arrays (format 1, the same fields interleaved a bin at a
   * time, cost ~15 µs a sketch in Buffer writes; it is still read).
   */
  toBytes(): Buffer {
    let count = 0;
    if (this.bins) for (let i = 0; i < BINS; i++) if (this.bins[i] !== 0) count++;
    // Node's small buffers come from a pool at 8-byte aligned offsets; a fresh ArrayBuffer otherwise.
    let b = Buffer.allocUnsafe(BYTES_HEAD + 10 * count);
    if (b.byteOffset % 8 !== 0) b = Buffer.from(new ArrayBuffer(b.length));
    b.fill(0, 0, 8);
    b.fill(0, 36, 40);
    b[0] = BYTES_FORMAT;
    b.writeDoubleLE(this.at, 8);
    b.writeDoubleLE(this.n, 16);
    b.writeDoubleLE(this.total, 24);
    b.writeUInt32LE(count, 32);
    if (this.bins && count > 0) {
      const weights = new Float64Array(b.buffer, b.byteOffset + BYTES_HEAD, count);
      const indices = new Uint16Array(b.buffer, b.byteOffset + BYTES_HEAD + 8 * count, count);
      for (let i = 0, c = 0; i < BINS; i++) {
        const w = this.bins[i]!;
        if (w === 0) continue;
        weights[c] = w;
        indices[c++] = i;
      }
      if (!LITTLE_ENDIAN) {
        // The typed arrays wrote this host's byte order: turn each value into little-endian.
        for (let c = 0; c < count; c++) b.writeDoubleLE(weights[c]!, BYTES_HEAD + 8 * c);
        for (let c = 0; c < count; c++) b.writeUInt16LE(indices[c]!, BYTES_HEAD + 8 * count + 2 * c);
      }
    }
    return b;
  }

  /** A sketch from `toBytes`' bytes (format 2, or 1 as written before 2026-12-04), or from its JSON (changelogs written before the bytes). */
  static fromBytes(b: Buffer): HistogramSketch {
    if (b[0] === 0x7b) return HistogramSketch.fromJSON(JSON.parse(b.toString('utf8')) as Parameters<typeof HistogramSketch.fromJSON>[0]);
    const v1 = b[0] === 1;
    const head = v1 ? V1_HEAD : BYTES_HEAD;
    if ((b[0] !== BYTES_FORMAT && !v1) || b.length < head) throw new Error(`not a sketch: format byte ${b[0]}, ${b.length} bytes`);
    const count = b.readUInt32LE(v1 ? 25 : 32);
    if (b.length !== head + 10 * count) throw new Error(`not a sketch: ${count} bins need ${head + 10 * count} bytes, got ${b.length}`);
    const s = new HistogramSketch();
    s.at = b.readDoubleLE(v1 ? 1 : 8);
    s.n = b.readDoubleLE(v1 ? 9 : 16);
    s.total = b.readDoubleLE(v1 ? 17 : 24);
    if (count > 0) {
      s.bins = new Float64Array(BINS);
      for (let c = 0; c < count; c++) {
        const i = v1 ? b.readUInt16LE(head + 10 * c) : b.readUInt16LE(head + 8 * count + 2 * c);
        if (i >= BINS) throw new Error(`not a sketch: bin ${i} of ${BINS}`);
        s.bins[i] = v1 ? b.readDoubleLE(head + 10 * c + 2) : b.readDoubleLE(head + 8 * c);
      }
    }
    return s;
  }

  private prefixSums(): Float64Array {
    if (!this.prefix) {
      const p = new Float64Array(BINS + 1);
      for (let i = 0; i < BINS; i++) p[i + 1] = p[i]! + this.bins![i]!;
      this.prefix = p;
    }
    return this.prefix;
  }
}

function binOf(value: number): number {
  const x = Math.min(HI, Math.max(LO, value));
  return Math.min(BINS - 1, Math.floor((x - LO) / WIDTH));
}
