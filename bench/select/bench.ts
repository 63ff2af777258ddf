// npm run bench:select [-- --sizes 10000,100000] [--1m] [--no-faiss] [--no-semhash] [--ref-timeout 900]
//                        [--batch 1024] [--verify 100000] [--hnsw-variant] [--kernel simd|js|reference]
//                        [--no-one-thread] [--set prototype.ensemble=1]   (threads: D4_SELECT_THREADS, default the cores up to 4)
//
// Throughput and memory of the online selection (batched centroid assignment, per-cluster exact
// SIMD search and insert, quantile-sketch update: the semantic and prototype stages as the
// pipeline runs them) on precomputed synthetic unit vectors at 10k and 100k documents (1M with
// --1m), and, in the same run and on the same vectors, two references in a virtual environment this
// script creates (.d4/venv-bench-select, pip): the batch D4 selection with faiss-cpu at 1 and 2
// threads, and semhash's self-deduplication (usearch) at the same threshold. --verify N runs the
// scalar reference path too at sizes up to N and counts the decisions that differ (must be 0).
// With several selection threads, the online selection also runs on one thread, for the speed-up
// and to count the decisions that differ (must be 0).
// Prints figures, never fails on time; the last line is one JSON object of every figure.
import { benchArgs, fail, numberArg, numberListArg } from '../args.js';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHasher } from '../../src/stages/text/hash.js';
import { applyOverrides, buildStages, resolveStageOptions, type StageSpec } from '../../src/topology/topology.js';
import { composePipeline } from '../../src/topology/pipeline.js';
import { createHnswIndex } from '../../src/io/models/hnsw-index.js';
import { normalizeInPlace, Rng } from '../../src/stages/centroids/vectors.js';
import { batchSelect } from '../../src/batch/d4.js';
import { setSelectionKernel, selectionKernel, type SelectionKernel } from '../../src/stages/kernels/dot-simd.js';
import { selectionThreads, setSelectionThreads } from '../../src/stages/kernels/parallel.js';
import { origin, type DocItem, type Item } from '../../src/records/item.js';
import type { SemanticReport } from '../../src/stages/semantic/semantic.js';
import type { PrototypeReport } from '../../src/stages/prototype/prototype.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const USAGE = `
npm run bench:select [-- options]

Online selection (semantic + prototype stages) on synthetic 384-d vectors, beside faiss-cpu's batch
D4 and semhash's self-deduplication on the same vectors (their venv: .d4/venv-bench-select).
Prints figures, never fails on time; the last line is one JSON object.

  --sizes N,N          documents per run (default 10000,100000)
  --1m                 add a run of 1,000,000 documents (~15 min here with the references)
  --batch N            documents per batch (default 1024)
  --no-faiss           skip the faiss-cpu reference
  --no-semhash         skip the semhash reference
  --faiss-threads N,N  thread counts of the faiss runs (default 1,2)
  --ref-timeout S      seconds a reference may take (default 1800)
  --no-one-thread      skip the 1-thread online run (speed-up, decisions compared)
  --verify N           also run the scalar reference path at sizes up to N; count differing decisions
  --kernel K           simd | js | reference (default simd)
  --hnsw-variant       also run with HNSW from 64 documents a cluster
  --set stage.opt=v    a stage option of the online runs (repeatable; stages semantic, prototype),
                       e.g. --set prototype.ensemble=1: what an option costs or saves
