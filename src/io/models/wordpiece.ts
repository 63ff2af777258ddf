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
//   - the ids of every chunk are cached: in running text most words were seen before, so most
//     chunks cost one Map lookup.

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
const isChunkBreak = (c: number) => c === 32 || c === 9 || c === 10 || c === 13;

export class FastWordPiece {
  private readonly cache = new Map<string, Int32Array>();
  private readonly prefixed = new Map<string, number>();
  /** Chunks that went to the full tokenizer, and all chunks (a cache hit counts once). */
  slowChunks = 0;
  chunks = 0;

  constructor(
    private readonly model: WordPieceModel,
    /** The full tokenizer, without special tokens: called for chunks outside printable ASCII. */
    private readonly slow: (chunk: string) => number[],
    private readonly cacheLimit = 200_000,
  ) {
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
      while (i < len && isChunkBreak(text.charCodeAt(i))) i++;
      if (i >= len) break;
      let j = i;
      while (j < len && !isChunkBreak(text.charCodeAt(j))) j++;
      const ids = this.chunk(text.slice(i, j));
      i = j;
      if (n + ids.length > limit) {
        out.set(ids.subarray(0, limit - n), n);
        return -1 - limit;
      }
      out.set(ids, n);
      n += ids.length;
    }
    return n;
  }

  /** The ids of one chunk (no ASCII whitespace in it). */
  chunk(chunk: string): Int32Array {
    this.chunks++;
    const hit = this.cache.get(chunk);
    if (hit) return hit;
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
    if (this.cache.size >= this.cacheLimit) this.cache.clear();
    this.cache.set(chunk, ids);
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
