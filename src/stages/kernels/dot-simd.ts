/**
 * Dot products of many vectors with many rows, as a WebAssembly SIMD kernel: the matrix product
 * behind batched centroid assignment (centroid-store.ts), k-means and the flat search of the
 * semantic index (cluster-index-store.ts).
 *
 * The kernel computes in float32 (four lanes, products rounded, no fused multiply-add), which is
 * not what the scalar path computes (float64 sums of float32 products, vectors.ts `dot`). It is only
 * ever used as a filter: with n = dim, any float32 evaluation of a dot product is within
 * γ_n·Σ|a_i·b_i| ≤ γ_n·‖a‖·‖b‖ of the real value (γ_n = n·u/(1 − n·u), u = 2⁻²⁴), and so is the
 * scalar float64 sum, far closer. `errorBound` adds both with a factor two to spare. Callers keep
 * every row whose float32 value is within that margin of deciding, and recompute those with the
 * scalar `dot`: the decisions, and every similarity they report, are the scalar path's, bit for bit.
 *
 * (func (export "gemm") (param $qp $nq $r $nr $dimb $out $ldo i32)
 *   ;; $qp: $nq i32 addresses of query rows; $r: $nr (a multiple of 4) rows of $dimb bytes
 *   ;; (a multiple of 16); out[i·$ldo + j] = q_i · r_j as float32
 *   for $i = 0; $i + 2 ≤ $nq; $i += 2:              ;; two queries (the last of an odd count alone) ...
 *     $qa, $qb = i32.load $qp+4·$i, +4·$i+4
 *     for $j = 0; $j < $nr; $j += 4:                ;; ... against four rows: 8 accumulators
 *       acc0..acc7 = 0
 *       for $p = 0; $p < $dimb; $p += 16:
 *         x = v128.load $qa+$p; y = v128.load $qb+$p
 *         for t = 0..3: a = v128.load $r_t+$p; acc_t += x·a; acc_{4+t} += y·a
 *       out[$i][$j+t] = hsum(acc_t); out[$i+1][$j+t] = hsum(acc_{4+t})
 *
 * (func (export "gemm16") (param $qp $nq $r $nr $dimb $out $ldo i32)
 *   ;; the same on int16 rows and queries ($dimb bytes, a multiple of 16): eight products a step
 *   ;; summed in pairs into int32 lanes (i32x4.dot_i16x8_s), exact while |q|·|r| < 2³¹;
 *   ;; out[i·$ldo + j] = float32(Σ q_i·r_j) (see RowMatrix for the scales and the error bound)
 *
 * (func (export "scan") (param $row $n $second $idx i32) (param $slack $floorMin f32) (result i32)
 *   ;; the indices of the values of row[0..n) at or above max((second ? a2 : a1) − slack, floorMin),
 *   ;; with a1 ≥ a2 the two largest values, written to $idx; returns how many
 *   a1 = a2 = −∞; for x in row: a2 = max(a2, min(a1, x)); a1 = max(a1, x)   ;; four lanes at a time, then folded
 *   for j: if row[j] ≥ floor: idx[count++] = j)                             ;; a lane mask per four values
 *
 * (func (export "quantize16") (param $src $n $dst i32) (param $scale f32)
 *   ;; dst[i] = int16(nearest(float32(src[i] · scale))), saturated at ±32767, for i < $n (a multiple of 8)
 *
 * (func (export "sumsq") (param $v $dimb i32) (result f32)   ;; Σ v_i² in float32, four lanes
 */
import { assembleModule, F32, I32, instantiate, op, sharedMemory, simdModule, V128, type WasmFunction, type WasmMemory } from './wasm-asm.js';
import { gemmPool, runList, type GemmFn, type GemmPool } from './parallel.js';

/** The kernel memory's first allocated address (below it: nothing, so that 0 is never a valid address). */
const FIRST_ADDRESS = 1024;

const QP = 0, NQ = 1, R = 2, NR = 3, DIMB = 4, OUT = 5, LDO = 6;
const I = 7, J = 8, P = 9, QA = 10, QB = 11, R0 = 12, OA = 16, OB = 17, LDOB = 18;
const X = 19, Y = 20, AV = 21, ACC = 22;

/**
 * The loop over the rows for one pair of queries (or, with `pair` false, the last single one). With
 * `int16`, rows and queries are int16 and each step is eight multiply-adds a lane pair
 * (i32x4.dot_i16x8_s) into int32 accumulators, written out converted to float32 (gemm16).
 */
