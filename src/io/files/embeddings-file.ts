import { Pending } from '../../state/store.js';
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Embedding, Vector } from '../../records/item.js';
import { fromEmbeddingRecord, toEmbeddingRecord } from '../../stages/embed/embedding-record.js';
import type { EmbeddingStore } from '../../stages/embed/types.js';

export interface EmbeddingsFileOptions {
  /** Also queue new embeddings for `drainNew` (when a runner publishes them elsewhere as well). */
  readonly trackNew?: boolean;
}

/** One line of the file: the Embedding record (schemas/embedding.avsc) with `vector` as base64 of the float32 LE bytes. */
export interface EmbeddingLine {
  readonly id: string;
  readonly model: string;
  readonly pooling: string;
  readonly dtype: string;
  readonly dim: number;
  readonly tokens: number;
  readonly truncated: boolean;
  readonly vector: string;
}

export function embeddingToLine(r: Embedding): string {
  const line: EmbeddingLine = { id: r.id, model: r.model, pooling: r.pooling, dtype: r.dtype, dim: r.dim, tokens: r.tokens, truncated: r.truncated, vector: r.vector.toString('base64') };
  return JSON.stringify(line);
}

export function lineToEmbedding(text: string): Embedding {
  const o = JSON.parse(text) as Partial<EmbeddingLine>;
  if (typeof o.id !== 'string' || typeof o.model !== 'string' || typeof o.pooling !== 'string' || typeof o.dtype !== 'string'
    || typeof o.dim !== 'number' || typeof o.tokens !== 'number' || typeof o.truncated !== 'boolean' || typeof o.vector !== 'string') {
    throw new Error('not an embedding line');
  }
  return { id: o.id, model: o.model, pooling: o.pooling, dtype: o.dtype, dim: o.dim, tokens: o.tokens, truncated: o.truncated, vector: Buffer.from(o.vector, 'base64') };
}

const READ_CHUNK = 1 << 20;

/**
 * The embeddings store of file mode (`d4 curate --embeddings <file>`): a JSONL file of Embedding
 * records, one per line, appended to as documents are embedded and never rewritten; a later
 * line for the same id wins, as in the compacted embeddings topic.
 *
 * Memory holds only where each id's latest line is (about 100 bytes per document); `get` reads
 * that line back (page cache: a few microseconds). Each `put` is one write(2) of one line, so a
 * crash loses at most the line being written: a torn last line is skipped on the next open (and
 * counted in `skipped`), and the next append starts on a fresh line.
 */
export class EmbeddingsFile implements EmbeddingStore {
  readonly name: string;
  /** Lines that could not be read (torn by a crash, or edited by hand). */
  skipped = 0;
  private readonly index = new Map<string, { offset: number; length: number }>();
  private fd: number | undefined;
  private end = 0;
  private readonly pending = new Pending<Embedding>();
  private readonly trackNew: boolean;

  constructor(readonly path: string, options: EmbeddingsFileOptions = {}) {
    this.name = `embeddings-file:${path}`;
    this.trackNew = options.trackNew ?? false;
    mkdirSync(dirname(path), { recursive: true });
    const existed = existsSync(path);
    this.fd = openSync(path, 'a+');
    if (existed) this.scan();
  }

  /** Reads the whole file once, remembering the offset of each id's latest valid line. */
  private scan(): void {
    const fd = this.fd!;
    const size = fstatSync(fd).size;
    const chunk = Buffer.allocUnsafe(READ_CHUNK);
    let carry: Buffer = Buffer.alloc(0);
    let carryOffset = 0;
    let pos = 0;
    const line = (bytes: Buffer, offset: number) => {
      if (bytes.length === 0) return;
      try {
        const r = lineToEmbedding(bytes.toString('utf8'));
        fromEmbeddingRecord(r); // validates dim and bytes
        this.index.set(r.id, { offset, length: bytes.length });
      } catch {
        this.skipped++;
      }
    };
    while (pos < size) {
      const n = readSync(fd, chunk, 0, Math.min(READ_CHUNK, size - pos), pos);
      if (n <= 0) break;
      const data = carry.length ? Buffer.concat([carry, chunk.subarray(0, n)]) : chunk.subarray(0, n);
      let start = 0;
      for (let nl = data.indexOf(0x0a, start); nl !== -1; nl = data.indexOf(0x0a, start)) {
        line(data.subarray(start, nl), carryOffset + start);
        start = nl + 1;
      }
      carry = Buffer.from(data.subarray(start));
      carryOffset += start;
      pos += n;
    }
    this.end = size;
    if (carry.length > 0) {
      // A last line without its newline: complete if it parses (written by hand), torn otherwise.
      line(carry, carryOffset);
      this.write('\n');
    }
  }

  private write(text: string): number {
    const bytes = Buffer.from(text, 'utf8');
    const at = this.end;
    let done = 0;
    while (done < bytes.length) done += writeSync(this.fd!, bytes, done, bytes.length - done);
    this.end += bytes.length;
    return at;
  }

  get(id: string): Vector | undefined {
    const at = this.index.get(id);
    if (!at || this.fd === undefined) return undefined;
    const buf = Buffer.allocUnsafe(at.length);
    try {
      readSync(this.fd, buf, 0, at.length, at.offset);
      return fromEmbeddingRecord(lineToEmbedding(buf.toString('utf8')));
    } catch {
      // The file changed under us since it was indexed: a miss (the model recomputes), not a crash.
      this.index.delete(id);
      this.skipped++;
      return undefined;
    }
  }

  put(id: string, vector: Vector): void {
    if (this.fd === undefined) throw new Error(`${this.name} is closed`);
    const record = toEmbeddingRecord(id, vector);
    const text = embeddingToLine(record);
    const offset = this.write(`${text}\n`);
    this.index.set(id, { offset, length: Buffer.byteLength(text) });
    if (this.trackNew) this.pending.push(record);
  }

  size(): number {
    return this.index.size;
  }

  drainNew(): Embedding[] {
    return this.pending.drain();
  }

  load(records: Iterable<Embedding>): number {
    let n = 0;
    for (const r of records) {
      try {
        fromEmbeddingRecord(r);
      } catch {
        this.skipped++;
        continue;
      }
      const text = embeddingToLine(r);
      const offset = this.write(`${text}\n`);
      this.index.set(r.id, { offset, length: Buffer.byteLength(text) });
      n++;
    }
    return n;
  }

  async close(): Promise<void> {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}
