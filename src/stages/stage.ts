import { map, type OperatorFunction } from 'rxjs';
import type { z } from 'zod';
import type { DocItem, Item } from '../records/item.js';
import { isLive } from '../records/item.js';
import type { Hasher } from './text/hash.js';
import type { StateStore } from '../state/store.js';
import type { AnnIndexFactory } from './semantic/ann.js';
import type { Embedder, EmbedderOptions, EmbeddingStore } from './embed/types.js';

/** A stage as the runner sees it once built: one operator, the stores it owns, its parameters. */
export interface BuiltStage {
  readonly id: string;
  readonly type: string;
  readonly operator: OperatorFunction<Item, Item>;
  readonly stores: readonly StateStore[];
  /** The resolved parameters; their hash goes into every decision the stage makes. */
  readonly params: Readonly<Record<string, unknown>>;
  /** Releases workers or native resources. */
  close?(): Promise<void>;
  /**
   * Documents the stage wants in its next window, when more than the window (a windowed stage
   * that has decided nothing yet: its warm-up hold); 0 otherwise. Read from the stage's state, so
   * a stage restored mid-stream (or on another file, with --state-dir) holds nothing.
   */
  warmupHold?(): number;
}

export type Partitioning = 'any' | 'text-hash' | 'single';

/** Dependencies a stage may need; each stage takes only what it uses. */
export interface StageDeps {
  readonly hasher: Hasher;
  /** The embed stage's model: an open one (not closed by the stage), or a factory (the stage owns what it opens). */
  readonly embedder?: Embedder;
  readonly createEmbedder?: (options: EmbedderOptions) => Promise<Embedder>;
  /** Where embeddings are kept across runs (embeddings file or the topic's mirror); default: in memory. */
  readonly embeddingStore?: EmbeddingStore;
  /** The semantic stage's per-cluster nearest-neighbour index (createHnswIndex from src/io/models/hnsw-index.ts). */
  readonly annIndex?: AnnIndexFactory;
  /** Anything heavier (models, indexes) is added by later stages' own dependency types. */
  readonly [key: string]: unknown;
}

/** How a stage type is declared: its options schema (with defaults) and how to build it. */
export interface StageDefinition<O extends Record<string, unknown> = Record<string, unknown>> {
  readonly type: string;
  readonly summary: string;
  readonly options: z.ZodType<O>;
  /** Names of the stores a stage with this id owns (for `d4 describe` and changelog topics). */
  stores(id: string): string[];
  /**
   * Which documents must meet in one task when the input has several partitions (the runner cuts
   * the topology into sub-topologies at every change, joined by repartition topics):
   * `any`: stateless per document, runs in every task; `text-hash`: documents with the same
   * normalised text must meet (re-keyed by that hash); `single`: every document must meet one
   * index (a single-partition sub-topology).
   */
  readonly partitioning: Partitioning;
  /**
   * Per-document work the stage lets the tasks before its sub-topology do (e.g. near's shingling
   * and signing, so that its one index task only looks up): applied to every live document
   * forwarded to the stage's sub-topology. Its result must be what the stage would compute itself.
   */
  upstream?(options: O): ((item: DocItem) => DocItem) | undefined;
  /** Decisions depend on which documents share a batch (mini-batch clustering, per-batch quotas): fed in fixed chunks of the crawl order. */
  readonly windowed?: boolean;
  build(id: string, options: O, deps: StageDeps): BuiltStage | Promise<BuiltStage>;
}

/**
 * Applies `fn` to live documents only: dropped documents and dead letters pass through untouched
 * and in order, which keeps one output item per input item.
 */
export function mapLive(fn: (item: DocItem) => Item): OperatorFunction<Item, Item> {
  return map((item) => (isLive(item) ? fn(item) : item));
}