function rowLoop(pair: boolean, int16: boolean): number[] {
  const t4 = [0, 1, 2, 3];
  const lane = int16 ? op.i32x4extractLane : op.f32x4extractLane;
  const add = int16 ? op.i32add : op.f32add;
  const hsum = (acc: number) => [
    ...op.get(acc), ...lane(0), ...op.get(acc), ...lane(1), ...add,
    ...op.get(acc), ...lane(2), ...op.get(acc), ...lane(3), ...add, ...add,
    ...(int16 ? op.f32convertI32S : []),
  ];
  // acc += x·a, lane-wise (float32: rounded product, then sum; int16: exact pair sums).
  const madd = (acc: number, x: number) => [
    ...op.get(acc), ...op.get(x), ...op.get(AV), ...(int16 ? [...op.i32x4dotI16x8S, ...op.i32x4add] : [...op.f32x4mul, ...op.f32x4add]), ...op.set(acc),
  ];
  // One step: 16 bytes of both queries against the four rows. (Unrolling this twice, with
  // immediate load offsets, measured no faster on V8 11.)
  const step = (offset: number) => [
    ...op.get(QA), ...op.get(P), ...op.i32add, ...op.v128load(offset), ...op.set(X),
    ...(pair ? [...op.get(QB), ...op.get(P), ...op.i32add, ...op.v128load(offset), ...op.set(Y)] : []),
    ...t4.flatMap((t) => [
      ...op.get(R0 + t), ...op.get(P), ...op.i32add, ...op.v128load(offset), ...op.set(AV),
      ...madd(ACC + t, X),
      ...(pair ? madd(ACC + 4 + t, Y) : []),
    ]),
  ];
  return [
    ...op.get(R), ...op.set(R0),
    ...op.i32const(0), ...op.set(J),
    ...op.block, ...op.loop,
    ...op.get(J), ...op.get(NR), ...op.i32geU, ...op.brIf(1),
    ...[1, 2, 3].flatMap((t) => [...op.get(R0 + t - 1), ...op.get(DIMB), ...op.i32add, ...op.set(R0 + t)]),
    ...t4.flatMap((t) => [...op.v128zero, ...op.set(ACC + t), ...(pair ? [...op.v128zero, ...op.set(ACC + 4 + t)] : [])]),
    ...op.i32const(0), ...op.set(P),
    ...op.block, ...op.loop,
    ...op.get(P), ...op.get(DIMB), ...op.i32geU, ...op.brIf(1),
    ...step(0),
    ...op.get(P), ...op.i32const(16), ...op.i32add, ...op.set(P),
    ...op.br(0), ...op.end, ...op.end,
    ...t4.flatMap((t) => [
      ...op.get(OA), ...op.get(J), ...op.i32const(2), ...op.i32shl, ...op.i32add, ...hsum(ACC + t), ...op.f32store(4 * t),
      ...(pair ? [...op.get(OB), ...op.get(J), ...op.i32const(2), ...op.i32shl, ...op.i32add, ...hsum(ACC + 4 + t), ...op.f32store(4 * t)] : []),
    ]),
    ...op.get(R0 + 3), ...op.get(DIMB), ...op.i32add, ...op.set(R0),
    ...op.get(J), ...op.i32const(4), ...op.i32add, ...op.set(J),
    ...op.br(0), ...op.end, ...op.end,
  ];
}

function gemmBody(int16: boolean): number[] {
  return [
    ...op.get(LDO), ...op.i32const(2), ...op.i32shl, ...op.set(LDOB),
    ...op.i32const(0), ...op.set(I),
    // Pairs of queries while two are left.
    ...op.block, ...op.loop,
    ...op.get(I), ...op.i32const(2), ...op.i32add, ...op.get(NQ), 0x4b, ...op.brIf(1), // i32.gt_u: i + 2 > nq, done
    ...op.get(QP), ...op.get(I), ...op.i32const(2), ...op.i32shl, ...op.i32add, ...op.tee(QA), ...op.i32load(4), ...op.set(QB),
    ...op.get(QA), ...op.i32load(0), ...op.set(QA),
    ...op.get(OUT), ...op.get(I), ...op.get(LDOB), ...op.i32mul, ...op.i32add, ...op.tee(OA), ...op.get(LDOB), ...op.i32add, ...op.set(OB),
    ...rowLoop(true, int16),
    ...op.get(I), ...op.i32const(2), ...op.i32add, ...op.set(I),
    ...op.br(0), ...op.end, ...op.end,
    // The last query of an odd count, alone.
    ...op.block,
    ...op.get(I), ...op.get(NQ), ...op.i32geU, ...op.brIf(0),
    ...op.get(QP), ...op.get(I), ...op.i32const(2), ...op.i32shl, ...op.i32add, ...op.i32load(0), ...op.set(QA),
    ...op.get(OUT), ...op.get(I), ...op.get(LDOB), ...op.i32mul, ...op.i32add, ...op.set(OA),
    ...rowLoop(false, int16),
    ...op.end,
  ];
}

