import type { OperatorFunction } from 'rxjs';
import { z } from 'zod';
import { dropDecision, isLive, type DocItem, type Item } from '../../records/item.js';
import { JsonStore } from '../../state/json-store.js';
import { batchwise } from '../centroids/batchwise.js';
import { CentroidStore } from '../centroids/centroid-store.js';
import { OnlineCentroids } from '../centroids/online-centroids.js';
import { centroidOptionsShape, resolveCentroidOptions } from '../centroids/options.js';
import { WarmupStore } from '../centroids/warmup-store.js';
import { paramsHash, type Hasher } from '../text/hash.js';
import type { StageDefinition } from '../stage.js';
import { ClusterIndexStore } from './cluster-index-store.js';

export interface SemanticOptions {
  /** The stage id written in decisions (default "semantic"). */
  readonly id?: string;
  /** A document is a duplicate of an earlier one when their cosine is at least 1 − epsilon. */
  readonly epsilon: number;
  /** The resolved parameters, hashed into every decision. */
  readonly params: Readonly<Record<string, unknown>>;
}

/** Running counts, reported after every batch. */
export interface SemanticCounts {
  /** Documents with an embedding this stage judged. */
  readonly seen: number;
  readonly dropped: number;
}

export interface SemanticReport extends SemanticCounts {
  readonly kind: 'semantic';
  readonly stage: string;
  readonly batch: { readonly seen: number; readonly dropped: number };
  /** Kept fraction of what this stage saw (R_dedup so far). */
  readonly keptFraction: number;
  readonly centroidVersion: number;
  /** How far the current centroid version moved from the previous one (CentroidStore.drift). */
  readonly centroidDrift: number;
  readonly k: number;
  readonly indexed: number;
  readonly reseeded: boolean;
}

export interface SemanticDeps {
  readonly centroids: OnlineCentroids;
  readonly index: ClusterIndexStore;
  readonly counts: JsonStore<SemanticCounts>;
  readonly hasher: Hasher;
  readonly report?: (r: SemanticReport) => void;
}

/** The embedding of a live document, or a clear error when the embed stage is missing upstream. */
export function vectorOf(item: DocItem, stage: string): Float32Array {
  if (!item.vector) throw new Error(`${stage}: document ${item.doc.id} has no embedding; put the embed stage before ${stage}`);
  return item.vector.values;
}

/**
 * Online SemDeDup: drops a document whose cosine similarity to an earlier document of its
 * cluster is at least 1 − ε; the first seen survives.
 *
 * For each batch: centroids exist (fitted on this batch if it is the first, see OnlineCentroids);
 * each document, in input order, is assigned to its nearest centroid, and the nearest earlier
 * document is looked up both in that cluster and in the next-nearest one — a near-copy that
 * landed on the other side of a moving boundary is still found. The document then joins its
 * cluster's index (dropped or not: the reference rule compares with any earlier document),
 * so duplicates inside one batch are found too. After the batch, the centroids take it in (a new
 * version); the decisions carry the version they were assigned with.
 *
 * The default ε = 0.08 (cosine ≥ 0.92 with all-MiniLM-L6-v2) is set on MRPC: the paraphrase pairs'
 * cosine has median 0.84, the non-paraphrase pairs' (same news story, different claim) 0.73; at
 * 0.08 the later member of a paraphrase pair is dropped 4.5 times as often as that of a
 * non-paraphrase pair (30% vs 6.7%, test/select-quality.test.ts), while a larger ε closes the gap
 * (0.15: 48% vs 21% of pairs above the threshold). ε → R_dedup measured by `d4 batch` (after exact
 * and near) on the shared corpora, at ε = 0.02 / 0.08 / 0.15 / 0.2 / 0.3: C4 1k 100 / 100 / 100 /
 * 100 / 99.8%; FineWeb 300 100 / 100 / 100 / 100 / 99.7%; CC WET 697 99.5 / 98.8 / 96.8 / 95.2 /
 * 92.0%; BBC 2,225 99.9 / 99.5 / 96.5 / 91.3 / 76.2%; C4 + FineWeb + 300 MRPC pairs 99.9 / 97.1 /
 * 94.3 / 92.3 / 89.0%. These samples hold little semantic redundancy, so D4's R_dedup = 0.75 would
 * need ε ≈ 0.3 here (and drop half of the non-paraphrases); on a real crawl, tune ε with the
 * curve `d4 batch` prints.
 *
 * @example
 * embedded$.pipe(semantic({ epsilon: 0.08, params }, { centroids, index, counts, hasher }))
 */
