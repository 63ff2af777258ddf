import { DotKernel, errorBound, norm, selectionKernel, type SelectionKernel } from '../kernels/dot-simd.js';
import { dot, nearestTwo } from './vectors.js';

/** `nearestTwo` of many vectors at once: row numbers and the scalar path's similarities. */
export interface NearestBatch {
  readonly first: Int32Array;
  /** NaN where not asked for (see `Similarities`). */
  readonly firstSimilarity: Float64Array;
  /** -1 when there is a single row. */
  readonly second: Int32Array;
  readonly secondSimilarity: Float64Array;
}

/**
 * Which similarities a caller needs: the rows are the same either way, but each similarity is one
 * scalar dot product per vector, which costs as much as ~30 rows of the SIMD product.
 */
export type Similarities = 'both' | 'first' | 'none';

/**
 * Queries per kernel call: one job for the selection threads, which cut it into pieces of queries
 * whose products with every row stay in their L2 cache. Calls of 64 queries left the threads
 * waiting on one another's wake-ups. At 100k (bench:select, 2 threads, 2026-12-04), alternating:
 * 64 queries a call 9,205 / 9,393 / 9,184 docs/s, 512 9,785 / 9,851 / 9,988 (+6.6%); 256, 1,024
 * and 4,096 measured within the noise of 512.
 */
const CHUNK = 512;

/** Where a RowMatrix's scratch space and its parts are (addresses), and its size. */
interface Scratch { readonly at: number; readonly stage: number; readonly queries: number; readonly pointers: number; readonly out: number; readonly idx: number; readonly bytes: number }
/** A RowMatrix's scratch space before it has any. */
const NO_SCRATCH: Scratch = { at: 0, stage: 0, queries: 0, pointers: 0, out: 0, idx: 0, bytes: 0 };

/** The int16 scale: rows are scaled by SCALE / (their largest norm), each query by SCALE / (an upper bound of its norm), so no value exceeds it. */
const SCALE = 32767;

/** The most an int16 value is off the scaled one: ½, and the float32 rounding of the product (≤ 2⁻²⁴·SCALE). */
const ELEMENT_ERROR = 0.5 + 2 ** -24 * SCALE * 1.01;

/** int16 values per stored row: the dimension rounded up to whole SIMD vectors of eight (the padding is zero). */
const stride16 = (dim: number): number => (dim + 7) & ~7;

/**
 * How far the kernel's value for a query and a row can be from the scalar `dot` of the two, in the
 * kernel's units (SCALE² · q̂·r / max‖r‖): the int16 roundings (each value within e = ELEMENT_ERROR
 * of the scaled one: 2·SCALE·e·√dim + e²·dim), the float32 of the integer sum (2⁻²⁴ of at most
 * (SCALE + e·√dim)²), and the scalar path's own rounding, all with room to spare.
 */
function int16Bound(dim: number): number {
  const e = ELEMENT_ERROR * Math.sqrt(dim);
  const rounding = 2 * SCALE * (1 + 2 ** -22) * e + e * e;
  const toFloat = 2 ** -24 * (SCALE * (1 + 2 ** -22) + e) ** 2;
  return (rounding + toFloat + SCALE * SCALE * errorBound(dim, 1, 1)) * (1 + 1e-6) + 1;
}

/**
 * A row-major matrix of k rows (centroids) held in a dot-product kernel's memory, for the
 * nearest and second-nearest row of many vectors at once: one matrix product (kernels/dot-simd.ts)
 * finds, per vector, the few rows whose approximate similarity is within the product's error bound
 * of the second best; only those get the scalar `dot`, and the top two among them are picked with
 * `nearestTwo`'s rule (strict comparisons in row order, so the lower row wins a tie). The result
 * is `nearestTwo`'s, bit for bit: rows outside that margin cannot be among the true top two.
 *
 * The product is in int16 (gemm16: eight multiply-adds an instruction, ~1.8× the float32 kernel
 * here): rows scaled by SCALE over their largest norm, each query by SCALE over its own, so that
 * every sum stays exact in int32. Its error bound (`int16Bound`, ~6·10⁻⁴ of the cosine at 384-d)
 * is some ten times the float32 kernel's, far below the gap between a vector's nearest centroids,
 * so the scalar `dot`s it leaves stay a few per vector.
 */
