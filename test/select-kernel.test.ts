// The batched selection paths (SIMD matrix products as a verified filter, ClusterIndexStore's
// grouped lookups) against the scalar path they replace, on real vectors: MiniLM embeddings of the
// Clough plagiarism corpus (graded near-copies), MRPC sentence pairs and BBC articles (with
// byte-identical copies). For a fixed seed, every decision — keep or drop, duplicate, similarity,
// cluster, distance, threshold — must be the same, bit for bit, whatever the batch size, with
// clusters that forget, and with clusters searched through HNSW.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readJsonl, sharedData } from './helpers.js';
import { createEmbedder, DEFAULT_MODEL, type ModelEmbedder } from '../src/io/models/embedder.js';
import { createHnswIndex } from '../src/io/models/hnsw-index.js';
import { setSelectionKernel, type SelectionKernel } from '../src/stages/kernels/dot-simd.js';
import { createHasher } from '../src/stages/text/hash.js';
import { buildStages } from '../src/topology/topology.js';
import { composePipeline, outcomes } from '../src/topology/pipeline.js';
import { origin, type Decision, type Item } from '../src/records/item.js';

const hasher = await createHasher();
let embedder: ModelEmbedder;
let docs: { id: string; vector: Float32Array }[] = [];

before(async () => {
  const texts: { id: string; text: string }[] = [];
  for (const d of readJsonl<{ id: string; text: string }>(sharedData('plagiarism-clough-100.jsonl'))) texts.push({ id: `clough-${d.id}`, text: d.text });
  const rows = readFileSync(sharedData('mrpc-train.tsv'), 'utf8').replace(/^\uFEFF/, '').split(/\r?\n/).slice(1).filter(Boolean).map((l) => l.split('\t'));
  rows.slice(0, 250).forEach(([, , , a, b], i) => texts.push({ id: `mrpc-${i}-a`, text: a! }, { id: `mrpc-${i}-b`, text: b! }));
  for (const d of readJsonl<{ id: string; text: string }>(sharedData('bbc-news-2225.jsonl')).slice(0, 250)) texts.push({ id: `bbc-${d.id}`, text: d.text });
  // A fixed interleaving, so that pairs and copies are spread over batches.
  const order = texts.map((t, i) => ({ t, key: (i * 7919) % texts.length })).sort((a, b) => a.key - b.key).map((x) => x.t);
  embedder = await createEmbedder({ model: DEFAULT_MODEL, dtype: 'q8' });
  const vectors = await embedder.embed(order.map((t) => t.text));
  docs = order.map((t, i) => ({ id: t.id, vector: vectors[i]!.values }));
});

after(async () => {
  await embedder?.close();
  setSelectionKernel(undefined);
});

async function decide(mode: SelectionKernel, batch: number, semanticOptions: Record<string, unknown>): Promise<Decision[]> {
  setSelectionKernel(mode);
  try {
    const select = { expectedDocs: 1500, seed: 11 };
    const stages = await buildStages([
      { id: 'semantic', type: 'semantic', options: { ...select, epsilon: 0.1, ...semanticOptions } },
      { id: 'prototype', type: 'prototype', options: { ...select, targetRatio: 0.3 } },
    ], { hasher, annIndex: createHnswIndex });
    const p = composePipeline(stages, hasher);
    const out: Decision[] = [];
    for (let i = 0; i < docs.length; i += batch) {
      const items: Item[] = docs.slice(i, i + batch).map((d, j) => ({
        kind: 'doc', seq: i + j, origin: origin({ line: i + j + 1 }),
        doc: { id: d.id, url: null, fetched_at: null, content_type: null, language: null, text: '', metadata: {} },
        vector: { model: 'minilm', pooling: 'mean', dtype: 'q8', values: d.vector, tokens: 0, truncated: false, cached: false },
      }));
      out.push(...outcomes(await p.process(items), p.paramsHash, 0).decisions.map((d) => ({ ...d, decided_at: 0 })));
    }
    await p.close();
    return out;
  } finally {
    setSelectionKernel(undefined);
  }
}

const summary = (ds: Decision[]) => {
  const by = new Map<string, number>();
  for (const d of ds) by.set(`${d.stage}:${d.reason}`, (by.get(`${d.stage}:${d.reason}`) ?? 0) + 1);
  return Object.fromEntries(by);
};

for (const [name, options] of [
  ['exact clusters', {}],
  ['small clusters that forget', { capacity: 400 }],
  ['HNSW from 40 documents a cluster', { exactBelow: 40 }],
] as const) {
  test(`batched selection = the scalar path on real vectors: ${name}`, async () => {
    assert.ok(docs.length > 800);
    const reference = await decide('reference', 256, options);
    const dropped = reference.filter((d) => !d.keep && d.stage === 'semantic').length;
    assert.ok(dropped > 20, `the corpus has semantic duplicates at ε 0.1 (${dropped})`);
    for (const [mode, batch] of [['simd', 256], ['simd', 1000], ['js', 97]] as const) {
      const got = await decide(mode, batch, options);
      if (batch === 256) assert.deepEqual(got, reference, `${mode}, batches of ${batch}: every decision and its evidence`);
      else assert.deepEqual(got, await decide('reference', batch, options), `${mode}, batches of ${batch}`);
    }
    console.log(`  ${name}: ${docs.length} documents, ${JSON.stringify(summary(reference))}`);
  });
}
