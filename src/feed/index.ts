// The training feed: documents shuffled through a bounded buffer, in batches, epoch after epoch,
// resumable from a checkpoint token. Pure logic; sources live in src/io (kafkaFeedSource).
export { feed, planFeed, FeedOptionsError, FEED_DEFAULTS, type FeedBatch, type FeedOptions, type FeedPlan } from './feed.js';
export { Batcher, estimateTokens, validateBatchLimit, describeBatchLimit, type Batch, type BatchLimit } from './batching.js';
export { ShuffleBuffer, shuffled } from './shuffle-buffer.js';
export { seededPrng, cyrb128, type Prng } from './prng.js';
export { CheckpointError, decodeCheckpoint, encodeCheckpoint, PositionDigest, EMPTY_DIGEST, type FeedCheckpoint } from './checkpoint.js';
export { roundRobin, type EpochRange, type FeedRecord, type FeedSource, type PartitionRange } from './source.js';
export { MemoryFeedSource } from './memory-source.js';
export { batchLine } from './ndjson.js';
