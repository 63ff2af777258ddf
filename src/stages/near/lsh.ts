import { BITS } from './minhash.js';

/**
 * LSH banding maths. A signature of b·r values is cut into b bands of r rows; two documents
 * become candidates when all r rows of at least one band agree. With 4-bit values a row agrees
 * with probability p = J + (1 − J)/16 (see minhash.ts), so
 *
 *   P[candidate | J] = 1 − (1 − p^r)^b,
 *
 * an S-curve in J whose steepest point is near p* = (1/b)^(1/r), the usual LSH threshold, i.e.
 * J* = (p* − 1/16)/(15/16) on the Jaccard scale. Below it pairs are rarely even compared; well
 * above it they almost always are. The candidate check (estimated Jaccard ≥ threshold) then
 * decides, so the band threshold should sit a little below the check's threshold: a pair the
 * check would accept must first be found.
 */
export function bandThreshold(bands: number, rows: number): number {
  return Math.pow(1 / bands, 1 / rows);
}

/** Per-row agreement probability of two 4-bit MinHash values for Jaccard `j`. */
export function rowAgreement(j: number): number {
  const chance = 1 / (1 << BITS);
  return j + (1 - j) * chance;
}

/** `bandThreshold` moved to the Jaccard scale (accounting for chance 4-bit agreement). */
export function jaccardThreshold(bands: number, rows: number): number {
  const chance = 1 / (1 << BITS);
  return Math.max(0, (bandThreshold(bands, rows) - chance) / (1 - chance));
}

export function candidateProbability(j: number, bands: number, rows: number): number {
  return 1 - Math.pow(1 - Math.pow(rowAgreement(j), rows), bands);
}
