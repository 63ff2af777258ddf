// Integration tier: d4stream's topics read by tools nobody on the project wrote — the Confluent
// Python client (SchemaRegistryClient + AvroDeserializer) against a real schema registry
// (Apicurio, `npm run registry:up`), and Debian's kcat reading raw bytes decoded with fastavro
// and the .avsc files the README names — plus schema evolution and unknown ids under
// --schema-registry. Real broker, real registry, real tools; nothing here is mocked.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { root, runCli, sharedData, tempDir } from '../helpers.js';
import { brokers, d4, namespace, readJsonl, writeTopology } from './kafka-helpers.js';
import { ecosystemPython, kcat, kcatRaw, kcatRecords, readSchemaless, readWithAvroDeserializer } from './ecosystem-tools.js';

const EXACT = '  - { id: exact, type: exact }';
const script = join(root, 'scripts', 'registry.mjs');
let registry = '';
let startedRegistry = false;

before(() => {
  startedRegistry = spawnSync(process.execPath, [script, 'status'], { stdio: 'ignore' }).status !== 0;
  const r = spawnSync(process.execPath, [script, 'up'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`registry.mjs up failed:\n${r.stdout}${r.stderr}`);
  registry = r.stdout.trim().split('\n').at(-1)!;
  ecosystemPython();
  kcat();
});

after(() => {
  if (startedRegistry) spawnSync(process.execPath, [script, 'down'], { stdio: 'inherit' });
});

async function get(path: string): Promise<any> {
  const r = await fetch(`${registry}${path}`);
  assert.equal(r.status, 200, `GET ${path}`);
  return r.json();
}

/** d4 consume with the registry: framed records decoded by their writer schemas. */
async function consumeWithRegistry<T = Record<string, any>>(topic: string, as: string): Promise<T[]> {
  const r = await d4(['consume', '--topic', topic, '--as', as, '--idle-ms', '2500', '--schema-registry', registry]);
  return r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as T);
}

