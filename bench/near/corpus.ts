// Test and benchmark corpora for the near-duplicate stage: real text from ../shared/data and
// seeded, reproducible edits of it. Shared by test/near-quality.test.ts and bench/near/bench.ts.
import { readFileSync } from 'node:fs';

export interface TextDoc { readonly id: string; readonly text: string }

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function readJsonl<T>(path: string): T[] {
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l) as T);
}

export const words = (text: string) => text.split(/\s+/u).filter((w) => w.length > 0);

/** Words of every document but `except`, to draw replacement text from. */
export class WordPool {
  private readonly all: string[][];
  constructor(docs: readonly TextDoc[]) {
    this.all = docs.map((d) => words(d.text));
  }

  /** A run of `k` consecutive words from a random other document (wrapping to more documents if short). */
  run(k: number, except: number, rnd: () => number): string[] {
    const out: string[] = [];
    while (out.length < k) {
      let d = Math.floor(rnd() * this.all.length);
      if (d === except) d = (d + 1) % this.all.length;
      const ws = this.all[d]!;
      if (ws.length === 0) continue;
      const start = Math.floor(rnd() * ws.length);
      out.push(...ws.slice(start, start + k - out.length));
    }
    return out;
  }

  word(except: number, rnd: () => number): string {
    return this.run(1, except, rnd)[0]!;
  }
}

/** Replaces the first and last `fraction` of the words (at least one each) by text from other documents. */
export function replaceHeaderFooter(ws: readonly string[], fraction: number, pool: WordPool, self: number, rnd: () => number): string[] {
  const k = Math.max(1, Math.round(ws.length * fraction));
  return [...pool.run(k, self, rnd), ...ws.slice(k, ws.length - k), ...pool.run(k, self, rnd)];
}

/** Replaces exactly round(`fraction` × words) (at least one) distinct words by words of other documents. */
export function editWords(ws: readonly string[], fraction: number, pool: WordPool, self: number, rnd: () => number): string[] {
  const out = [...ws];
  const m = Math.max(1, Math.round(ws.length * fraction));
  const positions = out.map((_, i) => i);
  for (let i = 0; i < m; i++) {
    const j = i + Math.floor(rnd() * (positions.length - i));
    [positions[i], positions[j]] = [positions[j]!, positions[i]!];
    const p = positions[i]!;
    let w = pool.word(self, rnd);
    for (let tries = 0; w.toLowerCase() === out[p]!.toLowerCase() && tries < 10; tries++) w = pool.word(self, rnd);
    out[p] = w;
  }
  return out;
}

export type EditKind = 'header-footer-7%' | 'words-2%' | 'words-40%';

export function edit(kind: EditKind, ws: readonly string[], pool: WordPool, self: number, rnd: () => number): string[] {
  switch (kind) {
    case 'header-footer-7%': return replaceHeaderFooter(ws, 0.07, pool, self, rnd);
    case 'words-2%': return editWords(ws, 0.02, pool, self, rnd);
    case 'words-40%': return editWords(ws, 0.4, pool, self, rnd);
  }
}

/** Non-paraphrase / paraphrase sentence pairs of MRPC (UTF-8 with BOM, CRLF, tab-separated). */
export function readMrpc(path: string): { quality: number; id1: string; id2: string; s1: string; s2: string }[] {
  const lines = readFileSync(path, 'utf8').replace(/^\uFEFF/, '').split(/\r?\n/).filter((l) => l.length > 0);
  const header = lines.shift()!.split('\t');
  if (header[0] !== 'Quality' || header[3] !== '#1 String') throw new Error(`${path}: unexpected header ${header.join(',')}`);
  return lines.map((l) => {
    const [q, id1, id2, s1, s2] = l.split('\t');
    return { quality: Number(q), id1: id1!, id2: id2!, s1: s1!, s2: s2! };
  });
}
