import type { Embedding, Vector } from '../../records/item.js';

// The Embedding record stores float32 little-endian bytes (schemas/embedding.avsc). On a
// little-endian host (x86, arm64: every platform onnxruntime-node ships) that is the memory
// layout of a Float32Array, so conversion is one copy; a big-endian host goes through DataView.
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export class EmbeddingRecordError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EmbeddingRecordError';
  }
}

/** float32 values → little-endian bytes (a copy: the Buffer never aliases the vector). */
export function vectorBytes(values: Float32Array): Buffer {
  const out = Buffer.allocUnsafe(values.length * 4);
  if (LITTLE_ENDIAN) {
    out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  } else {
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
  }
  return out;
}

/** Little-endian float32 bytes → a fresh, aligned Float32Array. */
export function bytesVector(bytes: Uint8Array): Float32Array {
  if (bytes.length % 4 !== 0) throw new EmbeddingRecordError(`vector has ${bytes.length} bytes, not a multiple of 4`);
  const out = new Float32Array(bytes.length / 4);
  if (LITTLE_ENDIAN) {
    new Uint8Array(out.buffer).set(bytes);
  } else {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  }
  return out;
}

/** A document's vector as the embeddings topic's record (key = id). */
export function toEmbeddingRecord(id: string, vector: Vector): Embedding {
  return {
    id, model: vector.model, pooling: vector.pooling, dtype: vector.dtype, dim: vector.values.length,
    vector: vectorBytes(vector.values), tokens: vector.tokens, truncated: vector.truncated,
  };
}

/** The record's vector, marked `cached`; throws EmbeddingRecordError when the record is inconsistent. */
export function fromEmbeddingRecord(record: Embedding): Vector {
  if (!Number.isInteger(record.dim) || record.dim <= 0) throw new EmbeddingRecordError(`${record.id}: dim ${record.dim} is not a positive integer`);
  if (record.vector.length !== record.dim * 4) {
    throw new EmbeddingRecordError(`${record.id}: vector has ${record.vector.length} bytes, expected dim ${record.dim} × 4`);
  }
  const values = bytesVector(record.vector);
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]!)) throw new EmbeddingRecordError(`${record.id}: vector holds a non-finite value at ${i}`);
  }
  return { model: record.model, pooling: record.pooling, dtype: record.dtype, values, tokens: record.tokens, truncated: record.truncated, cached: true };
}

/** Whether a stored vector was made by the same model, pooling and weights as the running embedder. */
export function sameEmbedding(v: Vector, want: { readonly model: string; readonly pooling: string; readonly dtype: string; readonly dim: number }): boolean {
  return v.model === want.model && v.pooling === want.pooling && v.dtype === want.dtype && v.values.length === want.dim;
}
