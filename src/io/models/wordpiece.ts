// A fast path through a BERT (WordPiece, uncased) tokenizer for a static model, where tokenizing
// is nearly all the cost of embedding a text. It gives the ids the full tokenizer gives, by
// construction:
//   - the text is cut at ASCII whitespace (space, \t, \n, \r), which every part of the BERT
//     pipeline treats as a word boundary (BertNormalizer maps it to a space and changes nothing
//     across it; BertPreTokenizer splits on it), so the ids of the text are the ids of its chunks
//     one after another;
//   - a chunk of printable ASCII (0x21-0x7e) is lower-cased, split before and after each ASCII
//     punctuation character (BertPreTokenizer) and cut into WordPiece pieces here (greedy longest
//     match, "##" continuation, [UNK] for a word that cannot be cut or is over the length limit);
//   - any other chunk (accents, CJK, control characters, other Unicode whitespace) goes to the full
//     tokenizer, which applies BertNormalizer (clean_text, Chinese characters, accent stripping);
//   - the ids of every chunk are cached (ChunkTable): in running text most words were seen
//     before, so most chunks cost one hash-table probe and no allocation.

/** The WordPiece model of a tokenizer.json: vocabulary and the rules the fast path needs. */
export interface WordPieceModel {
  readonly vocab: ReadonlyMap<string, number>;
  readonly unkId: number;
  readonly continuingSubwordPrefix: string;
  readonly maxInputCharsPerWord: number;
}

/** Reads the parts of a HuggingFace tokenizer.json the fast path relies on; throws if it is not a lower-casing BERT WordPiece tokenizer. */
export function wordPieceModel(tokenizerJson: unknown): WordPieceModel {
  const t = tokenizerJson as {
    model?: { type?: string; vocab?: Record<string, number>; unk_token?: string; continuing_subword_prefix?: string; max_input_chars_per_word?: number };
    normalizer?: { type?: string; lowercase?: boolean; clean_text?: boolean };
    pre_tokenizer?: { type?: string };
  };
  const m = t.model;
  if (m?.type !== 'WordPiece' || !m.vocab) throw new Error(`not a WordPiece tokenizer (model type ${m?.type})`);
  if (t.normalizer?.type !== 'BertNormalizer' || t.normalizer.lowercase !== true) throw new Error('the fast tokenizer needs a lower-casing BertNormalizer');
  if (t.pre_tokenizer?.type !== 'BertPreTokenizer') throw new Error(`the fast tokenizer needs BertPreTokenizer, got ${t.pre_tokenizer?.type}`);
  const vocab = new Map(Object.entries(m.vocab));
  const unkId = vocab.get(m.unk_token ?? '[UNK]');
  if (unkId === undefined) throw new Error(`the vocabulary has no unknown token ${m.unk_token}`);
  return { vocab, unkId, continuingSubwordPrefix: m.continuing_subword_prefix ?? '##', maxInputCharsPerWord: m.max_input_chars_per_word ?? 100 };
}

const isAsciiPunctuation = (c: number) => (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);

/**
 * The chunk → ids cache, as flat arrays: an open-addressing table keyed by a hash computed while
 * the text is scanned, the chunks' characters in one pool and their ids in another. A hit costs
 * no allocation (no substring, no Map hashing of a fresh string), which is most of the cost of
 * embedding with a static model; the table is emptied when full.
 */
class ChunkTable {
  private slots: Int32Array;
  private mask: number;
  private hashes: Int32Array;
  private charStart: Int32Array;
  private lengths: Int32Array;
  private idStart: Int32Array;
  private idCount: Int32Array;
  private chars: Uint16Array;
  private ids: Int32Array;
  size = 0;
  private charsUsed = 0;
  private idsUsed = 0;

  constructor(readonly capacity: number) {
    let slots = 1;
    while (slots < capacity * 2) slots <<= 1;
    this.slots = new Int32Array(slots);
    this.mask = slots - 1;
    this.hashes = new Int32Array(capacity);
    this.charStart = new Int32Array(capacity);
    this.lengths = new Int32Array(capacity);
    this.idStart = new Int32Array(capacity);
    this.idCount = new Int32Array(capacity);
    this.chars = new Uint16Array(capacity * 8);
    this.ids = new Int32Array(capacity * 4);
  }

  /** The entry of text[from, from + len) with hash h, or -1. */
  find(text: string, from: number, len: number, h: number): number {
    let slot = h & this.mask;
    for (;;) {
      const e = this.slots[slot]! - 1;
      if (e < 0) return -1;
      if (this.hashes[e] === h && this.lengths[e] === len) {
        const start = this.charStart[e]!;
        let k = 0;
        while (k < len && this.chars[start + k] === text.charCodeAt(from + k)) k++;
        if (k === len) return e;
      }
      slot = (slot + 1) & this.mask;
    }
  }

