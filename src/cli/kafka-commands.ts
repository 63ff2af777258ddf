import { existsSync } from 'node:fs';
import { ConfigError } from '../topology/registry.js';
import { applyOverrides, buildStages, embeddingsTopicOf, loadTopology, type TopologySpec } from '../topology/topology.js';
import { composePipeline, type Pipeline } from '../topology/pipeline.js';
import { createHasher } from '../stages/text/hash.js';
import type { StageDeps } from '../stages/stage.js';
import type { BuiltEmbedStage } from '../stages/embed/embed.js';
import { resolveBrokers } from '../io/kafka/client.js';
import { runKafkaPipeline } from '../io/kafka/runner.js';
import { consumeTopic, produceFile, type RecordKind } from '../io/kafka/topic-io.js';
import { deadLetterJson } from '../io/files/sink.js';
import { embedderFactory, selectionDeps } from './select-options.js';
import { Observation, type ObserveCliOptions } from '../observe/cli.js';
import { codecOptionsFor } from './codec-options.js';

const log = (m: string) => console.error(`[d4] ${new Date().toISOString()} ${m}`);

/** JSON with Buffers as base64 (record bytes, vectors, raw dead-letter bytes). */
const toJsonLine = (v: unknown) => JSON.stringify(v, (_k, x: unknown) =>
  x && typeof x === 'object' && (x as { type?: string }).type === 'Buffer' && Array.isArray((x as { data?: unknown }).data)
    ? Buffer.from((x as { data: number[] }).data).toString('base64') : x);


export interface RunCliOptions extends ObserveCliOptions {
  readonly brokers?: string;
  readonly set: string[];
  readonly appId?: string;
  readonly untilIdle?: number;
  readonly schemaId?: number;
  readonly schemaRegistry?: string;
  readonly maxBytes: number;
  readonly maxBatchBytes: number;
  readonly window: number;
  readonly lingerMs: number;
  readonly modelsDir?: string;
  readonly verbose: boolean;
  readonly json: boolean;
}

/** The topology's stages with --set applied, and the dependencies they need (model, HNSW). */
export async function buildTopologyPipeline(t: TopologySpec, sets: readonly string[], modelsDir: string | undefined, observation?: Observation): Promise<Pipeline> {
  const hasher = await createHasher();
  const specs = applyOverrides(t.stages, sets);
  const types = specs.map((s) => s.type);
  const deps: Record<string, unknown> = { hasher, ...(await selectionDeps(types, (line) => log(line), observation?.onReport)).deps };
  if (types.includes('embed')) deps['createEmbedder'] = embedderFactory(modelsDir);
  return composePipeline(await buildStages(specs, deps as unknown as StageDeps), hasher);
}

interface Run {
  readonly topology: string;
  readonly applicationId: string;
  readonly sinks: { decisions: string; kept: string; deadLetter: string };
  readonly startAt?: number;
}

async function runPipeline(t: TopologySpec, pipeline: Pipeline, run: Run, opts: RunCliOptions, observation: Observation): Promise<number> {
  const brokers = resolveBrokers(opts.brokers);
  log(`running topology ${t.name} as ${run.applicationId} (params ${pipeline.paramsHash}) against ${brokers.join(',')}`);
  let lastReport = 0;
  observation.metrics?.addStages(pipeline.stages);
  const embeddingsTopic = pipeline.stages.some((s) => s.type === 'embed') ? embeddingsTopicOf(t) : undefined;
  const codec = await codecOptionsFor(opts, {
    writes: { document: run.sinks.kept, decision: run.sinks.decisions, deadLetter: run.sinks.deadLetter, ...(embeddingsTopic ? { embedding: embeddingsTopic } : {}) },
    reads: [...(t.source.format === 'avro' ? [t.source.topic] : []), ...(embeddingsTopic ? [embeddingsTopic] : [])],
  }, log);
  const summary = await runKafkaPipeline(pipeline, {
    brokers,
    applicationId: run.applicationId,
    source: { topic: t.source.topic, format: t.source.format, partitions: t.source.partitions },
    sinks: run.sinks,
    embeddingsTopic,
    decode: { idField: 'id', textField: 'text', maxBytes: opts.maxBytes },
    codec,
    window: opts.window,
    lingerMs: opts.lingerMs,
    ...(run.startAt !== undefined ? { startAt: run.startAt } : {}),
    ...(opts.untilIdle ? { untilIdleMs: opts.untilIdle } : {}),
    maxBatchBytes: opts.maxBatchBytes,
    verbose: opts.verbose,
    log,
    ...(observation.observer ? { observer: observation.observer } : {}),
    onBatch: (s) => {
      if (Date.now() - lastReport < 5_000) return;
      lastReport = Date.now();
      log(`in ${s.in}, kept ${s.kept}, dropped ${s.droppedTotal}, dead-lettered ${s.deadTotal}, ${Math.round(s.in / Math.max(s.seconds, 1e-3))} docs/s`);
    },
  }).then(async (s) => { await observation.finish(true, log); return s; }, async (e: unknown) => { await observation.finish(false, log); throw e; })
    .finally(() => pipeline.close());
  const embed = pipeline.stages.find((s): s is BuiltEmbedStage => s.type === 'embed');
  const extra = { ...(embed ? { [embed.id]: embed.counters.toJSON() } : {}), application_id: run.applicationId, params_hash: pipeline.paramsHash, topics: run.sinks };
  if (opts.json) console.log(JSON.stringify({ ...summary.toJSON(), ...extra }));
  else {
    console.log(`d4 ${run.topology} (application ${run.applicationId}, params ${pipeline.paramsHash})\n${summary.format()}`);
    if (embed) console.log(`  ${embed.id}: ${embed.counters.embedded} embedded by the model, ${embed.counters.cacheHits} from the embeddings topic`);
    console.log(`  decisions: ${run.sinks.decisions}, kept: ${run.sinks.kept}, dead letters: ${run.sinks.deadLetter}`);
  }
  return summary.balanced() ? 0 : 1;
}

