// Integration tier for the training feed and the export, against the real broker that `npm test`
// starts: a curated topic written by `d4 run` (transactional, 2 partitions, commit markers),
// read by the library API, by `d4 feed` on stdout (SIGKILLed midway and resumed), over HTTP,
// and exported to shards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { runCli, sharedData, tempDir, spawnCli } from '../helpers.js';
import { brokers, consumeAll, d4, namespace, startFeedServer, writeTopology } from './kafka-helpers.js';
import { feed, type FeedBatch, type FeedOptions } from '../../src/feed/index.js';
import { kafkaFeedSource } from '../../src/io/kafka/feed-source.js';

interface Line { epoch: number; batch: number; checkpoint: string; tokens: number; documents: { id: string; text: string }[] }
const KEPT = 2125;

/** The BBC file through the exact topology on 2 partitions: 2,125 kept documents on a transactional topic. */
let curatedTopic: Promise<string> | undefined;
function curated(): Promise<string> {
  curatedTopic ??= (async () => {
    const t = writeTopology(namespace('feed'), '  - { id: exact, type: exact }', { partitions: 2 });
    await d4(['produce', sharedData('bbc-news-2225.jsonl'), '--topic', t.crawl, '--partitions', '2']);
    await d4(['run', t.path, '--until-idle', '3000']);
    return t.curated;
  })();
  return curatedTopic;
}

const OPTIONS = { epochs: 2, seed: 'it', shuffleBuffer: 300, batch: { kind: 'count', size: 50 } } satisfies FeedOptions;
const CLI_OPTIONS = ['--epochs', '2', '--seed', 'it', '--shuffle-buffer', '300', '--batch-size', '50'];

async function libraryBatches(topic: string, options: FeedOptions, max = Infinity): Promise<FeedBatch[]> {
  const source = kafkaFeedSource({ brokers: [brokers()], topic });
  const out: FeedBatch[] = [];
  try {
    for await (const b of feed(source, options)) {
      out.push(b);
      if (out.length >= max) break;
    }
  } finally {
    await source.close();
  }
  return out;
}

const asLine = (b: FeedBatch): Line => JSON.parse(JSON.stringify({ epoch: b.epoch, batch: b.batch, checkpoint: b.checkpoint, tokens: b.tokens, documents: b.documents })) as Line;
const parseLines = (text: string): Line[] => text.split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l) as Line);
const idsIn = (ls: Line[], epoch: number) => ls.filter((l) => l.epoch === epoch).flatMap((l) => l.documents.map((d) => d.id));

function assertExactlyOncePerEpoch(ls: Line[], expected: string[], label: string): void {
  for (const e of [0, 1]) {
    const ids = idsIn(ls, e);
    assert.equal(ids.length, expected.length, `${label}: epoch ${e} has ${ids.length} documents`);
    assert.deepEqual([...ids].sort(), expected, `${label}: epoch ${e} has each kept document once`);
  }
}

test('feed (library): two epochs over a curated topic deliver every kept document exactly once per epoch, in a different order; a stop after k batches resumes exactly', async () => {
  const topic = await curated();
  const expected = (await consumeAll<{ id: string }>(topic, 'document')).map((d) => d.id).sort();
  assert.equal(expected.length, KEPT);
  const full = (await libraryBatches(topic, OPTIONS)).map(asLine);
  assertExactlyOncePerEpoch(full, expected, 'uninterrupted');
  assert.notDeepEqual(idsIn(full, 0), idsIn(full, 1), 'each epoch has its own order');
  assert.equal(full.length, 2 * Math.ceil(KEPT / 50));

  // A trainer that stops after k batches (mid-epoch 0, at the epoch boundary, mid-epoch 1) and restarts from the token.
  for (const k of [7, 43, 60]) {
    const first = (await libraryBatches(topic, OPTIONS, k)).map(asLine);
    const rest = (await libraryBatches(topic, { epochs: 2, resume: first.at(-1)!.checkpoint })).map(asLine);
    assertExactlyOncePerEpoch([...first, ...rest], expected, `stopped after ${k}`);
    assert.deepEqual([...first, ...rest], full, `stopped after ${k}: the same batches as the uninterrupted run`);
  }
});

