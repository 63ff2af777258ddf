// Integration tier: the real CLI against the real Apache Kafka broker that `npm test` starts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sharedData, tempDir, spawnCli } from '../helpers.js';
import { brokers, consumeAll, d4, namespace, readJsonl, writeTopology } from './kafka-helpers.js';

interface Decision { id: string; keep: boolean; stage: string; reason: string; duplicate_of: string | null }
interface Doc { id: string; text: string }
const EXACT = '  - { id: exact, type: exact }';

test('Kafka: the BBC file through the exact topology gives the same 2,225 decisions and 100 drops as file mode', async () => {
  const input = sharedData('bbc-news-2225.jsonl');
  const t = writeTopology(namespace('bbc'), EXACT);
  await d4(['produce', input, '--topic', t.crawl]);
  const run = await d4(['run', t.path, '--until-idle', '3000', '--json']);
  assert.equal(JSON.parse(run.stdout.trim().split('\n').at(-1)!).in, 2225);
  const viaKafka = await consumeAll<Decision>(t.decisions, 'decision');

  const out = tempDir();
  const file = await d4(['curate', input, '--out', out, '--stages', 'exact']);
  assert.ok(file.stdout.includes('2225'));
  const viaFile = readJsonl<Decision>(join(out, 'decisions.jsonl'));
  const strip = (d: Decision) => [d.id, d.keep, d.stage, d.reason, d.duplicate_of];
  assert.equal(viaKafka.length, 2225);
  assert.equal(viaKafka.filter((d) => !d.keep).length, 100);
  assert.deepEqual(viaKafka.map(strip), viaFile.map(strip), 'one partition: the same decisions in the same order');
  const curated = await consumeAll<Doc>(t.curated, 'document');
  assert.equal(curated.length, 2125);
});

test('Kafka: exact → near (topologies/dedup.yaml stages) gives the decisions of file mode, near store changelog included', async () => {
  const input = sharedData('bbc-news-2225.jsonl');
  const t = writeTopology(namespace('dedup'), `${EXACT}\n  - { id: near, type: near }`);
  // Two workers one after the other: the second restores both stores from their changelogs and
  // must still recognise copies of what the first one saw.
  const lines = readFileSync(input, 'utf8').split('\n').filter(Boolean);
  const dir = tempDir();
  writeFileSync(join(dir, 'first.jsonl'), lines.slice(0, 1100).join('\n'));
  writeFileSync(join(dir, 'second.jsonl'), lines.slice(1100).join('\n'));
  await d4(['produce', join(dir, 'first.jsonl'), '--topic', t.crawl]);
  await d4(['run', t.path, '--until-idle', '2500']);
  await d4(['produce', join(dir, 'second.jsonl'), '--topic', t.crawl]);
  const second = await d4(['run', t.path, '--until-idle', '2500']);
  assert.match(second.stderr, /tasks 0_0: set up, \d+ changelog record\(s\) restored/);
  const viaKafka = await consumeAll<Decision & { similarity: number | null }>(t.decisions, 'decision');
  const out = tempDir();
  await d4(['curate', input, '--out', out, '--stages', 'exact,near']);
  const viaFile = readJsonl<Decision>(join(out, 'decisions.jsonl'));
  const strip = (d: Decision) => [d.id, d.keep, d.stage, d.duplicate_of];
  assert.deepEqual(viaKafka.map(strip), viaFile.map(strip));
  assert.ok(viaKafka.filter((d) => d.stage === 'near').length > 0, 'near found near-duplicates');
});

test('Kafka: bad records are dead-lettered on the dead-letter topic with their origin, and in = kept + dropped + dead', async () => {
  const good = readJsonl<Doc>(sharedData('web/fineweb-300.jsonl')).slice(0, 40);
  const lines = [...good.slice(0, 20).map((d) => JSON.stringify(d)), '{"id":"broken","text":', JSON.stringify({ id: 'e', text: '' }), JSON.stringify({ text: 'no id' }), JSON.stringify({ id: 'big', text: 'y'.repeat(2_000_000) }), ...good.slice(20).map((d) => JSON.stringify(d))];
  const input = join(tempDir(), 'mixed.jsonl');
  writeFileSync(input, lines.join('\n') + '\n');
  const t = writeTopology(namespace('bad'), EXACT, { format: 'json' });
  await d4(['produce', input, '--topic', t.crawl, '--format', 'json']);
  const run = await d4(['run', t.path, '--until-idle', '3000', '--json']);
  const summary = JSON.parse(run.stdout.trim().split('\n').at(-1)!);
  assert.equal(summary.in, 44);
  assert.equal(summary.in, summary.kept + summary.dropped_total + summary.dead_lettered_total);
  const dead = await consumeAll<{ error: string; origin: { topic: string; offset: string } }>(t.deadLetter, 'dead-letter');
  assert.deepEqual(dead.map((d) => d.error).sort(), ['empty-text', 'malformed-json', 'missing-id', 'too-large']);
  assert.ok(dead.every((d) => d.origin.topic === t.crawl && /^\d+$/.test(d.origin.offset)), 'origin names topic and offset');
  assert.equal((await consumeAll(t.decisions, 'decision')).length, 40);
});