// scan: parameters and locals, by index.
const ROW = 0, SN = 1, SECOND = 2, IDX = 3, SLACK = 4, FLOORMIN = 5;
const SP = 6, SEND = 7, SJ = 8, CNT = 9, SEND4 = 10, MASK = 11, A1 = 12, A2 = 13, SX = 14, FLOOR = 15, VA1 = 16, VA2 = 17, VX = 18;

/**
 * The two largest values four lanes at a time (each lane's top two, then the eight folded, then
 * the tail: the same two values as one pass in order), and the indices at or above the floor from
 * a lane mask per four values (most groups have none).
 */
function scanBody(): number[] {
  // a2 = max(a2, min(a1, x)); a1 = max(a1, x), for the f32 on the stack top (kept in SX).
  const fold = [
    ...op.set(SX),
    ...op.get(A2), ...op.get(A1), ...op.get(SX), ...op.f32min, ...op.f32max, ...op.set(A2),
    ...op.get(A1), ...op.get(SX), ...op.f32max, ...op.set(A1),
  ];
  const store = (lane: number) => [
    ...op.get(MASK), ...op.i32const(1 << lane), ...op.i32and, ...op.if,
    ...op.get(IDX), ...op.get(CNT), ...op.i32const(2), ...op.i32shl, ...op.i32add, ...op.get(SJ), ...op.i32const(lane), ...op.i32add, ...op.i32store(),
    ...op.get(CNT), ...op.i32const(1), ...op.i32add, ...op.set(CNT),
    ...op.end,
  ];
  return [
    ...op.f32const(-Infinity), ...op.f32x4splat, ...op.set(VA1), ...op.get(VA1), ...op.set(VA2),
    ...op.get(ROW), ...op.set(SP),
    ...op.get(ROW), ...op.get(SN), ...op.i32const(2), ...op.i32shl, ...op.i32add, ...op.set(SEND),
    ...op.get(ROW), ...op.get(SN), ...op.i32const(-4), ...op.i32and, ...op.i32const(2), ...op.i32shl, ...op.i32add, ...op.set(SEND4),
    ...op.block, ...op.loop,
    ...op.get(SP), ...op.get(SEND4), ...op.i32geU, ...op.brIf(1),
    ...op.get(SP), ...op.v128load(), ...op.set(VX),
    ...op.get(VA2), ...op.get(VA1), ...op.get(VX), ...op.f32x4min, ...op.f32x4max, ...op.set(VA2),
    ...op.get(VA1), ...op.get(VX), ...op.f32x4max, ...op.set(VA1),
    ...op.get(SP), ...op.i32const(16), ...op.i32add, ...op.set(SP),
    ...op.br(0), ...op.end, ...op.end,
    ...op.f32const(-Infinity), ...op.set(A1), ...op.f32const(-Infinity), ...op.set(A2),
    ...[0, 1, 2, 3].flatMap((l) => [...op.get(VA1), ...op.f32x4extractLane(l), ...fold, ...op.get(VA2), ...op.f32x4extractLane(l), ...fold]),
    ...op.block, ...op.loop,
    ...op.get(SP), ...op.get(SEND), ...op.i32geU, ...op.brIf(1),
    ...op.get(SP), ...op.f32load(), ...fold,
    ...op.get(SP), ...op.i32const(4), ...op.i32add, ...op.set(SP),
    ...op.br(0), ...op.end, ...op.end,
    // floor = max((second ? a2 : a1) − slack, floorMin)
    ...op.get(A2), ...op.get(A1), ...op.get(SECOND), 0x1b, ...op.get(SLACK), ...op.f32sub, ...op.get(FLOORMIN), ...op.f32max, ...op.set(FLOOR),
    ...op.get(FLOOR), ...op.f32x4splat, ...op.set(VX),
    ...op.i32const(0), ...op.set(CNT), ...op.i32const(0), ...op.set(SJ), ...op.get(ROW), ...op.set(SP),
    ...op.block, ...op.loop,
    ...op.get(SP), ...op.get(SEND4), ...op.i32geU, ...op.brIf(1),
    ...op.get(SP), ...op.v128load(), ...op.get(VX), ...op.f32x4ge, ...op.i32x4bitmask, ...op.tee(MASK), ...op.if,
    ...[0, 1, 2, 3].flatMap(store),
    ...op.end,
    ...op.get(SP), ...op.i32const(16), ...op.i32add, ...op.set(SP),
    ...op.get(SJ), ...op.i32const(4), ...op.i32add, ...op.set(SJ),
    ...op.br(0), ...op.end, ...op.end,
    ...op.block, ...op.loop,
    ...op.get(SJ), ...op.get(SN), ...op.i32geU, ...op.brIf(1),
    ...op.get(SP), ...op.f32load(), ...op.get(FLOOR), ...op.f32ge, ...op.if,
    ...op.get(IDX), ...op.get(CNT), ...op.i32const(2), ...op.i32shl, ...op.i32add, ...op.get(SJ), ...op.i32store(),
    ...op.get(CNT), ...op.i32const(1), ...op.i32add, ...op.set(CNT),
    ...op.end,
    ...op.get(SP), ...op.i32const(4), ...op.i32add, ...op.set(SP),
    ...op.get(SJ), ...op.i32const(1), ...op.i32add, ...op.set(SJ),
    ...op.br(0), ...op.end, ...op.end,
    ...op.get(CNT),
  ];
}

