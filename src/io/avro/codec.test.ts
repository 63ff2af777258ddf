import { test } from 'node:test';
import assert from 'node:assert/strict';
import { codecs } from './codec.js';
import type { CrawledDocument } from '../../records/item.js';

const doc: CrawledDocument = { id: 'd1', url: 'https://example.org/', fetched_at: 1_700_000_000_000, content_type: 'text/html', language: 'en', text: 'Grüße, world', metadata: { source: 'cc' } };

test('avro: documents round-trip, plain and in the Confluent wire format', () => {
  for (const c of [codecs(), codecs({ confluentSchemaId: 42 })]) {
    const r = c.document.decode(c.document.encode(doc));
    assert.ok('value' in r);
    assert.deepEqual({ ...r.value }, doc); // avsc returns a record class instance; compare its fields
  }
  const framed = codecs({ confluentSchemaId: 42 }).document.encode(doc);
  assert.equal(framed[0], 0);
  assert.equal(framed.readInt32BE(1), 42);
});

test('avro: bad bytes decode to an error, never a throw', () => {
  const c = codecs();
  const good = c.document.encode(doc);
  for (const bad of [Buffer.from('{"id":"x","text":"json, not avro"}'), good.subarray(0, 5), Buffer.concat([good, Buffer.from([1, 2, 3])]), Buffer.alloc(0)]) {
    const r = c.document.decode(bad);
    assert.ok('error' in r, `expected an error for ${bad.toString('hex').slice(0, 40)}`);
  }
  assert.ok('error' in codecs({ confluentSchemaId: 1 }).document.decode(good), 'unframed bytes refused when framing is expected');
});

test('avro: a record that does not match the schema is refused at encode time', () => {
  assert.throws(() => codecs().document.encode({ ...doc, text: 42 } as unknown as CrawledDocument));
});

import type avro from 'avsc';
import { parseSchema, recordSchemas, type WriterSchemaSource } from './codec.js';

/** Writer schemas held in memory, as a registry would serve them (fetch resolves what it holds, null otherwise). */
function schemaSource(registered: Record<number, object>): WriterSchemaSource & { fetched: number[] } {
  const known = new Map<number, avro.Type | null>();
  return {
    url: 'http://registry.test/apis/ccompat/v7',
    fetched: [],
    get: (id) => known.get(id),
    async fetch(ids) {
      for (const id of ids) { this.fetched.push(id); known.set(id, registered[id] ? parseSchema(registered[id]!) : null); }
    },
  };
}

test('avro registry framing: each record type is framed with its own id and read back by it', async () => {
  const schemas = schemaSource({ 11: recordSchemas.document });
  const c = codecs({ registry: { writerIds: { document: 11, decision: 12 }, schemas } });
  const framed = c.document.encode(doc);
  assert.deepEqual([framed[0], framed.readInt32BE(1)], [0, 11]);
  assert.equal(c.decision.encode({ id: 'd1', keep: true, stage: 'final', reason: 'kept', duplicate_of: null, similarity: null, cluster: null, centroid_version: null, distance: null, threshold: null, params_hash: 'h', decided_at: 1 }).readInt32BE(1), 12);
  assert.throws(() => c.embedding.encode({} as never), /no schema id for embedding/);
  const before = c.document.decode(framed);
  assert.ok('reason' in before && before.reason === 'unknown-schema-id', 'not fetched yet: never read by a guess');
  const p = c.document.prepare([framed, null, Buffer.from('x')]);
  assert.ok(p instanceof Promise);
  await p;
  assert.equal(c.document.prepare([framed]), undefined, 'nothing left to fetch');
  const r = c.document.decode(framed);
  assert.ok('value' in r);
  assert.deepEqual({ ...r.value }, doc);
});

