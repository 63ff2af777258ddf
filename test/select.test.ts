// The whole selection topology in memory (no model, no broker): exact → a deterministic fake
// embed stage → semantic → prototype, composed by the real pipeline, over C4 + FineWeb with MRPC
// sentence pairs inserted. Fast enough to run on every change; the real model is in
// select-quality.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonl, root, runCli, sharedData } from './helpers.js';
import { composePipeline, outcomes, type Pipeline } from '../src/topology/pipeline.js';
import { buildStages, loadTopology } from '../src/topology/topology.js';
import { createHasher } from '../src/stages/text/hash.js';
import { mapLive, type BuiltStage } from '../src/stages/stage.js';
import { fakeVector } from '../src/stages/semantic/fake-embedding.js';
import { exactAnnIndex } from '../src/stages/semantic/ann.js';
import { createHnswIndex } from '../src/io/models/hnsw-index.js';
import { Rng } from '../src/stages/centroids/vectors.js';
import { deadLetter, origin, type Decision, type Item } from '../src/records/item.js';
import type { PrototypeReport } from '../src/stages/prototype/prototype.js';

const hasher = await createHasher();

interface Doc { id: string; text: string }

/** C4 + FineWeb, with 200 MRPC pairs (both classes) inserted at seeded places, and a few exact copies. */
function corpus(): Doc[] {
  const web = [...readJsonl<Doc>(sharedData('web/c4-en-1k.jsonl')), ...readJsonl<Doc>(sharedData('web/fineweb-300.jsonl'))];
  const rows = readFileSync(sharedData('mrpc-train.tsv'), 'utf8').replace(/^\uFEFF/, '').split(/\r?\n/).slice(1).filter(Boolean).map((l) => l.split('\t'));
  const rng = new Rng(5);
  const slots = web.map((d, i) => ({ at: (i + 0.5) / web.length, doc: { id: d.id, text: d.text } }));
  rows.slice(0, 200).forEach(([, , , a, b], i) => {
    const [u, v] = [rng.next(), rng.next()].sort((x, y) => x - y) as [number, number];
    slots.push({ at: u, doc: { id: `mrpc-${i}-a`, text: a! } }, { at: v, doc: { id: `mrpc-${i}-b`, text: b! } });
  });
  for (let i = 0; i < 20; i++) slots.push({ at: 0.5 + i / 50, doc: { id: `copy-${i}`, text: web[i * 7]!.text } });
  return slots.sort((x, y) => x.at - y.at).map((s) => s.doc);
}

function items(docs: Doc[], from = 0): Item[] {
  return docs.map((doc, i) => ({ kind: 'doc', seq: from + i, origin: origin({ file: 'corpus', line: from + i + 1 }), doc: { id: doc.id, url: null, fetched_at: null, content_type: null, language: null, text: doc.text, metadata: {} } }));
}

/** The embed stage's place in the pipeline, with a fake model: hashed bag of words → 384-d. */
const fakeEmbed: BuiltStage = { id: 'embed', type: 'embed', stores: [], params: { model: 'fake-bow' }, operator: mapLive((item) => ({ ...item, vector: fakeVector(item.doc.text) })) };

async function pipeline(options: { targetRatio?: number; expectedDocs: number; report?: (r: PrototypeReport) => void; hnsw?: boolean }): Promise<Pipeline> {
  const select = { expectedDocs: options.expectedDocs, seed: 3 };
  const [exact, semantic, prototype] = await buildStages([
    { id: 'exact', type: 'exact', options: {} },
    { id: 'semantic', type: 'semantic', options: { ...select, epsilon: 0.1 } },
    { id: 'prototype', type: 'prototype', options: { ...select, targetRatio: options.targetRatio ?? 0.25 } },
  ], { hasher, annIndex: options.hnsw ? createHnswIndex : exactAnnIndex, ...(options.report ? { report: options.report } : {}) });
  return composePipeline([exact!, fakeEmbed, semantic!, prototype!], hasher);
}

async function curate(p: Pipeline, all: Item[], batch: number): Promise<Decision[]> {
  const out: Decision[] = [];
  for (let i = 0; i < all.length; i += batch) out.push(...outcomes(await p.process(all.slice(i, i + batch)), p.paramsHash, 0).decisions);
  return out;
}

const strip = (d: Decision) => ({ ...d, decided_at: 0 });

