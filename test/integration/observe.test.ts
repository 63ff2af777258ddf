// Integration tier: `d4 run --metrics-port` against the real broker; /metrics parsed by
// Python's prometheus_client, /readyz before and after the restore, the dashboard in a real
// headless chromium.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { root, sharedData, tempDir, spawnCli } from '../helpers.js';
import { brokers, d4, namespace, writeTopology } from './kafka-helpers.js';
import { inspectPage, parseExposition, sampleValue, type PromSample } from '../observe-tools.js';

const DEDUP = '  - { id: exact, type: exact }\n  - { id: near, type: near }';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function get(url: string): Promise<{ status: number; body: string; at: number }> {
  const r = await fetch(url);
  return { status: r.status, body: await r.text(), at: Date.now() };
}

/** Total of every sample of a counter (any labels). */
const sum = (s: readonly PromSample[], name: string) => s.filter((x) => x.name === name).reduce((a, x) => a + (typeof x.value === 'number' ? x.value : 0), 0);

test('d4 run --metrics-port: /metrics parses (prometheus_client) during and after the run and agrees with the summary; /readyz turns ready only after the restore; the dashboard shows it in chromium', async (t0) => {
  const lines = readFileSync(sharedData('bbc-news-2225.jsonl'), 'utf8').split('\n').filter(Boolean);
  const bad = ['{"id":"broken","text":', JSON.stringify({ id: 'empty', text: '' }), JSON.stringify({ text: 'no id' }), JSON.stringify({ id: 'big', text: 'y'.repeat(2_000_000) })];
  const dir = tempDir();
  writeFileSync(join(dir, 'first.jsonl'), lines.slice(0, 1100).join('\n') + '\n');
  writeFileSync(join(dir, 'second.jsonl'), [...lines.slice(1100, 1600), ...bad, ...lines.slice(1600)].join('\n') + '\n');
  const t = writeTopology(namespace('observe'), DEDUP, { partitions: 2, format: 'json' });

  // A first worker leaves changelogs behind, so the second one has a restore to do.
  await d4(['produce', join(dir, 'first.jsonl'), '--topic', t.crawl, '--format', 'json', '--partitions', '2']);
  await d4(['run', t.path, '--until-idle', '2500']);
  await d4(['produce', join(dir, 'second.jsonl'), '--topic', t.crawl, '--format', 'json']);

  const worker = spawnCli(['run', t.path, '--metrics-port', '0', '--metrics-hold', '120000', '--until-idle', '8000', '--window', '128', '--json'], { D4_KAFKA_BROKERS: brokers() });
  let stdout = '';
  let stderr = '';
  worker.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  t0.after(() => { if (worker.exitCode === null) worker.kill('SIGKILL'); });
  const url = await new Promise<string>((resolve, reject) => {
    worker.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /metrics at (http:\/\/\S+)\/metrics/.exec(stderr);
      if (m) resolve(m[1]!);
    });
    worker.once('exit', (code) => reject(new Error(`worker exited (${code}) before serving metrics:\n${stderr}`)));
  });
  const closed = new Promise<number | null>((r) => worker.once('close', r));

  // /readyz as fast as it answers, and /metrics every few hundred ms, until the run has ended.
  const readiness: { status: number; at: number }[] = [];
  const during: string[] = [];
  const ended = () => stderr.includes('run ended; serving the final metrics');
  const poll = (async () => {
    while (!ended()) {
      readiness.push(await get(`${url}/readyz`));
      await sleep(20);
    }
  })();
  const scrape = (async () => {
    while (!ended()) {
      during.push((await get(`${url}/metrics`)).body);
      await sleep(250);
    }
  })();
  await Promise.all([poll, scrape]);
  const after = await get(`${url}/metrics`);
  assert.equal(after.status, 200);
  assert.match((await get(`${url}/healthz`)).body, /ok/);
  assert.equal((await get(`${url}/readyz`)).status, 503, 'not ready once the run has ended');

  // Readiness: not ready while starting and restoring, ready only after the restore was logged.
  const restoredLine = /^\[d4\] (\S+) tasks [^\n]*: set up, (\d+) changelog record\(s\) restored/m.exec(stderr);
  assert.ok(restoredLine, `the second worker restored its stores:\n${stderr}`);
  const restoredAt = Date.parse(restoredLine[1]!);
  const firstReady = readiness.find((r) => r.status === 200);
  assert.ok(firstReady, `/readyz never answered 200: ${readiness.map((r) => r.status).join(' ')}`);
  const notReady = readiness.filter((r) => r.at < firstReady.at);
  assert.ok(notReady.length > 0 && notReady.every((r) => r.status === 503), 'answers before the first 200 are all 503');
  assert.ok(notReady.some((r) => r.at < restoredAt), `a 503 was seen before the restore completed (${new Date(restoredAt).toISOString()})`);
  assert.ok(firstReady.at >= restoredAt, 'ready only after the restore');

  // Every exposition parses with the reference parser; counters never go down.
  assert.ok(during.length >= 2, `scraped ${during.length} times during the run`);
  const parsedDuring = await Promise.all(during.map(parseExposition));
  const final = await parseExposition(after.body);
  let previous = 0;
  for (const s of [...parsedDuring, final]) {
    const n = sum(s, 'd4_documents_in_total');
    assert.ok(n >= previous, 'd4_documents_in_total is monotonic');
    previous = n;
  }
  assert.ok(parsedDuring.some((s) => sum(s, 'd4_documents_in_total') < 1129), 'a scrape saw the run before its end');

  // The browser: the dashboard's charts have data and its figures are the final metrics'.
  const shot = join(tempDir(), 'dashboard.png');
  const page = await inspectPage(`${url}/`, shot, 2); // drawn, then redrawn from /api/view
  assert.ok(page.charts.length >= 6, `charts: ${page.charts.map((c) => c.id).join(', ')}`);
  for (const c of page.charts) {
    assert.ok(c.canvas, `${c.id} is drawn`);
    assert.ok(c.points > 0, `${c.id} has data points`);
  }
  assert.deepEqual(page.errors, [], 'no console error');
  const shown = page.stats;
  assert.ok(statSync(shot).size > 10_000, 'a screenshot was written');
  if (process.env.D4_UPDATE_SCREENSHOTS) copyFileSync(shot, join(root, 'docs', 'dashboard.png'));

  worker.kill('SIGTERM'); // ends the --metrics-hold wait
  assert.equal(await closed, 0, stderr);
  const summary = JSON.parse(stdout.trim().split('\n').at(-1)!) as { in: number; kept: number; dropped: Record<string, number>; dropped_total: number; dead_lettered: Record<string, number>; dead_lettered_total: number };

  // The counters agree with the run's summary.
  assert.equal(summary.in, 1129, stderr);
  assert.equal(sum(final, 'd4_documents_in_total'), summary.in, after.body.split('\n').filter((l) => /^d4_(documents|input_records|windows)/.test(l)).join('\n'));
  assert.equal(sum(final, 'd4_documents_kept_total'), summary.kept);
  assert.equal(sum(final, 'd4_documents_dropped_total'), summary.dropped_total);
  for (const [key, n] of Object.entries(summary.dropped)) {
    const [stage, reason] = key.split(': ');
    assert.equal(sampleValue(final, 'd4_documents_dropped_total', { stage: stage!, reason: reason! }), n, key);
  }
  assert.deepEqual(Object.keys(summary.dead_lettered).sort(), ['empty-text', 'malformed-json', 'missing-id', 'too-large']);
  for (const [reason, n] of Object.entries(summary.dead_lettered)) {
    assert.equal(sum(final.filter((s) => s.labels['reason'] === reason), 'd4_dead_letters_total'), n, reason);
  }
  assert.equal(sampleValue(final, 'd4_decision_latency_seconds_count'), summary.in - summary.dead_lettered_total, 'one latency per decision');
  assert.equal(sampleValue(final, 'd4_stage_documents_in_total', { stage: 'exact' }), summary.in - summary.dead_lettered_total);
  assert.equal(sampleValue(final, 'd4_stage_documents_out_total', { stage: 'near' }), summary.kept);
  assert.ok((sampleValue(final, 'd4_store_restore_records', { store: 'exact-seen' }) ?? 0) > 0, 'restore recorded');
  assert.ok((sampleValue(final, 'd4_store_entries', { store: 'near-lsh' }) ?? 0) > 0);
  assert.equal(sum(final, 'd4_input_records_total'), 1129);

  // The dashboard showed the same figures.
  assert.equal(Number(shown.documents_in), summary.in);
  assert.equal(Number(shown.kept), summary.kept);
  assert.equal(Number(shown.dropped), summary.dropped_total);
  assert.equal(Number(shown.dead_lettered), summary.dead_lettered_total);
  assert.ok(Math.abs(Number(shown.kept_fraction) - summary.kept / (summary.in - summary.dead_lettered_total)) < 1e-3);
});