test('Kafka: SIGKILL mid-stream, restart: exactly one committed decision per document, and the restored store still knows pre-crash texts', async () => {
  const docs = readJsonl<Doc>(sharedData('bbc-news-2225.jsonl'));
  const t = writeTopology(namespace('crash'), EXACT, { partitions: 2 });
  await d4(['produce', sharedData('bbc-news-2225.jsonl'), '--topic', t.crawl, '--batch-size', '50']);

  // Small batches so that the kill lands between many committed transactions.
  const worker = spawnCli(['run', t.path, '--verbose', '--max-batch-bytes', '32768', '--window', '64'], { D4_KAFKA_BROKERS: brokers() });
  let committed = 0;
  await new Promise<void>((resolve, reject) => {
    worker.stderr.on('data', (d: Buffer) => {
      committed += (d.toString().match(/committed /g) ?? []).length;
      if (committed >= 5 && worker.exitCode === null) { worker.kill('SIGKILL'); resolve(); }
    });
    worker.on('exit', () => reject(new Error(`worker exited before it could be killed (after ${committed} batches)`)));
  });
  await new Promise((r) => worker.once('close', r));
  const before = await consumeAll<Decision>(t.decisions, 'decision');
  assert.ok(before.length > 0 && before.length < 2225, `killed mid-stream: ${before.length} decisions committed`);

  await d4(['run', t.path, '--until-idle', '3000']);
  const after = await consumeAll<Decision>(t.decisions, 'decision');
  const ids = after.map((d) => d.id);
  assert.equal(after.length, 2225, 'none lost, none repeated');
  assert.equal(new Set(ids).size, 2225);
  assert.deepEqual([...ids].sort(), docs.map((d) => d.id).sort());
  assert.equal(after.filter((d) => !d.keep).length, 100, 'the exact store survived the crash through its changelog');

  // Copies (new ids) of documents decided before the crash are still recognised after it.
  const early = before.filter((d) => d.keep).slice(0, 10).map((d) => d.id);
  const copies = docs.filter((d) => early.includes(d.id)).map((d) => ({ id: `copy-${d.id}`, text: d.text }));
  const input = join(tempDir(), 'copies.jsonl');
  writeFileSync(input, copies.map((c) => JSON.stringify(c)).join('\n'));
  await d4(['produce', input, '--topic', t.crawl]);
  await d4(['run', t.path, '--until-idle', '3000']);
  const final = await consumeAll<Decision>(t.decisions, 'decision');
  const copyDecisions = final.filter((d) => d.id.startsWith('copy-'));
  assert.equal(copyDecisions.length, 10);
  for (const d of copyDecisions) {
    assert.equal(d.keep, false, `${d.id} dropped`);
    assert.equal(d.duplicate_of, d.id.slice('copy-'.length));
  }
});

test('Kafka: SIGTERM stops a running worker cleanly: exit 0, summary printed, its work committed', async () => {
  const input = sharedData('web/fineweb-300.jsonl');
  const t = writeTopology(namespace('sigterm'), EXACT);
  await d4(['produce', input, '--topic', t.crawl]);
  const worker = spawnCli(['run', t.path, '--verbose'], { D4_KAFKA_BROKERS: brokers() });
  let stdout = '';
  worker.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  let decided = 0;
  await new Promise<void>((resolve) => {
    worker.stderr.on('data', (d: Buffer) => {
      for (const m of d.toString().matchAll(/committed .*: (\d+) decisions/g)) decided += Number(m[1]);
      if (decided >= 300) resolve();
    });
  });
  worker.kill('SIGTERM');
  const code = await new Promise((r) => worker.once('close', r));
  assert.equal(code, 0);
  assert.match(stdout, /documents in\s+300/);
  assert.equal((await consumeAll(t.decisions, 'decision')).length, 300);
});
