// The inner loop of a static model, acc = Σ count_k · row_k, in WebAssembly SIMD (f32x4): four
// multiply-adds per instruction where JavaScript does one. The module is 150 bytes, assembled
// here from its instructions (written out below as the text format they encode), so nothing is
// built or downloaded. Used when the runtime has WebAssembly SIMD (Node ≥ 16.4) and the
// dimension is a multiple of 4; otherwise the caller keeps its JavaScript loop.
//
// (func (export "acc") (param $pairs i32) (param $u i32) (param $acc i32) (param $rowBytes i32)
//   (local $k i32) (local $base i32) (local $c v128) (local $d i32) (local $p i32)
//   d = 0; while d < rowBytes: v128.store(acc + d, 0); d += 16
//   k = 0; while k < u:
//     p = pairs + 8k; base = i32.load(p); c = f32x4.splat(f32.load(p + 4))
//     d = 0; while d < rowBytes: v128.store(acc + d, v128.load(acc + d) + c * v128.load(base + d)); d += 16
//     k += 1)

const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
};
const sleb = (n: number): number[] => {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
};
const str = (s: string) => [...uleb(s.length), ...Buffer.from(s, 'utf8')];
const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];

// Opcodes.
const BLOCK = [0x02, 0x40];
const LOOP = [0x03, 0x40];
const END = [0x0b];
const br = (depth: number) => [0x0c, ...uleb(depth)];
const brIf = (depth: number) => [0x0d, ...uleb(depth)];
const get = (i: number) => [0x20, ...uleb(i)];
const set = (i: number) => [0x21, ...uleb(i)];
const i32 = (n: number) => [0x41, ...sleb(n)];
const ADD = [0x6a];
const SHL = [0x74];
const GE_U = [0x4f];
const I32_LOAD = [0x28, 2, 0];
const F32_LOAD_4 = [0x2a, 2, 4];
const V128_LOAD = [0xfd, 0x00, 4, 0];
const V128_STORE = [0xfd, 0x0b, 4, 0];
const V128_ZERO = [0xfd, 0x0c, ...new Array<number>(16).fill(0)];
const SPLAT = [0xfd, 0x13];
const F32X4_ADD = [0xfd, 0xe4, 0x01];
const F32X4_MUL = [0xfd, 0xe6, 0x01];

// Parameters 0-3, then locals: k 4, base 5, c 6 (v128), d 7, p 8.
const [PAIRS, U, ACC, ROW_BYTES, K, BASE, C, D, P] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
const whileD = (body: number[]) => [
  ...i32(0), ...set(D),
  ...BLOCK, ...LOOP,
  ...get(D), ...get(ROW_BYTES), ...GE_U, ...brIf(1),
  ...body,
  ...get(D), ...i32(16), ...ADD, ...set(D),
  ...br(0), ...END, ...END,
];
const code = [
  ...whileD([...get(ACC), ...get(D), ...ADD, ...V128_ZERO, ...V128_STORE]),
  ...i32(0), ...set(K),
  ...BLOCK, ...LOOP,
  ...get(K), ...get(U), ...GE_U, ...brIf(1),
  ...get(PAIRS), ...get(K), ...i32(3), ...SHL, ...ADD, ...set(P),
  ...get(P), ...I32_LOAD, ...set(BASE),
  ...get(P), ...F32_LOAD_4, ...SPLAT, ...set(C),
  ...whileD([
    ...get(ACC), ...get(D), ...ADD,
    ...get(ACC), ...get(D), ...ADD, ...V128_LOAD,
    ...get(C), ...get(BASE), ...get(D), ...ADD, ...V128_LOAD, ...F32X4_MUL,
    ...F32X4_ADD, ...V128_STORE,
  ]),
  ...get(K), ...i32(1), ...ADD, ...set(K),
  ...br(0), ...END, ...END,
  ...END,
];
const locals = [3, 2, 0x7f, 1, 0x7b, 2, 0x7f];
const body = [...locals, ...code];
const MODULE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  ...section(1, [1, 0x60, 4, 0x7f, 0x7f, 0x7f, 0x7f, 0]),
  ...section(2, [1, ...str('env'), ...str('memory'), 0x02, 0x00, 0x01]),
  ...section(3, [1, 0]),
  ...section(7, [1, ...str('acc'), 0x00, 0]),
  ...section(10, [1, ...uleb(body.length), ...body]),
]);

/** The few WebAssembly JS API members used here (the project's TypeScript libs do not declare the global). */
interface Wasm {
  validate(bytes: Uint8Array): boolean;
  Memory: new (d: { initial: number }) => { buffer: ArrayBuffer };
  Module: new (bytes: Uint8Array) => object;
  Instance: new (m: object, imports: Record<string, Record<string, unknown>>) => { exports: Record<string, unknown> };
}
const WebAssembly = (globalThis as unknown as { WebAssembly?: Wasm }).WebAssembly;

export interface SimdAccumulator {
  /** Row i of the matrix, times `count`, is added by listing (i, count) with `set(k, i, count)` for k = 0 … u − 1, then `run(u)`. */
  set(k: number, row: number, count: number): void;
  run(u: number): void;
  /** The sum after `run`, `dim` values (a view into the module's memory). */
  readonly acc: Float32Array;
}

/** The matrix (rows × dim) copied into a WebAssembly memory with room for the sum and `maxPairs` pairs; undefined when SIMD is unavailable or dim % 4 ≠ 0. */
export function simdAccumulator(matrix: Float32Array, dim: number, maxPairs: number): SimdAccumulator | undefined {
  if (!WebAssembly || dim % 4 !== 0 || !WebAssembly.validate(MODULE)) return undefined;
  const matrixBytes = matrix.byteLength;
  const accAt = Math.ceil(matrixBytes / 16) * 16;
  const pairsAt = accAt + dim * 4;
  const bytes = pairsAt + maxPairs * 8;
  if (bytes > 2 ** 31) return undefined;
  const memory = new WebAssembly.Memory({ initial: Math.ceil(bytes / 65536) });
  const instance = new WebAssembly.Instance(new WebAssembly.Module(MODULE), { env: { memory } });
  const fn = instance.exports.acc as (pairs: number, u: number, acc: number, rowBytes: number) => void;
  new Float32Array(memory.buffer, 0, matrix.length).set(matrix);
  const pairsI = new Int32Array(memory.buffer, pairsAt, maxPairs * 2);
  const pairsF = new Float32Array(memory.buffer, pairsAt, maxPairs * 2);
  const rowBytes = dim * 4;
  return {
    acc: new Float32Array(memory.buffer, accAt, dim),
    set(k, row, count) {
      pairsI[2 * k] = row * rowBytes;
      pairsF[2 * k + 1] = count;
    },
    run(u) {
      fn(pairsAt, u, accAt, rowBytes);
    },
  };
}
