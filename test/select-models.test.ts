// Every installed embedding model (--model minilm | static | bge-small | e5-small) through the real
// CLI and the selection stages, on a small corpus so that CI stays fast: MRPC sentence pairs as
// documents plus web documents. The guarantees the MiniLM test (select-quality.test.ts) makes
// hold for each model: the kept fraction within ±0.02 of the target, the same input embedded again
// gives identical decisions (the model is deterministic), and a worker restarted mid-stream from
// its state directory decides the rest as the uninterrupted one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MODEL_ALIASES } from '../src/io/models/embedder.js';
import { stageDefinitions } from '../src/topology/registry.js';
import { readJsonl, runCli, sharedData, tempDir } from './helpers.js';

interface Doc { id: string; text: string }
interface Decision { id: string; keep: boolean; stage: string; reason: string; duplicate_of: string | null; similarity: number | null; cluster: number | null; centroid_version: number | null; distance: number | null; threshold: number | null }

const BATCH = 64;
const TARGET = 0.25;
const STAGES = ['exact', 'embed', 'semantic', 'prototype'].filter((s) => stageDefinitions.has(s));
const comparable = (d: Decision) => [d.id, d.keep, d.stage, d.reason, d.duplicate_of, d.similarity, d.cluster, d.centroid_version, d.distance, d.threshold];

/** 120 MRPC pairs (both members, in order) interleaved with 30 C4 documents: 270 documents, mostly short (CI time). */
function corpus(): Doc[] {
  const text = readFileSync(sharedData('mrpc-train.tsv'), 'utf8').replace(/^\uFEFF/, '');
  const pairs = text.split(/\r?\n/).slice(1).filter((l) => l.length > 0).map((l) => l.split('\t')).slice(0, 120);
  const web = readJsonl<Doc>(sharedData('web/c4-en-1k.jsonl')).slice(0, 30);
  const docs: Doc[] = [];
  pairs.forEach((f, i) => {
    docs.push({ id: `mrpc-${i}-a`, text: f[3]! }, { id: `mrpc-${i}-b`, text: f[4]! });
    if (i % 4 === 3) docs.push(web[Math.floor(i / 4)]!);
  });
  return docs;
}

async function curate(input: string, out: string, extra: string[]) {
  const r = await runCli(['curate', input, '--out', out, '--stages', STAGES.join(','), '--target-ratio', String(TARGET), '--batch-size', String(BATCH), '--no-progress', ...extra]);
  assert.equal(r.code, 0, r.stderr);
  return { stdout: r.stdout, decisions: readJsonl<Decision>(join(out, 'decisions.jsonl')) };
}

for (const [alias, id] of Object.entries(MODEL_ALIASES)) {
  test(`--model ${alias} (${id}): kept fraction within ±0.02 of ${TARGET}, deterministic when embedded again, restart-exact`, async () => {
    const docs = corpus();
    const dir = tempDir(`d4-select-${alias}-`);
    const input = join(dir, 'corpus.jsonl');
    writeFileSync(input, docs.map((d) => JSON.stringify(d)).join('\n') + '\n');
    // A warm-up hold of one batch: the restart below cuts the stream after 2 (the default hold, 2048, is more than this corpus).
    const common = ['--model', alias, '--expected-docs', String(docs.length), '--set', `prototype.warmupHold=${BATCH}`];
    const embeddings = join(dir, 'embeddings.jsonl');

    const t0 = Date.now();
    const first = await curate(input, join(dir, 'run-1'), [...common, '--embeddings', embeddings]);
    const seconds = (Date.now() - t0) / 1000;
    assert.deepEqual(first.decisions.map((d) => d.id), docs.map((d) => d.id));
    const vectors = readJsonl<{ model: string; dim: number }>(embeddings);
    assert.ok(vectors.length > 0 && vectors.every((v) => v.model === id), 'the embeddings name the model id, not the alias');

    // Embedded again from scratch (no embeddings file): the model gives the same vectors, so the same decisions.
    const again = await curate(input, join(dir, 'run-2'), common);
    assert.deepEqual(again.decisions.map(comparable), first.decisions.map(comparable), 'embedding again gives identical decisions');

    // Stopped after 2 batches, restarted from the state directory (vectors from the embeddings file).
    const cut = 2 * BATCH;
    writeFileSync(join(dir, 'part-1.jsonl'), docs.slice(0, cut).map((d) => JSON.stringify(d)).join('\n') + '\n');
    writeFileSync(join(dir, 'part-2.jsonl'), docs.slice(cut).map((d) => JSON.stringify(d)).join('\n') + '\n');
    const state = join(dir, 'state');
    const p1 = await curate(join(dir, 'part-1.jsonl'), join(dir, 'restart-1'), [...common, '--embeddings', embeddings, '--state-dir', state]);
    const p2 = await curate(join(dir, 'part-2.jsonl'), join(dir, 'restart-2'), [...common, '--embeddings', embeddings, '--state-dir', state]);
    assert.deepEqual([...p1.decisions, ...p2.decisions].map(comparable), first.decisions.map(comparable), 'restart mid-stream = uninterrupted run');

    const kept = first.decisions.filter((d) => d.keep).length / docs.length;
    const semantic = first.decisions.filter((d) => d.stage === 'semantic');
    const pairDrops = semantic.filter((d) => /^mrpc-\d+-b$/.test(d.id) && d.duplicate_of === d.id.replace(/-b$/, '-a')).length;
    console.log(`--model ${alias}: ${vectors[0]!.dim}-d, kept ${(100 * kept).toFixed(1)}% (target ${100 * TARGET}%), ${semantic.length} semantic drops (${pairDrops} the later member of its own MRPC pair), first run ${seconds.toFixed(1)} s`);
    assert.ok(Math.abs(kept - TARGET) <= 0.02, `kept ${kept}`);
  });
}
