import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDriver } from '../src/topology/memory-driver.js';
import { planSubtopologies, type Subtopology } from '../src/topology/plan.js';
import { Task, upstreamWork } from '../src/topology/task.js';
import { buildStages, type StageSpec } from '../src/topology/topology.js';
import { composePipeline } from '../src/topology/pipeline.js';
import { createHasher } from '../src/stages/text/hash.js';
import { codecs } from '../src/io/avro/codec.js';
import { FatalRunError } from '../src/topology/errors.js';
import type { Decision } from '../src/records/item.js';
import { FakeEmbedder } from '../src/stages/embed/fake-embedder.js';
import { createHnswIndex } from '../src/io/models/hnsw-index.js';
import { readJsonl, sharedData } from './helpers.js';

const P = 3;
const stages: StageSpec[] = [{ id: 'exact', type: 'exact', options: {} }, { id: 'near', type: 'near', options: {} }];
const c = codecs();
const docs = readJsonl<{ id: string; text: string }>(sharedData('bbc-news-2225.jsonl')).slice(0, 600);
// Copies land on other partitions than their originals: every tenth document again, at the end.
const crawl = [...docs, ...docs.filter((_, i) => i % 10 === 0).map((d) => ({ ...d, id: `${d.id}-copy` }))];

async function driver(window = 32) {
  const hasher = await createHasher();
  const plan = planSubtopologies('app', { topic: 'crawl', partitions: P }, stages);
  const newTask = async (sub: Subtopology, partition: number) => new Task(sub, partition, composePipeline(await buildStages(sub.stages, { hasher }), hasher), {
    topics: { app: 'app', decisions: 'decisions', kept: 'kept', deadLetter: 'dlq', keptWithVectors: false, changelog: MemoryDriver.changelog },
    codecs: c, sourceFormat: 'avro', window: 32, decode: { idField: 'id', textField: 'text', maxBytes: 1_000_000 }, hasher, exactCaseFold: false,
    idPartition: (id, n) => id.length % n, nextOrdered: plan[sub.index + 1]?.ordered ?? false,
    ...(upstreamWork(plan[sub.index + 1]) ? { prepareNext: upstreamWork(plan[sub.index + 1])! } : {}),
  });
  const d = new MemoryDriver(plan, newTask, { window });
  crawl.forEach((doc, i) => d.produce('crawl', i % P, [{ key: doc.id, value: c.document.encode({ id: doc.id, url: null, fetched_at: null, content_type: null, language: null, text: doc.text, metadata: {} }), timestamp: 1_000 + i }]));
  return { d, plan };
}

const decisions = (d: MemoryDriver) => d.read('decisions').map((r) => { const x = c.decision.decode(r.value!); if ('error' in x) throw new Error(x.error); return x.value as Decision; });
const drops = (ds: Decision[]) => ds.filter((x) => !x.keep).map((x) => `${x.id}<${x.duplicate_of}`).sort();

test('in-memory driver: the plan cuts dedup into source → exact (by text hash) → near (one index)', async () => {
  const { plan } = await driver();
  assert.deepEqual(plan.map((s) => [s.name, s.input.topic, s.input.partitions, s.ordered]), [
    ['source', 'crawl', 3, false], ['exact', 'app-exact-repartition', 3, true], ['near', 'app-near-repartition', 1, true],
  ]);
});

test('in-memory driver: one decision per document, and copies on other partitions are found', async () => {
  const { d } = await driver();
  await d.run({ flush: true });
  const ds = decisions(d);
  assert.equal(ds.length, crawl.length);
  assert.equal(new Set(ds.map((x) => x.id)).size, crawl.length);
  const copies = ds.filter((x) => x.id.endsWith('-copy'));
  const text = new Map(crawl.map((x) => [x.id, x.text]));
  assert.equal(copies.length, 60);
  for (const x of copies) {
    assert.ok(!x.keep && x.stage === 'exact', `${x.id} dropped by exact`);
    assert.equal(text.get(x.duplicate_of!), text.get(x.id), `${x.id} names a document with its text`);
    assert.ok(!x.duplicate_of!.endsWith('-copy'), 'the first occurrence, which came earlier');
  }
});

test('in-memory driver: windows are aligned on offsets, so decisions do not depend on how records are delivered', async () => {
  const runs: string[][] = [];
  for (const chunk of [1, 7, 100_000]) {
    const { d } = await driver();
    await d.run({ chunk, flush: false });
    await d.run({ chunk, flush: true });
    runs.push(drops(decisions(d)));
    assert.equal(d.committed('crawl', 0) % 32n === 0n || d.committed('crawl', 0) === BigInt(Math.ceil(crawl.length / P)), true);
  }
  assert.deepEqual(runs[0], runs[1]);
  assert.deepEqual(runs[0], runs[2]);
});

test('in-memory driver: a retriable commit failure is retried; a non-retriable one is fatal', async () => {
  const { d } = await driver();
  d.failures.push({ retriable: true }, { retriable: true });
  await d.run({ flush: true });
  assert.equal(decisions(d).length, crawl.length);
  assert.ok(d.log.some((l) => /transaction failed .*retrying/.test(l)), d.log.join('\n'));
  const second = await driver();
  second.d.failures.push({ retriable: false });
  await assert.rejects(second.d.run({ flush: true }), (e) => e instanceof FatalRunError && /failed/.test(e.message));
});