/** quantize16: int16 of float32 values · scale, rounded to nearest, saturated at ±32767, eight a step. */
function quantizeBody(): number[] {
  const SRC = 0, N = 1, DST = 2, SC = 3, Q = 4, E = 5, A = 6, B = 7, S = 8;
  const scaled = (offset: number) => [...op.get(Q), ...op.v128load(offset), ...op.get(S), ...op.f32x4mul, ...op.f32x4nearest, ...op.i32x4truncSatF32x4S];
  return [
    ...op.get(SC), ...op.f32x4splat, ...op.set(S),
    ...op.get(SRC), ...op.set(Q), ...op.get(SRC), ...op.get(N), ...op.i32const(2), ...op.i32shl, ...op.i32add, ...op.set(E),
    ...op.block, ...op.loop,
    ...op.get(Q), ...op.get(E), ...op.i32geU, ...op.brIf(1),
    ...scaled(0), ...op.set(A), ...scaled(16), ...op.set(B),
    // Saturated to ±32767, never -32768: two products of -32768² would overflow an int32 lane of dot_i16x8.
    ...op.get(DST), ...op.get(A), ...op.get(B), ...op.i16x8narrowI32x4S, ...op.v128const([0, 1, 2, 3, 4, 5, 6, 7].flatMap(() => [0x01, 0x80])), ...op.i16x8maxS, ...op.v128store(),
    ...op.get(Q), ...op.i32const(32), ...op.i32add, ...op.set(Q),
    ...op.get(DST), ...op.i32const(16), ...op.i32add, ...op.set(DST),
    ...op.br(0), ...op.end, ...op.end,
  ];
}

function sumsqBody(): number[] {
  const V = 0, DB = 1, Q = 2, E = 3, ACC1 = 4, X1 = 5;
  return [
    ...op.v128zero, ...op.set(ACC1),
    ...op.get(V), ...op.set(Q), ...op.get(V), ...op.get(DB), ...op.i32add, ...op.set(E),
    ...op.block, ...op.loop,
    ...op.get(Q), ...op.get(E), ...op.i32geU, ...op.brIf(1),
    ...op.get(Q), ...op.v128load(), ...op.tee(X1), ...op.get(X1), ...op.f32x4mul, ...op.get(ACC1), ...op.f32x4add, ...op.set(ACC1),
    ...op.get(Q), ...op.i32const(16), ...op.i32add, ...op.set(Q),
    ...op.br(0), ...op.end, ...op.end,
    ...op.get(ACC1), ...op.f32x4extractLane(0), ...op.get(ACC1), ...op.f32x4extractLane(1), ...op.f32add,
    ...op.get(ACC1), ...op.f32x4extractLane(2), ...op.get(ACC1), ...op.f32x4extractLane(3), ...op.f32add, ...op.f32add,
  ];
}

