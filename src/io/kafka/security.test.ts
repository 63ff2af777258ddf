import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildClientConfig, describeClientConfig, explainConnectError, kafkajsSecurity, KafkaConfigError, KafkaSecurityError, loadClientConfig, parseJaas, parseProperties } from './security.js';
import { tempDir } from '../../../test/helpers.js';

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
  const dir = tempDir('d4-sec-');
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
  const dir = tempDir('d4-sec-');
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
  const dir = tempDir('d4-sec-');
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

test('JKS and PKCS12 stores are read through the JDK\'s keytool, passwords passed in its environment', async () => {
  const { spawnSync } = await import('node:child_process');
  const dir = tempDir('d4-jks-');
  const pass = 'store-pass-123';
  const kt = (args: string[]) => {
    const r = spawnSync('keytool', args, { cwd: dir, encoding: 'utf8', env: { ...process.env, P: pass } });
    assert.equal(r.status, 0, `keytool ${args[0]}: ${r.stdout}${r.stderr}`);
  };
  kt(['-genkeypair', '-alias', 'client', '-keyalg', 'RSA', '-keysize', '2048', '-dname', 'CN=client', '-validity', '2', '-keystore', 'client.jks', '-storetype', 'JKS', '-storepass:env', 'P', '-keypass:env', 'P']);
  kt(['-exportcert', '-rfc', '-alias', 'client', '-keystore', 'client.jks', '-storepass:env', 'P', '-file', 'client.pem']);
  kt(['-importcert', '-noprompt', '-alias', 'ca', '-file', 'client.pem', '-keystore', 'trust.jks', '-storetype', 'JKS', '-storepass:env', 'P']);
  kt(['-importcert', '-noprompt', '-alias', 'ca', '-file', 'client.pem', '-keystore', 'trust.p12', '-storetype', 'PKCS12', '-storepass:env', 'P']);
  const { readFileSync } = await import('node:fs');
  const pem = readFileSync(join(dir, 'client.pem'), 'utf8').trim().replace(/\r/g, '');
  for (const [store, type] of [['trust.jks', 'JKS'], ['trust.p12', 'PKCS12']]) {
    const c = buildClientConfig(parseProperties(`security.protocol=SSL\nssl.truststore.location=${store}\nssl.truststore.type=${type}\nssl.truststore.password=${pass}`), join(dir, 'c.properties'));
    assert.deepEqual(c.tls?.ca?.map((x) => x.replace(/\r/g, '')), [pem], type);
  }
  const k = buildClientConfig(parseProperties(`security.protocol=SSL\nssl.keystore.location=client.jks\nssl.keystore.type=JKS\nssl.keystore.password=${pass}\nssl.key.password=${pass}`), join(dir, 'c.properties'));
  assert.ok(k.tls?.pfx && k.tls.pfx.length > 0, 'JKS keystore converted to PKCS12 for Node');
  const tls = await import('node:tls');
  assert.doesNotThrow(() => tls.createSecureContext({ pfx: k.tls!.pfx, passphrase: k.tls!.passphrase }), 'Node reads the converted keystore');
  assert.throws(() => buildClientConfig(parseProperties('security.protocol=SSL\nssl.truststore.location=trust.jks\nssl.truststore.password=wrong-one'), join(dir, 'c.properties')), (e: Error) => e instanceof KafkaConfigError && /keytool cannot read it/.test(e.message) && !e.message.includes('wrong-one'));
});
