import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import cliProgress from 'cli-progress';
import { ConfigError } from '../topology/registry.js';
import { applyOverrides, buildStages, type StageSpec } from '../topology/topology.js';
import { composePipeline, type Pipeline } from '../topology/pipeline.js';
import { curateFile } from '../io/files/curate-file.js';
import { inputSize } from '../io/files/source.js';
import { createHasher, type Hasher } from '../stages/text/hash.js';
import type { StageDeps } from '../stages/stage.js';
import type { BuiltEmbedStage } from '../stages/embed/embed.js';
import { EmbedderError } from '../stages/embed/types.js';
import type { SemanticReport } from '../stages/semantic/semantic.js';
import type { PrototypeReport } from '../stages/prototype/prototype.js';
import { Observation, type ObserveCliOptions } from '../observe/cli.js';
import { embedderFactory, centroidFiles, countDocuments, formatReport, SELECTION_STAGES, selectionDeps, selectionStageOptions } from './select-options.js';

export interface CurateCliOptions extends ObserveCliOptions {
  readonly out: string;
  readonly stages: string[];
  readonly set: string[];
  readonly idField: string;
  readonly textField: string;
  readonly maxBytes: number;
  readonly batchSize: number;
  readonly stateDir?: string;
  readonly embeddings?: string;
  readonly model?: string;
  readonly pooling?: string;
  readonly maxTokens?: number;
  readonly device?: string;
  readonly dtype?: string;
  readonly modelsDir?: string;
  readonly targetRatio?: number;
  readonly expectedDocs?: number;
  readonly progress: boolean;
  readonly json: boolean;
  /** --report: write <out>/report.html at the end. */
  readonly report?: boolean;
}

export async function curateCommand(input: string, opts: CurateCliOptions): Promise<number> {
  if (input !== '-' && !existsSync(input)) throw new ConfigError(`input ${input} does not exist (give a JSONL, JSONL.gz or JSON-array file, or - for stdin)`);
  const observation = await Observation.start(opts, `curate ${input}`, (m) => console.error(`[d4] ${m}`));
  const hasher = await createHasher();
  // k ≈ √N from the file's size, unless the stream spans runs (--state-dir): then the option or the stage default.
  const expectedDocs = opts.stages.some((s) => SELECTION_STAGES.includes(s)) && !opts.stateDir ? await countDocuments(input) : undefined;
  const specs = applyOverrides(opts.stages.map((type) => ({ id: type, type, options: type === 'embed' ? embedOptions(opts) : selectionStageOptions(type, opts, expectedDocs) })), opts.set);
  const deps = await embedDeps(opts);
  // Ratio reports go to stderr as the stream runs, unless a progress bar owns the terminal.
  const reports: (SemanticReport | PrototypeReport)[] = [];
  const selection = await selectionDeps(opts.stages, opts.progress && process.stderr.isTTY ? undefined : (line) => console.error(line), (r) => { reports.push(r); observation.onReport(r); });
  const pipeline = composePipeline(await buildStages(specs, { hasher, ...deps, ...selection.deps }).catch(async (e: unknown) => {
    await deps.embeddingStore?.close?.();
    throw e instanceof EmbedderError && !e.retriable ? new ConfigError(e.message) : e;
  }), hasher);
  observation.metrics?.addStages(pipeline.stages);
  let ok = false;
  try {
    const code = await run(input, opts, { specs, pipeline, hasher }, observation);
    ok = code === 0;
    if (!opts.json) for (const r of selection.last.values()) console.log(`  ${formatReport(r)}`);
    if (reports.length) writeFileSync(join(opts.out, 'selection.json'), JSON.stringify({ reports }) + '\n'); // for d4 report
    if (opts.report) {
      const { writeReport } = await import('../observe/report.js');
      console.error(`report: ${resolve(await writeReport(opts.out))}`);
    }
    return code;
  } finally {
    await observation.finish(ok, (m) => console.error(`[d4] ${m}`));
    await pipeline.close();
    await deps.embeddingStore?.close?.();
  }
}

