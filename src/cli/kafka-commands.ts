import { existsSync } from 'node:fs';
import { ConfigError } from '../topology/registry.js';
import { applyOverrides, buildStages, loadTopology } from '../topology/topology.js';
import { composePipeline } from '../topology/pipeline.js';
import { createHasher } from '../stages/text/hash.js';
import { resolveBrokers } from '../io/kafka/client.js';
import { runKafkaPipeline } from '../io/kafka/runner.js';
import { consumeTopic, produceFile, type RecordKind } from '../io/kafka/topic-io.js';
import { deadLetterJson } from '../io/files/sink.js';

const log = (m: string) => console.error(`[d4] ${new Date().toISOString()} ${m}`);

/** JSON with Buffers as base64 (record bytes, vectors, raw dead-letter bytes). */
const toJsonLine = (v: unknown) => JSON.stringify(v, (_k, x: unknown) =>
  x && typeof x === 'object' && (x as { type?: string }).type === 'Buffer' && Array.isArray((x as { data?: unknown }).data)
    ? Buffer.from((x as { data: number[] }).data).toString('base64') : x);

function codecOptions(opts: { schemaId?: number }) {
  return opts.schemaId === undefined ? {} : { confluentSchemaId: opts.schemaId };
}

export interface RunCliOptions {
  readonly brokers?: string;
  readonly set: string[];
  readonly appId?: string;
  readonly untilIdle?: number;
  readonly schemaId?: number;
  readonly maxBytes: number;
  readonly maxBatchBytes: number;
  readonly verbose: boolean;
  readonly json: boolean;
}

export async function runCommand(path: string, opts: RunCliOptions): Promise<number> {
  const t = loadTopology(path);
  const hasher = await createHasher();
  const specs = applyOverrides(t.stages, opts.set);
  const pipeline = composePipeline(await buildStages(specs, { hasher }), hasher);
  const brokers = resolveBrokers(opts.brokers);
  log(`running topology ${t.name} (params ${pipeline.paramsHash}) against ${brokers.join(',')}`);
  let lastReport = 0;
  const summary = await runKafkaPipeline(pipeline, {
    brokers,
    applicationId: opts.appId ?? t.application_id ?? `d4-${t.name}`,
    source: { topic: t.source.topic, format: t.source.format, partitions: t.source.partitions },
    sinks: { decisions: t.sinks.decisions.topic, kept: t.sinks.kept.topic, deadLetter: t.sinks.dead_letter.topic },
    decode: { idField: 'id', textField: 'text', maxBytes: opts.maxBytes },
    codec: codecOptions(opts),
    ...(opts.untilIdle ? { untilIdleMs: opts.untilIdle } : {}),
    maxBatchBytes: opts.maxBatchBytes,
    verbose: opts.verbose,
    log,
    onBatch: (s) => {
      if (Date.now() - lastReport < 5_000) return;
      lastReport = Date.now();
      log(`in ${s.in}, kept ${s.kept}, dropped ${s.droppedTotal}, dead-lettered ${s.deadTotal}, ${Math.round(s.in / Math.max(s.seconds, 1e-3))} docs/s`);
    },
  }).finally(() => pipeline.close());
  if (opts.json) console.log(JSON.stringify(summary.toJSON()));
  else console.log(`d4 run ${path}\n${summary.format()}`);
  return summary.balanced() ? 0 : 1;
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
}

export async function produceCommand(input: string, opts: ProduceCliOptions): Promise<number> {
  if (input !== '-' && !existsSync(input)) throw new ConfigError(`input ${input} does not exist`);
  const refusedLines: string[] = [];
  const r = await produceFile(input, {
    brokers: resolveBrokers(opts.brokers), topic: opts.topic, format: opts.format, partitions: opts.partitions,
    idField: opts.idField, textField: opts.textField, maxBytes: opts.maxBytes, batchSize: opts.batchSize, codec: codecOptions(opts),
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
}

export async function consumeCommand(opts: ConsumeCliOptions): Promise<number> {
  const n = await consumeTopic({
    brokers: resolveBrokers(opts.brokers), topic: opts.topic, as: opts.as, codec: codecOptions(opts), idleMs: opts.idleMs,
    ...(opts.max !== undefined ? { max: opts.max } : {}),
    onRecord: (v) => { process.stdout.write(toJsonLine(v) + '\n'); },
  });
  console.error(`consumed ${n} record(s) from ${opts.topic}`);
  return 0;
}