const functions = (): WasmFunction[] => [
  { name: 'gemm', params: 7, locals: [[12, I32], [11, V128]], body: gemmBody(false) },
  { name: 'gemm16', params: 7, locals: [[12, I32], [11, V128]], body: gemmBody(true) },
  { name: 'scan', params: 6, paramTypes: [I32, I32, I32, I32, F32, F32], result: I32, locals: [[6, I32], [4, F32], [3, V128]], body: scanBody() },
  { name: 'sumsq', params: 2, result: F32, locals: [[2, I32], [2, V128]], body: sumsqBody() },
  { name: 'quantize16', params: 4, paramTypes: [I32, I32, I32, F32], locals: [[2, I32], [3, V128]], body: quantizeBody() },
];
const assemble = () => assembleModule(functions());

/** The same kernel on an imported shared memory, for the threads of the pool (parallel.ts). */
export function sharedDotModule(): object | null {
  return simdModule('dot-shared', () => assembleModule(functions(), { sharedMemory: true }));
}

/** Which arithmetic the batched selection paths use (see `setSelectionKernel`). */
export type SelectionKernel = 'simd' | 'js' | 'reference';

let kernelMode: SelectionKernel | undefined;

/**
 * `simd`: the WebAssembly kernel as a filter, verified with the scalar `dot` (the default where
 * WebAssembly SIMD exists); `js`: the same filter computed in JavaScript (the default elsewhere,
 * and with D4_NO_SIMD set); `reference`: no filter, every dot product scalar, one document at a
 * time — the path the others must agree with, kept for tests and benchmarks.
 */
export function setSelectionKernel(mode: SelectionKernel | undefined): void {
  kernelMode = mode;
}

export function selectionKernel(): SelectionKernel {
  if (kernelMode) return kernelMode;
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.['D4_SELECT_KERNEL'];
  if (env === 'reference' || env === 'js') return env;
  return simdModule('dot', assemble) ? 'simd' : 'js';
}

const U32 = 2 ** -24;

/**
 * How far a float32 evaluation of a·b (either kernel) and the scalar float64 `dot` can be apart,
 * for vectors of `dim` values and norms at most `normA`, `normB`: NaN when a norm is not finite
 * (then nothing may be filtered).
 */
export function errorBound(dim: number, normA: number, normB: number): number {
  const n = dim + 2;
  return 2 * ((n * U32) / (1 - n * U32)) * normA * normB + 1e-30;
}

export function norm(v: Float32Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  return Math.sqrt(s);
}

const PAGE_BYTES = 65536;

/**
 * One kernel instance with its own linear memory: a bump allocator (callers keep their own free
 * lists), float32 / int32 views that follow the memory as it grows, and `gemm`. Without
 * WebAssembly SIMD (mode `js`), the same memory model over a growable ArrayBuffer and the same
 * product in JavaScript.
 */
export class DotKernel {
  readonly simd: boolean;
  private readonly memory: WasmMemory;
  private readonly wasmGemm: GemmFn | undefined;
  private readonly wasmGemm16: GemmFn | undefined;
  private readonly wasmSumsq: ((v: number, dimb: number) => number) | undefined;
  private readonly wasmQuantize: ((src: number, n: number, dst: number, scale: number) => void) | undefined;
  private readonly wasmScan: ((row: number, n: number, second: number, idx: number, slack: number, floorMin: number) => number) | undefined;
  private top = FIRST_ADDRESS;
  private f32View: Float32Array;
  private i32View: Int32Array;
  private i16View: Int16Array;
  private viewOf: ArrayBuffer;

  /** With several selection threads: the pool its products are shared with, and its memory's id there. */
  private readonly pool: GemmPool | undefined;
  private readonly poolId: number = 0;

