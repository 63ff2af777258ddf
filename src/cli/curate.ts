import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import cliProgress from 'cli-progress';
import { ConfigError } from '../topology/registry.js';
import { applyOverrides, buildStages } from '../topology/topology.js';
import { composePipeline } from '../topology/pipeline.js';
import { curateFile } from '../topology/run-files.js';
import { inputSize } from '../io/files/source.js';
import { createHasher } from '../stages/text/hash.js';

export interface CurateCliOptions {
  readonly out: string;
  readonly stages: string[];
  readonly set: string[];
  readonly idField: string;
  readonly textField: string;
  readonly maxBytes: number;
  readonly batchSize: number;
  readonly stateDir?: string;
  readonly progress: boolean;
  readonly json: boolean;
}

export async function curateCommand(input: string, opts: CurateCliOptions): Promise<number> {
  if (input !== '-' && !existsSync(input)) throw new ConfigError(`input ${input} does not exist (give a JSONL, JSONL.gz or JSON-array file, or - for stdin)`);
  const hasher = await createHasher();
  const specs = applyOverrides(opts.stages.map((type) => ({ id: type, type, options: {} })), opts.set);
  const pipeline = composePipeline(await buildStages(specs, { hasher }), hasher);

  const total = input === '-' ? undefined : inputSize(input);
  const bar = opts.progress && process.stderr.isTTY && total
    ? new cliProgress.SingleBar({ format: 'curating |{bar}| {percentage}% | {docs} docs | {rate} docs/s | ETA {eta_formatted}', stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic)
    : undefined;
  let bytes = 0;
  bar?.start(total!, 0, { docs: 0, rate: 0 });
  const summary = await curateFile(input, pipeline, {
    outDir: opts.out, idField: opts.idField, textField: opts.textField, maxBytes: opts.maxBytes, batchSize: opts.batchSize,
    ...(opts.stateDir ? { stateDir: opts.stateDir } : {}),
    onBytes: (n) => { bytes = n; },
    onBatch: (s) => bar?.update(Math.min(bytes, total ?? 0), { docs: s.in, rate: Math.round(s.in / Math.max(s.seconds, 1e-3)) }),
  }).finally(() => bar?.stop());
  await pipeline.close();

  if (opts.json) console.log(JSON.stringify(summary.toJSON()));
  else {
    console.log(`d4 curate ${input} (stages: ${opts.stages.join(' → ')}, params ${pipeline.paramsHash})`);
    console.log(summary.format());
    console.log(`  outputs in ${resolve(opts.out)}: decisions.jsonl, kept.jsonl, dead-letter.jsonl, summary.json`);
  }
  if (!summary.balanced()) return 1;
  if (summary.deadTotal > 0) console.error(`warning: ${summary.deadTotal} record(s) dead-lettered; see ${resolve(opts.out, 'dead-letter.jsonl')}`);
  return 0;
}
