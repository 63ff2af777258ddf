import { concatAll, from, of, type Observable, type OperatorFunction, type SchedulerLike } from 'rxjs';
import { z } from 'zod';
import { deadLetter, isLive, type DocItem, type Item, type Vector } from '../../records/item.js';
import type { BuiltStage, StageDefinition } from '../stage.js';
import { batchByCountOrTime } from './batch-by-count-or-time.js';
import { mapOrdered } from './map-ordered.js';
import { MemoryEmbeddingStore } from './memory-embedding-store.js';
import { sameEmbedding } from './embedding-record.js';
import { DEVICES, DTYPES, EmbedderError, POOLINGS, type Embedder, type EmbeddingStore, type EmbedResult } from './types.js';

export interface EmbedOptions {
  /** The stage id written in dead letters and notes (default "embed"). */
  readonly id?: string;
  /** Items gathered before looking them up and embedding the misses together (the "by count" bound). */
  readonly bufferSize: number;
  /** A partial buffer is processed once its first item has waited this long (the "by time" bound). */
  readonly maxWaitMs: number;
  /** Buffers embedded at once: 2 lets one tokenize while the other's last batches run. */
  readonly maxInFlight: number;
}

export interface EmbedDeps {
  readonly embedder: Embedder;
  readonly store: EmbeddingStore;
  readonly counters?: EmbedCounters;
  /** For tests with virtual time. */
  readonly scheduler?: SchedulerLike;
}

/** What the stage did, since it was built. `live = embedded + cacheHits + deadLettered`. */
export class EmbedCounters {
  /** Live documents seen (dropped ones and dead letters pass by without a look). */
  live = 0;
  /** Documents the model embedded. */
  embedded = 0;
  /** Documents that arrived with their vector (from an embed sub-topology or an embed topology upstream): never sent to the model. */
  carried = 0;
  /** Documents whose vector came from the embeddings store (or from an earlier copy of the same id in the buffer). */
  cacheHits = 0;
  /** Stored vectors not used because another model, pooling or dtype made them (the document is embedded again). */
  staleInStore = 0;
  /** Embedded documents longer than maxTokens: the model saw their first maxTokens tokens. */
  truncated = 0;
  /** Dead letters by error: empty-text, embed-failed. */
  readonly deadLettered = new Map<string, number>();
  /** Tokens fed to the model, special tokens included. */
  tokens = 0;

  get deadLetteredTotal(): number {
    return [...this.deadLettered.values()].reduce((a, b) => a + b, 0);
  }

  toJSON() {
    return {
      live: this.live, embedded: this.embedded, carried: this.carried, cache_hits: this.cacheHits, stale_in_store: this.staleInStore, truncated: this.truncated,
      tokens: this.tokens, dead_lettered: Object.fromEntries(this.deadLettered),
    };
  }
}

const WHITESPACE_ONLY = /^\s*$/u;

/**
 * Attaches an L2-normalised embedding (`item.vector`) to every live document, embedding each
 * document id at most once: the store is consulted first and a hit skips the model; what the
 * model computes is put into the store. Drops nothing: a document whose text is empty after
 * normalisation (or leaves no token) becomes a dead letter with stage = this stage's id; a text
 * longer than the model's window is embedded from its first maxTokens tokens, with
 * `notes.<id>_truncated` set and counted.
 *
 * Items are gathered into buffers (by count and by time, see `batchByCountOrTime`); the misses of
 * a buffer go to the embedder in one call, which sorts them by token length and cuts them into
 * model batches; at most `maxInFlight` buffers are embedded at once, and every item leaves in
 * input order. Backpressure: the runner awaits each batch it feeds, and no more than
 * `maxInFlight` embedder calls are ever outstanding.
 *
 * @example
 * documents$.pipe(embed({ bufferSize: 512, maxWaitMs: 100, maxInFlight: 2 }, { embedder, store }))
 */
