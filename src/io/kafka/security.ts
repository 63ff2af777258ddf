// Connection security for Kafka and the schema registry, read from a client properties file in
// the Kafka convention (the file a Java client, kcat or confluent-kafka would be given), so that a
// shop's existing client.properties works unchanged. The one place that turns such a file into
// kafkajs' `ssl`/`sasl` options and the registry's TLS and credentials; src/io/kafka/client.ts
// applies it to every client it makes.
//
// Secrets (passwords, keys, tokens) are kept out of every message this module produces: errors
// name the key and the file, never the value.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import tls from 'node:tls';

/** A properties file that cannot be used as it is (exit 2: bad options). */
export class KafkaConfigError extends Error {
  override name = 'KafkaConfigError';
  readonly exitCode = 2;
}

/** The cluster refused us: untrusted certificate, wrong credentials, no TLS where TLS was asked (exit 1). Not retriable. */
export class KafkaSecurityError extends Error {
  override name = 'KafkaSecurityError';
  readonly exitCode = 1;
  readonly retriable = false;
}

export type SecurityProtocol = 'PLAINTEXT' | 'SSL' | 'SASL_PLAINTEXT' | 'SASL_SSL';
export type SaslMechanism = 'plain' | 'scram-sha-256' | 'scram-sha-512';

/** What Node's tls.connect needs; the same shape kafkajs' `ssl` takes. */
export interface TlsSettings {
  readonly ca?: string[];
  readonly cert?: string;
  readonly key?: string;
  readonly pfx?: Buffer;
  readonly passphrase?: string;
  readonly rejectUnauthorized: boolean;
  /** false: ssl.endpoint.identification.algorithm is empty (the certificate need not name the host). */
  readonly verifyHostname: boolean;
}

export interface SaslSettings {
  readonly mechanism: SaslMechanism;
  readonly username: string;
  readonly password: string;
}

export interface RegistrySettings {
  readonly url?: string;
  readonly tls?: TlsSettings;
  readonly auth?: { readonly kind: 'basic'; readonly username: string; readonly password: string } | { readonly kind: 'bearer'; readonly token: string };
}

export interface ClientConfig {
  /** The file it came from (for messages). */
  readonly file: string;
  readonly protocol: SecurityProtocol;
  readonly tls?: TlsSettings;
  readonly sasl?: SaslSettings;
  /** bootstrap.servers, when the file has it. */
  readonly bootstrap?: string[];
  readonly registry: RegistrySettings;
}

// --- the properties format ------------------------------------------------------------------

/**
 * java.util.Properties' text format: `key=value`, `key: value` or `key value`; `#`/`!` comments;
 * a line ending in an odd number of backslashes continues on the next (leading blanks dropped);
 * escapes \t \n \r \f \uXXXX, and a backslash before any other character stands for it.
 */
export function parseProperties(text: string): Map<string, string> {
  const out = new Map<string, string>();
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!.replace(/^[ \t\f]+/, '');
    if (line === '' || line.startsWith('#') || line.startsWith('!')) continue;
    while (/(^|[^\\])(\\\\)*\\$/.test(line) && i + 1 < lines.length) {
      line = line.slice(0, -1) + lines[++i]!.replace(/^[ \t\f]+/, '');
    }
    let k = 0;
    let key = '';
    for (; k < line.length; k++) {
      const ch = line[k]!;
      if (ch === '\\') { key += line.slice(k, k + 2); k++; continue; }
      if (ch === '=' || ch === ':' || ch === ' ' || ch === '\t' || ch === '\f') break;
      key += ch;
    }
    let rest = line.slice(k).replace(/^[ \t\f]*/, '');
    if (rest.startsWith('=') || rest.startsWith(':')) rest = rest.slice(1).replace(/^[ \t\f]*/, '');
    out.set(unescape(key), unescape(rest));
  }
  return out;
}

function unescape(s: string): string {
  return s.replace(/\\(u[0-9a-fA-F]{4}|.)/g, (_m, c: string) => {
    if (c.length === 5) return String.fromCharCode(parseInt(c.slice(1), 16));
    return ({ t: '\t', n: '\n', r: '\r', f: '\f' } as Record<string, string>)[c] ?? c;
  });
}

/**
 * The options of a JAAS line, e.g.
 * `org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="…";`
 */
