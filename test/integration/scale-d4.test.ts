// The whole D4 topology scaled out, with a real model: selection on one set of centroids, and
// the split deployment (embed on "GPU" workers, selection on a CPU worker that never calls the model).
// The model is the static one (distilled from MiniLM by scripts/setup-model.mjs, ~100× faster on a
// CPU): these tests are about the runtime, and four MiniLM processes on CI's 2 cores took 54 min.
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers.js';
import { consumeAll, d4, namespace, writeTopology } from './kafka-helpers.js';
import { killStrays, mixedCorpus, startWorker } from './scale-helpers.js';

afterEach(killStrays);

type Decision = { id: string; keep: boolean; stage: string; reason: string; centroid_version: number | null };

const corpus = mixedCorpus(['web/fineweb-300.jsonl', 'plagiarism-clough-100.jsonl']);
const N = corpus.docs.length;
const TARGET = 0.5;
const SELECT = `  - { id: semantic, type: semantic, options: { epsilon: 0.15, expectedDocs: 500, seed: 7 } }
  - { id: prototype, type: prototype, options: { targetRatio: ${TARGET}, expectedDocs: 500, seed: 7 } }`;
const EMBED = '  - { id: embed, type: embed, options: { model: static } }';
const D4 = `  - { id: exact, type: exact }
  - { id: near, type: near }
${EMBED}
${SELECT}`;
const summaryOf = (stdout: string) => JSON.parse(stdout.trim().split('\n').at(-1)!) as { in: number; kept: number; embed: { embedded: number; cache_hits: number; carried: number } };
const runArgs = (path: string, app: string) => ['run', path, '--app-id', app, '--window', '64', '--linger-ms', '300', '--until-idle', '15000', '--json'];

test('scale-out D4: 3 workers, one set of centroids: one decision per document, kept fraction on target, the semantic drops of one worker', async () => {
  const t = writeTopology(namespace('d4x3'), D4, { partitions: 6 });
  await d4(['produce', corpus.path, '--topic', t.crawl, '--partitions', '6']);
  const workers = [0, 1, 2].map(() => startWorker(runArgs(t.path, t.app)));
  const codes = await Promise.all(workers.map((w) => w.exited));
  assert.deepEqual(codes, [0, 0, 0], workers.map((w) => w.stderr.slice(-2000)).join('\n----\n'));
  const decisions = await consumeAll<Decision>(t.decisions, 'decision');
  assert.equal(decisions.length, N, 'one decision per document');
  assert.equal(new Set(decisions.map((d) => d.id)).size, N);
  const kept = decisions.filter((d) => d.keep).length;
  assert.ok(Math.abs(kept / N - TARGET) <= 0.02, `kept fraction ${(kept / N).toFixed(3)} within ±0.02 of ${TARGET}`);
  const selected = decisions.filter((d) => d.keep || d.stage === 'semantic' || d.stage === 'prototype');
  assert.ok(selected.length > 0 && selected.every((d) => d.centroid_version !== null), 'every selection decision names its centroid version');
  // One owner: the selection sub-topology has one task (it may move between workers while they join, never be run twice: exactly once above).
  assert.match((await d4(['describe', t.path])).stdout, /Sub-topology 4: semantic \[semantic → prototype\], 1 task\(s\)/);
  assert.ok(workers.some((w) => /tasks [^\n]*\b4_0\b[^\n]*: set up/.test(w.stderr)), 'a worker ran the centroids task 4_0');
  const models = workers.map((w) => summaryOf(w.stdout).embed.embedded);
  assert.ok(models.filter((n) => n > 0).length >= 2, `the model ran on several workers: ${models.join(', ')}`);

  // The same input on one worker (another application id, other output topics).
  const one = writeTopology(`${t.app}-one`, D4, { partitions: 6 });
  const yaml = join(tempDir(), 'one.yaml');
  writeFileSync(yaml, `name: one\nsource: { topic: ${t.crawl}, format: avro, partitions: 6 }\nstages:\n${D4}\nsinks:\n  decisions: { topic: ${one.decisions} }\n  kept: { topic: ${one.curated} }\n  dead_letter: { topic: ${one.deadLetter} }\n`);
  const single = startWorker(runArgs(yaml, `${t.app}-one`));
  assert.equal(await single.exited, 0, single.stderr.slice(-2000));
  const reference = await consumeAll<Decision>(one.decisions, 'decision');
  assert.equal(reference.length, N);
  const semantic = (ds: Decision[]) => new Set(ds.filter((d) => d.stage === 'semantic').map((d) => d.id));
  const [a, b] = [semantic(decisions), semantic(reference)];
  const overlap = [...a].filter((id) => b.has(id)).length / Math.max(a.size, b.size, 1);
  console.log(`semantic drops: 3 workers ${a.size}, one worker ${b.size}, overlap ${(100 * overlap).toFixed(1)}%`);
  assert.ok(b.size > 0, 'the corpus has semantic duplicates');
  assert.ok(overlap >= 0.9, `semantic drops overlap ${(100 * overlap).toFixed(1)}% ≥ 90% with one worker`);
});