export function embed(options: EmbedOptions, deps: EmbedDeps): OperatorFunction<Item, Item> {
  const stage = options.id ?? 'embed';
  const { embedder, store } = deps;
  const counters = deps.counters ?? new EmbedCounters();
  const want = { model: embedder.model, pooling: embedder.pooling, dtype: embedder.dtype, dim: embedder.dim };

  const dead = (item: DocItem, error: string, message: string): Item => {
    counters.deadLettered.set(error, (counters.deadLettered.get(error) ?? 0) + 1);
    const raw = Buffer.from(JSON.stringify({ id: item.doc.id, text: item.doc.text }));
    return { kind: 'dead', seq: item.seq, origin: item.origin, dead: deadLetter(item.origin, stage, error, message, raw, item.doc.id) };
  };

  const withVector = (item: DocItem, vector: Vector): DocItem => {
    if (!vector.truncated) return { ...item, vector };
    return { ...item, vector, notes: { ...item.notes, [`${stage}_truncated`]: true, [`${stage}_tokens`]: vector.tokens } };
  };

  const fromResult = (item: DocItem, r: EmbedResult): Item => {
    if (r.error !== undefined) return dead(item, 'embed-failed', `the text could not be tokenized: ${r.error}`);
    if (r.empty) return dead(item, 'empty-text', `no token left after ${embedder.model}'s tokenizer normalised the text`);
    if (r.values.length !== embedder.dim) throw new EmbedderError(`embedder returned ${r.values.length} values, expected ${embedder.dim}`, true);
    const vector: Vector = { model: embedder.model, pooling: embedder.pooling, dtype: embedder.dtype, values: r.values, tokens: r.tokens, truncated: r.truncated, cached: false };
    store.put(item.doc.id, vector);
    counters.embedded++;
    counters.tokens += r.tokens;
    if (r.truncated) counters.truncated++;
    return withVector(item, vector);
  };

  const processBuffer = (buffer: Item[]): Observable<Item[]> => {
    const out = buffer.slice();
    const missAt: number[] = [];
    const texts: string[] = [];
    const firstMiss = new Map<string, number>();
    const repeats: [at: number, miss: number][] = [];
    buffer.forEach((item, i) => {
      if (!isLive(item)) return;
      counters.live++;
      if (item.vector && sameEmbedding(item.vector, want)) {
        counters.carried++;
        return;
      }
      // normalizeText() collapses whitespace and trims, so it yields '' exactly when this matches.
      if (WHITESPACE_ONLY.test(item.doc.text)) {
        out[i] = dead(item, 'empty-text', 'text is empty after normalisation');
        return;
      }
      const id = item.doc.id;
      const stored = store.get(id);
      if (stored && sameEmbedding(stored, want)) {
        counters.cacheHits++;
        out[i] = withVector(item, stored.cached ? stored : { ...stored, cached: true });
        return;
      }
      if (stored) counters.staleInStore++;
      const earlier = firstMiss.get(id);
      if (earlier !== undefined) {
        repeats.push([i, earlier]);
        return;
      }
      firstMiss.set(id, texts.length);
      missAt.push(i);
      texts.push(item.doc.text);
    });
    if (texts.length === 0) return of(out);
    return from(embedder.embed(texts).then((results) => {
      if (results.length !== texts.length) throw new EmbedderError(`embedder returned ${results.length} results for ${texts.length} texts`, true);
      results.forEach((r, k) => { out[missAt[k]!] = fromResult(buffer[missAt[k]!] as DocItem, r); });
      // A second copy of an id in the same buffer gets the first copy's outcome: the store is keyed by id.
      for (const [i, k] of repeats) {
        const first = out[missAt[k]!]!;
        const item = buffer[i] as DocItem;
        if (first.kind === 'doc' && first.vector) {
          counters.cacheHits++;
          out[i] = withVector(item, { ...first.vector, cached: true });
        } else {
          out[i] = fromResult(item, results[k]!);
        }
      }
      return out;
    }));
  };

  return (source) => source.pipe(
    batchByCountOrTime<Item>(options.bufferSize, options.maxWaitMs, deps.scheduler),
    mapOrdered(processBuffer, options.maxInFlight),
    concatAll(),
  );
}

