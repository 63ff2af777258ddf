import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { codecOptionsFor } from './codec-options.js';
import { ConfigError } from '../topology/registry.js';
import { applyOverrides, buildStages, embeddingsTopicOf, loadTopology } from '../topology/topology.js';
import { resolveBrokers } from '../io/kafka/client.js';
import { composePipeline, type Pipeline } from '../topology/pipeline.js';
import { gridPoints, interpolateEpsilon, parseGridAxis, sweepPass, type SweepPointResult } from '../topology/sweep.js';
import type { InRecord } from '../topology/task.js';
import { decodeFileRecord, readFileRecords } from '../io/files/source.js';
import { jsonCodecs } from '../io/files/json-codecs.js';
import { createHasher, type Hasher } from '../stages/text/hash.js';
import type { StageDeps } from '../stages/stage.js';
import type { Embedder, EmbeddingStore } from '../stages/embed/types.js';
import type { Embedding, Item } from '../records/item.js';
import { MemoryEmbeddingStore } from '../stages/embed/memory-embedding-store.js';
import type { BuiltEmbedStage } from '../stages/embed/embed.js';
import { countDocuments, embedderFactory, SELECTION_STAGES, selectionDeps, selectionStageOptions } from './select-options.js';

export interface SweepCliOptions {
  readonly stages: string[];
  readonly set: string[];
  readonly grid: string[];
  readonly targetDedupRatio?: number;
  readonly embeddings?: string;
  readonly modelsDir?: string;
  readonly brokers?: string;
  readonly schemaId?: number;
  readonly schemaRegistry?: string;
  readonly idField: string;
  readonly textField: string;
  readonly maxBytes: number;
  readonly batchSize: number;
  readonly json: boolean;
  /** --out: where sweep.json goes (for d4 report). */
  readonly out?: string;
}

/** What one parameter set did over the input. */
interface Result extends SweepPointResult {
  readonly sets: string[];
}

/**
 * Parameter sweeps over one input, on the run loop (topology/sweep.ts sweepPass): the stages
 * before the first selection stage (exact, near, embed) are one task, run once per pass, and
 * every parameter set is a task of the selection stages fed what that task forwards, window by
 * window, so a sweep costs one embedding of the input, not one per point, and each point
 * decides what `d4 curate` with its parameters decides on a file.
 */