  constructor(mode: SelectionKernel = selectionKernel()) {
    const pool = mode === 'simd' ? gemmPool() : undefined;
    const module = mode === 'simd' ? (pool ? sharedDotModule() : simdModule('dot', assemble)) : null;
    if (module) {
      const e = instantiate(module, pool ? sharedMemory() : undefined) as unknown as { memory: WasmMemory; gemm: GemmFn; gemm16: GemmFn; quantize16: DotKernel['wasmQuantize']; scan: DotKernel['wasmScan']; sumsq: DotKernel['wasmSumsq'] };
      this.memory = e.memory;
      this.pool = pool;
      if (pool) this.poolId = pool.register(e.memory, this);
      this.wasmGemm = e.gemm;
      this.wasmGemm16 = e.gemm16;
      this.wasmQuantize = e.quantize16;
      this.wasmScan = e.scan;
      this.wasmSumsq = e.sumsq;
    } else {
      let buffer = new ArrayBuffer(PAGE_BYTES);
      this.memory = {
        get buffer() { return buffer; },
        grow(pages: number) {
          const old = buffer.byteLength / PAGE_BYTES;
          const next = new ArrayBuffer(buffer.byteLength + pages * PAGE_BYTES);
          new Uint8Array(next).set(new Uint8Array(buffer));
          buffer = next;
          return old;
        },
      };
      this.wasmGemm = undefined;
      this.wasmGemm16 = undefined;
      this.wasmQuantize = undefined;
      this.wasmScan = undefined;
      this.wasmSumsq = undefined;
      this.pool = undefined;
    }
    this.simd = this.wasmGemm !== undefined;
    this.viewOf = this.memory.buffer;
    this.f32View = new Float32Array(this.viewOf);
    this.i32View = new Int32Array(this.viewOf);
    this.i16View = new Int16Array(this.viewOf);
  }

  /**
   * For a kernel used a short while (a k-means fit): the pool's threads let go of its memory now
   * rather than when this object is collected. The kernel is not used after.
   */
  release(): void {
    this.pool?.release(this.poolId, this);
  }

  /** Bytes of memory in use. */
  get bytes(): number {
    return this.memory.buffer.byteLength;
  }

