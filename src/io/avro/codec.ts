import avro from 'avsc';
import {
  crawledDocumentSchema, decisionSchema, deadLetterSchema, embeddingSchema, centroidSnapshotSchema, embeddedDocumentSchema,
  type EmbeddedDocument, type CrawledDocument, type Decision, type DeadLetter, type Embedding, type CentroidSnapshot,
} from '../../records/schemas.generated.js';

/**
 * Avro encoding of every record d4stream writes to Kafka, from the same schemas the TypeScript
 * types are generated from. By default schemaless: the Avro binary body alone. Optionally in the
 * Confluent wire format (magic byte 0, 4-byte big-endian schema id, then the Avro body): with a
 * fixed id (--schema-id), or with ids from a schema registry (--schema-registry), where each record
 * type has its own id and a framed record is read with the writer schema its id names, resolved
 * into d4's schema (Avro schema resolution, so a compatible older or newer writer reads fine).
 */
export interface Codec<T> {
  encode(value: T): Buffer;
  /**
   * Never throws: bad bytes come back as an error, to become a dead letter. `reason` is the
   * dead letter's machine-readable error when the codec knows it (registry framing).
   */
  decode(bytes: Buffer): { value: T } | { error: string; reason?: string };
  /**
   * With a schema registry: fetches the writer schemas these records name that are not known
   * yet, so that decode can stay synchronous. Undefined when there is nothing to fetch (always
   * without a registry); call it (and await what it returns) before decoding a batch.
   */
  prepare(records: Iterable<Buffer | null | undefined>): Promise<void> | undefined;
}

export type RecordType = 'document' | 'decision' | 'deadLetter' | 'embedding' | 'centroids' | 'embeddedDocument';

/** Writer schemas by registry id, fetched on first sight; null: the registry has no such id. */
export interface WriterSchemaSource {
  /** The registry's base URL (for messages). */
  readonly url: string;
  get(id: number): avro.Type | null | undefined;
  fetch(ids: readonly number[]): Promise<void>;
}

export interface RegistryFraming {
  /** The id to frame each record type with: its schema's id under the subject of the topic this process writes it to. */
  readonly writerIds: Partial<Record<RecordType, number>>;
  readonly schemas: WriterSchemaSource;
}

export interface CodecOptions {
  /** Frame with the Confluent wire format using this schema id (every record type). */
  readonly confluentSchemaId?: number;
  /** Frame with the ids of a schema registry, and read framed records by their writer schema. */
  readonly registry?: RegistryFraming;
}

/** avsc parses the schemas the same way everywhere (unions unwrapped: null | T). */
export const parseSchema = (schema: object | string): avro.Type =>
  avro.Type.forSchema((typeof schema === 'string' ? JSON.parse(schema) : schema) as avro.Schema, { wrapUnions: false });

function frame(id: number, body: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt8(0, 0);
  header.writeInt32BE(id, 1);
  return Buffer.concat([header, body]);
}

const framedId = (bytes: Buffer | null | undefined): number | undefined =>
  bytes && bytes.length >= 5 && bytes[0] === 0 ? bytes.readInt32BE(1) : undefined;

function codec<T>(kind: RecordType, schema: object, options: CodecOptions): Codec<T> {
  const type = parseSchema(schema);
  const fixedId = options.confluentSchemaId;
  const registry = options.registry;
  const body = (bytes: Buffer, resolver?: avro.Resolver): { value: T } | { error: string; reason?: string } => {
    try {
      return { value: type.fromBuffer(bytes, resolver) as T };
    } catch (e) {
      return { error: (e as Error).message };
    }
  };
  if (registry) {
    // Per writer id: how to read it into d4's type (undefined: the same schema, no resolver).
    const readers = new Map<number, { resolver?: avro.Resolver } | { error: string }>();
    const readerFor = (id: number, writer: avro.Type) => {
      let r = readers.get(id);
      if (!r) {
        try {
          r = writer.equals(type) ? {} : { resolver: type.createResolver(writer) };
        } catch (e) {
          r = { error: (e as Error).message };
        }
        readers.set(id, r);
      }
      return r;
    };
    return {
      encode(value) {
        const id = registry.writerIds[kind];
        if (id === undefined) throw new Error(`no schema id for ${kind} records: register the schema of the topic they go to first`);
        return frame(id, type.toBuffer(value));
      },
      decode(bytes) {
        const id = framedId(bytes);
        if (id === undefined) {
          return { reason: 'not-framed', error: `not in the Confluent wire format (magic byte 0 + schema id), though --schema-registry expects it: ${bytes.length === 0 ? 'an empty record' : `first byte ${bytes[0]}`}; was it produced without --schema-registry?` };
        }
        const writer = registry.schemas.get(id);
        if (!writer) {
          return { reason: 'unknown-schema-id', error: `schema id ${id} is ${writer === null ? 'not' : 'not yet fetched'} in the schema registry at ${registry.schemas.url}` };
        }
        const r = readerFor(id, writer);
        if ('error' in r) return { reason: 'incompatible-schema', error: `schema id ${id} cannot be read as ${type.name ?? kind}: ${r.error}` };
        return body(bytes.subarray(5), r.resolver);
      },
      prepare(records) {
        const missing = new Set<number>();
        for (const b of records) {
          const id = framedId(b);
          if (id !== undefined && registry.schemas.get(id) === undefined) missing.add(id);
        }
        return missing.size > 0 ? registry.schemas.fetch([...missing]) : undefined;
      },
    };
  }
  return {
    encode(value) {
      const b = type.toBuffer(value);
      return fixedId === undefined ? b : frame(fixedId, b);
    },
    decode(bytes) {
      if (fixedId === undefined) return body(bytes);
      if (bytes.length < 5 || bytes[0] !== 0) return { error: 'not in the Confluent wire format (magic byte 0 + schema id)' };
      return body(bytes.subarray(5));
    },
    prepare: () => undefined,
  };
}

export const codecs = (options: CodecOptions = {}) => ({
  document: codec<CrawledDocument>('document', crawledDocumentSchema, options),
  decision: codec<Decision>('decision', decisionSchema, options),
  deadLetter: codec<DeadLetter>('deadLetter', deadLetterSchema, options),
  embedding: codec<Embedding>('embedding', embeddingSchema, options),
  centroids: codec<CentroidSnapshot>('centroids', centroidSnapshotSchema, options),
  // Internal topics (and an embed topology's output) are read only by d4: plain Avro, never framed.
  embeddedDocument: codec<EmbeddedDocument>('embeddedDocument', embeddedDocumentSchema, {}),
});

export type Codecs = ReturnType<typeof codecs>;

/** The schema of each record type, as d4 registers it. */
export const recordSchemas: Record<RecordType, object> = {
  document: crawledDocumentSchema, decision: decisionSchema, deadLetter: deadLetterSchema, embedding: embeddingSchema, centroids: centroidSnapshotSchema,
  embeddedDocument: embeddedDocumentSchema,
};
