// npm run bench:embed — throughput of the embed stage against the hardware's ceiling.
//
// On ../shared/data/web/c4-en-1k.jsonl: documents/s and tokens/s of the whole embed stage (items
// in, buffering, tokenization and inference in worker threads, pooling, store, items out) for
// batch sizes 1, 8, 32, 64 and the default token budget (≤ 256 token slots per batch), with and
// without length sorting; and in the same run the ceiling:
// bare onnxruntime-node sessions on the same ONNX file, fed the very same token batches as
// prebuilt tensors, timing session.run() and nothing else. The ceiling is the faster of two bare
// layouts: one session with an intra-op thread per core, and one single-threaded session per
// core, each in its own thread, taking the next batch whenever it is free (as the stage's pool
// does: a static split would let one session idle while a busy core slows the other).
//
// The machine is shared, so measurements are paired: the documents are cut into chunks, and for
// each chunk every contender (ceiling layouts, pipeline) runs back to back, in an order that
// rotates between chunks and rounds; a contender's time for a chunk is its best over the rounds,
// and its figure is the chunk count over the sum of those times. Contenders thus see the same
// conditions, and a burst of someone else's work spoils one sample instead of one figure.
//
// Then the models (bench/embed/models.ts): the static model against MiniLM, paired, on every
// document (static_docs_per_s, minilm_docs_per_s, static_vs_minilm); each model's embed-stage
// documents/s on the first --model-docs documents, paired; and each model's separation of MRPC
// train paraphrase pairs from non-paraphrase pairs (separation_<model>, auc_<model>,
// d_prime_<model>). `--models-only` skips the ceiling sections.
// Prints figures; never fails on time. The last line is one JSON object.
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { from, lastValueFrom, toArray } from 'rxjs';
import { createEmbedder, DEFAULT_BATCHING, planBatches, type ModelEmbedder } from '../../src/io/models/embedder.js';
import { embed, EmbedCounters } from '../../src/stages/embed/embed.js';
import { MemoryEmbeddingStore } from '../../src/stages/embed/memory-embedding-store.js';
import { origin, type DocItem, type Item } from '../../src/records/item.js';
import type { CeilingBatch, CeilingMessage, CeilingWorkerData } from './ceiling-worker.js';
import { MODEL_ALIASES } from '../../src/io/models/embedder.js';
import { benchArgs, fail, numberArg } from '../args.js';
import { mrpcTrain, open, pairedDocsPerS, separation, type Separation } from './models.js';

const root = join(import.meta.dirname, '..', '..', '..');
const MODEL = 'sentence-transformers/all-MiniLM-L6-v2';

const USAGE = `
npm run bench:embed [-- options]

The embed stage against bare onnxruntime-node on the same batches, then the models (static vs
MiniLM, each model's docs/s and MRPC-train separation). Prints figures, never fails on time; the
last line is one JSON object.

  --dtype q8|fp32       MiniLM weights (default q8)
  --docs N              documents of ../shared/data/web/c4-en-1k.jsonl (default 1000)
  --subset N            documents of the batch-size table (default 192)
  --chunk N             documents per paired chunk of the table (default 96)
  --rounds N            rounds per chunk of the table (default 2)
  --main-chunk N        documents per chunk of the default configuration (default 200)
  --main-rounds N       rounds of the default configuration (default 3)
  --main-only           only the default configuration (no batch-size table)
  --models-only         only the model comparison (no table, no ceiling)
  --models A,B          models to compare (default: every alias)
  --mrpc-pairs N        MRPC train pairs for the separation (default 4076)
  --model-docs N        documents for each model's docs/s (default 200)
  --static-rounds N     rounds of static vs MiniLM (default 2)`;
