import { BandTable } from './band-table.js';
import { IdColumn } from './id-column.js';
import { StoreError, type Change, type StateStore } from './store.js';

export interface LshStoreOptions {
  readonly name: string;
  /** Documents remembered; the oldest is evicted first. */
  readonly capacity: number;
  readonly bands: number;
  readonly rows: number;
  /**
   * Identifies how signatures are made (shingling, seed, …). A snapshot or changelog record
   * made under another scheme is refused: its signatures would not be comparable.
   */
  readonly scheme: string;
  /** Also keep each document's distinct shingle hashes (for an exact Jaccard check). */
  readonly keepShingles?: boolean;
}

/** 32-bit words holding `numPerm` packed 4-bit MinHash values. */
export const signatureWords = (numPerm: number) => Math.ceil(numPerm / 8);

/**
 * The key of band `band` (rows `band·rows … band·rows + rows − 1`) of a packed 4-bit signature
 * starting at `words[base]`. Up to 8 rows fit in 32 bits exactly, so equal keys mean equal
 * bands; longer bands are hashed.
 */
export function bandKey(words: Uint32Array, base: number, band: number, rows: number): number {
  let key = 0;
  const first = band * rows;
  for (let p = first; p < first + rows; p++) {
    const nib = (words[base + (p >>> 3)]! >>> ((p & 7) << 2)) & 15;
    key = rows <= 8 ? (key << 4) | nib : Math.imul(key ^ nib, 0x9e3779b1) ^ (key >>> 15);
  }
  return key >>> 0;
}

const RECORD_VERSION = 1;
const SNAPSHOT_MAGIC = 'd4-lsh-store';
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The near-duplicate stage's state: a FIFO ring of document slots. Slot i holds a document's
 * id and packed signature (in one Uint32Array slab) and its band entries (in a BandTable).
 * Inserting into a full ring evicts the oldest slot, which removes its band entries: capacity
 * is the de-duplication horizon, in documents.
 *
 * Changelog: key = slot number, value = (insertion number, id, signature[, shingles]). Writing a
 * slot replaces whatever it held, so a compacted changelog holds at most `capacity` records and
 * replaying it in order rebuilds exactly this state. Evictions need no tombstone record.
 *
 * Memory per document: signature words × 4 B, bands × 4 B / 0.75 of table cells, and the id
 * (~1.25 × its UTF-8 bytes + 5 B, see IdColumn), and a 4 B lookup stamp; `bytes()` adds them up.
 */
export class LshStore implements StateStore {
  readonly name: string;
  readonly capacity: number;
  readonly bands: number;
  readonly rows: number;
  readonly numPerm: number;
  readonly words: number;
  readonly scheme: string;
  readonly keepShingles: boolean;
  /** Packed signatures, `words` per slot. */
  readonly slab: Uint32Array;
  private readonly table: BandTable;
  private readonly ids: IdColumn;
  private readonly shingleSets: (Uint32Array | undefined)[];
  /** Documents ever inserted; the next goes to slot `inserted % capacity`. */
  private inserted = 0;
  private shingleBytes = 0;
  /** Insertion numbers written since the last drain; records are built when drained. */
  private pending: number[] = [];
  /** Per slot, the last lookup that found it (findCandidates lists each slot once). */
  private readonly stamps: Uint32Array;
  private lookups = 0;

  constructor(options: LshStoreOptions) {
    const { name, capacity, bands, rows } = options;
    if (!Number.isInteger(capacity) || capacity < 1) throw new StoreError(name, `capacity must be a positive integer, got ${capacity}`);
    if (!Number.isInteger(bands) || bands < 1 || !Number.isInteger(rows) || rows < 1 || bands * rows > 1024) {
      throw new StoreError(name, `bands and rows must be positive integers with bands × rows ≤ 1024, got ${bands} × ${rows}`);
    }
    this.name = name;
    this.capacity = capacity;
    this.bands = bands;
    this.rows = rows;
    this.numPerm = bands * rows;
    this.words = signatureWords(this.numPerm);
    this.scheme = options.scheme;
    this.keepShingles = options.keepShingles ?? false;
    this.slab = new Uint32Array(capacity * this.words);
    this.table = new BandTable(bands, capacity, (slot, band) => bandKey(this.slab, slot * this.words, band, rows));
    this.ids = new IdColumn(capacity);
    this.stamps = new Uint32Array(capacity);
    this.shingleSets = this.keepShingles ? new Array<Uint32Array | undefined>(capacity) : [];
  }

