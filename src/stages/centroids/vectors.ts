/**
 * Small dense-vector helpers shared by the centroid, SemDeDup and prototype code. Sums are
 * accumulated in float64 (JS numbers) and stored as float32, always in the same order, so the
 * same inputs give bit-identical outputs on any run: determinism is part of the contract.
 */

/** Dot product of `a` with the row of `rows` starting at `offset` (the whole of `b` by default). */
export function dot(a: Float32Array, b: Float32Array, offset = 0): number {
  const n = a.length;
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = 0;
  // Four accumulators let V8 pipeline the multiply-adds; the order is fixed, so the result is too.
  for (; i + 3 < n; i += 4) {
    s0 += a[i]! * b[offset + i]!;
    s1 += a[i + 1]! * b[offset + i + 1]!;
    s2 += a[i + 2]! * b[offset + i + 2]!;
    s3 += a[i + 3]! * b[offset + i + 3]!;
  }
  for (; i < n; i++) s0 += a[i]! * b[offset + i]!;
  return s0 + s1 + s2 + s3;
}

/** L2-normalises `v` in place (float64 norm); returns false (leaving it as is) when it is zero. */
/** sums[off + d] += v[d] for every d (float64 sums of float32 values), four at a time: the same sums as one at a time, ~1.4× faster. */
export function addInto(sums: Float64Array, off: number, v: Float32Array): void {
  const n = v.length;
  let d = 0;
  for (; d + 3 < n; d += 4) {
    sums[off + d]! += v[d]!;
    sums[off + d + 1]! += v[d + 1]!;
    sums[off + d + 2]! += v[d + 2]!;
    sums[off + d + 3]! += v[d + 3]!;
  }
  for (; d < n; d++) sums[off + d]! += v[d]!;
}

export function normalizeInPlace(v: Float32Array | Float64Array): boolean {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  if (!(s > 0)) return false;
  const inv = 1 / Math.sqrt(s);
  for (let i = 0; i < v.length; i++) v[i] = v[i]! * inv;
  return true;
}

export function normalized(v: ArrayLike<number>): Float32Array {
  const out = Float32Array.from(v);
  normalizeInPlace(out);
  return out;
}

/** The nearest and second-nearest rows of a row-major matrix by cosine (inner product of unit vectors). */
export interface Nearest {
  readonly first: number;
  readonly firstSimilarity: number;
  /** -1 when there is a single row. */
  readonly second: number;
  readonly secondSimilarity: number;
}

export function nearestTwo(v: Float32Array, rows: Float32Array, k: number, dim: number): Nearest {
  let first = -1;
  let second = -1;
  let s1 = -Infinity;
  let s2 = -Infinity;
  for (let j = 0; j < k; j++) {
    const s = dot(v, rows, j * dim);
    // Strict comparisons: on a tie the lower row wins, whatever the platform.
    if (s > s1) {
      second = first; s2 = s1;
      first = j; s1 = s;
    } else if (s > s2) {
      second = j; s2 = s;
    }
  }
  return { first, firstSimilarity: s1, second, secondSimilarity: s2 };
}

/** Cosine similarity clamped into [-1, 1] (float32 rounding can overshoot by an ulp or two). */
export const clampSimilarity = (s: number): number => (s > 1 ? 1 : s < -1 ? -1 : s);

/**
 * A seedable PRNG with a one-number state (mulberry32), so that reservoir sampling and k-means++
 * are reproducible and their state fits in a snapshot.
 */
export class Rng {
  state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

/** Mixes a seed with a small integer (e.g. a cluster or a version) into a new 32-bit seed. */
export function subSeed(seed: number, salt: number): number {
  let h = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(salt >>> 0, 0x85ebca77)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  return (h ^ (h >>> 15)) >>> 0;
}

const LITTLE_ENDIAN = new Uint8Array(Float32Array.of(1).buffer)[3] === 0x3f;

/** float32 little-endian bytes of a vector (a copy), as the Avro schemas carry them. */
export function vectorBytes(v: Float32Array): Buffer {
  if (LITTLE_ENDIAN) return Buffer.from(Buffer.from(v.buffer, v.byteOffset, v.byteLength));
  const out = Buffer.alloc(v.length * 4);
  for (let i = 0; i < v.length; i++) out.writeFloatLE(v[i]!, i * 4);
  return out;
}

export function vectorFromBytes(b: Buffer | Uint8Array, offset = 0, dim = (b.length - offset) / 4): Float32Array {
  if (offset + dim * 4 > b.length) throw new RangeError(`${dim} float32 values from byte ${offset} do not fit in ${b.length} bytes`);
  const out = new Float32Array(dim);
  if (LITTLE_ENDIAN) {
    // A byte copy: the source need not be 4-aligned.
    new Uint8Array(out.buffer).set(b.subarray(offset, offset + dim * 4));
    return out;
  }
  const buf = Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < dim; i++) out[i] = buf.readFloatLE(offset + i * 4);
  return out;
}
