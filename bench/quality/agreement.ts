// Online selection vs batch D4 on the same documents and the same embeddings, in one process:
// exact, near and embed run once per corpus (embeddings from a cache file, the model only for what
// it lacks), then the online semantic + prototype stages (as `d4 curate` runs them, in batches) and
// the batch selection (as `d4 batch` does) under several seeds; the figure of merit is the Jaccard
// of the kept sets, online vs batch, beside batch vs batch under another seed (the noise floor of
// k-means itself).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { isLive, type DocItem, type Item } from '../../src/records/item.js';
import { readFileItems } from '../../src/io/files/source.js';
import { EmbeddingsFile } from '../../src/io/files/embeddings-file.js';
import { createEmbedder } from '../../src/io/models/embedder.js';
import { createHnswIndex } from '../../src/io/models/hnsw-index.js';
import { applyOverrides, buildStages } from '../../src/topology/topology.js';
import { composePipeline } from '../../src/topology/pipeline.js';
import { warmupHold } from '../../src/topology/task.js';
import { createHasher, type Hasher } from '../../src/stages/text/hash.js';
import { batchSelect } from '../../src/batch/d4.js';
import type { Embedder } from '../../src/stages/embed/types.js';
import { root, type Corpus } from './corpora.js';

/** The embeddings every quality run shares (the repository's .d4/ is not committed). */
export const EMBEDDINGS_CACHE = join(root, '.d4', 'cache', 'quality-embeddings.jsonl');

export interface Prepared {
  readonly corpus: Corpus;
  /** Documents of the corpus (what the target ratio counts). */
  readonly documents: number;
  /** Every input item after exact, near and embed, in input order. */
  readonly items: readonly Item[];
  /** The live items' embeddings, in input order (what batch D4 selects from). */
  readonly vectors: readonly Float32Array[];
  readonly liveIds: readonly string[];
  /** Documents the model had to embed (0 when the cache had them all). */
  readonly embedded: number;
}

export interface Tools {
  readonly hasher: Hasher;
  readonly embedder: Embedder;
  readonly cache: EmbeddingsFile;
  close(): Promise<void>;
}

export async function openTools(cachePath = EMBEDDINGS_CACHE): Promise<Tools> {
  const hasher = await createHasher();
  const embedder = await createEmbedder({ model: 'sentence-transformers/all-MiniLM-L6-v2' });
  const cache = new EmbeddingsFile(cachePath);
  return { hasher, embedder, cache, async close() { await embedder.close(); await cache.close?.(); } };
}

/** Runs exact, near and embed over a corpus, in batches of `batchSize` as `d4 curate` reads a file. */
export async function prepare(corpus: Corpus, tools: Tools, batchSize: number): Promise<Prepared> {
  const dir = join(tmpdir(), 'd4-quality');
  mkdirSync(dir, { recursive: true });
  const input = join(dir, `${corpus.name}.jsonl`);
  writeFileSync(input, corpus.docs.map((d) => JSON.stringify(d)).join('\n') + '\n');
  const specs = ['exact', 'near', 'embed'].map((type) => ({ id: type, type, options: {} }));
  const stages = await buildStages(specs, { hasher: tools.hasher, embedder: tools.embedder, embeddingStore: tools.cache });
  const pipeline = composePipeline(stages, tools.hasher);
  const items: Item[] = [];
  try {
    for await (const batch of readFileItems(input, { idField: 'id', textField: 'text', maxBytes: 1 << 20, batchSize })) items.push(...await pipeline.process(batch));
  } finally {
    await pipeline.close();
  }
  const live = items.filter((i): i is DocItem => isLive(i));
  const embed = stages.find((s) => s.type === 'embed') as unknown as { counters: { embedded: number } };
  return {
    corpus, items, documents: items.filter((i) => i.kind === 'doc').length,
    vectors: live.map((i) => i.vector!.values), liveIds: live.map((i) => i.doc.id), embedded: embed.counters.embedded,
  };
}

export interface SelectOptions {
  readonly targetRatio: number;
  readonly seed: number;
  readonly batchSize: number;
  /** Extra `--set` style overrides of the online stages, e.g. `prototype.halfLife=0`. */
  readonly set?: readonly string[];
}