export class RowMatrix {
  private readonly kernel: DotKernel;
  private k = 0;
  private dim = 0;
  private stride = 0;
  private kPad = 0;
  private rows: Float32Array = new Float32Array(0);
  private rowNorm = 0;
  private rowsAt = 0;
  private rowsCapacity = 0;
  private scratch: Scratch = NO_SCRATCH;

  constructor(readonly mode: SelectionKernel = selectionKernel()) {
    this.kernel = new DotKernel(mode);
  }

  /** Installs `k` rows of `dim` (the array is referenced, not copied, for the scalar recomputations). */
  load(rows: Float32Array, k: number, dim: number): void {
    if (rows.length < k * dim) throw new Error(`${rows.length} values are not ${k} rows of ${dim}`);
    this.rows = rows;
    this.k = k;
    this.dim = dim;
    this.stride = stride16(dim);
    this.kPad = (k + 3) & ~3;
    const bytes = this.kPad * this.stride * 2;
    if (bytes > this.rowsCapacity) {
      // The rows and the scratch space (whose products grow with k) laid out afresh from the
      // bottom of the memory: every row is quantised again below anyway, so a growing k leaves
      // no abandoned copies behind (the memory is that of the largest k).
      this.kernel.reset();
      this.rowsAt = this.kernel.alloc(bytes);
      this.rowsCapacity = bytes;
      this.scratch = NO_SCRATCH;
    }
    let maxNorm = 0;
    for (let j = 0; j < k; j++) {
      const n = norm(rows.subarray(j * dim, (j + 1) * dim));
      maxNorm = n > maxNorm || Number.isNaN(n) ? n : maxNorm;
    }
    this.rowNorm = maxNorm;
    const base = this.rowsAt >> 1;
    this.kernel.i16.fill(0, base, base + this.kPad * this.stride);
    if (!(maxNorm > 0 && Number.isFinite(maxNorm))) return; // the scalar path serves every vector
    const { stage } = this.ensureScratch(CHUNK);
    for (let j = 0; j < k; j++) {
      this.stage(rows.subarray(j * dim, (j + 1) * dim), stage);
      this.kernel.quantize16(stage, this.stride, this.rowsAt + j * this.stride * 2, SCALE / maxNorm);
    }
  }

