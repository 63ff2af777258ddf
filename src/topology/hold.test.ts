// The prototype stage's warm-up hold (warmupHold): until it has decided a document, its window is
// that long, on the run loop every driver runs (TaskWindows) and, in an ordered sub-topology, in
// the reorder buffer (whose documents are changelogged: a crash there loses nothing).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TaskWindows } from './loop.js';
import { MemoryDriver } from './memory-driver.js';
import { planSubtopologies, type Subtopology } from './plan.js';
import { Task, upstreamWork, warmupHold, type InRecord } from './task.js';
import { buildStages, type StageSpec } from './topology.js';
import { composePipeline } from './pipeline.js';
import { createHasher } from '../stages/text/hash.js';
import { codecs } from '../io/avro/codec.js';
import { FakeEmbedder } from '../stages/embed/fake-embedder.js';
import type { Decision } from '../records/item.js';

const rec = (offset: number): InRecord => ({ offset: BigInt(offset), key: null, value: Buffer.from('x'), timestamp: 0 });
const records = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => rec(from + i));

test('hold: while a stage holds, the window spans the hold (rounded up to a window multiple), then windows are aligned as before', () => {
  let hold = 80; // 80 → 96
  const w = new TaskWindows(0n, 32n, () => hold);
  w.add(records(0, 95), 94n);
  assert.equal(w.take(false), undefined, 'not full yet: nothing to decide');
  w.add(records(95, 140), 139n);
  const first = w.take(false)!;
  assert.equal(first.records.length, 96);
  assert.equal(first.end, 96n);
  w.committed(first.end);
  hold = 0; // the stage has decided its first documents
  const second = w.take(false)!;
  assert.deepEqual([second.records[0]!.offset, second.end], [96n, 128n]);
  w.committed(second.end);
  assert.equal(w.take(false), undefined);
  assert.equal(w.take(true)!.records.length, 12, 'a flush takes the partial window');
});

test('hold: a flush (end of stream, linger) decides a partial hold; a hold under the window changes nothing', () => {
  const w = new TaskWindows(0n, 32n, () => 96);
  w.add(records(0, 40), 39n);
  assert.equal(w.take(false), undefined);
  assert.equal(w.take(true)!.records.length, 40);
  const small = new TaskWindows(0n, 32n, () => 20);
  small.add(records(0, 40), 39n);
  assert.equal(small.take(false)!.end, 32n);
  const later = new TaskWindows(64n, 32n, () => 96); // a stage that starts on a stream already read (a later file, a later offset)
  later.add(records(64, 200), 199n);
  assert.equal(later.take(false)!.end, 160n, 'the hold counts from where the window starts, to an offset multiple');
});

test('hold: the prototype stage holds warmupHold documents until it has decided one; built stages report it', async () => {
  const hasher = await createHasher();
  const [proto] = await buildStages([{ id: 'prototype', type: 'prototype', options: { warmupHold: 1000, expectedDocs: 5000 } }], { hasher });
  assert.equal(warmupHold([proto!]), 1000);
  const [byDefault] = await buildStages([{ id: 'prototype', type: 'prototype', options: {} }], { hasher });
  assert.equal(warmupHold([byDefault!]), 2048, 'the default');
  const [exact] = await buildStages([{ id: 'exact', type: 'exact', options: {} }], { hasher });
  assert.equal(warmupHold([exact!]), 0);
  const p = composePipeline([proto!], hasher);
  const v = new Float32Array(8).fill(0.35);
  await p.process([{ kind: 'doc', seq: 0, doc: { id: 'a', url: null, fetched_at: null, content_type: null, language: null, text: 'a', metadata: {} }, vector: { values: v } } as never]);
  assert.equal(warmupHold([proto!]), 0, 'once it has seen documents, it holds nothing (also when restored from its stores)');
});

const c = codecs();
const N = 300;
const topics = ['markets', 'football', 'elections', 'films', 'phones'];
const crawl = Array.from({ length: N }, (_, i) => ({ id: `d${i}`, text: `${topics[i % 5]} report number ${i} about ${topics[(i * 7) % 5]} and item ${i % 13}` }));