/** The ids the online semantic + prototype stages keep, deciding the items batch by batch. */
export async function onlineKept(p: Prepared, tools: Tools, o: SelectOptions): Promise<Set<string>> {
  const common = { expectedDocs: p.documents, seed: o.seed };
  const specs = applyOverrides([
    { id: 'semantic', type: 'semantic', options: { ...common } },
    { id: 'prototype', type: 'prototype', options: { ...common, targetRatio: o.targetRatio } },
  ], [...(o.set ?? [])]);
  const pipeline = composePipeline(await buildStages(specs, { hasher: tools.hasher, annIndex: createHnswIndex }), tools.hasher);
  const kept = new Set<string>();
  try {
    // Windows as the run loop cuts them: while a stage holds (the prototype stage's warmupHold), a window spans the hold.
    for (let i = 0; i < p.items.length;) {
      const hold = warmupHold(pipeline.stages);
      const n = hold > o.batchSize ? Math.ceil(hold / o.batchSize) * o.batchSize : o.batchSize;
      for (const item of await pipeline.process(p.items.slice(i, i + n))) if (isLive(item)) kept.add(item.doc.id);
      i += n;
    }
  } finally {
    await pipeline.close();
  }
  return kept;
}

/** The ids batch D4 keeps (the `d4 batch` defaults: 20 iterations, per-cluster prototypes, ε 0.08). */
export function batchKept(p: Prepared, o: Pick<SelectOptions, 'targetRatio' | 'seed'> & { epsilon?: number }): Set<string> {
  const s = batchSelect(p.vectors, p.documents, {
    targetRatio: o.targetRatio, epsilon: o.epsilon ?? 0.08, iterations: 20, seed: o.seed, scope: 'cluster', dedup: true, prototype: true, epsilonCurve: [],
  });
  const kept = new Set<string>();
  s.verdicts.forEach((v, i) => { if (v.keep) kept.add(p.liveIds[i]!); });
  return kept;
}

const batchRuns = new WeakMap<Prepared, Map<string, Set<string>>>();

/** batchKept, computed once per prepared corpus, seed and ratio (variants of the online stages share it). */
function cachedBatchKept(p: Prepared, o: Pick<SelectOptions, 'targetRatio' | 'seed'>): Set<string> {
  const runs = batchRuns.get(p) ?? new Map<string, Set<string>>();
  batchRuns.set(p, runs);
  const key = `${o.seed}/${o.targetRatio}`;
  let kept = runs.get(key);
  if (!kept) runs.set(key, kept = batchKept(p, o));
  return kept;
}

export function jaccard(a: ReadonlySet<string>, b: ReadonlySet<string>): number {
  let inter = 0;
  for (const id of a) if (b.has(id)) inter++;
  const union = a.size + b.size - inter;
  return union === 0 ? 1 : inter / union;
}

export interface Agreement {
  readonly corpus: string;
  readonly documents: number;
  readonly live: number;
  /** Mean over every (online seed, batch seed) pair. */
  readonly onlineVsBatch: number;
  /** Mean over every pair of distinct batch seeds. */
  readonly batchVsBatch: number;
  /** Two independent random selections of these sizes. */
  readonly chance: number;
  readonly onlineKeptFraction: { readonly min: number; readonly max: number };
  readonly batchKeptFraction: { readonly min: number; readonly max: number };
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

/**
 * Online vs batch over `seeds`: every online run is compared with every batch run (the seeds of
 * the two mean different things), and every batch run with every other batch run.
 */
export async function agreement(p: Prepared, tools: Tools, o: Omit<SelectOptions, 'seed'> & { seeds: readonly number[] }): Promise<Agreement> {
  const online: Set<string>[] = [];
  const batch: Set<string>[] = [];
  for (const seed of o.seeds) {
    online.push(await onlineKept(p, tools, { ...o, seed }));
    batch.push(cachedBatchKept(p, { ...o, seed }));
  }
  const ob = online.flatMap((a) => batch.map((b) => jaccard(a, b)));
  const bb = batch.flatMap((a, i) => batch.slice(i + 1).map((b) => jaccard(a, b)));
  const frac = (sets: Set<string>[]) => ({ min: Math.min(...sets.map((s) => s.size / p.documents)), max: Math.max(...sets.map((s) => s.size / p.documents)) });
  const pO = mean(online.map((s) => s.size)) / p.documents;
  const pB = mean(batch.map((s) => s.size)) / p.documents;
  return {
    corpus: p.corpus.name, documents: p.documents, live: p.vectors.length,
    onlineVsBatch: mean(ob), batchVsBatch: mean(bb), chance: (pO * pB) / (pO + pB - pO * pB),
    onlineKeptFraction: frac(online), batchKeptFraction: frac(batch),
  };
}