  /** For every vector (each `dim` long), its nearest and second-nearest row, as `nearestTwo` finds them. */
  nearestTwo(vectors: readonly Float32Array[], similarities: Similarities = 'both'): NearestBatch {
    const n = vectors.length;
    const out: NearestBatch = { first: new Int32Array(n), firstSimilarity: new Float64Array(n), second: new Int32Array(n), secondSimilarity: new Float64Array(n) };
    const { k, dim } = this;
    const put = (i: number, r: { first: number; firstSimilarity: number; second: number; secondSimilarity: number }) => {
      out.first[i] = r.first; out.firstSimilarity[i] = r.firstSimilarity; out.second[i] = r.second; out.secondSimilarity[i] = r.secondSimilarity;
    };
    for (const v of vectors) if (v.length !== dim) throw new Error(`a ${v.length}-d vector cannot be assigned to ${dim}-d rows`);
    if (this.mode === 'reference' || k < 3 || !(this.rowNorm > 0 && Number.isFinite(this.rowNorm))) {
      vectors.forEach((v, i) => put(i, nearestTwo(v, this.rows, k, dim)));
      return out;
    }
    const s = this.ensureScratch(Math.min(CHUNK, n));
    const strideBytes = this.stride * 2;
    const delta = int16Bound(dim);
    const candidates: number[] = [];
    const scalar = new Uint8Array(CHUNK);
    for (let c0 = 0; c0 < n; c0 += CHUNK) {
      const m = Math.min(CHUNK, n - c0);
      const ptr = this.kernel.i32;
      for (let t = 0; t < m; t++) {
        const at = s.queries + t * strideBytes;
        const stage = s.stage;
        this.stage(vectors[c0 + t]!, stage);
        // Scaled by an upper bound of its norm: no value above SCALE. One with a value that is not finite is the scalar path's.
        const qn = this.kernel.normBound(stage, this.stride);
        scalar[t] = Number.isFinite(qn) ? 0 : 1;
        this.kernel.quantize16(stage, this.stride, at, scalar[t] ? 0 : SCALE / qn);
        ptr[(s.pointers >> 2) + t] = at;
      }
      this.kernel.gemm16(s.pointers, m, this.rowsAt, this.kPad, strideBytes, s.out, this.kPad);
      const f = this.kernel.f32;
      for (let t = 0; t < m; t++) {
        const v = vectors[c0 + t]!;
        if (scalar[t]) {
          put(c0 + t, nearestTwo(v, this.rows, k, dim));
          continue;
        }
        // Every row of the true top two is within 2δ of the second-largest value of the product.
        const count = this.kernel.scan(s.out + t * this.kPad * 4, k, true, s.idx, 2 * delta, -Infinity);
        const idx = this.kernel.i32;
        if (count === 2 && similarities !== 'both') {
          // Exactly two rows can be the top two; when their values are more than 2δ
          // apart, their order is certain too and only the similarities asked for are computed.
          const j1 = idx[s.idx >> 2]!;
          const j2 = idx[(s.idx >> 2) + 1]!;
          const x1 = f[(s.out >> 2) + t * this.kPad + j1]!;
          const x2 = f[(s.out >> 2) + t * this.kPad + j2]!;
          if (Math.abs(x1 - x2) > 2 * delta) {
            const [a, b] = x1 > x2 ? [j1, j2] : [j2, j1];
            put(c0 + t, { first: a, firstSimilarity: similarities === 'first' ? dot(v, this.rows, a * dim) : NaN, second: b, secondSimilarity: NaN });
            continue;
          }
        }
        candidates.length = 0;
        for (let c = 0; c < count; c++) candidates.push(idx[(s.idx >> 2) + c]!);
        let first = -1;
        let second = -1;
        let s1 = -Infinity;
        let s2 = -Infinity;
        for (const j of candidates) {
          const x = dot(v, this.rows, j * dim);
          if (x > s1) {
            second = first; s2 = s1;
            first = j; s1 = x;
          } else if (x > s2) {
            second = j; s2 = x;
          }
        }
        if (first < 0) put(c0 + t, nearestTwo(v, this.rows, k, dim)); // NaN similarities: the scalar path decides
        else put(c0 + t, { first, firstSimilarity: s1, second, secondSimilarity: s2 });
      }
    }
    return out;
  }

  /** `v` (dim values) as float32 at `stage`, zeros up to the stride. */
  private stage(v: Float32Array, stage: number): void {
    const f = this.kernel.f32;
    f.set(v, stage >> 2);
    if (this.stride !== this.dim) f.fill(0, (stage >> 2) + this.dim, (stage >> 2) + this.stride);
  }

  /** Lets the kernel's memory go now (see DotKernel.release); the matrix is not used after. */
  release(): void {
    this.kernel.release();
  }

  /** Bytes of kernel memory held (the rows' copy and the scratch space). */
  bytes(): number {
    return this.kernel.bytes;
  }

  private ensureScratch(queries: number): Scratch {
    const strideBytes = this.stride * 2;
    const sBytes = this.stride * 4; // one float32 query at a time, quantised from there
    const qBytes = (queries + 1) * strideBytes;
    const pBytes = (queries + 2) * 4;
    const oBytes = (queries + 1) * this.kPad * 4;
    const iBytes = (this.kPad * 4 + 15) & ~15;
    const need = sBytes + qBytes + pBytes + oBytes + iBytes + 80;
    if (need > this.scratch.bytes) this.scratch = { ...this.scratch, at: this.kernel.alloc(need), bytes: need };
    const stage = this.scratch.at;
    const at = stage + ((sBytes + 15) & ~15);
    const pointers = at + ((qBytes + 15) & ~15);
    const out = pointers + ((pBytes + 15) & ~15);
    this.scratch = { ...this.scratch, stage, queries: at, pointers, out, idx: out + ((oBytes + 15) & ~15) };
    return this.scratch;
  }
}