test('in memory: kept fraction tracks the target after every batch and ends within ±0.02 of it (R = 0.25 and 0.5), with every document decided in order', async () => {
  const docs = corpus();
  for (const targetRatio of [0.25, 0.5]) {
    const reports: PrototypeReport[] = [];
    const p = await pipeline({ targetRatio, expectedDocs: docs.length, report: (r) => { if (r.kind === 'prototype') reports.push(r); } });
    const decisions = await curate(p, items(docs), 300);
    assert.deepEqual(decisions.map((d) => d.id), docs.map((d) => d.id));
    const kept = decisions.filter((d) => d.keep).length / docs.length;
    assert.ok(Math.abs(kept - targetRatio) <= 0.02, `R ${targetRatio}: kept ${kept}`);
    for (const r of reports) assert.ok(Math.abs(r.keptFraction - targetRatio) <= 0.02, `after ${r.seen}: ${r.keptFraction}`);
    const byStage = (s: string) => decisions.filter((d) => d.stage === s).length;
    assert.equal(byStage('exact'), 20, 'the exact copies');
    assert.ok(byStage('semantic') > 0, 'semantic duplicates');
    console.log(`  R ${targetRatio}: kept ${(100 * kept).toFixed(1)}%; exact ${byStage('exact')}, semantic ${byStage('semantic')}, prototype ${byStage('prototype')}; R_proto ${(100 * reports.at(-1)!.protoFraction).toFixed(1)}%`);
    await p.close();
  }
});

test('in memory (HNSW): the same input, batches and seed give identical decisions; a restart from snapshots mid-stream gives the uninterrupted decisions', async () => {
  const docs = corpus();
  const all = items(docs);
  const a = await curate(await pipeline({ expectedDocs: docs.length, hnsw: true }), all, 256);
  const b = await curate(await pipeline({ expectedDocs: docs.length, hnsw: true }), all, 256);
  assert.deepEqual(b.map(strip), a.map(strip));
  for (const cut of [2, 5]) {
    const first = await pipeline({ expectedDocs: docs.length, hnsw: true });
    const head = await curate(first, all.slice(0, cut * 256), 256);
    const restarted = await pipeline({ expectedDocs: docs.length, hnsw: true });
    first.stores.forEach((s, i) => restarted.stores[i]!.restore(s.snapshot()));
    const tail = await curate(restarted, all.slice(cut * 256), 256);
    assert.deepEqual([...head, ...tail].map(strip), a.map(strip), `restart after ${cut} batches`);
  }
});

test('in memory: dead letters pass through the selection stages and do not count as documents', async () => {
  const docs = corpus().slice(0, 400);
  const all = items(docs);
  all.splice(100, 0, { kind: 'dead', seq: 100, origin: origin({ line: 101 }), dead: deadLetter(origin({ line: 101 }), 'decode', 'malformed-json', 'bad', Buffer.from('{')) });
  const p = await pipeline({ expectedDocs: 400 });
  const out = await p.process(all);
  assert.equal(out.length, 401);
  assert.equal(out[100]!.kind, 'dead');
  assert.equal(outcomes(out, p.paramsHash).kept.length, 100, 'R · 400 documents');
});

test('topologies/d4.yaml: crawl → exact → near → embed → semantic → prototype → decisions, curated, dead letters; describe names every store', async () => {
  const t = loadTopology(join(root, 'topologies', 'd4.yaml'));
  assert.deepEqual(t.stages.map((s) => s.type), ['exact', 'near', 'embed', 'semantic', 'prototype']);
  const r = await runCli(['describe', join(root, 'topologies', 'd4.yaml')]);
  assert.equal(r.code, 0, r.stderr);
  for (const store of ['semantic-centroids', 'semantic-index', 'prototype-centroids', 'prototype-sketches', 'prototype-counts']) assert.match(r.stdout, new RegExp(`store: ${store}`));
});

test('d4 curate and d4 batch refuse bad selection options with a message that says what to change', async () => {
  const input = sharedData('web/fineweb-300.jsonl');
  const cases: [string[], RegExp][] = [
    [['curate', input, '--out', '/tmp/d4-x', '--stages', 'exact,semantic', '--target-ratio', '1.5'], /--target-ratio must be a fraction in \(0, 1\]/],
    [['curate', input, '--out', '/tmp/d4-x', '--stages', 'semantic', '--set', 'semantic.epsilon=3'], /semantic\.epsilon/],
    [['batch', input, '--out', '/tmp/d4-x', '--stages', 'exact,semantic'], /need the embed stage/],
    [['batch', input, '--out', '/tmp/d4-x', '--stages', 'embed,semantic,exact'], /semantic and prototype come last/],
  ];
  for (const [args, message] of cases) {
    const r = await runCli(args);
    assert.notEqual(r.code, 0, args.join(' '));
    assert.match(r.stderr, message, args.join(' '));
  }
});
