import type { CrawledDocument } from '../records/item.js';
import { Batcher, estimateTokens, validateBatchLimit, type Batch, type BatchLimit } from './batching.js';
import { CheckpointError, decodeCheckpoint, encodeCheckpoint, EMPTY_DIGEST, PositionDigest, type FeedCheckpoint } from './checkpoint.js';
import { seededPrng } from './prng.js';
import { ShuffleBuffer } from './shuffle-buffer.js';
import type { EpochRange, FeedRecord, FeedSource } from './source.js';
import { PoisonGuard, validatePoisonGuard, type PoisonGuardOptions } from '../records/poison-guard.js';

export interface FeedOptions {
  /** Seed of the shuffle (default "0": two runs with the same options give the same batches). */
  readonly seed?: string | number;
  /** Epochs to deliver in all, counting those a resumed token has already finished (default 1). */
  readonly epochs?: number;
  /** Records held by the shuffle buffer (default 10,000); 1 keeps the source's order. */
  readonly shuffleBuffer?: number;
  /** Documents per batch, or a token budget per batch (default 32 documents). */
  readonly batch?: BatchLimit;
  /** A checkpoint token from an earlier batch: continue right after that batch. */
  readonly resume?: string;
  /** Tokens of a document for token-budget batching (default: estimateTokens(doc.text)). */
  readonly countTokens?: (doc: CrawledDocument) => number;
  /** A record the source could not decode: reported, counted in the position, never delivered. */
  readonly onSkip?: (skip: { epoch: number; partition: number; offset: string; error: string }) => void;
  /** Called when an epoch starts reading, with its range and the position it resumes at. */
  readonly onEpoch?: (epoch: { epoch: number; range: EpochRange; resumeAt: number }) => void;
  /**
   * Stop with a PoisonTopicError when too many records of a window of 1,024 (in the epoch's
   * order) cannot be decoded: all of them by default, i.e. a topic read with the wrong options.
   */
  readonly poisonGuard?: PoisonGuardOptions;
}

export interface FeedBatch {
  /** 0-based. */
  readonly epoch: number;
  /** 0-based index within the epoch. */
  readonly batch: number;
  /** Resume here to continue right after this batch. */
  readonly checkpoint: string;
  /** Sum of the documents' token counts (estimated unless countTokens was given). */
  readonly tokens: number;
  readonly documents: readonly CrawledDocument[];
}

/** Options with the token applied: what the feed will do. */
export interface FeedPlan {
  readonly source: string;
  readonly seed: string;
  readonly epochs: number;
  readonly shuffleBuffer: number;
  readonly batch: BatchLimit;
  /** Where to start: the token's position, or epoch 0 from the beginning. */
  readonly start: FeedCheckpoint;
}

/** Options that cannot work; the message says which and why. */
export class FeedOptionsError extends Error {
  override name = 'FeedOptionsError';
}

export const FEED_DEFAULTS = { seed: '0', epochs: 1, shuffleBuffer: 10_000, batch: { kind: 'count', size: 32 } as BatchLimit } as const;

const sameLimit = (a: BatchLimit, b: BatchLimit) => a.kind === b.kind && (a.kind === 'count' ? a.size === (b as typeof a).size : a.tokens === (b as typeof a).tokens);
const limitText = (l: BatchLimit) => (l.kind === 'count' ? `--batch-size ${l.size}` : `--batch-tokens ${l.tokens}`);

/**
 * Checks the options and applies a resume token. An option the token also fixes (seed, shuffle
 * buffer, batching) may be left out, and then the token's value is used; given with another
 * value it is an error, because the order or the batch boundaries would differ from the run
 * being resumed.
 */
export function planFeed(sourceId: string, options: FeedOptions = {}): FeedPlan {
  const epochs = options.epochs ?? FEED_DEFAULTS.epochs;
  if (!Number.isInteger(epochs) || epochs < 1) throw new FeedOptionsError(`epochs must be a whole number ≥ 1, got ${epochs}`);
  if (options.shuffleBuffer !== undefined && (!Number.isInteger(options.shuffleBuffer) || options.shuffleBuffer < 1)) throw new FeedOptionsError(`shuffle buffer must be a whole number ≥ 1, got ${options.shuffleBuffer}`);
  if (options.batch !== undefined) {
    try { validateBatchLimit(options.batch); } catch (e) { throw new FeedOptionsError((e as Error).message); }
  }
  if (options.poisonGuard !== undefined) {
    try { validatePoisonGuard(options.poisonGuard); } catch (e) { throw new FeedOptionsError((e as Error).message); }
  }
  const seed = options.seed === undefined ? undefined : String(options.seed);
  if (options.resume === undefined) {
    const plan = { source: sourceId, seed: seed ?? FEED_DEFAULTS.seed, epochs, shuffleBuffer: options.shuffleBuffer ?? FEED_DEFAULTS.shuffleBuffer, batch: options.batch ?? FEED_DEFAULTS.batch };
    return { ...plan, start: { v: 1, source: sourceId, seed: plan.seed, shuffleBuffer: plan.shuffleBuffer, batch: plan.batch, epoch: 0, position: 0, batches: 0, range: null, digest: EMPTY_DIGEST } };
  }
  const t = decodeCheckpoint(options.resume);
  if (t.source !== sourceId) throw new CheckpointError(`checkpoint token is for ${t.source}, not ${sourceId}`);
  if (seed !== undefined && seed !== t.seed) throw new CheckpointError(`checkpoint token was made with seed "${t.seed}", not "${seed}" (leave the seed out to use the token's)`);
  if (options.shuffleBuffer !== undefined && options.shuffleBuffer !== t.shuffleBuffer) throw new CheckpointError(`checkpoint token was made with a shuffle buffer of ${t.shuffleBuffer}, not ${options.shuffleBuffer} (leave it out to use the token's)`);
  if (options.batch !== undefined && !sameLimit(options.batch, t.batch)) throw new CheckpointError(`checkpoint token was made with ${limitText(t.batch)}, not ${limitText(options.batch)} (leave batching out to use the token's)`);
  return { source: sourceId, seed: t.seed, epochs, shuffleBuffer: t.shuffleBuffer, batch: t.batch, start: t };
}

