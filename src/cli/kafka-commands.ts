import { existsSync } from 'node:fs';
import { ConfigError } from '../topology/registry.js';
import { applyOverrides, buildStages, embeddingsTopicOf, loadTopology, type StageSpec, type TopologySpec } from '../topology/topology.js';
import { composePipeline, type Pipeline } from '../topology/pipeline.js';
import { createHasher } from '../stages/text/hash.js';
import type { StageDeps } from '../stages/stage.js';
import type { Embedder, EmbedderOptions } from '../stages/embed/types.js';
import { resolveBrokers } from '../io/kafka/client.js';
import { runWorker } from '../io/kafka/worker.js';
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

/**
 * What a topology needs to run: its stages with --set applied, the parameters' hash (of the whole
 * topology: every keep decision carries it) and a builder that gives each task its own stages and
 * stores. The model is loaded once per worker, when the first task that embeds is set up, and
 * shared by every task of the worker.
 */
export async function topologyRuntime(t: TopologySpec, sets: readonly string[], modelsDir: string | undefined, observation?: Observation) {
  const hasher = await createHasher();
  const specs = applyOverrides(t.stages, sets);
  const types = specs.map((s) => s.type);
  const deps: Record<string, unknown> = { hasher, ...(await selectionDeps(types, (line) => log(line), observation?.onReport)).deps };
  let shared: Promise<Embedder> | undefined;
  if (types.includes('embed')) {
    const factory = embedderFactory(modelsDir);
    deps['createEmbedder'] = (options: EmbedderOptions) => {
      shared ??= factory(options);
      // Tasks close their stages; the model stays open until the worker stops.
      return shared.then((e) => new Proxy(e, { get: (target, k) => (k === 'close' ? async () => undefined : Reflect.get(target, k, target)) }));
    };
  }
  const build = async (stages: readonly StageSpec[]) => composePipeline(await buildStages(stages, deps as unknown as StageDeps), hasher);
  const whole = await build(specs);
  await whole.close();
  return {
    specs, hasher, paramsHash: whole.paramsHash, build,
    async close() { if (shared) await (await shared).close(); },
  };
}

type Runtime = Awaited<ReturnType<typeof topologyRuntime>>;

/** For `d4 curate`/`sweep` callers that want one pipeline of the whole topology. */
export async function buildTopologyPipeline(t: TopologySpec, sets: readonly string[], modelsDir: string | undefined, observation?: Observation): Promise<Pipeline> {
  const r = await topologyRuntime(t, sets, modelsDir, observation);
  return r.build(r.specs);
}

interface Run {
  readonly topology: string;
  readonly applicationId: string;
  readonly sinks: { decisions: string; kept: string; deadLetter: string };
  readonly startAt?: number;
}

async function runTopology(t: TopologySpec, rt: Runtime, run: Run, opts: RunCliOptions, observation: Observation): Promise<number> {
  const brokers = resolveBrokers(opts.brokers);
  log(`running topology ${t.name} as ${run.applicationId} (params ${rt.paramsHash}) against ${brokers.join(',')}`);
  let lastReport = 0;
  observation.metrics?.addStages(rt.specs);
  const embeddingsTopic = rt.specs.some((s) => s.type === 'embed') ? embeddingsTopicOf(t) : undefined;
  const codec = await codecOptionsFor(opts, {
    writes: { document: run.sinks.kept, decision: run.sinks.decisions, deadLetter: run.sinks.deadLetter, ...(embeddingsTopic ? { embedding: embeddingsTopic } : {}) },
    reads: [...(t.source.format === 'avro' ? [t.source.topic] : []), ...(embeddingsTopic ? [embeddingsTopic] : [])],
  }, log);
  const { summary, embed } = await runWorker({
    brokers,
    applicationId: run.applicationId,
    source: { topic: t.source.topic, format: t.source.format, partitions: t.source.partitions },
    stages: rt.specs,
    buildPipeline: async (stages) => {
      const p = await rt.build(stages);
      return { ...p, paramsHash: rt.paramsHash };
    },
    hasher: rt.hasher,
    sinks: run.sinks,
    ...(embeddingsTopic ? { embeddingsTopic } : {}),
    decode: { idField: 'id', textField: 'text', maxBytes: opts.maxBytes },
    codec,
    window: opts.window,
    lingerMs: opts.lingerMs,
    ...(run.startAt !== undefined ? { startAt: run.startAt } : {}),
    ...(opts.untilIdle ? { untilIdleMs: opts.untilIdle } : {}),
    maxBatchBytes: opts.maxBatchBytes,
    verbose: opts.verbose,
    log,
    ...(observation.observer ? { observers: [observation.observer] } : {}),
    onBatch: (s) => {
      if (Date.now() - lastReport < 5_000) return;
      lastReport = Date.now();
      log(`decided here so far: ${s.in} (kept ${s.kept}, dropped ${s.droppedTotal}, dead-lettered ${s.deadTotal})`);
    },
  }).then(async (r) => { await observation.finish(true, log); return r; }, async (e: unknown) => { await observation.finish(false, log); throw e; })
    .finally(() => rt.close());
  const extra = { ...(t.stages.some((s) => s.type === 'embed') ? { embed } : {}), application_id: run.applicationId, params_hash: rt.paramsHash, topics: run.sinks };
  if (opts.json) console.log(JSON.stringify({ ...summary.toJSON(), ...extra }));
  else {
    console.log(`d4 ${run.topology} (application ${run.applicationId}, params ${rt.paramsHash}): decided by this worker\n${summary.format()}`);
    if (t.stages.some((s) => s.type === 'embed')) console.log(`  embed: ${embed.embedded} embedded by the model, ${embed.cache_hits} from the embeddings topic, ${embed.carried} arrived with their vector`);
    console.log(`  decisions: ${run.sinks.decisions}, kept: ${run.sinks.kept}, dead letters: ${run.sinks.deadLetter}`);
  }
  return 0;
}

export async function runCommand(path: string, opts: RunCliOptions): Promise<number> {
  const t = loadTopology(path);
  const observation = await Observation.start(opts, `run ${path}`, log);
  const rt = await topologyRuntime(t, opts.set, opts.modelsDir, observation);
  return runTopology(t, rt, {
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
  const rt = await topologyRuntime(t, opts.set, opts.modelsDir, observation);
  const tag = `${rt.paramsHash}${startAt !== undefined ? `-${startAt}` : ''}`;
  const base = t.application_id ?? `d4-${t.name}`;
  return runTopology(t, rt, {
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

