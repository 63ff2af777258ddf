import xxhash from 'xxhash-wasm';

/** 64-bit hashes as 16 hex digits. xxh64 is the de-facto fast non-cryptographic hash. */
export interface Hasher {
  h64(text: string): string;
}

let instance: Promise<Hasher> | undefined;

/** xxhash-wasm needs an async instantiation once per process; every caller shares it. */
export function createHasher(): Promise<Hasher> {
  instance ??= xxhash().then((x) => ({ h64: (text: string) => x.h64ToString(text) }));
  return instance;
}

/** JSON with sorted keys, so that equal parameter sets hash equally whatever their key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) && !ArrayBuffer.isView(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v);
}

export function paramsHash(hasher: Hasher, params: unknown): string {
  return hasher.h64(canonicalJson(params));
}
