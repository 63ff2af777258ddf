// Integration tier for the faults of issue 12 found by an outside probe, against the real broker
// `npm test` starts: the poison-topic guard (a Confluent-framed topic read without --schema-id
// stops before committing; the rerun with it decides everything), documents leaving the Kafka
// path exactly as they came in, and dead-letter reasons that name what happened.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, sharedData, tempDir } from '../helpers.js';
import { brokers, consumeAll, d4, namespace, writeTopology } from './kafka-helpers.js';
import { createKafka } from '../../src/io/kafka/client.js';

interface Decision { id: string; keep: boolean }
type Doc = Record<string, unknown> & { id: string };
const EXACT = '  - { id: exact, type: exact }';
const env = () => ({ D4_KAFKA_BROKERS: brokers() });

/** The consumer group's committed offsets on a topic ('-1': none). */
async function committedOffsets(group: string, topic: string): Promise<string[]> {
  const admin = createKafka([brokers()], 'it-offsets').admin();
  await admin.connect();
  try {
    const r = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    return r.flatMap((t) => t.partitions.map((p) => p.offset));
  } finally {
    await admin.disconnect();
  }
}

test('poison guard: a framed topic read without --schema-id stops (exit 1) naming --schema-id, commits nothing; the rerun with --schema-id decides all 2,225; feed and export of a framed topic without it stop too', async () => {
  const t = writeTopology(namespace('poison'), EXACT, { partitions: 2 });
  await d4(['produce', sharedData('bbc-news-2225.jsonl'), '--topic', t.crawl, '--partitions', '2', '--schema-id', '7']);

  const bad = await runCli(['run', t.path, '--until-idle', '3000'], { env: env() });
  assert.equal(bad.code, 1, `exit ${bad.code}:\n${bad.stderr}`);
  assert.match(bad.stderr, /poison-topic guard: all \d+ records of .*\.crawl\[[01]\] offsets 0-\d+ failed/);
  assert.match(bad.stderr, /--schema-id 7/, 'names the option and the id the records carry');
  assert.match(bad.stderr, /Nothing of this window was committed/);
  assert.doesNotMatch(bad.stderr, /\n\s+at /, 'a message, not a stack trace');
  assert.deepEqual(await committedOffsets(t.app, t.crawl), ['-1', '-1'], 'no offset committed');
  assert.equal((await runCli(['consume', '--topic', t.decisions, '--as', 'decision', '--schema-id', '7', '--idle-ms', '1500'], { env: env() })).stdout, '', 'no decision committed');
  assert.equal((await runCli(['consume', '--topic', t.deadLetter, '--as', 'dead-letter', '--idle-ms', '1500'], { env: env() })).stdout, '', 'no dead letter committed');

  const good = await d4(['run', t.path, '--until-idle', '3000', '--schema-id', '7', '--json']);
  const summary = JSON.parse(good.stdout.trim().split('\n').at(-1)!) as { in: number; kept: number; dead_lettered_total: number };
  assert.equal(summary.in, 2225);
  assert.equal(summary.dead_lettered_total, 0);
  const decisions = (await d4(['consume', '--topic', t.decisions, '--as', 'decision', '--schema-id', '7', '--idle-ms', '2500'])).stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Decision);
  assert.equal(decisions.length, 2225);
  assert.equal(new Set(decisions.map((d) => d.id)).size, 2225, 'one decision per document');
  assert.equal(decisions.filter((d) => !d.keep).length, 100);

  // The curated topic is framed too (the worker writes with --schema-id 7): read without it.
  const feed = await runCli(['feed', '--topic', t.curated, '--epochs', '1'], { env: env() });
  assert.equal(feed.code, 1, feed.stderr);
  assert.equal(feed.stdout, '', 'no batch delivered');
  assert.match(feed.stderr, /poison-topic guard: all 1024 records of kafka:.*\.curated .*--schema-id 7/s);
  const out = join(tempDir(), 'export');
  const exp = await runCli(['export', '--topic', t.curated, '--out', out], { env: env() });
  assert.equal(exp.code, 1, exp.stderr);
  assert.match(exp.stderr, /poison-topic guard: all 1024 records of .*\.curated .*--schema-id 7/s);
  assert.ok(!existsSync(join(out, 'manifest.json')), 'no manifest: not a complete export');
  const ok = await runCli(['feed', '--topic', t.curated, '--epochs', '1', '--schema-id', '7', '--batch-size', '500'], { env: env() });
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout.split('\n').filter(Boolean).flatMap((l) => (JSON.parse(l) as { documents: unknown[] }).documents).length, 2125);
});

