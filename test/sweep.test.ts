// Parameter sweeps through the real CLI, with the real model, on the shared web corpora.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { root, runCli, sharedData, tempDir } from './helpers.js';

const corpus = join(tempDir(), 'web.jsonl');
writeFileSync(corpus, ['web/c4-en-1k.jsonl', 'web/fineweb-300.jsonl', 'web/cc-wet-697.jsonl'].map((f) => readFileSync(sharedData(f), 'utf8').trimEnd()).join('\n') + '\n');
// Embeddings are computed once per checkout and shared by the runs below (and by later test runs).
mkdirSync(join(root, '.d4', 'test-cache'), { recursive: true });
const embeddings = join(root, '.d4', 'test-cache', 'web-corpora.embeddings.jsonl');

interface Point { set: string[]; kept_fraction: number; r_dedup: number; dropped: Record<string, number>; clusters_covered: number; in: number }
interface SweepResult { points: Point[]; epsilon?: number; r_dedup?: number; trials?: { epsilon: number; kept: number }[]; embedded_by_model: number }

async function sweep(args: string[]): Promise<SweepResult> {
  const r = await runCli(['sweep', corpus, '--embeddings', embeddings, '--json', ...args]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as SweepResult;
}

test('sweep --target-dedup-ratio 0.75 on the shared web corpora finds an epsilon whose semantic stage keeps 0.75 ± 0.02', async () => {
  const r = await sweep(['--target-dedup-ratio', '0.75']);
  console.log(`epsilon ${r.epsilon} → R_dedup ${r.r_dedup}; trials ${JSON.stringify(r.trials)}`);
  assert.ok(Math.abs(r.r_dedup! - 0.75) <= 0.02, `R_dedup ${r.r_dedup}`);
  const kept = r.trials!.map((t) => t.kept);
  assert.ok(kept[0]! > kept.at(-1)!, 'a larger epsilon keeps less');
});

test('sweep grid: every point meets its target ratio, drops grow with epsilon, and the model is not called again', async () => {
  const r = await sweep(['--grid', 'semantic.epsilon=0.1,0.4', '--grid', 'target-ratio=0.2,0.3']);
  assert.equal(r.embedded_by_model, 0, 'all embeddings came from the embeddings file');
  assert.equal(r.points.length, 4);
  for (const p of r.points) {
    const target = Number(p.set.find((s) => s.startsWith('prototype.targetRatio='))!.split('=')[1]);
    console.log(`${p.set.join(' ')}: kept ${p.kept_fraction.toFixed(3)}, R_dedup ${p.r_dedup.toFixed(3)}, clusters covered ${p.clusters_covered}`);
    assert.ok(Math.abs(p.kept_fraction - target) <= 0.02, `${p.set.join(' ')}: kept ${p.kept_fraction}`);
    assert.equal(p.in, 1997);
    assert.ok(p.clusters_covered > 1);
  }
  const semanticDrops = (eps: string) => r.points.find((p) => p.set.includes(`semantic.epsilon=${eps}`))!.dropped['semantic: semantic-duplicate'] ?? 0;
  assert.ok(semanticDrops('0.4') > semanticDrops('0.1'), 'epsilon 0.4 drops more semantic duplicates than 0.1');
});

test('sweep: a point decides what d4 curate with the same parameters decides (the same windows on the same loop)', async () => {
  const set = ['--set', 'semantic.epsilon=0.3', '--set', 'prototype.targetRatio=0.3'];
  const out = join(tempDir(), 'curate-out');
  const c = await runCli(['curate', corpus, '--embeddings', embeddings, '-o', out, '--json', ...set]);
  assert.equal(c.code, 0, c.stderr);
  const curated = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as { in: number; kept: number; dropped: Record<string, number> };
  const r = await sweep(['--grid', 'semantic.epsilon=0.1,0.3', ...set.slice(2)]);
  const point = r.points.find((p) => p.set.includes('semantic.epsilon=0.3'))!;
  console.log(`curate: kept ${curated.kept} ${JSON.stringify(curated.dropped)}; sweep point: ${JSON.stringify(point.dropped)}`);
  assert.equal(point.in, curated.in);
  assert.deepEqual(point.dropped, curated.dropped, 'the same drops per stage and reason');
  assert.equal(Math.round(point.kept_fraction * point.in), curated.kept);
  const other = r.points.find((p) => p.set.includes('semantic.epsilon=0.1'))!;
  assert.notDeepEqual(other.dropped, curated.dropped, 'another epsilon decides otherwise');
});

test('sweep: bad options fail fast', async () => {
  for (const [args, message] of [
    [['--grid', 'semantic.epsilon'], /expected <stage>\.<option>=/],
    [['--grid', 'exact.caseFold=true,false'], /sweeps vary the selection stages/],
    [['--stages', 'exact,near'], /needs semantic and\/or prototype/],
    [['--target-dedup-ratio', '1.5'], /fraction in \(0, 1\]/],
  ] as [string[], RegExp][]) {
    const r = await runCli(['sweep', corpus, ...args]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, message);
  }
});