const args = benchArgs(USAGE, {
    dtype: { type: 'string', default: 'q8' },
    rounds: { type: 'string', default: '2' },
    'main-rounds': { type: 'string', default: '3' },
    docs: { type: 'string', default: '1000' },
    subset: { type: 'string', default: '192' },
    chunk: { type: 'string', default: '96' },
    'main-chunk': { type: 'string', default: '200' },
    /** Only the default configuration (quick checks; the JSON then has no subset runs). */
    'main-only': { type: 'boolean', default: false },
    /** Only the model comparison (no batch-size table, no ceiling). */
    'models-only': { type: 'boolean', default: false },
    models: { type: 'string', default: Object.keys(MODEL_ALIASES).join(',') },
    'mrpc-pairs': { type: 'string', default: '4076' },
    'model-docs': { type: 'string', default: '200' },
    'static-rounds': { type: 'string', default: '2' },
});
for (const name of ['rounds', 'main-rounds', 'docs', 'subset', 'chunk', 'main-chunk', 'mrpc-pairs', 'model-docs', 'static-rounds'] as const) numberArg(USAGE, name, args[name], { min: 1, integer: true });
if (args.dtype !== 'q8' && args.dtype !== 'fp32') fail(USAGE, `--dtype must be q8 or fp32, got '${args.dtype}'`);
const dtype = args.dtype as 'q8' | 'fp32';
const rounds = Number(args.rounds);
const mainRounds = Number(args['main-rounds']);
const cores = availableParallelism();
interface Batching { readonly label: string; readonly batchSize: number; readonly batchTokens: number; readonly sort: boolean }
/** The embed stage's default on CPU (DEFAULT_BATCHING.cpu, sortByLength): measured on every document. */
const MAIN: Batching = { label: `≤${DEFAULT_BATCHING.cpu.batchTokens} tokens`, ...DEFAULT_BATCHING.cpu, sort: true };
const fixed = (n: number, sort: boolean): Batching => ({ label: `batch ${n}`, batchSize: n, batchTokens: Number.POSITIVE_INFINITY, sort });
const CONFIGS: Batching[] = [fixed(1, false), fixed(8, false), fixed(8, true), fixed(32, false), fixed(32, true), fixed(64, false), fixed(64, true), { ...MAIN, sort: false }, MAIN];