test('d4 feed --serve --metrics-port: the documents a trainer received are the ones /metrics counts', async (t0) => {
  const topic = `${namespace('feed-metrics')}.curated`;
  await d4(['produce', sharedData('web/fineweb-300.jsonl'), '--topic', topic]);
  const server = spawnCli(['feed', '--topic', topic, '--serve', '0', '--metrics-port', '0', '--batch-size', '32'], { D4_KAFKA_BROKERS: brokers() });
  t0.after(() => { if (server.exitCode === null) server.kill('SIGKILL'); });
  let stderr = '';
  const urls = await new Promise<{ feed: string; metrics: string }>((resolve, reject) => {
    server.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /metrics at (http:\/\/\S+)\/metrics/.exec(stderr);
      const f = /serving (http:\/\/\S+)/.exec(stderr);
      if (m && f) resolve({ metrics: m[1]!, feed: f[1]! });
    });
    server.once('exit', (code) => reject(new Error(`feed exited (${code}):\n${stderr}`)));
  });
  assert.equal((await get(`${urls.metrics}/readyz`)).status, 200);
  const base = new URL(urls.feed);
  const lines = (await get(`${base.origin}/batches`)).body.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { documents: unknown[]; tokens: number });
  const documents = lines.reduce((a, b) => a + b.documents.length, 0);
  assert.equal(documents, 300);
  const m = await parseExposition((await get(`${urls.metrics}/metrics`)).body);
  assert.equal(sampleValue(m, 'd4_feed_documents_total'), 300);
  assert.equal(sampleValue(m, 'd4_feed_batches_total'), lines.length);
  assert.equal(sampleValue(m, 'd4_feed_tokens_total'), lines.reduce((a, b) => a + b.tokens, 0));
  server.kill('SIGTERM');
  assert.equal(await new Promise((r) => server.once('close', r)), 0, stderr);
});
