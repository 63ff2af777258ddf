// npm run bench:select [-- --sizes 10000,100000] [--1m] [--no-faiss] [--batch 1024]
//
// Throughput and memory of the online selection (centroid assignment, per-cluster HNSW query and
// insert, quantile-sketch update: the semantic and prototype stages as the pipeline runs them) on
// precomputed synthetic unit vectors at 10k and 100k documents (1M with --1m: about 15 minutes on
// 2 cores), and, in the same run, the batch D4 selection of the same vectors with faiss-cpu as
// the reference (in a virtual environment this script creates, .d4/venv-bench-select). Prints
// figures, never fails on time; the last line is one JSON object of every figure.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHasher } from '../../src/stages/text/hash.js';
import { buildStages } from '../../src/topology/topology.js';
import { composePipeline } from '../../src/topology/pipeline.js';
import { createHnswIndex } from '../../src/io/models/hnsw-index.js';
import { normalizeInPlace, Rng } from '../../src/stages/centroids/vectors.js';
import { batchSelect } from '../../src/batch/d4.js';
import { origin, type DocItem, type Item } from '../../src/records/item.js';
import type { SemanticReport } from '../../src/stages/semantic/semantic.js';
import type { PrototypeReport } from '../../src/stages/prototype/prototype.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const value = (name: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
const sizes = (value('--sizes') ?? '10000,100000').split(',').map(Number).concat(flag('--1m') ? [1_000_000] : []);
const BATCH = Number(value('--batch') ?? 1024);
const DIM = 384;
const EPSILON = 0.08;
const TARGET = 0.25;
const SEED = 42;

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

async function online(vectors: Float32Array[], exactBelow?: number) {
  const n = vectors.length;
  const hasher = await createHasher();
  let lastSemantic: SemanticReport | undefined;
  let lastPrototype: PrototypeReport | undefined;
  let fitBatch = -1;
  let batchNo = 0;
  gc();
  const before = process.memoryUsage();
  const select = { expectedDocs: n, seed: SEED };
  const [semantic, prototype] = await buildStages([
    { id: 'semantic', type: 'semantic', options: { ...select, epsilon: EPSILON, ...(exactBelow ? { exactBelow } : {}) } },
    { id: 'prototype', type: 'prototype', options: { ...select, targetRatio: TARGET } },
  ], {
    hasher, annIndex: createHnswIndex,
    report: (r: SemanticReport | PrototypeReport) => {
      if (r.kind === 'semantic') { lastSemantic = r; if (r.reseeded) fitBatch = batchNo; } else lastPrototype = r;
    },
  });
  const sem = composePipeline([semantic!], hasher);
  const proto = composePipeline([prototype!], hasher);
  const times = { semantic: [] as number[], prototype: [] as number[] };
  for (let i = 0; i < n; i += BATCH, batchNo++) {
    const items = batchItems(vectors, i, Math.min(n, i + BATCH));
    let t = process.hrtime.bigint();
    const out = await sem.process(items);
    times.semantic.push(Number(process.hrtime.bigint() - t) / 1e9);
    t = process.hrtime.bigint();
    await proto.process(out);
    times.prototype.push(Number(process.hrtime.bigint() - t) / 1e9);
    for (const s of [...sem.stores, ...proto.stores]) s.drainChanges();
    if (n >= 100_000 && batchNo % 100 === 0) process.stderr.write(`  ${i + BATCH} / ${n}\r`);
  }
  gc();
  const after = process.memoryUsage();
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const steady = (xs: number[]) => xs.filter((_, b) => b !== 0 && b !== fitBatch);
  const total = sum(times.semantic) + sum(times.prototype);
  const index = sem.stores.find((s) => s.name === 'semantic-index')!;
  const estimated = [...sem.stores, ...proto.stores].reduce((a, s) => a + s.bytes(), 0);
  const figures = {
    n, k: lastSemantic!.k, seconds: Number(total.toFixed(2)), docs_per_s: Math.round(n / total),
    semantic: { docs_per_s: Math.round(n / sum(times.semantic)), steady_docs_per_s: Math.round(steady(times.semantic).length * BATCH / sum(steady(times.semantic))), warmup_fit_batch_s: fitBatch >= 0 ? Number(times.semantic[fitBatch]!.toFixed(2)) : null, dropped: lastSemantic!.dropped },
    prototype: { docs_per_s: Math.round(n / sum(times.prototype)), steady_docs_per_s: Math.round(steady(times.prototype).length * BATCH / sum(steady(times.prototype))), kept: lastPrototype!.kept, kept_fraction: Number(lastPrototype!.keptFraction.toFixed(4)) },
    memory: {
      rss_bytes_per_doc: Math.round((after.rss - before.rss) / n),
      estimated_bytes_per_doc: Math.round(estimated / n), index_estimated_bytes_per_doc: Math.round(index.bytes() / Math.max(1, index.size())),
      indexed: index.size(), rss_mb: mb(after.rss),
    },
  };
  await sem.close();
  await proto.close();
  return figures;
}

