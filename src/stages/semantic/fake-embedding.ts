import type { Vector } from '../../records/item.js';
import { normalizeInPlace, Rng } from '../centroids/vectors.js';

/**
 * A deterministic stand-in for a sentence embedding, for tests and benchmarks that must not load
 * a model: a hashed bag of lower-cased words, each word a fixed pseudo-random direction, summed
 * with √(count) weights and L2-normalised (a random projection of the term-frequency vector).
 * Texts sharing most words get a high cosine, unrelated texts a low one — enough structure for
 * clusters and near-duplicates, none of a real model's semantics.
 */
export function fakeEmbedding(text: string, dim = 384): Float32Array {
  const counts = new Map<string, number>();
  for (const w of text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []) counts.set(w, (counts.get(w) ?? 0) + 1);
  const out = new Float64Array(dim);
  for (const [w, c] of counts) {
    const dir = wordDirection(w, dim);
    const weight = Math.sqrt(c);
    for (let i = 0; i < dim; i++) out[i]! += weight * dir[i]!;
  }
  if (!normalizeInPlace(out)) out[0] = 1;
  return Float32Array.from(out);
}

const directions = new Map<string, Float32Array>();

function wordDirection(word: string, dim: number): Float32Array {
  const key = `${dim}:${word}`;
  let d = directions.get(key);
  if (!d) {
    let h = 0x811c9dc5;
    for (let i = 0; i < word.length; i++) h = Math.imul(h ^ word.charCodeAt(i), 0x01000193) >>> 0;
    const rng = new Rng(h);
    d = new Float32Array(dim);
    for (let i = 0; i < dim; i++) d[i] = rng.next() * 2 - 1;
    if (directions.size > 200_000) directions.clear();
    directions.set(key, d);
  }
  return d;
}

/** The Vector a real embed stage would attach, around a fake embedding. */
export function fakeVector(text: string, dim = 384): Vector {
  return { model: 'fake-bow', pooling: 'none', dtype: 'fp32', values: fakeEmbedding(text, dim), tokens: 0, truncated: false, cached: false };
}
