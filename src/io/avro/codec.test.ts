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
