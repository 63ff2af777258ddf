// A static embedding model in model2vec's on-disk layout (config.json with model_type
// "model2vec", model.safetensors with an `embeddings` [vocabulary, dim] matrix, tokenizer.json):
// a text's vector is the mean of its tokens' rows, L2-normalised. It computes what model2vec's
// StaticModel.encode computes (0.10: the text cut to max_length × the vocabulary's median token
// length in characters, tokens without special tokens, truncated to max_length, [UNK] removed,
// mean, normalised), so the same directory gives the same vectors here, in model2vec and in
// semhash (test/static-model2vec.test.ts checks it). Runs in the calling thread: a document costs
// microseconds, most of it tokenizing (see wordpiece.ts for the fast path).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EmbedderError, type EmbedResult, type EmbedderStats } from '../../stages/embed/types.js';
import { FastWordPiece, wordPieceModel } from './wordpiece.js';

export interface StaticModelFiles {
  readonly directory: string;
  /** As the user gave it (or the alias resolved): travels with every embedding. */
  readonly model: string;
  /** Tokens per text (model2vec's max_length); default: config.json's max_length, else 512. */
  readonly maxTokens?: number;
}

interface SafeTensor { dtype: string; shape: number[]; data: Buffer }

/** Reads a safetensors file: u64 little-endian header length, JSON header, then the raw tensors. */
export function readSafetensors(file: string): Map<string, SafeTensor> {
  const buf = readFileSync(file);
  if (buf.length < 8) throw new Error(`${file}: not a safetensors file`);
  const headerLen = Number(buf.readBigUInt64LE(0));
  if (8 + headerLen > buf.length) throw new Error(`${file}: safetensors header runs past the end of the file`);
  const header = JSON.parse(buf.toString('utf8', 8, 8 + headerLen)) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const out = new Map<string, SafeTensor>();
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [a, b] = t.data_offsets;
    out.set(name, { dtype: t.dtype, shape: t.shape, data: buf.subarray(8 + headerLen + a, 8 + headerLen + b) });
  }
  return out;
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? Number.NaN : s * Number.POSITIVE_INFINITY;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/** A float tensor as Float32Array (F32 as is, F16 widened). */
function floats(t: SafeTensor, what: string): Float32Array {
  if (t.dtype === 'F32') {
    const copy = new Float32Array(t.data.byteLength / 4);
    new Uint8Array(copy.buffer).set(t.data);
    return copy;
  }
  if (t.dtype === 'F16') {
    const out = new Float32Array(t.data.byteLength / 2);
    for (let i = 0; i < out.length; i++) out[i] = halfToFloat(t.data.readUInt16LE(2 * i));
    return out;
  }
  throw new Error(`${what}: dtype ${t.dtype} is not supported (F32 or F16)`);
}

export function isStaticModelDir(directory: string): boolean {
  try {
    return (JSON.parse(readFileSync(join(directory, 'config.json'), 'utf8')) as { model_type?: string }).model_type === 'model2vec';
  } catch {
    return false;
  }
}

/** The median character length of the vocabulary's tokens, as model2vec computes it: int(np.median(...)), code points. */
function medianTokenLength(vocab: Iterable<[string, number]>): number {
  const lengths = [...vocab].sort((a, b) => a[1] - b[1]).map(([t]) => [...t].length).sort((a, b) => a - b);
  const n = lengths.length;
  const m = n % 2 === 1 ? lengths[(n - 1) / 2]! : (lengths[n / 2 - 1]! + lengths[n / 2]!) / 2;
  return Math.trunc(m);
}

/** The first `max` code points of `text` (Python's text[:max]), and whether anything was cut. */
function codePointPrefix(text: string, max: number): { text: string; cut: boolean } {
  if (text.length <= max) return { text, cut: false };
  let units = 0;
  for (let points = 0; points < max && units < text.length; points++) {
    const c = text.charCodeAt(units);
    units += c >= 0xd800 && c <= 0xdbff && units + 1 < text.length ? 2 : 1;
  }
  return units >= text.length ? { text, cut: false } : { text: text.slice(0, units), cut: true };
}

export interface StaticModel {
  readonly model: string;
  readonly directory: string;
  readonly dim: number;
  readonly maxTokens: number;
  readonly vocabulary: number;
  /** Token ids of each text as they are averaged ([UNK] removed), for tests and benchmarks. */
  tokenize(texts: readonly string[]): { rows: Int32Array[]; truncated: boolean[] };
  embed(texts: readonly string[]): EmbedResult[];
  stats(): EmbedderStats;
}

