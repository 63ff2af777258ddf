// The static model (d4stream/m2v-all-MiniLM-L6-v2, distilled by scripts/setup-model.mjs) through
// createEmbedder: the fast tokenizer gives the full tokenizer's ids, model2vec itself (Python, in a
// virtual environment that scripts/model2vec-encode.py creates) loads the very directory and gives
// the same vectors, and bad input is handled as for the transformer models.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createEmbedder, defaultModelsDir, MODEL_ALIASES, type ModelEmbedder } from '../src/io/models/embedder.js';
import { FastWordPiece, wordPieceModel } from '../src/io/models/wordpiece.js';
import { readJsonl, root, sharedData } from './helpers.js';

const MODEL = MODEL_ALIASES.static!;
const dir = join(defaultModelsDir(), MODEL);
if (!existsSync(join(dir, 'd4-model.json'))) {
  throw new Error(`the static model is not installed in ${defaultModelsDir()}: run \`node scripts/setup-model.mjs\` (npm test does it)`);
}

const opened: ModelEmbedder[] = [];
async function open(options: Partial<Parameters<typeof createEmbedder>[0]> = {}) {
  const e = await createEmbedder({ model: 'static', ...options });
  opened.push(e);
  return e;
}
after(async () => {
  for (const e of opened) await e.close();
});

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};

function mrpcSentences(): string[] {
  const text = readFileSync(sharedData('mrpc-train.tsv'), 'utf8').replace(/^\uFEFF/, '');
  return text.split(/\r?\n/).slice(1).filter((l) => l.length > 0).flatMap((l) => l.split('\t').slice(3, 5));
}

/** Texts the fast path must get right beyond plain English: accents, CJK, emoji, control and zero-width characters, other whitespace, long words, punctuation runs. */
const EDGE_CASES = [
  'Café déjà vu à Zürich, naïve coöperation.',
  '東京タワーは333メートルです。 Beijing 北京 ok',
  'emoji 😀👍🏽 and a flag 🇫🇷 between words',
  'zero\u200bwidth and\u00a0no-break\u2003em space\u3000ideographic',
  'control\u0007bell\u0000nul\x0bvtab\x0cff line\r\nbreak\ttab',
  `a ${'x'.repeat(99)} b ${'y'.repeat(100)} c ${'z'.repeat(101)} d`,
  '...!!!??? $100,000.00 (approx.) -- "quoted" [brackets] {braces} <tags> a/b\\c ~`^|',
  'ALL CAPS MiXeD cAsE dOnT',
  'unaffable hyperparameterization antidisestablishmentarianism',
  '\u0301leading combining mark, e\u0301 decomposed',
];

test('the fast WordPiece path gives the full tokenizer\'s ids on every shared text and the edge cases', async () => {
  const tf = await import('@huggingface/transformers');
  const json = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')) as Record<string, unknown>;
  const full = new tf.PreTrainedTokenizer(json, {});
  const slow = (s: string) => full.encode(s, { add_special_tokens: false });
  const fast = new FastWordPiece(wordPieceModel(json), slow);
  const texts = [
    ...readJsonl<{ text: string }>(sharedData('web/c4-en-1k.jsonl')).map((d) => d.text),
    ...readJsonl<{ text: string }>(sharedData('web/fineweb-300.jsonl')).map((d) => d.text),
    ...readJsonl<{ text: string }>(sharedData('bbc-news-2225.jsonl')).slice(0, 500).map((d) => d.text),
    ...mrpcSentences().slice(0, 2000),
    ...EDGE_CASES,
  ];
  const out = new Int32Array(1 << 20);
  let mismatches = 0;
  for (const t of texts) {
    const want = slow(t);
    const n = fast.encodeInto(t, out, 0, out.length);
    const got = [...out.subarray(0, n)];
    if (want.length !== got.length || want.some((x, i) => x !== got[i])) {
      mismatches++;
      if (mismatches <= 3) assert.deepEqual(got, want, `ids of ${JSON.stringify(t.slice(0, 80))}`);
    }
  }
  console.log(`fast tokenizer: ${texts.length} texts, ${fast.chunks} chunks (${fast.slowChunks} through the full tokenizer), ${mismatches} mismatches`);
  assert.equal(mismatches, 0);
  assert.ok(fast.slowChunks > 0, 'the edge cases exercised the full tokenizer');
});