test('in-memory driver: after a crash every task restores from its changelog and committed offset: exactly once, same drops', async () => {
  const { d: reference } = await driver();
  await reference.run({ flush: true });
  const { d } = await driver();
  await d.run({ chunk: 50 }); // complete windows only: some committed, some buffered
  const partial = decisions(d).length;
  assert.ok(partial > 0 && partial < crawl.length, `crashed mid-stream (${partial} decided)`);
  for (const id of ['0_0', '0_1', '0_2', '1_0', '1_1', '1_2', '2_0']) d.drop(id); // every task loses its memory
  await d.run({ flush: true });
  const ds = decisions(d);
  assert.equal(ds.length, crawl.length, 'none lost, none repeated');
  assert.deepEqual(drops(ds), drops(decisions(reference)));
});

test('in-memory driver: a fenced (revoked) task abandons its window, which is re-read: exactly once', async () => {
  const { d: reference } = await driver();
  await reference.run({ flush: true });
  const { d } = await driver();
  d.failures.push({ retriable: false, fenced: true }, { retriable: false, fenced: true });
  await d.run({ flush: true });
  const ds = decisions(d);
  assert.equal(ds.length, crawl.length);
  assert.deepEqual(drops(ds), drops(decisions(reference)));
});

/** A driver over the crawl for the whole D4 topology (`extra` after exact and near), the fake embedder standing in for the model. */
async function d4Driver(extra: StageSpec[]) {
  const hasher = await createHasher();
  const plan = planSubtopologies('app', { topic: 'crawl', partitions: P }, [...stages, ...extra]);
  const embedder = new FakeEmbedder({ dim: 32 });
  const newTask = async (sub: Subtopology, partition: number) => new Task(sub, partition, composePipeline(await buildStages(sub.stages, { hasher, embedder, annIndex: createHnswIndex }), hasher), {
    topics: { app: 'app', decisions: 'decisions', kept: 'kept', deadLetter: 'dlq', keptWithVectors: false, changelog: MemoryDriver.changelog },
    codecs: c, sourceFormat: 'avro', window: 64, decode: { idField: 'id', textField: 'text', maxBytes: 1_000_000 }, hasher, exactCaseFold: false,
    idPartition: (id, n) => id.length % n, nextOrdered: plan[sub.index + 1]?.ordered ?? false,
    ...(upstreamWork(plan[sub.index + 1]) ? { prepareNext: upstreamWork(plan[sub.index + 1])! } : {}),
  });
  const d = new MemoryDriver(plan, newTask, { window: 64 });
  crawl.forEach((doc, i) => d.produce('crawl', i % P, [{ key: doc.id, value: c.document.encode({ id: doc.id, url: null, fetched_at: null, content_type: null, language: null, text: doc.text, metadata: {} }), timestamp: 1_000 + i }]));
  return { d, plan };
}

test('in-memory driver: the prototype stage, in the last sub-topology, holds the target ratio over every document (upstream drops travel on and are counted)', async () => {
  const R = 0.3;
  const { d, plan } = await d4Driver([{ id: 'embed', type: 'embed', options: {} }, { id: 'prototype', type: 'prototype', options: { targetRatio: R, expectedDocs: crawl.length, seed: 7 } }]);
  assert.deepEqual(plan.map((s) => s.name), ['source', 'exact', 'near', 'embed', 'prototype']);
  await d.run({ flush: true });
  const ds = decisions(d);
  assert.equal(ds.length, crawl.length, 'one decision per document: a document dropped upstream is not decided again downstream');
  assert.equal(new Set(ds.map((x) => x.id)).size, crawl.length);
  const upstream = ds.filter((x) => !x.keep && (x.stage === 'exact' || x.stage === 'near')).length;
  assert.ok(upstream >= 60, `exact and near dropped ${upstream}`);
  const kept = ds.filter((x) => x.keep).length;
  // Had the prototype stage counted only what reached its sub-topology alive, it would keep R of those: R · (1 − upstream/N).
  assert.ok(Math.abs(kept / crawl.length - R) <= 0.02, `kept ${kept} of ${crawl.length} (${(kept / crawl.length).toFixed(3)}), target ${R}`);
});

test('in-memory driver: the whole D4 topology decides the same however records are delivered, and after every task crashed: the selection stages get the same batches', async () => {
  const select: StageSpec[] = [
    { id: 'embed', type: 'embed', options: {} },
    { id: 'semantic', type: 'semantic', options: { expectedDocs: crawl.length, seed: 7 } },
    { id: 'prototype', type: 'prototype', options: { targetRatio: 0.3, expectedDocs: crawl.length, seed: 7, warmupHold: 0 } },
  ];
  const outcome = (ds: Decision[]) => ds.map((x) => `${x.id} ${x.keep} ${x.stage} ${x.reason ?? ''} ${x.duplicate_of ?? ''}`).sort();
  const { d: reference } = await d4Driver(select);
  await reference.run({ flush: true });
  const want = outcome(decisions(reference));
  assert.equal(want.length, crawl.length);
  assert.ok(decisions(reference).filter((x) => x.stage === 'prototype').length > 300, 'the prototype stage dropped documents');
  // Small deliveries: watermarks reach the ordered tasks at other times, so their releases hold several windows at once.
  for (const chunk of [7, 50]) {
    const { d } = await d4Driver(select);
    await d.run({ chunk, flush: true });
    assert.deepEqual(outcome(decisions(d)), want, `delivered ${chunk} records at a time`);
  }
  const { d, plan } = await d4Driver(select);
  await d.run({ chunk: 32 });
  for (const sub of plan) for (let p = 0; p < sub.input.partitions; p++) d.drop(`${sub.index}_${p}`); // every task loses its memory
  await d.run({ chunk: 32, flush: true });
  assert.deepEqual(outcome(decisions(d)), want, 'after the crash: exactly once, the same decisions');
});
