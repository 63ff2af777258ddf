// Whole pipeline through the real CLI over real text, no broker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { collapsed, readJsonl, runCli, sharedData, tempDir } from './helpers.js';

interface Doc { id: string; text: string }
interface Decision { id: string; keep: boolean; stage: string; reason: string; duplicate_of: string | null }

async function curate(input: string, extra: string[] = []) {
  const out = tempDir();
  const r = await runCli(['curate', input, '--out', out, '--stages', 'exact', ...extra]);
  assert.equal(r.code, 0, r.stderr);
  return { out, stdout: r.stdout, stderr: r.stderr, decisions: readJsonl<Decision>(join(out, 'decisions.jsonl')), kept: readJsonl<Doc>(join(out, 'kept.jsonl')), dead: readJsonl(join(out, 'dead-letter.jsonl')) };
}

test('BBC news: 2,225 decisions in input order, exactly 100 exact duplicates, each of an earlier identical text', async () => {
  const input = sharedData('bbc-news-2225.jsonl');
  const docs = readJsonl<Doc>(input);
  const { decisions, kept, dead, stdout } = await curate(input);
  assert.equal(decisions.length, 2225);
  assert.deepEqual(decisions.map((d) => d.id), docs.map((d) => d.id), 'one decision per input document, in input order');
  const drops = decisions.filter((d) => !d.keep);
  assert.equal(drops.length, 100);
  const position = new Map(docs.map((d, i) => [d.id, i]));
  const text = new Map(docs.map((d) => [d.id, d.text]));
  let byteIdentical = 0;
  for (const d of drops) {
    assert.equal(d.stage, 'exact');
    assert.equal(d.reason, 'duplicate');
    assert.ok(d.duplicate_of !== null && position.get(d.duplicate_of)! < position.get(d.id)!, `${d.id}: duplicate_of ${d.duplicate_of} is earlier`);
    assert.equal(collapsed(text.get(d.id)!), collapsed(text.get(d.duplicate_of!)!), `${d.id} has the text of ${d.duplicate_of}`);
    if (text.get(d.id) === text.get(d.duplicate_of!)) byteIdentical++;
  }
  assert.equal(byteIdentical, 98, '98 byte-identical copies, 2 that differ only in whitespace');
  assert.equal(kept.length, 2125);
  assert.equal(dead.length, 0);
  assert.match(stdout, /documents in\s+2225/);
  assert.match(stdout, /exact: duplicate\s+100/);
});

test('Common Crawl WET: the 35 extra copies are 9 exact drops plus 26 extra copies of the empty text, which are dead-lettered', async () => {
  const input = sharedData('web/cc-wet-697.jsonl');
  const { decisions, dead } = await curate(input);
  const drops = decisions.filter((d) => !d.keep);
  const empty = dead.filter((d) => d.error === 'empty-text');
  assert.equal(drops.length, 9);
  assert.equal(empty.length, 27);
  assert.equal(drops.length + empty.length - 1, 35, 'every extra copy is accounted for');
  assert.equal(decisions.length + dead.length, 697);
});

test('gzipped JSONL, a JSON array and stdin give the same decisions as plain JSONL; --text-field picks the field', async () => {
  const docs = readJsonl<Doc>(sharedData('bbc-news-2225.jsonl')).slice(0, 300);
  const dir = tempDir();
  const renamed = docs.map((d) => ({ doc_id: d.id, original_text: d.text }));
  writeFileSync(join(dir, 'in.jsonl.gz'), gzipSync(renamed.map((d) => JSON.stringify(d)).join('\n')));
  writeFileSync(join(dir, 'in.json'), JSON.stringify(renamed, null, 1));
  const fields = ['--id-field', 'doc_id', '--text-field', 'original_text'];
  const a = await curate(join(dir, 'in.jsonl.gz'), fields);
  const b = await curate(join(dir, 'in.json'), fields);
  const out = tempDir();
  const c = await runCli(['curate', '-', '--out', out, '--stages', 'exact', ...fields], { input: readFileSync(join(dir, 'in.json')) });
  assert.equal(c.code, 0, c.stderr);
  const strip = (ds: Decision[]) => ds.map((d) => [d.id, d.keep, d.duplicate_of]);
  assert.equal(a.decisions.length, 300);
  assert.deepEqual(strip(b.decisions), strip(a.decisions));
  assert.deepEqual(strip(readJsonl<Decision>(join(out, 'decisions.jsonl'))), strip(a.decisions));
});