interface Doc { id: string; text: string }
const all = readFileSync(join(root, '..', 'shared', 'data', 'web', 'c4-en-1k.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Doc);
const docs = all.slice(0, Number(args.docs));
const subset = docs.slice(0, Number(args.subset));

const split = <T>(xs: T[], n: number): T[][] => Array.from({ length: Math.ceil(xs.length / n) }, (_, i) => xs.slice(i * n, (i + 1) * n));
const fmt = (n: number, d = 1) => n.toFixed(d).padStart(8);

// ------------------------------------------------------------------------------------------
// The bare sessions.

/** `sessions` bare sessions, each in its own thread with `threads` intra-op threads. */
class Ceiling {
  private readonly counts = new Map<string, number>();
  private constructor(private readonly workers: Worker[], readonly sessions: number, readonly threads: number) {}

  static async open(onnxFile: string, sessions: number, threads: number): Promise<Ceiling> {
    const workers = await Promise.all(Array.from({ length: sessions }, () => new Promise<Worker>((resolve, reject) => {
      const w = new Worker(new URL('./ceiling-worker.js', import.meta.url), { workerData: { onnxFile, threads } satisfies CeilingWorkerData });
      w.once('message', () => resolve(w));
      w.once('error', reject);
    })));
    return new Ceiling(workers, sessions, threads);
  }

  get name(): string {
    return `${this.sessions}×${this.threads}`;
  }

  private ask(w: Worker, message: CeilingMessage): Promise<void> {
    return new Promise((resolve, reject) => {
      const fail = (e: Error) => reject(e);
      w.once('message', () => {
        w.off('error', fail);
        resolve();
      });
      w.once('error', fail);
      w.postMessage(message);
    });
  }

  /** Every session builds the tensors of every batch now (untimed). */
  async load(key: string, batches: CeilingBatch[]): Promise<void> {
    this.counts.set(key, batches.length);
    await Promise.all(this.workers.map((w) => this.ask(w, { type: 'load', key, batches })));
  }

  /** Wall time until the batches of `key` have all run, each session taking the next one when free. */
  async run(key: string): Promise<number> {
    const n = this.counts.get(key)!;
    let next = 0;
    const t0 = process.hrtime.bigint();
    await Promise.all(this.workers.map(async (w) => {
      while (next < n) await this.ask(w, { type: 'run', key, index: next++ });
    }));
    return Number(process.hrtime.bigint() - t0) / 1e9;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** The batches the stage feeds the model for one buffer: planBatches over its token rows. */
function plan(rows: Int32Array[], b: Batching): { batches: CeilingBatch[]; tokens: number; padded: number } {
  const batches: CeilingBatch[] = [];
  let tokens = 0;
  let padded = 0;
  for (const batch of planBatches(rows.map((r) => r.length), b.batchSize, b.sort, b.batchTokens)) {
    const offsets = new Int32Array(batch.length + 1);
    let width = 0;
    batch.forEach((i, k) => {
      offsets[k + 1] = offsets[k]! + rows[i]!.length;
      width = Math.max(width, rows[i]!.length);
    });
    const flat = new Int32Array(offsets[batch.length]!);
    batch.forEach((i, k) => flat.set(rows[i]!, offsets[k]!));
    batches.push({ flat, offsets });
    tokens += flat.length;
    padded += width * batch.length;
  }
  return { batches, tokens, padded };
}

// ------------------------------------------------------------------------------------------
// Contenders: things that process one chunk of documents and say how long it took.

interface Contender {
  readonly name: string;
  readonly kind: 'pipeline' | 'ceiling';
  prepare(chunks: Doc[][], rows: Int32Array[][], key: string): Promise<void>;
  run(chunk: number): Promise<number>;
  close(): Promise<void>;
}

function ceilingContender(ceiling: Ceiling, b: Batching): Contender {
  let key = '';
  return {
    name: `ceiling ${ceiling.name}`, kind: 'ceiling',
    async prepare(_chunks, rows, k) {
      key = k;
      for (const [i, r] of rows.entries()) await ceiling.load(`${key}:${i}`, plan(r, b).batches);
    },
    run: (i) => ceiling.run(`${key}:${i}`),
    close: async () => undefined,
  };
}

/** The embed stage, one chunk per run (one buffer), with a fresh store: every document goes to the model. */
function pipelineContender(b: Batching, layout: { workers: number; threads: number } | undefined, keepVectors?: Map<string, Float32Array>): Contender {
  let e: ModelEmbedder | undefined;
  let chunks: Doc[][] = [];
  let expected: { tokens: number; padded: number }[] = [];
  return {
    name: 'pipeline', kind: 'pipeline',
    async prepare(cs, rows) {
      chunks = cs;
      expected = rows.map((r) => plan(r, b));
      e = await createEmbedder({ model: MODEL, dtype, batchSize: b.batchSize, batchTokens: b.batchTokens, sortByLength: b.sort, ...(layout ?? {}) });
      await e.embed(cs[0]!.slice(0, 8).map((d) => d.text)); // warm-up, untimed
    },
    async run(i) {
      const ds = chunks[i]!;
      const input: Item[] = ds.map((d, k): DocItem => ({ kind: 'doc', seq: k, origin: origin({ line: k + 1 }), doc: { id: d.id, url: null, fetched_at: null, content_type: null, language: null, text: d.text, metadata: {} } }));
      const counters = new EmbedCounters();
      const store = new MemoryEmbeddingStore({ name: 'bench', capacity: ds.length + 1 });
      const before = e!.stats();
      const t0 = process.hrtime.bigint();
      const out = await lastValueFrom(from(input).pipe(embed({ bufferSize: ds.length, maxWaitMs: 1000, maxInFlight: 2 }, { embedder: e!, store, counters }), toArray()));
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const after = e!.stats();
      if (counters.embedded !== ds.length) throw new Error(`embedded ${counters.embedded} of ${ds.length}`);
      if (after.tokens - before.tokens !== expected[i]!.tokens || after.paddedTokens - before.paddedTokens !== expected[i]!.padded) {
        throw new Error('the stage fed other batches than the ceiling runs');
      }
      if (keepVectors) for (const item of out) keepVectors.set((item as DocItem).doc.id, (item as DocItem).vector!.values);
      return seconds;
    },
    close: async () => { await e?.close(); },
  };
}

interface Result { name: string; kind: 'pipeline' | 'ceiling'; docs: number; tokens: number; padded: number; seconds: number; samples: number[] }
const docsPerS = (r: Result) => r.docs / r.seconds;
const tokensPerS = (r: Result) => r.tokens / r.seconds;

let keyCounter = 0;
async function measure(ds: Doc[], rowsOf: (d: Doc) => Int32Array, chunkSize: number, b: Batching, contenders: Contender[], rounds: number): Promise<Result[]> {
  const chunks = split(ds, chunkSize);
  const rows = chunks.map((c) => c.map(rowsOf));
  const key = `k${keyCounter++}`;
  for (const c of contenders) await c.prepare(chunks, rows, key);
  const best = contenders.map(() => chunks.map(() => Number.POSITIVE_INFINITY));
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < chunks.length; i++) {
      const shift = (r + i) % contenders.length;
      for (let k = 0; k < contenders.length; k++) {
        const j = (k + shift) % contenders.length;
        best[j]![i] = Math.min(best[j]![i]!, await contenders[j]!.run(i));
      }
    }
  }
  for (const c of contenders) await c.close();
  const shape = rows.map((r) => plan(r, b));
  const tokens = shape.reduce((s, p) => s + p.tokens, 0);
  const padded = shape.reduce((s, p) => s + p.padded, 0);
  return contenders.map((c, j) => ({ name: c.name, kind: c.kind, docs: ds.length, tokens, padded, seconds: best[j]!.reduce((a, b) => a + b, 0), samples: best[j]! }));
}

const bestCeiling = (rs: Result[]) => rs.filter((r) => r.kind === 'ceiling').reduce((a, b) => (docsPerS(b) > docsPerS(a) ? b : a));

function cosineDistances(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number[] {
  return [...a].map(([id, v]) => {
    const w = b.get(id)!;
    let s = 0;
    for (let i = 0; i < v.length; i++) s += v[i]! * w[i]!;
    return 1 - s;
  }).sort((x, y) => x - y);
}

const key = (alias: string) => alias.replace(/[^a-z0-9]+/gi, '_');

/** The model comparison; returns its JSON fields. */
async function compareModels(): Promise<Record<string, number | string>> {
  const aliases = args.models.split(',').map((s) => s.trim()).filter(Boolean);
  for (const a of aliases) if (!MODEL_ALIASES[a]) throw new Error(`--models: unknown model ${a} (known: ${Object.keys(MODEL_ALIASES).join(', ')})`);
  const out: Record<string, number | string> = {};
  console.log(`\nmodels (${aliases.map((a) => `${a} = ${MODEL_ALIASES[a]}`).join(', ')}), each with its default options on CPU:`);

  // 1. The static model against MiniLM on every document, paired chunk by chunk.
  if (aliases.includes('static') && aliases.includes('minilm')) {
    const [minilm, stat] = [await open('minilm'), await open('static')];
    const [m, s] = await pairedDocsPerS([minilm, stat], docs, Number(args['main-chunk']), Number(args['static-rounds']));
    console.log(`  static vs MiniLM, embed stage on all ${docs.length} documents (paired, best of ${args['static-rounds']} per chunk): static ${s!.toFixed(1)} docs/s (${stat.workers} worker thread(s), ≤${stat.maxTokens} tokens), MiniLM ${m!.toFixed(1)} docs/s (${minilm.dtype}, ${minilm.workers}×${minilm.threads}, ≤${minilm.maxTokens} tokens) → ${(s! / m!).toFixed(1)}× (goal ≥ 100×)`);
    Object.assign(out, { static_docs_per_s: Number(s!.toFixed(1)), minilm_docs_per_s: Number(m!.toFixed(2)), static_vs_minilm: Number((s! / m!).toFixed(1)) });
    await minilm.close();
    await stat.close();
  }

  // 2. Every model's documents/s on the first documents, paired.
  const few = docs.slice(0, Number(args['model-docs']));
  const embedders = await Promise.all(aliases.map(open));
  const rates = await pairedDocsPerS(embedders, few, Math.min(100, few.length), 1);
  // 3. MRPC train separation.
  const pairs = mrpcTrain(join(root, '..', 'shared', 'data')).slice(0, Number(args['mrpc-pairs']));
  const seps: Separation[] = [];
  for (const e of embedders) seps.push(await separation(e, pairs));
  console.log(`\n  model        dim  pooling  prefix     C4 docs/s   MRPC train (${pairs.length} pairs): paraphrase  non-para  separation   AUC    d′    sentences/s`);
  aliases.forEach((a, i) => {
    const e = embedders[i]!;
    const sp = seps[i]!;
    console.log(`  ${a.padEnd(11)} ${String(e.dim).padStart(4)}  ${e.pooling.padEnd(7)}  ${JSON.stringify(e.prefix).padEnd(9)} ${fmt(rates[i]!)}        ${' '.repeat(18)}${sp.paraphrase.toFixed(4)}    ${sp.nonParaphrase.toFixed(4)}    ${sp.separation.toFixed(4)}   ${sp.auc.toFixed(3)}  ${sp.dPrime.toFixed(3)}  ${fmt(sp.sentencesPerS, 0)}`);
    Object.assign(out, {
      [`dim_${key(a)}`]: e.dim, [`vector_bytes_${key(a)}`]: e.dim * 4, [`docs_per_s_${key(a)}`]: Number(rates[i]!.toFixed(2)),
      [`separation_${key(a)}`]: Number(sp.separation.toFixed(4)), [`auc_${key(a)}`]: Number(sp.auc.toFixed(4)), [`d_prime_${key(a)}`]: Number(sp.dPrime.toFixed(3)),
    });
  });
  console.log(`  (C4 docs/s: the embed stage on the first ${few.length} documents, paired; separation: mean cosine of paraphrase pairs minus non-paraphrase pairs;`);
  console.log(`   AUC: chance that a paraphrase pair is closer than a non-paraphrase pair; d′: separation over the pooled standard deviation)`);
  for (const e of embedders) await e.close();
  out.mrpc_pairs = pairs.length;
  out.model_docs = few.length;
  return out;
}

async function main() {
  const t0 = Date.now();
  if (args['models-only']) {
    console.log(`embed benchmark, models only: c4-en-1k ${docs.length} documents; machine: ${cores} cores (${cpus()[0]?.model ?? '?'}), load average ${loadavg().map((x) => x.toFixed(2)).join(' ')} at start`);
    const models = await compareModels();
    const seconds = (Date.now() - t0) / 1000;
    console.log(`load average ${loadavg().map((x) => x.toFixed(2)).join(' ')} at the end; ${seconds.toFixed(0)} s in all`);
    console.log(JSON.stringify({ bench: 'embed', docs: docs.length, ...models, cores, load_average_end: Number(loadavg()[0]!.toFixed(2)), seconds: Math.round(seconds) }));
    return;
  }
  const probe = await createEmbedder({ model: MODEL, dtype });
  const layout = { workers: probe.workers, threads: probe.threads };
  const other = layout.workers === 1 ? { workers: cores, threads: 1 } : { workers: 1, threads: cores };
  const tokenized = await probe.tokenize(docs.map((d) => d.text));
  const onnxFile = probe.weightsFile;
  await probe.close();
  const rowById = new Map(docs.map((d, i) => [d.id, tokenized.rows[i]!]));
  const rowsOf = (d: Doc) => rowById.get(d.id)!;
  const realTokens = tokenized.rows.reduce((s, r) => s + r.length, 0);

  console.log(`embed benchmark: ${MODEL} (${dtype}), c4-en-1k: ${docs.length} documents, ${realTokens} tokens after truncation (mean ${(realTokens / docs.length).toFixed(1)}, ${tokenized.truncated.filter(Boolean).length} truncated at 256)`);
  console.log(`machine: ${cores} cores (${cpus()[0]?.model ?? '?'}), no GPU; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')} at start (the machine is shared)`);
  console.log(`pipeline: the embed stage with its default layout, ${layout.workers} worker thread(s) × ${layout.threads} intra-op thread(s); one buffer per chunk`);
  const ceilings = [await Ceiling.open(onnxFile, 1, cores), ...(cores > 1 ? [await Ceiling.open(onnxFile, cores, 1)] : [])];
  console.log(`ceiling: bare onnxruntime-node ${ort.env.versions.common} sessions on ${onnxFile.slice(root.length + 1)}, the faster of ${ceilings.map((c) => c.name).join(' and ')} (sessions × threads)`);
  console.log(`method: paired runs per chunk, order rotating, a chunk's best of ${rounds} rounds (${mainRounds} for the default on all documents). Batch sizes 1, 8, 32, 64 and the default (≤${MAIN.batchSize} texts and`);
  console.log(`        ≤${MAIN.batchTokens} token slots per batch) run on the first ${subset.length} documents in chunks of ${args.chunk} (a subset, to keep the run within ~10 minutes);`);
  console.log(`        the default, sorted, then runs on all ${docs.length} documents in chunks of ${args['main-chunk']}, with the other worker layout beside it.\n`);

  // 1. Batch sizes × sorting on the subset.
  interface Row { config: Batching; pipeline: Result; ceiling: Result }
  const table: Row[] = [];
  const vectorsBatch1 = new Map<string, Float32Array>();
  const vectorsBatch8 = new Map<string, Float32Array>();
  const vectorsMain = new Map<string, Float32Array>();
  for (const config of args['main-only'] ? [] : CONFIGS) {
    const keep = config.batchSize === 1 ? vectorsBatch1 : config === MAIN ? vectorsMain : config.label === 'batch 8' && config.sort ? vectorsBatch8 : undefined;
    const rs = await measure(subset, rowsOf, Number(args.chunk), config, [...ceilings.map((c) => ceilingContender(c, config)), pipelineContender(config, layout, keep)], rounds);
    const p = rs.find((r) => r.kind === 'pipeline')!;
    const c = bestCeiling(rs);
    table.push({ config, pipeline: p, ceiling: c });
    console.log(`${config.label.padEnd(11)} ${config.sort ? 'sorted  ' : 'unsorted'}: pipeline ${fmt(docsPerS(p))} docs/s ${fmt(tokensPerS(p), 0)} tokens/s | ceiling ${fmt(docsPerS(c))} docs/s ${fmt(tokensPerS(c), 0)} tokens/s (${c.name.slice(8)}) | ${fmt(100 * docsPerS(p) / docsPerS(c))}% | padding ${(100 * (p.padded / p.tokens - 1)).toFixed(1)}%`);
    console.log(`    ${rs.map((r) => `${r.name} ${docsPerS(r).toFixed(1)}`).join(', ')} docs/s`);
  }
  console.log('');
  const pairs = [...new Set(table.filter((r) => r.config.batchSize > 1).map((r) => r.config.label))];
  for (const label of pairs) {
    const u = table.find((r) => r.config.label === label && !r.config.sort)!;
    const s = table.find((r) => r.config.label === label && r.config.sort)!;
    console.log(`length sorting, ${label.padEnd(11)}: token slots ${u.pipeline.padded} → ${s.pipeline.padded} for ${s.pipeline.tokens} real tokens (${(100 * (1 - s.pipeline.padded / u.pipeline.padded)).toFixed(1)}% fewer); pipeline ${(docsPerS(s.pipeline) / docsPerS(u.pipeline)).toFixed(2)}× docs/s, ceiling ${(docsPerS(s.ceiling) / docsPerS(u.ceiling)).toFixed(2)}×`);
  }
  for (const [label, other] of [['batch 8, sorted', vectorsBatch8], [`the default (${MAIN.label}, sorted)`, vectorsMain]] as const) {
    const d = cosineDistances(vectorsBatch1, other);
    if (d.length > 0) console.log(`${dtype} batch dependence: cosine distance between a document's vector alone (batch 1) and in ${label}, ${d.length} documents: median ${d[Math.floor(d.length / 2)]!.toExponential(2)}, p95 ${d[Math.floor(d.length * 0.95)]!.toExponential(2)}, max ${d.at(-1)!.toExponential(2)}`);
  }

  // 2. The default configuration on every document, both worker layouts.
  console.log(`\ndefault configuration (≤${MAIN.batchSize} texts and ≤${MAIN.batchTokens} token slots per batch, sorted) on all ${docs.length} documents:`);
  const alt = pipelineContender(MAIN, other);
  const rs = await measure(docs, rowsOf, Number(args['main-chunk']), MAIN, [
    ...ceilings.map((c) => ceilingContender(c, MAIN)), pipelineContender(MAIN, layout), { ...alt, name: 'pipeline (other layout)' },
  ], mainRounds);
  for (const c of ceilings) await c.close();
  const names = [...ceilings.map((c) => `bare ${c.name}`), `pipeline ${layout.workers}×${layout.threads} (default)`, `pipeline ${other.workers}×${other.threads}`];
  rs.forEach((r, i) => console.log(`  ${names[i]!.padEnd(28)} ${fmt(docsPerS(r))} docs/s ${fmt(tokensPerS(r), 0)} tokens/s   (per chunk, s: ${r.samples.map((x) => x.toFixed(2)).join(' ')})`));
  const p = rs[ceilings.length]!;
  const c = bestCeiling(rs);
  const ratio = docsPerS(p) / docsPerS(c);
  console.log(`\npipeline ${docsPerS(p).toFixed(1)} docs/s, ${tokensPerS(p).toFixed(0)} tokens/s = ${(100 * ratio).toFixed(1)}% of the ceiling (${docsPerS(c).toFixed(1)} docs/s, bare ${c.name.slice(8)}); target >= 90%`);
  const models = await compareModels();
  const seconds = (Date.now() - t0) / 1000;
  console.log(`load average ${loadavg().map((x) => x.toFixed(2)).join(' ')} at the end; ${seconds.toFixed(0)} s in all`);
  const sorted = table.find((r) => r.config === MAIN);
  const unsorted = table.find((r) => r.config.label === MAIN.label && !r.config.sort);
  const sorted8 = table.find((r) => r.config.label === 'batch 8' && r.config.sort);
  const unsorted8 = table.find((r) => r.config.label === 'batch 8' && !r.config.sort);
  console.log(JSON.stringify({
    bench: 'embed', model: MODEL, dtype, docs: docs.length, batch_size: MAIN.batchSize, batch_tokens: MAIN.batchTokens, sort_by_length: MAIN.sort, workers: layout.workers, threads: layout.threads,
    docs_per_s: Number(docsPerS(p).toFixed(2)), tokens_per_s: Math.round(tokensPerS(p)),
    ceiling_docs_per_s: Number(docsPerS(c).toFixed(2)), ceiling_tokens_per_s: Math.round(tokensPerS(c)), ceiling_layout: c.name.slice(8),
    ratio_to_ceiling: Number(ratio.toFixed(3)),
    other_layout: { workers: other.workers, threads: other.threads, docs_per_s: Number(docsPerS(rs.at(-1)!).toFixed(2)) },
    ...(sorted && unsorted && sorted8 && unsorted8 ? {
      sort_speedup: Number((docsPerS(sorted.pipeline) / docsPerS(unsorted.pipeline)).toFixed(3)),
      padding_cut: Number((1 - sorted.pipeline.padded / unsorted.pipeline.padded).toFixed(3)),
      sort_speedup_batch8: Number((docsPerS(sorted8.pipeline) / docsPerS(unsorted8.pipeline)).toFixed(3)),
      padding_cut_batch8: Number((1 - sorted8.pipeline.padded / unsorted8.pipeline.padded).toFixed(3)),
    } : {}),
    subset_runs: table.map((r) => ({ batching: r.config.label, batch_size: r.config.batchSize, batch_tokens: Number.isFinite(r.config.batchTokens) ? r.config.batchTokens : null, sort: r.config.sort, docs: r.pipeline.docs, docs_per_s: Number(docsPerS(r.pipeline).toFixed(2)), tokens_per_s: Math.round(tokensPerS(r.pipeline)), ceiling_docs_per_s: Number(docsPerS(r.ceiling).toFixed(2)), padded_tokens: r.pipeline.padded, real_tokens: r.pipeline.tokens })),
    ...models,
    cores, load_average_end: Number(loadavg()[0]!.toFixed(2)), seconds: Math.round(seconds),
  }));
}

await main();