test('split deployment: 2 embed workers + 1 select worker; the select side never calls the model, even for documents embedded after it started', async () => {
  const ns = namespace('split');
  const dir = tempDir();
  const embedYaml = join(dir, 'embed.yaml');
  const selectYaml = join(dir, 'select.yaml');
  writeFileSync(embedYaml, `name: embed\nsource: { topic: ${ns}.crawl, format: avro, partitions: 6 }
stages:\n  - { id: exact, type: exact }\n  - { id: near, type: near }\n${EMBED}
sinks:\n  decisions: { topic: ${ns}.decisions.dedup }\n  kept: { topic: ${ns}.embedded }\n  dead_letter: { topic: ${ns}.dlq }\n  embeddings: { topic: ${ns}.embeddings }\n`);
  writeFileSync(selectYaml, `name: select\nsource: { topic: ${ns}.embedded, format: embedded, partitions: 6 }
stages:\n${EMBED}\n${SELECT}
sinks:\n  decisions: { topic: ${ns}.decisions }\n  kept: { topic: ${ns}.curated }\n  dead_letter: { topic: ${ns}.dlq }\n  embeddings: { topic: ${ns}.embeddings }\n`);
  // The select worker starts first: everything it reads is embedded after it started. It runs
  // until stopped (the embed side may be slower than any idle timeout), and is stopped once it
  // has decided every document the embed side passed.
  const select = startWorker(runArgs(selectYaml, `${ns}-select`).filter((a, i, all) => a !== '--until-idle' && all[i - 1] !== '--until-idle'));
  await new Promise((r) => setTimeout(r, 3_000));
  await d4(['produce', corpus.path, '--topic', `${ns}.crawl`, '--partitions', '6']);
  const embedders = [0, 1].map(() => startWorker(runArgs(embedYaml, `${ns}-embed`)));
  // Bounded: a worker that does not go idle is stopped (and the test fails) instead of hanging the suite.
  const guard = setTimeout(() => { for (const w of [...embedders, select]) w.child.kill('SIGKILL'); }, 420_000);
  const codes = await Promise.all(embedders.map((w) => w.exited)).finally(() => clearTimeout(guard));
  assert.deepEqual(codes, [0, 0], embedders.map((w) => w.stderr.slice(-1500)).join('\n----\n'));
  const dedup = await consumeAll<Decision>(`${ns}.decisions.dedup`, 'decision');
  const passed = dedup.filter((d) => d.keep).length;
  for (const t0 = Date.now(); (await consumeAll<Decision>(`${ns}.decisions`, 'decision')).length < passed;) {
    if (Date.now() - t0 > 300_000 || select.child.exitCode !== null) throw new Error(`the select side did not decide ${passed} documents: ${select.stderr.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 1_000));
  }
  select.child.kill('SIGTERM');
  assert.equal(await select.exited, 0, select.stderr.slice(-1500));
  const s = summaryOf(select.stdout);
  const selected = await consumeAll<Decision>(`${ns}.decisions`, 'decision');
  assert.equal(s.embed.embedded, 0, 'the select side called the model 0 times');
  assert.equal(s.embed.carried, passed, 'every document reached it with its vector');
  assert.ok(embedders.reduce((n, w) => n + summaryOf(w.stdout).embed.embedded, 0) >= passed, 'the embed side embedded them');
  assert.equal(selected.length, passed, 'one selection decision per embedded document');
  assert.equal(dedup.filter((d) => !d.keep).length + selected.length, N, 'every document decided once across both halves');
});
