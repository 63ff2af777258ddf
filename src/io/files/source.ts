import { createReadStream, statSync } from 'node:fs';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import StreamJson from 'stream-json';
import StreamArray from 'stream-json/streamers/StreamArray.js';
import { deadLetter, origin, type Item } from '../../records/item.js';
import { itemFromJsonBytes, type DecodeOptions } from '../../records/decode.js';
import type { InRecord } from '../../topology/task.js';
import { TaskWindows } from '../../topology/loop.js';

export interface FileSourceOptions extends DecodeOptions {
  /** Records per batch read; the runner awaits each batch, which is the backpressure. */
  readonly batchSize: number;
  /** Called with bytes read so far (of the file, compressed if gzipped) for progress. */
  readonly onBytes?: (bytesRead: number) => void;
}

export type InputFormat = 'jsonl' | 'json-array';

/** Size on disk, or undefined for stdin. */
export function inputSize(path: string): number | undefined {
  return path === '-' ? undefined : statSync(path).size;
}

function open(path: string, onBytes?: (n: number) => void): Readable {
  const raw = path === '-' ? process.stdin : createReadStream(path, { highWaterMark: 1 << 20 });
  if (onBytes) {
    let n = 0;
    raw.on('data', (chunk: Buffer) => onBytes((n += chunk.length)));
  }
  return path.endsWith('.gz') ? raw.pipe(createGunzip()) : raw;
}

/**
 * Splits a byte stream on LF without decoding it, so that a line of invalid UTF-8 becomes one
 * dead letter instead of corrupting its neighbours. A line longer than `maxLine` is not held in
 * memory: its first bytes are kept for the dead letter and the rest skipped.
 */
async function* lines(stream: AsyncIterable<Buffer>, maxLine: number): AsyncGenerator<{ bytes: Buffer; size: number }> {
  let parts: Buffer[] = [];
  let held = 0;
  let size = 0;
  const flush = () => {
    let bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    if (bytes.length > 0 && bytes[bytes.length - 1] === 0x0d) bytes = bytes.subarray(0, bytes.length - 1);
    const out = { bytes, size };
    parts = [];
    held = 0;
    size = 0;
    return out;
  };
  for await (const chunk of stream) {
    let start = 0;
    for (let nl = chunk.indexOf(0x0a, start); nl !== -1; nl = chunk.indexOf(0x0a, start)) {
      const piece = chunk.subarray(start, nl);
      size += piece.length;
      if (held < maxLine) { parts.push(piece); held += piece.length; }
      yield flush();
      start = nl + 1;
    }
    const rest = chunk.subarray(start);
    size += rest.length;
    if (held < maxLine && rest.length > 0) { parts.push(Buffer.from(rest)); held += rest.length; }
  }
  if (size > 0) yield flush();
}

async function sniff(stream: Readable): Promise<{ first: number | undefined; stream: AsyncIterable<Buffer> }> {
  const it = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const head: Buffer[] = [];
  let first: number | undefined;
  while (first === undefined) {
    const r = await it.next();
    if (r.done) break;
    head.push(r.value);
    for (const b of r.value) if (b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09 && b !== 0xef && b !== 0xbb && b !== 0xbf) { first = b; break; }
  }
  async function* rest(): AsyncGenerator<Buffer> {
    yield* head;
    for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
  }
  return { first, stream: rest() };
}

/** Header of a line too long to hold: its size in bytes (its value keeps only the first bytes, for the dead letter). */
export const LINE_SIZE_HEADER = 'd4-line-bytes';

/** The longest line held whole: JSON escaping can double a text's size; allow that, plus room for the other fields. */
const maxLineBytes = (maxBytes: number) => maxBytes * 2 + 65_536;

/** The name a file's records give as their origin. */
const fileName = (path: string) => (path === '-' ? '<stdin>' : path);

