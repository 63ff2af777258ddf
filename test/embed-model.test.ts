// The real model (all-MiniLM-L6-v2 from scripts/setup-model.mjs) through createEmbedder and the
// embed stage: agreement with vectors computed independently, semantic sanity on MRPC, the
// embeddings store, bad input, and the CUDA path's failure mode on a machine without a GPU.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { from, lastValueFrom, toArray } from 'rxjs';
import { createEmbedder, DEFAULT_BATCHING, defaultModelsDir, planBatches, type ModelEmbedder } from '../src/io/models/embedder.js';
import { embed, EmbedCounters } from '../src/stages/embed/embed.js';
import { MemoryEmbeddingStore } from '../src/stages/embed/memory-embedding-store.js';
import { EmbedderError } from '../src/stages/embed/types.js';
import { origin, type DocItem, type Item } from '../src/records/item.js';
import { readJsonl, root, sharedData } from './helpers.js';

const MODEL = 'sentence-transformers/all-MiniLM-L6-v2';
if (!existsSync(join(defaultModelsDir(), MODEL, 'd4-model.json'))) {
  throw new Error(`the embedding model is not installed in ${defaultModelsDir()}: run \`node scripts/setup-model.mjs\` (npm test does it; npm test -- --unit does not)`);
}

/**
 * test/fixtures/minilm-reference.json was made without transformers.js, by
 * scripts/make-reference-vectors.py: the HuggingFace `tokenizers` package (Rust) on the same
 * tokenizer.json with truncation at 256 tokens and no padding, then Python `onnxruntime` on the
 * same ONNX files, one sentence per run, output last_hidden_state, mean over the attention mask,
 * L2 normalisation in float64, rounded to 6 decimals (versions and file sha256s are in the file).
 */
interface Reference {
  sentences: string[];
  token_ids: number[][];
  vectors: { fp32: number[][]; q8: number[][] };
  produced_by: { method: string };
}
const ref = JSON.parse(readFileSync(join(root, 'test', 'fixtures', 'minilm-reference.json'), 'utf8')) as Reference;

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};
const norm = (a: Float32Array) => Math.sqrt(dot(a, a));
/** 1 − cosine; the reference is rounded to 6 decimals, so it is normalised here first. */
const cosineDistance = (a: Float32Array, b: number[]) => 1 - dot(a, b) / (norm(a) * Math.sqrt(dot(b, b)));

const opened: ModelEmbedder[] = [];
async function open(options: Partial<Parameters<typeof createEmbedder>[0]> = {}) {
  const e = await createEmbedder({ model: MODEL, ...options });
  opened.push(e);
  return e;
}
after(async () => {
  for (const e of opened) await e.close();
});

test('reference: token ids equal the Python tokenizers ids, [SEP] kept on the truncated sentence', async () => {
  const e = await open({ dtype: 'q8' });
  const tok = await e.tokenize(ref.sentences);
  tok.rows.forEach((row, i) => assert.deepEqual([...row], ref.token_ids[i], `sentence ${i}`));
  const long = tok.rows.at(-1)!;
  assert.equal(long.length, 256);
  assert.equal(long[255], 102, 'the truncated sentence still ends with [SEP] (transformers.js alone would drop it)');
  assert.deepEqual(tok.truncated, [false, false, false, false, false, false, true]);
});

test('reference: q8, one sentence per call (q8 quantises activations over the whole batch), within 1e-3 cosine distance; norms 1', async () => {
  // The int8 model quantises activations dynamically over the whole input tensor, so a sentence's
  // q8 vector shifts with its batch-mates (up to ~1e-2 here). The reference was made one sentence
  // at a time, so it is compared one sentence at a time.
  const e = await open({ dtype: 'q8' });
  const distances: number[] = [];
  for (const [i, s] of ref.sentences.entries()) {
    const [r] = await e.embed([s]);
    distances.push(cosineDistance(r!.values, ref.vectors.q8[i]!));
    assert.ok(Math.abs(norm(r!.values) - 1) < 1e-5, `norm ${norm(r!.values)}`);
    assert.equal(r!.values.length, 384);
  }
  console.log(`q8 per sentence: cosine distances to the reference ${distances.map((d) => d.toExponential(1)).join(' ')}`);
  for (const d of distances) assert.ok(Math.abs(d) < 1e-3, `distance ${d}`);

  const batched = await e.embed(ref.sentences);
  const mixed = batched.map((r, i) => cosineDistance(r.values, ref.vectors.q8[i]!));
  console.log(`q8 all 7 in one call (for information: the batch-composition effect): max distance ${Math.max(...mixed).toExponential(2)}`);
});

