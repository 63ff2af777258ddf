import avro from 'avsc';
import { explainAvroFailure, type DecodeReason } from '../../records/decode-reasons.js';
import {
  crawledDocumentSchema, decisionSchema, deadLetterSchema, embeddingSchema, centroidSnapshotSchema,
  type CrawledDocument, type Decision, type DeadLetter, type Embedding, type CentroidSnapshot,
} from '../../records/schemas.generated.js';

/**
 * Avro encoding of every record d4stream writes to Kafka, from the same schemas the TypeScript
 * types are generated from. Optionally in the Confluent wire format (magic byte 0, 4-byte
 * big-endian schema id, then the Avro body) for consumers that expect a schema registry's framing.
 */
export interface Codec<T> {
  encode(value: T): Buffer;
  /** Never throws: bad bytes come back as an error (a reason and a message), to become a dead letter. */
  decode(bytes: Buffer): { value: T } | { error: string; reason: DecodeReason };
}

export interface CodecOptions {
  /** Frame with the Confluent wire format using this schema id. */
  readonly confluentSchemaId?: number;
}

function codec<T>(schema: object, options: CodecOptions): Codec<T> {
  const type = avro.Type.forSchema(schema as avro.Schema, { wrapUnions: false });
  const id = options.confluentSchemaId;
  const typeName = String((schema as { name?: string }).name ?? 'record');
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
      const fail = (avroError: string) => {
        const f = explainAvroFailure(bytes, avroError, id, typeName);
        return { error: f.message, reason: f.reason };
      };
      let body = bytes;
      if (id !== undefined) {
        if (bytes.length < 5 || bytes[0] !== 0 || bytes.readInt32BE(1) !== id) return fail('no Confluent header');
        body = bytes.subarray(5);
      }
      if (body.length === 0) return fail('empty');
      try {
        return { value: type.fromBuffer(body) as T };
      } catch (e) {
        return fail((e as Error).message);
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
});

export type Codecs = ReturnType<typeof codecs>;
