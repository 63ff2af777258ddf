// Re-selection by replay against the real broker, with the real embedding model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sharedData } from '../helpers.js';
import { consumeAll, d4, namespace, writeTopology } from './kafka-helpers.js';

interface Decision { id: string; keep: boolean; stage: string; reason: string; duplicate_of: string | null; similarity: number | null; cluster: number | null; centroid_version: number | null; distance: number | null; params_hash: string }

const STAGES = `  - { id: exact, type: exact }
  - { id: near, type: near }
  - { id: embed, type: embed }
  - { id: semantic, type: semantic, options: { epsilon: 0.15, expectedDocs: 300, seed: 7 } }
  - { id: prototype, type: prototype, options: { targetRatio: 0.5, expectedDocs: 300, seed: 7 } }`;

const summaryOf = (stdout: string) => JSON.parse(stdout.trim().split('\n').at(-1)!) as { in: number; kept: number; embed: { embedded: number; cache_hits: number }; topics: { decisions: string }; params_hash: string };
const decisionView = (d: Decision) => [d.id, d.keep, d.stage, d.reason, d.duplicate_of, d.cluster, d.centroid_version, d.similarity, d.distance, d.params_hash];

test('replay: same parameters reproduce the live decisions; other parameters change them; a sweep from the topics; the model is called 0 times', async () => {
  const t = writeTopology(namespace('replay'), STAGES);
  await d4(['produce', sharedData('web/fineweb-300.jsonl'), '--topic', t.crawl]);
  const window = ['--window', '128', '--until-idle', '3000', '--json'];

  const live = summaryOf((await d4(['run', t.path, ...window])).stdout);
  assert.equal(live.in, 300);
  assert.ok(live.embed.embedded > 250, `the live run embedded ${live.embed.embedded} documents`);
  const liveDecisions = await consumeAll<Decision>(t.decisions, 'decision');
  assert.equal(liveDecisions.length, 300);

  const same = summaryOf((await d4(['replay', t.path, ...window])).stdout);
  assert.equal(same.embed.embedded, 0, 'replay read every embedding from the embeddings topic');
  assert.equal(same.embed.cache_hits, live.embed.embedded);
  assert.notEqual(same.topics.decisions, t.decisions, 'the live topics are untouched');
  assert.ok(same.topics.decisions.endsWith(same.params_hash));
  const replayed = await consumeAll<Decision>(same.topics.decisions, 'decision');
  assert.deepEqual(replayed.map(decisionView), liveDecisions.map(decisionView), 'identical decisions');

  const other = summaryOf((await d4(['replay', t.path, ...window, '--set', 'semantic.epsilon=0.5', '--set', 'prototype.targetRatio=0.3'])).stdout);
  assert.equal(other.embed.embedded, 0);
  assert.notEqual(other.params_hash, same.params_hash);
  const changed = await consumeAll<Decision>(other.topics.decisions, 'decision');
  assert.equal(changed.length, 300);
  const semantic = (ds: Decision[]) => ds.filter((d) => d.stage === 'semantic').length;
  console.log(`live: kept ${live.kept}, semantic drops ${semantic(liveDecisions)}; replay epsilon 0.5 / target 0.3: kept ${other.kept}, semantic drops ${semantic(changed)}`);
  assert.ok(semantic(changed) > semantic(liveDecisions), 'a larger epsilon drops more semantic duplicates');
  assert.ok(Math.abs(other.kept / 300 - 0.3) <= 0.02, `kept fraction ${other.kept / 300} meets the new target`);
  assert.ok(Math.abs(live.kept / 300 - 0.5) <= 0.02, `kept fraction ${live.kept / 300} met the live target`);
  assert.equal((await consumeAll<Decision>(t.decisions, 'decision')).length, 300, 'the live decisions topic was not written by the replays');

  // A sweep straight from the topology's topics: the crawl topic once per pass, embeddings from the embeddings topic.
  const sweep = JSON.parse((await d4(['sweep', t.path, '--grid', 'semantic.epsilon=0.15,0.5', '--json'])).stdout.trim().split('\n').at(-1)!) as
    { points: { set: string[]; kept_fraction: number; in: number; dropped: Record<string, number> }[]; embedded_by_model: number };
  assert.equal(sweep.embedded_by_model, 0, 'every embedding came from the embeddings topic');
  assert.deepEqual(sweep.points.map((p) => p.in), [300, 300]);
  for (const p of sweep.points) assert.ok(Math.abs(p.kept_fraction - 0.5) <= 0.02, `${p.set.join(' ')}: kept ${p.kept_fraction}`);
  assert.ok((sweep.points[1]!.dropped['semantic: semantic-duplicate'] ?? 0) > (sweep.points[0]!.dropped['semantic: semantic-duplicate'] ?? 0));
});
