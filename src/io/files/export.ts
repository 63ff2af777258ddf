import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createGzip, createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import { toDocument, defaultDecodeOptions } from '../../records/decode.js';
import type { CrawledDocument } from '../../records/item.js';
import { crawledDocumentSchema } from '../../records/schemas.generated.js';

export type ShardFormat = 'jsonl.gz' | 'parquet';

export interface ShardFile {
  readonly format: ShardFormat;
  /** Relative to the export directory. */
  readonly path: string;
  readonly bytes: number;
  readonly sha256: string;
}

export interface ShardEntry {
  readonly index: number;
  readonly documents: number;
  readonly first_id: string;
  readonly last_id: string;
  readonly files: readonly ShardFile[];
}

/** manifest.json: what an offline loader needs to find, count and check the shards. */
export interface ExportManifest {
  readonly manifest_version: 1;
  readonly created_at: string;
  /** Where the documents came from (a topic and its offsets, or a file). */
  readonly source: Readonly<Record<string, unknown>>;
  /** The record type of every line (JSONL) and row (Parquet). */
  readonly schema: { readonly name: 'd4stream.CrawledDocument'; readonly avro: unknown };
  readonly formats: readonly ShardFormat[];
  readonly shard_docs: number;
  readonly documents: number;
  /** Input records that were not documents (not exported). */
  readonly refused: number;
  readonly bytes: Readonly<Partial<Record<ShardFormat, number>>>;
  readonly shards: readonly ShardEntry[];
}

export interface ExportOptions {
  readonly out: string;
  readonly shardDocs: number;
  readonly formats: readonly ShardFormat[];
  /** Replace an earlier export's files in `out` (else an earlier export there is an error). */
  readonly overwrite: boolean;
  readonly source: Readonly<Record<string, unknown>>;
  /** Called after each shard is written. */
  readonly onShard?: (shard: ShardEntry) => void;
}

/** `out` holds an earlier export and --overwrite was not given, or similar misuse. */
export class ExportError extends Error {
  override name = 'ExportError';
}

const shardName = (i: number, format: ShardFormat) => `shard-${String(i).padStart(5, '0')}.${format}`;
const EXPORT_FILE = /^(shard-\d{5,}\.(jsonl\.gz|parquet)(\.partial)?|manifest\.json|SHA256SUMS)$/;

/** A CrawledDocument as one JSON line: the schema's fields, in the schema's order. */
export function documentJson(d: CrawledDocument): string {
  return JSON.stringify({ id: d.id, url: d.url, fetched_at: d.fetched_at, content_type: d.content_type, language: d.language, text: d.text, metadata: d.metadata });
}

/** Streams one gzipped JSONL shard to disk, hashing the bytes as they are written. */
class GzipShardWriter {
  private readonly gzip = createGzip({ level: 6 });
  private readonly hash = createHash('sha256');
  private readonly file;
  private bytes = 0;
  private readonly finished: Promise<void>;

  constructor(private readonly partial: string) {
    this.file = createWriteStream(partial);
    this.gzip.on('data', (chunk: Buffer) => { this.hash.update(chunk); this.bytes += chunk.length; });
    this.gzip.pipe(this.file);
    this.finished = new Promise((resolve, reject) => {
      this.file.on('finish', resolve);
      this.file.on('error', reject);
      this.gzip.on('error', reject);
    });
  }

  async write(line: string): Promise<void> {
    if (!this.gzip.write(line + '\n')) await once(this.gzip, 'drain');
  }

  async close(): Promise<{ bytes: number; sha256: string }> {
    this.gzip.end();
    await this.finished;
    return { bytes: this.bytes, sha256: this.hash.digest('hex') };
  }
}

/** Parquet columns of one shard; written in one go when the shard is complete. */
class ParquetShardWriter {
  private readonly cols = { id: [] as string[], url: [] as (string | null)[], fetched_at: [] as (Date | null)[], content_type: [] as (string | null)[], language: [] as (string | null)[], text: [] as string[], metadata: [] as string[] };

  add(d: CrawledDocument): void {
    this.cols.id.push(d.id);
    this.cols.url.push(d.url);
    this.cols.fetched_at.push(d.fetched_at === null ? null : new Date(d.fetched_at));
    this.cols.content_type.push(d.content_type);
    this.cols.language.push(d.language);
    this.cols.text.push(d.text);
    // A JSON-annotated string keeps the map readable by any Parquet reader (pandas, DuckDB, Spark).
    this.cols.metadata.push(JSON.stringify(d.metadata));
  }