export function parseJaas(text: string): { module: string; options: Map<string, string> } {
  const m = /^\s*([\w.$]+)\s+(required|requisite|sufficient|optional)\s*([\s\S]*?)\s*;?\s*$/.exec(text);
  if (!m) throw new KafkaConfigError('sasl.jaas.config: expected "<LoginModule class> required key="value" ...;"');
  const options = new Map<string, string>();
  const re = /([\w.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s;"]+))/g;
  let o: RegExpExecArray | null;
  while ((o = re.exec(m[3]!)) !== null) options.set(o[1]!, o[2] !== undefined ? o[2].replace(/\\(.)/g, '$1') : o[3]!);
  return { module: m[1]!, options };
}

// --- building the settings ------------------------------------------------------------------

const PROTOCOLS: readonly SecurityProtocol[] = ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'];
const MECHANISMS: Record<string, SaslMechanism> = { PLAIN: 'plain', 'SCRAM-SHA-256': 'scram-sha-256', 'SCRAM-SHA-512': 'scram-sha-512' };

/** Reads a client properties file (see buildClientConfig). */
export function loadClientConfig(file: string): ClientConfig {
  const path = resolve(file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new KafkaConfigError(`cannot read the Kafka client config ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return buildClientConfig(parseProperties(text), path);
}

/**
 * Turns client properties into settings. Understood: security.protocol, sasl.mechanism,
 * sasl.jaas.config or sasl.username/sasl.password (librdkafka's), the truststore
 * (ssl.truststore.location/.type/.password, or PEM: ssl.truststore.certificates, ssl.ca.location,
 * ssl.ca.pem), the client certificate (ssl.keystore.location/.type/.password, ssl.key.password, or
 * PEM: ssl.keystore.certificate.chain + ssl.keystore.key, ssl.certificate.location +
 * ssl.key.location), ssl.endpoint.identification.algorithm, bootstrap.servers, and the schema
 * registry's schema.registry.url, basic.auth.* / bearer.auth.* and schema.registry.ssl.*. Other
 * keys (producer tuning, …) are ignored. Relative paths are relative to the file.
 */
export function buildClientConfig(props: ReadonlyMap<string, string>, file: string): ClientConfig {
  const dir = resolve(file, '..');
  const get = (k: string) => {
    const v = props.get(k)?.trim();
    return v === undefined || v === '' ? undefined : v;
  };
  const protocolRaw = (get('security.protocol') ?? 'PLAINTEXT').toUpperCase();
  if (!PROTOCOLS.includes(protocolRaw as SecurityProtocol)) {
    throw new KafkaConfigError(`security.protocol=${protocolRaw} in ${file}: expected one of ${PROTOCOLS.join(', ')}`);
  }
  const protocol = protocolRaw as SecurityProtocol;
  const useTls = protocol === 'SSL' || protocol === 'SASL_SSL';
  const useSasl = protocol === 'SASL_PLAINTEXT' || protocol === 'SASL_SSL';

  let sasl: SaslSettings | undefined;
  if (useSasl) {
    const mechRaw = (get('sasl.mechanism') ?? 'GSSAPI').toUpperCase();
    const mechanism = MECHANISMS[mechRaw];
    if (!mechanism) {
      throw new KafkaConfigError(`sasl.mechanism=${mechRaw} in ${file}: d4 supports ${Object.keys(MECHANISMS).join(', ')}${get('sasl.mechanism') ? '' : ' (Kafka\'s default is GSSAPI: set sasl.mechanism)'}`);
    }
    let username = get('sasl.username');
    let password = props.get('sasl.password');
    const jaas = get('sasl.jaas.config');
    if (jaas) {
      const j = parseJaas(jaas);
      const wants = mechanism === 'plain' ? /PlainLoginModule$/ : /ScramLoginModule$/;
      if (!wants.test(j.module)) {
        throw new KafkaConfigError(`sasl.jaas.config in ${file} uses ${j.module.split('.').pop()}, which does not go with sasl.mechanism=${mechRaw} (${mechanism === 'plain' ? 'PlainLoginModule' : 'ScramLoginModule'} does)`);
      }
      username = j.options.get('username') ?? username;
      password = j.options.get('password') ?? password;
    }
    if (!username || password === undefined) {
      throw new KafkaConfigError(`${file}: security.protocol=${protocol} needs a user name and a password: sasl.jaas.config (… username="…" password="…";) or sasl.username and sasl.password`);
    }
    sasl = { mechanism, username, password };
  }

  const tlsSettings = useTls ? tlsFrom(props, '', file, dir) : undefined;

  const bootstrap = get('bootstrap.servers')?.split(',').map((s) => s.trim().replace(/^[A-Z_]+:\/\//, '')).filter(Boolean);
  return {
    file, protocol,
    ...(tlsSettings ? { tls: tlsSettings } : {}),
    ...(sasl ? { sasl } : {}),
    ...(bootstrap && bootstrap.length > 0 ? { bootstrap } : {}),
    registry: registryFrom(props, file, dir, sasl),
  };
}

/** TLS settings from the ssl.* keys (prefix '' for Kafka, 'schema.registry.' for the registry). */
function tlsFrom(props: ReadonlyMap<string, string>, prefix: string, file: string, dir: string): TlsSettings {
  const get = (k: string) => {
    const v = props.get(prefix + k)?.trim();
    return v === undefined || v === '' ? undefined : v;
  };
  const path = (p: string) => resolve(dir, p);
  const read = (key: string, p: string): Buffer => {
    try {
      return readFileSync(path(p));
    } catch (e) {
      throw new KafkaConfigError(`${prefix}${key}=${p} in ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  };

  // Trusted CAs. None configured: Node's bundled public CAs, as Java uses its cacerts.
  let ca: string[] | undefined;
  const pem = (s: string) => s.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  const truststore = get('ssl.truststore.location');
  const truststoreType = (get('ssl.truststore.type') ?? (truststore && /\.(pem|crt)$/i.test(truststore) ? 'PEM' : 'JKS')).toUpperCase();
  if (get('ssl.truststore.certificates')) ca = pem(props.get(prefix + 'ssl.truststore.certificates')!);
  else if (get('ssl.ca.pem')) ca = pem(props.get(prefix + 'ssl.ca.pem')!);
  else if (get('ssl.ca.location')) ca = pem(read('ssl.ca.location', get('ssl.ca.location')!).toString('utf8'));
  else if (truststore) {
    if (truststoreType === 'PEM') ca = pem(read('ssl.truststore.location', truststore).toString('utf8'));
    else ca = keytoolCertificates(path(truststore), truststoreType, props.get(prefix + 'ssl.truststore.password'), `${prefix}ssl.truststore.location=${truststore} in ${file}`);
  }
  if (ca !== undefined && ca.length === 0) throw new KafkaConfigError(`${file}: the ${prefix}truststore holds no PEM certificate`);

  // The client certificate (mutual TLS).
  let cert: string | undefined;
  let key: string | undefined;
  let pfx: Buffer | undefined;
  let passphrase = props.get(prefix + 'ssl.key.password');
  const keystore = get('ssl.keystore.location');
  if (get('ssl.keystore.certificate.chain') || get('ssl.keystore.key')) {
    cert = props.get(prefix + 'ssl.keystore.certificate.chain');
    key = props.get(prefix + 'ssl.keystore.key');
  } else if (get('ssl.certificate.location') || get('ssl.key.location')) {
    cert = get('ssl.certificate.location') ? read('ssl.certificate.location', get('ssl.certificate.location')!).toString('utf8') : undefined;
    key = get('ssl.key.location') ? read('ssl.key.location', get('ssl.key.location')!).toString('utf8') : undefined;
  } else if (keystore) {
    const type = (get('ssl.keystore.type') ?? (/\.(p12|pfx)$/i.test(keystore) ? 'PKCS12' : /\.pem$/i.test(keystore) ? 'PEM' : 'JKS')).toUpperCase();
    const storePassword = props.get(prefix + 'ssl.keystore.password');
    if (type === 'PEM') {
      const text = read('ssl.keystore.location', keystore).toString('utf8');
      cert = pem(text).join('\n');
      key = text.match(/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]+?-----END [A-Z ]*PRIVATE KEY-----/)?.[0];
    } else if (type === 'PKCS12') {
      pfx = read('ssl.keystore.location', keystore);
      passphrase = storePassword ?? passphrase;
    } else if (type === 'JKS') {
      pfx = keytoolToPkcs12(path(keystore), storePassword, passphrase, `${prefix}ssl.keystore.location=${keystore} in ${file}`);
      passphrase = storePassword;
    } else throw new KafkaConfigError(`${prefix}ssl.keystore.type=${type} in ${file}: expected JKS, PKCS12 or PEM`);
  }
  if ((cert === undefined) !== (key === undefined) && pfx === undefined) {
    throw new KafkaConfigError(`${file}: a client certificate needs both the certificate and its private key (${prefix}ssl.keystore.*, or ${prefix}ssl.certificate.location with ${prefix}ssl.key.location)`);
  }
  const endpoint = props.get(prefix + 'ssl.endpoint.identification.algorithm');
  const verifyHostname = !(endpoint !== undefined && (endpoint.trim() === '' || endpoint.trim().toLowerCase() === 'none'));
  const rejectUnauthorized = (props.get(prefix + 'enable.ssl.certificate.verification') ?? 'true').trim().toLowerCase() !== 'false';
  return {
    ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}), ...(pfx ? { pfx } : {}),
    ...(passphrase !== undefined && passphrase !== '' ? { passphrase } : {}),
    rejectUnauthorized, verifyHostname,
  };
}