const optionsSchema = z.strictObject({
  model: z.string().min(1).default('sentence-transformers/all-MiniLM-L6-v2').describe('model id under the models directory, or a model directory'),
  pooling: z.enum(POOLINGS as [string, ...string[]]).optional().describe("mean | last-token | cls (default: the model's d4-model.json, else mean)"),
  maxTokens: z.number().int().min(4).max(8192).optional().describe('tokens per text fed to the model, special tokens included; longer texts are truncated (default 256; a static model: its max_length, 512)'),
  device: z.enum(DEVICES as [string, ...string[]]).default('cpu').describe('cpu | cuda (onnxruntime-node CUDA execution provider)'),
  dtype: z.enum(DTYPES as [string, ...string[]]).optional().describe('fp32 | fp16 | q8 (default: q8 on cpu, fp32 on cuda)'),
  batchSize: z.number().int().positive().optional().describe('most texts per inference call (default 64)'),
  batchTokens: z.number().int().positive().optional().describe('most token slots (texts × longest) per inference call (default 256 on cpu, 16384 on cuda)'),
  sortByLength: z.boolean().default(true).describe('sort each buffer by token count before batching (less padding)'),
  workers: z.number().int().min(0).optional().describe('worker threads running the model (default: one per core on cpu, 1 on cuda; 0 = main thread)'),
  threads: z.number().int().positive().optional().describe('onnxruntime intra-op threads per worker (default: cores / workers)'),
  bufferSize: z.number().int().positive().default(512).describe('documents gathered before lookup + embedding'),
  maxWaitMs: z.number().int().positive().default(100).describe('a partial buffer waits at most this long'),
  maxInFlight: z.number().int().positive().default(2).describe('buffers being embedded at once'),
  storeCapacity: z.number().int().positive().default(1_000_000).describe('vectors kept in memory when no embeddings file or topic is given (~1.6 KB each at 384-d)'),
});

export type EmbedStageOptions = z.infer<typeof optionsSchema>;

/** The built embed stage, with what the runner and the CLI may want to read or publish. */
export interface BuiltEmbedStage extends BuiltStage {
  readonly counters: EmbedCounters;
  readonly embedder: Embedder;
  readonly store: EmbeddingStore;
}

export const embedStage: StageDefinition<EmbedStageOptions> = {
  type: 'embed',
  summary: 'attach an L2-normalised embedding to each document (transformers.js in worker threads); each id embedded once, kept in the embeddings store',
  options: optionsSchema,
  // The embeddings live in the embeddings topic / file (deps.embeddingStore), not in a changelogged store.
  stores: () => [],
  partitioning: 'any',
  async build(id, options, deps): Promise<BuiltEmbedStage> {
    let embedder = deps.embedder;
    let owned = false;
    if (!embedder) {
      if (!deps.createEmbedder) throw new Error(`stage ${id}: the embed stage needs deps.embedder or deps.createEmbedder (createEmbedder from src/io/models/embedder.ts)`);
      embedder = await deps.createEmbedder({
        model: options.model, device: options.device as 'cpu' | 'cuda', sortByLength: options.sortByLength,
        ...(options.maxTokens !== undefined ? { maxTokens: options.maxTokens } : {}),
        ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
        ...(options.batchTokens !== undefined ? { batchTokens: options.batchTokens } : {}),
        ...(options.pooling ? { pooling: options.pooling as 'mean' | 'last-token' | 'cls' } : {}),
        ...(options.dtype ? { dtype: options.dtype as 'fp32' | 'fp16' | 'q8' } : {}),
        ...(options.workers !== undefined ? { workers: options.workers } : {}),
        ...(options.threads !== undefined ? { threads: options.threads } : {}),
      });
      owned = true;
    }
    const store = deps.embeddingStore ?? new MemoryEmbeddingStore({ name: `${id}-embeddings`, capacity: options.storeCapacity });
    const counters = new EmbedCounters();
    const e = embedder;
    return {
      id, type: 'embed', stores: [], counters, embedder: e, store,
      // What changes the vectors (and so every later decision); performance knobs are left out.
      // q8 vectors also depend a little on batch composition: see docs/embedding.md.
      params: { model: e.model, pooling: e.pooling, dtype: e.dtype, maxTokens: e.maxTokens, dim: e.dim },
      operator: embed({ id, bufferSize: options.bufferSize, maxWaitMs: options.maxWaitMs, maxInFlight: options.maxInFlight }, { embedder: e, store, counters }),
      close: owned ? () => e.close() : undefined,
    } as BuiltEmbedStage;
  },
};