test('feed (CLI): SIGKILL a `d4 feed` midway, resume from the last complete line\'s checkpoint: exactly once per epoch, the same batches as the library', async () => {
  const topic = await curated();
  const expected = (await libraryBatches(topic, OPTIONS)).map(asLine);
  const child = spawnCli(['feed', '--topic', topic, ...CLI_OPTIONS], { D4_KAFKA_BROKERS: brokers() });
  let stdout = '';
  child.stdout.setEncoding('utf8'); // a character split across two chunks is decoded whole
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: string) => {
      stdout += d;
      // Stdout is a pipe: the child blocks once the reader falls behind, so it is at most a line or two ahead.
      if ((stdout.match(/\n/g) ?? []).length >= 20 && child.exitCode === null) { child.kill('SIGKILL'); resolve(); }
    });
    child.on('exit', (code, signal) => { if (signal !== 'SIGKILL') reject(new Error(`d4 feed exited (${code}) before it could be killed`)); });
  });
  await new Promise((r) => child.once('close', r));
  const complete = stdout.slice(0, stdout.lastIndexOf('\n') + 1);
  const before = parseLines(complete);
  assert.ok(before.length >= 20 && before.length < 43, `killed in epoch 0 after ${before.length} batches`);

  const after = await runCli(['feed', '--topic', topic, '--epochs', '2', '--resume', before.at(-1)!.checkpoint], { env: { D4_KAFKA_BROKERS: brokers() } });
  assert.equal(after.code, 0, after.stderr);
  const all = [...before, ...parseLines(after.stdout)];
  assertExactlyOncePerEpoch(all, expected.filter((l) => l.epoch === 0).flatMap((l) => l.documents.map((d) => d.id)).sort(), 'killed and resumed');
  assert.deepEqual(all, expected, 'the CLI prints the library\'s batches, and the resumed run continues them');
  assert.match(after.stderr, /skipping the \d+ records already delivered/);
});

test('feed (CLI): --batch-tokens batches within the budget, the same as the library\'s; --max-batches stops early', async () => {
  const topic = await curated();
  const options = { seed: 'tok', shuffleBuffer: 500, batch: { kind: 'tokens', tokens: 8000 } } satisfies FeedOptions;
  const expected = (await libraryBatches(topic, options, 25)).map(asLine);
  const r = await runCli(['feed', '--topic', topic, '--seed', 'tok', '--shuffle-buffer', '500', '--batch-tokens', '8000', '--max-batches', '25'], { env: { D4_KAFKA_BROKERS: brokers() } });
  assert.equal(r.code, 0, r.stderr);
  const got = parseLines(r.stdout);
  assert.deepEqual(got, expected);
  assert.match(r.stderr, /--max-batches 25 reached: 25 batches/);
  for (const b of got) {
    assert.equal(b.tokens, b.documents.reduce((s, d) => s + Math.ceil(Buffer.byteLength(d.text) / 4), 0), 'tokens = Σ ⌈UTF-8 bytes / 4⌉');
    assert.ok(b.tokens <= 8000 || b.documents.length === 1, `batch ${b.batch}: ${b.tokens} tokens in ${b.documents.length} documents`);
  }
});

test('feed (HTTP): /batches serves the library\'s batch sequence for the same seed, resumes from ?resume=, and refuses a token that does not fit', async () => {
  const topic = await curated();
  const expected = (await libraryBatches(topic, OPTIONS)).map(asLine);
  const server = await startFeedServer(['--topic', topic, ...CLI_OPTIONS]);
  try {
    const all = await fetch(server.url);
    assert.equal(all.status, 200);
    assert.match(all.headers.get('content-type') ?? '', /application\/x-ndjson/);
    assert.deepEqual(parseLines(await all.text()), expected, 'identical batch sequence');

    const k = 30;
    const rest = await fetch(`${server.url}?resume=${encodeURIComponent(expected[k - 1]!.checkpoint)}`);
    assert.equal(rest.status, 200);
    assert.deepEqual(parseLines(await rest.text()), expected.slice(k), 'resumed after batch 30');

    const three = await fetch(`${server.url}?max_batches=3`);
    assert.deepEqual(parseLines(await three.text()), expected.slice(0, 3));

    const bad = await fetch(`${server.url}?resume=not-a-token`);
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /not a d4 feed checkpoint/);
    // A token of another seed: this server was started with --seed it.
    const otherSeed = (await libraryBatches(topic, { ...OPTIONS, seed: 'other' }, 1))[0]!.checkpoint;
    const mismatch = await fetch(`${server.url}?resume=${otherSeed}`);
    assert.equal(mismatch.status, 400);
    assert.match(((await mismatch.json()) as { error: string }).error, /seed "other", not "it"/);
    assert.equal((await fetch(server.url.replace('/batches', '/nope'))).status, 404);
    assert.equal((await fetch(server.url.replace('/batches', '/healthz'))).status, 200);

    // A client that reads one batch and hangs up releases its feed; the server keeps serving.
    const partial = await fetch(server.url);
    const reader = partial.body!.getReader();
    await reader.read();
    await reader.cancel();
    const again = await fetch(`${server.url}?max_batches=2`);
    assert.deepEqual(parseLines(await again.text()), expected.slice(0, 2));
  } finally {
    server.child.kill('SIGTERM');
  }
  // SIGTERM must stop the server promptly (its feeds' consumers leave their groups first).
  const stopped = new Promise((r) => server.child.once('close', r));
  const timer = setTimeout(() => server.child.kill('SIGKILL'), 15_000);
  const code = await stopped;
  clearTimeout(timer);
  assert.equal(code, 0, `exit ${code} after SIGTERM:\n${server.stderr()}`);
});