/** Opens a model2vec directory. Needs @huggingface/transformers only for the tokenizer's slow path (text outside printable ASCII). */
export async function openStaticModel(files: StaticModelFiles): Promise<StaticModel> {
  const { directory } = files;
  let config: { normalize?: boolean; max_length?: number | null; hidden_dim?: number };
  let tokenizerJson: unknown;
  let tensors: Map<string, SafeTensor>;
  try {
    config = JSON.parse(readFileSync(join(directory, 'config.json'), 'utf8')) as typeof config;
    tokenizerJson = JSON.parse(readFileSync(join(directory, 'tokenizer.json'), 'utf8'));
    tensors = readSafetensors(join(directory, 'model.safetensors'));
  } catch (e) {
    throw new EmbedderError(`cannot load the static model ${files.model} from ${directory}: ${e instanceof Error ? e.message : String(e)}`, false, { cause: e });
  }
  const emb = tensors.get('embeddings');
  if (!emb || emb.shape.length !== 2) throw new EmbedderError(`${directory}/model.safetensors has no 2-d "embeddings" tensor`, false);
  if (tensors.has('mapping')) throw new EmbedderError(`${files.model}: vocabulary-quantised model2vec models (a "mapping" tensor) are not supported`, false);
  const [rows, dim] = emb.shape as [number, number];
  const matrix = floats(emb, `${directory}/model.safetensors embeddings`);
  const weightsTensor = tensors.get('weights');
  const weights = weightsTensor ? floats(weightsTensor, 'weights') : undefined;
  if (weights && weights.length !== rows) throw new EmbedderError(`${files.model}: ${weights.length} weights for ${rows} embeddings`, false);

  const tf = await import('@huggingface/transformers');
  const full = new tf.PreTrainedTokenizer(tokenizerJson as Record<string, unknown>, {});
  const slow = (s: string) => full.encode(s, { add_special_tokens: false });
  let fast: FastWordPiece | undefined;
  let vocab: Map<string, number>;
  let unkId: number | undefined;
  try {
    const wp = wordPieceModel(tokenizerJson);
    fast = new FastWordPiece(wp, slow);
    vocab = new Map(wp.vocab);
    unkId = wp.unkId;
  } catch {
    // Not a BERT WordPiece tokenizer: every text goes through the full tokenizer (correct, slower).
    const m = (tokenizerJson as { model?: { vocab?: Record<string, number> | [string, number][]; unk_token?: string; unk_id?: number } }).model;
    vocab = new Map(Array.isArray(m?.vocab) ? m.vocab.map(([t], i) => [t, i] as [string, number]) : Object.entries(m?.vocab ?? {}));
    unkId = m?.unk_token !== undefined ? vocab.get(m.unk_token) : m?.unk_id;
  }
  if (vocab.size > rows) throw new EmbedderError(`${files.model}: the tokenizer has ${vocab.size} tokens but the embeddings only ${rows} rows`, false);
  const maxTokens = files.maxTokens ?? (config.max_length ?? 512);
  if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new EmbedderError(`max tokens must be a positive integer, got ${maxTokens}`, false);
  const maxChars = maxTokens * medianTokenLength(vocab);
  const stats = { texts: 0, batches: 0, tokens: 0, paddedTokens: 0, truncated: 0 };
  const buffer = new Int32Array(maxTokens);
  const acc = new Float32Array(dim);
  const counts = new Int32Array(rows);
  const unique = new Int32Array(maxTokens);

  /** acc ← the sum of the rows of buffer[0 … n): each distinct token's row once, times its count (a text repeats many tokens). */
  function accumulate(n: number): void {
    let u = 0;
    for (let k = 0; k < n; k++) {
      const id = buffer[k]!;
      if (counts[id]!++ === 0) unique[u++] = id;
    }
    acc.fill(0);
    for (let k = 0; k < u; k++) {
      const id = unique[k]!;
      const c = counts[id]! * (weights ? weights[id]! : 1);
      counts[id] = 0;
      const base = id * dim;
      let d = 0;
      for (; d + 4 <= dim; d += 4) {
        acc[d]! += c * matrix[base + d]!;
        acc[d + 1]! += c * matrix[base + d + 1]!;
        acc[d + 2]! += c * matrix[base + d + 2]!;
        acc[d + 3]! += c * matrix[base + d + 3]!;
      }
      for (; d < dim; d++) acc[d]! += c * matrix[base + d]!;
    }
  }

  /** The ids averaged for `text` (in `buffer`, [UNK] removed), how many, and whether the text was cut. */
  function ids(text: string): { n: number; truncated: boolean } {
    const cut = codePointPrefix(text, maxChars);
    let n: number;
    let truncated = cut.cut;
    if (fast) {
      n = fast.encodeInto(cut.text, buffer, 0, maxTokens);
      if (n < 0) {
        n = maxTokens;
        truncated = true;
      }
    } else {
      const all = slow(cut.text);
      if (all.length > maxTokens) truncated = true;
      n = Math.min(all.length, maxTokens);
      for (let k = 0; k < n; k++) buffer[k] = all[k]!;
    }
    let kept = 0;
    for (let k = 0; k < n; k++) if (buffer[k] !== unkId) buffer[kept++] = buffer[k]!;
    return { n: kept, truncated };
  }

  return {
    model: files.model, directory, dim, maxTokens, vocabulary: vocab.size,
    tokenize(texts) {
      const out = { rows: [] as Int32Array[], truncated: [] as boolean[] };
      for (const t of texts) {
        const r = ids(t);
        out.rows.push(buffer.slice(0, r.n));
        out.truncated.push(r.truncated);
      }
      return out;
    },
    embed(texts) {
      stats.batches++;
      return texts.map((text): EmbedResult => {
        let r: { n: number; truncated: boolean };
        try {
          r = ids(text);
        } catch (e) {
          return { values: new Float32Array(0), tokens: 0, truncated: false, empty: false, error: e instanceof Error ? e.message : String(e) };
        }
        if (r.n === 0) return { values: new Float32Array(0), tokens: 0, truncated: false, empty: true };
        accumulate(r.n);
        // The mean's 1/n cancels in the normalisation.
        let norm = 0;
        for (let d = 0; d < dim; d++) norm += acc[d]! * acc[d]!;
        const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
        const values = new Float32Array(dim);
        for (let d = 0; d < dim; d++) values[d] = acc[d]! * scale;
        stats.texts++;
        stats.tokens += r.n;
        stats.paddedTokens += r.n;
        if (r.truncated) stats.truncated++;
        return { values, tokens: r.n, truncated: r.truncated, empty: false };
      });
    },
    stats: () => ({ ...stats }),
  };
}
