// `d4 curate --stages exact,[near,]embed` through the real CLI, with an embeddings file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stageDefinitions } from '../src/topology/registry.js';
import { readJsonl, runCli, sharedData, tempDir } from './helpers.js';

interface Doc { id: string; text: string }
interface Decision { id: string; keep: boolean; stage: string; reason: string; duplicate_of: string | null }

// near (MinHash) is built in parallel with embed; the test uses it as soon as it is registered.
const before = stageDefinitions.has('near') ? ['exact', 'near'] : ['exact'];
const strip = (ds: Decision[]) => ds.map((d) => [d.id, d.keep, d.stage, d.reason, d.duplicate_of]);

async function curate(input: string, stages: string[], extra: string[] = []) {
  const out = tempDir();
  const r = await runCli(['curate', input, '--out', out, '--stages', stages.join(','), ...extra]);
  assert.equal(r.code, 0, r.stderr);
  return { ...r, out, decisions: readJsonl<Decision>(join(out, 'decisions.jsonl')), dead: readJsonl<{ id: string; stage: string; error: string }>(join(out, 'dead-letter.jsonl')) };
}

test(`curate --stages ${[...before, 'embed'].join(',')}: same decisions as without embed; every live document embedded once into the embeddings file; a second run embeds nothing`, async () => {
  const docs = readJsonl<Doc>(sharedData('bbc-news-2225.jsonl')).slice(0, 400);
  const dir = tempDir();
  const input = join(dir, 'bbc-400.jsonl');
  writeFileSync(input, docs.map((d) => JSON.stringify(d)).join('\n') + '\n');
  const embeddings = join(dir, 'embeddings.jsonl');

  const without = await curate(input, before);
  const first = await curate(input, [...before, 'embed'], ['--embeddings', embeddings]);
  assert.deepEqual(strip(first.decisions), strip(without.decisions), 'embed drops nothing and changes no decision');
  const kept = first.decisions.filter((d) => d.keep).map((d) => d.id);
  const lines = readJsonl<{ id: string; model: string; pooling: string; dtype: string; dim: number }>(embeddings);
  assert.deepEqual(lines.map((l) => l.id).sort(), [...kept].sort(), 'one embedding per document that reached the stage (dropped ones are never embedded)');
  assert.ok(kept.length < docs.length, 'this sample has duplicates, which are not embedded');
  assert.deepEqual([lines[0]!.model, lines[0]!.pooling, lines[0]!.dtype, lines[0]!.dim], ['sentence-transformers/all-MiniLM-L6-v2', 'mean', 'q8', 384]);
  assert.match(first.stdout, new RegExp(`embed: ${kept.length} embedded by sentence-transformers/all-MiniLM-L6-v2 \\(q8, cpu, 384-d\\), 0 from the embeddings store`));

  const size = statSync(embeddings).size;
  const second = await curate(input, [...before, 'embed'], ['--embeddings', embeddings, '--json']);
  const summary = JSON.parse(second.stdout.trim().split('\n').at(-1)!) as { embed: { embedded: number; cache_hits: number; live: number } };
  assert.deepEqual([summary.embed.embedded, summary.embed.cache_hits, summary.embed.live], [0, kept.length, kept.length], '100% from the embeddings file');
  assert.equal(statSync(embeddings).size, size, 'nothing appended');
  assert.deepEqual(strip(second.decisions), strip(first.decisions));
});

test('curate with embed: an empty-after-normalisation text is dead-lettered by embed, a long text truncated and counted, the rest curated', async () => {
  const good = readJsonl<Doc>(sharedData('web/c4-en-1k.jsonl')).slice(0, 20);
  const dir = tempDir();
  const input = join(dir, 'in.jsonl');
  const long = 'the quick brown fox jumps over the lazy dog '.repeat(20_000); // 880 KB, under --max-bytes
  writeFileSync(input, [...good, { id: 'zero-width', text: '\u200b\u200b' }, { id: 'long', text: long }].map((d) => JSON.stringify(d)).join('\n') + '\n');
  const r = await curate(input, ['exact', 'embed']);
  assert.deepEqual(r.dead.map((d) => [d.id, d.stage, d.error]), [['zero-width', 'embed', 'empty-text']]);
  assert.equal(r.decisions.length, 21);
  assert.match(r.stdout, /embed: 21 embedded .*, 0 from the embeddings store, \d+ truncated at 256 tokens, 1 dead-lettered/);
  assert.match(r.stderr, /1 record\(s\) dead-lettered/);
  const truncated = Number(/(\d+) truncated at 256 tokens/.exec(r.stdout)![1]);
  assert.ok(truncated >= 1);
});

test('curate: embed flags without the embed stage, or a model that is not installed, are refused before any work', async () => {
  const input = sharedData('web/fineweb-300.jsonl');
  const a = await runCli(['curate', input, '--out', tempDir(), '--stages', 'exact', '--model', 'x/y']);
  assert.equal(a.code, 2);
  assert.match(a.stderr, /--model apply to the embed stage; add embed to --stages/);
  const b = await runCli(['curate', input, '--out', tempDir(), '--stages', 'exact,embed', '--model', 'nobody/nothing']);
  assert.equal(b.code, 2);
  assert.match(b.stderr, /model nobody\/nothing is not installed/);
  // Commander itself rejects a value outside the choices: a bad option, exit 2 like the others.
  const c = await runCli(['curate', input, '--out', tempDir(), '--stages', 'exact,embed', '--dtype', 'int4']);
  assert.equal(c.code, 2);
  assert.match(c.stderr, /Allowed choices are fp32, fp16, q8/);
});