export async function runCommand(path: string, opts: RunCliOptions): Promise<number> {
  const t = loadTopology(path);
  const observation = await Observation.start(opts, `run ${path}`, log);
  const pipeline = await buildTopologyPipeline(t, opts.set, opts.modelsDir, observation);
  return runPipeline(t, pipeline, {
    topology: `run ${path}`,
    applicationId: opts.appId ?? t.application_id ?? `d4-${t.name}`,
    sinks: { decisions: t.sinks.decisions.topic, kept: t.sinks.kept.topic, deadLetter: t.sinks.dead_letter.topic },
  }, opts, observation);
}

export interface ReplayCliOptions extends RunCliOptions {
  readonly from: string;
}

/**
 * Re-selection: the same topology over the retained input with other parameters, under a new
 * consumer group and into new output topics named by the parameters' hash, so the live pipeline
 * is untouched. Embeddings come from the embeddings topic (the model is only called for a
 * document that has none, and the count says so).
 */
export async function replayCommand(path: string, opts: ReplayCliOptions): Promise<number> {
  const t = loadTopology(path);
  let startAt: number | undefined;
  if (opts.from !== 'earliest') {
    startAt = /^\d+$/.test(opts.from) ? Number(opts.from) : Date.parse(opts.from);
    if (Number.isNaN(startAt)) throw new ConfigError(`--from ${opts.from}: expected "earliest", an ISO time (2026-11-24T10:00:00Z) or epoch milliseconds`);
  }
  const observation = await Observation.start(opts, `replay ${path}`, log);
  const pipeline = await buildTopologyPipeline(t, opts.set, opts.modelsDir, observation);
  const tag = `${pipeline.paramsHash}${startAt !== undefined ? `-${startAt}` : ''}`;
  const base = t.application_id ?? `d4-${t.name}`;
  return runPipeline(t, pipeline, {
    topology: `replay ${path}`,
    applicationId: opts.appId ?? `${base}-replay-${tag}`,
    sinks: { decisions: `${t.sinks.decisions.topic}.${tag}`, kept: `${t.sinks.kept.topic}.${tag}`, deadLetter: `${t.sinks.dead_letter.topic}.${tag}` },
    ...(startAt !== undefined ? { startAt } : {}),
  }, opts, observation);
}

export interface ProduceCliOptions {
  readonly topic: string;
  readonly brokers?: string;
  readonly format: 'avro' | 'json';
  readonly partitions: number;
  readonly idField: string;
  readonly textField: string;
  readonly maxBytes: number;
  readonly batchSize: number;
  readonly schemaId?: number;
  readonly schemaRegistry?: string;
}

export async function produceCommand(input: string, opts: ProduceCliOptions): Promise<number> {
  if (input !== '-' && !existsSync(input)) throw new ConfigError(`input ${input} does not exist`);
  const refusedLines: string[] = [];
  if (opts.format === 'json' && (opts.schemaRegistry !== undefined || opts.schemaId !== undefined)) throw new ConfigError('--schema-registry and --schema-id frame Avro records; --format json sends each line as it is');
  const codec = await codecOptionsFor(opts, { writes: { document: opts.topic }, reads: [] }, log);
  const r = await produceFile(input, {
    brokers: resolveBrokers(opts.brokers), topic: opts.topic, format: opts.format, partitions: opts.partitions,
    idField: opts.idField, textField: opts.textField, maxBytes: opts.maxBytes, batchSize: opts.batchSize, codec,
    onDeadLetter: (d) => refusedLines.push(toJsonLine(deadLetterJson(d))),
  });
  console.log(`produced ${r.produced} record(s) to ${opts.topic}${r.refused ? `; refused ${r.refused} that are not documents (below, on stderr)` : ''}`);
  for (const l of refusedLines) console.error(l);
  return 0;
}

export interface ConsumeCliOptions {
  readonly topic: string;
  readonly brokers?: string;
  readonly as: RecordKind;
  readonly max?: number;
  readonly idleMs: number;
  readonly schemaId?: number;
  readonly schemaRegistry?: string;
}

export async function consumeCommand(opts: ConsumeCliOptions): Promise<number> {
  const codec = opts.as === 'raw' ? {} : await codecOptionsFor(opts, { writes: {}, reads: [opts.topic] }, log);
  const n = await consumeTopic({
    brokers: resolveBrokers(opts.brokers), topic: opts.topic, as: opts.as, codec, idleMs: opts.idleMs,
    ...(opts.max !== undefined ? { max: opts.max } : {}),
    onRecord: (v) => { process.stdout.write(toJsonLine(v) + '\n'); },
  });
  console.error(`consumed ${n} record(s) from ${opts.topic}`);
  return 0;
}

