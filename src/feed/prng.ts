/**
 * A small seeded PRNG: sfc32 (Chris Doty-Humphrey's Small Fast Counting generator, 128-bit
 * state, passes PractRand to 2^42+ bytes) seeded by cyrb128 of the seed parts. Math.random cannot
 * be seeded, and the feed's order must be a pure function of (seed, epoch) so that a resumed
 * trainer sees the same order as the run it resumes.
 */
export interface Prng {
  /** A uniform uint32. */
  nextUint32(): number;
  /** A uniform integer in [0, n), n ≤ 2^32, without modulo bias. */
  nextInt(n: number): number;
}

/** cyrb128: four 32-bit lanes of a string hash, used only to turn a seed into a PRNG state. */
export function cyrb128(text: string): [number, number, number, number] {
  let h1 = 1779033703, h2 = 3144134277, h3 = 1013904242, h4 = 2773480762;
  for (let i = 0; i < text.length; i++) {
    const k = text.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  h1 ^= h2 ^ h3 ^ h4;
  h2 ^= h1;
  h3 ^= h1;
  h4 ^= h1;
  return [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0];
}

/** A PRNG whose sequence depends only on `parts` (joined unambiguously). */
export function seededPrng(...parts: readonly (string | number)[]): Prng {
  let [a, b, c, d] = cyrb128(parts.map((p) => `${typeof p}:${p}`).join('\u0000'));
  const nextUint32 = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  // Discard the first outputs: sfc32's author recommends it to mix a weakly seeded state.
  for (let i = 0; i < 15; i++) nextUint32();
  return {
    nextUint32,
    nextInt(n: number): number {
      if (!Number.isInteger(n) || n <= 0 || n > 0x1_0000_0000) throw new RangeError(`nextInt needs a whole n in [1, 2^32], got ${n}`);
      // Rejection sampling: draws at or above the largest multiple of n are redrawn.
      const limit = 0x1_0000_0000 - (0x1_0000_0000 % n);
      let x = nextUint32();
      while (x >= limit) x = nextUint32();
      return x % n;
    },
  };
}