/** The embed stage's options given as flags (--set embed.<option>=... still applies after them). */
function embedOptions(opts: CurateCliOptions): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  if (opts.model !== undefined) o.model = opts.model;
  if (opts.pooling !== undefined) o.pooling = opts.pooling;
  if (opts.maxTokens !== undefined) o.maxTokens = opts.maxTokens;
  if (opts.device !== undefined) o.device = opts.device;
  if (opts.dtype !== undefined) o.dtype = opts.dtype;
  return o;
}

async function embedDeps(opts: CurateCliOptions): Promise<Pick<StageDeps, 'createEmbedder' | 'embeddingStore'>> {
  const flags = (['embeddings', 'model', 'pooling', 'maxTokens', 'device', 'dtype', 'modelsDir'] as const).filter((k) => opts[k] !== undefined);
  if (!opts.stages.includes('embed')) {
    if (flags.length > 0) throw new ConfigError(`--${flags.map((f) => f.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)).join(', --')} apply to the embed stage; add embed to --stages`);
    return {};
  }
  // Imported here so that runs without the embed stage never load the model code.
  const { EmbeddingsFile } = await import('../io/files/embeddings-file.js');
  return {
    createEmbedder: embedderFactory(opts.modelsDir),
    ...(opts.embeddings ? { embeddingStore: new EmbeddingsFile(opts.embeddings) } : {}),
  };
}

async function run(input: string, opts: CurateCliOptions, { specs, pipeline, hasher }: { specs: readonly StageSpec[]; pipeline: Pipeline; hasher: Hasher }, observation: Observation): Promise<number> {
  const total = input === '-' ? undefined : inputSize(input);
  const bar = opts.progress && process.stderr.isTTY && total
    ? new cliProgress.SingleBar({ format: 'curating |{bar}| {percentage}% | {docs} docs | {rate} docs/s | ETA {eta_formatted}', stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic)
    : undefined;
  let bytes = 0;
  bar?.start(total!, 0, { docs: 0, rate: 0 });
  const summary = await curateFile(input, pipeline, {
    outDir: opts.out, stages: specs, hasher, idField: opts.idField, textField: opts.textField, maxBytes: opts.maxBytes, batchSize: opts.batchSize,
    ...(opts.stateDir ? { stateDir: opts.stateDir } : {}),
    ...(observation.observer ? { observer: observation.observer } : {}),
    onBytes: (n) => { bytes = n; },
    onChanges: centroidFiles(opts.out, pipeline.stores),
    onBatch: (s) => bar?.update(Math.min(bytes, total ?? 0), { docs: s.in, rate: Math.round(s.in / Math.max(s.seconds, 1e-3)) }),
  }).finally(() => bar?.stop());

  const embed = pipeline.stages.find((s): s is BuiltEmbedStage => s.type === 'embed');
  if (opts.json) console.log(JSON.stringify({ ...summary.toJSON(), ...(embed ? { [embed.id]: embed.counters.toJSON() } : {}) }));
  else {
    console.log(`d4 curate ${input} (stages: ${opts.stages.join(' → ')}, params ${pipeline.paramsHash})`);
    console.log(summary.format());
    if (embed) {
      const c = embed.counters;
      console.log(`  ${embed.id}: ${c.embedded} embedded by ${embed.embedder.model} (${embed.embedder.dtype}, ${embed.embedder.device}, ${embed.embedder.dim}-d), ` +
        `${c.cacheHits} from the embeddings store, ${c.truncated} truncated at ${embed.embedder.maxTokens} tokens, ${c.deadLetteredTotal} dead-lettered`);
    }
    console.log(`  outputs in ${resolve(opts.out)}: decisions.jsonl, kept.jsonl, dead-letter.jsonl, summary.json`);
  }
  if (!summary.balanced()) return 1;
  if (summary.deadTotal > 0) console.error(`warning: ${summary.deadTotal} record(s) dead-lettered; see ${resolve(opts.out, 'dead-letter.jsonl')}`);
  return 0;
}