test('reference: fp32, all sentences in one batched call (padding and length sorting included), within 1e-3; norms 1', async () => {
  const e = await open({ dtype: 'fp32', batchSize: 8, batchTokens: 8 * 256 });
  const out = await e.embed(ref.sentences);
  const distances = out.map((r, i) => cosineDistance(r.values, ref.vectors.fp32[i]!));
  console.log(`fp32 batched: cosine distances to the reference ${distances.map((d) => d.toExponential(1)).join(' ')}`);
  for (const d of distances) assert.ok(Math.abs(d) < 1e-3, `distance ${d}`);
  for (const r of out) assert.ok(Math.abs(norm(r.values) - 1) < 1e-5);
  assert.equal(e.stats().batches, 1);
});

/** MRPC train: TSV with a UTF-8 BOM and CRLF line ends; Quality, #1 ID, #2 ID, #1 String, #2 String. */
function mrpcPairs(limit: number): { paraphrase: boolean; a: string; b: string }[] {
  const text = readFileSync(sharedData('mrpc-train.tsv'), 'utf8').replace(/^\uFEFF/, '');
  const [header, ...rows] = text.split(/\r?\n/).filter((l) => l.length > 0);
  assert.deepEqual(header!.split('\t'), ['Quality', '#1 ID', '#2 ID', '#1 String', '#2 String']);
  return rows.slice(0, limit).map((row) => {
    const f = row.split('\t');
    assert.equal(f.length, 5, row);
    return { paraphrase: f[0] === '1', a: f[3]!, b: f[4]! };
  });
}

test('MRPC: paraphrase pairs are closer than non-paraphrase pairs (first 400 pairs of train)', async () => {
  const pairs = mrpcPairs(400);
  const e = await open();
  const out = await e.embed(pairs.flatMap((p) => [p.a, p.b]));
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const cos = pairs.map((p, i) => ({ paraphrase: p.paraphrase, cos: dot(out[2 * i]!.values, out[2 * i + 1]!.values) }));
  const para = cos.filter((c) => c.paraphrase).map((c) => c.cos);
  const non = cos.filter((c) => !c.paraphrase).map((c) => c.cos);
  console.log(`MRPC (${pairs.length} pairs, ${e.dtype}): mean cosine paraphrase ${mean(para).toFixed(4)} (${para.length} pairs), non-paraphrase ${mean(non).toFixed(4)} (${non.length} pairs)`);
  assert.ok(para.length > 100 && non.length > 50);
  assert.ok(mean(para) > mean(non) + 0.05, `paraphrase ${mean(para)} vs non-paraphrase ${mean(non)}`);
});

function doc(id: string, text: string, seq: number): DocItem {
  return { kind: 'doc', seq, origin: origin({ file: 'test', line: seq + 1 }), doc: { id, url: null, fetched_at: null, content_type: null, language: null, text, metadata: {} } };
}

test('store: a second pass over the same documents embeds nothing (100% from the store, counted)', async () => {
  const e = await open();
  const store = new MemoryEmbeddingStore({ name: 'embeddings', capacity: 10_000 });
  const input = readJsonl<{ id: string; text: string }>(sharedData('web/c4-en-1k.jsonl')).slice(0, 60).map((d, i) => doc(d.id, d.text, i));
  const pass = async () => {
    const counters = new EmbedCounters();
    const out = await lastValueFrom(from(input).pipe(embed({ bufferSize: 32, maxWaitMs: 50, maxInFlight: 2 }, { embedder: e, store, counters }), toArray()));
    return { out, counters };
  };
  const first = await pass();
  const embeddedBefore = e.stats().texts;
  const second = await pass();
  console.log(`store: first pass embedded ${first.counters.embedded}, second pass embedded ${second.counters.embedded} with ${second.counters.cacheHits} store hits`);
  assert.equal(first.counters.embedded, 60);
  assert.equal(second.counters.embedded, 0);
  assert.equal(second.counters.cacheHits, 60);
  assert.equal(e.stats().texts, embeddedBefore, 'the model saw nothing on the second pass');
  second.out.forEach((item, i) => assert.deepEqual((item as DocItem).vector!.values, (first.out[i] as DocItem).vector!.values));
});

