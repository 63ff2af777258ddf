import { deadLetter, type CrawledDocument, type Item, type Origin } from './item.js';
import { framedMisreadHint, jsonFailureHint, looksLikeJson } from './decode-reasons.js';

export interface DecodeOptions {
  /** Field holding the document id (default "id"). */
  readonly idField: string;
  /** Field holding the text (default "text"). */
  readonly textField: string;
  /** Largest text accepted, in UTF-8 bytes; larger documents are dead-lettered. */
  readonly maxBytes: number;
}

export const defaultDecodeOptions: DecodeOptions = { idField: 'id', textField: 'text', maxBytes: 1_000_000 };

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
const FETCH_TIME_FIELDS = ['fetched_at', 'timestamp', 'date'];

/** Thrown-free outcome of validating one input record. */
export type Validated = { readonly ok: CrawledDocument } | { readonly error: string; readonly message: string; readonly id: string | null };

function asId(v: unknown): string | null {
  if (typeof v === 'string' && v.length > 0) return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return null;
}

function asTime(v: unknown): number | null {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string') {
    const t = Date.parse(v);
    return Number.isNaN(t) ? null : t;
  }
  return null;
}

/**
 * Turns a parsed input object into a CrawledDocument, or says why it cannot be one. Known fields
 * map onto the schema; every other field is kept, stringified, in `metadata`.
 */
export function toDocument(value: unknown, options: DecodeOptions): Validated {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { error: 'not-an-object', message: `expected a JSON object, got ${Array.isArray(value) ? 'an array' : typeof value}`, id: null };
  }
  const rec = value as Record<string, unknown>;
  const id = asId(rec[options.idField]);
  if (id === null) return { error: 'missing-id', message: `field "${options.idField}" is missing or not a non-empty string/number (set --id-field)`, id: null };
  const text = rec[options.textField];
  if (typeof text !== 'string') return { error: 'missing-text', message: `field "${options.textField}" is missing or not a string (set --text-field)`, id };
  if (text.trim().length === 0) return { error: 'empty-text', message: 'text is empty or only whitespace', id };
  const size = Buffer.byteLength(text, 'utf8');
  if (size > options.maxBytes) return { error: 'too-large', message: `text is ${size} bytes, over the limit of ${options.maxBytes} (set --max-bytes)`, id };

  const metadata: Record<string, string> = {};
  let fetchedAt: number | null = null;
  for (const [k, v] of Object.entries(rec)) {
    if (k === options.idField || k === options.textField || k === 'url' || k === 'content_type' || k === 'language' || k === 'metadata') continue;
    if (fetchedAt === null && FETCH_TIME_FIELDS.includes(k)) fetchedAt = asTime(v);
    metadata[k] = typeof v === 'string' ? v : JSON.stringify(v);
  }
  if (rec.metadata && typeof rec.metadata === 'object') {
    for (const [k, v] of Object.entries(rec.metadata as Record<string, unknown>)) metadata[k] = typeof v === 'string' ? v : JSON.stringify(v);
  }
  const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
  return {
    ok: {
      id, url: str(rec.url), fetched_at: fetchedAt, content_type: str(rec.content_type),
      language: str(rec.language), text, metadata,
    },
  };
}

/** A document or its dead letter, from an already-parsed value. */
export function itemFromValue(value: unknown, raw: Buffer, seq: number, o: Origin, options: DecodeOptions): Item {
  const v = toDocument(value, options);
  if ('ok' in v) return { kind: 'doc', seq, origin: o, doc: v.ok };
  return { kind: 'dead', seq, origin: o, dead: deadLetter(o, 'validate', v.error, v.message, raw, v.id) };
}

/**
 * Checks a record that already is a CrawledDocument (an Avro record of the crawl topic) and
 * returns it as it came in, field for field: re-mapping it as if it were input JSON would copy
 * `fetched_at` into `metadata`.
 */
export function validateDocument(doc: CrawledDocument, options: DecodeOptions): Validated {
  const id = doc.id;
  if (id.length === 0) return { error: 'missing-id', message: 'the document id is empty', id: null };
  if (doc.text.trim().length === 0) return { error: 'empty-text', message: 'text is empty or only whitespace', id };
  const size = Buffer.byteLength(doc.text, 'utf8');
  if (size > options.maxBytes) return { error: 'too-large', message: `text is ${size} bytes, over the limit of ${options.maxBytes} (set --max-bytes)`, id };
  // A plain object in schema order (avsc hands out instances of a generated record class).
  return { ok: { id, url: doc.url, fetched_at: doc.fetched_at, content_type: doc.content_type, language: doc.language, text: doc.text, metadata: doc.metadata } };
}

/** Decodes an Avro CrawledDocument; never throws (see io/avro/codec.ts). */
export type DocumentDecoder = (bytes: Buffer) => { value: CrawledDocument } | { error: string; reason: string };

/**
 * One Kafka record's value as an Item. A missing value (tombstone) and an empty one are named as
 * such; JSON goes through input validation; an Avro document is checked and passed on unchanged.
 * Failures say what the bytes look like when that points at an option (--format, --schema-id).
 */
export function itemFromRecordValue(value: Buffer | null, key: string | null, seq: number, o: Origin, format: 'avro' | 'json', decodeAvro: DocumentDecoder, options: DecodeOptions): Item {
  const dead = (stage: string, error: string, message: string, raw: Buffer, id: string | null = key): Item => ({ kind: 'dead', seq, origin: o, dead: deadLetter(o, stage, error, message, raw, id) });
  if (value === null) return dead('decode', 'tombstone', 'the record has no value (a tombstone, the delete marker of a compacted topic): no document to curate', Buffer.alloc(0));
  if (value.length === 0) return dead('decode', 'empty-record', 'the record value is empty (0 bytes)', value);
  if (format === 'json') {
    const item = itemFromJsonBytes(value, seq, o, options);
    if (item.kind === 'dead' && item.dead.stage === 'decode' && !looksLikeJson(value)) {
      const hint = jsonFailureHint(value);
      if (hint) return dead('decode', item.dead.error, `${item.dead.message}; ${hint}`, value);
    }
    return item;
  }
  const r = decodeAvro(value);
  if ('error' in r) return dead('decode', r.reason, r.error, value);
  const v = validateDocument(r.value, options);
  if ('ok' in v) return { kind: 'doc', seq, origin: o, doc: v.ok };
  // Framed bytes can decode as plain Avro (the header's zero bytes read as an empty id and nulls).
  const hint = framedMisreadHint(value);
  return dead('validate', v.error, hint ? `${v.message}; ${hint}` : v.message, value, v.id ?? key);
}

/** A document or its dead letter, from the raw bytes of one JSON record (a JSONL line). */
export function itemFromJsonBytes(raw: Buffer, seq: number, o: Origin, options: DecodeOptions): Item {
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    return { kind: 'dead', seq, origin: o, dead: deadLetter(o, 'decode', 'invalid-utf8', 'record is not valid UTF-8', raw) };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { kind: 'dead', seq, origin: o, dead: deadLetter(o, 'decode', 'malformed-json', (e as Error).message, raw) };
  }
  return itemFromValue(value, raw, seq, o, options);
}