/**
 * The training feed: the documents of `source`, shuffled through a bounded buffer, in batches,
 * epoch after epoch. Each epoch reads the range of records committed when it starts and
 * delivers each of them exactly once; its order is a pure function of (that range, seed,
 * epoch, shuffle buffer), different for every epoch. Every batch carries a checkpoint token;
 * `feed(source, { ...options, resume: token })` continues right after that batch, with the same
 * batches an uninterrupted run would have delivered.
 *
 * Options are checked when this is called (FeedOptionsError, CheckpointError); source errors
 * surface from the iteration. Breaking out of the iteration releases the source.
 *
 * @example
 * for await (const b of feed(kafkaFeedSource({ brokers, topic: 'd4.curated' }), { epochs: 2, seed: 7, batch: { kind: 'tokens', tokens: 65_536 } })) {
 *   await train(b.documents);
 *   saveCheckpoint(b.checkpoint);
 * }
 */
export function feed<R>(source: FeedSource<R>, options: FeedOptions = {}): AsyncGenerator<FeedBatch> {
  return run(source, planFeed(source.id, options), options);
}

async function* run<R>(source: FeedSource<R>, plan: FeedPlan, options: FeedOptions): AsyncGenerator<FeedBatch> {
  const countTokens = options.countTokens ?? ((d: CrawledDocument) => estimateTokens(d.text));
  const base = { v: 1 as const, source: plan.source, seed: plan.seed, shuffleBuffer: plan.shuffleBuffer, batch: plan.batch };
  for (let epoch = plan.start.epoch; epoch < plan.epochs; epoch++) {
    const resuming = epoch === plan.start.epoch;
    const skip = resuming ? plan.start.position : 0;
    const range = resuming && plan.start.range !== null ? plan.start.range : await source.range();
    options.onEpoch?.({ epoch, range, resumeAt: skip });
    const buffer = new ShuffleBuffer<FeedRecord<R>>(plan.shuffleBuffer, seededPrng('d4-feed', plan.seed, epoch));
    const batcher = new Batcher<CrawledDocument>(plan.batch, countTokens);
    const digest = new PositionDigest();
    const guard = new PoisonGuard((a, b) => `${plan.source} (epoch ${epoch}, records ${a}-${b} of its order)`, options.poisonGuard);
    let position = 0;
    let batchIndex = resuming ? plan.start.batches : 0;
    // A batch is cut at a point of the shuffled order (position and digest); its token resumes there.
    const cut = (b: Batch<CrawledDocument>, at: { position: number; digest: string }): FeedBatch => {
      const index = batchIndex++;
      return { epoch, batch: index, checkpoint: encodeCheckpoint({ ...base, epoch, position: at.position, batches: batchIndex, range, digest: at.digest }), tokens: b.weight, documents: b.items };
    };
    // A batch completed by the latest record waits for the next record before it is handed out,
    // so that the last batch of an epoch carries the next epoch's token instead of one that
    // re-reads this epoch to find nothing left.
    let held: FeedBatch | undefined;
    const ready: FeedBatch[] = [];

    const step = (rec: FeedRecord<R>): void => {
      // Only a token budget can close a batch before the record that did not fit.
      const before = plan.batch.kind === 'tokens' ? { position, digest: digest.hex() } : undefined;
      position++;
      digest.add(rec.partition, rec.offset, rec.key);
      if (position <= skip) {
        if (position === skip && digest.hex() !== plan.start.digest) {
          throw new CheckpointError(`checkpoint token does not match ${plan.source}: the first ${skip} records of epoch ${epoch} are not the ones the token was issued after (records deleted by retention or compaction, or the topic recreated?); start again without the token`);
        }
        return;
      }
      if (held) { ready.push(held); held = undefined; }
      const d = source.decode(rec.raw);
      if ('error' in d) {
        options.onSkip?.({ epoch, partition: rec.partition, offset: rec.offset, error: d.error });
        guard.add({ reason: d.reason ?? 'not-a-document', message: d.error });
        return;
      }
      guard.add();
      const { closedBefore, closedWith } = batcher.add(d.value);
      if (closedBefore) ready.push(cut(closedBefore, before!));
      if (closedWith) held = cut(closedWith, { position, digest: digest.hex() });
    };

    for await (const rec of source.read(range)) {
      const out = buffer.push(rec);
      if (out === undefined) continue;
      step(out);
      while (ready.length > 0) yield ready.shift()!;
    }
    for (const rec of buffer.drain()) {
      step(rec);
      while (ready.length > 0) yield ready.shift()!;
    }
    guard.finish();
    if (position < skip) {
      throw new CheckpointError(`checkpoint token does not match ${plan.source}: epoch ${epoch} has ${position} records, fewer than the ${skip} the token says were handed out (records deleted, or the topic recreated?); start again without the token`);
    }
    const next = encodeCheckpoint({ ...base, epoch: epoch + 1, position: 0, batches: 0, range: null, digest: EMPTY_DIGEST });
    const rest = batcher.flush();
    const last = held ?? (rest ? cut(rest, { position, digest: digest.hex() }) : undefined);
    if (last) yield { ...last, checkpoint: next };
  }
}
