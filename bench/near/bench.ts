// `npm run bench:near`: throughput of the near-duplicate stage on one core, bytes of state per
// document at 1M documents, and the same work through Python datasketch in the same run. Prints
// figures and ends with one JSON line; never fails on time.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { from, lastValueFrom, toArray } from 'rxjs';
import { nearStage, prepare, NEAR_DEFAULTS } from '../../src/stages/near/near.js';
import { Shingler } from '../../src/stages/near/shingles.js';
import { MinHasher } from '../../src/stages/near/minhash.js';
import { LshStore } from '../../src/state/lsh-store.js';
import { createHasher } from '../../src/stages/text/hash.js';
import { origin, type DocItem, type Item } from '../../src/records/item.js';
import type { BuiltStage } from '../../src/stages/stage.js';
import { WordPool, edit, prng, readJsonl, readMrpc, words, type EditKind, type TextDoc } from './corpus.js';
import { benchArgs } from '../args.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const data = (rel: string) => resolve(root, '..', 'shared', 'data', rel);
benchArgs(`
npm run bench:near

Throughput of the near-duplicate stage on one core over the C4 sample and edited copies of it
(D4_BENCH_DOCS documents, default 100,000), its state per document at 1M, and Python datasketch
on the same work in the same run. No options. Prints, never fails on time; the last line is JSON.`, {});
const TARGET_DOCS = Number(process.env.D4_BENCH_DOCS ?? 100_000);
const STATE_DOCS = 1_000_000;
const KINDS: EditKind[] = ['header-footer-7%', 'words-2%', 'words-40%'];
const hasher = await createHasher();
const options = nearStage.options.parse({});

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const toItem = (d: TextDoc, seq: number): DocItem => ({ kind: 'doc', seq, origin: origin({ line: seq + 1 }), doc: { id: d.id, url: null, fetched_at: null, content_type: null, language: null, text: d.text, metadata: {} } });

/** The C4 sample, then rounds of edited copies of it (a third each kind), to TARGET_DOCS documents. */
function corpus(c4: readonly TextDoc[]): TextDoc[] {
  const pool = new WordPool(c4);
  const rnd = prng(42);
  const docs: TextDoc[] = [...c4];
  for (let round = 1; docs.length < TARGET_DOCS; round++) {
    c4.forEach((d, i) => {
      if (docs.length < TARGET_DOCS) docs.push({ id: `${d.id}-r${round}`, text: edit(KINDS[(i + round) % 3]!, words(d.text), pool, i, rnd).join(' ') });
    });
  }
  return docs;
}

async function runStage(stage: BuiltStage, items: readonly DocItem[]): Promise<{ seconds: number; dropped: number }> {
  let dropped = 0;
  const t = process.hrtime.bigint();
  for (let i = 0; i < items.length; i += 1024) {
    const out = await lastValueFrom(from(items.slice(i, i + 1024)).pipe(stage.operator, toArray()));
    for (const it of out as Item[]) if ((it as DocItem).drop) dropped++;
  }
  return { seconds: Number(process.hrtime.bigint() - t) / 1e9, dropped };
}

function parts(items: readonly DocItem[]): Record<string, number> {
  const shingler = new Shingler({ mode: 'word', n: options.ngram });
  const signer = new MinHasher(options.bands * options.rows, options.seed);
  const sig = new Uint32Array(Math.ceil((options.bands * options.rows) / 8));
  const prepared: string[] = [];
  let t = performance.now();
  for (const it of items) prepared.push(prepare(it.doc.text, options));
  const normalise = performance.now() - t;
  t = performance.now();
  let shingles = 0;
  for (const s of prepared) shingles += shingler.shingle(s);
  const shingle = performance.now() - t;
  t = performance.now();
  for (const s of prepared) {
    const n = shingler.shingle(s);
    signer.sign(shingler.hashes, n, sig);
  }
  const sign = performance.now() - t - shingle;
  const us = (ms: number) => (ms * 1000) / items.length;
  return { normalise_us: us(normalise), shingle_us: us(shingle), minhash_us: us(sign), shingles_per_doc: shingles / items.length, simd: signer.simd ? 1 : 0 };
}

