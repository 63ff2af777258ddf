import type { DocItem, EmbeddedDocument, Evidence, Vector } from './item.js';
import type { OrderKey } from '../topology/reorder.js';

/** A live document between sub-topologies, with its place in the crawl order and its record timestamp. */
export interface Travelling {
  readonly item: DocItem;
  readonly key: OrderKey;
  readonly recordTs: number;
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
    vector: v ? { model: v.model, pooling: v.pooling, dtype: v.dtype, values: Buffer.from(v.values.buffer, v.values.byteOffset, v.values.byteLength), tokens: v.tokens, truncated: v.truncated } : null,
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
  const item: DocItem = {
    kind: 'doc', seq, origin: e.origin, doc: e.document,
    ...(e.evidence ? { evidence: JSON.parse(e.evidence) as Evidence } : {}),
    ...(e.notes ? { notes: JSON.parse(e.notes) as Record<string, string | number | boolean> } : {}),
    ...(vector ? { vector } : {}),
  };
  return { item, key: [e.order_ts, e.order_partition, e.order_offset], recordTs: e.record_ts };
}
