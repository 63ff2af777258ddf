import type { BatchLimit } from './batching.js';
import type { EpochRange, PartitionRange } from './source.js';

/**
 * Where a feed stands after a batch, enough to resume it without repeating or skipping a
 * document. Each epoch's order is a pure function of (the epoch's range, seed, epoch, shuffle
 * buffer size), so the position is a count: resuming replays the epoch's order and skips the
 * first `position` records without decoding them, then checks that the skipped records hash to
 * `digest` (so a topic whose records changed under the token fails loudly instead of silently
 * repeating or skipping documents).
 */
export interface FeedCheckpoint {
  readonly v: 1;
  /** FeedSource.id, e.g. "kafka:d4.curated". */
  readonly source: string;
  readonly seed: string;
  readonly shuffleBuffer: number;
  readonly batch: BatchLimit;
  /** The epoch to continue (0-based). */
  readonly epoch: number;
  /** Records of this epoch's shuffled order already handed out (documents, plus undecodable records that were skipped). */
  readonly position: number;
  /** Index of the next batch in this epoch. */
  readonly batches: number;
  /** The epoch's offsets, fixed when it began; null at an epoch boundary (the next epoch fixes its own when it starts). */
  readonly range: EpochRange | null;
  /** Running hash of the (partition, offset, key) of the `position` records handed out; 16 hex digits. */
  readonly digest: string;
}

/** A checkpoint token that cannot be read, or does not fit the options it is used with. */
export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

const PREFIX = 'd4feed1.';

/** `d4feed1.` + base64url(JSON): opaque to a trainer, readable with any base64 decoder, URL-safe. */
export function encodeCheckpoint(c: FeedCheckpoint): string {
  const range = c.range?.map((p) => [p.partition, p.start, p.end]) ?? null;
  const body = { v: c.v, source: c.source, seed: c.seed, shuffle: c.shuffleBuffer, batch: c.batch, epoch: c.epoch, position: c.position, batches: c.batches, range, digest: c.digest };
  return PREFIX + Buffer.from(JSON.stringify(body), 'utf8').toString('base64url');
}

const isInt = (v: unknown, min = 0): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= min;
const isOffset = (v: unknown): v is string => typeof v === 'string' && /^(0|[1-9]\d{0,18})$/.test(v);

export function decodeCheckpoint(token: string): FeedCheckpoint {
  const fail = (why: string): never => { throw new CheckpointError(`checkpoint token: ${why}`); };
  if (typeof token !== 'string' || token.length === 0) fail('empty');
  const t = token.trim();
  if (!t.startsWith(PREFIX)) fail(`not a d4 feed checkpoint (it should start with "${PREFIX}"; got "${t.slice(0, 12)}…")`);
  const b64 = t.slice(PREFIX.length);
  if (!/^[A-Za-z0-9_-]+$/.test(b64)) fail('not base64url after the prefix (truncated or altered when copied?)');
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(Buffer.from(b64, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return fail('its body is not JSON (truncated or altered when copied?)');
  }
  if (o === null || typeof o !== 'object' || Array.isArray(o)) fail('its body is not a JSON object');
  if (o.v !== 1) fail(`version ${JSON.stringify(o.v)} is not supported (this d4 reads version 1)`);
  if (typeof o.source !== 'string' || o.source.length === 0) fail('"source" is missing');
  if (typeof o.seed !== 'string') fail('"seed" is missing');
  if (!isInt(o.shuffle, 1)) fail('"shuffle" must be a whole number ≥ 1');
  const b = o.batch as Record<string, unknown> | null;
  let batch: BatchLimit;
  if (b && b.kind === 'count' && isInt(b.size, 1)) batch = { kind: 'count', size: b.size };
  else if (b && b.kind === 'tokens' && isInt(b.tokens, 1)) batch = { kind: 'tokens', tokens: b.tokens };
  else return fail('"batch" must be {"kind":"count","size":n} or {"kind":"tokens","tokens":n}');
  if (!isInt(o.epoch)) fail('"epoch" must be a whole number ≥ 0');
  if (!isInt(o.position)) fail('"position" must be a whole number ≥ 0');
  if (!isInt(o.batches)) fail('"batches" must be a whole number ≥ 0');
  if (typeof o.digest !== 'string' || !/^[0-9a-f]{16}$/.test(o.digest)) fail('"digest" must be 16 hex digits');
  let range: PartitionRange[] | null = null;
  if (o.range !== null) {
    if (!Array.isArray(o.range) || o.range.length === 0) fail('"range" must be null or a non-empty list of [partition, start, end]');
    range = (o.range as unknown[]).map((e, i) => {
      if (!Array.isArray(e) || e.length !== 3 || !isInt(e[0]) || !isOffset(e[1]) || !isOffset(e[2])) return fail(`range[${i}] must be [partition, "start", "end"] with decimal offsets`);
      if (BigInt(e[1] as string) > BigInt(e[2] as string)) fail(`range[${i}]: start ${e[1]} is after end ${e[2]}`);
      return { partition: e[0] as number, start: e[1] as string, end: e[2] as string };
    });
    for (let i = 1; i < range.length; i++) if (range[i]!.partition <= range[i - 1]!.partition) fail('range partitions must be in increasing order, each once');
  } else if ((o.position as number) > 0) {
    fail('"position" > 0 needs the epoch\'s "range"');
  }
  return { v: 1, source: o.source as string, seed: o.seed as string, shuffleBuffer: o.shuffle as number, batch, epoch: o.epoch as number, position: o.position as number, batches: o.batches as number, range, digest: o.digest as string };
}

/**
 * A running hash of the records handed out (two 32-bit FNV-style lanes, 64 bits of state) by
 * partition, offset and key (the document id on Kafka, so a topic recreated with other
 * documents at the same offsets is caught too). Not cryptographic: it detects a topic whose
 * records changed under a token (retention, compaction, a recreated topic), not an adversary.
 */
export class PositionDigest {
  private h1 = 0x811c9dc5;
  private h2 = 0x9e3779b9;

  add(partition: number, offset: string, key = ''): void {
    const s = `${partition}:${offset}:${key};`;
    let h1 = this.h1, h2 = this.h2;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x5bd1e995);
      h2 ^= h2 >>> 15;
    }
    this.h1 = h1;
    this.h2 = h2;
  }

  hex(): string {
    return (this.h1 >>> 0).toString(16).padStart(8, '0') + (this.h2 >>> 0).toString(16).padStart(8, '0');
  }
}

export const EMPTY_DIGEST = new PositionDigest().hex();