/** Fills a default store with STATE_DOCS synthetic signatures and ids like the corpus's. */
function stateBytes(): { bytes: number; measured: number; insertsPerS: number; evictingInsertsPerS: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = process.memoryUsage();
  const store = new LshStore({ name: 'near-lsh', capacity: STATE_DOCS, bands: options.bands, rows: options.rows, scheme: 'bench' });
  const sig = new Uint32Array(store.words);
  const rnd = prng(9);
  const insert = (n: number) => {
    for (let w = 0; w < sig.length; w++) sig[w] = (rnd() * 4294967296) >>> 0;
    store.insert(`c4-${String(n % 1000).padStart(4, '0')}-r${n}`, sig);
    if ((n & 1023) === 0) store.drainChanges();
  };
  let t = performance.now();
  for (let n = 0; n < STATE_DOCS; n++) insert(n);
  const insertsPerS = STATE_DOCS / ((performance.now() - t) / 1000);
  store.drainChanges();
  gc?.();
  const after = process.memoryUsage();
  const measured = (after.heapUsed - before.heapUsed + after.arrayBuffers - before.arrayBuffers) / STATE_DOCS;
  const bytes = store.bytes() / store.size();
  t = performance.now();
  for (let n = STATE_DOCS; n < STATE_DOCS + 200_000; n++) insert(n); // each evicts the oldest
  const evictingInsertsPerS = 200_000 / ((performance.now() - t) / 1000);
  return { bytes, measured, insertsPerS, evictingInsertsPerS };
}

/** Creates .d4/venv-bench with datasketch once; returns its python, or null (and says why). */
function benchPython(): string | null {
  const venv = join(root, '.d4', 'venv-bench');
  const python = join(venv, 'bin', 'python');
  const has = () => existsSync(python) && spawnSync(python, ['-c', 'import datasketch'], { stdio: 'ignore' }).status === 0;
  if (has()) return python;
  console.log(`setting up ${venv} (python3 -m venv, pip install datasketch==2.0.0) ...`);
  if (!existsSync(python)) {
    const r = spawnSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' });
    if (r.status !== 0) { console.log('  python3 -m venv failed: skipping the datasketch comparison'); return null; }
  }
  const r = spawnSync(python, ['-m', 'pip', 'install', '--quiet', 'datasketch==2.0.0'], { stdio: 'inherit' });
  if (r.status !== 0 || !has()) { console.log('  pip install datasketch failed: skipping the datasketch comparison'); return null; }
  return python;
}

interface Quality { [set: string]: [number, number] }

/** Detection on the C4 edit sets and false flags on MRPC non-paraphrases, for our stage. */
async function ourQuality(c4: readonly TextDoc[], sets: Map<string, (TextDoc & { of: string })[]>, mrpc: { a: string; b: string; s1: string; s2: string }[]): Promise<Quality> {
  const out: Quality = {};
  const decide = async (docs: TextDoc[]) => {
    const stage = await nearStage.build('near', nearStage.options.parse({ capacity: 50_000 }), { hasher });
    const items = await lastValueFrom(from(docs.map(toItem)).pipe(stage.operator, toArray()));
    return new Map((items as DocItem[]).map((i) => [i.doc.id, i.drop?.duplicate_of]));
  };
  for (const [kind, copies] of sets) {
    const d = await decide([...c4, ...copies]);
    out[kind] = [copies.filter((c) => d.get(c.id) === c.of).length, copies.length];
  }
  const d = await decide(mrpc.flatMap((p) => [{ id: p.a, text: p.s1 }, { id: p.b, text: p.s2 }]));
  out['mrpc-negative'] = [mrpc.filter((p) => d.get(p.b) === p.a).length, mrpc.length];
  return out;
}

