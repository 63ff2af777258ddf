/**
 * Why a record's bytes are not a document, named so that a dead letter says what happened and,
 * when the bytes give it away, which option would read them: JSON on an Avro topic, a
 * Confluent-framed record read as plain Avro, a schema id other than the one expected.
 * Pure: looks at bytes and at the decoder's error text, imports no I/O library.
 */
export type DecodeReason =
  /** The record has no value: a delete marker of a compacted topic. */
  | 'tombstone'
  /** The value is zero bytes. */
  | 'empty-record'
  /** The bytes are not an Avro CrawledDocument (the message says what they look like instead). */
  | 'not-avro'
  /** Framing expected (--schema-id) but the record has no Confluent header. */
  | 'not-framed'
  /** Framed with a schema id other than the one this consumer can read (--schema-id), or one the schema registry does not have. */
  | 'unknown-schema-id'
  /** Framed with a registry schema id whose writer schema cannot be resolved into d4's schema. */
  | 'incompatible-schema'
  | 'invalid-utf8'
  | 'malformed-json';

export interface DecodeFailure {
  readonly reason: DecodeReason;
  readonly message: string;
}

/** The Confluent wire format's header: magic byte 0, then the schema id as a 4-byte big-endian int. */
export function confluentHeader(bytes: Uint8Array): { readonly schemaId: number } | undefined {
  if (bytes.length < 6 || bytes[0] !== 0) return undefined;
  return { schemaId: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).readInt32BE(1) };
}

/** A JSON object or array in UTF-8 text (leading whitespace and a BOM allowed). */
export function looksLikeJson(bytes: Uint8Array): boolean {
  let i = 0;
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) i = 3;
  while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x09 || bytes[i] === 0x0a || bytes[i] === 0x0d)) i++;
  const first = bytes[i];
  if (first !== 0x7b && first !== 0x5b) return false; // { or [
  try {
    JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    return true;
  } catch {
    return false;
  }
}

const JSON_HINT = 'it looks like JSON: if the topic holds JSON records, read it with --format json (a topology: source format: json)';
const framedHint = (id: number) => `it starts with a Confluent wire-format header (magic byte 0, schema id ${id}): read it with --schema-id ${id} (or --schema-registry)`;

/**
 * Explains Avro bytes that did not decode. `expectedSchemaId` is the id the consumer was told to
 * expect (the records are then framed); `avroError` is the decoder's own message.
 */
export function explainAvroFailure(bytes: Uint8Array, avroError: string, expectedSchemaId?: number, type = 'CrawledDocument'): DecodeFailure {
  if (bytes.length === 0) return { reason: 'empty-record', message: 'the record value is empty (0 bytes)' };
  if (expectedSchemaId !== undefined) {
    const h = confluentHeader(bytes);
    if (!h) {
      const why = looksLikeJson(bytes) ? JSON_HINT : 'if the topic holds plain (unframed) Avro, leave --schema-id out';
      return { reason: 'not-framed', message: `expected the Confluent wire format (magic byte 0 + 4-byte schema id ${expectedSchemaId}), got ${describeStart(bytes)}; ${why}` };
    }
    if (h.schemaId !== expectedSchemaId) return { reason: 'unknown-schema-id', message: `the record carries schema id ${h.schemaId}, not the ${expectedSchemaId} this consumer reads (--schema-id ${expectedSchemaId})` };
    return { reason: 'not-avro', message: `schema id ${h.schemaId}, but the body is not an Avro ${type}: ${avroError}` };
  }
  if (looksLikeJson(bytes)) return { reason: 'not-avro', message: `not an Avro ${type} (${avroError}); ${JSON_HINT}` };
  const h = confluentHeader(bytes);
  if (h) return { reason: 'not-avro', message: `not a plain Avro ${type} (${avroError}); ${framedHint(h.schemaId)}` };
  return { reason: 'not-avro', message: `not an Avro ${type}: ${avroError}` };
}

/**
 * A record read with --schema-registry that has no Confluent wire-format header (magic byte 0 +
 * 4-byte schema id): empty, JSON text, or plain Avro produced without the registry.
 */
export function explainRegistryUnframed(bytes: Uint8Array): DecodeFailure {
  if (bytes.length === 0) return { reason: 'empty-record', message: 'the record value is empty (0 bytes)' };
  const why = looksLikeJson(bytes) ? JSON_HINT : 'was it produced without --schema-registry? (a topic of plain Avro is read without it)';
  return { reason: 'not-framed', message: `not in the Confluent wire format (magic byte 0 + schema id), though --schema-registry expects it: got ${describeStart(bytes)}; ${why}` };
}

/**
 * Bytes that decoded as plain Avro can still be a framed record misread (the header's zero
 * bytes read as an empty id and null fields): such a "document" fails validation later, and this
 * says why.
 */
export function framedMisreadHint(bytes: Uint8Array): string | undefined {
  const h = confluentHeader(bytes);
  return h ? framedHint(h.schemaId) : undefined;
}

/** A hint for JSON-mode failures on bytes that are not JSON text at all (Avro, most likely). */
export function jsonFailureHint(bytes: Uint8Array): string | undefined {
  const h = confluentHeader(bytes);
  if (h) return `it starts with a Confluent wire-format header (magic byte 0, schema id ${h.schemaId}), so it is probably Avro: read it with --format avro --schema-id ${h.schemaId} (or --schema-registry)`;
  for (const b of bytes.subarray(0, 64)) {
    if (b < 0x09 || (b > 0x0d && b < 0x20)) return 'it is binary, not JSON text: if the topic holds Avro records, read it with --format avro';
  }
  return undefined;
}

function describeStart(bytes: Uint8Array): string {
  const hex = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 5)).toString('hex');
  return `first bytes 0x${hex}`;
}
