import type { Decision, DocItem, EmbeddedDocument, Evidence, Vector } from './item.js';
import type { OrderKey } from '../topology/reorder.js';

/** A document between sub-topologies, with its place in the crawl order and its record timestamp. */
export interface Travelling {
  readonly item: DocItem;
  readonly key: OrderKey;
  readonly recordTs: number;
  /** Dropped (and its decision written) in an earlier sub-topology: counted, never decided again. */
  readonly decidedUpstream?: boolean;
}

/** The record that carries a live document to the next sub-topology (schemas/embedded-document.avsc). */
export function toEnvelope(t: Travelling): EmbeddedDocument {
  const { item } = t;
  const v = item.vector;
  return {
    document: item.doc,
    origin: item.origin,
    order_ts: t.key[0], order_partition: t.key[1], order_offset: t.key[2],
    record_ts: t.recordTs,
    evidence: item.evidence && Object.keys(item.evidence).length > 0 ? JSON.stringify(item.evidence) : null,
    notes: item.notes && Object.keys(item.notes).length > 0 ? JSON.stringify(item.notes) : null,
    signature: item.signature ? { scheme: item.signature.scheme, words: Buffer.from(item.signature.words.buffer, item.signature.words.byteOffset, item.signature.words.byteLength) } : null,
    vector: v ? { model: v.model, pooling: v.pooling, dtype: v.dtype, values: Buffer.from(v.values.buffer, v.values.byteOffset, v.values.byteLength), tokens: v.tokens, truncated: v.truncated } : null,
    upstream_decision: null,
  };
}

/** The record that carries a document dropped in this sub-topology on to the next one: its decision, the document without its text. */
export function toDroppedEnvelope(t: Travelling & { item: { drop: Decision } }): EmbeddedDocument {
  const { item } = t;
  return {
    ...toEnvelope({ item: { kind: 'doc', seq: item.seq, origin: item.origin, doc: { ...item.doc, text: '' } }, key: t.key, recordTs: t.recordTs }),
    upstream_decision: JSON.stringify(item.drop),
  };
}

export function fromEnvelope(e: EmbeddedDocument, seq: number): Travelling {
  let vector: Vector | undefined;
  if (e.vector) {
    const b = e.vector.values;
    const values = new Float32Array(b.byteLength / 4);
    Buffer.from(values.buffer).set(b); // copy: the record's bytes may not be 4-aligned
    vector = { model: e.vector.model, pooling: e.vector.pooling, dtype: e.vector.dtype, values, tokens: e.vector.tokens, truncated: e.vector.truncated, cached: true };
  }
  let signature: DocItem['signature'];
  if (e.signature) {
    const words = new Uint32Array(e.signature.words.byteLength / 4);
    Buffer.from(words.buffer).set(e.signature.words);
    signature = { scheme: e.signature.scheme, words };
  }
  const item: DocItem = {
    kind: 'doc', seq, origin: e.origin, doc: e.document,
    ...(e.evidence ? { evidence: JSON.parse(e.evidence) as Evidence } : {}),
    ...(e.notes ? { notes: JSON.parse(e.notes) as Record<string, string | number | boolean> } : {}),
    ...(vector ? { vector } : {}),
    ...(signature ? { signature } : {}),
    ...(e.upstream_decision ? { drop: JSON.parse(e.upstream_decision) as Decision } : {}),
  };
  return { item, key: [e.order_ts, e.order_partition, e.order_offset], recordTs: e.record_ts, ...(e.upstream_decision ? { decidedUpstream: true } : {}) };
}