test('bad input: good records decided, every bad one dead-lettered with its reason, nothing lost, exit 0 with a warning', async () => {
  const good = readJsonl<Doc>(sharedData('web/c4-en-1k.jsonl')).slice(0, 100);
  const lines: Buffer[] = good.slice(0, 50).map((d) => Buffer.from(JSON.stringify(d)));
  lines.push(Buffer.from('{"id": "broken", "text": "unterminated'));
  lines.push(Buffer.concat([Buffer.from('{"id":"latin1","text":"caf'), Buffer.from([0xe9, 0xff]), Buffer.from('"}')]));
  lines.push(Buffer.from(JSON.stringify({ id: 'empty', text: '   ' })));
  lines.push(Buffer.from(JSON.stringify({ id: 'huge', text: 'x'.repeat(5 * 1024 * 1024) })));
  lines.push(Buffer.from(JSON.stringify({ text: 'a document without an id' })));
  lines.push(...good.slice(50).map((d) => Buffer.from(JSON.stringify(d))));
  const dir = tempDir();
  const input = join(dir, 'mixed.jsonl');
  writeFileSync(input, Buffer.concat(lines.flatMap((l) => [l, Buffer.from('\n')])));
  const out = tempDir();
  const r = await runCli(['curate', input, '--out', out, '--stages', 'exact']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /warning: 5 record\(s\) dead-lettered/);
  const decisions = readJsonl<Decision>(join(out, 'decisions.jsonl'));
  const dead = readJsonl<{ error: string; origin: { line: number }; raw: string; raw_size: number }>(join(out, 'dead-letter.jsonl'));
  assert.deepEqual(decisions.map((d) => d.id), good.map((d) => d.id), 'the 100 good records are decided, in order');
  assert.deepEqual(dead.map((d) => [d.origin.line, d.error]), [[51, 'malformed-json'], [52, 'invalid-utf8'], [53, 'empty-text'], [54, 'too-large'], [55, 'missing-id']]);
  assert.ok(Buffer.from(dead[1]!.raw, 'base64').includes(Buffer.from([0xe9, 0xff])), 'the raw bytes are kept');
  assert.ok(dead[3]!.raw_size > 5 * 1024 * 1024, 'the size of the huge record is reported');
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
  assert.equal(summary.in, 105);
  assert.equal(summary.in, summary.kept + summary.dropped_total + summary.dead_lettered_total);
});

test('bad options fail fast with a message that says what to change', async () => {
  const out = tempDir();
  const input = sharedData('web/fineweb-300.jsonl');
  const cases: [string[], RegExp][] = [
    [['curate', input, '--out', out, '--stages', 'exact,bogus'], /unknown stage "bogus"/],
    [['curate', input, '--out', out, '--max-bytes', '-3'], /--max-bytes must be a positive whole number/],
    [['curate', input, '--out', out, '--set', 'exact.caseFold=maybe'], /exact\.caseFold/],
    [['curate', input, '--out', out, '--set', 'nope.x=1'], /no stage "nope"/],
    [['curate', '/no/such/file.jsonl', '--out', out], /does not exist/],
    [['curate', input], /required option '-o, --out <dir>'/],
  ];
  for (const [args, message] of cases) {
    const r = await runCli(args);
    assert.notEqual(r.code, 0, args.join(' '));
    assert.match(r.stderr, message, args.join(' '));
  }
});

test('--state-dir: a second run remembers the first run\'s texts', async () => {
  const docs = readJsonl<Doc>(sharedData('web/fineweb-300.jsonl'));
  const dir = tempDir();
  writeFileSync(join(dir, 'a.jsonl'), docs.slice(0, 200).map((d) => JSON.stringify(d)).join('\n'));
  writeFileSync(join(dir, 'b.jsonl'), docs.slice(150).map((d) => JSON.stringify({ ...d, id: `again-${d.id}` })).join('\n'));
  const state = join(dir, 'state');
  await curate(join(dir, 'a.jsonl'), ['--state-dir', state]);
  const second = await curate(join(dir, 'b.jsonl'), ['--state-dir', state]);
  const drops = second.decisions.filter((d) => !d.keep);
  assert.equal(drops.length, 50, 'the 50 documents seen in the first run');
  assert.ok(drops.every((d) => d.duplicate_of === d.id.replace('again-', '')));
});
