// The SASL_SSL mode of the local broker (`node scripts/kafka.mjs up --sasl-ssl`): the only
// client listener speaks TLS with a broker certificate signed by a self-signed CA made here with
// the JDK's keytool, and authenticates with SASL (PLAIN users in the listener's JAAS line, SCRAM
// users created with kafka-configs once the broker runs). Used by scripts/kafka.mjs; nothing
// here is product code.
//
// Files, under <runtime dir>/tls (made once, kept across down/up; delete the dir to renew):
//   ca.p12, ca.pem         the CA (PKCS12 with its key; its certificate as PEM for clients)
//   broker.p12             the broker's key and certificate (SAN IP:127.0.0.1, DNS:localhost)
//   truststore.p12         the CA certificate, for Java clients (the broker talks to itself)
//   secrets.json           generated passwords (mode 0600)
//   admin.properties       the broker's PLAIN admin, for kafka-configs
// and in the runtime dir, for d4 and other clients (mode 0600):
//   client.properties          SASL_SSL, SCRAM-SHA-256, user d4, CA as PEM
//   client-scram512.properties SCRAM-SHA-512, user d4
//   client-plain.properties    PLAIN, user d4-plain
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export const SCRAM_USER = 'd4';
export const PLAIN_USER = 'd4-plain';

function keytoolBin() {
  return process.env.JAVA_HOME ? path.join(process.env.JAVA_HOME, 'bin', 'keytool') : 'keytool';
}

// Store passwords reach keytool through its environment (-storepass:env), not its command line.
function keytool(dir, args, pass, die) {
  const r = spawnSync(keytoolBin(), args, { cwd: dir, encoding: 'utf8', env: { ...process.env, D4_KS_PASS: pass } });
  if (r.error || r.status !== 0) {
    die(`keytool ${args[0]} failed (${r.error?.code ?? `exit ${r.status}`}): ${`${r.stdout ?? ''}${r.stderr ?? ''}`.trim()}\n` +
      'The SASL_SSL broker needs the JDK\'s keytool (Debian/Ubuntu: apt-get install openjdk-17-jdk-headless).');
  }
  return r.stdout;
}

