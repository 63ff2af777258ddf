// Command-line plumbing of the selection stages (semantic, prototype) shared by `d4 curate` and
// `d4 batch`: --target-ratio and --expected-docs, the HNSW index factory, the ratio reports
// printed as the stream runs, and the centroid versions written to <out>/<store>.jsonl.
import { createReadStream, mkdirSync, appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { InvalidArgumentError } from 'commander';
import type { Change, StateStore } from '../state/store.js';
import type { StageDeps } from '../stages/stage.js';
import type { SemanticReport } from '../stages/semantic/semantic.js';
import type { PrototypeReport } from '../stages/prototype/prototype.js';

export interface SelectCliOptions {
  readonly targetRatio?: number;
  readonly expectedDocs?: number;
}

export const SELECTION_STAGES = ['semantic', 'prototype'];

/**
 * Documents in a JSONL file (plain or gzipped), counted by newlines, to set k ≈ √N as D4 does;
 * undefined for stdin and other formats (the stages' default expectedDocs then applies).
 */
export async function countDocuments(input: string): Promise<number | undefined> {
  if (input === '-' || !/\.(jsonl|ndjson)(\.gz)?$/.test(input)) return undefined;
  const raw = createReadStream(input);
  const stream = input.endsWith('.gz') ? raw.pipe(createGunzip()) : raw;
  let lines = 0;
  let last = 0x0a;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    for (let i = chunk.indexOf(0x0a); i !== -1; i = chunk.indexOf(0x0a, i + 1)) lines++;
    if (chunk.length > 0) last = chunk[chunk.length - 1]!;
  }
  return last === 0x0a ? lines : lines + 1;
}

/** Options the flags give a selection stage (a --set given after them still wins). */
export function selectionStageOptions(type: string, opts: SelectCliOptions, expectedDocs: number | undefined): Record<string, unknown> {
  if (!SELECTION_STAGES.includes(type)) return {};
  const o: Record<string, unknown> = {};
  const n = opts.expectedDocs ?? expectedDocs;
  if (n !== undefined && n > 0) o['expectedDocs'] = n;
  if (type === 'prototype' && opts.targetRatio !== undefined) o['targetRatio'] = opts.targetRatio;
  return o;
}

/** One line per stage and batch: what the selection achieved so far. */
export function formatReport(r: SemanticReport | PrototypeReport): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  if (r.kind === 'semantic') {
    return `${r.stage}: ${r.seen} judged, ${r.dropped} semantic duplicates, R_dedup ${pct(r.keptFraction)} | centroids v${r.centroidVersion} (k ${r.k})${r.reseeded ? ' warm-up fit' : ''}, ${r.indexed} indexed`;
  }
  return `${r.stage}: ${r.seen} seen, ${r.kept} kept = ${pct(r.keptFraction)} (target ${pct(r.targetRatio)}) | earlier stages let ${pct(r.upstreamFraction)} through, R_proto ${pct(r.protoFraction)} | centroids v${r.centroidVersion} (k ${r.k})${r.reseeded ? ' warm-up fit' : ''}`;
}

export interface SelectionRun {
  readonly deps: Partial<StageDeps>;
  /** The last report of each stage. */
  readonly last: Map<string, SemanticReport | PrototypeReport>;
}

/** Dependencies of the selection stages: the HNSW factory (loaded only when semantic runs) and the reporter. */
export async function selectionDeps(stages: readonly string[], print?: (line: string) => void, onReport?: (r: SemanticReport | PrototypeReport) => void): Promise<SelectionRun> {
  const last = new Map<string, SemanticReport | PrototypeReport>();
  const deps: Record<string, unknown> = {};
  if (stages.includes('semantic')) {
    const { createHnswIndex } = await import('../io/models/hnsw-index.js');
    deps['annIndex'] = createHnswIndex;
  }
  if (stages.some((s) => SELECTION_STAGES.includes(s))) {
    deps['report'] = (r: SemanticReport | PrototypeReport) => {
      last.set(r.stage, r);
      print?.(formatReport(r));
      onReport?.(r);
    };
  }
  return { deps: deps as Partial<StageDeps>, last };
}

/** Stores whose changes are CentroidSnapshot records (CentroidStore marks itself so). */
export const publishesCentroids = (store: StateStore): boolean => (store as { publishes?: string }).publishes === 'centroid-snapshot';

/**
 * File mode's stand-in for the compacted centroids topic: every centroid version a store
 * publishes is appended to `<outDir>/<store>.jsonl` as a CentroidSnapshot (centroids as base64).
 */
export function centroidFiles(outDir: string, stores: readonly StateStore[]): (store: StateStore, changes: readonly Change[]) => void {
  mkdirSync(outDir, { recursive: true });
  for (const s of stores) if (publishesCentroids(s)) writeFileSync(join(outDir, `${s.name}.jsonl`), '');
  return (store, changes) => {
    if (!publishesCentroids(store)) return;
    // A change's value is already the snapshot's JSON on one line (CentroidStore), a deletion none.
    const lines = changes.flatMap((c) => (c.value === null ? [] : [c.value, NEWLINE]));
    if (lines.length) appendFileSync(join(outDir, `${store.name}.jsonl`), Buffer.concat(lines));
  };
}

const NEWLINE = Buffer.from('\n');

/** Commander parser of --target-ratio: a fraction in (0, 1]. */
export function ratioArg(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!(n > 0 && n <= 1)) throw new InvalidArgumentError(`${name} must be a fraction in (0, 1], e.g. 0.25; got "${value}"`);
    return n;
  };
}

/**
 * The embed stage's model factory for a command: the model code is imported only when a stage
 * asks for a model, and --models-dir (when given) overrides where model ids are looked up.
 */
export function embedderFactory(modelsDir: string | undefined): NonNullable<StageDeps['createEmbedder']> {
  return async (o) => {
    const { createEmbedder } = await import('../io/models/embedder.js');
    return createEmbedder({ ...o, ...(modelsDir ? { modelsDir } : {}) });
  };
}