async function driver(partitions: number, hold: number) {
  const hasher = await createHasher();
  const embedder = new FakeEmbedder({ dim: 16 });
  const stages: StageSpec[] = [{ id: 'embed', type: 'embed', options: {} }, { id: 'prototype', type: 'prototype', options: { targetRatio: 0.25, expectedDocs: N, seed: 3, warmupHold: hold } }];
  const plan = planSubtopologies('app', { topic: 'crawl', partitions }, stages);
  const newTask = async (sub: Subtopology, partition: number) => new Task(sub, partition, composePipeline(await buildStages(sub.stages, { hasher, embedder }), hasher), {
    topics: { app: 'app', decisions: 'decisions', kept: 'kept', deadLetter: 'dlq', keptWithVectors: false, changelog: MemoryDriver.changelog },
    codecs: c, sourceFormat: 'avro', window: 32, decode: { idField: 'id', textField: 'text', maxBytes: 1_000_000 }, hasher, exactCaseFold: false,
    idPartition: (id, n) => id.length % n, nextOrdered: plan[sub.index + 1]?.ordered ?? false,
    ...(upstreamWork(plan[sub.index + 1]) ? { prepareNext: upstreamWork(plan[sub.index + 1])! } : {}),
  });
  const d = new MemoryDriver(plan, newTask, { window: 32 });
  /** The crawler writes documents [from, to) of the crawl. */
  const produce = (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const doc = crawl[i]!;
      d.produce('crawl', i % partitions, [{ key: doc.id, value: c.document.encode({ id: doc.id, url: null, fetched_at: null, content_type: null, language: null, text: doc.text, metadata: {} }), timestamp: 1_000 + i }]);
    }
  };
  return { d, plan, produce };
}

const decisions = (d: MemoryDriver) => d.read('decisions').map((r) => { const x = c.decision.decode(r.value!); if ('error' in x) throw new Error(x.error); return x.value as Decision; });
const verdicts = (ds: Decision[]) => ds.map((x) => `${x.id}:${x.keep ? 'keep' : x.stage}`).sort();

test('hold, one partition: the first window decides the hold together; exactly one decision per document; a crash inside the hold loses and repeats nothing', async () => {
  const { d: reference, produce } = await driver(1, 96);
  produce(0, N);
  await reference.run({ chunk: 10 });
  await reference.run({ flush: true });
  const sizes = reference.outputs.map((o) => o.decisions.length).filter((n) => n > 0);
  assert.deepEqual(sizes.slice(0, 3), [96, 32, 32]);
  const ref = decisions(reference);
  assert.equal(ref.length, N);
  assert.equal(new Set(ref.map((x) => x.id)).size, N);
  const kept = ref.filter((x) => x.keep).length;
  assert.ok(Math.abs(kept / N - 0.25) <= 0.01, `kept ${kept}`);

  const crash = await driver(1, 96);
  crash.produce(0, 60);
  await crash.d.run({ chunk: 10 });
  assert.equal(decisions(crash.d).length, 0, 'the hold is not full: nothing decided, nothing committed');
  crash.d.drop('0_0'); // the task loses its memory: the 60 records are re-read from the committed offset 0
  crash.produce(60, N);
  await crash.d.run({ chunk: 10 });
  await crash.d.run({ flush: true });
  assert.equal(decisions(crash.d).length, N, 'none lost, none repeated');
  assert.deepEqual(verdicts(decisions(crash.d)), verdicts(ref), 'the same decisions as the uninterrupted run');
});

test('hold, ordered sub-topology (3 partitions): the reorder buffer releases the hold first; a crash while it holds documents loses and repeats nothing', async () => {
  const { d: reference, plan, produce } = await driver(3, 96);
  assert.deepEqual(plan.map((s) => [s.name, s.ordered]), [['source', false], ['prototype', true]]);
  produce(0, N);
  await reference.run({ flush: true });
  const ref = decisions(reference);
  assert.equal(ref.length, N);
  assert.equal(new Set(ref.map((x) => x.id)).size, N);
  const protoSizes = reference.outputs.filter((o) => o.decisions.some((x) => x.stage === 'prototype' || x.keep)).map((o) => o.decisions.length);
  assert.ok(protoSizes[0]! >= 96 && protoSizes[0]! % 96 === 0, `the first release is whole holds (${protoSizes.join(',')})`);

  const crash = await driver(3, 96);
  crash.produce(0, 150);
  await crash.d.run({ chunk: 8 }); // complete windows only: the source tasks forward 96, the prototype task holds them
  assert.equal(decisions(crash.d).length, 0, 'nothing decided yet');
  for (const id of ['0_0', '0_1', '0_2', '1_0']) crash.d.drop(id); // every task loses its memory; the held documents come back from the changelog
  crash.produce(150, N);
  await crash.d.run({ flush: true });
  const ds = decisions(crash.d);
  assert.equal(ds.length, N, 'none lost');
  assert.equal(new Set(ds.map((x) => x.id)).size, N, 'none repeated');
  const kept = ds.filter((x) => x.keep).length;
  assert.ok(Math.abs(kept / N - 0.25) <= 0.01, `kept ${kept}`);
});
