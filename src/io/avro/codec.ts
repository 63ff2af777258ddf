import avro from 'avsc';
import {
  crawledDocumentSchema, decisionSchema, deadLetterSchema, embeddingSchema, centroidSnapshotSchema, embeddedDocumentSchema,
  type EmbeddedDocument, type CrawledDocument, type Decision, type DeadLetter, type Embedding, type CentroidSnapshot,
} from '../../records/schemas.generated.js';

/**
 * Avro encoding of every record d4stream writes to Kafka, from the same schemas the TypeScript
 * types are generated from. Optionally in the Confluent wire format (magic byte 0, 4-byte
 * big-endian schema id, then the Avro body) for consumers that expect a schema registry's framing.
 */
export interface Codec<T> {
  encode(value: T): Buffer;
  /** Never throws: bad bytes come back as an error string, to become a dead letter. */
  decode(bytes: Buffer): { value: T } | { error: string };
}

export interface CodecOptions {
  /** Frame with the Confluent wire format using this schema id. */
  readonly confluentSchemaId?: number;
}

function codec<T>(schema: object, options: CodecOptions): Codec<T> {
  const type = avro.Type.forSchema(schema as avro.Schema, { wrapUnions: false });
  const id = options.confluentSchemaId;
  return {
    encode(value) {
      const body = type.toBuffer(value);
      if (id === undefined) return body;
      const header = Buffer.alloc(5);
      header.writeUInt8(0, 0);
      header.writeInt32BE(id, 1);
      return Buffer.concat([header, body]);
    },
    decode(bytes) {
      let body = bytes;
      if (id !== undefined) {
        if (bytes.length < 5 || bytes[0] !== 0) return { error: 'not in the Confluent wire format (magic byte 0 + schema id)' };
        body = bytes.subarray(5);
      }
      try {
        return { value: type.fromBuffer(body) as T };
      } catch (e) {
        return { error: (e as Error).message };
      }
    },
  };
}

export const codecs = (options: CodecOptions = {}) => ({
  document: codec<CrawledDocument>(crawledDocumentSchema, options),
  decision: codec<Decision>(decisionSchema, options),
  deadLetter: codec<DeadLetter>(deadLetterSchema, options),
  embedding: codec<Embedding>(embeddingSchema, options),
  centroids: codec<CentroidSnapshot>(centroidSnapshotSchema, options),
  embeddedDocument: codec<EmbeddedDocument>(embeddedDocumentSchema, options),
});

export type Codecs = ReturnType<typeof codecs>;
