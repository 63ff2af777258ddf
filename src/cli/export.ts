import { ConfigError } from '../topology/registry.js';
import { codecOptionsFor } from './codec-options.js';
import type { CrawledDocument } from '../records/item.js';
import { PoisonGuard } from '../records/poison-guard.js';
import { ExportError, exportShards, readDocumentsFile, type ExportManifest, type ShardFormat } from '../io/files/export.js';

const log = (m: string) => console.error(`[d4 export] ${new Date().toISOString()} ${m}`);

export interface ExportCliOptions {
  readonly topic?: string;
  readonly brokers?: string;
  readonly out: string;
  readonly shardDocs: number;
  readonly parquet?: boolean;
  readonly overwrite?: boolean;
  readonly schemaId?: number;
  readonly maxDeadShare?: number;
  readonly schemaRegistry?: string;
}

/** `d4 export`: shards + manifest.json from a topic or a kept.jsonl. */
export async function exportCommand(input: string | undefined, opts: ExportCliOptions): Promise<number> {
  if ((input === undefined) === (opts.topic === undefined)) throw new ConfigError('give either an input file (a kept.jsonl) or --topic <topic>, not both and not neither');
  const formats: ShardFormat[] = opts.parquet ? ['jsonl.gz', 'parquet'] : ['jsonl.gz'];
  const started = Date.now();
  let refused = 0;
  const common = { out: opts.out, shardDocs: opts.shardDocs, formats, overwrite: opts.overwrite === true, onShard: (s: { path?: string; index: number; documents: number }) => log(`shard ${s.index}: ${s.documents} documents`) };
  let manifest: ExportManifest;
  try {
    if (input !== undefined) {
      const docs = readDocumentsFile(input, (line, why) => { refused++; if (refused <= 5) log(`${input}:${line}: not exported: ${why}`); });
      manifest = await exportShards(docs, { ...common, source: { kind: 'file', path: input === '-' ? '<stdin>' : input } }, () => refused);
    } else {
      manifest = await fromTopic(opts, common, () => refused, () => { refused++; });
    }
  } catch (e) {
    if (e instanceof ExportError) throw new ConfigError(e.message);
    throw e;
  }
  const seconds = (Date.now() - started) / 1000;
  const sizes = Object.entries(manifest.bytes).map(([f, b]) => `${f} ${(b / 1e6).toFixed(1)} MB`).join(', ');
  console.log(`exported ${manifest.documents} documents in ${manifest.shards.length} shard(s) to ${opts.out} (${sizes || 'nothing'}) in ${seconds.toFixed(1)} s; manifest.json and SHA256SUMS written`);
  if (refused > 0) console.error(`d4 export: warning: ${refused} record(s) were not documents and were not exported (${refused > 5 ? 'the first 5 are ' : ''}listed above)`);
  return 0;
}

async function fromTopic(opts: ExportCliOptions, common: Omit<Parameters<typeof exportShards>[1], 'source'>, refusedCount: () => number, refuse: () => void): Promise<ExportManifest> {
  const { resolveBrokers } = await import('../io/kafka/client.js');
  const { kafkaFeedSource, FeedSourceError } = await import('../io/kafka/feed-source.js');
  const brokers = resolveBrokers(opts.brokers);
  const topic = opts.topic!;
  const source = kafkaFeedSource({ brokers, topic, codec: await codecOptionsFor(opts, { writes: {}, reads: [topic] }, log), log });
  try {
    const range = await source.range().catch((e: Error) => { throw e instanceof FeedSourceError ? new ConfigError(e.message) : e; });
    log(`${topic} on ${brokers.join(',')}: ${range.map((p) => `p${p.partition} [${p.start}, ${p.end})`).join(' ')}`);
    // Poison-topic guard: a topic read with the wrong options stops the export (exit 1) before
    // its manifest is written, so no directory looks like a complete export of nothing.
    const guard = new PoisonGuard((a, b) => `${topic} (records ${a}-${b} in export order)`, opts.maxDeadShare !== undefined ? { maxDeadShare: opts.maxDeadShare } : {});
    async function* docs(): AsyncGenerator<CrawledDocument> {
      for await (const r of source.read(range)) {
        const d = source.decode(r.raw);
        if ('value' in d) { guard.add(); yield d.value; }
        else {
          guard.add({ reason: d.reason ?? 'not-a-document', message: d.error });
          refuse();
          // The first few are listed; a topic of undecodable records must not flood stderr.
          if (refusedCount() <= 5) log(`${topic} partition ${r.partition} offset ${r.offset}: not exported: ${d.error}`);
          else if (refusedCount() % 1000 === 0) log(`… ${refusedCount()} records not exported so far (only the first 5 are listed)`);
        }
      }
      guard.finish();
    }
    return await exportShards(docs(), { ...common, source: { kind: 'kafka', topic, order: 'partitions round-robin, each in offset order', partitions: range.map((p) => ({ partition: p.partition, start: p.start, end: p.end })) } }, refusedCount);
  } finally {
    await source.close().catch(() => undefined);
  }
}