test('Kafka path: curated documents are the produced documents, field by field (BBC; no metadata.fetched_at); tombstones, empty and JSON records get named dead-letter reasons and a warning', async () => {
  const t = writeTopology(namespace('fields'), EXACT);
  await d4(['produce', sharedData('bbc-news-2225.jsonl'), '--topic', t.crawl]);
  // Three records that are not documents, as another producer might write them.
  const producer = createKafka([brokers()], 'it-faults').producer();
  await producer.connect();
  await producer.send({ topic: t.crawl, messages: [
    { key: 'gone', value: null },
    { key: 'empty', value: Buffer.alloc(0) },
    { key: 'json', value: Buffer.from('{"id":"json","text":"JSON on an Avro topic"}') },
  ] });
  await producer.disconnect();

  const run = await d4(['run', t.path, '--until-idle', '3000', '--json']);
  assert.match(run.stderr, /warning: 3 record\(s\) dead-lettered \((empty-record|not-avro|tombstone) 1, (empty-record|not-avro|tombstone) 1, (empty-record|not-avro|tombstone) 1\)/);
  const dead = await consumeAll<{ id: string; error: string; message: string; stage: string }>(t.deadLetter, 'dead-letter');
  assert.deepEqual(dead.map((d) => [d.id, d.error]).sort(), [['empty', 'empty-record'], ['gone', 'tombstone'], ['json', 'not-avro']]);
  assert.match(dead.find((d) => d.id === 'json')!.message, /looks like JSON.*--format json/);

  const produced = await consumeAll<Doc>(t.crawl, 'document');
  const byId = new Map(produced.filter((d) => typeof d.id === 'string').map((d) => [d.id, d]));
  const curated = await consumeAll<Doc>(t.curated, 'document');
  assert.equal(curated.length, 2125);
  for (const c of curated) {
    const p = byId.get(c.id);
    assert.ok(p, `${c.id} was produced`);
    assert.deepEqual(Object.keys(c), ['id', 'url', 'fetched_at', 'content_type', 'language', 'text', 'metadata']);
    for (const k of Object.keys(c)) assert.deepEqual(c[k], p[k], `${c.id}: field ${k}`);
  }
  assert.ok(curated.every((c) => !('fetched_at' in (c.metadata as object))), 'no fetched_at copied into metadata');
  assert.deepEqual(curated[0]!.metadata, { topic: 'business' }, 'the input\'s other fields, as produced');
});

test('poison guard: --max-dead-share 0.2 stops a JSON topic with 30% bad records before committing; the default (only "all") curates it with a warning', async () => {
  const t = writeTopology(namespace('share'), EXACT, { format: 'json' });
  const lines = Array.from({ length: 20 }, (_, i) => (i % 10 < 3 ? `{"id": "bad-${i}", "text": ` : JSON.stringify({ id: `d${i}`, text: `document number ${i}` })));
  const input = join(tempDir(), 'share.jsonl');
  (await import('node:fs')).writeFileSync(input, lines.join('\n') + '\n');
  await d4(['produce', input, '--topic', t.crawl, '--format', 'json']);

  const strict = await runCli(['run', t.path, '--until-idle', '2500', '--max-dead-share', '0.2'], { env: env() });
  assert.equal(strict.code, 1, strict.stderr);
  assert.match(strict.stderr, /poison-topic guard: 6 of 20 records \(30\.0%, more than the allowed 20\.0%\) of .*\.crawl\[0\] offsets 0-19 failed \(malformed-json 6\)/);
  assert.match(strict.stderr, /--format avro/, 'malformed JSON points at the format');
  assert.deepEqual(await committedOffsets(t.app, t.crawl), ['-1']);
  const bad = await runCli(['run', t.path, '--max-dead-share', '2'], { env: env() });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--max-dead-share must be a share between 0 and 1/);

  const lenient = await d4(['run', t.path, '--until-idle', '2500', '--json']);
  const summary = JSON.parse(lenient.stdout.trim().split('\n').at(-1)!) as { in: number; kept: number; dead_lettered_total: number };
  assert.deepEqual([summary.in, summary.kept, summary.dead_lettered_total], [20, 14, 6]);
  assert.match(lenient.stderr, /warning: 6 record\(s\) dead-lettered \(malformed-json 6\); read them with d4 consume --topic .*\.dlq --as dead-letter/);
});
