import type { Embedding, Vector } from '../../records/item.js';

export type Pooling = 'mean' | 'last-token' | 'cls';
export type Device = 'cpu' | 'cuda';
export type Dtype = 'fp32' | 'fp16' | 'q8';

export const POOLINGS: readonly Pooling[] = ['mean', 'last-token', 'cls'];
export const DEVICES: readonly Device[] = ['cpu', 'cuda'];
export const DTYPES: readonly Dtype[] = ['fp32', 'fp16', 'q8'];

/** How to open a model. Everything but `model` has a default; see `createEmbedder`. */
export interface EmbedderOptions {
  /** A model id (`owner/name`, looked up under `modelsDir`), an alias (`minilm`, `bge-small`, `e5-small`, `static`) or a model directory path. */
  readonly model: string;
  /** Default: the model's d4-model.json manifest, else `mean`. */
  readonly pooling?: Pooling;
  /** Tokens fed to the model per text, special tokens included (sentence-transformers' max_seq_length). Default 256; a static model's own max_length (512). */
  readonly maxTokens?: number;
  /** Text put before every document. Default: the model's d4-model.json `document_prefix` (e5: "query: "), else none. */
  readonly prefix?: string;
  readonly device?: Device;
  /** Default: q8 on cpu (the int8 file), fp32 on cuda (int8 kernels are CPU-only in onnxruntime). */
  readonly dtype?: Dtype;
  /** Where model ids are looked up. Default: $D4_MODELS_DIR, else <repository>/.d4/models. */
  readonly modelsDir?: string;
  /** Most texts per inference call (the padded [batch, seq] tensor). Default 64. */
  readonly batchSize?: number;
  /** Most token slots per inference call: texts × the longest, padding included. Default 256 on cpu (long texts go one by one, sentences by the dozen), 16384 on cuda. */
  readonly batchTokens?: number;
  /** Sort the texts of one `embed` call by token count before cutting them into batches (less padding). */
  readonly sortByLength?: boolean;
  /** Worker threads, each with its own onnxruntime session (default: one per core on cpu, 1 on cuda). 0 runs the model on the calling thread (tests, debugging). */
  readonly workers?: number;
  /** onnxruntime intra-op threads per worker (default: cores / workers). */
  readonly threads?: number;
}

/** One text's embedding, or why it has none. */
export interface EmbedResult {
  /** L2-normalised, `dim` values; empty when `empty` or `error` is set. */
  readonly values: Float32Array;
  /** Tokens fed to the model, special tokens included, after truncation. */
  readonly tokens: number;
  /** The text had more than `maxTokens` tokens; the model saw the first ones. */
  readonly truncated: boolean;
  /** The tokenizer left no token of the text (only special tokens): there is nothing to embed. */
  readonly empty: boolean;
  /** The text could not be tokenized; a poison record, not a model failure. */
  readonly error?: string;
}

/** Counters an embedder keeps since it was opened; the padding figures measure length sorting. */
export interface EmbedderStats {
  readonly texts: number;
  readonly batches: number;
  /** Tokens of the texts themselves (special tokens included). */
  readonly tokens: number;
  /** Token slots computed, padding included: sum over batches of batch size × longest text. */
  readonly paddedTokens: number;
  readonly truncated: number;
}

/**
 * A sentence-embedding model behind a small interface, so that stages never import the runtime
 * (the implementation is `createEmbedder` in src/io/models/embedder.ts) and tests can use a fake.
 */
export interface Embedder {
  /** The model id or path, as given. */
  readonly model: string;
  readonly pooling: Pooling;
  readonly dtype: Dtype;
  readonly device: Device;
  readonly dim: number;
  readonly maxTokens: number;
  /** One result per text, in the order given. Rejects only when the model itself fails (retriable). */
  embed(texts: readonly string[]): Promise<EmbedResult[]>;
  stats(): EmbedderStats;
  close(): Promise<void>;
}

/**
 * Where embeddings are kept so that a document is embedded once: the compacted embeddings topic
 * (keyed by document id) mirrored in memory, or an embeddings file in file mode.
 */
export interface EmbeddingStore {
  /** Stable id, used in logs and counters. */
  readonly name: string;
  /** The stored vector (with `cached: true`), or undefined. */
  get(id: string): Vector | undefined;
  /** Keeps a new embedding; it is reported once by `drainNew` (if the store publishes). */
  put(id: string, vector: Vector): void;
  size(): number;
  /**
   * Embeddings put since the last call, in the embeddings topic's shape, for the runner to
   * publish (key = id). A store that makes its puts durable by itself (the file) returns [].
   */
  drainNew(): Embedding[];
  /** Adds records read from the embeddings topic (the local mirror); they are not reported by drainNew. Returns how many were accepted. */
  load(records: Iterable<Embedding>): number;
  close?(): Promise<void>;
}

/** A failure of the model runtime (load, worker crash). Not a property of any one document. */
export class EmbedderError extends Error {
  /** false: a configuration the user must fix (missing model, unsupported device); true: try again. */
  readonly retriable: boolean;
  constructor(message: string, retriable: boolean, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EmbedderError';
    this.retriable = retriable;
  }
}