/** Makes the CA, the broker keystore, the truststore and the passwords once; returns the paths and secrets. */
export function ensureTls(runtime, die, say) {
  const dir = path.join(runtime, 'tls');
  const f = {
    dir,
    secrets: path.join(dir, 'secrets.json'),
    caP12: path.join(dir, 'ca.p12'),
    caPem: path.join(dir, 'ca.pem'),
    broker: path.join(dir, 'broker.p12'),
    truststore: path.join(dir, 'truststore.p12'),
    admin: path.join(dir, 'admin.properties'),
  };
  const done = [f.secrets, f.caPem, f.broker, f.truststore].every((p) => fs.existsSync(p));
  if (done) return { files: f, secrets: JSON.parse(fs.readFileSync(f.secrets, 'utf8')) };

  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pw = () => randomBytes(18).toString('base64url');
  const secrets = { store: pw(), admin: pw(), scram: pw(), plain: pw() };
  const ks = (args) => keytool(dir, args, secrets.store, die);
  const common = ['-storetype', 'PKCS12', '-storepass:env', 'D4_KS_PASS'];
  ks(['-genkeypair', '-alias', 'ca', '-keyalg', 'RSA', '-keysize', '2048', '-validity', '3650', '-dname', 'CN=d4stream local CA',
    '-ext', 'bc:c', '-keystore', f.caP12, ...common]);
  ks(['-exportcert', '-rfc', '-alias', 'ca', '-keystore', f.caP12, '-file', f.caPem, ...common]);
  ks(['-genkeypair', '-alias', 'broker', '-keyalg', 'RSA', '-keysize', '2048', '-validity', '3650', '-dname', 'CN=localhost',
    '-keystore', f.broker, ...common]);
  const csr = path.join(dir, 'broker.csr');
  const crt = path.join(dir, 'broker.crt');
  ks(['-certreq', '-alias', 'broker', '-keystore', f.broker, '-file', csr, ...common]);
  ks(['-gencert', '-alias', 'ca', '-keystore', f.caP12, '-infile', csr, '-outfile', crt, '-rfc', '-validity', '3650',
    '-ext', 'SAN=IP:127.0.0.1,DNS:localhost', '-ext', 'KU=digitalSignature,keyEncipherment', '-ext', 'EKU=serverAuth,clientAuth', ...common]);
  ks(['-importcert', '-noprompt', '-alias', 'ca', '-file', f.caPem, '-keystore', f.broker, ...common]);
  ks(['-importcert', '-noprompt', '-alias', 'broker', '-file', crt, '-keystore', f.broker, ...common]);
  ks(['-importcert', '-noprompt', '-alias', 'ca', '-file', f.caPem, '-keystore', f.truststore, ...common]);
  fs.rmSync(csr);
  fs.rmSync(crt);
  fs.writeFileSync(f.secrets, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  say(`kafka: made a CA and a broker certificate for 127.0.0.1 in ${dir}`);
  return { files: f, secrets };
}

/** The listener part of server.properties: one SASL_SSL listener for clients and the broker itself. */
export function saslSslListenerProperties({ host, port, controllerPort }, tls) {
  const { files: f, secrets: s } = tls;
  return `listeners=SASL_SSL://${host}:${port},CONTROLLER://${host}:${controllerPort}
advertised.listeners=SASL_SSL://${host}:${port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_SSL
listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL

# TLS: the broker's certificate (signed by the local CA); the CA for its own client side.
ssl.keystore.type=PKCS12
ssl.keystore.location=${f.broker}
ssl.keystore.password=${s.store}
ssl.key.password=${s.store}
ssl.truststore.type=PKCS12
ssl.truststore.location=${f.truststore}
ssl.truststore.password=${s.store}
ssl.client.auth=none

# SASL: PLAIN users are listed here (admin is the broker talking to itself); SCRAM users live
# in the cluster metadata, created with kafka-configs after start.
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=PLAIN
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="${s.admin}" user_admin="${s.admin}" user_${PLAIN_USER}="${s.plain}";
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
`;
}

/**
 * Creates the SCRAM user with kafka-configs, as the PLAIN admin, once per cluster (credentials
 * live in the cluster metadata, which survives down/up).
 */
export function createScramUsers(java, javaArgs, bootstrap, tls, clusterId, die, say) {
  const { files: f, secrets: s } = tls;
  const marker = path.join(f.dir, 'scram-users.json');
  try {
    if (JSON.parse(fs.readFileSync(marker, 'utf8')).clusterId === clusterId) return;
  } catch { /* not yet */ }
  fs.writeFileSync(f.admin, `security.protocol=SASL_SSL
sasl.mechanism=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="${s.admin}";
ssl.truststore.type=PKCS12
ssl.truststore.location=${f.truststore}
ssl.truststore.password=${s.store}
`, { mode: 0o600 });
  // A KRaft controller alters one credential of a user per request (DuplicateResourceException
  // otherwise), so one call per mechanism. --add-config-file does not take SCRAM credentials in
  // 4.1 ("Invalid credential property"), so this local broker's generated password is on the
  // tool's command line for a moment.
  for (const mech of ['SCRAM-SHA-256', 'SCRAM-SHA-512']) {
    const r = spawnSync(java, [...javaArgs, 'kafka.admin.ConfigCommand', '--bootstrap-server', bootstrap, '--command-config', f.admin,
      '--alter', '--entity-type', 'users', '--entity-name', SCRAM_USER,
      '--add-config', `${mech}=[iterations=8192,password=${s.scram}]`], { encoding: 'utf8' });
    if (r.error || r.status !== 0) {
      const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.split(s.scram).join('***').split(s.admin).join('***');
      die(`kafka-configs could not create the ${mech} user ${SCRAM_USER} (exit ${r.status ?? r.error?.message}):\n${out}`);
    }
  }
  fs.writeFileSync(marker, `${JSON.stringify({ clusterId, user: SCRAM_USER, at: new Date().toISOString() })}\n`);
  say(`kafka: created SCRAM-SHA-256/512 user ${SCRAM_USER} with kafka-configs`);
}

/** Writes the client properties files d4 (--kafka-config) and other Kafka clients read. */
export function writeClientConfigs(runtime, bootstrap, tls) {
  const { files: f, secrets: s } = tls;
  const tlsLines = `ssl.truststore.type=PEM
ssl.truststore.location=${f.caPem}
`;
  const scram = (mech) => `# Written by scripts/kafka.mjs up --sasl-ssl. Pass it as --kafka-config, or export D4_KAFKA_CONFIG.
bootstrap.servers=${bootstrap}
security.protocol=SASL_SSL
sasl.mechanism=${mech}
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="${SCRAM_USER}" password="${s.scram}";
${tlsLines}`;
  const files = {
    scram256: path.join(runtime, 'client.properties'),
    scram512: path.join(runtime, 'client-scram512.properties'),
    plain: path.join(runtime, 'client-plain.properties'),
  };
  fs.writeFileSync(files.scram256, scram('SCRAM-SHA-256'), { mode: 0o600 });
  fs.writeFileSync(files.scram512, scram('SCRAM-SHA-512'), { mode: 0o600 });
  fs.writeFileSync(files.plain, `# Written by scripts/kafka.mjs up --sasl-ssl (librdkafka-style keys, PLAIN).
bootstrap.servers=${bootstrap}
security.protocol=SASL_SSL
sasl.mechanism=PLAIN
sasl.username=${PLAIN_USER}
sasl.password=${s.plain}
ssl.ca.location=${f.caPem}
`, { mode: 0o600 });
  return files;
}
