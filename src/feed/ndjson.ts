import type { FeedBatch } from './feed.js';

/**
 * One batch as one NDJSON line (no newline), as `d4 feed` prints it and `d4 feed --serve`
 * streams it: {"epoch","batch","checkpoint","tokens","documents":[CrawledDocument...]}.
 */
export function batchLine(b: FeedBatch): string {
  return JSON.stringify({ epoch: b.epoch, batch: b.batch, checkpoint: b.checkpoint, tokens: b.tokens, documents: b.documents });
}