async function registerRaw(subject: string, schema: object): Promise<Response> {
  return fetch(`${registry}/subjects/${subject}/versions`, { method: 'POST', headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' }, body: JSON.stringify({ schema: JSON.stringify(schema) }) });
}

const decisionAvsc = () => JSON.parse(readFileSync(join(root, 'schemas', 'decision.avsc'), 'utf8')) as { fields: { name: string }[] };

test('registry: BBC produced and curated with --schema-registry; the Python AvroDeserializer decodes all 2,225 decisions and 2,125 curated documents; one subject per record-type topic', async () => {
  const input = sharedData('bbc-news-2225.jsonl');
  const t = writeTopology(namespace('reg'), EXACT);
  const reg = ['--schema-registry', registry];
  await d4(['produce', input, '--topic', t.crawl, ...reg]);
  const run = await d4(['run', t.path, '--until-idle', '10000', '--json', ...reg]);
  assert.equal(JSON.parse(run.stdout.trim().split('\n').at(-1)!).in, 2225);

  const subjects = ((await get('/subjects')) as string[]).filter((s) => s.startsWith(`${t.app}.`)).sort();
  assert.deepEqual(subjects, [t.crawl, t.curated, t.decisions, t.deadLetter].map((x) => `${x}-value`).sort(), 'one subject per record-type topic (TopicNameStrategy)');
  const idOf = async (topic: string) => (await get(`/subjects/${topic}-value/versions/latest`)).id as number;

  const decisions = readWithAvroDeserializer(brokers(), registry, t.decisions);
  assert.equal(decisions.length, 2225);
  assert.equal(decisions.filter((d) => d.value.keep === false).length, 100);
  assert.ok(decisions.every((d) => d.key === d.value.id), 'keys are the document ids, UTF-8');
  assert.deepEqual([...new Set(decisions.map((d) => d.schema_id))], [await idOf(t.decisions)], 'framed with the Decision subject\'s id');

  const curated = readWithAvroDeserializer(brokers(), registry, t.curated);
  assert.equal(curated.length, 2125);
  assert.deepEqual([...new Set(curated.map((d) => d.schema_id))], [await idOf(t.curated)]);
  const texts = new Map(readJsonl<{ id: string; text: string }>(input).map((d) => [d.id, d.text]));
  assert.ok(curated.every((d) => texts.get(d.value.id) === d.value.text), 'texts arrive as they went in');
  const kept = new Set(decisions.filter((d) => d.value.keep).map((d) => d.value.id));
  assert.deepEqual(new Set(curated.map((d) => d.value.id)), kept);

  // d4's own readers of the curated topic resolve the ids too.
  const out = tempDir();
  await d4(['export', '--topic', t.curated, '--out', out, ...reg]);
  assert.equal(JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')).documents, 2125);

  // kcat sees the Confluent framing raw: magic byte 0 and the subject's id in every value.
  const raw = kcatRecords(kcatRaw(brokers(), t.decisions));
  assert.equal(raw.length, 2225);
  assert.ok(raw.every((r) => r.value[0] === 0 && r.value.readInt32BE(1) === decisions[0]!.schema_id));
});

test('registry: a record stamped with an id the registry does not know is dead-lettered as unknown-schema-id, with the id', async () => {
  const lines = readFileSync(sharedData('bbc-news-2225.jsonl'), 'utf8').split('\n').filter(Boolean);
  const dir = tempDir();
  writeFileSync(join(dir, 'good.jsonl'), lines.slice(0, 30).join('\n'));
  writeFileSync(join(dir, 'stray.jsonl'), lines.slice(30, 32).join('\n'));
  const t = writeTopology(namespace('unknownid'), EXACT);
  await d4(['produce', join(dir, 'good.jsonl'), '--topic', t.crawl, '--schema-registry', registry]);
  await d4(['produce', join(dir, 'stray.jsonl'), '--topic', t.crawl, '--schema-id', '987654']);
  const run = await d4(['run', t.path, '--until-idle', '10000', '--json', '--schema-registry', registry]);
  const summary = JSON.parse(run.stdout.trim().split('\n').at(-1)!);
  assert.equal(summary.in, 32);
  const dead = await consumeWithRegistry<{ id: string | null; error: string; message: string; origin: { offset: string } }>(t.deadLetter, 'dead-letter');
  assert.deepEqual(dead.map((d) => [d.error, d.origin.offset]), [['unknown-schema-id', '30'], ['unknown-schema-id', '31']]);
  assert.ok(dead.every((d) => /schema id 987654 is not in the schema registry/.test(d.message)), dead[0]?.message);
  const decisions = await consumeWithRegistry<{ id: string }>(t.decisions, 'decision');
  assert.equal(decisions.length, 30, 'dead-lettered records get no decision');
});

test('registry: a compatible new version of a subject is accepted, an incompatible one refused at start with a message', async () => {
  // Someone registered an older Decision schema without `threshold` (d4's has it, with a default):
  // BACKWARD-compatible, so d4 registers its own as the next version and runs.
  const ok = writeTopology(namespace('evolve'), EXACT);
  const older = decisionAvsc();
  older.fields = older.fields.filter((f) => f.name !== 'threshold');
  assert.equal((await registerRaw(`${ok.decisions}-value`, older)).status, 200);
  const input = join(tempDir(), 'few.jsonl');
  writeFileSync(input, readFileSync(sharedData('bbc-news-2225.jsonl'), 'utf8').split('\n').slice(0, 10).join('\n'));
  await d4(['produce', input, '--topic', ok.crawl, '--schema-registry', registry]);
  await d4(['run', ok.path, '--until-idle', '10000', '--schema-registry', registry]);
  assert.deepEqual(await get(`/subjects/${ok.decisions}-value/versions`), [1, 2]);
  assert.equal((await consumeWithRegistry(ok.decisions, 'decision')).length, 10);

  // An older version without `params_hash`, which d4's schema requires (no default): d4 could not
  // read what that version wrote, so the registry (BACKWARD) refuses d4's schema and the run stops
  // before consuming anything.
  const bad = writeTopology(namespace('incompatible'), EXACT);
  const other = decisionAvsc();
  other.fields = other.fields.filter((f) => f.name !== 'params_hash');
  assert.equal((await registerRaw(`${bad.decisions}-value`, other)).status, 200);
  const r = await runCli(['run', bad.path, '--until-idle', '5000', '--schema-registry', registry], { env: { D4_KAFKA_BROKERS: brokers() } });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, new RegExp(`d4's Decision schema is incompatible with the versions registered under subject ${bad.decisions.replace(/[.]/g, '\\.')}-value`));
  assert.deepEqual(await get(`/subjects/${bad.decisions}-value/versions`), [1], 'nothing registered');
});

test('schemaless (the default): kcat reads the raw bytes; fastavro decodes them with the README\'s .avsc per topic; keys are UTF-8 ids; dead-lettered records get no decision', async () => {
  const input = sharedData('bbc-news-2225.jsonl');
  const mixed = join(tempDir(), 'mixed.jsonl');
  writeFileSync(mixed, `${readFileSync(input, 'utf8').trim()}\n{"id":"broken","text":\n${JSON.stringify({ id: 'empty', text: '  ' })}\n`);
  const t = writeTopology(namespace('raw'), EXACT, { format: 'json' });
  await d4(['produce', mixed, '--topic', t.crawl, '--format', 'json']);
  await d4(['run', t.path, '--until-idle', '10000']);
  const dir = tempDir();
  const read = (topic: string, avsc: string) => {
    const file = join(dir, `${topic}.kcat`);
    writeFileSync(file, kcatRaw(brokers(), topic));
    return readSchemaless(file, avsc);
  };
  const decisions = read(t.decisions, 'decision.avsc');
  assert.equal(decisions.length, 2225);
  assert.equal(decisions.filter((d) => d.value.keep === false).length, 100);
  assert.ok(decisions.every((d) => d.key === d.value.id));
  const curated = read(t.curated, 'crawled-document.avsc');
  assert.equal(curated.length, 2125);
  const texts = new Map(readJsonl<{ id: string; text: string }>(input).map((d) => [d.id, d.text]));
  assert.ok(curated.every((d) => d.key === d.value.id && texts.get(d.value.id) === d.value.text));
  const dead = read(t.deadLetter, 'dead-letter.avsc');
  assert.deepEqual(dead.map((d) => d.value.error).sort(), ['empty-text', 'malformed-json']);
  const decided = new Set(decisions.map((d) => d.value.id));
  assert.ok(!decided.has('broken') && !decided.has('empty'), 'no decision for a dead-lettered record');
  // The same bytes, framed by nothing: the first decision's value is the Avro body itself.
  assert.notEqual(kcatRecords(kcatRaw(brokers(), t.decisions))[0]!.value[0], 0);
});