/**
 * Reads JSONL, JSONL.gz, a JSON array (optionally gzipped), or stdin (`-`), and yields its
 * records in batches of `batchSize`, in input order, undecoded: a file is one partition whose
 * offsets are line indexes (line n is offset n − 1; blank lines are not records, so their
 * offsets are skipped), or the element indexes of a JSON array. `decodeFileRecord` turns a record
 * into a document or a dead letter.
 */
export async function* readFileRecords(path: string, options: FileSourceOptions): AsyncGenerator<InRecord[]> {
  const { first, stream } = await sniff(open(path, options.onBytes));
  const maxLine = maxLineBytes(options.maxBytes);
  let batch: InRecord[] = [];
  if (first === 0x5b /* [ */) {
    const pipeline = (async function* () { yield* stream; })();
    const { Readable } = await import('node:stream');
    const values = Readable.from(pipeline).pipe(StreamJson.parser()).pipe(StreamArray.streamArray());
    for await (const { key, value } of values as AsyncIterable<{ key: number; value: unknown }>) {
      batch.push({ offset: BigInt(key), key: null, value: Buffer.from(JSON.stringify(value) ?? ''), timestamp: Date.now() });
      if (batch.length >= options.batchSize) { yield batch; batch = []; }
    }
  } else {
    let line = 0;
    for await (const { bytes, size } of lines(stream, maxLine)) {
      line++;
      if (size === 0 || (bytes.length < 3 && bytes.toString('latin1').trim() === '')) continue; // blank lines are not records
      const offset = BigInt(line - 1);
      batch.push(size > maxLine
        ? { offset, key: null, value: bytes, timestamp: Date.now(), headers: { [LINE_SIZE_HEADER]: String(size) } }
        : { offset, key: null, value: line === 1 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? bytes.subarray(3) : bytes, timestamp: Date.now() });
      if (batch.length >= options.batchSize) { yield batch; batch = []; }
    }
  }
  if (batch.length > 0) yield batch;
}

/**
 * A record of `readFileRecords(path)` as an Item: a document, or the dead letter of a line that
 * was not one, its origin the file and line (a JSON array's element n is line n + 1).
 */
export function decodeFileRecord(path: string, options: DecodeOptions): (record: InRecord, seq: number) => Item {
  const file = fileName(path);
  const maxLine = maxLineBytes(options.maxBytes);
  return (record, seq) => {
    const o = origin({ file, line: Number(record.offset) + 1 });
    const bytes = record.value ?? Buffer.alloc(0);
    const size = record.headers?.[LINE_SIZE_HEADER];
    if (size !== undefined) {
      return { kind: 'dead', seq, origin: o, dead: deadLetter(o, 'decode', 'too-large', `record is ${size} bytes, over the limit of ${maxLine} for a text limit of ${options.maxBytes} (set --max-bytes)`, bytes, null, Number(size)) };
    }
    return itemFromJsonBytes(bytes, seq, o, options);
  };
}

/**
 * Reads a file (see readFileRecords) and yields its windows as Items in input order (a document,
 * or the dead letter of a line that was not one): the records of `batchSize` consecutive offsets
 * aligned on offset multiples, cut as the run loop cuts them (TaskWindows), so that whoever batches
 * a file this way (d4 sweep, d4 batch) hands the selection stages the windows `d4 curate` does.
 */
export async function* readFileItems(path: string, options: FileSourceOptions): AsyncGenerator<Item[]> {
  const decode = decodeFileRecord(path, options);
  const windows = new TaskWindows(0n, BigInt(options.batchSize));
  let seq = 0;
  const ready = function* (flush: boolean) {
    for (let w = windows.take(flush); w; w = windows.take(flush)) {
      windows.committed(w.end);
      if (w.records.length > 0) yield w.records.map((r) => decode(r, seq++));
    }
  };
  for await (const records of readFileRecords(path, options)) {
    windows.add(records, records.at(-1)!.offset);
    yield* ready(false);
  }
  yield* ready(true);
}