test('model2vec (Python) loads the very directory and gives the same vectors as d4 on 100 texts (cosine >= 0.999), the same token ids', async () => {
  const c4 = readJsonl<{ text: string }>(sharedData('web/c4-en-1k.jsonl')).map((d) => d.text);
  // 60 MRPC sentences, 30 web documents (some longer than the 512-token window), 10 edge cases.
  const texts = [...mrpcSentences().slice(0, 60), ...c4.slice(0, 30), ...EDGE_CASES];
  assert.equal(texts.length, 100);
  const py = spawnSync('python3', [join(root, 'scripts', 'model2vec-encode.py')], {
    input: JSON.stringify({ model_dir: dir, texts }), encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, timeout: 15 * 60_000,
  });
  assert.equal(py.status, 0, `scripts/model2vec-encode.py failed: ${py.stderr}`);
  const ref = JSON.parse(py.stdout) as { model2vec: string; dim: number; vectors: number[][]; tokens: number[][] };
  const e = await open();
  const mine = await e.embed(texts);
  const tok = await e.tokenize(texts);
  const cosines = mine.map((r, i) => dot(r.values, ref.vectors[i]!) / Math.sqrt(dot(ref.vectors[i]!, ref.vectors[i]!)));
  const worst = Math.min(...cosines);
  console.log(`model2vec ${ref.model2vec} vs d4 (${e.dim}-d, max ${e.maxTokens} tokens): 100 texts, min cosine ${worst.toFixed(7)}, ${mine.filter((r) => r.truncated).length} truncated`);
  assert.equal(ref.dim, e.dim);
  cosines.forEach((c, i) => assert.ok(c >= 0.999, `text ${i} (${JSON.stringify(texts[i]!.slice(0, 60))}): cosine ${c}`));
  tok.rows.forEach((row, i) => assert.deepEqual([...row], ref.tokens[i], `token ids of text ${i}`));
});

test('the directory is in model2vec\'s layout, and its manifest names the recipe and checksums', () => {
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(config.model_type, 'model2vec');
  assert.equal(config.normalize, true);
  const manifest = JSON.parse(readFileSync(join(dir, 'd4-model.json'), 'utf8')) as { kind: string; dimension: number; recipe: { teacher: string; pca_dims: number }; files: Record<string, unknown> };
  assert.equal(manifest.kind, 'static');
  assert.equal(manifest.recipe.teacher, 'sentence-transformers/all-MiniLM-L6-v2');
  assert.equal(manifest.dimension, manifest.recipe.pca_dims);
  assert.deepEqual(Object.keys(manifest.files).sort(), ['config.json', 'model.safetensors', 'tokenizer.json']);
  const header = readFileSync(join(dir, 'model.safetensors')).subarray(0, 256).toString('latin1');
  assert.match(header, /"embeddings":\{"dtype":"F32","shape":\[\d+,256\]/);
});

test('worker threads and the calling thread give identical vectors; a 1 MB text is truncated; empty texts come back empty', async () => {
  const pooled = await open({ workers: 2 });
  const inThread = await open({ workers: 0 });
  const texts = [...readJsonl<{ text: string }>(sharedData('web/c4-en-1k.jsonl')).slice(0, 300).map((d) => d.text), ...EDGE_CASES];
  const a = await pooled.embed(texts);
  const b = await inThread.embed(texts);
  a.forEach((r, i) => assert.deepEqual(r.values, b[i]!.values, `text ${i}`));
  for (const r of a) assert.ok(Math.abs(Math.sqrt(dot(r.values, r.values)) - 1) < 1e-5);

  const huge = 'data curation removes duplicates and keeps diverse documents '.repeat(20_000).slice(0, 1_000_000);
  const t0 = Date.now();
  const [big, blank, noToken, normal] = await pooled.embed([huge, '   \n ', '\u200b\u0000\u0007', 'A normal sentence after the bad ones.']);
  console.log(`static: 1 MB text in ${Date.now() - t0} ms, ${big!.tokens} tokens, truncated ${big!.truncated}`);
  assert.equal(big!.truncated, true);
  assert.ok(big!.tokens > 400 && big!.tokens <= pooled.maxTokens, 'cut to max_length × the median token length in characters, then to max_length tokens, as model2vec does');
  assert.equal(blank!.empty, true);
  assert.equal(noToken!.empty, true);
  assert.equal(normal!.values.length, pooled.dim);
  const s = pooled.stats();
  assert.equal(s.texts, texts.length + 2);
  assert.ok(s.truncated >= 1);
});

test('options that cannot apply to a static model are refused at open', async () => {
  await assert.rejects(createEmbedder({ model: 'static', pooling: 'cls' }), /static model.*--pooling cls/);
  await assert.rejects(createEmbedder({ model: 'static', prefix: 'query: ' }), /static model.*prefix/);
});
