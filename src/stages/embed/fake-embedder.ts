import type { Dtype, EmbedResult, Embedder, EmbedderStats, Pooling } from './types.js';

export interface FakeEmbedderOptions {
  readonly dim?: number;
  readonly maxTokens?: number;
  readonly model?: string;
  readonly pooling?: Pooling;
  readonly dtype?: Dtype;
  /** Resolve each call after this many ms (default: on the next microtask). */
  readonly delayMs?: number;
  /** Makes the model itself fail (a rejected promise), for error-path tests. */
  readonly failWith?: (texts: readonly string[]) => Error | undefined;
}

/**
 * A deterministic stand-in for a sentence-embedding model, for operator tests: a "token" is a
 * run of letters or digits, the vector is a signed bag of hashed tokens (so texts sharing words
 * are close), L2-normalised. A text with no letter or digit is `empty`, as a real tokenizer
 * leaves nothing of control or zero-width characters. Every call is logged in `calls`.
 */
export class FakeEmbedder implements Embedder {
  readonly model: string;
  readonly pooling: Pooling;
  readonly dtype: Dtype;
  readonly device = 'cpu' as const;
  readonly dim: number;
  readonly maxTokens: number;
  readonly calls: string[][] = [];
  closed = false;
  private readonly counts = { texts: 0, batches: 0, tokens: 0, paddedTokens: 0, truncated: 0 };

  constructor(private readonly options: FakeEmbedderOptions = {}) {
    this.model = options.model ?? 'fake/bag-of-words';
    this.pooling = options.pooling ?? 'mean';
    this.dtype = options.dtype ?? 'fp32';
    this.dim = options.dim ?? 8;
    this.maxTokens = options.maxTokens ?? 16;
  }

  embedOne(text: string): EmbedResult {
    const words = text.match(/[\p{L}\p{N}]+/gu) ?? [];
    if (words.length === 0) return { values: new Float32Array(0), tokens: 0, truncated: false, empty: true };
    const kept = words.slice(0, this.maxTokens - 2);
    const v = new Float32Array(this.dim);
    for (const w of kept) {
      let h = 2166136261;
      for (let i = 0; i < w.length; i++) h = Math.imul(h ^ w.toLowerCase().charCodeAt(i), 16777619);
      v[(h >>> 1) % this.dim]! += h & 1 ? 1 : -1;
    }
    let n = 0;
    for (const x of v) n += x * x;
    if (n === 0) v[0] = n = 1;
    for (let i = 0; i < v.length; i++) v[i]! /= Math.sqrt(n);
    return { values: v, tokens: kept.length + 2, truncated: words.length > kept.length, empty: false };
  }

  embed(texts: readonly string[]): Promise<EmbedResult[]> {
    this.calls.push([...texts]);
    const fail = this.options.failWith?.(texts);
    const results = texts.map((t) => this.embedOne(t));
    this.counts.batches++;
    for (const r of results) {
      if (r.empty) continue;
      this.counts.texts++;
      this.counts.tokens += r.tokens;
      if (r.truncated) this.counts.truncated++;
    }
    return new Promise((resolve, reject) => {
      const done = () => (fail ? reject(fail) : resolve(results));
      if (this.options.delayMs) setTimeout(done, this.options.delayMs);
      else queueMicrotask(done);
    });
  }

  stats(): EmbedderStats {
    return { ...this.counts, paddedTokens: this.counts.tokens };
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