const c4 = readJsonl<TextDoc>(data('web/c4-en-1k.jsonl'));
const docs = corpus(c4);
const items = docs.map(toItem);
const mb = docs.reduce((s, d) => s + Buffer.byteLength(d.text), 0) / 1e6;
console.log(`near-duplicate stage benchmark — Node ${process.version}, one thread for the stage`);
console.log(`corpus: C4 sample (1,000 documents) + edited copies (header/footer 7%, 2% words, 40% words) = ${fmt(docs.length)} documents, ${fmt(mb, 1)} MB of text`);
console.log(`parameters: word ${options.ngram}-grams, ${options.bands} bands × ${options.rows} rows = ${options.bands * options.rows} permutations, threshold ${options.threshold}, capacity ${fmt(options.capacity)}`);

// Warm the JIT on a throwaway stage, then time a fresh one over the whole corpus.
await runStage(await nearStage.build('near', options, { hasher }), items.slice(0, 5000));
const stage = await nearStage.build('near', options, { hasher });
const timed = await runStage(stage, items);
const docsPerS = docs.length / timed.seconds;
console.log(`\nwhole stage (normalise + shingle + MinHash + LSH + check + store), batches of 1,024:`);
console.log(`  ${fmt(docsPerS)} documents/s, ${fmt(mb / timed.seconds, 1)} MB/s  (${fmt(timed.seconds, 2)} s; ${fmt(timed.dropped)} dropped, ${fmt(stage.stores[0]!.size())} kept in state)`);
const p = parts(items.slice(0, 20_000));
console.log(`  per document: normalise ${fmt(p.normalise_us!, 1)} µs, shingle ${fmt(p.shingle_us!, 1)} µs (${fmt(p.shingles_per_doc!)} shingles), MinHash ${fmt(p.minhash_us!, 1)} µs (${p.simd ? 'WebAssembly SIMD' : 'JavaScript'})`);
const small = await nearStage.build('near', nearStage.options.parse({ capacity: 20_000 }), { hasher });
const evicting = await runStage(small, items);
console.log(`  with capacity 20,000 (evicting all along): ${fmt(docs.length / evicting.seconds)} documents/s`);

const state = stateBytes();
console.log(`\nstate at ${fmt(STATE_DOCS)} documents (default ${options.bands} × ${options.rows}): ${fmt(state.bytes, 1)} B/document by store.bytes(), `
  + `${fmt(state.measured, 1)} B/document by process.memoryUsage (heap + array buffers)${(globalThis as { gc?: unknown }).gc ? '' : ' [run with --expose-gc for a clean figure]'}`);
console.log(`  = ${options.bands * options.rows / 2} B signature (4 bits × ${options.bands * options.rows}) + ${fmt((options.bands * 4) / 0.75, 1)} B band table (${options.bands} cells of 4 B at load 0.75) + id (~1.25 × UTF-8 + 5 B)`);
console.log(`  inserts: ${fmt(state.insertsPerS)}/s filling, ${fmt(state.evictingInsertsPerS)}/s when each evicts the oldest`);

// The same corpus and quality sets through datasketch.
const dir = join(tmpdir(), `d4-bench-near-${process.pid}`);
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, 'corpus.jsonl'), docs.map((d) => JSON.stringify(d)).join('\n'));
const pool = new WordPool(c4);
const sets = new Map<string, (TextDoc & { of: string })[]>();
for (const kind of KINDS) {
  const rnd = prng(7 + kind.length);
  const copies = c4.flatMap((d, i) => (words(d.text).length < 50 ? [] : [{ id: `${d.id}~${kind}`, of: d.id, text: edit(kind, words(d.text), pool, i, rnd).join(' ') }]));
  sets.set(kind, copies);
  writeFileSync(join(dir, `${kind}.jsonl`), copies.map((c) => JSON.stringify(c)).join('\n'));
}
writeFileSync(join(dir, 'originals.jsonl'), c4.map((d) => JSON.stringify(d)).join('\n'));
const mrpc = readMrpc(data('mrpc-train.tsv')).filter((r) => r.quality === 0).map((r, i) => ({ a: `${i}:1:${r.id1}`, b: `${i}:2:${r.id2}`, s1: r.s1, s2: r.s2 }));
writeFileSync(join(dir, 'mrpc-negative.jsonl'), mrpc.map((r) => JSON.stringify(r)).join('\n'));
const ours = await ourQuality(c4, sets, mrpc);