  async write(partial: string): Promise<{ bytes: number; sha256: string }> {
    let writer: { parquetWriteBuffer(options: unknown): ArrayBuffer };
    try {
      // Imported by name at run time only, so that the JSONL path needs no Parquet package.
      const name: string = 'hyparquet-writer';
      writer = (await import(name)) as typeof writer;
    } catch {
      throw new ExportError('Parquet shards need the npm package hyparquet-writer, which is not installed (npm install hyparquet-writer)');
    }
    const c = this.cols;
    const buffer = Buffer.from(writer.parquetWriteBuffer({
      columnData: [
        { name: 'id', data: c.id, type: 'STRING', nullable: false },
        { name: 'url', data: c.url, type: 'STRING' },
        { name: 'fetched_at', data: c.fetched_at, type: 'TIMESTAMP' },
        { name: 'content_type', data: c.content_type, type: 'STRING' },
        { name: 'language', data: c.language, type: 'STRING' },
        { name: 'text', data: c.text, type: 'STRING', nullable: false },
        { name: 'metadata', data: c.metadata, type: 'JSON', nullable: false },
      ],
      kvMetadata: [{ key: 'd4stream.schema', value: JSON.stringify(crawledDocumentSchema) }],
      createdBy: 'd4stream export',
    }));
    writeFileSync(partial, buffer);
    return { bytes: buffer.length, sha256: createHash('sha256').update(buffer).digest('hex') };
  }
}

function prepareDir(out: string, overwrite: boolean): void {
  mkdirSync(out, { recursive: true });
  const earlier = readdirSync(out).filter((f) => EXPORT_FILE.test(f));
  if (earlier.length === 0) return;
  if (!overwrite) throw new ExportError(`${out} already holds an export (${earlier.slice(0, 3).join(', ')}${earlier.length > 3 ? ', …' : ''}); pass --overwrite to replace it, or choose another --out`);
  for (const f of earlier) rmSync(join(out, f));
}

/**
 * Writes documents as shards of at most `shardDocs` documents, in the order they come:
 * shard-00000.jsonl.gz (one CrawledDocument JSON per line, fields in schema order) and, if
 * asked, shard-00000.parquet with the same documents; then SHA256SUMS and manifest.json, last,
 * so that a directory with a manifest holds a complete export. Files are written as
 * `.partial` and renamed when complete. Returns the manifest.
 */
export async function exportShards(docs: AsyncIterable<CrawledDocument>, options: ExportOptions, refused: () => number = () => 0): Promise<ExportManifest> {
  if (!Number.isInteger(options.shardDocs) || options.shardDocs < 1) throw new ExportError(`shard size must be a whole number ≥ 1, got ${options.shardDocs}`);
  if (options.formats.length === 0) throw new ExportError('no shard format chosen');
  prepareDir(options.out, options.overwrite);
  const shards: ShardEntry[] = [];
  let total = 0;

  let gz: GzipShardWriter | undefined;
  let pq: ParquetShardWriter | undefined;
  let count = 0;
  let firstId = '';
  let lastId = '';
  const partialOf = (format: ShardFormat) => join(options.out, shardName(shards.length, format) + '.partial');
  const finishShard = async () => {
    const files: ShardFile[] = [];
    for (const format of options.formats) {
      const r = format === 'jsonl.gz' ? await gz!.close() : await pq!.write(partialOf('parquet'));
      const name = shardName(shards.length, format);
      renameSync(join(options.out, name + '.partial'), join(options.out, name));
      files.push({ format, path: name, ...r });
    }
    const entry: ShardEntry = { index: shards.length, documents: count, first_id: firstId, last_id: lastId, files };
    shards.push(entry);
    options.onShard?.(entry);
    gz = undefined;
    pq = undefined;
    count = 0;
  };

  try {
    for await (const d of docs) {
      if (count === 0) {
        if (options.formats.includes('jsonl.gz')) gz = new GzipShardWriter(partialOf('jsonl.gz'));
        if (options.formats.includes('parquet')) pq = new ParquetShardWriter();
        firstId = d.id;
      }
      if (gz) await gz.write(documentJson(d));
      pq?.add(d);
      lastId = d.id;
      count++;
      total++;
      if (count >= options.shardDocs) await finishShard();
    }
    if (count > 0) await finishShard();
  } catch (e) {
    if (gz) await gz.close().catch(() => undefined);
    for (const f of readdirSync(options.out)) if (f.endsWith('.partial')) rmSync(join(options.out, f), { force: true });
    throw e;
  }

  const bytes: Partial<Record<ShardFormat, number>> = {};
  for (const s of shards) for (const f of s.files) bytes[f.format] = (bytes[f.format] ?? 0) + f.bytes;
  const manifest: ExportManifest = {
    manifest_version: 1,
    created_at: new Date().toISOString(),
    source: options.source,
    schema: { name: 'd4stream.CrawledDocument', avro: crawledDocumentSchema },
    formats: [...options.formats],
    shard_docs: options.shardDocs,
    documents: total,
    refused: refused(),
    bytes,
    shards,
  };
  // SHA256SUMS lets `sha256sum -c SHA256SUMS` check the shards without reading the manifest.
  writeFileSync(join(options.out, 'SHA256SUMS'), shards.flatMap((s) => s.files.map((f) => `${f.sha256}  ${f.path}\n`)).join(''));
  writeFileSync(join(options.out, 'manifest.json.partial'), JSON.stringify(manifest, null, 2) + '\n');
  renameSync(join(options.out, 'manifest.json.partial'), join(options.out, 'manifest.json'));
  return manifest;
}

