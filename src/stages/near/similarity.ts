import { BITS } from './minhash.js';

/** Probability that two 4-bit values taken from different minima agree by chance. */
const CHANCE = 1 / (1 << BITS);

/**
 * Number of positions where two packed 4-bit signatures agree: per 32-bit word, XOR, fold each
 * nibble's bits into its lowest bit, and count the zero nibbles with one multiply.
 */
export function matchingValues(a: Uint32Array, aBase: number, b: Uint32Array, bBase: number, words: number, numPerm: number): number {
  let differ = 0;
  for (let w = 0; w < words; w++) {
    const x = a[aBase + w]! ^ b[bBase + w]!;
    const nz = (x | (x >>> 1) | (x >>> 2) | (x >>> 3)) & 0x11111111;
    differ += Math.imul(nz, 0x11111111) >>> 28;
  }
  // Padding nibbles beyond numPerm are 0 in both, so they count as agreeing; take them off.
  return words * 8 - differ - (words * 8 - numPerm);
}

/** Unbiased Jaccard estimate from the fraction of agreeing 4-bit values, clamped to [0, 1]. */
export function estimateJaccard(matches: number, numPerm: number): number {
  const p = matches / numPerm;
  return Math.min(1, Math.max(0, (p - CHANCE) / (1 - CHANCE)));
}

/** Exact Jaccard of two sorted arrays of distinct shingle hashes. */
export function exactJaccard(a: Uint32Array, b: Uint32Array): number {
  if (a.length === 0 && b.length === 0) return 1;
  let i = 0, j = 0, common = 0;
  while (i < a.length && j < b.length) {
    const x = a[i]!, y = b[j]!;
    if (x === y) { common++; i++; j++; } else if (x < y) i++; else j++;
  }
  return common / (a.length + b.length - common);
}