function venvPython(): string | undefined {
  const venv = join(root, '.d4', 'venv-bench-select');
  const py = join(venv, 'bin', 'python');
  const marker = join(venv, '.d4-installed');
  const pinned = ['faiss-cpu==1.15.1', 'numpy==2.4.6'];
  if (!existsSync(marker) || spawnSync(py, ['-c', 'import faiss, numpy'], { stdio: 'ignore' }).status !== 0) {
    console.log(`creating ${venv} (${pinned.join(', ')}) ...`);
    const mk = spawnSync('python3', ['-m', 'venv', '--clear', venv], { stdio: 'inherit' });
    if (mk.status !== 0) return undefined;
    const pip = spawnSync(py, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', ...pinned], { stdio: 'inherit' });
    if (pip.status !== 0) return undefined;
    writeFileSync(marker, pinned.join('\n') + '\n');
  }
  return spawnSync(py, ['-c', 'import faiss, numpy'], { stdio: 'ignore' }).status === 0 ? py : undefined;
}

function faissReference(py: string, vectors: Float32Array[]) {
  const dir = mkdtempSync(join(tmpdir(), 'd4-bench-select-'));
  try {
    const file = join(dir, 'vectors.f32');
    const buf = Buffer.alloc(vectors.length * DIM * 4);
    vectors.forEach((v, i) => Buffer.from(v.buffer, v.byteOffset, v.byteLength).copy(buf, i * DIM * 4));
    writeFileSync(file, buf);
    const r = spawnSync(py, [join(root, 'bench', 'select', 'faiss_ref.py'), '--vectors', file, '--dim', String(DIM), '--epsilon', String(EPSILON), '--target-ratio', String(TARGET), '--seed', String(SEED)], { encoding: 'utf8', maxBuffer: 1 << 26 });
    if (r.status !== 0) {
      console.log(`faiss reference failed: ${r.stderr}`);
      return null;
    }
    return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function tsBatch(vectors: Float32Array[]) {
  const t = process.hrtime.bigint();
  const r = batchSelect(vectors, vectors.length, { targetRatio: TARGET, epsilon: EPSILON, iterations: 20, seed: SEED, scope: 'cluster', dedup: true, prototype: true });
  const seconds = Number(process.hrtime.bigint() - t) / 1e9;
  return { seconds: Number(seconds.toFixed(2)), docs_per_s: Math.round(vectors.length / seconds), dedup_kept: r.stats.dedupKept, kept: r.stats.protoKept };
}

console.log(`bench:select — ${DIM}-d synthetic unit vectors, batches of ${BATCH}, ε ${EPSILON}, R ${TARGET}, sizes ${sizes.join(', ')}${flag('--1m') ? '' : ' (add --1m for 1,000,000)'}`);
console.log(`node ${process.version}, ${(await import('node:os')).cpus().length} cores`);
const py = flag('--no-faiss') ? undefined : venvPython();
if (!flag('--no-faiss') && !py) console.log('faiss-cpu reference unavailable (could not create the virtual environment)');
const results: Record<string, unknown>[] = [];
for (const n of sizes) {
  const t = process.hrtime.bigint();
  const vectors = corpus(n);
  console.log(`\n${n.toLocaleString('en')} documents (generated in ${(Number(process.hrtime.bigint() - t) / 1e9).toFixed(1)} s)`);
  const on = await online(vectors);
  console.log(`  online  (k ${on.k}): ${on.docs_per_s} docs/s overall (${on.seconds} s) | semantic ${on.semantic.docs_per_s} docs/s, steady ${on.semantic.steady_docs_per_s}, warm-up fit batch ${on.semantic.warmup_fit_batch_s ?? '-'} s, ${on.semantic.dropped} dropped | prototype ${on.prototype.docs_per_s} docs/s, steady ${on.prototype.steady_docs_per_s}, kept ${on.prototype.kept} (${(100 * on.prototype.kept_fraction).toFixed(1)}%)`);
  console.log(`          memory: ${on.memory.rss_bytes_per_doc} B/doc RSS growth (${on.memory.estimated_bytes_per_doc} B/doc estimated by the stores; HNSW + ids ${on.memory.index_estimated_bytes_per_doc} B/doc), ${on.memory.indexed} indexed, RSS ${on.memory.rss_mb} MB`);
  // The same with every cluster of 64 documents or more in an HNSW graph (the default keeps
  // clusters below 2,048 in hnswlib's exhaustive search; at these sizes all of them are).
  const graphs = await online(vectors, 64);
  console.log(`  online, HNSW from 64 documents a cluster: ${graphs.docs_per_s} docs/s overall | semantic ${graphs.semantic.docs_per_s} docs/s, steady ${graphs.semantic.steady_docs_per_s}, ${graphs.semantic.dropped} dropped | memory ${graphs.memory.rss_bytes_per_doc} B/doc RSS growth (${graphs.memory.index_estimated_bytes_per_doc} B/doc estimated for the index, 2.5 MB a graph included)`);
  const ref = py ? faissReference(py, vectors) : null;
  if (ref) console.log(`  faiss   (k ${String(ref['k'])}): ${String(ref['docs_per_s'])} docs/s (${String(ref['seconds_total'])} s: ${JSON.stringify(ref['seconds'])}), SemDeDup kept ${String(ref['dedup_kept'])}, kept ${String(ref['kept'])}, ${String(ref['threads'])} threads`);
  const ts = n <= 10_000 ? tsBatch(vectors) : null;
  if (ts) console.log(`  d4 batch (TypeScript): ${ts.docs_per_s} docs/s (${ts.seconds} s), SemDeDup kept ${ts.dedup_kept}, kept ${ts.kept}`);
  results.push({ n, online: on, online_hnsw_from_64: graphs, faiss: ref, ts_batch: ts });
}
console.log(JSON.stringify({ bench: 'select', dim: DIM, batch: BATCH, epsilon: EPSILON, target_ratio: TARGET, results }));