export async function sweepCommand(input: string, opts: SweepCliOptions): Promise<number> {
  if (!existsSync(input)) throw new ConfigError(`input ${input} does not exist`);
  const decode = { idField: opts.idField, textField: opts.textField, maxBytes: opts.maxBytes };
  const axes = opts.grid.map(parseGridAxis);
  const points = gridPoints(axes);
  const hasher = await createHasher();

  // A topology: its crawl topic is the input (read once per pass, the same records every time)
  // and its embeddings topic fills the store, so a sweep after a live run embeds nothing.
  const topology = /\.ya?ml$/.test(input) ? loadTopology(input) : undefined;
  let expectedDocs: number | undefined;
  let source: { records: () => AsyncIterable<InRecord[]>; decode: (record: InRecord, seq: number) => Item };
  let mirrored: Embedding[] = [];
  let closeInput = async () => undefined as void;
  if (topology) {
    if (topology.source.format === 'embedded') throw new ConfigError(`${input}: sweep reads crawl topics (format avro or json), not embedded documents`);
    const brokers = resolveBrokers(opts.brokers);
    const { openTopicRecords, readEmbeddingsTopic } = await import('../io/kafka/topic-items.js');
    const codec = await codecOptionsFor(opts, { writes: {}, reads: [topology.source.topic, embeddingsTopicOf(topology)] }, (m) => console.error(`[d4] ${m}`));
    const topic = await openTopicRecords(brokers, topology.source.topic, topology.source.format, decode, codec);
    mirrored = await readEmbeddingsTopic(brokers, embeddingsTopicOf(topology), codec);
    expectedDocs = topic.size;
    source = { records: () => topic.records(opts.batchSize), decode: (r, seq) => topic.decode(r, seq) };
    closeInput = () => topic.close();
  } else {
    expectedDocs = await countDocuments(input);
    source = { records: () => readFileRecords(input, { ...decode, batchSize: opts.batchSize }), decode: decodeFileRecord(input, decode) };
  }
  const specs = topology ? topology.stages : opts.stages.map((type) => ({ id: type, type, options: {} }));
  const base = applyOverrides(specs.map((s) => ({ ...s, options: { ...selectionStageOptions(s.type, {}, expectedDocs), ...s.options } })), opts.set);
  const types = base.map((s) => s.type);
  const first = types.findIndex((s) => SELECTION_STAGES.includes(s));
  if (first < 0) throw new ConfigError(`stages ${types.join(',')}: a sweep needs semantic and/or prototype`);
  if (!types.slice(0, first).includes('embed')) throw new ConfigError('stages: the embed stage must come before semantic/prototype');
  if (opts.targetDedupRatio !== undefined && !types.includes('semantic')) throw new ConfigError('--target-dedup-ratio needs the semantic stage');
  const pre = base.slice(0, first);
  const select = base.slice(first);
  for (const a of axes) {
    if (!select.some((s) => a.key.startsWith(`${s.id}.`))) throw new ConfigError(`--grid ${a.key}: sweeps vary the selection stages (${select.map((s) => s.id).join(', ')})`);
  }

  // One model and one embeddings store for every pass: the model runs once per document.
  const createEmbedder = embedderFactory(opts.modelsDir);
  let embedder: Embedder | undefined;
  let store: EmbeddingStore;
  if (opts.embeddings) {
    const { EmbeddingsFile } = await import('../io/files/embeddings-file.js');
    store = new EmbeddingsFile(opts.embeddings);
  } else store = new MemoryEmbeddingStore({ name: 'sweep-embeddings', capacity: Math.max(expectedDocs ?? 0, mirrored.length, 1_000_000) });
  store.load(mirrored);
  const deps = async (): Promise<StageDeps> => ({
    hasher, embeddingStore: store,
    createEmbedder: async (o) => (embedder ??= await createEmbedder(o)),
    ...(await selectionDeps(types)).deps,
  });
  // The embed stage closes a model it created; this one is shared across passes, so hide close.
  const shared = (b: Awaited<ReturnType<typeof buildStages>>) => b.map((s) => (s.type === 'embed' ? { ...s, close: undefined } : s));

  let embeddedByModel = 0;
  const pass = async (sets: string[][]): Promise<Result[]> => {
    const prePipeline = composePipeline(shared(await buildStages(pre, await deps())), hasher);
    const points = await Promise.all(sets.map(async (set) => {
      const stages = applyOverrides(select, set);
      return { stages, pipeline: composePipeline(await buildStages(stages, await deps()), hasher) as Pipeline };
    }));
    try {
      const results = await sweepPass({ stages: pre, pipeline: prePipeline }, points, {
        records: source.records(), decodeSource: source.decode, codecs: jsonCodecs(), decode, hasher, window: opts.batchSize,
      });
      const e = prePipeline.stages.find((s): s is BuiltEmbedStage => s.type === 'embed');
      embeddedByModel += e?.counters.embedded ?? 0;
      return results.map((r, i) => ({ ...r, sets: sets[i]! }));
    } finally {
      await prePipeline.close();
      for (const p of points) await p.pipeline.close();
    }
  };

  const t0 = Date.now();
  const results = await pass(points);
  let search: { epsilon: number; rDedup: number; trials: { epsilon: number; kept: number }[] } | undefined;
  if (opts.targetDedupRatio !== undefined) search = await searchEpsilon(opts.targetDedupRatio, pass);
  await embedder?.close();
  await store.close?.();
  await closeInput();

  const rDedup = (r: Result) => (r.reachedSelection ? 1 - r.semanticDropped / r.reachedSelection : 1);
  const json = JSON.stringify({
    points: results.map((r) => ({ set: r.sets, kept_fraction: r.summary.in ? r.summary.kept / r.summary.in : 0, r_dedup: rDedup(r), dropped: Object.fromEntries(r.summary.dropped), clusters_covered: r.clusters.size, seconds: Number(r.seconds.toFixed(3)), in: r.summary.in })),
    ...(search ? { target_dedup_ratio: opts.targetDedupRatio, epsilon: search.epsilon, r_dedup: search.rDedup, trials: search.trials } : {}),
    embedded_by_model: embeddedByModel, seconds: (Date.now() - t0) / 1000,
  });
  if (opts.out) {
    mkdirSync(opts.out, { recursive: true });
    writeFileSync(join(opts.out, 'sweep.json'), json + '\n');
  }
  if (opts.json) {
    console.log(json);
  } else {
    console.log(`d4 sweep ${input}: ${results.length} parameter set(s) over the same embeddings (${embeddedByModel} documents embedded by the model)`);
    for (const r of results) {
      const drops = [...r.summary.dropped].map(([k, n]) => `${k} ${n}`).join(', ');
      console.log(`  ${(r.sets.join(' ') || '(defaults)').padEnd(50)} kept ${(100 * r.summary.kept / Math.max(r.summary.in, 1)).toFixed(1).padStart(5)}%  R_dedup ${(100 * rDedup(r)).toFixed(1)}%  clusters covered ${r.clusters.size}  ${r.seconds.toFixed(2)} s  | ${drops}`);
    }
    if (search) {
      console.log(`  target R_dedup ${opts.targetDedupRatio}: epsilon ${search.epsilon.toFixed(4)} keeps ${(100 * search.rDedup).toFixed(1)}% in the semantic stage (trials: ${search.trials.map((t) => `${t.epsilon.toFixed(3)}→${(100 * t.kept).toFixed(1)}%`).join(', ')})`);
    }
  }
  return 0;
}

/**
 * Finds ε for a target R_dedup the way SemDeDup tunes it: run trial values, interpolate between
 * the two that bracket the target, then refine around the estimate and interpolate again. Each
 * round is one pass over the input with every trial's semantic stage fed the same embeddings.
 */
async function searchEpsilon(target: number, pass: (sets: string[][]) => Promise<Result[]>) {
  const trials: { epsilon: number; kept: number }[] = [];
  const run = async (eps: number[]) => {
    const rs = await pass(eps.map((e) => [`semantic.epsilon=${e}`]));
    rs.forEach((r, i) => trials.push({ epsilon: eps[i]!, kept: r.reachedSelection ? 1 - r.semanticDropped / r.reachedSelection : 1 }));
  };
  await run([0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]);
  for (let round = 0; round < 2; round++) {
    const { epsilon } = interpolateEpsilon(trials, target);
    const step = round === 0 ? 0.02 : 0.005;
    await run([Math.max(0.001, epsilon - step), epsilon, Math.min(0.99, epsilon + step)]);
  }
  // Report a value that was actually run, with its measured R_dedup: the trial closest to the target.
  const tried = trials.reduce((a, b) => (Math.abs(b.kept - target) < Math.abs(a.kept - target) ? b : a));
  return { epsilon: tried.epsilon, rDedup: tried.kept, trials: trials.sort((a, b) => a.epsilon - b.epsilon) };
}