let ds: { docs_per_s: number; mb_per_s: number; seconds: number; dropped: number; quality_same_check: Quality; quality_lsh_only: Quality; lsh_only_params: [number, number] } | null = null;
const python = benchPython();
if (python) {
  console.log(`\ndatasketch (Python, one core), the same corpus, ${options.bands * options.rows} permutations, ${options.bands} × ${options.rows} bands, same check ...`);
  const r = spawnSync(python, [join(root, 'bench', 'near', 'datasketch_bench.py'), join(dir, 'corpus.jsonl'), String(options.bands * options.rows), String(options.bands), String(options.rows), String(options.threshold), dir], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status === 0) ds = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  else console.log(`  datasketch run failed (exit ${r.status}): ${r.stderr.slice(-500)}`);
}
rmSync(dir, { recursive: true, force: true });
if (ds) {
  console.log(`  ${fmt(ds.docs_per_s)} documents/s, ${fmt(ds.mb_per_s, 1)} MB/s (${fmt(ds.seconds, 1)} s; ${fmt(ds.dropped)} dropped vs our ${fmt(timed.dropped)})`);
  console.log(`  d4 near is ${fmt(docsPerS / ds.docs_per_s, 1)}× faster`);
}
const rate = (q: Quality | undefined, k: string) => (q?.[k] ? `${fmt((100 * q[k]![0]) / q[k]![1], 1)}%` : '-');
console.log(`\nquality (C4: copies of the ${sets.get(KINDS[0]!)!.length} documents with ≥ 50 words after the 1,000 originals; MRPC: ${mrpc.length} non-paraphrase pairs):`);
console.log(`  ${''.padEnd(52)} ${KINDS.map((k) => k.padStart(16)).join('')} ${'MRPC flagged'.padStart(14)}`);
const row = (name: string, q: Quality | undefined) => console.log(`  ${name.padEnd(52)} ${KINDS.map((k) => rate(q, k).padStart(16)).join('')} ${rate(q, 'mrpc-negative').padStart(14)}`);
row(`d4 near (4-bit values, ${options.bands}×${options.rows}, check ≥ ${options.threshold})`, ours);
row(`datasketch, same ${options.bands}×${options.rows} and check`, ds?.quality_same_check);
row(`datasketch LSH only (auto ${ds?.lsh_only_params?.join('×') ?? '?'} for threshold ${options.threshold})`, ds?.quality_lsh_only);

const summary = {
  docs: docs.length,
  docs_per_s_per_core: Math.round(docsPerS),
  mb_per_s_per_core: Number((mb / timed.seconds).toFixed(1)),
  docs_per_s_per_core_evicting: Math.round(docs.length / evicting.seconds),
  state_bytes_per_doc: Number(state.bytes.toFixed(1)),
  state_bytes_per_doc_measured: Number(state.measured.toFixed(1)),
  datasketch_docs_per_s: ds ? Math.round(ds.docs_per_s) : null,
  ratio_vs_datasketch: ds ? Number((docsPerS / ds.docs_per_s).toFixed(1)) : null,
  targets_met: { docs_per_s: docsPerS >= 20_000, ratio: ds ? docsPerS / ds.docs_per_s >= 5 : null, state: state.bytes <= 200 },
  defaults: { ...NEAR_DEFAULTS, ngram: options.ngram },
};
console.log(`\n${JSON.stringify(summary)}`);