  add(text: string, from: number, len: number, h: number, ids: Int32Array): number {
    if (this.size >= this.capacity || this.charsUsed + len > this.chars.length || this.idsUsed + ids.length > this.ids.length) {
      if (len > this.chars.length / 4 || ids.length > this.ids.length / 4) return -1; // too big to cache
      this.slots.fill(0);
      this.size = this.charsUsed = this.idsUsed = 0;
    }
    const e = this.size++;
    this.hashes[e] = h;
    this.lengths[e] = len;
    this.charStart[e] = this.charsUsed;
    for (let k = 0; k < len; k++) this.chars[this.charsUsed + k] = text.charCodeAt(from + k);
    this.charsUsed += len;
    this.idStart[e] = this.idsUsed;
    this.idCount[e] = ids.length;
    this.ids.set(ids, this.idsUsed);
    this.idsUsed += ids.length;
    let slot = h & this.mask;
    while (this.slots[slot] !== 0) slot = (slot + 1) & this.mask;
    this.slots[slot] = e + 1;
    return e;
  }

  /** Copies at most `max` ids of entry e to out[at …]; returns how many the entry has. */
  copy(e: number, out: Int32Array, at: number, max: number): number {
    const n = this.idCount[e]!;
    const start = this.idStart[e]!;
    const m = Math.min(n, max);
    for (let k = 0; k < m; k++) out[at + k] = this.ids[start + k]!;
    return n;
  }
}

export class FastWordPiece {
  private readonly table: ChunkTable;
  private readonly prefixed = new Map<string, number>();
  /** Chunks that went to the full tokenizer, and all chunks (a cache hit counts once). */
  slowChunks = 0;
  chunks = 0;

  constructor(
    private readonly model: WordPieceModel,
    /** The full tokenizer, without special tokens: called for chunks outside printable ASCII. */
    private readonly slow: (chunk: string) => number[],
    cacheLimit = 200_000,
  ) {
    this.table = new ChunkTable(cacheLimit);
    for (const [token, id] of model.vocab) if (token.startsWith(model.continuingSubwordPrefix)) this.prefixed.set(token.slice(model.continuingSubwordPrefix.length), id);
  }

  /**
   * Appends the ids of `text` to `out` from position `at`, stopping once `limit` ids are there
   * (the next ones would be cut by truncation). Returns the new length, or -1 − limit when ids
   * were cut.
   */
  encodeInto(text: string, out: Int32Array, at: number, limit: number): number {
    let n = at;
    const len = text.length;
    let i = 0;
    while (i < len) {
      let c = text.charCodeAt(i);
      while (c === 32 || c === 9 || c === 10 || c === 13) {
        if (++i >= len) return n;
        c = text.charCodeAt(i);
      }
      let j = i;
      let h = 0x811c9dc5 | 0;
      while (j < len) {
        c = text.charCodeAt(j);
        if (c === 32 || c === 9 || c === 10 || c === 13) break;
        h = Math.imul(h ^ c, 0x01000193);
        j++;
      }
      this.chunks++;
      let e = this.table.find(text, i, j - i, h);
      let count: number;
      if (e >= 0) {
        count = this.table.copy(e, out, n, limit - n);
      } else {
        const ids = this.compute(text.slice(i, j));
        e = this.table.add(text, i, j - i, h, ids);
        count = ids.length;
        const m = Math.min(count, limit - n);
        for (let k = 0; k < m; k++) out[n + k] = ids[k]!;
      }
      i = j;
      if (n + count > limit) return -1 - limit;
      n += count;
    }
    return n;
  }

  /** The ids of one chunk (no ASCII whitespace in it), uncached. */
  private compute(chunk: string): Int32Array {
    let printable = true;
    for (let k = 0; k < chunk.length; k++) {
      const c = chunk.charCodeAt(k);
      if (c < 33 || c > 126) {
        printable = false;
        break;
      }
    }
    let ids: Int32Array;
    if (printable) ids = this.asciiChunk(chunk.toLowerCase());
    else {
      this.slowChunks++;
      ids = Int32Array.from(this.slow(chunk));
    }
    return ids;
  }

  private asciiChunk(lower: string): Int32Array {
    const out: number[] = [];
    let start = 0;
    for (let k = 0; k <= lower.length; k++) {
      const c = k < lower.length ? lower.charCodeAt(k) : -1;
      if (c === -1 || isAsciiPunctuation(c)) {
        if (k > start) this.word(lower.slice(start, k), out);
        if (c !== -1) this.word(lower[k]!, out);
        start = k + 1;
      }
    }
    return Int32Array.from(out);
  }

  /** Greedy longest-match-first WordPiece, as HuggingFace tokenizers' WordPiece model. */
  private word(word: string, out: number[]): void {
    if (word.length > this.model.maxInputCharsPerWord) {
      out.push(this.model.unkId);
      return;
    }
    const first = out.length;
    let start = 0;
    while (start < word.length) {
      let end = word.length;
      let id: number | undefined;
      while (start < end) {
        const piece = word.slice(start, end);
        id = start === 0 ? this.model.vocab.get(piece) : this.prefixed.get(piece);
        if (id !== undefined) break;
        end--;
      }
      if (id === undefined) {
        out.length = first;
        out.push(this.model.unkId);
        return;
      }
      out.push(id);
      start = end;
    }
  }
}