  /**
   * Finds the slots sharing at least one band with `signature`; they are in `candidates`
   * [0 .. returned count), each once (in the order of the first band that found it).
   */
  findCandidates(signature: Uint32Array): number {
    let n = 0;
    for (let b = 0; b < this.bands; b++) n = this.table.find(b, bandKey(signature, 0, b, this.rows), n);
    if (n < 2) return n;
    // A document that shares several bands is found once per band (a near copy: most of the 18): list it once, where it was first found.
    if (++this.lookups === 0x1_0000_0000) { this.stamps.fill(0); this.lookups = 1; }
    const stamp = this.lookups;
    const found = this.table.found;
    let m = 0;
    for (let i = 0; i < n; i++) {
      const slot = found[i]!;
      if (this.stamps[slot] !== stamp) { this.stamps[slot] = stamp; found[m++] = slot; }
    }
    return m;
  }

  get candidates(): Int32Array {
    return this.table.found;
  }

  id(slot: number): string {
    const id = this.ids.get(slot);
    if (id === undefined) throw new StoreError(this.name, `slot ${slot} is empty`);
    return id;
  }

  shingles(slot: number): Uint32Array | undefined {
    return this.shingleSets[slot];
  }

  /** 0 for the newest document, capacity − 1 for the oldest a full ring holds. */
  age(slot: number): number {
    return (((this.inserted - 1 - slot) % this.capacity) + this.capacity) % this.capacity;
  }

  /** Stores a kept document; evicts the oldest when full. Returns its slot. */
  insert(id: string, signature: Uint32Array, shingles?: Uint32Array): number {
    const n = this.inserted;
    this.write(n, id, signature, shingles, true);
    this.pending.push(n);
    return n % this.capacity;
  }

  size(): number {
    return this.ids.size();
  }

  bytes(): number {
    return this.slab.byteLength + this.table.byteLength + this.stamps.byteLength + this.ids.bytes() + this.shingleSets.length * 8 + this.shingleBytes;
  }

  drainChanges(): Change[] {
    const out: Change[] = [];
    for (const n of this.pending) {
      // A slot rewritten since (possible only when more than `capacity` documents arrive
      // between drains) is reported once, with its latest content: what compaction would keep.
      if (n + this.capacity < this.inserted) continue;
      out.push({ key: String(n % this.capacity), value: this.record(n) });
    }
    this.pending = [];
    return out;
  }

  applyChange(change: Change): void {
    const slot = Number(change.key);
    if (change.value === null) throw new StoreError(this.name, `changelog record for slot ${change.key} has no value (this store never deletes)`);
    const r = this.parseRecord(change.value);
    if (r.n % this.capacity !== slot) {
      throw new StoreError(this.name, `changelog record ${r.n} is for slot ${slot}, not ${r.n % this.capacity}: written with another capacity than ${this.capacity}`);
    }
    this.write(r.n, r.id, r.signature, r.shingles, true);
  }

  snapshot(): Buffer {
    const header = Buffer.from(JSON.stringify({ magic: SNAPSHOT_MAGIC, store: this.name, scheme: this.scheme, capacity: this.capacity, bands: this.bands, rows: this.rows, keepShingles: this.keepShingles, inserted: this.inserted }));
    const parts: Buffer[] = [u32(header.length), header];
    for (let n = Math.max(0, this.inserted - this.capacity); n < this.inserted; n++) {
      if (!this.ids.has(n % this.capacity)) continue;
      const rec = this.record(n);
      parts.push(u32(rec.length), rec);
    }
    return Buffer.concat(parts);
  }

  /**
   * Replaces the state with a snapshot's. A snapshot taken with another capacity is accepted:
   * its newest `capacity` documents are re-slotted oldest first.
   */
  restore(snapshot: Buffer): void {
    let header: { magic?: string; store?: string; scheme?: string; capacity?: number; bands?: number; rows?: number; keepShingles?: boolean; inserted?: number };
    try {
      header = JSON.parse(snapshot.subarray(4, 4 + snapshot.readUInt32LE(0)).toString('utf8'));
    } catch {
      throw new StoreError(this.name, 'snapshot is not an LSH store snapshot');
    }
    if (header.magic !== SNAPSHOT_MAGIC || header.store !== this.name) throw new StoreError(this.name, `snapshot is not of this store (found ${String(header.store)})`);
    if (header.scheme !== this.scheme || header.bands !== this.bands || header.rows !== this.rows || header.keepShingles !== this.keepShingles) {
      throw new StoreError(this.name, `snapshot was made with other signature parameters (${header.scheme}, ${header.bands}×${header.rows}) than this store (${this.scheme}, ${this.bands}×${this.rows}); start from empty state or restore the old parameters`);
    }
    const records: ReturnType<LshStore['parseRecord']>[] = [];
    for (let at = 4 + snapshot.readUInt32LE(0); at < snapshot.length;) {
      const len = snapshot.readUInt32LE(at);
      records.push(this.parseRecord(snapshot.subarray(at + 4, at + 4 + len)));
      at += 4 + len;
    }
    this.clear();
    if (header.capacity === this.capacity) {
      for (const r of records) this.write(r.n, r.id, r.signature, r.shingles, false);
      this.inserted = header.inserted ?? 0;
    } else {
      const keep = records.slice(-this.capacity);
      keep.forEach((r, i) => this.write(i, r.id, r.signature, r.shingles, false));
      this.inserted = keep.length;
    }
    this.table.rebuild(this.occupiedSlots());
    this.pending = [];
  }

