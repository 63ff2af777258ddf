// Every model scripts/setup-model.mjs installs, through createEmbedder: the dimension and pooling
// its manifest names, unit vectors, its document prefix in front of every text, and MRPC
// paraphrase pairs closer than non-paraphrase pairs (first 200 pairs of train).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createEmbedder, defaultModelsDir, MODEL_ALIASES, type ModelEmbedder } from '../src/io/models/embedder.js';
import { sharedData } from './helpers.js';

const opened: ModelEmbedder[] = [];
after(async () => {
  for (const e of opened) await e.close();
});

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};

function mrpcPairs(limit: number): { paraphrase: boolean; a: string; b: string }[] {
  const text = readFileSync(sharedData('mrpc-train.tsv'), 'utf8').replace(/^\uFEFF/, '');
  return text.split(/\r?\n/).slice(1).filter((l) => l.length > 0).slice(0, limit).map((l) => {
    const f = l.split('\t');
    return { paraphrase: f[0] === '1', a: f[3]!, b: f[4]! };
  });
}

/** Probability that a random paraphrase pair is closer than a random non-paraphrase pair (ROC AUC). */
function auc(para: number[], non: number[]): number {
  let wins = 0;
  for (const p of para) for (const n of non) wins += p > n ? 1 : p === n ? 0.5 : 0;
  return wins / (para.length * non.length);
}

for (const [alias, id] of Object.entries(MODEL_ALIASES)) {
  test(`${alias} (${id}): manifest dimension and pooling, unit vectors, document prefix, MRPC paraphrases closer (200 pairs)`, async () => {
    const manifest = JSON.parse(readFileSync(join(defaultModelsDir(), id, 'd4-model.json'), 'utf8')) as { kind: string; dimension: number; pooling: string; document_prefix: string };
    const e = await createEmbedder({ model: alias });
    opened.push(e);
    assert.equal(e.model, id);
    assert.equal(e.kind, manifest.kind);
    assert.equal(e.dim, manifest.dimension);
    assert.equal(e.pooling, manifest.pooling);
    assert.equal(e.prefix, manifest.document_prefix);
    if (e.kind === 'transformer' && e.prefix) {
      // [CLS], the prefix's tokens, then the text's: the same ids as tokenizing prefix + text.
      const [withPrefix] = (await e.tokenize(['The cat sits on the mat.'])).rows;
      const bare = await createEmbedder({ model: alias, prefix: '', workers: 0 });
      opened.push(bare);
      const [plain] = (await bare.tokenize([`${manifest.document_prefix}The cat sits on the mat.`])).rows;
      assert.deepEqual([...withPrefix!], [...plain!]);
    }

    const pairs = mrpcPairs(200);
    const out = await e.embed(pairs.flatMap((p) => [p.a, p.b]));
    for (const r of out) assert.ok(Math.abs(Math.sqrt(dot(r.values, r.values)) - 1) < 1e-4);
    const cos = pairs.map((p, i) => ({ paraphrase: p.paraphrase, cos: dot(out[2 * i]!.values, out[2 * i + 1]!.values) }));
    const para = cos.filter((c) => c.paraphrase).map((c) => c.cos);
    const non = cos.filter((c) => !c.paraphrase).map((c) => c.cos);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const a = auc(para, non);
    console.log(`${alias}: ${e.dim}-d ${e.pooling}, prefix ${JSON.stringify(e.prefix)}; MRPC 200 pairs: paraphrase ${mean(para).toFixed(4)}, non-paraphrase ${mean(non).toFixed(4)}, separation ${(mean(para) - mean(non)).toFixed(4)}, AUC ${a.toFixed(3)}`);
    assert.ok(mean(para) > mean(non) + 0.02, `paraphrase ${mean(para)} vs non-paraphrase ${mean(non)}`);
    assert.ok(a >= 0.68, `AUC ${a}`);
  });
}
