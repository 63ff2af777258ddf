// The near stage through the real CLI: `d4 curate --stages exact,near`, its help text, the dedup
// topology, and incremental curation with --state-dir.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { readJsonl, runCli, sharedData, tempDir } from './helpers.js';

interface Doc { id: string; text: string }
interface Decision { id: string; keep: boolean; stage: string; reason: string; duplicate_of: string | null; similarity: number | null; threshold: number | null }

/** Exact word 5-gram Jaccard, written independently of the stage's hashing. */
function jaccard5(a: string, b: string): number {
  const grams = (t: string) => {
    const w = t.normalize('NFC').toLowerCase().match(/[\p{L}\p{N}\p{M}]+/gu) ?? [];
    return new Set(w.slice(0, Math.max(1, w.length - 4)).map((_, i) => w.slice(i, i + 5).join(' ')));
  };
  const x = grams(a);
  const y = grams(b);
  let common = 0;
  for (const g of x) if (y.has(g)) common++;
  return common / (x.size + y.size - common);
}

async function curate(input: string, extra: string[] = []) {
  const out = tempDir();
  const r = await runCli(['curate', input, '--out', out, '--stages', 'exact,near', ...extra]);
  assert.equal(r.code, 0, r.stderr);
  return { stdout: r.stdout, decisions: readJsonl<Decision>(join(out, 'decisions.jsonl')) };
}

test('d4 curate --help lists the near stage with its b × r and thresholds', async () => {
  const r = await runCli(['curate', '--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /known: exact,\s+near/);
  assert.match(r.stdout, /near\s+drop near-duplicates, first seen survives: word 5-gram MinHash, LSH b × r = 18 × 6 \(candidates above \(1\/b\)\^\(1\/r\) = 0\.62/);
  assert.match(r.stdout, /estimated Jaccard ≥ 0\.65/);
});

test('BBC news through exact,near: exact copies to exact, near copies to near, each against an earlier similar article', async () => {
  const input = sharedData('bbc-news-2225.jsonl');
  const docs = readJsonl<Doc>(input);
  const { decisions, stdout } = await curate(input);
  assert.deepEqual(decisions.map((d) => d.id), docs.map((d) => d.id), 'one decision per document, in input order');
  const exact = decisions.filter((d) => d.stage === 'exact');
  const near = decisions.filter((d) => d.stage === 'near');
  assert.equal(exact.length, 100, 'the 100 exact copies are still exact duplicates');
  assert.ok(near.length >= 40, `${near.length} near-duplicates (re-published stories with an edited headline or paragraph)`);
  const position = new Map(docs.map((d, i) => [d.id, i]));
  const text = new Map(docs.map((d) => [d.id, d.text]));
  const similarities: number[] = [];
  for (const d of near) {
    assert.equal(d.reason, 'near-duplicate');
    assert.equal(d.threshold, 0.65);
    assert.ok(d.similarity! >= 0.65 && d.similarity! < 1.0001);
    assert.ok(position.get(d.duplicate_of!)! < position.get(d.id)!, `${d.id}: its original ${d.duplicate_of} comes first`);
    const j = jaccard5(text.get(d.id)!, text.get(d.duplicate_of!)!);
    assert.ok(j >= 0.55, `${d.id} vs ${d.duplicate_of}: exact 5-gram Jaccard ${j.toFixed(3)}`);
    similarities.push(j);
  }
  assert.match(stdout, /near: near-duplicate\s+\d+/);
  console.log(`BBC news, exact,near: ${exact.length} exact + ${near.length} near-duplicates; exact Jaccard of the near pairs: min ${Math.min(...similarities).toFixed(3)}, median ${similarities.sort((x, y) => x - y)[similarities.length >> 1]!.toFixed(3)}`);
});

test('--state-dir: curating a file in two runs decides as one run over the whole file', async () => {
  const c4 = readJsonl<Doc>(sharedData('web/c4-en-1k.jsonl'));
  // Copies of the first 600 documents with one sentence-ish run of words cut, after the originals.
  const copies = c4.slice(0, 600).map((d) => {
    const w = d.text.split(/\s+/);
    return { id: `${d.id}-copy`, text: [...w.slice(0, 3), ...w.slice(5)].join(' ') };
  });
  const all = [...c4, ...copies];
  const dir = tempDir();
  writeFileSync(join(dir, 'all.jsonl'), all.map((d) => JSON.stringify(d)).join('\n'));
  writeFileSync(join(dir, 'a.jsonl'), all.slice(0, 900).map((d) => JSON.stringify(d)).join('\n'));
  writeFileSync(join(dir, 'b.jsonl'), all.slice(900).map((d) => JSON.stringify(d)).join('\n'));
  const capacity = ['--set', 'near.capacity=5000'];
  const whole = await curate(join(dir, 'all.jsonl'), capacity);
  const state = join(dir, 'state');
  const a = await curate(join(dir, 'a.jsonl'), [...capacity, '--state-dir', state]);
  const b = await curate(join(dir, 'b.jsonl'), [...capacity, '--state-dir', state]);
  const strip = (ds: Decision[]) => ds.map((d) => [d.id, d.keep, d.stage, d.duplicate_of, d.similarity]);
  assert.deepEqual(strip([...a.decisions, ...b.decisions]), strip(whole.decisions));
  assert.ok(whole.decisions.filter((d) => d.stage === 'near').length > 300, 'the copies are found');
});

test('d4 describe topologies/dedup.yaml: crawl → exact → near → sinks, with both stores and their changelogs', async () => {
  const r = await runCli(['describe', 'topologies/dedup.yaml']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Source: crawl \(topic: d4\.crawl/);
  assert.match(r.stdout, /Processor: exact \(type: exact\)[\s\S]*--> near/);
  assert.match(r.stdout, /Processor: near \(type: near\)[\s\S]*"bands":18,"rows":6,"threshold":0\.65/);
  assert.match(r.stdout, /store: near-lsh \(changelog: d4-dedup-near-lsh-changelog\)/);
  assert.match(r.stdout, /<-- exact\n\s+--> decisions, curated/);
  assert.match(r.stdout, /Sink: dead-letter \(topic: d4\.dead-letter\) <-- crawl, exact, near/);
});
