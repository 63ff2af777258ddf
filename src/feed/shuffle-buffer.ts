import type { Prng } from './prng.js';

/**
 * A bounded shuffle buffer (the tf.data / WebDataset scheme): it holds at most `capacity`
 * elements; once full, each new element takes the place of one drawn uniformly at random, which
 * leaves the buffer. At the end, `drain` empties it in random order. The output is a permutation
 * of the input that depends only on the input sequence and the PRNG, so a replay with the same
 * seed gives the same order. Memory is `capacity` elements. An element leaves at most `capacity`
 * positions earlier than it arrived (it cannot leave before it is in), and stays a geometric
 * number of steps (mean `capacity`) after, so the mixing is local: a larger buffer mixes more,
 * and a capacity of at least the stream's length is a uniform shuffle.
 */
export class ShuffleBuffer<T> {
  private readonly items: T[] = [];

  constructor(readonly capacity: number, private readonly rng: Prng) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`shuffle buffer capacity must be a whole number ≥ 1, got ${capacity}`);
  }

  get size(): number {
    return this.items.length;
  }

  /** Adds `x`; once the buffer is full, returns the element that leaves it to make room. */
  push(x: T): T | undefined {
    if (this.items.length < this.capacity) {
      this.items.push(x);
      return undefined;
    }
    const j = this.rng.nextInt(this.capacity);
    const out = this.items[j]!;
    this.items[j] = x;
    return out;
  }

  /** Removes and yields every held element in random order. */
  *drain(): Generator<T> {
    while (this.items.length > 0) {
      const j = this.rng.nextInt(this.items.length);
      const out = this.items[j]!;
      const last = this.items.pop()!;
      if (j < this.items.length) this.items[j] = last;
      yield out;
    }
  }
}

/** A stream through a ShuffleBuffer. */
export async function* shuffled<T>(source: AsyncIterable<T> | Iterable<T>, capacity: number, rng: Prng): AsyncGenerator<T> {
  const buffer = new ShuffleBuffer<T>(capacity, rng);
  for await (const x of source) {
    const out = buffer.push(x);
    if (out !== undefined) yield out;
  }
  yield* buffer.drain();
}