  /** `bytes` more bytes, 16-aligned, zero-filled; the address. Views taken before may be stale: use `f32`/`i32` again. */
  alloc(bytes: number): number {
    const at = this.top;
    const end = at + ((bytes + 15) & ~15);
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      const pages = Math.ceil((end - have) / PAGE_BYTES);
      // Grow by at least an eighth, so that growing one page at a time stays linear.
      const want = Math.max(pages, Math.ceil(have / PAGE_BYTES / 8));
      try {
        this.memory.grow(want);
      } catch {
        try {
          this.memory.grow(pages);
        } catch (e) {
          throw new Error(`vector memory exhausted: ${have} bytes held, ${end - have} more needed (WebAssembly memory is limited to 4 GiB)`, { cause: e });
        }
      }
    }
    this.top = end;
    return at;
  }

  /** Forgets every allocation: the next `alloc` starts at the bottom again (the memory stays as large; what it holds is not cleared). */
  reset(): void {
    this.top = FIRST_ADDRESS;
  }

  /** A float32 view of the whole memory (index = address / 4). */
  get f32(): Float32Array {
    this.refresh();
    return this.f32View;
  }

  get i32(): Int32Array {
    this.refresh();
    return this.i32View;
  }

  /** An int16 view of the whole memory (index = address / 2). */
  get i16(): Int16Array {
    this.refresh();
    return this.i16View;
  }

  /**
   * out[i·ldo + j] ≈ q_i · r_j for the `nq` queries whose addresses are the int32 values at `qp`,
   * and `nr` (a multiple of 4) consecutive rows of `strideBytes` (a multiple of 16) from `r`.
   */
  gemm(qp: number, nq: number, r: number, nr: number, strideBytes: number, out: number, ldo: number): void {
    this.product(false, qp, nq, r, nr, strideBytes, out, ldo);
  }

  /**
   * The float32 `gemm`s listed at `table`: `calls` of CALL_WORDS int32 each (qp, nq, r, nr,
   * strideBytes, out, ldo; parallel.ts), `macs` multiply-adds in all. With a pool its threads
   * share the list, a few products a chunk: many small products (a cluster's pages) in one job.
   */
  gemmList(table: number, calls: number, macs: number): void {
    if (this.wasmGemm && this.pool) this.pool.gemmList(this.poolId, this.wasmGemm, () => this.i32, table, calls, macs);
    else runList(this.i32, (qp, nq, r, nr, sb, out, ldo) => this.gemm(qp, nq, r, nr, sb, out, ldo), table, 0, calls);
  }

  /**
   * `gemm` on int16 queries and rows (`strideBytes` of int16 values): out[i·ldo + j] = float32 of
   * the exact integer Σ q_i·r_j, which must stay below 2³¹ in magnitude (RowMatrix scales for it).
   */
  gemm16(qp: number, nq: number, r: number, nr: number, strideBytes: number, out: number, ldo: number): void {
    this.product(true, qp, nq, r, nr, strideBytes, out, ldo);
  }

  /**
   * int16 of the `n` (a multiple of 8) float32 values at `src` times `scale`, to `dst` (both
   * 16-aligned; they may be the same address): each within ½ + 2⁻²⁴·|value·scale| of the scaled
   * value (the product is rounded to float32 first), saturated to ±32767.
   */
  quantize16(src: number, n: number, dst: number, scale: number): void {
    if (this.wasmQuantize) return this.wasmQuantize(src, n, dst, scale);
    const f = this.f32;
    const v = this.i16;
    const sc = Math.fround(scale);
    for (let i = 0; i < n; i++) v[(dst >> 1) + i] = Math.max(-32767, Math.min(32767, Math.round(Math.fround(f[(src >> 2) + i]! * sc))));
  }

  private product(int16: boolean, qp: number, nq: number, r: number, nr: number, strideBytes: number, out: number, ldo: number): void {
    const wasm = int16 ? this.wasmGemm16 : this.wasmGemm;
    if (wasm) {
      if (this.pool) this.pool.gemm(this.poolId, int16, wasm, qp, nq, r, nr, strideBytes, out, ldo);
      else wasm(qp, nq, r, nr, strideBytes, out, ldo);
      return;
    }
    const f = this.f32;
    const a = this.i32;
    const v = int16 ? this.i16 : f;
    const shift = int16 ? 1 : 2;
    const stride = strideBytes >> shift;
    for (let i = 0; i < nq; i++) {
      const q = a[(qp >> 2) + i]! >> shift;
      const o = (out >> 2) + i * ldo;
      for (let j = 0; j < nr; j++) {
        const rr = (r >> shift) + j * stride;
        let s = 0;
        for (let d = 0; d < stride; d++) s += v[q + d]! * v[rr + d]!;
        f[o + j] = s;
      }
    }
  }

  /**
   * The indices (written as int32 at `idx`) of the float32 values row[0..n) at or above
   * max(a − slack, floorMin), where a is the largest value, or the second largest with `second`;
   * returns how many. `slack` is rounded up and `floorMin` to nearest float32, so that no value
   * at or above the real floor is ever left out.
   */
  scan(row: number, n: number, second: boolean, idx: number, slack: number, floorMin: number): number {
    const up = Math.fround(slack * (1 + 2 ** -20));
    if (this.wasmScan) return this.wasmScan(row, n, second ? 1 : 0, idx, up, Math.fround(floorMin));
    const f = this.f32;
    const a = this.i32;
    let a1 = -Infinity;
    let a2 = -Infinity;
    for (let j = 0; j < n; j++) {
      const x = f[(row >> 2) + j]!;
      if (x > a1) { a2 = a1; a1 = x; } else if (x > a2) a2 = x;
    }
    const floor = Math.max((second ? a2 : a1) - up, floorMin);
    let count = 0;
    for (let j = 0; j < n; j++) if (f[(row >> 2) + j]! >= floor) a[(idx >> 2) + count++] = j;
    return count;
  }

  /**
   * An upper bound of the Euclidean norm of the `floats` values at `at` (a multiple of 4, from a
   * 16-aligned address): the float32 sum of squares, which is within γ_n of the real one (every
   * term is non-negative), enlarged by that much; NaN or Infinity when a value is not finite.
   */
  normBound(at: number, floats: number): number {
    if (!this.wasmSumsq) {
      const f = this.f32;
      let s = 0;
      for (let i = 0; i < floats; i++) s += f[(at >> 2) + i]! * f[(at >> 2) + i]!;
      return Math.sqrt(s) * (1 + 1e-12);
    }
    const s = this.wasmSumsq(at, floats * 4);
    return Math.sqrt(s * (1 + 4 * (floats + 2) * U32) + floats * 2 ** -126) * (1 + 1e-12);
  }

  private refresh(): void {
    if (this.memory.buffer !== this.viewOf) {
      this.viewOf = this.memory.buffer;
      this.f32View = new Float32Array(this.viewOf);
      this.i32View = new Int32Array(this.viewOf);
      this.i16View = new Int16Array(this.viewOf);
    }
  }
}

/** Floats per stored row: the dimension rounded up to whole SIMD vectors (the padding is zero). */
export const strideOf = (dim: number): number => (dim + 3) & ~3;
