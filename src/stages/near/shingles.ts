export type ShingleMode = 'word' | 'char';

export interface ShingleOptions {
  readonly mode: ShingleMode;
  /** Words (or UTF-16 code units) per shingle. */
  readonly n: number;
}

/**
 * A code unit starts or continues a word when it is a letter, digit or combining mark; a
 * surrogate half counts as a letter so astral characters (emoji, CJK extension B) stay inside
 * words. Everything else (spaces, punctuation, symbols) separates words, so "copy," and "copy"
 * are the same word, as in datatrove's simplified text. Built once: 64 KiB.
 */
const WORD = new Uint8Array(65536);
{
  const letter = /[\p{L}\p{N}\p{M}]/u;
  for (let c = 0; c < 65536; c++) {
    WORD[c] = (c >= 0xd800 && c <= 0xdfff) || letter.test(String.fromCharCode(c)) ? 1 : 0;
  }
}

/** murmur3's finaliser: every input bit affects every output bit. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}

const FNV_OFFSET = 0x811c9dc5 | 0;
const FNV_PRIME = 0x01000193;
const GOLDEN = 0x9e3779b1 | 0;

/**
 * Turns normalised text into 32-bit shingle hashes, into a buffer it reuses: no substring or
 * array is built per word or per shingle. Word hashes are FNV-1a over UTF-16 code units (then
 * mixed); a word shingle is a polynomial of the last n word hashes, so "a b" and "b a" differ.
 * A text shorter than one shingle gives one shingle of all it has; a text without a single word
 * character gives none.
 */
export class Shingler {
  readonly mode: ShingleMode;
  readonly n: number;
  private buffer = new Int32Array(4096);
  private readonly window: Int32Array;
  /** GOLDEN^n mod 2^32: the weight a word has when it leaves the window. */
  private readonly topPower: number;

  constructor(options: ShingleOptions) {
    if (!Number.isInteger(options.n) || options.n < 1 || options.n > 64) throw new RangeError(`shingle size must be 1..64, got ${options.n}`);
    this.mode = options.mode;
    this.n = options.n;
    this.window = new Int32Array(options.n);
    let p = 1;
    for (let i = 0; i < options.n; i++) p = Math.imul(p, GOLDEN);
    this.topPower = p;
  }

  /** The hashes of the last `shingle()` call live in `hashes[0 .. count)`; duplicates possible. */
  get hashes(): Int32Array {
    return this.buffer;
  }

  shingle(text: string): number {
    if (this.buffer.length < text.length + 1) this.buffer = new Int32Array(Math.max(text.length + 1, this.buffer.length * 2));
    return this.mode === 'word' ? this.words(text) : this.chars(text);
  }

  private words(text: string): number {
    const n = this.n;
    const win = this.window;
    const out = this.buffer;
    // The shingle hash is a polynomial in the last n word hashes, Σ w_k·B^(n−1−k) mod 2^32,
    // updated in O(1) per word (add the new word, subtract the one leaving), then mixed.
    const top = this.topPower;
    let count = 0;
    let words = 0;
    let at = 0;
    let poly = 0;
    let h = FNV_OFFSET;
    let len = 0;
    const end = text.length;
    for (let i = 0; i <= end; i++) {
      const c = i < end ? text.charCodeAt(i) : 32;
      if (WORD[c] === 1) {
        h = Math.imul(h ^ c, FNV_PRIME);
        len++;
        continue;
      }
      if (len === 0) continue;
      const w = fmix32(h ^ len);
      h = FNV_OFFSET;
      len = 0;
      poly = (Math.imul(poly, GOLDEN) + w) | 0;
      if (words >= n) poly = (poly - Math.imul(win[at]!, top)) | 0;
      win[at] = w;
      at = at + 1 === n ? 0 : at + 1;
      words++;
      if (words >= n) out[count++] = fmix32(poly ^ n);
    }
    if (words > 0 && words < n) out[count++] = fmix32(poly ^ words);
    return count;
  }

  private chars(text: string): number {
    const n = this.n;
    const out = this.buffer;
    const len = text.length;
    if (len === 0) return 0;
    if (len < n) {
      let h = FNV_OFFSET;
      for (let i = 0; i < len; i++) h = Math.imul(h ^ text.charCodeAt(i), FNV_PRIME);
      out[0] = fmix32(h ^ len);
      return 1;
    }
    // Rabin-Karp over the window, mod 2^32: O(1) per position, then fmix32 to spread the bits.
    let top = 1; // GOLDEN^(n-1)
    for (let i = 1; i < n; i++) top = Math.imul(top, GOLDEN);
    let h = 0;
    for (let i = 0; i < n; i++) h = (Math.imul(h, GOLDEN) + text.charCodeAt(i)) | 0;
    let count = 0;
    out[count++] = fmix32(h ^ n);
    for (let i = n; i < len; i++) {
      h = (Math.imul((h - Math.imul(text.charCodeAt(i - n), top)) | 0, GOLDEN) + text.charCodeAt(i)) | 0;
      out[count++] = fmix32(h ^ n);
    }
    return count;
  }
}

/** Sorted distinct hashes, as kept for the exact-Jaccard check. */
export function distinctSorted(hashes: Int32Array, count: number): Uint32Array {
  const sorted = Uint32Array.from(hashes.subarray(0, count)).sort();
  let k = 0;
  for (let i = 0; i < sorted.length; i++) if (i === 0 || sorted[i] !== sorted[k - 1]) sorted[k++] = sorted[i]!;
  return sorted.slice(0, k);
}