Threads of the online selection: D4_SELECT_THREADS (default the cores, up to 4).`;
const args = benchArgs(USAGE, {
  sizes: { type: 'string', default: '10000,100000' }, '1m': { type: 'boolean', default: false }, batch: { type: 'string', default: '1024' },
  'no-faiss': { type: 'boolean', default: false }, 'no-semhash': { type: 'boolean', default: false }, 'faiss-threads': { type: 'string', default: '1,2' },
  'ref-timeout': { type: 'string', default: '1800' }, 'no-one-thread': { type: 'boolean', default: false }, verify: { type: 'string', default: '0' },
  kernel: { type: 'string' }, 'hnsw-variant': { type: 'boolean', default: false }, set: { type: 'string', multiple: true },
});
const sizes = numberListArg(USAGE, 'sizes', args.sizes, { min: 1, integer: true }).concat(args['1m'] ? [1_000_000] : []);
const BATCH = numberArg(USAGE, 'batch', args.batch, { min: 1, integer: true });
const REF_TIMEOUT_S = numberArg(USAGE, 'ref-timeout', args['ref-timeout'], { min: 1 });
const VERIFY_UP_TO = numberArg(USAGE, 'verify', args.verify, { min: 0, integer: true });
if (args.kernel !== undefined && !['simd', 'js', 'reference'].includes(args.kernel)) fail(USAGE, `--kernel must be simd, js or reference, got '${args.kernel}'`);
const KERNEL = args.kernel as SelectionKernel | undefined;
/** Threads of the online selection (D4_SELECT_THREADS, else the cores up to 4); with more than one, a 1-thread run follows unless --no-one-thread. */
const THREADS = selectionThreads();
const FAISS_THREADS = numberListArg(USAGE, 'faiss-threads', args['faiss-threads'], { min: 1, integer: true });
const DIM = 384;
const EPSILON = 0.08;
const TARGET = 0.25;
const SEED = 42;

const SETS = args.set ?? [];

/** The two stages of the online runs, with the benchmark's parameters and the --set overrides. */
function stageSpecs(n: number, exactBelow?: number): StageSpec[] {
  const select = { expectedDocs: n, seed: SEED };
  return applyOverrides([
    { id: 'semantic', type: 'semantic', options: { ...select, epsilon: EPSILON, ...(exactBelow ? { exactBelow } : {}) } },
    { id: 'prototype', type: 'prototype', options: { ...select, targetRatio: TARGET } },
  ], SETS);
}
// A bad --set stops here, before minutes of work.
try {
  for (const spec of stageSpecs(1000)) resolveStageOptions(spec, '--set');
} catch (e) {
  fail(USAGE, (e as Error).message);
}

/**
 * Synthetic corpus: √N·2 topic directions, each document a topic plus Gaussian noise (cosine
 * ≈ 0.5 to its topic, ≈ 0.3 to a sibling), and 10% near-copies of an earlier document (cosine
 * ≈ 0.98), so that SemDeDup and the prototype ranking both have work.
 */
function corpus(n: number): Float32Array[] {
  const rng = new Rng(n);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  const topics = Array.from({ length: Math.max(20, 2 * Math.round(Math.sqrt(n))) }, () => {
    const t = Float32Array.from({ length: DIM }, gauss);
    normalizeInPlace(t);
    return t;
  });
  const out: Float32Array[] = [];
  for (let i = 0; i < n; i++) {
    const copy = i > 100 && rng.next() < 0.1;
    const base = copy ? out[rng.int(i)]! : topics[rng.int(topics.length)]!;
    const noise = copy ? 0.007 : 0.08;
    const v = new Float32Array(DIM);
    for (let d = 0; d < DIM; d++) v[d] = base[d]! + noise * gauss();
    normalizeInPlace(v);
    out.push(v);
  }
  return out;
}

function batchItems(vectors: Float32Array[], from: number, to: number): Item[] {
  const items: DocItem[] = [];
  for (let i = from; i < to; i++) {
    items.push({
      kind: 'doc', seq: i, origin: origin({ line: i + 1 }),
      doc: { id: `d${i}`, url: null, fetched_at: null, content_type: null, language: null, text: '', metadata: {} },
      vector: { model: 'synthetic', pooling: 'none', dtype: 'fp32', values: vectors[i]!, tokens: 0, truncated: false, cached: false },
    });
  }
  return items;
}

const mb = (b: number) => Math.round(b / 1048576);

function gc() {
  (globalThis as { gc?: () => void }).gc?.();
}

/** Each document's outcome with its evidence, to compare two runs decision by decision. */
function outcome(item: Item): string {
  if (item.kind !== 'doc') return 'dead';
  const d = item.drop;
  if (!d) return `keep ${item.evidence?.cluster ?? ''} ${item.evidence?.distance ?? ''}`;
  return `${d.stage} ${d.reason} ${d.duplicate_of ?? ''} ${d.similarity ?? ''} ${d.cluster ?? ''} ${d.distance ?? ''} ${d.threshold ?? ''}`;
}

async function online(vectors: Float32Array[], options: { exactBelow?: number; kernel?: SelectionKernel; keepOutcomes?: boolean; threads?: number } = {}) {
  const n = vectors.length;
  setSelectionKernel(options.kernel ?? KERNEL);
  setSelectionThreads(options.threads);
  const hasher = await createHasher();
  let lastSemantic: SemanticReport | undefined;
  let lastPrototype: PrototypeReport | undefined;
  let fitBatch = -1;
  /** The batches each stage refitted its centroids in (a reseeded report), to count what the refits cost. */
  const refitted = { semantic: new Set<number>(), prototype: new Set<number>() };
  let batchNo = 0;
  gc();
  const before = process.memoryUsage();
  const [semantic, prototype] = await buildStages(stageSpecs(n, options.exactBelow), {
    hasher, annIndex: createHnswIndex,
    report: (r: SemanticReport | PrototypeReport) => {
      if (r.kind === 'semantic') { lastSemantic = r; if (r.reseeded) fitBatch = batchNo; } else lastPrototype = r;
      if (r.reseeded) refitted[r.kind].add(batchNo);
    },
  });
  const sem = composePipeline([semantic!], hasher);
  const proto = composePipeline([prototype!], hasher);
  const times = { semantic: [] as number[], prototype: [] as number[] };
  const outcomes: string[] = [];
  /** Every decision with its evidence, hashed in order: two runs (two commits) decided alike when their digests are equal. */
  const digest = createHash('sha256');
  /** Keys and values the stores' changelogs would carry (a changelog topic, or files): what a worker writes besides its decisions. */
  let changelogBytes = 0;
  for (let i = 0; i < n; i += BATCH, batchNo++) {
    const items = batchItems(vectors, i, Math.min(n, i + BATCH));
    let t = process.hrtime.bigint();
    const out = await sem.process(items);
    times.semantic.push(Number(process.hrtime.bigint() - t) / 1e9);
    t = process.hrtime.bigint();
    const final = await proto.process(out);
    times.prototype.push(Number(process.hrtime.bigint() - t) / 1e9);
    for (const item of final) {
      const o = outcome(item);
      digest.update(o + '\n');
      if (options.keepOutcomes) outcomes.push(o);
    }
    for (const s of [...sem.stores, ...proto.stores]) for (const c of s.drainChanges()) changelogBytes += Buffer.byteLength(c.key) + (c.value?.length ?? 0);
    if (n >= 100_000 && batchNo % 50 === 0) process.stderr.write(`  ${i + BATCH} / ${n}\r`);
  }
  gc();
  const after = process.memoryUsage();
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const steady = (xs: number[]) => xs.filter((_, b) => b !== 0 && b !== fitBatch);
  // A refit batch's time: the fit on the sample (and, in the semantic stage, re-filing the index) plus the batch's own work.
  const refits = (stage: 'semantic' | 'prototype') => ({ batches: refitted[stage].size, seconds: Number(sum(times[stage].filter((_, b) => refitted[stage].has(b))).toFixed(2)) });
  const total = sum(times.semantic) + sum(times.prototype);
  const index = sem.stores.find((s) => s.name === 'semantic-index')!;
  const estimated = [...sem.stores, ...proto.stores].reduce((a, s) => a + s.bytes(), 0);
  const figures = {
    n, k: lastSemantic!.k, kernel: selectionKernel(), threads: selectionThreads(), seconds: Number(total.toFixed(2)), docs_per_s: Math.round(n / total),
    semantic: { docs_per_s: Math.round(n / sum(times.semantic)), steady_docs_per_s: Math.round(steady(times.semantic).length * BATCH / sum(steady(times.semantic))), warmup_fit_batch_s: fitBatch >= 0 ? Number(times.semantic[fitBatch]!.toFixed(2)) : null, first_batch_s: Number(times.semantic[0]!.toFixed(2)), dropped: lastSemantic!.dropped, refits: refits('semantic') },
    prototype: { docs_per_s: Math.round(n / sum(times.prototype)), steady_docs_per_s: Math.round(steady(times.prototype).length * BATCH / sum(steady(times.prototype))), kept: lastPrototype!.kept, kept_fraction: Number(lastPrototype!.keptFraction.toFixed(4)), refits: refits('prototype'), clusterings: Number(prototype!.params['ensemble']) },
    memory: {
      rss_bytes_per_doc: Math.round((after.rss - before.rss) / n),
      estimated_bytes_per_doc: Math.round(estimated / n), index_bytes_per_indexed_doc: Math.round(index.bytes() / Math.max(1, index.size())),
      indexed: index.size(), rss_mb: mb(after.rss),
    },
    changelog_bytes_per_doc: Math.round(changelogBytes / n),
    decisions_digest: digest.digest('hex').slice(0, 16),
  };
  await sem.close();
  await proto.close();
  setSelectionKernel(undefined);
  setSelectionThreads(undefined);
  return { figures, outcomes };
}

const PINNED = ['faiss-cpu==1.15.1', 'numpy==2.4.6', 'semhash==0.5.0'];

function venvPython(): string | undefined {
  const venv = join(root, '.d4', 'venv-bench-select');
  const py = join(venv, 'bin', 'python');
  const marker = join(venv, '.d4-installed');
  const ready = () => spawnSync(py, ['-c', 'import faiss, numpy, semhash'], { stdio: 'ignore' }).status === 0;
  if (!existsSync(marker) || readFileSync(marker, 'utf8') !== PINNED.join('\n') + '\n' || !ready()) {
    console.log(`creating ${venv} (${PINNED.join(', ')}) ...`);
    const mk = spawnSync('python3', ['-m', 'venv', '--clear', venv], { stdio: 'inherit' });
    if (mk.status !== 0) return undefined;
    const pip = spawnSync(py, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', ...PINNED], { stdio: 'inherit' });
    if (pip.status !== 0) return undefined;
    writeFileSync(marker, PINNED.join('\n') + '\n');
  }
  return ready() ? py : undefined;
}

/** Runs one reference script on the vectors file; its last stdout line is its JSON figures. */
function reference(py: string, script: string, file: string, extra: string[], threads?: number): Record<string, unknown> | { error: string } {
  const env = { ...process.env, ...(threads ? { OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads) } : {}) };
  const r = spawnSync(py, [join(root, 'bench', 'select', script), '--vectors', file, '--dim', String(DIM), '--epsilon', String(EPSILON), ...extra],
    { encoding: 'utf8', maxBuffer: 1 << 26, timeout: REF_TIMEOUT_S * 1000, env });
  if (r.error || r.status !== 0) {
    const why = r.signal ? `stopped after ${REF_TIMEOUT_S} s (--ref-timeout)` : (r.stderr || String(r.error)).trim().split('\n').slice(-3).join(' | ');
    console.log(`  ${script}${threads ? ` (${threads} threads)` : ''} failed: ${why}`);
    return { error: why };
  }
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
}

function writeVectors(vectors: Float32Array[]): { file: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'd4-bench-select-'));
  const file = join(dir, 'vectors.f32');
  const buf = Buffer.alloc(vectors.length * DIM * 4);
  vectors.forEach((v, i) => Buffer.from(v.buffer, v.byteOffset, v.byteLength).copy(buf, i * DIM * 4));
  writeFileSync(file, buf);
  return { file, dir };
}

function tsBatch(vectors: Float32Array[]) {
  const t = process.hrtime.bigint();
  const r = batchSelect(vectors, vectors.length, { targetRatio: TARGET, epsilon: EPSILON, iterations: 20, seed: SEED, scope: 'cluster', dedup: true, prototype: true });
  const seconds = Number(process.hrtime.bigint() - t) / 1e9;
  return { seconds: Number(seconds.toFixed(2)), docs_per_s: Math.round(vectors.length / seconds), dedup_kept: r.stats.dedupKept, kept: r.stats.protoKept };
}

const num = (x: unknown) => (typeof x === 'number' ? x : null);

console.log(`bench:select — ${DIM}-d synthetic unit vectors, batches of ${BATCH}, ε ${EPSILON}, R ${TARGET}, sizes ${sizes.join(', ')}${args['1m'] ? '' : ' (add --1m for 1,000,000)'}${SETS.length ? `, --set ${SETS.join(' ')}` : ''}`);
console.log(`node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}, selection kernel ${KERNEL ?? selectionKernel()}, ${THREADS} selection thread(s)`);
const wantRefs = !args['no-faiss'] || !args['no-semhash'];
const py = wantRefs ? venvPython() : undefined;
if (wantRefs && !py) console.log('references unavailable (could not create the virtual environment)');
const results: Record<string, unknown>[] = [];
const summary: Record<string, number | string | null> = {};
for (const n of sizes) {
  const t = process.hrtime.bigint();
  const vectors = corpus(n);
  console.log(`\n${n.toLocaleString('en')} documents (generated in ${(Number(process.hrtime.bigint() - t) / 1e9).toFixed(1)} s)`);
  const verify = n <= VERIFY_UP_TO;
  const oneThread = THREADS > 1 && !args['no-one-thread'];
  const { figures: on, outcomes } = await online(vectors, { keepOutcomes: verify || oneThread });
  console.log(`  online  (k ${on.k}, ${on.kernel}, ${on.threads} thread${on.threads > 1 ? 's' : ''}): ${on.docs_per_s} docs/s overall (${on.seconds} s) | semantic ${on.semantic.docs_per_s} docs/s, steady ${on.semantic.steady_docs_per_s}, first batch ${on.semantic.first_batch_s} s, warm-up fit batch ${on.semantic.warmup_fit_batch_s ?? '-'} s, ${on.semantic.dropped} dropped | prototype ${on.prototype.docs_per_s} docs/s, steady ${on.prototype.steady_docs_per_s}, kept ${on.prototype.kept} (${(100 * on.prototype.kept_fraction).toFixed(1)}%)`);
  const refitSeconds = on.semantic.refits.seconds + on.prototype.refits.seconds;
  console.log(`          refits: semantic ${on.semantic.refits.batches} batches, ${on.semantic.refits.seconds} s (fit + re-filing the index) | prototype ${on.prototype.refits.batches} batches, ${on.prototype.refits.seconds} s (${on.prototype.clusterings} clustering${on.prototype.clusterings === 1 ? '' : 's'}) | ${(100 * refitSeconds / on.seconds).toFixed(0)}% of the online time`);
  console.log(`          memory: ${on.memory.estimated_bytes_per_doc} B/doc held by the stores (index ${on.memory.index_bytes_per_indexed_doc} B per indexed doc), ${on.memory.rss_bytes_per_doc} B/doc RSS growth, ${on.memory.indexed} indexed, RSS ${on.memory.rss_mb} MB; changelogs ${on.changelog_bytes_per_doc} B/doc; decisions digest ${on.decisions_digest}`);
  let single: { docs_per_s: number; changed: number } | null = null;
  if (oneThread) {
    // The same run on one thread: the threads' speed-up, and the same decisions (they must not depend on it).
    const { figures: one, outcomes: oneOutcomes } = await online(vectors, { keepOutcomes: true, threads: 1 });
    single = { docs_per_s: one.docs_per_s, changed: outcomes.filter((o, i) => o !== oneOutcomes[i]).length };
    console.log(`  online, 1 thread: ${one.docs_per_s} docs/s overall → ${on.threads} threads ${(on.docs_per_s / one.docs_per_s).toFixed(2)}×; ${single.changed} of ${outcomes.length} decisions (with their evidence) differ`);
  }
  let verified: Record<string, unknown> | null = null;
  if (verify) {
    const { figures: ref, outcomes: refOutcomes } = await online(vectors, { kernel: 'reference', keepOutcomes: true });
    const changed = outcomes.filter((o, i) => o !== refOutcomes[i]).length;
    verified = { reference_docs_per_s: ref.docs_per_s, decisions: outcomes.length, changed };
    console.log(`  scalar reference path: ${ref.docs_per_s} docs/s; ${changed} of ${outcomes.length} decisions (with their evidence) differ from it`);
  }
  let graphs: Awaited<ReturnType<typeof online>>['figures'] | null = null;
  if (args['hnsw-variant']) {
    graphs = (await online(vectors, { exactBelow: 64 })).figures;
    console.log(`  online, HNSW from 64 documents a cluster: ${graphs.docs_per_s} docs/s overall | semantic ${graphs.semantic.docs_per_s} docs/s, ${graphs.semantic.dropped} dropped | ${graphs.memory.estimated_bytes_per_doc} B/doc held`);
  }
  const faiss: Record<number, Record<string, unknown>> = {};
  let semhash: Record<string, unknown> | null = null;
  if (py) {
    const { file, dir } = writeVectors(vectors);
    try {
      if (!args['no-faiss']) {
        for (const threads of FAISS_THREADS) {
          const r = reference(py, 'faiss_ref.py', file, ['--target-ratio', String(TARGET), '--seed', String(SEED), '--threads', String(threads)], threads);
          faiss[threads] = r;
          if (!('error' in r)) console.log(`  faiss   (k ${String(r['k'])}, ${threads} thread${threads > 1 ? 's' : ''}): ${String(r['docs_per_s'])} docs/s (${String(r['seconds_total'])} s: ${JSON.stringify(r['seconds'])}), SemDeDup kept ${String(r['dedup_kept'])}, kept ${String(r['kept'])}`);
        }
      }
      if (!args['no-semhash']) {
        semhash = reference(py, 'semhash_ref.py', file, []);
        if (!('error' in semhash)) console.log(`  semhash (usearch, self-deduplication at cosine ${1 - EPSILON}): ${String(semhash['docs_per_s'])} docs/s (${String(semhash['seconds_total'])} s: ${JSON.stringify(semhash['seconds'])}), kept ${String(semhash['kept'])}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const ts = n <= 10_000 ? tsBatch(vectors) : null;
  if (ts) console.log(`  d4 batch (TypeScript): ${ts.docs_per_s} docs/s (${ts.seconds} s), SemDeDup kept ${ts.dedup_kept}, kept ${ts.kept}`);
  const best = Math.max(...Object.values(faiss).map((r) => num(r['docs_per_s']) ?? 0));
  const tag = n >= 1_000_000 ? `${n / 1_000_000}m` : `${n / 1000}k`;
  summary[`online_docs_per_s_${tag}`] = on.docs_per_s;
  if (single) {
    summary[`online_1t_docs_per_s_${tag}`] = single.docs_per_s;
    summary[`threads_speedup_${tag}`] = Number((on.docs_per_s / single.docs_per_s).toFixed(3));
    summary[`decisions_changed_vs_1t_${tag}`] = single.changed;
  }
  summary[`faiss_docs_per_s_${tag}`] = best > 0 ? best : null;
  for (const [threads, r] of Object.entries(faiss)) summary[`faiss_${threads}t_docs_per_s_${tag}`] = num(r['docs_per_s']);
  summary[`semhash_docs_per_s_${tag}`] = semhash ? num(semhash['docs_per_s']) : null;
  summary[`ratio_vs_faiss_${tag}`] = best > 0 ? Number((on.docs_per_s / best).toFixed(3)) : null;
  for (const [threads, r] of Object.entries(faiss)) {
    const d = num(r['docs_per_s']);
    summary[`ratio_vs_faiss_${threads}t_${tag}`] = d ? Number((on.docs_per_s / d).toFixed(3)) : null;
  }
  summary[`ratio_vs_semhash_${tag}`] = semhash && num(semhash['docs_per_s']) ? Number((on.docs_per_s / num(semhash['docs_per_s'])!).toFixed(3)) : null;
  summary[`refit_share_${tag}`] = Number((refitSeconds / on.seconds).toFixed(3));
  summary[`bytes_per_doc_${tag}`] = on.memory.estimated_bytes_per_doc;
  summary[`rss_bytes_per_doc_${tag}`] = on.memory.rss_bytes_per_doc;
  summary[`changelog_bytes_per_doc_${tag}`] = on.changelog_bytes_per_doc;
  summary[`decisions_digest_${tag}`] = on.decisions_digest;
  if (verified) summary[`decisions_changed_vs_scalar_${tag}`] = verified['changed'] as number;
  results.push({ n, online: on, online_1t: single, verified, online_hnsw_from_64: graphs, faiss, semhash, ts_batch: ts });
}
console.log(`\n${Object.entries(summary).map(([k, v]) => `${k} ${v ?? '-'}`).join(', ')}`);
console.log(JSON.stringify({ bench: 'select', set: SETS, select_threads: THREADS, dim: DIM, batch: BATCH, epsilon: EPSILON, target_ratio: TARGET, ...summary, results }));
