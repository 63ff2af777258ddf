// `d4 export` from a kept.jsonl through the real CLI (no broker): shards round-trip to the same
// documents, and the manifest's counts and checksums match the files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { readJsonl, runCli, sharedData, tempDir } from './helpers.js';

interface ShardFile { format: string; path: string; bytes: number; sha256: string }
interface Manifest {
  manifest_version: number; source: Record<string, unknown>; formats: string[]; shard_docs: number; documents: number; refused: number;
  bytes: Record<string, number>; schema: { name: string }; shards: { index: number; documents: number; first_id: string; last_id: string; files: ShardFile[] }[];
}

/** The documents of the JSONL.gz shards, in shard order, read independently of the product. */
function readJsonlShards(dir: string, m: Manifest): Record<string, unknown>[] {
  return m.shards.flatMap((s) => {
    const f = s.files.find((x) => x.format === 'jsonl.gz')!;
    const lines = gunzipSync(readFileSync(join(dir, f.path))).toString('utf8').split('\n');
    assert.equal(lines.pop(), '', 'each line ends with a newline');
    assert.equal(lines.length, s.documents, `${f.path}: the manifest's count`);
    return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  });
}

/** The documents of the Parquet shards, through hyparquet (another implementation than the writer's). */
async function readParquetShards(dir: string, m: Manifest): Promise<Record<string, unknown>[]> {
  const name: string = 'hyparquet';
  const { parquetReadObjects } = (await import(name)) as { parquetReadObjects(o: { file: ArrayBuffer }): Promise<Record<string, unknown>[]> };
  const out: Record<string, unknown>[] = [];
  for (const s of m.shards) {
    const f = s.files.find((x) => x.format === 'parquet')!;
    const b = readFileSync(join(dir, f.path));
    const rows = await parquetReadObjects({ file: b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer });
    assert.equal(rows.length, s.documents, `${f.path}: the manifest's count`);
    // Parquet gives the timestamp as a Date and the metadata map as its JSON string.
    out.push(...rows.map((r) => ({ ...r, fetched_at: r.fetched_at instanceof Date ? r.fetched_at.getTime() : r.fetched_at, metadata: JSON.parse(r.metadata as string) as unknown })));
  }
  return out;
}

/** Every file's size and sha256 match the manifest and SHA256SUMS; counts add up. */
function checkManifest(dir: string, m: Manifest, shardDocs: number): void {
  const sums = new Map(readFileSync(join(dir, 'SHA256SUMS'), 'utf8').trim().split('\n').map((l) => { const [h, p] = l.split(/ {2}/); return [p!, h!]; }));
  const files = m.shards.flatMap((s) => s.files);
  assert.equal(sums.size, files.length, 'SHA256SUMS lists every shard file');
  for (const f of files) {
    const bytes = readFileSync(join(dir, f.path));
    assert.equal(bytes.length, f.bytes, `${f.path}: size`);
    const sha = createHash('sha256').update(bytes).digest('hex');
    assert.equal(sha, f.sha256, `${f.path}: sha256 in the manifest`);
    assert.equal(sums.get(f.path), sha, `${f.path}: sha256 in SHA256SUMS`);
  }
  assert.equal(m.shards.reduce((s, x) => s + x.documents, 0), m.documents);
  assert.ok(m.shards.slice(0, -1).every((s) => s.documents === shardDocs), 'full shards but the last');
  assert.deepEqual(m.shards.map((s) => s.index), m.shards.map((_, i) => i));
  for (const fmt of m.formats) assert.equal(m.bytes[fmt], files.filter((f) => f.format === fmt).reduce((s, f) => s + f.bytes, 0));
  const onDisk = readdirSync(dir).filter((f) => f.startsWith('shard-')).sort();
  assert.deepEqual(onDisk, files.map((f) => f.path).sort(), 'no other shard files, no .partial left');
}

