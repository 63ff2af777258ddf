/**
 * LSH band buckets as one open-addressing multimap per band over a single Uint32Array: no
 * string keys, no per-entry objects. A cell holds (document slot + 2) in its high bits and a
 * fingerprint of the band hash in the low bits (0 = empty, 1 = tombstone), so a probe skips
 * almost every non-matching cell without touching the signature slab.
 *
 * The table never stores band keys: the caller gives a function that recomputes a slot's key for
 * a band from its stored signature, used to confirm a fingerprint match and to find an entry to
 * delete. Deletion leaves a tombstone (reused by later inserts); when live entries plus
 * tombstones pass MAX_FILL the whole table is rebuilt from the live slots, which costs about
 * bands × capacity key computations every ~0.17 × capacity inserts once the ring is full.
 */
export const LOAD = 0.75;
const MAX_FILL = 0.88;
const EMPTY = 0;
const TOMB = 1;

export type BandKeyOf = (slot: number, band: number) => number;

export class BandTable {
  readonly bands: number;
  /** Cells per band. */
  readonly size: number;
  private readonly cells: Uint32Array;
  private readonly fpBits: number;
  private readonly fpMask: number;
  private live = 0;
  private tombs = 0;
  private hits: Int32Array = new Int32Array(64);

  constructor(bands: number, capacity: number, private readonly keyOf: BandKeyOf) {
    const slotBits = Math.ceil(Math.log2(capacity + 2));
    if (slotBits > 28) throw new RangeError(`capacity ${capacity} too large for one band table (at most 2^28 - 2 documents)`);
    this.bands = bands;
    this.size = Math.max(16, Math.ceil(capacity / LOAD));
    this.cells = new Uint32Array(bands * this.size);
    this.fpBits = 32 - slotBits;
    this.fpMask = this.fpBits >= 32 ? 0xffffffff : (1 << this.fpBits) - 1;
  }

  get byteLength(): number {
    return this.cells.byteLength;
  }

  /** Band hashes are mixed with the band number, so equal keys in two bands land apart. */
  private hash(band: number, key: number): number {
    let h = key ^ Math.imul(band + 1, 0x9e3779b1);
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    return (h ^ (h >>> 16)) >>> 0;
  }

  /** Home cell from the high bits (multiply-shift range reduction; size need not be a power of 2). */
  private home(h: number): number {
    return Math.floor((h * this.size) / 4294967296);
  }

  /** True when the next document's entries should go into a rebuilt table. */
  crowded(): boolean {
    return this.live + this.tombs + this.bands > MAX_FILL * this.cells.length;
  }

  insert(slot: number, band: number, key: number): void {
    const h = this.hash(band, key);
    const base = band * this.size;
    const cell = (((slot + 2) << this.fpBits) | (h & this.fpMask)) >>> 0;
    for (let i = this.home(h); ; i = i + 1 === this.size ? 0 : i + 1) {
      const c = this.cells[base + i]!;
      if (c === EMPTY || c === TOMB) {
        if (c === TOMB) this.tombs--;
        this.cells[base + i] = cell;
        this.live++;
        return;
      }
    }
  }

  /** Removes the entry of `slot` for `band`, whose key is `key`. */
  remove(slot: number, band: number, key: number): void {
    const h = this.hash(band, key);
    const base = band * this.size;
    const cell = (((slot + 2) << this.fpBits) | (h & this.fpMask)) >>> 0;
    for (let i = this.home(h); ; i = i + 1 === this.size ? 0 : i + 1) {
      const c = this.cells[base + i]!;
      if (c === EMPTY) return;
      if (c === cell) {
        this.cells[base + i] = TOMB;
        this.live--;
        this.tombs++;
        return;
      }
    }
  }

  /**
   * Collects every slot whose key for `band` equals `key` into `hits` after position `from`;
   * returns the new end. The hits buffer is reused across calls.
   */
  find(band: number, key: number, from: number): number {
    const h = this.hash(band, key);
    const base = band * this.size;
    const fp = h & this.fpMask;
    let n = from;
    for (let i = this.home(h); ; i = i + 1 === this.size ? 0 : i + 1) {
      const c = this.cells[base + i]!;
      if (c === EMPTY) return n;
      if (c === TOMB || ((c & this.fpMask) >>> 0) !== fp) continue;
      const slot = (c >>> this.fpBits) - 2;
      if (this.keyOf(slot, band) !== key) continue;
      if (n === this.hits.length) {
        const grown = new Int32Array(n * 2);
        grown.set(this.hits);
        this.hits = grown;
      }
      this.hits[n++] = slot;
    }
  }

  get found(): Int32Array {
    return this.hits;
  }

  /** Clears the table (tombstones included) and re-adds every band of every slot in `slots`. */
  rebuild(slots: Iterable<number>): void {
    if (this.live + this.tombs > 0) this.cells.fill(EMPTY); // an untouched table stays unpaged
    this.live = 0;
    this.tombs = 0;
    for (const slot of slots) for (let b = 0; b < this.bands; b++) this.insert(slot, b, this.keyOf(slot, b));
  }

  entries(): number {
    return this.live;
  }
}
