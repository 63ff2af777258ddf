import { test } from 'node:test';
import assert from 'node:assert/strict';
import { confluentHeader, explainAvroFailure, jsonFailureHint, looksLikeJson } from './decode-reasons.js';
import { itemFromRecordValue, defaultDecodeOptions, validateDocument, type DocumentDecoder } from './decode.js';
import { origin, type CrawledDocument } from './item.js';

const framed = (id: number, body: Buffer) => { const h = Buffer.alloc(5); h.writeInt32BE(id, 1); return Buffer.concat([h, body]); };

test('decode reasons: JSON, framed and empty bytes are told apart, with the option that reads them', () => {
  const json = Buffer.from(' {"id":"x","text":"json, not avro"}\n');
  assert.ok(looksLikeJson(json));
  assert.ok(!looksLikeJson(Buffer.from('{not json')));
  assert.ok(!looksLikeJson(Buffer.from([0, 1, 2])));
  const j = explainAvroFailure(json, 'truncated buffer');
  assert.equal(j.reason, 'not-avro');
  assert.match(j.message, /looks like JSON.*--format json/);
  const f = explainAvroFailure(framed(7, Buffer.from([2, 0x61])), 'truncated buffer');
  assert.equal(f.reason, 'not-avro');
  assert.match(f.message, /Confluent wire-format header \(magic byte 0, schema id 7\).*--schema-id 7/);
  assert.deepEqual(confluentHeader(framed(7, Buffer.from([1]))), { schemaId: 7 });
  assert.equal(explainAvroFailure(Buffer.alloc(0), 'x').reason, 'empty-record');
  assert.equal(explainAvroFailure(Buffer.from([0x99, 0x01]), 'x').message, 'not an Avro CrawledDocument: x');
});

test('decode reasons: with framing expected, unframed bytes are not-framed and another id is unknown-schema-id', () => {
  const nf = explainAvroFailure(Buffer.from([2, 0x61, 0, 0]), 'no header', 5);
  assert.equal(nf.reason, 'not-framed');
  assert.match(nf.message, /leave --schema-id out/);
  assert.match(explainAvroFailure(Buffer.from('{"a":1}'), 'no header', 5).message, /--format json/);
  const u = explainAvroFailure(framed(9, Buffer.from([2])), 'no header', 5);
  assert.equal(u.reason, 'unknown-schema-id');
  assert.match(u.message, /schema id 9, not the 5/);
  assert.equal(explainAvroFailure(framed(5, Buffer.from([2])), 'truncated buffer', 5).reason, 'not-avro');
  assert.match(jsonFailureHint(framed(5, Buffer.from([2]))) ?? '', /--format avro --schema-id 5/);
  assert.match(jsonFailureHint(Buffer.from([2, 0x61, 0x01])) ?? '', /binary.*--format avro/);
  assert.equal(jsonFailureHint(Buffer.from('{"a": 1')), undefined);
});

const doc: CrawledDocument = { id: 'd1', url: 'https://example.org/', fetched_at: 1_700_000_000_000, content_type: 'text/html', language: 'en', text: 'hello', metadata: { topic: 'business' } };
const o = origin({ topic: 't', partition: 0, offset: '5' });

test('itemFromRecordValue: an Avro document passes through field for field (no fetched_at copied into metadata)', () => {
  const decodeAvro: DocumentDecoder = () => ({ value: { ...doc } });
  const it = itemFromRecordValue(Buffer.from([1]), 'd1', 0, o, 'avro', decodeAvro, defaultDecodeOptions);
  assert.equal(it.kind, 'doc');
  assert.deepEqual(it.kind === 'doc' && it.doc, doc);
  const nullTime = itemFromRecordValue(Buffer.from([1]), 'd1', 0, o, 'avro', () => ({ value: { ...doc, fetched_at: null, metadata: {} } }), defaultDecodeOptions);
  assert.deepEqual(nullTime.kind === 'doc' && nullTime.doc.metadata, {});
  const v = validateDocument({ ...doc, text: ' \n' }, defaultDecodeOptions);
  assert.ok('error' in v && v.error === 'empty-text' && v.id === 'd1');
});

test('itemFromRecordValue: tombstones, empty values and undecodable bytes are dead letters with named reasons', () => {
  const never: DocumentDecoder = () => { throw new Error('not called'); };
  const t = itemFromRecordValue(null, 'k1', 0, o, 'avro', never, defaultDecodeOptions);
  assert.ok(t.kind === 'dead' && t.dead.error === 'tombstone' && t.dead.id === 'k1');
  const e = itemFromRecordValue(Buffer.alloc(0), 'k1', 0, o, 'json', never, defaultDecodeOptions);
  assert.ok(e.kind === 'dead' && e.dead.error === 'empty-record');
  const bad = itemFromRecordValue(Buffer.from('{}'), 'k1', 0, o, 'avro', () => ({ error: 'it looks like JSON', reason: 'not-avro' }), defaultDecodeOptions);
  assert.ok(bad.kind === 'dead' && bad.dead.error === 'not-avro' && bad.dead.stage === 'decode' && bad.dead.id === 'k1');
  const bin = itemFromRecordValue(framed(3, Buffer.from([2, 0x61])), null, 0, o, 'json', never, defaultDecodeOptions);
  assert.ok(bin.kind === 'dead' && bin.dead.error === 'invalid-utf8' || (bin.kind === 'dead' && bin.dead.error === 'malformed-json'));
  assert.match(bin.kind === 'dead' ? bin.dead.message : '', /--format avro --schema-id 3/);
  // A framed record that happens to decode as plain Avro comes out with an empty id: named too.
  const misread = itemFromRecordValue(framed(3, Buffer.from([2, 0x61])), null, 0, o, 'avro', () => ({ value: { ...doc, id: '' } }), defaultDecodeOptions);
  assert.ok(misread.kind === 'dead' && misread.dead.error === 'missing-id');
  assert.match(misread.kind === 'dead' ? misread.dead.message : '', /--schema-id 3/);
});
