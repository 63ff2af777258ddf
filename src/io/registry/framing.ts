import type avro from 'avsc';
import { parseSchema, recordSchemas, type CodecOptions, type RecordType, type WriterSchemaSource } from '../avro/codec.js';
import { schemaRegistry, SchemaRegistryError, valueSubject, type SchemaRegistry } from './schema-registry.js';

/** What one process writes and reads, for --schema-registry. */
export interface RegistryUse {
  /** Each record type this process writes, and the topic it goes to (its subject: <topic>-value). */
  readonly writes: Partial<Record<RecordType, string>>;
  /** Topics this process reads: every version registered under their subjects is fetched at start. */
  readonly reads: readonly string[];
}

/** Writer schemas by id from one registry, cached for the life of the process. */
class RegistrySchemas implements WriterSchemaSource {
  private readonly known = new Map<number, avro.Type | null>();
  constructor(private readonly registry: SchemaRegistry) {}
  get url() { return this.registry.url; }
  get(id: number) { return this.known.get(id); }
  set(id: number, schema: string) { this.known.set(id, parseOrNull(schema)); }
  async fetch(ids: readonly number[]): Promise<void> {
    for (const id of ids) {
      if (this.known.has(id)) continue;
      const s = await this.registry.schemaById(id);
      this.known.set(id, s === undefined ? null : parseOrNull(s));
    }
  }
}

function parseOrNull(schema: string): avro.Type | null {
  try {
    return parseSchema(schema);
  } catch {
    return null; // not an Avro schema d4 can parse: its records cannot be read
  }
}

const TYPE_NAMES: Record<RecordType, string> = { document: 'CrawledDocument', decision: 'Decision', deadLetter: 'DeadLetter', embedding: 'Embedding', centroids: 'CentroidSnapshot', embeddedDocument: 'EmbeddedDocument' };

/**
 * Registers the schema of every record type the process writes under its topic's subject
 * (TopicNameStrategy), so each type is framed with its own id, and loads the writer schemas of
 * the topics it reads. A registry that refuses a schema as incompatible stops the start with a
 * message naming the record type, the subject and the registry's reason.
 */
export async function registryCodecOptions(url: string, use: RegistryUse, log: (m: string) => void = () => undefined): Promise<CodecOptions> {
  const registry = schemaRegistry(url);
  const schemas = new RegistrySchemas(registry);
  const writerIds: Partial<Record<RecordType, number>> = {};
  for (const [kind, topic] of Object.entries(use.writes) as [RecordType, string][]) {
    const subject = valueSubject(topic);
    const text = JSON.stringify(recordSchemas[kind]);
    try {
      writerIds[kind] = await registry.register(subject, text);
    } catch (e) {
      if (e instanceof SchemaRegistryError && e.status === 409) {
        throw new SchemaRegistryError(`d4's ${TYPE_NAMES[kind]} schema is incompatible with the versions registered under subject ${subject} at ${registry.url}, so ${topic} cannot take d4's records: ${e.message}. Write to another topic, or change the subject's compatibility setting if the new version is intended.`, 409, false);
      }
      throw e;
    }
    schemas.set(writerIds[kind]!, text);
  }
  const reads = [...new Set(use.reads)];
  for (const topic of reads) await schemas.fetch(await registry.subjectIds(valueSubject(topic)));
  log(`schema registry ${registry.url}: ${Object.entries(writerIds).map(([k, id]) => `${TYPE_NAMES[k as RecordType]} id ${id} (${valueSubject(use.writes[k as RecordType]!)})`).join(', ') || 'nothing to register'}${reads.length ? `; reading ${reads.map(valueSubject).join(', ')}` : ''}`);
  return { registry: { writerIds, schemas } };
}