export function semantic(options: SemanticOptions, deps: SemanticDeps): OperatorFunction<Item, Item> {
  const stage = options.id ?? 'semantic';
  const hash = paramsHash(deps.hasher, { type: 'semantic', ...options.params });
  const threshold = 1 - options.epsilon;
  return batchwise((batch) => {
    const positions: number[] = [];
    const vectors: Float32Array[] = [];
    batch.forEach((item, i) => {
      if (isLive(item)) {
        positions.push(i);
        vectors.push(vectorOf(item, stage));
      }
    });
    const out = [...batch];
    const { centroids, index } = deps;
    const start = centroids.begin(vectors);
    if (!centroids.ready) return out;
    const store = centroids.centroids;
    const version = store.version;
    // Refitted centroids (on a sample that holds this batch) mean new clusters: re-file the index first.
    if (start.reseeded) index.refile((vs) => store.assignBatch(vs, 'none').first, store.k);
    index.setClusterCount(store.k);
    // One matrix product assigns the batch; one call per batch looks every document up in its
    // cluster and the next-nearest one and adds it (see ClusterIndexStore.nearestAbove).
    const near = store.assignBatch(vectors, 'none');
    const assignment = near.first;
    const ids = positions.map((p) => (batch[p] as DocItem).doc.id);
    const hits = index.nearestAbove({ vectors, clusters: near.first, alternates: near.second, ids }, threshold);
    let dropped = 0;
    hits.forEach((best, n) => {
      if (!best) return;
      const item = batch[positions[n]!] as DocItem;
      dropped++;
      out[positions[n]!] = {
        ...item,
        drop: dropDecision(item.doc.id, stage, 'semantic-duplicate', hash, {
          duplicate_of: best.id, similarity: best.similarity, cluster: near.first[n]!, centroid_version: version, threshold,
        }),
      };
    });
    centroids.end(vectors, assignment, version);
    const before = deps.counts.value;
    const counts = { seen: before.seen + vectors.length, dropped: before.dropped + dropped };
    deps.counts.set(counts);
    deps.report?.({
      kind: 'semantic', stage, ...counts, batch: { seen: vectors.length, dropped }, keptFraction: counts.seen ? 1 - counts.dropped / counts.seen : 1,
      centroidVersion: store.version, centroidDrift: store.drift, k: store.k, indexed: index.size(), reseeded: start.reseeded !== undefined,
    });
    return out;
  });
}

const optionsSchema = z.strictObject({
  epsilon: z.number().gt(0).lt(1).default(0.08).describe('duplicates have cosine ≥ 1 − epsilon'),
  ...centroidOptionsShape,
  capacity: z.number().int().positive().default(1_000_000).describe('documents indexed over all clusters (1.8 to 3.1 KB each at 384-d); a full cluster forgets its older half'),
  m: z.number().int().min(2).max(100).default(16).describe('HNSW graph degree'),
  efConstruction: z.number().int().positive().default(100).describe('HNSW build-time candidate list'),
  efSearch: z.number().int().positive().default(64).describe('HNSW query-time candidate list'),
  exactBelow: z.number().int().positive().default(4096).describe('clusters smaller than this are searched exhaustively and exactly (SIMD); from then on through an HNSW graph (~2.5 MB each)'),
});

export type SemanticStageOptions = z.infer<typeof optionsSchema>;

export const semanticStage: StageDefinition<SemanticStageOptions> = {
  type: 'semantic',
  summary: 'online SemDeDup: drop a document within cosine 1 − ε of an earlier one in its cluster or the next-nearest (evolving spherical k-means, per-cluster HNSW)',
  options: optionsSchema,
  stores: (id) => [`${id}-centroids`, `${id}-warmup`, `${id}-index`, `${id}-counts`],
  partitioning: 'single',
  windowed: true,
  build(id, options, deps) {
    const factory = deps.annIndex;
    if (typeof factory !== 'function') {
      throw new Error(`stage ${id}: no nearest-neighbour index factory in the stage dependencies (annIndex: createHnswIndex from src/io/models/hnsw-index.ts)`);
    }
    const c = resolveCentroidOptions(options);
    const params = { ...options, ...c };
    const [centroidsName, warmupName, indexName, countsName] = semanticStage.stores(id) as [string, string, string, string];
    const hash = paramsHash(deps.hasher, { type: 'semantic', ...params });
    const centroidStore = new CentroidStore(centroidsName, hash);
    const warmup = new WarmupStore(warmupName, c.sampleSize, c.seed);
    const index = new ClusterIndexStore({
      name: indexName, factory, capacity: options.capacity, m: options.m, efConstruction: options.efConstruction, efSearch: options.efSearch, seed: c.seed,
      exactBelow: options.exactBelow,
    });
    const counts = new JsonStore<SemanticCounts>(countsName, { seen: 0, dropped: 0 });
    const report = deps['report'] as ((r: SemanticReport) => void) | undefined;
    return {
      id, type: 'semantic', params, stores: [centroidStore, warmup, index, counts],
      operator: semantic({ id, epsilon: options.epsilon, params }, {
        centroids: new OnlineCentroids(centroidStore, warmup, c), index, counts, hasher: deps.hasher, ...(report ? { report } : {}),
      }),
      async close() { index.close(); },
    };
  },
};