function registryFrom(props: ReadonlyMap<string, string>, file: string, dir: string, sasl: SaslSettings | undefined): RegistrySettings {
  const get = (k: string) => {
    const v = props.get(k)?.trim();
    return v === undefined || v === '' ? undefined : v;
  };
  const url = get('schema.registry.url')?.split(',')[0]?.trim();
  const hasTls = [...props.keys()].some((k) => k.startsWith('schema.registry.ssl.'));
  let auth: RegistrySettings['auth'];
  const basicSource = (get('basic.auth.credentials.source') ?? get('schema.registry.basic.auth.credentials.source') ?? 'USER_INFO').toUpperCase();
  const userInfo = props.get('basic.auth.user.info') ?? props.get('schema.registry.basic.auth.user.info');
  if (basicSource === 'SASL_INHERIT') {
    if (!sasl) throw new KafkaConfigError(`basic.auth.credentials.source=SASL_INHERIT in ${file}, but there are no SASL credentials to inherit`);
    auth = { kind: 'basic', username: sasl.username, password: sasl.password };
  } else if (userInfo !== undefined && userInfo !== '') {
    const at = userInfo.indexOf(':');
    if (at < 0) throw new KafkaConfigError(`basic.auth.user.info in ${file}: expected "<user>:<password>"`);
    auth = { kind: 'basic', username: userInfo.slice(0, at), password: userInfo.slice(at + 1) };
  }
  const token = props.get('bearer.auth.token') ?? props.get('schema.registry.bearer.auth.token');
  if (token !== undefined && token !== '') auth = { kind: 'bearer', token };
  return {
    ...(url ? { url } : {}),
    ...(hasTls ? { tls: tlsFrom(props, 'schema.registry.', file, dir) } : {}),
    ...(auth ? { auth } : {}),
  };
}