test('bad input: a 1 MB text is truncated (notes + counter), empty texts are dead-lettered, and the worker keeps going', async () => {
  const e = await open();
  const store = new MemoryEmbeddingStore({ name: 'embeddings', capacity: 100 });
  const counters = new EmbedCounters();
  const words = 'data curation removes duplicates and keeps diverse documents '.repeat(20_000).slice(0, 1_000_000);
  const noWord = '\u200b\u0000\u0007'; // zero-width space and control characters: the tokenizer keeps nothing
  const input: Item[] = [doc('huge', words, 0), doc('blank', '   \n ', 1), doc('no-token', noWord, 2), doc('after', 'A normal sentence after the bad ones.', 3)];
  const t0 = Date.now();
  const out = await lastValueFrom(from(input).pipe(embed({ bufferSize: 16, maxWaitMs: 50, maxInFlight: 2 }, { embedder: e, store, counters }), toArray()));
  const ms = Date.now() - t0;
  const [huge, blank, noToken, afterBad] = out;
  assert.ok(huge?.kind === 'doc' && huge.vector);
  assert.equal(huge.vector.truncated, true);
  assert.equal(huge.vector.tokens, 256);
  assert.deepEqual(huge.notes, { embed_truncated: true, embed_tokens: 256 });
  assert.ok(Math.abs(norm(huge.vector.values) - 1) < 1e-5);
  for (const d of [blank, noToken]) {
    assert.ok(d?.kind === 'dead');
    assert.equal(d.dead.stage, 'embed');
    assert.equal(d.dead.error, 'empty-text');
  }
  assert.ok(afterBad?.kind === 'doc' && afterBad.vector, 'the document after the bad ones is embedded');
  assert.equal(counters.truncated, 1);
  assert.deepEqual(Object.fromEntries(counters.deadLettered), { 'empty-text': 2 });
  console.log(`bad input: 1 MB text truncated to 256 tokens, 2 empty texts dead-lettered, ${ms} ms for the buffer`);
  assert.ok(ms < 20_000, 'a 1 MB text costs about what its first kilobytes cost');
  const [again] = await e.embed(['still running']);
  assert.equal(again!.values.length, 384, 'the worker still answers');
});

test('length sorting cuts padding on C4 (tokens computed by the model, padded to each batch\'s longest)', async () => {
  const e = await open();
  const texts = readJsonl<{ text: string }>(sharedData('web/c4-en-1k.jsonl')).slice(0, 512).map((d) => d.text);
  const tok = await e.tokenize(texts);
  const lengths = tok.rows.map((r) => r.length);
  const real = lengths.reduce((a, b) => a + b, 0);
  const { batchSize, batchTokens } = DEFAULT_BATCHING.cpu;
  for (const [label, size, budget] of [['8 texts', 8, Infinity], ['32 texts', 32, Infinity], [`the default (≤${batchSize} texts, ≤${batchTokens} token slots)`, batchSize, batchTokens]] as const) {
    const padded = (sort: boolean) => planBatches(lengths, size, sort, budget).reduce((s, b) => s + b.length * Math.max(...b.map((i) => lengths[i]!)), 0);
    console.log(`padding on 512 C4 documents, batches of ${label}: ${real} real tokens; ${padded(false)} token slots unsorted, ${padded(true)} sorted (${((1 - padded(true) / padded(false)) * 100).toFixed(1)}% fewer)`);
    assert.ok(padded(true) <= padded(false));
    assert.ok(padded(true) <= real * 1.1, 'sorted batches are nearly free of padding');
  }
});

test('inference runs off the event loop: the main thread stays responsive while 160 documents are embedded', async () => {
  const e = await open();
  const texts = readJsonl<{ text: string }>(sharedData('web/c4-en-1k.jsonl')).slice(0, 160).map((d) => d.text);
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  const t0 = Date.now();
  await e.embed(texts);
  const ms = Date.now() - t0;
  h.disable();
  const maxMs = h.max / 1e6;
  console.log(`event loop: max delay ${maxMs.toFixed(1)} ms (p99 ${(h.percentile(99) / 1e6).toFixed(1)} ms) during ${ms} ms of embedding on ${e.workers} worker thread(s)`);
  // A Kafka session timeout is seconds; the model on this thread would block for the whole call.
  assert.ok(maxMs < Math.min(1000, ms / 4), `event loop blocked for ${maxMs} ms`);
});

test('--device cuda on a machine without a GPU fails at open with a non-retriable error that says what to install', async () => {
  await assert.rejects(createEmbedder({ model: MODEL, device: 'cuda' }), (e: unknown) => {
    assert.ok(e instanceof EmbedderError);
    assert.equal(e.retriable, false);
    assert.match(e.message, /cuda/i);
    assert.match(e.message, /onnxruntime-node-install=cuda12/);
    return true;
  });
});

test('configuration mistakes are reported before any work: unknown model, missing dtype file', async () => {
  await assert.rejects(createEmbedder({ model: 'nobody/no-such-model' }), /not installed .*setup-model/);
  await assert.rejects(createEmbedder({ model: MODEL, dtype: 'fp16' }), /model_fp16\.onnx, which is missing/);
});
