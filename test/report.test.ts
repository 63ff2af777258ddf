// d4 report / d4 curate --report through the real CLI (real model, embeddings cached like
// sweep.test.ts does), the HTML opened in a real headless chromium: no console error, every
// chart has data, the figures are summary.json's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { readJsonl, root, runCli, sharedData, tempDir, spawnCli } from './helpers.js';
import { inspectPage } from './observe-tools.js';

const corpus = join(tempDir(), 'web.jsonl');
const bad = ['{"id":"broken","text":', JSON.stringify({ id: 'empty', text: '   ' }), JSON.stringify({ text: 'no id' })];
writeFileSync(corpus, ['web/c4-en-1k.jsonl', 'web/fineweb-300.jsonl', 'web/cc-wet-697.jsonl'].map((f) => readFileSync(sharedData(f), 'utf8').trimEnd()).join('\n') + '\n' + bad.join('\n') + '\n');
// The same cache as sweep.test.ts: the corpus is embedded once per checkout.
mkdirSync(join(root, '.d4', 'test-cache'), { recursive: true });
const embeddings = join(root, '.d4', 'test-cache', 'web-corpora.embeddings.jsonl');

async function d4(args: string[]) {
  const r = await runCli(args);
  assert.equal(r.code, 0, `d4 ${args.join(' ')}:\n${r.stderr}`);
  return r;
}

