// The one place that imports @huggingface/transformers (dynamically, so that importing this
// module costs nothing until a model is opened). It holds three layers:
//   openModel      - tokenizer + onnxruntime session in the calling thread (what a worker runs);
//   a worker pool  - N worker threads (embed-worker.ts) each holding one openModel;
//   createEmbedder - the `Embedder` the stages use: tokenize → sort by length → batches → pool;
//                    for a static (model2vec) model directory, static-embedder.ts in this thread.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { isStaticModelDir, openStaticModel } from './static-embedder.js';
import {
  EmbedderError, type Device, type Dtype, type EmbedResult, type Embedder, type EmbedderOptions, type EmbedderStats, type Pooling,
} from '../../stages/embed/types.js';

export { EmbedderError } from '../../stages/embed/types.js';
export type { Embedder, EmbedderOptions, EmbedResult, EmbedderStats, Pooling, Device, Dtype } from '../../stages/embed/types.js';

export const DEFAULT_MODEL = 'sentence-transformers/all-MiniLM-L6-v2';
/**
 * Short names for the models scripts/setup-model.mjs installs (`--model static`). The alias is
 * resolved to the id, and the id is what travels with every embedding.
 */
export const MODEL_ALIASES: Readonly<Record<string, string>> = {
  minilm: 'sentence-transformers/all-MiniLM-L6-v2',
  'bge-small': 'BAAI/bge-small-en-v1.5',
  'e5-small': 'intfloat/e5-small-v2',
  static: 'd4stream/m2v-all-MiniLM-L6-v2',
};
export const DEFAULT_MAX_TOKENS = 256;
/**
 * How texts are grouped into inference calls: at most `batchSize` texts and at most
 * `batchTokens` token slots (texts × the longest, padding included) per call. On CPU a batch
 * buys little (a 200-token text is already a large matrix product) and costs padding and cache
 * misses (the [batch, 12, seq, seq] attention scores are 100 MB at 32 × 256 tokens), so the
 * budget is one full window. Measured on the 2-core machine, q8, one thread, sorted, docs/s:
 * C4 (191 tokens on average): 1 text 85, 8 texts 73, 32 texts 47, ≤256 tokens 90, ≤512 84;
 * MRPC sentences (27 tokens): 1 text 644, 8 texts 876, 32 texts 714, ≤256 tokens 848.
 * A GPU wants large batches.
 */
export const DEFAULT_BATCHING = { cpu: { batchSize: 64, batchTokens: 256 }, cuda: { batchSize: 64, batchTokens: 64 * 256 } } as const;

/** <repository>/.d4/models, the directory scripts/setup-model.mjs writes (this file is dist/src/io/models/embedder.js). */
export function defaultModelsDir(): string {
  if (process.env.D4_MODELS_DIR) return resolve(process.env.D4_MODELS_DIR);
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6 && !existsSync(join(dir, 'package.json')); i++) dir = dirname(dir);
  return join(dir, '.d4', 'models');
}

// ---------------------------------------------------------------------------------------------
// Resolving options: where the model is, and every default made explicit.

/** Everything a worker needs to open the model; plain data (it crosses the thread boundary). */
export interface ModelSpec {
  /** What transformers.js loads: an id under `localModelPath`, or an absolute directory. */
  readonly ref: string;
  readonly localModelPath: string;
  readonly directory: string;
  /** As the user gave it: travels with every embedding. */
  readonly model: string;
  readonly pooling: Pooling;
  readonly maxTokens: number;
  readonly device: Device;
  readonly dtype: Dtype;
  readonly threads: number;
  /** Put before every text (the model's document prefix, e.g. e5's "query: "); counts in maxTokens. */
  readonly prefix: string;
  /** From the model's d4-model.json when it has one. */
  readonly manifestDim?: number;
}

const DTYPE_FILE: Record<Dtype, string> = { fp32: 'model.onnx', fp16: 'model_fp16.onnx', q8: 'model_quantized.onnx' };

interface Manifest { dimension?: number; pooling?: string; max_seq_length?: number; document_prefix?: string }

