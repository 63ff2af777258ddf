import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildClientConfig, describeClientConfig, explainConnectError, kafkajsSecurity, KafkaConfigError, KafkaSecurityError, loadClientConfig, parseJaas, parseProperties } from './security.js';

const CERT = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----';

test('parseProperties: the java.util.Properties text format', () => {
  const p = parseProperties([
    '# comment', '! also a comment', '  security.protocol = SASL_SSL', 'sasl.mechanism:SCRAM-SHA-512', 'key value with spaces',
    'sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \\', '    username="alice" \\', '    password="p=w:d";',
    'escaped\\=key=a\\tb\\u0041', 'empty=', '',
  ].join('\n'));
  assert.equal(p.get('security.protocol'), 'SASL_SSL');
  assert.equal(p.get('sasl.mechanism'), 'SCRAM-SHA-512');
  assert.equal(p.get('key'), 'value with spaces');
  assert.equal(p.get('sasl.jaas.config'), 'org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="p=w:d";');
  assert.equal(p.get('escaped=key'), 'a\tbA');
  assert.equal(p.get('empty'), '');
});

test('parseJaas: module and quoted or bare options', () => {
  const j = parseJaas('org.apache.kafka.common.security.plain.PlainLoginModule required username="bob" password="a \\"quoted\\" ; pw" extra=1;');
  assert.equal(j.module, 'org.apache.kafka.common.security.plain.PlainLoginModule');
  assert.equal(j.options.get('username'), 'bob');
  assert.equal(j.options.get('password'), 'a "quoted" ; pw');
  assert.equal(j.options.get('extra'), '1');
  assert.throws(() => parseJaas('username="x"'), KafkaConfigError);
});

test('buildClientConfig: SASL_SSL with SCRAM from the JAAS line, CA from a PEM truststore, bootstrap.servers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'd4-sec-'));
  writeFileSync(join(dir, 'ca.pem'), `${CERT}\n${CERT}\n`);
  const file = join(dir, 'client.properties');
  writeFileSync(file, [
    'bootstrap.servers=SASL_SSL://b1:9093,b2:9093', 'security.protocol=sasl_ssl', 'sasl.mechanism=SCRAM-SHA-256',
    'sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="d4" password="S3cret!";',
    'ssl.truststore.type=PEM', 'ssl.truststore.location=ca.pem', 'ssl.endpoint.identification.algorithm=', 'linger.ms=5',
  ].join('\n'));
  const c = loadClientConfig(file);
  assert.equal(c.protocol, 'SASL_SSL');
  assert.deepEqual(c.bootstrap, ['b1:9093', 'b2:9093']);
  assert.deepEqual(c.sasl, { mechanism: 'scram-sha-256', username: 'd4', password: 'S3cret!' });
  assert.equal(c.tls?.ca?.length, 2, 'the relative path is relative to the file');
  assert.equal(c.tls?.verifyHostname, false);
  const k = kafkajsSecurity(c);
  assert.equal(k.sasl?.mechanism, 'scram-sha-256');
  assert.equal(typeof (k.ssl as { checkServerIdentity?: unknown }).checkServerIdentity, 'function');
  const line = describeClientConfig(c);
  assert.match(line, /SASL_SSL, SCRAM-SHA-256 as "d4", 2 trusted CA certificate\(s\)/);
  assert.ok(!line.includes('S3cret!'), 'no password in the description');
});

test('buildClientConfig: librdkafka keys (sasl.username/password, ssl.ca.location), PLAIN', () => {
  const dir = mkdtempSync(join(tmpdir(), 'd4-sec-'));
  writeFileSync(join(dir, 'ca.crt'), CERT);
  const props = new Map([['security.protocol', 'SASL_SSL'], ['sasl.mechanism', 'PLAIN'], ['sasl.username', 'u'], ['sasl.password', 'pw'], ['ssl.ca.location', 'ca.crt']]);
  const c = buildClientConfig(props, join(dir, 'x.properties'));
  assert.deepEqual(c.sasl, { mechanism: 'plain', username: 'u', password: 'pw' });
  assert.equal(c.tls?.ca?.length, 1);
  assert.equal(c.tls?.verifyHostname, true);
  assert.equal(buildClientConfig(new Map(), 'none').protocol, 'PLAINTEXT');
  assert.deepEqual(kafkajsSecurity(buildClientConfig(new Map(), 'none')), {});
});

