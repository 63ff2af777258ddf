import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jsonCodecs } from './json-codecs.js';
import { deadLetterJson } from './sink.js';
import { deadLetter, dropDecision, origin, type CrawledDocument } from '../../records/item.js';

const c = jsonCodecs();

test('json codecs: decisions, documents and dead letters encode to the JSON lines curate writes, and read back', () => {
  const doc: CrawledDocument = { id: 'a', url: null, fetched_at: 5, content_type: null, language: 'en', text: 'héllo\nworld', metadata: { k: 'v' } };
  const decision = dropDecision('a', 'exact', 'duplicate', 'h', { duplicate_of: 'b' }, 7);
  const o = origin({ file: 'in.jsonl', line: 3 });
  const dead = deadLetter(o, 'decode', 'invalid-utf8', 'record is not valid UTF-8', Buffer.from([0x7b, 0xe9, 0xff]));
  assert.equal(c.document.encode(doc).toString('utf8'), JSON.stringify(doc));
  assert.equal(c.decision.encode(decision).toString('utf8'), JSON.stringify(decision));
  assert.equal(c.deadLetter.encode(dead).toString('utf8'), JSON.stringify(deadLetterJson(dead)));
  assert.ok(!c.document.encode(doc).includes(0x0a), 'one line: no raw newline');
  assert.deepEqual(c.document.decode(c.document.encode(doc)), { value: doc });
  assert.deepEqual(c.decision.decode(c.decision.encode(decision)), { value: decision });
  const back = c.deadLetter.decode(c.deadLetter.encode(dead));
  assert.ok('value' in back);
  assert.deepEqual(back.value, dead, 'raw bytes back from base64, the preview dropped');
  assert.deepEqual(back.value.origin, { topic: null, partition: null, offset: null, file: 'in.jsonl', line: 3 });
});

test('json codecs: a line that is not JSON decodes to an error, never a throw', () => {
  const r = c.decision.decode(Buffer.from('{"id": '));
  assert.ok('error' in r);
  assert.equal(r.reason, 'malformed-json');
  assert.equal(c.decision.prepare([Buffer.from('{}')]), undefined);
});