const NULLABLE_STRINGS = ['url', 'content_type', 'language'] as const;
const DOC_KEYS = new Set(['id', 'url', 'fetched_at', 'content_type', 'language', 'text', 'metadata']);

/** The value as it is, if it already is a CrawledDocument (a line of kept.jsonl). */
export function asCrawledDocument(v: unknown): CrawledDocument | undefined {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  if (Object.keys(o).some((k) => !DOC_KEYS.has(k))) return undefined;
  if (typeof o.id !== 'string' || o.id.length === 0 || typeof o.text !== 'string') return undefined;
  for (const k of NULLABLE_STRINGS) if (o[k] !== undefined && o[k] !== null && typeof o[k] !== 'string') return undefined;
  if (o.fetched_at !== undefined && o.fetched_at !== null && !(typeof o.fetched_at === 'number' && Number.isFinite(o.fetched_at))) return undefined;
  const m = o.metadata;
  if (m !== undefined && (m === null || typeof m !== 'object' || Array.isArray(m) || Object.values(m).some((x) => typeof x !== 'string'))) return undefined;
  return {
    id: o.id, url: (o.url as string | null | undefined) ?? null, fetched_at: (o.fetched_at as number | null | undefined) ?? null,
    content_type: (o.content_type as string | null | undefined) ?? null, language: (o.language as string | null | undefined) ?? null,
    text: o.text, metadata: (m as Record<string, string> | undefined) ?? {},
  };
}

/**
 * The documents of a kept.jsonl (JSONL or JSONL.gz, `-` for stdin), in file order. Lines that
 * already are CrawledDocuments are taken as they are; other objects go through the same
 * validation as `d4 curate` input (id/text fields, extra fields into metadata); anything else
 * is refused and reported with its line number.
 */
export async function* readDocumentsFile(path: string, onRefused: (line: number, why: string) => void): AsyncGenerator<CrawledDocument> {
  if (path !== '-' && !existsSync(path)) throw new ExportError(`input ${path} does not exist`);
  const raw: Readable = path === '-' ? process.stdin : createReadStream(path);
  const stream = path.endsWith('.gz') ? raw.pipe(createGunzip()) : raw;
  let line = 0;
  for await (const text of createInterface({ input: stream, crlfDelay: Infinity })) {
    line++;
    if (text.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line === 1 ? text.replace(/^\uFEFF/, '') : text);
    } catch (e) {
      onRefused(line, `malformed JSON: ${(e as Error).message}`);
      continue;
    }
    const doc = asCrawledDocument(value);
    if (doc) { yield doc; continue; }
    const r = toDocument(value, { ...defaultDecodeOptions, maxBytes: Number.MAX_SAFE_INTEGER });
    if ('ok' in r) yield r.ok;
    else onRefused(line, `${r.error}: ${r.message}`);
  }
}
