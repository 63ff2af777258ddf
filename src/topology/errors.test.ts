import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classify, retry, TaskFencedError } from './errors.js';

const named = (name: string, message: string, cause?: unknown) => Object.assign(new Error(message, cause ? { cause } : {}), { name });

test('classify: an unreachable or re-electing broker is retriable, a fenced producer is TaskFencedError, a bad record is not retriable', () => {
  for (const e of [
    named('KafkaJSConnectionError', 'Connection error: connect ECONNREFUSED 127.0.0.1:19092'),
    named('KafkaJSGroupCoordinatorNotFound', 'Failed to find group coordinator'),
    named('KafkaJSNumberOfRetriesExceeded', 'retries exceeded', named('KafkaJSProtocolError', 'The coordinator is not available')),
    named('KafkaJSProtocolError', 'There is no leader for this topic-partition as we are in the middle of a leadership election'),
  ]) assert.equal(classify(e).retriable, true, e.message);
  assert.ok(classify(named('KafkaJSProtocolError', 'Producer attempted an operation with an old epoch')) instanceof TaskFencedError);
  assert.equal(classify(named('KafkaJSProtocolError', 'The request included a message larger than the max message size the server will accept')).retriable, false);
  assert.equal(classify(Object.assign(new Error('x'), { retriable: true })).retriable, true);
});

test('retry: retriable failures are retried with growing delays until success; a non-retriable one is thrown at once', async () => {
  const delays: number[] = [];
  let calls = 0;
  const value = await retry(async () => {
    if (++calls < 3) throw named('KafkaJSGroupCoordinatorNotFound', 'Failed to find group coordinator');
    return 'ok';
  }, { attempts: 5, initialDelayMs: 100, maxDelayMs: 1_000, random: () => 0.5, sleep: async (ms) => { delays.push(ms); } });
  assert.equal(value, 'ok');
  assert.deepEqual(delays, [100, 200]);
  calls = 0;
  await assert.rejects(retry(async () => { calls++; throw new Error('bad option'); }, { attempts: 5, initialDelayMs: 1, maxDelayMs: 1, sleep: async () => undefined }), /bad option/);
  assert.equal(calls, 1);
});
