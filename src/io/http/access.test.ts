import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { authorized, describeAccess, httpAccess, HttpAccessError } from './access.js';
import { serveFeed } from './feed-server.js';
import type { FeedBatch } from '../../feed/index.js';
import { tempDir } from '../../../test/helpers.js';

const req = (authorization?: string) => ({ headers: authorization === undefined ? {} : { authorization } }) as IncomingMessage;

test('httpAccess: loopback by default, another address only when given, token from a file or $D4_HTTP_TOKEN', () => {
  assert.deepEqual(httpAccess({}, {}), { host: '127.0.0.1' });
  assert.deepEqual(httpAccess({ bind: '0.0.0.0' }, {}), { host: '0.0.0.0' });
  assert.deepEqual(httpAccess({}, { D4_HTTP_TOKEN: ' t0k ' }), { host: '127.0.0.1', token: 't0k' });
  const file = join(tempDir('d4-access-'), 'token');
  writeFileSync(file, 'from-file\n');
  assert.equal(httpAccess({ tokenFile: file }, { D4_HTTP_TOKEN: 'env' }).token, 'from-file');
  assert.throws(() => httpAccess({ bind: 'example.org' }, {}), HttpAccessError);
  assert.throws(() => httpAccess({ tokenFile: join(file, 'nope') }, {}), /cannot read it/);
  assert.match(describeAccess({ host: '0.0.0.0' }), /WARNING: open to the network/);
  assert.ok(!describeAccess({ host: '0.0.0.0', token: 'secret-value' }).includes('secret-value'));
});

test('authorized: no token set lets every request in; with one, only the exact bearer token', () => {
  assert.equal(authorized(req(), undefined), true);
  assert.equal(authorized(req(), 's3cret'), false);
  assert.equal(authorized(req('Bearer s3cret'), 's3cret'), true);
  assert.equal(authorized(req('bearer  s3cret '), 's3cret'), true);
  assert.equal(authorized(req('Bearer s3cre'), 's3cret'), false);
  assert.equal(authorized(req('Basic czNjcmV0'), 's3cret'), false);
});

test('feed server with a token: 401 without it, the batches with it, /healthz open', async () => {
  const batch: FeedBatch = { epoch: 0, batch: 0, checkpoint: 'c0', tokens: 1, documents: [] };
  const server = await serveFeed({
    port: 0, token: 'tok-123', log: () => undefined,
    open: () => (async function* () { yield batch; })(),
  });
  try {
    const denied = await fetch(server.url);
    assert.equal(denied.status, 401);
    assert.match(denied.headers.get('www-authenticate') ?? '', /^Bearer/);
    assert.ok(!(await denied.text()).includes('tok-123'));
    const ok = await fetch(server.url, { headers: { authorization: 'Bearer tok-123' } });
    assert.equal(ok.status, 200);
    assert.equal(JSON.parse((await ok.text()).trim()).checkpoint, 'c0');
    assert.equal((await fetch(server.url.replace('/batches', '/healthz'))).status, 200);
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/batches$/);
  } finally {
    await server.close();
  }
});

test('metrics server with a token: /metrics and the dashboard need it, /healthz does not', async () => {
  const { Registry } = await import('prom-client');
  const { MetricsServer } = await import('../../observe/server.js');
  const server = new MetricsServer({ registry: new Registry(), phase: 'running', startedAt: Date.now(), isReady: () => true }, { port: 0, token: 'm-tok' });
  const url = await server.start();
  try {
    assert.equal((await fetch(`${url}/metrics`)).status, 401);
    assert.equal((await fetch(`${url}/`)).status, 401);
    assert.equal((await fetch(`${url}/metrics`, { headers: { authorization: 'Bearer m-tok' } })).status, 200);
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
  } finally {
    await server.close();
  }
});