test('feed: an empty topic gives no batches and ends; a token for another topic or a missing topic is a usage error', async () => {
  const empty = `${namespace('feed-empty')}.curated`;
  const dir = tempDir();
  const none = join(dir, 'none.jsonl');
  (await import('node:fs')).writeFileSync(none, '');
  await d4(['produce', none, '--topic', empty, '--partitions', '3']);
  const r = await runCli(['feed', '--topic', empty, '--epochs', '2'], { env: { D4_KAFKA_BROKERS: brokers() } });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '');

  const topic = await curated();
  const token = (await libraryBatches(topic, OPTIONS, 1))[0]!.checkpoint;
  const other = await runCli(['feed', '--topic', empty, '--resume', token], { env: { D4_KAFKA_BROKERS: brokers() } });
  assert.equal(other.code, 2);
  assert.match(other.stderr, new RegExp(`checkpoint token is for kafka:${topic.replace(/\./g, '\\.')}, not kafka:`));
  const missing = await runCli(['feed', '--topic', `${namespace('nope')}.x`], { env: { D4_KAFKA_BROKERS: brokers() } });
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /does not exist/);
});

test('export --topic: shards round-trip to the topic\'s documents (JSONL.gz and Parquet); manifest counts and sha256 match', async () => {
  const topic = await curated();
  const docs = await consumeAll<Record<string, unknown>>(topic, 'document');
  const byId = new Map(docs.map((d) => [d.id as string, d]));
  const out = join(tempDir(), 'export');
  const r = await runCli(['export', '--topic', topic, '--out', out, '--shard-docs', '500', '--parquet'], { env: { D4_KAFKA_BROKERS: brokers() } });
  assert.equal(r.code, 0, r.stderr);
  const m = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as {
    documents: number; refused: number; source: { kind: string; topic: string; partitions: { partition: number }[] };
    shards: { documents: number; files: { format: string; path: string; bytes: number; sha256: string }[] }[];
  };
  assert.equal(m.documents, KEPT);
  assert.equal(m.refused, 0);
  assert.equal(m.source.kind, 'kafka');
  assert.equal(m.source.topic, topic);
  assert.deepEqual(m.source.partitions.map((p) => p.partition), [0, 1]);
  assert.deepEqual(m.shards.map((s) => s.documents), [500, 500, 500, 500, 125]);
  const sums = readFileSync(join(out, 'SHA256SUMS'), 'utf8');
  const jsonl: Record<string, unknown>[] = [];
  const parquet: Record<string, unknown>[] = [];
  const name: string = 'hyparquet';
  const { parquetReadObjects } = (await import(name)) as { parquetReadObjects(o: { file: ArrayBuffer }): Promise<Record<string, unknown>[]> };
  for (const s of m.shards) {
    for (const f of s.files) {
      const bytes = readFileSync(join(out, f.path));
      assert.equal(bytes.length, f.bytes);
      const sha = createHash('sha256').update(bytes).digest('hex');
      assert.equal(sha, f.sha256, `${f.path}: sha256`);
      assert.ok(sums.includes(`${sha}  ${f.path}\n`), `${f.path} in SHA256SUMS`);
      if (f.format === 'jsonl.gz') {
        const lines = gunzipSync(bytes).toString('utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
        assert.equal(lines.length, s.documents);
        jsonl.push(...lines);
      } else {
        const rows = await parquetReadObjects({ file: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer });
        assert.equal(rows.length, s.documents);
        parquet.push(...rows.map((x) => ({ ...x, fetched_at: x.fetched_at instanceof Date ? x.fetched_at.getTime() : x.fetched_at, metadata: JSON.parse(x.metadata as string) as unknown })));
      }
    }
  }
  assert.equal(new Set(jsonl.map((d) => d.id)).size, KEPT, 'each kept document once');
  for (const d of jsonl) assert.deepEqual(d, byId.get(d.id as string), `${d.id as string}: the topic's document`);
  assert.deepEqual(parquet, jsonl, 'Parquet shards hold the same documents in the same order');
  // Topic order: partitions round-robin, each in offset order, i.e. the feed's order with no shuffle.
  const unshuffled = (await libraryBatches(topic, { shuffleBuffer: 1, batch: { kind: 'count', size: 1000 } })).flatMap((b) => b.documents.map((d) => d.id));
  assert.deepEqual(jsonl.map((d) => d.id), unshuffled);
});
