import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError } from '../topology/registry.js';
import { applyOverrides, buildStages, resolveStageOptions } from '../topology/topology.js';
import { composePipeline, outcomes } from '../topology/pipeline.js';
import { Summary } from '../topology/summary.js';
import { readFileItems } from '../io/files/source.js';
import { JsonlWriter, deadLetterJson } from '../io/files/sink.js';
import { createHasher, paramsHash } from '../stages/text/hash.js';
import { dropDecision, isLive, type DocItem, type Item } from '../records/item.js';
import { batchSelect, DEFAULT_EPSILON_CURVE, type BatchSelectOptions } from '../batch/d4.js';
import { centroidSnapshotToJson } from '../stages/centroids/centroid-store.js';
import { vectorBytes } from '../stages/centroids/vectors.js';
import type { SemanticStageOptions } from '../stages/semantic/semantic.js';
import type { PrototypeStageOptions } from '../stages/prototype/prototype.js';
import type { StageDeps } from '../stages/stage.js';
import { embedderFactory, SELECTION_STAGES } from './select-options.js';

export interface BatchCliOptions {
  readonly out: string;
  readonly stages: string[];
  readonly set: string[];
  readonly targetRatio?: number;
  readonly iterations: number;
  readonly idField: string;
  readonly textField: string;
  readonly maxBytes: number;
  readonly batchSize: number;
  readonly embeddings?: string;
  readonly model?: string;
  readonly dtype?: string;
  readonly modelsDir?: string;
  readonly json: boolean;
}

const seconds = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;

/**
 * `d4 batch`: the whole file through the stages before semantic (in batches, as curate runs them),
 * every embedding held in memory, then the published D4 selection over all of them at once. The
 * outputs follow curate's contract: one decision per input document in input order, kept.jsonl,
 * dead-letter.jsonl, summary.json; plus the centroids of both clusterings.
 */