  /** Empties the store; the slab keeps stale words, but a slot without an id is never read. */
  private clear(): void {
    this.ids.clear();
    this.shingleSets.fill(undefined);
    this.inserted = 0;
    this.shingleBytes = 0;
    this.table.rebuild([]);
  }

  private *occupiedSlots(): Generator<number> {
    for (let n = Math.max(0, this.inserted - this.capacity); n < this.inserted; n++) {
      const slot = n % this.capacity;
      if (this.ids.has(slot)) yield slot;
    }
  }

  /** Puts document number `n` into its slot, evicting the slot's previous occupant. */
  private write(n: number, id: string, words: Uint32Array, shingles: Uint32Array | undefined, index: boolean): void {
    const slot = n % this.capacity;
    const base = slot * this.words;
    if (this.ids.has(slot)) {
      if (index) for (let b = 0; b < this.bands; b++) this.table.remove(slot, b, bandKey(this.slab, base, b, this.rows));
      this.shingleBytes -= this.shingleSets[slot]?.byteLength ?? 0;
    }
    for (let w = 0; w < this.words; w++) this.slab[base + w] = words[w]!;
    this.ids.set(slot, id);
    if (this.keepShingles) {
      this.shingleSets[slot] = shingles ?? new Uint32Array(0);
      this.shingleBytes += this.shingleSets[slot]!.byteLength;
    }
    this.inserted = Math.max(this.inserted, n + 1);
    if (index) {
      if (this.table.crowded()) this.table.rebuild(this.occupiedSlots());
      else for (let b = 0; b < this.bands; b++) this.table.insert(slot, b, bandKey(this.slab, base, b, this.rows));
    }
  }

  /** version u8 · n f64 · id length u32 · id UTF-8 · signature words u32… · [count u32 · shingles u32…] */
  private record(n: number): Buffer {
    const slot = n % this.capacity;
    const id = encoder.encode(this.ids.get(slot)!);
    const sh = this.shingleSets[slot];
    const buf = Buffer.alloc(13 + id.length + this.words * 4 + (this.keepShingles ? 4 + (sh?.byteLength ?? 0) : 0));
    buf.writeUInt8(RECORD_VERSION, 0);
    buf.writeDoubleLE(n, 1);
    buf.writeUInt32LE(id.length, 9);
    buf.set(id, 13);
    let at = 13 + id.length;
    for (let w = 0; w < this.words; w++, at += 4) buf.writeUInt32LE(this.slab[slot * this.words + w]!, at);
    if (this.keepShingles) {
      buf.writeUInt32LE(sh?.length ?? 0, at);
      at += 4;
      for (const h of sh ?? []) { buf.writeUInt32LE(h, at); at += 4; }
    }
    return buf;
  }

  private parseRecord(buf: Buffer): { n: number; id: string; signature: Uint32Array; shingles: Uint32Array | undefined } {
    if (buf.length < 13 || buf.readUInt8(0) !== RECORD_VERSION) throw new StoreError(this.name, 'not a record of this store (bad version byte)');
    const n = buf.readDoubleLE(1);
    const idLen = buf.readUInt32LE(9);
    const id = decoder.decode(buf.subarray(13, 13 + idLen));
    let at = 13 + idLen;
    const expected = at + this.words * 4 + (this.keepShingles ? 4 : 0);
    if (!Number.isInteger(n) || n < 0 || buf.length < expected) throw new StoreError(this.name, `record of ${buf.length} bytes does not hold a ${this.numPerm}-value signature`);
    const signature = new Uint32Array(this.words);
    for (let w = 0; w < this.words; w++, at += 4) signature[w] = buf.readUInt32LE(at);
    let shingles: Uint32Array | undefined;
    if (this.keepShingles) {
      const count = buf.readUInt32LE(at);
      at += 4;
      shingles = new Uint32Array(count);
      for (let i = 0; i < count; i++, at += 4) shingles[i] = buf.readUInt32LE(at);
    }
    return { n, id, signature, shingles };
  }
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}
