/**
 * The MinHash inner loop as a 16-lane-per-pass WebAssembly SIMD function: four i32x4
 * multiply-add-min chains, i.e. sixteen permutations per load of a shingle hash. It computes
 * exactly what the JavaScript loop in minhash.ts computes (same a_i, b_i, wrap-around products,
 * signed minimum) about four times faster; minhash.ts falls back to JavaScript where wasm SIMD
 * is unavailable. The module is assembled here from its opcodes (no toolchain needed), with the
 * text form beside each step.
 *
 * (func (export "sign") (param $a $b $out $h $count $nperm i32)
 *   for $i = 0; $i < $nperm; $i += 16:         ;; bytes $p = 4·$i
 *     a0..a3 = v128.load $a+$p (+0,+16,+32,+48); b0..b3 likewise; m0..m3 = splat(0x7fffffff)
 *     for $j = 0; $j < 4·$count; $j += 4:
 *       x = i32x4.splat(i32.load $h+$j)
 *       mk = i32x4.min_s(mk, i32x4.add(i32x4.mul(ak, x), bk))   ;; k = 0..3
 *     v128.store $out+$p m0..m3)
 */

// Parameters and locals, by index.
const A = 0, B = 1, OUT = 2, H = 3, COUNT = 4, NPERM = 5;
const I = 6, J = 7, P = 8, END = 9;
const X = 10, M0 = 11, A0 = 15, B0 = 19;

const op = {
  block: [0x02, 0x40], loop: [0x03, 0x40], end: [0x0b],
  br: (d: number) => [0x0c, d], brIf: (d: number) => [0x0d, d],
  get: (i: number) => [0x20, i], set: (i: number) => [0x21, i],
  i32const: (v: number) => [0x41, ...sleb(v)],
  i32add: [0x6a], i32shl: [0x74], i32geU: [0x4f],
  i32load: [0x28, 0x02, 0x00],
  v128load: (offset: number) => [0xfd, 0x00, 0x04, ...uleb(offset)],
  v128store: (offset: number) => [0xfd, 0x0b, 0x04, ...uleb(offset)],
  v128splat7fffffff: [0xfd, 0x0c, ...[0, 1, 2, 3].flatMap(() => [0xff, 0xff, 0xff, 0x7f])],
  i32x4splat: [0xfd, 0x11], i32x4add: [0xfd, 0xae, 0x01], i32x4mul: [0xfd, 0xb5, 0x01], i32x4minS: [0xfd, 0xb6, 0x01],
};

function uleb(v: number): number[] {
  const out: number[] = [];
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return out;
}

function sleb(v: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0)) return [...out, byte];
    out.push(byte | 0x80);
  }
}

function body(): number[] {
  const lanes = [0, 1, 2, 3];
  return [
    ...op.get(COUNT), ...op.i32const(2), ...op.i32shl, ...op.set(END), // end = 4·count
    ...op.i32const(0), ...op.set(I),
    ...op.block, ...op.loop, // $i loop
    ...op.get(I), ...op.get(NPERM), ...op.i32geU, ...op.brIf(1),
    ...op.get(I), ...op.i32const(2), ...op.i32shl, ...op.set(P),
    ...lanes.flatMap((k) => [...op.get(A), ...op.get(P), ...op.i32add, ...op.v128load(16 * k), ...op.set(A0 + k)]),
    ...lanes.flatMap((k) => [...op.get(B), ...op.get(P), ...op.i32add, ...op.v128load(16 * k), ...op.set(B0 + k)]),
    ...lanes.flatMap((k) => [...op.v128splat7fffffff, ...op.set(M0 + k)]),
    ...op.i32const(0), ...op.set(J),
    ...op.block, ...op.loop, // $j loop
    ...op.get(J), ...op.get(END), ...op.i32geU, ...op.brIf(1),
    ...op.get(H), ...op.get(J), ...op.i32add, ...op.i32load, ...op.i32x4splat, ...op.set(X),
    ...lanes.flatMap((k) => [
      ...op.get(M0 + k), ...op.get(A0 + k), ...op.get(X), ...op.i32x4mul, ...op.get(B0 + k), ...op.i32x4add, ...op.i32x4minS, ...op.set(M0 + k),
    ]),
    ...op.get(J), ...op.i32const(4), ...op.i32add, ...op.set(J),
    ...op.br(0), ...op.end, ...op.end,
    ...lanes.flatMap((k) => [...op.get(OUT), ...op.get(P), ...op.i32add, ...op.get(M0 + k), ...op.v128store(16 * k)]),
    ...op.get(I), ...op.i32const(16), ...op.i32add, ...op.set(I),
    ...op.br(0), ...op.end, ...op.end,
    ...op.end,
  ];
}

function section(id: number, content: number[]): number[] {
  return [id, ...uleb(content.length), ...content];
}

const str = (s: string) => [s.length, ...[...s].map((c) => c.charCodeAt(0))];

function assemble(): Uint8Array {
  const locals = [0x02, 0x04, 0x7f, 0x0d, 0x7b]; // 2 groups: 4 × i32, 13 × v128
  const code = [...locals, ...body()];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [0x01, 0x60, 0x06, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x00]), // type: (i32 × 6) → ()
    ...section(3, [0x01, 0x00]), // one function of type 0
    ...section(5, [0x01, 0x00, 0x01]), // one memory, at least 1 page
    ...section(7, [0x02, ...str('sign'), 0x00, 0x00, ...str('memory'), 0x02, 0x00]),
    ...section(10, [0x01, ...uleb(code.length), ...code]),
  ]);
}

// The WebAssembly global as far as this file uses it (tsconfig has no DOM lib, and @types/node 20
// does not declare it).
interface WasmMemory { readonly buffer: ArrayBuffer; grow(pages: number): number }
declare const WebAssembly: {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: unknown };
} | undefined;

export interface SimdKernel {
  readonly memory: WasmMemory;
  sign(a: number, b: number, out: number, h: number, count: number, nperm: number): void;
}

let module: object | null | undefined;

/**
 * A fresh instance of the SIMD kernel with its own memory, or null where WebAssembly SIMD is not
 * supported (or D4_NO_SIMD is set, to compare with the JavaScript loop).
 */
export function simdKernel(): SimdKernel | null {
  if (module === undefined) {
    module = null;
    const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
    const bytes = assemble();
    if (!env?.D4_NO_SIMD && typeof WebAssembly !== 'undefined' && WebAssembly.validate(bytes)) module = new WebAssembly.Module(bytes);
  }
  if (module === null) return null;
  const exports = new WebAssembly!.Instance(module, {}).exports as { sign: SimdKernel['sign']; memory: WasmMemory };
  return { memory: exports.memory, sign: exports.sign };
}
