/**
 * A few bytes of WebAssembly assembler: enough to write the SIMD kernels of this project
 * (minhash-simd.ts, dot-simd.ts) straight from their opcodes, with no toolchain, and to load them
 * where WebAssembly SIMD exists. Each kernel keeps its text form beside its code.
 */

export function uleb(v: number): number[] {
  const out: number[] = [];
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return out;
}

export function sleb(v: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0)) return [...out, byte];
    out.push(byte | 0x80);
  }
}

/** The opcodes the kernels use (memarg alignment: 2 = 4 bytes, 4 = 16 bytes). */
export const op = {
  block: [0x02, 0x40], loop: [0x03, 0x40], end: [0x0b],
  br: (d: number) => [0x0c, d], brIf: (d: number) => [0x0d, d],
  get: (i: number) => [0x20, i], set: (i: number) => [0x21, i], tee: (i: number) => [0x22, i],
  i32const: (v: number) => [0x41, ...sleb(v)],
  i32add: [0x6a], i32sub: [0x6b], i32mul: [0x6c], i32shl: [0x74], i32geU: [0x4f], i32ltU: [0x49],
  i32load: (offset = 0) => [0x28, 0x02, ...uleb(offset)],
  f32store: (offset = 0) => [0x38, 0x02, ...uleb(offset)],
  f32add: [0x92], f32sub: [0x93], f32min: [0x96], f32max: [0x97], f32ge: [0x60],
  f32load: (offset = 0) => [0x2a, 0x02, ...uleb(offset)],
  i32store: (offset = 0) => [0x36, 0x02, ...uleb(offset)],
  f32const: (v: number) => { const b = Buffer.alloc(4); b.writeFloatLE(v); return [0x43, ...b]; },
  if: [0x04, 0x40],
  v128load: (offset = 0) => [0xfd, 0x00, 0x04, ...uleb(offset)],
  v128store: (offset = 0) => [0xfd, 0x0b, 0x04, ...uleb(offset)],
  v128const: (bytes: number[]) => [0xfd, 0x0c, ...bytes],
  v128zero: [0xfd, 0x0c, ...new Array<number>(16).fill(0)],
  v128splat7fffffff: [0xfd, 0x0c, ...[0, 1, 2, 3].flatMap(() => [0xff, 0xff, 0xff, 0x7f])],
  i32x4splat: [0xfd, 0x11], i32x4add: [0xfd, 0xae, 0x01], i32x4mul: [0xfd, 0xb5, 0x01], i32x4minS: [0xfd, 0xb6, 0x01],
  f32x4extractLane: (lane: number) => [0xfd, 0x1f, lane], i32x4extractLane: (lane: number) => [0xfd, 0x1b, lane],
  i32x4dotI16x8S: [0xfd, 0xba, 0x01], f32convertI32S: [0xb2],
  f32x4splat: [0xfd, 0x13], f32x4nearest: [0xfd, 0x6a], i32x4truncSatF32x4S: [0xfd, 0xf8, 0x01], i16x8narrowI32x4S: [0xfd, 0x85, 0x01], i16x8maxS: [0xfd, 0x98, 0x01],
  f32x4min: [0xfd, 0xe8, 0x01], f32x4max: [0xfd, 0xe9, 0x01], f32x4ge: [0xfd, 0x46], i32x4bitmask: [0xfd, 0xa4, 0x01], i32and: [0x71],
  f32x4add: [0xfd, 0xe4, 0x01], f32x4mul: [0xfd, 0xe6, 0x01],
};

export const I32 = 0x7f;
export const V128 = 0x7b;
export const F32 = 0x7d;

function section(id: number, content: number[]): number[] {
  return [id, ...uleb(content.length), ...content];
}

const str = (s: string) => [s.length, ...[...s].map((c) => c.charCodeAt(0))];

export interface WasmFunction {
  readonly name: string;
  /** Parameter count; every parameter is an i32 unless `paramTypes` says otherwise. */
  readonly params: number;
  readonly paramTypes?: readonly number[];
  /** The result type, if any. */
  readonly result?: number;
  /** Local declarations after the parameters: [count, type] groups. */
  readonly locals: readonly (readonly [number, number])[];
  /** The body without its final `end`. */
  readonly body: readonly number[];
}

/**
 * One module: the functions, exported by name, and one exported memory `memory`. With
 * `sharedMemory` the memory is not the module's own but imported (`env.memory`, shared, up to
 * 4 GiB), so that instances on several threads can work on one memory.
 */
export function assembleModule(functions: readonly WasmFunction[], options: { sharedMemory?: boolean } = {}): Uint8Array {
  const types = functions.map((f) => [0x60, ...uleb(f.params), ...(f.paramTypes ?? new Array<number>(f.params).fill(I32)), ...(f.result ? [0x01, f.result] : [0x00])]);
  const codes = functions.map((f) => {
    const code = [...uleb(f.locals.length), ...f.locals.flatMap(([n, t]) => [...uleb(n), t]), ...f.body, ...op.end];
    return [...uleb(code.length), ...code];
  });
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [...uleb(types.length), ...types.flat()]),
    // Imported shared memory: limits flag 3 (shared, with a maximum), 1 page, 65,536 pages at most.
    ...(options.sharedMemory ? section(2, [0x01, ...str('env'), ...str('memory'), 0x02, 0x03, 0x01, ...uleb(65536)]) : []),
    ...section(3, [...uleb(functions.length), ...functions.flatMap((_, i) => uleb(i))]),
    ...(options.sharedMemory ? [] : section(5, [0x01, 0x00, 0x01])), // one memory, at least 1 page
    ...section(7, [...uleb(functions.length + 1), ...functions.flatMap((f, i) => [...str(f.name), 0x00, i]), ...str('memory'), 0x02, 0x00]),
    ...section(10, [...uleb(codes.length), ...codes.flat()]),
  ]);
}

// The WebAssembly global as far as this project uses it (tsconfig has no DOM lib, and @types/node
// 20 does not declare it).
export interface WasmMemory { readonly buffer: ArrayBuffer; grow(pages: number): number }
declare const WebAssembly: {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: unknown };
  Memory: new (descriptor: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
} | undefined;

/** A shared memory for a module assembled with `sharedMemory` (its buffer is a SharedArrayBuffer). */
export function sharedMemory(): WasmMemory {
  return new WebAssembly!.Memory({ initial: 1, maximum: 65536, shared: true });
}

/**
 * Compiles `bytes` once per key; null where WebAssembly SIMD is not supported or D4_NO_SIMD is set
 * (to compare with the JavaScript loops).
 */
const compiled = new Map<string, object | null>();

export function simdModule(key: string, assemble: () => Uint8Array): object | null {
  if (!compiled.has(key)) {
    const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
    let module: object | null = null;
    if (!env?.['D4_NO_SIMD'] && typeof WebAssembly !== 'undefined') {
      const bytes = assemble();
      if (WebAssembly.validate(bytes)) module = new WebAssembly.Module(bytes);
    }
    compiled.set(key, module);
  }
  return compiled.get(key)!;
}

/** A fresh instance of a compiled module, with its own memory, or on `memory` for a module assembled with `sharedMemory`. */
export function instantiate(module: object, memory?: WasmMemory): { readonly memory: WasmMemory } & Record<string, unknown> {
  return new WebAssembly!.Instance(module, memory ? { env: { memory } } : {}).exports as { readonly memory: WasmMemory } & Record<string, unknown>;
}