test('buildClientConfig: errors name the key and the file, never a secret', () => {
  const secret = 'Hunter2-very-secret';
  const cases: [string, string[], RegExp][] = [
    ['bad protocol', ['security.protocol=TLS'], /security\.protocol=TLS .*expected one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL/],
    ['GSSAPI default', ['security.protocol=SASL_SSL', `sasl.password=${secret}`], /sasl\.mechanism=GSSAPI.*supports PLAIN, SCRAM-SHA-256, SCRAM-SHA-512/],
    ['module mismatch', ['security.protocol=SASL_PLAINTEXT', 'sasl.mechanism=PLAIN', `sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="a" password="${secret}";`], /ScramLoginModule.*does not go with sasl\.mechanism=PLAIN/],
    ['no user', ['security.protocol=SASL_PLAINTEXT', 'sasl.mechanism=PLAIN', `sasl.password=${secret}`], /needs a user name and a password/],
    ['missing CA file', ['security.protocol=SSL', 'ssl.ca.location=/nonexistent/ca.pem'], /ssl\.ca\.location=\/nonexistent\/ca\.pem .*cannot read it \(ENOENT\)/],
    ['bad user info', ['schema.registry.url=http://r', `basic.auth.user.info=${secret}`], /basic\.auth\.user\.info .*expected "<user>:<password>"/],
  ];
  for (const [label, lines, re] of cases) {
    assert.throws(() => buildClientConfig(parseProperties(lines.join('\n')), 'my.properties'), (e: Error) => {
      assert.ok(e instanceof KafkaConfigError, label);
      assert.match(e.message, re, label);
      assert.match(e.message, /my\.properties/, label);
      assert.ok(!e.message.includes(secret), `${label}: no secret in "${e.message}"`);
      return true;
    });
  }
});

test('registry settings: URL, basic auth (USER_INFO, SASL_INHERIT), bearer, schema.registry.ssl.*', () => {
  const dir = mkdtempSync(join(tmpdir(), 'd4-sec-'));
  writeFileSync(join(dir, 'rca.pem'), CERT);
  const f = join(dir, 'c.properties');
  const r1 = buildClientConfig(parseProperties('schema.registry.url=https://reg:8081,https://reg2:8081\nbasic.auth.credentials.source=USER_INFO\nbasic.auth.user.info=ann:pa:ss\nschema.registry.ssl.truststore.type=PEM\nschema.registry.ssl.truststore.location=rca.pem'), f).registry;
  assert.equal(r1.url, 'https://reg:8081');
  assert.deepEqual(r1.auth, { kind: 'basic', username: 'ann', password: 'pa:ss' });
  assert.equal(r1.tls?.ca?.length, 1);
  const r2 = buildClientConfig(parseProperties('security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\nsasl.username=k\nsasl.password=kp\nbasic.auth.credentials.source=SASL_INHERIT'), f).registry;
  assert.deepEqual(r2.auth, { kind: 'basic', username: 'k', password: 'kp' });
  const r3 = buildClientConfig(parseProperties('bearer.auth.credentials.source=STATIC_TOKEN\nbearer.auth.token=tok'), f).registry;
  assert.deepEqual(r3.auth, { kind: 'bearer', token: 'tok' });
});

test('explainConnectError: SASL refusals name the user, mechanism and file; other errors pass through', () => {
  const c = buildClientConfig(parseProperties('security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\nsasl.username=d4\nsasl.password=TopSecret'), 'c.properties');
  const kafkajsError = Object.assign(new Error('KafkaJSNonRetriableError'), { name: 'KafkaJSNonRetriableError', cause: Object.assign(new Error('SASL SCRAM SHA512 authentication failed: invalid credentials'), { name: 'KafkaJSSASLAuthenticationError' }) });
  const e = explainConnectError(kafkajsError, ['b:9093'], c) as Error;
  assert.ok(e instanceof KafkaSecurityError);
  assert.match(e.message, /SASL SCRAM-SHA-512 authentication as "d4" was refused by b:9093 .*c\.properties/);
  assert.ok(!e.message.includes('TopSecret'));
  const other = new Error('something else');
  assert.equal(explainConnectError(other, ['b:9093'], c), other);
});
