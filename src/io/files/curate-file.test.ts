import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { curateFile } from './curate-file.js';
import { buildStages, type StageSpec } from '../../topology/topology.js';
import { composePipeline } from '../../topology/pipeline.js';
import type { WindowCommitted } from '../../topology/events.js';
import { createHasher } from '../../stages/text/hash.js';
import { tempDir } from '../../../test/helpers.js';

const hasher = await createHasher();
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
const docs = readFileSync(resolve(root, '..', 'shared', 'data', 'web', 'fineweb-300.jsonl'), 'utf8').split('\n').filter(Boolean)
  .map((l) => JSON.parse(l) as { id: string; text: string }).slice(0, 120);

/**
 * A JSONL file with every kind of line: documents, exact copies, near copies (one word changed),
 * blank lines (no record, but they take a line number), and lines that are not documents.
 */
function input(): { path: string; lines: number; bad: [number, string][] } {
  const lines: string[] = [];
  const bad: [number, string][] = [];
  docs.forEach((d, i) => {
    lines.push(JSON.stringify(d));
    if (i % 9 === 4) lines.push('');
    if (i % 10 === 3) lines.push(JSON.stringify({ id: `${d.id}-exact`, text: d.text }));
    if (i % 10 === 6) {
      const words = d.text.split(' ');
      words[Math.floor(words.length / 2)] = 'zebra';
      lines.push(JSON.stringify({ id: `${d.id}-near`, text: words.join(' ') }));
    }
    if (i % 25 === 11) { lines.push('{"id": "broken", "text": "unterminated'); bad.push([lines.length, 'malformed-json']); }
    if (i % 25 === 17) { lines.push(JSON.stringify({ id: `${d.id}-empty`, text: '  ' })); bad.push([lines.length, 'empty-text']); }
  });
  const path = join(tempDir('d4-file-driver-'), 'in.jsonl');
  writeFileSync(path, lines.join('\n') + '\n');
  return { path, lines: lines.length, bad };
}

const stages: StageSpec[] = [{ id: 'exact', type: 'exact', options: {} }, { id: 'near', type: 'near', options: {} }];

async function curate(path: string, o: { window: number; batchSize: number; stateDir?: string }) {
  const out = tempDir('d4-file-driver-out-');
  const pipeline = composePipeline(await buildStages(stages, { hasher }), hasher);
  const windows: WindowCommitted[] = [];
  const events: string[] = [];
  const summary = await curateFile(path, pipeline, {
    outDir: out, stages, hasher, idField: 'id', textField: 'text', maxBytes: 1_000_000, ...o,
    observer: { windowCommitted: (e) => windows.push(e), ready: () => events.push('ready'), storeRestored: (e) => events.push(`restored ${e.store}`) },
  });
  await pipeline.close();
  const read = (f: string) => readFileSync(join(out, f), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>);
  return { out, summary, windows, events, decisions: read('decisions.jsonl'), kept: read('kept.jsonl'), dead: read('dead-letter.jsonl'), json: JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) };
}

/** The ids a run must decide, in input order: every line that is a document (not blank, not a bad line). */
function expectedIds(path: string, bad: readonly [number, string][]): string[] {
  const lines = readFileSync(path, 'utf8').split('\n');
  return lines.flatMap((l, i) => (l === '' || bad.some(([line]) => line === i + 1) ? [] : [(JSON.parse(l) as { id: string }).id]));
}

test('file driver: exact and near decide the same whatever the window size, one decision per document in input order', async () => {
  const { path, bad } = input();
  const view = (r: Awaited<ReturnType<typeof curate>>) => r.decisions.map((d) => `${d.id} ${d.keep ? 'kept' : `${d.stage}:${d.reason}<${d.duplicate_of}`}`);
  const runs = [];
  for (const [window, batchSize] of [[7, 7], [50, 13], [1024, 1024]] as const) runs.push(await curate(path, { window, batchSize }));
  for (const r of runs) {
    assert.deepEqual(r.decisions.map((d) => d.id), expectedIds(path, bad));
    assert.deepEqual(view(r), view(runs[0]!));
    assert.equal(r.kept.length, 120);
    assert.equal(r.summary.in, 120 + 24 + bad.length);
    assert.ok(r.summary.balanced());
    assert.deepEqual([r.json.in, r.json.kept, r.json.dead_lettered_total], [r.summary.in, 120, bad.length]);
  }
  const drops = runs[0]!.decisions.filter((d) => !d.keep);
  assert.deepEqual(drops.map((d) => d.id.replace(/.*-/, '')).sort(), [...Array(12).fill('exact'), ...Array(12).fill('near')]);
  for (const d of drops) {
    assert.equal(d.stage, d.id.endsWith('-exact') ? 'exact' : 'near', d.id);
    assert.equal(d.duplicate_of, d.id.replace(/-(exact|near)$/, ''), d.id);
  }
});

test('file driver: dead letters keep their file:line origin and raw bytes, as JSON lines', async () => {
  const { path, bad } = input();
  const { dead } = await curate(path, { window: 16, batchSize: 5 });
  assert.deepEqual(dead.map((d) => [d.origin.file, d.origin.line, d.error]), bad.map(([line, error]) => [path, line, error]));
  for (const d of dead) {
    assert.deepEqual([d.origin.topic, d.origin.partition, d.origin.offset], [null, null, null]);
    assert.equal(Buffer.from(d.raw, 'base64').toString('utf8'), readFileSync(path, 'utf8').split('\n')[d.origin.line - 1]);
    assert.equal(typeof d.raw_preview, 'string');
  }
});

test('file driver: windows are aligned on line offsets, whatever the read batches', async () => {
  const { path, lines } = input();
  const text = readFileSync(path, 'utf8').split('\n');
  const { windows } = await curate(path, { window: 10, batchSize: 3 });
  assert.equal(windows.length, Math.ceil(lines / 10));
  windows.forEach((w, n) => {
    assert.equal(w.task, '0_0');
    assert.equal(w.records, text.slice(10 * n, 10 * n + 10).filter(Boolean).length, `window ${n}: the records of lines ${10 * n + 1}..${10 * n + 10}`);
  });
});

test('file driver: --state-dir snapshots the stores at the end and restores them in the next run', async () => {
  const { path } = input();
  const state = tempDir('d4-file-driver-state-');
  const a = await curate(path, { window: 64, batchSize: 64, stateDir: state });
  const snapshots = readdirSync(state).sort();
  assert.equal(snapshots.length, 2, `one snapshot per stage store (the source clock is not kept): ${snapshots.join(', ')}`);
  assert.ok(snapshots.every((f) => f.endsWith('.snapshot')), 'no .tmp left behind');
  assert.deepEqual(a.events, [...snapshots.map((f) => `restored ${f.replace(/\.snapshot$/, '')}`), 'ready']);
  const b = await curate(path, { window: 64, batchSize: 64, stateDir: state });
  assert.equal(b.decisions.filter((d) => d.keep).length, 0, 'the second run has seen every text');
});
