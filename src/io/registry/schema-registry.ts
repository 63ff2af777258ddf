// A client for the Confluent Schema Registry REST API (as Confluent, Karapace and Apicurio's
// /apis/ccompat/v7 serve it): the four calls d4 needs, over node:http(s) so that the TLS and
// credentials of the client config (security.ts: schema.registry.ssl.*, basic.auth.*,
// bearer.auth.*) apply.
//
// Why not @kafkajs/confluent-schema-registry (4.1): its register() first reads the subject's
// compatibility level and throws when it differs from the one passed (default BACKWARD), and on a
// first registration it writes that level into the subject's config; against a shop's registry
// (FULL subjects) or Apicurio (which reports NONE per subject while enforcing a global rule) d4
// would refuse to start or change the shop's settings. Its decode is async per record, where d4
// decodes a window synchronously after fetching the window's writer schemas once. What is left
// (four HTTP calls) is smaller than the adapter around it would be.
import http from 'node:http';
import https from 'node:https';
import { activeClientConfig, tlsOptions, type RegistrySettings } from '../kafka/security.js';

/** The registry refused or failed a call. `status` is the HTTP status (0: no answer). */
export class SchemaRegistryError extends Error {
  override name = 'SchemaRegistryError';
  readonly exitCode = 1;
  constructor(message: string, readonly status: number, readonly retriable: boolean) {
    super(message);
  }
}

export interface SchemaRegistry {
  /** The base URL, e.g. http://127.0.0.1:18081/apis/ccompat/v7. */
  readonly url: string;
  /**
   * Registers a schema under a subject (or finds it registered) and returns its id. A schema the
   * subject's compatibility rule refuses throws a SchemaRegistryError with status 409.
   */
  register(subject: string, schema: string): Promise<number>;
  /** The schema (JSON text) with this id, or undefined when the registry has none. */
  schemaById(id: number): Promise<string | undefined>;
  /** The ids of every version of a subject, oldest first; [] for an unknown subject. */
  subjectIds(subject: string): Promise<number[]>;
  subjects(): Promise<string[]>;
}

/** The subject of a topic's values under Confluent's default TopicNameStrategy. */
export const valueSubject = (topic: string) => `${topic}-value`;

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

export function schemaRegistry(url: string, settings: RegistrySettings = activeClientConfig()?.registry ?? {}): SchemaRegistry {
  const base = new URL(url.replace(/\/+$/, ''));
  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new SchemaRegistryError(`--schema-registry ${url}: expected an http:// or https:// URL`, 0, false);
  const shown = `${base.origin}${base.pathname}`; // never the user:password@ part
  const headers: Record<string, string> = { accept: CONTENT_TYPE };
  const auth = settings.auth ?? (base.username ? { kind: 'basic' as const, username: decodeURIComponent(base.username), password: decodeURIComponent(base.password) } : undefined);
  if (auth?.kind === 'basic') headers['authorization'] = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
  if (auth?.kind === 'bearer') headers['authorization'] = `Bearer ${auth.token}`;
  const agentOptions = base.protocol === 'https:' && settings.tls ? tlsOptions(settings.tls) : {};

  const call = (method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> => new Promise((resolve, reject) => {
    const target = new URL(`${base.pathname}${path}`, base.origin);
    const lib = base.protocol === 'https:' ? https : http;
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = lib.request(target, {
      method, timeout: 15_000, ...agentOptions,
      headers: { ...headers, ...(payload ? { 'content-type': CONTENT_TYPE, 'content-length': String(payload.length) } : {}) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: any = text;
        try { json = text ? JSON.parse(text) : undefined; } catch { /* not JSON: keep the text */ }
        resolve({ status: res.statusCode ?? 0, json });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('no answer within 15 s'), { code: 'ETIMEDOUT' })));
    req.on('error', (e: NodeJS.ErrnoException) => {
      // A certificate the client does not trust will not heal by retrying.
      if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL/.test(e.code ?? '')) {
        return reject(new SchemaRegistryError(`TLS: schema registry ${shown} was refused (${e.code}: ${e.message}); set schema.registry.ssl.truststore.location (or schema.registry.ssl.ca.location) in the client config (--kafka-config) to the CA that signed its certificate`, 0, false));
      }
      reject(new SchemaRegistryError(`schema registry ${shown} did not answer ${method} ${path} (${e.code ?? e.message})`, 0, true));
    });
    if (payload) req.write(payload);
    req.end();
  });

  /** Retries what may heal (no answer, 5xx) a few times; 4xx are answers. */
  const request = async (method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> => {
    for (let attempt = 1; ; attempt++) {
      try {
        const r = await call(method, path, body);
        if (r.status >= 500 && attempt < 4) { await new Promise((w) => setTimeout(w, 300 * attempt)); continue; }
        if (r.status === 401 || r.status === 403) {
          throw new SchemaRegistryError(`schema registry ${shown} refused the credentials (HTTP ${r.status}): check basic.auth.user.info / bearer.auth.token in the client config`, r.status, false);
        }
        return r;
      } catch (e) {
        if (e instanceof SchemaRegistryError && e.retriable && attempt < 4) { await new Promise((w) => setTimeout(w, 300 * attempt)); continue; }
        throw e;
      }
    }
  };
  const fail = (what: string, r: { status: number; json: any }) =>
    new SchemaRegistryError(`schema registry ${shown}: ${what} failed (HTTP ${r.status}: ${typeof r.json === 'object' ? r.json?.message ?? JSON.stringify(r.json) : String(r.json).slice(0, 300)})`, r.status, r.status >= 500);
  const enc = encodeURIComponent;

  return {
    url: shown,
    async register(subject, schema) {
      const r = await request('POST', `/subjects/${enc(subject)}/versions`, { schema });
      if (r.status === 200 && typeof r.json?.id === 'number') return r.json.id as number;
      if (r.status === 409) {
        throw new SchemaRegistryError(`schema registry ${shown} refused the schema for subject ${subject} as incompatible with the versions it holds (${r.json?.message ?? 'HTTP 409'})`, 409, false);
      }
      throw fail(`registering a schema under ${subject}`, r);
    },
    async schemaById(id) {
      const r = await request('GET', `/schemas/ids/${id}`);
      if (r.status === 404) return undefined;
      if (r.status !== 200 || typeof r.json?.schema !== 'string') throw fail(`reading schema id ${id}`, r);
      if (r.json.schemaType && r.json.schemaType !== 'AVRO') return undefined;
      return r.json.schema as string;
    },
    async subjectIds(subject) {
      const v = await request('GET', `/subjects/${enc(subject)}/versions`);
      if (v.status === 404) return [];
      if (v.status !== 200 || !Array.isArray(v.json)) throw fail(`listing the versions of ${subject}`, v);
      const ids: number[] = [];
      for (const version of v.json as number[]) {
        const s = await request('GET', `/subjects/${enc(subject)}/versions/${version}`);
        if (s.status === 200 && typeof s.json?.id === 'number') ids.push(s.json.id);
      }
      return ids;
    },
    async subjects() {
      const r = await request('GET', '/subjects');
      if (r.status !== 200 || !Array.isArray(r.json)) throw fail('listing subjects', r);
      return r.json as string[];
    },
  };
}