function readManifest(dir: string): Manifest | undefined {
  const p = join(dir, 'd4-model.json');
  if (!existsSync(p)) return undefined;
  try {
    return JSON.parse(readFileSync(p, 'utf8')) as Manifest;
  } catch {
    return undefined;
  }
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Where a model is: an alias, an id under modelsDir, or a directory path. Throws if it is not there. */
export function resolveModelDirectory(options: Pick<EmbedderOptions, 'model' | 'modelsDir'>): { modelsDir: string; directory: string; model: string; ref: string } {
  const modelsDir = resolve(options.modelsDir ?? defaultModelsDir());
  if (!options.model) throw new EmbedderError('no model given (--model <id|path>)', false);
  const given = MODEL_ALIASES[options.model] ?? options.model;
  // A path (absolute, ./relative, or an existing directory with a separator in it) is the model
  // directory itself; anything else is an id under modelsDir, the layout transformers.js expects.
  const looksLikePath = isAbsolute(given) || given.startsWith('.') || (given.includes(sep) && isDirectory(given) && !isDirectory(join(modelsDir, given)));
  const directory = looksLikePath ? resolve(given) : join(modelsDir, ...given.split('/'));
  if (!isDirectory(directory)) {
    throw new EmbedderError(
      looksLikePath
        ? `model directory ${directory} does not exist`
        : `model ${given} is not installed in ${modelsDir} (run \`node scripts/setup-model.mjs\`, which installs ${Object.entries(MODEL_ALIASES).map(([a, id]) => `${id} (${a})`).join(', ')}; or set --models-dir / D4_MODELS_DIR)`,
      false);
  }
  for (const f of ['config.json', 'tokenizer.json']) {
    if (!existsSync(join(directory, f))) throw new EmbedderError(`model directory ${directory} has no ${f} (see docs/model.md for the layout)`, false);
  }
  return { modelsDir, directory, model: given, ref: looksLikePath ? directory : given };
}

export function resolveModel(options: EmbedderOptions, threadsPerWorker: number): ModelSpec {
  const { modelsDir, directory, model: given, ref } = resolveModelDirectory(options);
  const device = options.device ?? 'cpu';
  // int8 (MatMulInteger, DynamicQuantizeLinear) runs on onnxruntime's CPU kernels only; on a GPU
  // the float weights are the fast ones.
  const dtype = options.dtype ?? (device === 'cuda' ? 'fp32' : 'q8');
  if (!existsSync(join(directory, 'onnx', DTYPE_FILE[dtype]))) {
    throw new EmbedderError(`--dtype ${dtype} needs ${join(directory, 'onnx', DTYPE_FILE[dtype])}, which is missing`, false);
  }
  const manifest = readManifest(directory);
  const pooling = options.pooling ?? ((['mean', 'last-token', 'cls'] as const).find((p) => p === manifest?.pooling) ?? 'mean');
  const maxTokens = options.maxTokens ?? DEFAULT_MAX_TOKENS;
  if (!Number.isInteger(maxTokens) || maxTokens < 4) throw new EmbedderError(`--max-tokens must be an integer >= 4, got ${maxTokens}`, false);
  const prefix = options.prefix ?? manifest?.document_prefix ?? '';
  return {
    ref, localModelPath: modelsDir, directory, model: given, pooling, maxTokens, device, dtype, prefix,
    threads: threadsPerWorker, ...(manifest?.dimension ? { manifestDim: manifest.dimension } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// openModel: the model in the calling thread.

/** Token ids of many texts in one transferable block: row i is flat[offsets[i] .. offsets[i+1]). */
export interface TokenBlock {
  readonly flat: Int32Array;
  readonly offsets: Int32Array;
  /** 1 when the text had more tokens than maxTokens allows. */
  readonly truncated: Uint8Array;
  /** 1 when the text has no token besides the special ones. */
  readonly empty: Uint8Array;
  /** Per text: why it could not be tokenized, or null. */
  readonly errors: (string | null)[];
}

export interface ModelInfo {
  readonly dim: number;
  readonly pooling: Pooling;
  readonly dtype: Dtype;
  readonly device: Device;
  readonly maxTokens: number;
  readonly inputNames: readonly string[];
}

export interface LocalModel {
  readonly info: ModelInfo;
  tokenize(texts: readonly string[]): TokenBlock;
  /** Embeds token rows (special tokens included); returns rows × dim L2-normalised values. */
  infer(flat: Int32Array, offsets: Int32Array): Promise<Float32Array>;
  close(): Promise<void>;
}

/** How much text to tokenize per token we may keep, at first: English runs ~4.5 characters per token. */
const CHARS_PER_TOKEN = 6;
/** A hard cut (no whitespace near the limit) may split a word; WordPiece yields at most 100 pieces per word. */
const HARD_CUT_MARGIN = 100;
const WHITESPACE_MARGIN = 8;

/**
 * Tokenizes only as much of a long text as can matter. Whitespace ends a pre-token in every
 * tokenizer family we load (BERT, byte-level BPE, Metaspace), so the tokens of a prefix cut just
 * before whitespace are a prefix of the text's tokens: a 1 MB text costs what its first few
 * kilobytes cost. When the prefix does not yield comfortably more tokens than we keep, the cut
 * moves 4× further, up to the whole text.
 */
export function contentTokens(text: string, budget: number, encode: (s: string) => number[]): { ids: number[]; truncated: boolean } {
  let limit = Math.max(budget * CHARS_PER_TOKEN, 256);
  for (;;) {
    if (text.length <= limit) {
      const ids = encode(text);
      return ids.length > budget ? { ids: ids.slice(0, budget), truncated: true } : { ids, truncated: false };
    }
    let cut = limit;
    const floor = Math.max(0, limit - 512);
    while (cut > floor && !/\s/u.test(text[cut]!)) cut--;
    const hard = cut === floor;
    if (hard) {
      cut = limit;
      const c = text.charCodeAt(cut - 1);
      if (c >= 0xd800 && c <= 0xdbff) cut--; // never split a surrogate pair
    }
    const ids = encode(text.slice(0, cut));
    if (ids.length > budget + (hard ? HARD_CUT_MARGIN : WHITESPACE_MARGIN)) return { ids: ids.slice(0, budget), truncated: true };
    limit *= 4;
  }
}

function findSubsequence(hay: readonly number[], needle: readonly number[]): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Opens tokenizer and model in this thread. Loads only local files: allowRemoteModels = false. */
export async function openModel(spec: ModelSpec): Promise<LocalModel> {
  const tf = await import('@huggingface/transformers');
  tf.env.allowRemoteModels = false;
  tf.env.allowLocalModels = true;
  tf.env.localModelPath = spec.localModelPath.endsWith(sep) ? spec.localModelPath : spec.localModelPath + sep;
  tf.env.useFSCache = false;

  let tokenizer: Awaited<ReturnType<typeof tf.AutoTokenizer.from_pretrained>>;
  let model: Awaited<ReturnType<typeof tf.AutoModel.from_pretrained>>;
  try {
    tokenizer = await tf.AutoTokenizer.from_pretrained(spec.ref);
  } catch (e) {
    throw new EmbedderError(`cannot load the tokenizer of ${spec.model} from ${spec.directory}: ${message(e)}`, false, { cause: e });
  }
  try {
    model = await tf.AutoModel.from_pretrained(spec.ref, {
      dtype: spec.dtype,
      // transformers.js maps device 'cuda' to onnxruntime-node's CUDA execution provider.
      device: spec.device,
      session_options: spec.device === 'cpu'
        ? { intraOpNumThreads: spec.threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' }
        : { graphOptimizationLevel: 'all' },
    });
  } catch (e) {
    const hint = spec.device === 'cuda'
      ? ' (--device cuda needs onnxruntime-node installed with its CUDA 12 provider, `npm ci --onnxruntime-node-install=cuda12`, a CUDA 12 runtime with cuDNN 9 and an NVIDIA GPU: see docker/Dockerfile.gpu)'
      : '';
    throw new EmbedderError(`cannot load ${spec.model} (${spec.dtype}, ${spec.device}) from ${spec.directory}: ${message(e)}${hint}`, false, { cause: e });
  }

  const session = (model as unknown as { sessions: Record<string, { inputNames: string[]; outputNames: string[] }> }).sessions.model;
  if (!session) throw new EmbedderError(`${spec.model}: transformers.js built no single 'model' session for this architecture`, false);
  const inputNames = [...session.inputNames];
  const outputName = ['last_hidden_state', 'token_embeddings'].find((n) => session.outputNames.includes(n));
  if (!outputName) {
    // A causal-LM export would give logits: pooling those would silently produce a vocabulary-sized "embedding".
    throw new EmbedderError(`${spec.model}: the ONNX graph has no last_hidden_state output (outputs: ${session.outputNames.join(', ')}); export it for feature-extraction`, false);
  }
  const maxPositions = (model as unknown as { config?: { max_position_embeddings?: number } }).config?.max_position_embeddings;
  if (maxPositions && spec.maxTokens > maxPositions) {
    throw new EmbedderError(`--max-tokens ${spec.maxTokens} exceeds the model's ${maxPositions} positions`, false);
  }

  // The special tokens the tokenizer wraps one text in ([CLS] … [SEP] for BERT), found by
  // comparing one probe encoded with and without them. Truncation then cuts the text's own tokens
  // to maxTokens − specials and re-wraps them, as sentence-transformers (HF tokenizers) does.
  // transformers.js 4.3.1 would instead cut after wrapping and lose the final [SEP].
  const probe = 'hello world';
  const bare = tokenizer.encode(probe, { add_special_tokens: false });
  const wrapped = tokenizer.encode(probe, { add_special_tokens: true });
  const at = findSubsequence(wrapped, bare);
  if (at < 0) throw new EmbedderError(`${spec.model}: cannot find where the tokenizer puts its special tokens`, false);
  // The document prefix ("query: ") is tokenized once and goes after the opening special tokens;
  // it ends in whitespace, so its tokens followed by the text's equal the tokens of prefix + text.
  const textPrefix = spec.prefix ? tokenizer.encode(spec.prefix, { add_special_tokens: false }) : [];
  const prefix = [...wrapped.slice(0, at), ...textPrefix];
  const suffix = wrapped.slice(at + bare.length);
  const budget = spec.maxTokens - prefix.length - suffix.length;
  if (budget < 1) throw new EmbedderError(`--max-tokens ${spec.maxTokens} leaves no room for text after the special tokens and the prefix ${JSON.stringify(spec.prefix)}`, false);
  const padId = (tokenizer as unknown as { pad_token_id?: number }).pad_token_id ?? 0;
  const encode = (s: string) => tokenizer.encode(s, { add_special_tokens: false });

  function tokenize(texts: readonly string[]): TokenBlock {
    const rows: number[][] = [];
    const truncated = new Uint8Array(texts.length);
    const empty = new Uint8Array(texts.length);
    const errors: (string | null)[] = [];
    let total = 0;
    texts.forEach((text, i) => {
      let row: number[] = [];
      errors.push(null);
      try {
        const c = contentTokens(text, budget, encode);
        truncated[i] = c.truncated ? 1 : 0;
        empty[i] = c.ids.length === 0 ? 1 : 0;
        row = c.ids.length === 0 ? [] : [...prefix, ...c.ids, ...suffix];
      } catch (e) {
        errors[i] = message(e);
      }
      rows.push(row);
      total += row.length;
    });
    const flat = new Int32Array(total);
    const offsets = new Int32Array(texts.length + 1);
    rows.forEach((row, i) => {
      flat.set(row, offsets[i]!);
      offsets[i + 1] = offsets[i]! + row.length;
    });
    return { flat, offsets, truncated, empty, errors };
  }

  async function infer(flat: Int32Array, offsets: Int32Array): Promise<Float32Array> {
    const n = offsets.length - 1;
    let width = 0;
    for (let i = 0; i < n; i++) width = Math.max(width, offsets[i + 1]! - offsets[i]!);
    // Right padding: the real tokens of row i sit at positions 0 … len_i − 1, so last-token
    // pooling reads position len_i − 1 and positions stay 0-based for decoder models too.
    const ids = new BigInt64Array(n * width).fill(BigInt(padId));
    const mask = new BigInt64Array(n * width);
    for (let i = 0; i < n; i++) {
      const start = offsets[i]!;
      const len = offsets[i + 1]! - start;
      for (let j = 0; j < len; j++) {
        ids[i * width + j] = BigInt(flat[start + j]!);
        mask[i * width + j] = 1n;
      }
    }
    const feeds: Record<string, InstanceType<typeof tf.Tensor>> = {
      input_ids: new tf.Tensor('int64', ids, [n, width]),
      attention_mask: new tf.Tensor('int64', mask, [n, width]),
    };
    if (inputNames.includes('token_type_ids')) feeds.token_type_ids = new tf.Tensor('int64', new BigInt64Array(n * width), [n, width]);
    const out = (await model(feeds)) as Record<string, InstanceType<typeof tf.Tensor>>;
    let hidden = out[outputName!]!;
    if (hidden.type !== 'float32') hidden = hidden.to('float32');
    const [, seq, dim] = hidden.dims as [number, number, number];
    return pool(hidden.data as Float32Array, n, seq, dim, offsets, spec.pooling);
  }

  const model0 = model;
  const info0 = { pooling: spec.pooling, dtype: spec.dtype, device: spec.device, maxTokens: spec.maxTokens, inputNames };
  // One short inference learns the dimension and warms the session (first runs allocate).
  const warm = tokenize([probe]);
  const warmOut = await infer(warm.flat, warm.offsets);
  return {
    info: { ...info0, dim: warmOut.length },
    tokenize,
    infer,
    async close() {
      await model0.dispose();
    },
  };
}

/** Pools [n, seq, dim] hidden states over each row's real tokens, then L2-normalises (float64 sums). */
export function pool(hidden: Float32Array, n: number, seq: number, dim: number, offsets: Int32Array, pooling: Pooling): Float32Array {
  const out = new Float32Array(n * dim);
  const acc = new Float64Array(dim);
  for (let i = 0; i < n; i++) {
    const len = offsets[i + 1]! - offsets[i]!;
    acc.fill(0);
    const rowBase = i * seq * dim;
    if (pooling === 'mean') {
      for (let t = 0; t < len; t++) {
        const b = rowBase + t * dim;
        for (let d = 0; d < dim; d++) acc[d]! += hidden[b + d]!;
      }
    } else {
      const b = rowBase + (pooling === 'cls' ? 0 : len - 1) * dim;
      for (let d = 0; d < dim; d++) acc[d] = hidden[b + d]!;
    }
    // Mean then normalise equals normalise of the sum: the 1/len factor cancels.
    let norm = 0;
    for (let d = 0; d < dim; d++) norm += acc[d]! * acc[d]!;
    const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    for (let d = 0; d < dim; d++) out[i * dim + d] = acc[d]! * scale;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The worker pool.

/** What runs a model operation: worker threads, or the calling thread (workers: 0). */
interface Backend {
  tokenize(texts: readonly string[]): Promise<TokenBlock>;
  infer(flat: Int32Array, offsets: Int32Array): Promise<Float32Array>;
  close(): Promise<void>;
}

type RequestBody = { op: 'tokenize'; texts: readonly string[] } | { op: 'infer'; flat: Int32Array; offsets: Int32Array } | { op: 'embed'; texts: readonly string[] };

/** A static model's results for many texts in one transferable block (what a static worker answers to `embed`). */
export interface StaticBlock {
  /** texts × dim; the rows of texts without a vector are zeros. */
  readonly values: Float32Array;
  readonly tokens: Int32Array;
  /** Per text: bit 0 truncated, bit 1 empty. */
  readonly flags: Uint8Array;
  readonly errors: (string | null)[];
}

/** What a worker opens: a transformer (ModelSpec) or a static model directory. */
export type WorkerSpec = ModelSpec | { readonly kind: 'static'; readonly directory: string; readonly model: string; readonly maxTokens?: number };
export type WorkerReply =
  | { type: 'ready'; info: ModelInfo }
  | { type: 'failed'; message: string; retriable: boolean }
  | { type: 'result'; id: number; value: TokenBlock | Float32Array | StaticBlock }
  | { type: 'error'; id: number; message: string };

interface Task {
  readonly request: RequestBody;
  readonly transfer: ArrayBuffer[];
  resolve(value: unknown): void;
  reject(error: Error): void;
}

interface Slot {
  worker: Worker;
  readonly running: Map<number, Task>;
}

/**
 * N worker threads, each with its own session. Tasks queue FIFO; a worker holds up to two at a
 * time so that the next request is already waiting when a run ends. A worker that dies is
 * replaced (its tasks fail with a retriable error); idle workers are unref'ed so that an open
 * embedder never keeps the process alive on its own.
 */
class WorkerPool implements Backend {
  private readonly slots: Slot[] = [];
  private readonly queue: Task[] = [];
  private nextId = 1;
  private closed = false;
  private restarts = 0;

  private constructor(private readonly spec: WorkerSpec) {}

  static async open(spec: WorkerSpec, workers: number): Promise<{ pool: WorkerPool; info: ModelInfo }> {
    const pool = new WorkerPool(spec);
    try {
      const infos = await Promise.all(Array.from({ length: workers }, () => pool.spawn()));
      return { pool, info: infos[0]! };
    } catch (e) {
      await pool.close();
      throw e;
    }
  }

  private spawn(): Promise<ModelInfo> {
    return new Promise((resolvePromise, reject) => {
      const worker = new Worker(new URL('./embed-worker.js', import.meta.url), { workerData: this.spec });
      const slot: Slot = { worker, running: new Map() };
      let ready = false;
      worker.on('message', (m: WorkerReply) => {
        if (m.type === 'ready') {
          ready = true;
          this.slots.push(slot);
          worker.unref();
          resolvePromise(m.info);
          this.dispatch();
        } else if (m.type === 'failed') {
          reject(new EmbedderError(m.message, m.retriable));
        } else {
          const task = slot.running.get(m.id);
          if (!task) return;
          slot.running.delete(m.id);
          if (m.type === 'result') task.resolve(m.value);
          else task.reject(new EmbedderError(`embed worker: ${m.message}`, true));
          if (slot.running.size === 0) worker.unref();
          this.dispatch();
        }
      });
      const died = (why: string) => {
        if (!ready) {
          reject(new EmbedderError(`embed worker failed to start: ${why}`, true));
          return;
        }
        const i = this.slots.indexOf(slot);
        if (i < 0) return;
        this.slots.splice(i, 1);
        for (const task of slot.running.values()) task.reject(new EmbedderError(`embed worker died: ${why}`, true));
        slot.running.clear();
        if (this.closed) return;
        if (++this.restarts > 3) {
          for (const t of this.queue.splice(0)) t.reject(new EmbedderError(`embed workers keep dying (${why}); giving up`, true));
          return;
        }
        this.spawn().then(() => this.dispatch(), (e: Error) => { for (const t of this.queue.splice(0)) t.reject(e); });
      };
      worker.on('error', (e) => died(e.message));
      worker.on('exit', (code) => { if (!this.closed) died(`exit code ${code}`); });
    });
  }

  private dispatch(): void {
    for (;;) {
      if (this.queue.length === 0) return;
      let best: Slot | undefined;
      for (const s of this.slots) if (s.running.size < 2 && (!best || s.running.size < best.running.size)) best = s;
      if (!best) return;
      const task = this.queue.shift()!;
      const id = this.nextId++;
      best.running.set(id, task);
      best.worker.ref();
      best.worker.postMessage({ ...task.request, id }, task.transfer);
    }
  }

  private run<T>(request: RequestBody, transfer: ArrayBuffer[] = []): Promise<T> {
    if (this.closed) return Promise.reject(new EmbedderError('embedder is closed', false));
    return new Promise<T>((resolvePromise, reject) => {
      this.queue.push({ request, transfer, resolve: resolvePromise as (v: unknown) => void, reject });
      this.dispatch();
    });
  }

  tokenize(texts: readonly string[]): Promise<TokenBlock> {
    return this.run({ op: 'tokenize', texts });
  }

  infer(flat: Int32Array, offsets: Int32Array): Promise<Float32Array> {
    return this.run({ op: 'infer', flat, offsets }, [flat.buffer as ArrayBuffer, offsets.buffer as ArrayBuffer]);
  }

  /** A static model's vectors for `texts` (workers opened with a static WorkerSpec). */
  embedStatic(texts: readonly string[]): Promise<StaticBlock> {
    return this.run({ op: 'embed', texts });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.queue.splice(0)) t.reject(new EmbedderError('embedder closed', false));
    await Promise.all(this.slots.splice(0).map((s) => s.worker.terminate()));
  }
}

class InThread implements Backend {
  constructor(private readonly model: LocalModel) {}
  async tokenize(texts: readonly string[]) { return this.model.tokenize(texts); }
  infer(flat: Int32Array, offsets: Int32Array) { return this.model.infer(flat, offsets); }
  close() { return this.model.close(); }
}

// ---------------------------------------------------------------------------------------------
// The Embedder.

/** Token rows of many texts, with what the stage must know about each. */
export interface Tokenized {
  readonly rows: Int32Array[];
  readonly truncated: boolean[];
  readonly empty: boolean[];
  readonly errors: (string | null)[];
}

/**
 * Cuts texts into inference batches of at most `batchSize` texts and `batchTokens` token slots
 * (texts × longest; a text longer than the budget goes alone). With `sort`, texts go by
 * descending token count (stable), so each padded [batch, longest] tensor wastes little; without
 * it, in input order. Longest first: the batches are dealt to the workers in this order, and
 * ending on the short ones leaves no worker idle for long while another finishes a long batch
 * (longest-processing-time-first scheduling).
 */
export function planBatches(lengths: readonly number[], batchSize: number, sort: boolean, batchTokens = Number.POSITIVE_INFINITY): number[][] {
  const order = lengths.map((_, i) => i);
  if (sort) order.sort((a, b) => lengths[b]! - lengths[a]! || a - b);
  const batches: number[][] = [];
  let current: number[] = [];
  let width = 0;
  for (const i of order) {
    const w = Math.max(width, lengths[i]!);
    if (current.length > 0 && (current.length >= batchSize || w * (current.length + 1) > batchTokens)) {
      batches.push(current);
      current = [];
    }
    width = current.length === 0 ? lengths[i]! : Math.max(width, lengths[i]!);
    current.push(i);
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

export interface ModelEmbedder extends Embedder {
  /** transformer: an ONNX encoder in worker threads; static: a model2vec token table in this thread. */
  readonly kind: 'transformer' | 'static';
  /** Put before every text (the model's document prefix); '' for none. */
  readonly prefix: string;
  readonly workers: number;
  readonly threads: number;
  readonly batchSize: number;
  readonly batchTokens: number;
  readonly sortByLength: boolean;
  /** The token rows `embed` would feed the model (benchmarks use them for the bare-session ceiling). */
  tokenize(texts: readonly string[]): Promise<Tokenized>;
  /** The weights in use: the ONNX file, or a static model's model.safetensors. */
  readonly weightsFile: string;
}

/** Texts per tokenize request: small enough to spread over the workers, big enough to amortise a message. */
const TOKENIZE_CHUNK = 64;

/**
 * Opens a model for embedding. `workers` threads (0 = the calling thread) each run one
 * onnxruntime session with `threads` intra-op threads. Default on CPU: one single-threaded worker
 * per core, which matches one session using every core when the machine is idle and degrades far
 * less when something else takes a core (intra-op threads wait for each other at every operator);
 * on CUDA: one worker. Rejects with a non-retriable EmbedderError for what the user must fix
 * (missing model, missing dtype file, no CUDA provider).
 *
 * @example
 * const embedder = await createEmbedder({ model: 'sentence-transformers/all-MiniLM-L6-v2', dtype: 'q8' });
 * const [r] = await embedder.embed(['The cat sits on the mat.']); // r.values: Float32Array(384), unit norm
 * await embedder.close();
 */
export async function createEmbedder(options: EmbedderOptions): Promise<ModelEmbedder> {
  const where = resolveModelDirectory(options);
  if (isStaticModelDir(where.directory)) return createStaticEmbedder(options, where.directory, where.model);
  const device = options.device ?? 'cpu';
  const cores = availableParallelism();
  const workers = options.workers ?? (device === 'cpu' ? cores : 1);
  if (!Number.isInteger(workers) || workers < 0) throw new EmbedderError(`workers must be a whole number >= 0, got ${workers}`, false);
  const threads = options.threads ?? Math.max(1, Math.floor(cores / Math.max(1, workers)));
  const batchSize = options.batchSize ?? DEFAULT_BATCHING[device].batchSize;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new EmbedderError(`batchSize must be a positive whole number, got ${batchSize}`, false);
  const batchTokens = options.batchTokens ?? DEFAULT_BATCHING[device].batchTokens;
  if (!(batchTokens >= 1)) throw new EmbedderError(`batchTokens must be >= 1, got ${batchTokens}`, false);
  const sortByLength = options.sortByLength ?? true;
  const spec = resolveModel(options, threads);

  let backend: Backend;
  let info: ModelInfo;
  if (workers === 0) {
    const local = await openModel(spec);
    backend = new InThread(local);
    info = local.info;
  } else {
    const opened = await WorkerPool.open(spec, workers);
    backend = opened.pool;
    info = opened.info;
  }
  if (spec.manifestDim && spec.manifestDim !== info.dim) {
    await backend.close();
    throw new EmbedderError(`${spec.model}: the model outputs ${info.dim}-d vectors but its d4-model.json says ${spec.manifestDim}`, false);
  }

  const stats = { texts: 0, batches: 0, tokens: 0, paddedTokens: 0, truncated: 0 };

  async function tokenize(texts: readonly string[]): Promise<Tokenized> {
    const chunks: (readonly string[])[] = [];
    for (let i = 0; i < texts.length; i += TOKENIZE_CHUNK) chunks.push(texts.slice(i, i + TOKENIZE_CHUNK));
    const blocks = await Promise.all(chunks.map((c) => backend.tokenize(c)));
    const out: Tokenized = { rows: [], truncated: [], empty: [], errors: [] };
    for (const b of blocks) {
      for (let i = 0; i + 1 < b.offsets.length; i++) {
        out.rows.push(b.flat.subarray(b.offsets[i]!, b.offsets[i + 1]!));
        out.truncated.push(b.truncated[i] === 1);
        out.empty.push(b.empty[i] === 1);
        out.errors.push(b.errors[i] ?? null);
      }
    }
    return out;
  }

  const NONE = new Float32Array(0);

  return {
    kind: 'transformer', prefix: spec.prefix,
    model: spec.model, pooling: info.pooling, dtype: info.dtype, device: info.device, dim: info.dim, maxTokens: info.maxTokens,
    workers, threads, batchSize, batchTokens, sortByLength, weightsFile: join(spec.directory, 'onnx', DTYPE_FILE[spec.dtype]),
    tokenize,
    async embed(texts) {
      if (texts.length === 0) return [];
      const tok = await tokenize(texts);
      const live = tok.rows.map((_, i) => i).filter((i) => !tok.empty[i] && tok.errors[i] === null);
      const plan = planBatches(live.map((i) => tok.rows[i]!.length), batchSize, sortByLength, batchTokens).map((b) => b.map((k) => live[k]!));
      const vectors: (Float32Array | undefined)[] = new Array(texts.length);
      await Promise.all(plan.map(async (batch) => {
        let total = 0;
        let width = 0;
        for (const i of batch) {
          total += tok.rows[i]!.length;
          width = Math.max(width, tok.rows[i]!.length);
        }
        const flat = new Int32Array(total);
        const offsets = new Int32Array(batch.length + 1);
        batch.forEach((i, k) => {
          flat.set(tok.rows[i]!, offsets[k]!);
          offsets[k + 1] = offsets[k]! + tok.rows[i]!.length;
        });
        const values = await backend.infer(flat, offsets);
        batch.forEach((i, k) => { vectors[i] = values.subarray(k * info.dim, (k + 1) * info.dim); });
        stats.batches++;
        stats.tokens += total;
        stats.paddedTokens += width * batch.length;
      }));
      stats.texts += live.length;
      return texts.map((_, i): EmbedResult => {
        const truncated = tok.truncated[i]!;
        if (truncated) stats.truncated++;
        const error = tok.errors[i];
        if (error !== null && error !== undefined) return { values: NONE, tokens: 0, truncated: false, empty: false, error };
        if (tok.empty[i]) return { values: NONE, tokens: 0, truncated: false, empty: true };
        return { values: vectors[i]!, tokens: tok.rows[i]!.length, truncated, empty: false };
      });
    },
    stats: (): EmbedderStats => ({ ...stats }),
    close: () => backend.close(),
  };
}

/** Texts per request to a static worker: a few milliseconds of work, far more than a message costs. */
const STATIC_CHUNK = 128;

/**
 * A static (model2vec) model behind the same interface. Pooling is the mean, the vectors are
 * float32 whatever --dtype says, and it runs on the CPU whatever --device says. By default one
 * worker thread per core, each holding the token table (30 MB), takes chunks of texts, so that a
 * large buffer neither blocks the event loop nor leaves a core idle; `workers: 0` embeds in the
 * calling thread. Options that only shape transformer inference (batch sizes, threads) are
 * accepted and have no effect.
 */
async function createStaticEmbedder(options: EmbedderOptions, directory: string, model: string): Promise<ModelEmbedder> {
  if (options.pooling && options.pooling !== 'mean') throw new EmbedderError(`${model} is a static model: its pooling is the mean of token vectors, --pooling ${options.pooling} cannot apply`, false);
  if (options.prefix) throw new EmbedderError(`${model} is a static model: a prefix would only add its tokens to every mean; leave --prefix unset`, false);
  const workers = options.workers ?? availableParallelism();
  if (!Number.isInteger(workers) || workers < 0) throw new EmbedderError(`workers must be a whole number >= 0, got ${workers}`, false);
  const files = { directory, model, ...(options.maxTokens !== undefined ? { maxTokens: options.maxTokens } : {}) };
  // The calling thread opens it too: tokenize() (benchmarks, tests) and small calls run here.
  const local = await openStaticModel(files);
  const pool = workers > 0 ? (await WorkerPool.open({ kind: 'static', ...files }, workers)).pool : undefined;
  const stats = { texts: 0, batches: 0, tokens: 0, paddedTokens: 0, truncated: 0 };
  const NONE = new Float32Array(0);
  const dim = local.dim;
  return {
    kind: 'static', prefix: '', model, pooling: 'mean', dtype: 'fp32', device: 'cpu', dim, maxTokens: local.maxTokens,
    workers, threads: 1, batchSize: STATIC_CHUNK, batchTokens: Number.POSITIVE_INFINITY, sortByLength: false,
    weightsFile: join(directory, 'model.safetensors'),
    async tokenize(texts) {
      const t = local.tokenize(texts);
      return { rows: t.rows, truncated: t.truncated, empty: t.rows.map((r) => r.length === 0), errors: t.rows.map(() => null) };
    },
    async embed(texts) {
      if (texts.length === 0) return [];
      if (!pool) {
        const out = local.embed(texts);
        stats.batches++;
        for (const r of out) count(r);
        return out;
      }
      const chunks: (readonly string[])[] = [];
      for (let i = 0; i < texts.length; i += STATIC_CHUNK) chunks.push(texts.slice(i, i + STATIC_CHUNK));
      const blocks = await Promise.all(chunks.map((c) => pool.embedStatic(c)));
      const out: EmbedResult[] = [];
      for (const b of blocks) {
        stats.batches++;
        for (let i = 0; i < b.tokens.length; i++) {
          const error = b.errors[i];
          const r: EmbedResult = error !== null && error !== undefined
            ? { values: NONE, tokens: 0, truncated: false, empty: false, error }
            : b.flags[i]! & 2
              ? { values: NONE, tokens: 0, truncated: false, empty: true }
              : { values: b.values.subarray(i * dim, (i + 1) * dim), tokens: b.tokens[i]!, truncated: (b.flags[i]! & 1) === 1, empty: false };
          count(r);
          out.push(r);
        }
      }
      return out;
    },
    stats: () => ({ ...stats }),
    close: async () => { await pool?.close(); },
  };

  function count(r: EmbedResult): void {
    if (r.empty || r.error !== undefined) return;
    stats.texts++;
    stats.tokens += r.tokens;
    stats.paddedTokens += r.tokens;
    if (r.truncated) stats.truncated++;
  }
}
