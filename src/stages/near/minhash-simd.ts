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

import { assembleModule, I32, instantiate, op, simdModule, V128, type WasmMemory } from '../kernels/wasm-asm.js';

// Parameters and locals, by index.
const A = 0, B = 1, OUT = 2, H = 3, COUNT = 4, NPERM = 5;
const I = 6, J = 7, P = 8, END = 9;
const X = 10, M0 = 11, A0 = 15, B0 = 19;

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
    ...op.get(H), ...op.get(J), ...op.i32add, ...op.i32load(), ...op.i32x4splat, ...op.set(X),
    ...lanes.flatMap((k) => [
      ...op.get(M0 + k), ...op.get(A0 + k), ...op.get(X), ...op.i32x4mul, ...op.get(B0 + k), ...op.i32x4add, ...op.i32x4minS, ...op.set(M0 + k),
    ]),
    ...op.get(J), ...op.i32const(4), ...op.i32add, ...op.set(J),
    ...op.br(0), ...op.end, ...op.end,
    ...lanes.flatMap((k) => [...op.get(OUT), ...op.get(P), ...op.i32add, ...op.get(M0 + k), ...op.v128store(16 * k)]),
    ...op.get(I), ...op.i32const(16), ...op.i32add, ...op.set(I),
    ...op.br(0), ...op.end, ...op.end,
  ];
}

const assemble = () => assembleModule([{ name: 'sign', params: 6, locals: [[4, I32], [13, V128]], body: body() }]);

export interface SimdKernel {
  readonly memory: WasmMemory;
  sign(a: number, b: number, out: number, h: number, count: number, nperm: number): void;
}

/**
 * A fresh instance of the SIMD kernel with its own memory, or null where WebAssembly SIMD is not
 * supported (or D4_NO_SIMD is set, to compare with the JavaScript loop).
 */
export function simdKernel(): SimdKernel | null {
  const module = simdModule('minhash', assemble);
  if (module === null) return null;
  const exports = instantiate(module) as unknown as { sign: SimdKernel['sign']; memory: WasmMemory };
  return { memory: exports.memory, sign: exports.sign };
}