// Java key stores. Node reads PEM and PKCS12 itself; the JDK's keytool (on every machine that
// runs Kafka tools) converts the rest. Store passwords go to keytool through its environment,
// never on its command line (which `ps` shows).

function keytool(args: string[], env: Record<string, string>, what: string): string {
  const bin = process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'keytool') : 'keytool';
  const r = spawnSync(bin, args, { encoding: 'utf8', env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error) throw new KafkaConfigError(`${what}: a JKS/PKCS12 store needs the JDK's keytool to be read (${(r.error as NodeJS.ErrnoException).code ?? r.error.message}); install a JDK or use PEM files (ssl.truststore.type=PEM)`);
  if (r.status !== 0) {
    const msg = `${r.stdout}${r.stderr}`.split('\n').find((l) => /error/i.test(l))?.trim() ?? `keytool exited ${r.status}`;
    throw new KafkaConfigError(`${what}: keytool cannot read it: ${msg.replace(/^keytool error:\s*/i, '')}`);
  }
  return r.stdout;
}

function keytoolCertificates(store: string, type: string, password: string | undefined, what: string): string[] {
  const out = keytool(['-list', '-rfc', '-keystore', store, '-storetype', type, '-storepass:env', 'D4_STOREPASS'], { D4_STOREPASS: password ?? '' }, what);
  return out.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

function keytoolToPkcs12(store: string, storePassword: string | undefined, keyPassword: string | undefined, what: string): Buffer {
  if (!storePassword) throw new KafkaConfigError(`${what}: a JKS keystore needs ssl.keystore.password`);
  const tmp = mkdtempSync(join(tmpdir(), 'd4-keystore-'));
  try {
    const dest = join(tmp, 'client.p12');
    // A whole-store import (no -srcalias) takes no key password: keytool expects the key to be
    // protected by the store password (as Kafka's own tooling makes them).
    if (keyPassword && keyPassword !== storePassword) throw new KafkaConfigError(`${what}: a JKS keystore whose ssl.key.password differs from ssl.keystore.password cannot be converted for Node; use a PKCS12 or PEM keystore`);
    keytool(['-importkeystore', '-noprompt', '-srckeystore', store, '-srcstoretype', 'JKS', '-srcstorepass:env', 'D4_SRCPASS',
      '-destkeystore', dest, '-deststoretype', 'PKCS12', '-deststorepass:env', 'D4_SRCPASS'],
    { D4_SRCPASS: storePassword }, what);
    return readFileSync(dest);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

// --- kafkajs and Node options ---------------------------------------------------------------

/** The options tls.connect (and kafkajs' `ssl`) take. */
export function tlsOptions(t: TlsSettings): tls.ConnectionOptions {
  return {
    ...(t.ca ? { ca: t.ca } : {}), ...(t.cert ? { cert: t.cert } : {}), ...(t.key ? { key: t.key } : {}),
    ...(t.pfx ? { pfx: t.pfx } : {}), ...(t.passphrase !== undefined ? { passphrase: t.passphrase } : {}),
    rejectUnauthorized: t.rejectUnauthorized,
    ...(t.verifyHostname ? {} : { checkServerIdentity: () => undefined }),
  };
}

/** kafkajs' `ssl` and `sasl` client options for a config (none for PLAINTEXT). */
export function kafkajsSecurity(c: ClientConfig | undefined): { ssl?: tls.ConnectionOptions; sasl?: { mechanism: SaslMechanism; username: string; password: string } } {
  if (!c) return {};
  return {
    ...(c.tls ? { ssl: tlsOptions(c.tls) } : {}),
    ...(c.sasl ? { sasl: { mechanism: c.sasl.mechanism, username: c.sasl.username, password: c.sasl.password } } : {}),
  } as { ssl?: tls.ConnectionOptions; sasl?: { mechanism: SaslMechanism; username: string; password: string } };
}

/** One line for logs: protocol, mechanism, user, where the CAs come from. No secret. */
export function describeClientConfig(c: ClientConfig): string {
  const parts: string[] = [c.protocol];
  if (c.sasl) parts.push(`${c.sasl.mechanism.toUpperCase()} as "${c.sasl.username}"`);
  if (c.tls) parts.push(c.tls.ca ? `${c.tls.ca.length} trusted CA certificate(s)` : 'the system CAs', ...(c.tls.cert || c.tls.pfx ? ['a client certificate'] : []));
  return `${parts.join(', ')} (from ${c.file})`;
}

// --- the active config ----------------------------------------------------------------------

/** Where the config comes from when no option names one. */
export const KAFKA_CONFIG_ENV = 'D4_KAFKA_CONFIG';

let active: ClientConfig | null | undefined;

/**
 * Selects the client properties file every Kafka client and registry client of this process uses
 * (the CLI's --kafka-config). Without a call, $D4_KAFKA_CONFIG is read on first use; without
 * either, clients connect in PLAINTEXT.
 */
export function useClientConfig(file: string | undefined): ClientConfig | undefined {
  active = file ? loadClientConfig(file) : null;
  return active ?? undefined;
}

export function activeClientConfig(): ClientConfig | undefined {
  if (active === undefined) {
    const env = process.env[KAFKA_CONFIG_ENV];
    active = env ? loadClientConfig(env) : null;
  }
  return active ?? undefined;
}

// --- failing fast ---------------------------------------------------------------------------

const CERT_ERRORS = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_UNTRUSTED', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_REVOKED', 'CERT_SIGNATURE_FAILURE',
]);

/**
 * One TLS handshake with the first broker that answers, before kafkajs connects: kafkajs treats
 * every TLS failure as a retriable connection error and retries for most of a minute, while an
 * untrusted certificate or a listener without TLS will not heal. Brokers that do not answer are
 * left to kafkajs' retries (a broker may be starting).
 */
export async function checkTls(brokers: readonly string[], c: ClientConfig, timeoutMs = 10_000): Promise<void> {
  if (!c.tls) return;
  const opts = tlsOptions(c.tls);
  for (const b of brokers) {
    const at = b.lastIndexOf(':');
    const host = b.slice(0, at);
    const port = Number(b.slice(at + 1));
    const failure = await new Promise<Error | undefined>((done) => {
      const socket = tls.connect({ ...opts, host, port, ...(isIP(host) ? {} : { servername: host }) });
      const finish = (e: Error | undefined) => { socket.destroy(); done(e); };
      socket.setTimeout(timeoutMs, () => finish(undefined));
      socket.once('secureConnect', () => finish(undefined));
      socket.once('error', (e: NodeJS.ErrnoException) => finish(tlsFailure(e, b, c)));
    });
    if (failure) throw failure;
  }
}

function tlsFailure(e: NodeJS.ErrnoException, broker: string, c: ClientConfig): Error | undefined {
  const code = e.code ?? '';
  if (CERT_ERRORS.has(code)) {
    return new KafkaSecurityError(`TLS: the certificate of broker ${broker} is not trusted (${code}: ${e.message}); set ssl.truststore.location (or ssl.ca.location) in ${c.file} to the CA that signed it`);
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return new KafkaSecurityError(`TLS: the certificate of broker ${broker} does not name that host (${e.message}); connect by a name the certificate carries, or set ssl.endpoint.identification.algorithm= (empty) in ${c.file} to skip the check`);
  }
  if (/WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG|UNKNOWN_PROTOCOL|record layer failure/i.test(`${code} ${e.message}`)) {
    return new KafkaSecurityError(`TLS: broker ${broker} does not answer in TLS (${code || e.message}): its listener is not SSL/SASL_SSL, but ${c.file} says security.protocol=${c.protocol}`);
  }
  if (/CERTIFICATE_REQUIRED|HANDSHAKE_FAILURE|BAD_CERTIFICATE|UNKNOWN_CA/i.test(code)) {
    return new KafkaSecurityError(`TLS: broker ${broker} refused the handshake (${code}): it may require a client certificate it trusts (ssl.keystore.* in ${c.file})`);
  }
  return undefined; // refused, reset, timed out: kafkajs retries those
}

/** Rewrites kafkajs' SASL failure (or the retrier's wrapper around it) into one that names the cause; other errors pass. */
export function explainConnectError(e: unknown, brokers: readonly string[], c: ClientConfig | undefined): unknown {
  const chain: { name?: string; message?: string; type?: string }[] = [];
  for (let x = e as { name?: string; cause?: unknown } | undefined; x && chain.length < 5; x = x.cause as typeof x) chain.push(x as never);
  const sasl = chain.find((x) => x.name === 'KafkaJSSASLAuthenticationError' || x.type === 'SASL_AUTHENTICATION_FAILED' || x.type === 'UNSUPPORTED_SASL_MECHANISM' || x.type === 'ILLEGAL_SASL_STATE');
  if (sasl && c?.sasl) {
    return new KafkaSecurityError(`SASL ${c.sasl.mechanism.toUpperCase()} authentication as "${c.sasl.username}" was refused by ${brokers.join(',')} (${sasl.message}); check the user name and password (sasl.jaas.config, or sasl.username/sasl.password) and sasl.mechanism in ${c.file}`);
  }
  const closed = chain.find((x) => x.name === 'KafkaJSConnectionClosedError');
  if (closed && (!c || c.protocol === 'PLAINTEXT')) {
    return new KafkaSecurityError(`${brokers.join(',')} kept closing the connection (${closed.message}): if its listener is SSL or SASL_SSL, name a client config with its security.protocol (--kafka-config or $${KAFKA_CONFIG_ENV})`);
  }
  if (sasl) return new KafkaSecurityError(`${brokers.join(',')} asks for SASL authentication (${sasl.message}): name a client config with security.protocol=SASL_SSL or SASL_PLAINTEXT (--kafka-config or $${KAFKA_CONFIG_ENV})`);
  return e;
}