test('d4 curate --report (whole D4 pipeline): report.html opens offline in chromium, every chart has data, its figures are summary.json\'s', async () => {
  const out = tempDir();
  const r = await d4(['curate', corpus, '--out', out, '--embeddings', embeddings, '--report', '--json']);
  const path = join(out, 'report.html');
  assert.match(r.stderr, new RegExp(`report: ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  const html = readFileSync(path, 'utf8');
  assert.ok(!/<script[^>]+src=|<link[^>]+href="http/.test(html), 'self-contained: no external script or stylesheet');
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as { in: number; kept: number; dropped_total: number; dead_lettered_total: number; seconds: number; stage_seconds: Record<string, number> };

  const shot = join(tempDir(), 'report.png');
  const page = await inspectPage(pathToFileURL(path).href, shot);
  assert.deepEqual(page.errors, [], 'no console error');
  const ids = page.charts.map((c) => c.id);
  for (const id of ['kept_fraction', 'drops_curve', 'drops', 'dead_letters', 'similarity_semantic', 'clusters', 'distance', 'stage_time', 'drift_prototype', 'drift_semantic']) assert.ok(ids.includes(`chart-${id}`), `${id} among ${ids.join(', ')}`);
  for (const c of page.charts) {
    assert.ok(c.canvas, `${c.id} is drawn`);
    assert.ok(c.points > 0, `${c.id} has data points`);
  }
  assert.equal(Number(page.stats['documents_in']), summary.in);
  assert.equal(Number(page.stats['kept']), summary.kept);
  assert.equal(Number(page.stats['dropped']), summary.dropped_total);
  assert.equal(Number(page.stats['dead_lettered']), summary.dead_lettered_total);
  assert.ok(summary.dead_lettered_total >= 3, 'the three bad lines are dead letters');
  const staged = summary.stage_seconds;
  assert.deepEqual(Object.keys(staged), ['exact', 'near', 'embed', 'semantic', 'prototype'], 'time per stage, in pipeline order');
  assert.ok(Object.values(staged).every((v) => v >= 0) && Object.values(staged).reduce((a, b) => a + b, 0) <= summary.seconds, 'the stages\' times add up to at most the run\'s');
  assert.equal(Number(page.stats['target_ratio']), 0.25);
  const decisions = readJsonl<{ keep: boolean }>(join(out, 'decisions.jsonl'));
  assert.ok(Math.abs(Number(page.stats['kept_fraction']) - decisions.filter((d) => d.keep).length / decisions.length) < 1e-4);
  assert.ok(statSync(shot).size > 10_000, 'screenshot written');
  if (process.env.D4_UPDATE_SCREENSHOTS) copyFileSync(shot, join(root, 'docs', 'report.png'));

  // d4 report on the same directory writes the same page (figures and charts).
  const again = await d4(['report', out]);
  assert.equal(again.stdout.trim(), path);
});

test('d4 report on a sweep --out directory: kept fraction and R_dedup against epsilon and the target ratio', async () => {
  const out = tempDir();
  await d4(['sweep', corpus, '--embeddings', embeddings, '--grid', 'semantic.epsilon=0.05,0.1,0.2', '--grid', 'target-ratio=0.2,0.3', '--out', out]);
  assert.ok(existsSync(join(out, 'sweep.json')));
  const r = await d4(['report', out]);
  const page = await inspectPage(pathToFileURL(r.stdout.trim()).href, join(tempDir(), 'sweep.png'));
  assert.deepEqual(page.errors, []);
  const charts = Object.fromEntries(page.charts.map((c) => [c.id, c.points]));
  assert.equal(charts['chart-sweep_epsilon'], 3 * 2 * 2, '3 epsilons × 2 targets × (kept fraction, R_dedup)');
  assert.equal(charts['chart-sweep_target'], 2 * 3 * 2 + 2, '… and the target line');
  assert.equal(Number(page.stats['sweep_points']), 6);
});

test('d4 report on a d4 batch directory: the yardstick run gets the same plots', async () => {
  const out = tempDir();
  await d4(['batch', corpus, '--out', out, '--embeddings', embeddings]);
  const r = await d4(['report', out]);
  const page = await inspectPage(pathToFileURL(r.stdout.trim()).href, join(tempDir(), 'batch.png'));
  assert.deepEqual(page.errors, []);
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as { in: number; kept: number };
  assert.equal(Number(page.stats['documents_in']), summary.in);
  assert.equal(Number(page.stats['kept']), summary.kept);
  assert.equal(Number(page.stats['target_ratio']), 0.25);
  const ids = page.charts.map((c) => c.id);
  for (const id of ['kept_fraction', 'drops', 'clusters', 'distance']) assert.ok(ids.includes(`chart-${id}`), `${id} among ${ids.join(', ')}`);
  for (const c of page.charts) assert.ok(c.canvas && c.points > 0, `${c.id} has data points`);
});

test('d4 curate --metrics-port (whole D4 pipeline): the live dashboard shows the selection\'s charts with data, and the summary\'s figures', async (t0) => {
  const out = tempDir();
  const child = spawnCli(['curate', corpus, '--out', out, '--embeddings', embeddings, '--metrics-port', '0', '--metrics-hold', '120000', '--json', '--no-progress']);
  t0.after(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  let stderr = '';
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /run ended; serving the final metrics at (http:\/\/\S+)\/metrics/.exec(stderr);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`curate exited (${code}) before the run ended:\n${stderr}`)));
  });
  const page = await inspectPage(`${url}/`, join(tempDir(), 'dashboard-d4.png'), 2);
  child.kill('SIGTERM');
  assert.equal(await new Promise((r) => child.once('close', r)), 0, stderr);
  assert.deepEqual(page.errors, []);
  const ids = page.charts.map((c) => c.id);
  // (every vector comes from the embeddings file here, so the model's batch-fill chart is not shown)
  for (const id of ['kept_fraction', 'drops', 'latency', 'similarity_semantic', 'clusters_prototype', 'embed_tokens', 'stage_time', 'centroids']) assert.ok(ids.includes(`chart-${id}`), `${id} among ${ids.join(', ')}`);
  for (const c of page.charts) assert.ok(c.canvas && c.points > 0, `${c.id} has data points`);
  const summary = JSON.parse(stdout.trim().split('\n').at(-1)!) as { in: number; kept: number; dropped_total: number; dead_lettered_total: number };
  assert.equal(Number(page.stats['documents_in']), summary.in);
  assert.equal(Number(page.stats['kept']), summary.kept);
  assert.equal(Number(page.stats['dropped']), summary.dropped_total);
  assert.equal(Number(page.stats['dead_lettered']), summary.dead_lettered_total);
  assert.equal(Number(page.stats['target_ratio']), 0.25);
});

test('d4 report: a directory without a run is a clear error (exit 2)', async () => {
  const r = await runCli(['report', tempDir()]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /neither summary\.json .* nor sweep\.json/);
});
