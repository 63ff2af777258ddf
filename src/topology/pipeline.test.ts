// The pipeline runs stage after stage over a window: the same items as the composed operator, each stage timed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { concatMap, filter, from, lastValueFrom, map, timer, toArray } from 'rxjs';
import { composePipeline } from './pipeline.js';
import { origin, type Item } from '../records/item.js';
import type { BuiltStage } from '../stages/stage.js';
import { createHasher } from '../stages/text/hash.js';

const hasher = await createHasher();
const items: Item[] = ['a', 'b', 'c'].map((id, seq) => ({ kind: 'doc', seq, origin: origin({}), doc: { id, url: null, fetched_at: null, content_type: null, language: null, text: id, metadata: {} } }));
const stage = (id: string, operator: BuiltStage['operator']): BuiltStage => ({ id, type: id, operator, stores: [], params: {} });
const upper = stage('upper', map((i: Item) => (i.kind === 'doc' ? { ...i, doc: { ...i.doc, text: i.doc.text.toUpperCase() } } : i)));
const slow = stage('slow', concatMap((i: Item) => timer(20).pipe(map(() => i))));

test('processTimed: items equal the composed operator\'s, in order; each stage\'s wall time is its own', async () => {
  const p = composePipeline([upper, slow], hasher);
  const { items: out, stageSeconds } = await p.processTimed(items);
  const composed = await lastValueFrom(from(items).pipe(p.operator, toArray()));
  assert.deepEqual(out, composed);
  assert.deepEqual(out.map((i) => (i.kind === 'doc' ? i.doc.text : '')), ['A', 'B', 'C']);
  assert.deepEqual(stageSeconds.map((s) => s.stage), ['upper', 'slow']);
  assert.ok(stageSeconds[1]!.seconds >= 0.055, `three 20 ms waits: ${stageSeconds[1]!.seconds}`);
  assert.ok(stageSeconds[0]!.seconds < stageSeconds[1]!.seconds);
});

test('processTimed: a stage that loses an item is named', async () => {
  const lossy = stage('lossy', filter((i: Item) => i.seq !== 1));
  await assert.rejects(composePipeline([upper, lossy], hasher).processTimed(items), /3 items in, 2 out of stage lossy/);
});