export async function batchCommand(input: string, opts: BatchCliOptions): Promise<number> {
  if (input !== '-' && !existsSync(input)) throw new ConfigError(`input ${input} does not exist (give a JSONL, JSONL.gz or JSON-array file, or - for stdin)`);
  const selecting = opts.stages.filter((s) => SELECTION_STAGES.includes(s));
  const before = opts.stages.filter((s) => !SELECTION_STAGES.includes(s));
  if (selecting.length > 0 && !before.includes('embed')) throw new ConfigError(`--stages ${opts.stages.join(',')}: ${selecting.join(' and ')} need the embed stage before them`);
  const firstSelecting = opts.stages.findIndex((s) => SELECTION_STAGES.includes(s));
  if (firstSelecting >= 0 && opts.stages.slice(firstSelecting).some((s) => !SELECTION_STAGES.includes(s))) {
    throw new ConfigError(`--stages ${opts.stages.join(',')}: in batch mode semantic and prototype come last`);
  }
  const hasher = await createHasher();
  const specs = applyOverrides(opts.stages.map((type) => ({
    id: type, type,
    options: type === 'embed' ? embedOptions(opts) : type === 'prototype' && opts.targetRatio !== undefined ? { targetRatio: opts.targetRatio } : {},
  })), opts.set);
  const semanticOptions = resolveStageOptions(specs.find((s) => s.type === 'semantic') ?? { id: 'semantic', type: 'semantic', options: {} }, 'semantic') as SemanticStageOptions;
  const prototypeOptions = resolveStageOptions(specs.find((s) => s.type === 'prototype') ?? { id: 'prototype', type: 'prototype', options: {} }, 'prototype') as PrototypeStageOptions;
  const selectOptions: BatchSelectOptions = {
    targetRatio: prototypeOptions.targetRatio, epsilon: semanticOptions.epsilon, iterations: opts.iterations, seed: semanticOptions.seed,
    scope: prototypeOptions.scope, dedup: selecting.includes('semantic'), prototype: selecting.includes('prototype'), epsilonCurve: DEFAULT_EPSILON_CURVE,
    ...(semanticOptions.k !== undefined ? { k: semanticOptions.k } : {}), ...(prototypeOptions.k !== undefined ? { k2: prototypeOptions.k } : {}),
  };

  const deps = await embedDeps(opts, before.includes('embed'));
  const pipeline = composePipeline(await buildStages(specs.filter((s) => !SELECTION_STAGES.includes(s.type)), { hasher, ...deps }), hasher);
  const items: Item[] = [];
  const summary = new Summary(); // its clock times the whole run
  const t0 = process.hrtime.bigint();
  try {
    for await (const batch of readFileItems(input, { idField: opts.idField, textField: opts.textField, maxBytes: opts.maxBytes, batchSize: opts.batchSize })) {
      items.push(...await pipeline.process(batch));
    }
  } finally {
    await pipeline.close();
    await deps.embeddingStore?.close?.();
  }
  const embedSeconds = seconds(t0);

  const t1 = process.hrtime.bigint();
  const live = items.filter((i): i is DocItem => isLive(i));
  const documents = items.filter((i) => i.kind === 'doc').length;
  const vectors = selecting.length > 0 ? live.map((i) => {
    if (!i.vector) throw new Error(`document ${i.doc.id} has no embedding`);
    return i.vector.values;
  }) : [];
  const selection = batchSelect(vectors, documents, selectOptions);
  const selectSeconds = seconds(t1);

  const semanticHash = paramsHash(hasher, { type: 'batch-semantic', epsilon: selectOptions.epsilon, k: selectOptions.k ?? null, iterations: selectOptions.iterations, seed: selectOptions.seed });
  const prototypeHash = paramsHash(hasher, { type: 'batch-prototype', targetRatio: selectOptions.targetRatio, scope: selectOptions.scope, k2: selectOptions.k2 ?? null, iterations: selectOptions.iterations, seed: selectOptions.seed });
  const keepHash = paramsHash(hasher, [pipeline.paramsHash, selecting.includes('semantic') ? semanticHash : null, selecting.includes('prototype') ? prototypeHash : null]);
  const position = new Map(live.map((item, n) => [item, n]));
  const decided: Item[] = items.map((item) => {
    const n = item.kind === 'doc' ? position.get(item as DocItem) : undefined;
    if (n === undefined || selecting.length === 0) return item;
    const v = selection.verdicts[n]!;
    if (v.keep) return item;
    const doc = item as DocItem;
    const drop = v.stage === 'semantic'
      ? dropDecision(doc.doc.id, 'semantic', 'semantic-duplicate', semanticHash, { duplicate_of: live[v.duplicateOf]!.doc.id, similarity: v.similarity, cluster: v.cluster, centroid_version: 1, threshold: v.threshold })
      : dropDecision(doc.doc.id, 'prototype', 'prototypical', prototypeHash, { distance: v.distance, threshold: v.threshold, cluster: v.cluster, centroid_version: 2 });
    return { ...doc, drop };
  });

  mkdirSync(opts.out, { recursive: true });
  const o = outcomes(decided, keepHash);
  const writers = { decisions: new JsonlWriter(join(opts.out, 'decisions.jsonl')), kept: new JsonlWriter(join(opts.out, 'kept.jsonl')), dead: new JsonlWriter(join(opts.out, 'dead-letter.jsonl')) };
  await Promise.all([writers.decisions.writeAll(o.decisions), writers.kept.writeAll(o.kept), writers.dead.writeAll(o.dead.map(deadLetterJson))]);
  await Promise.all(Object.values(writers).map((w) => w.close()));
  const now = Date.now();
  const { dim } = selection.centroids;
  for (const [name, rows, version, hash] of [['semantic-centroids', selection.centroids.dedup, 1, semanticHash], ['prototype-centroids', selection.centroids.prototype, 2, prototypeHash]] as const) {
    if (!rows) continue;
    const k = rows.length / dim;
    writeFileSync(join(opts.out, `${name}.jsonl`), JSON.stringify(centroidSnapshotToJson({ version, k, dim, centroids: vectorBytes(rows), weights: [], params_hash: hash, created_at: now })) + '\n');
  }
  summary.add(o);
  const report = {
    input, mode: 'batch', params_hash: keepHash, ...summary.toJSON(),
    kept_fraction: documents ? summary.kept / documents : 0,
    batch: { ...selection.stats, options: selectOptions, seconds: { ...selection.stats.seconds, before_selection: Number(embedSeconds.toFixed(3)), selection: Number(selectSeconds.toFixed(3)) } },
  };
  writeFileSync(join(opts.out, 'summary.json'), JSON.stringify(report, null, 2) + '\n');

  if (opts.json) console.log(JSON.stringify(report));
  else {
    const s = selection.stats;
    const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
    console.log(`d4 batch ${input} (stages: ${opts.stages.join(' → ')}, params ${keepHash})`);
    console.log(summary.format());
    if (selecting.length > 0) {
      console.log(`  batch selection over ${s.embedded} embedded of ${documents} documents: ` +
        `${s.k !== null ? `k ${s.k}, SemDeDup (ε ${selectOptions.epsilon}) kept ${s.dedupKept} = R_dedup ${pct(s.embedded ? s.dedupKept / s.embedded : 1)}; ` : ''}` +
        `${s.k2 !== null ? `re-clustered k ${s.k2}, prototypes kept ${s.protoKept}; ` : ''}overall ${pct(documents ? summary.kept / documents : 0)} (target ${pct(selectOptions.targetRatio)})`);
      if (s.epsilonCurve.length) console.log(`  ε → R_dedup: ${s.epsilonCurve.map((p) => `${p.epsilon}: ${pct(p.keptFraction)}`).join(', ')}`);
      console.log(`  wall-clock: stages before selection ${embedSeconds.toFixed(2)} s, selection ${selectSeconds.toFixed(2)} s`);
    }
    console.log(`  outputs in ${resolve(opts.out)}: decisions.jsonl, kept.jsonl, dead-letter.jsonl, summary.json${selection.centroids.dedup ? ', semantic-centroids.jsonl' : ''}${selection.centroids.prototype ? ', prototype-centroids.jsonl' : ''}`);
  }
  if (!summary.balanced()) return 1;
  if (summary.deadTotal > 0) console.error(`warning: ${summary.deadTotal} record(s) dead-lettered; see ${resolve(opts.out, 'dead-letter.jsonl')}`);
  return 0;
}

function embedOptions(opts: BatchCliOptions): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  if (opts.model !== undefined) o['model'] = opts.model;
  if (opts.dtype !== undefined) o['dtype'] = opts.dtype;
  return o;
}

async function embedDeps(opts: BatchCliOptions, embedding: boolean): Promise<Pick<StageDeps, 'createEmbedder' | 'embeddingStore'>> {
  if (!embedding) return {};
  const { EmbeddingsFile } = await import('../io/files/embeddings-file.js');
  return {
    createEmbedder: embedderFactory(opts.modelsDir),
    ...(opts.embeddings ? { embeddingStore: new EmbeddingsFile(opts.embeddings) } : {}),
  };
}