test('avro registry framing: unknown ids, unframed bytes and unreadable writer schemas are errors with reasons', async () => {
  const older = { ...recordSchemas.document, fields: (recordSchemas.document as { fields: { name: string }[] }).fields.filter((f) => f.name !== 'language') };
  const alien = { type: 'record', name: 'CrawledDocument', namespace: 'd4stream', fields: [{ name: 'id', type: 'string' }, { name: 'text', type: 'int' }] };
  const schemas = schemaSource({ 1: older, 2: alien });
  const c = codecs({ registry: { writerIds: {}, schemas } });
  const body = (schema: object, value: unknown) => parseSchema(schema).toBuffer(value);
  const frame = (id: number, b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, 0, id]), b]);
  const v1 = frame(1, body(older, { id: 'a', url: null, fetched_at: null, content_type: null, text: 'hi', metadata: {} }));
  const bad = frame(2, body(alien, { id: 'b', text: 7 }));
  const unknown = frame(9, body(older, { id: 'c', url: null, fetched_at: null, content_type: null, text: 'x', metadata: {} }));
  await c.document.prepare([v1, bad, unknown]);
  const r1 = c.document.decode(v1);
  assert.ok('value' in r1, 'an older compatible version is resolved into the current schema');
  assert.equal(r1.value.language, null, 'the field it lacks takes its default');
  const r2 = c.document.decode(bad);
  assert.ok('error' in r2 && r2.reason === 'incompatible-schema' && /schema id 2/.test(r2.error));
  const r3 = c.document.decode(unknown);
  assert.ok('error' in r3 && r3.reason === 'unknown-schema-id' && /schema id 9 is not in the schema registry/.test(r3.error));
  const r4 = c.document.decode(codecs().document.encode(doc));
  assert.ok('error' in r4 && r4.reason === 'not-framed');
  assert.deepEqual(schemas.fetched.sort(), [1, 2, 9]);
});

test('avro: registry and loader reasons together: empty, JSON, plain Avro, header alone, an unknown id with its id, a bad body', async () => {
  const schemas = schemaSource({ 5: recordSchemas.document });
  const c = codecs({ registry: { writerIds: { document: 5 }, schemas } }).document;
  const reasonOf = (b: Buffer) => { const r = c.decode(b); assert.ok('error' in r, `expected an error for ${b.toString('hex').slice(0, 40)}`); return r; };
  assert.equal(reasonOf(Buffer.alloc(0)).reason, 'empty-record');
  const json = reasonOf(Buffer.from('{"id":"x","text":"json, not avro"}'));
  assert.equal(json.reason, 'not-framed');
  assert.match(json.error, /--format json/);
  const plain = reasonOf(codecs().document.encode(doc));
  assert.equal(plain.reason, 'not-framed');
  assert.match(plain.error, /without --schema-registry/);
  const unknown = Buffer.concat([Buffer.from([0, 0, 0, 0, 77]), codecs().document.encode(doc)]);
  await c.prepare([unknown]);
  const u = reasonOf(unknown);
  assert.equal(u.reason, 'unknown-schema-id');
  assert.match(u.error, /schema id 77 is not in the schema registry/);
  await c.prepare([Buffer.from([0, 0, 0, 0, 5])]);
  assert.equal(reasonOf(Buffer.from([0, 0, 0, 0, 5])).reason, 'empty-record', 'a header alone has no document');
  const truncated = reasonOf(c.encode(doc).subarray(0, 12));
  assert.equal(truncated.reason, 'not-avro');
  assert.match(truncated.error, /schema id 5/);
  const ok = c.decode(c.encode(doc));
  assert.ok('value' in ok);
});

test('avro: plain and --schema-id decode errors are named (empty-record, not-avro with the --format json hint, not-framed, unknown-schema-id)', () => {
  const plain = codecs().document;
  const r1 = plain.decode(Buffer.alloc(0));
  assert.ok('error' in r1 && r1.reason === 'empty-record');
  const r2 = plain.decode(Buffer.from('{"id":"x","text":"json"}'));
  assert.ok('error' in r2 && r2.reason === 'not-avro' && /--format json/.test(r2.error));
  const fixed = codecs({ confluentSchemaId: 3 }).document;
  const r3 = fixed.decode(plain.encode(doc));
  assert.ok('error' in r3 && r3.reason === 'not-framed');
  const r4 = fixed.decode(codecs({ confluentSchemaId: 4 }).document.encode(doc));
  assert.ok('error' in r4 && r4.reason === 'unknown-schema-id' && /schema id 4/.test(r4.error));
  const r5 = fixed.decode(fixed.encode(doc));
  assert.ok('value' in r5);
});