test('export: BBC kept.jsonl → 6 shards of JSONL.gz and Parquet that round-trip to the same 2,125 documents; manifest counts and sha256 match', async () => {
  const cur = tempDir();
  const c = await runCli(['curate', sharedData('bbc-news-2225.jsonl'), '--out', cur, '--stages', 'exact', '--no-progress']);
  assert.equal(c.code, 0, c.stderr);
  const kept = readJsonl(join(cur, 'kept.jsonl'));
  assert.equal(kept.length, 2125);

  const out = join(tempDir(), 'export');
  const r = await runCli(['export', join(cur, 'kept.jsonl'), '--out', out, '--shard-docs', '400', '--parquet']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /exported 2125 documents in 6 shard\(s\)/);
  const m = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as Manifest;
  assert.equal(m.manifest_version, 1);
  assert.deepEqual(m.formats, ['jsonl.gz', 'parquet']);
  assert.equal(m.documents, 2125);
  assert.equal(m.refused, 0);
  assert.equal(m.schema.name, 'd4stream.CrawledDocument');
  assert.deepEqual(m.source, { kind: 'file', path: join(cur, 'kept.jsonl') });
  assert.deepEqual(m.shards.map((s) => s.documents), [400, 400, 400, 400, 400, 125]);
  assert.equal(m.shards[0]!.first_id, kept[0]!.id);
  assert.equal(m.shards[5]!.last_id, kept[2124]!.id);
  checkManifest(out, m, 400);
  assert.deepEqual(readJsonlShards(out, m), kept, 'JSONL.gz: the same documents, in order, field for field');
  assert.deepEqual(await readParquetShards(out, m), kept, 'Parquet: the same documents, in order, field for field');

  // An earlier export is not overwritten by accident.
  const again = await runCli(['export', join(cur, 'kept.jsonl'), '--out', out, '--shard-docs', '1000']);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /already holds an export .*--overwrite/);
  const over = await runCli(['export', join(cur, 'kept.jsonl'), '--out', out, '--shard-docs', '1000', '--overwrite']);
  assert.equal(over.code, 0, over.stderr);
  const m2 = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as Manifest;
  assert.deepEqual(m2.shards.map((s) => s.documents), [1000, 1000, 125]);
  checkManifest(out, m2, 1000);
  assert.deepEqual(readJsonlShards(out, m2), kept);
});

test('export: lines that are not documents are refused with their line number and counted; bad options fail fast', async () => {
  const dir = tempDir();
  const input = join(dir, 'mixed.jsonl');
  writeFileSync(input, [
    JSON.stringify({ id: 'a', url: null, fetched_at: null, content_type: null, language: null, text: 'first', metadata: {} }),
    '{"id": "broken",',
    JSON.stringify({ id: 'b', text: 'raw input, with an extra field', topic: 'sport' }),
    JSON.stringify({ text: 'no id' }),
    '',
  ].join('\n'));
  const out = join(dir, 'out');
  const r = await runCli(['export', input, '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /mixed\.jsonl:2: not exported: malformed JSON/);
  assert.match(r.stderr, /mixed\.jsonl:4: not exported: missing-id/);
  assert.match(r.stderr, /warning: 2 record\(s\) were not documents/);
  const m = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as Manifest;
  assert.equal(m.documents, 2);
  assert.equal(m.refused, 2);
  const docs = readJsonlShards(out, m);
  assert.deepEqual(docs.map((d) => d.id), ['a', 'b']);
  assert.deepEqual(docs[1]!.metadata, { topic: 'sport' }, 'extra input fields go to metadata, as in curate');

  const missing = await runCli(['export', join(dir, 'nope.jsonl'), '--out', join(dir, 'o2')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /nope\.jsonl does not exist/);
  const both = await runCli(['export', input, '--topic', 't', '--out', join(dir, 'o3')]);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /either an input file .* or --topic/);
  const zero = await runCli(['export', input, '--out', join(dir, 'o4'), '--shard-docs', '0']);
  assert.notEqual(zero.code, 0);
  assert.match(zero.stderr, /--shard-docs must be a positive whole number/);
});

test('export: an empty kept.jsonl gives a manifest with no shards', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'kept.jsonl'), '');
  const r = await runCli(['export', join(dir, 'kept.jsonl'), '--out', join(dir, 'out'), '--parquet']);
  assert.equal(r.code, 0, r.stderr);
  const m = JSON.parse(readFileSync(join(dir, 'out', 'manifest.json'), 'utf8')) as Manifest;
  assert.equal(m.documents, 0);
  assert.deepEqual(m.shards, []);
  assert.equal(readFileSync(join(dir, 'out', 'SHA256SUMS'), 'utf8'), '');
});
