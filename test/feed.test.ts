// The whole training feed in memory (no broker): exactly once per epoch, a different order per
// epoch, resumption from every checkpoint, token budgets, and tokens that no longer fit the data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sharedData, readJsonl } from './helpers.js';
import { CheckpointError, decodeCheckpoint, feed, MemoryFeedSource, type FeedBatch, type FeedOptions } from '../src/feed/index.js';
import type { CrawledDocument } from '../src/records/item.js';

const doc = (d: { id: string; text: string }): CrawledDocument => ({ id: d.id, url: null, fetched_at: null, content_type: null, language: null, text: d.text, metadata: {} });

/** 1,000 real C4 documents over 3 uneven partitions, with 3 records that are not documents. */
function corpus(): { source: () => MemoryFeedSource; ids: string[] } {
  const docs = readJsonl<{ id: string; text: string }>(sharedData('web/c4-en-1k.jsonl')).map(doc);
  const parts: (CrawledDocument | string)[][] = [[], [], []];
  docs.forEach((d, i) => parts[i % 7 < 4 ? 0 : i % 7 < 6 ? 1 : 2]!.push(d));
  parts[1]!.splice(10, 0, 'bad avro 1');
  parts[2]!.push('bad avro 2');
  parts[0]!.splice(300, 0, 'bad avro 3');
  return { source: () => new MemoryFeedSource('memory:c4', parts), ids: docs.map((d) => d.id) };
}

async function collect(batches: AsyncIterable<FeedBatch>, max = Infinity): Promise<FeedBatch[]> {
  const out: FeedBatch[] = [];
  for await (const b of batches) {
    out.push(b);
    if (out.length >= max) break;
  }
  return out;
}

const idsOf = (bs: FeedBatch[], epoch: number) => bs.filter((b) => b.epoch === epoch).flatMap((b) => b.documents.map((d) => d.id));
const strip = (bs: FeedBatch[]) => bs.map((b) => ({ epoch: b.epoch, batch: b.batch, checkpoint: b.checkpoint, tokens: b.tokens, ids: b.documents.map((d) => d.id) }));

test('feed: two epochs deliver every document exactly once per epoch, in a different order, and skip what is not a document', async () => {
  const { source, ids } = corpus();
  const skipped: string[] = [];
  const bs = await collect(feed(source(), { epochs: 2, seed: 11, shuffleBuffer: 200, batch: { kind: 'count', size: 64 }, onSkip: (s) => skipped.push(`${s.epoch}:${s.error}`) }));
  for (const e of [0, 1]) {
    const got = idsOf(bs, e);
    assert.equal(got.length, 1000, `epoch ${e}: 1000 documents`);
    assert.deepEqual([...got].sort(), [...ids].sort(), `epoch ${e}: each document once`);
    assert.deepEqual(bs.filter((b) => b.epoch === e).map((b) => b.batch), Array.from({ length: 16 }, (_, i) => i), 'batches numbered from 0 in each epoch');
    assert.ok(bs.filter((b) => b.epoch === e).slice(0, -1).every((b) => b.documents.length === 64), 'full batches but the last');
  }
  assert.notDeepEqual(idsOf(bs, 0), idsOf(bs, 1), 'another order in epoch 1');
  assert.notDeepEqual(idsOf(bs, 0), ids, 'shuffled, not in source order');
  assert.deepEqual(skipped.sort(), ['0:bad avro 1', '0:bad avro 2', '0:bad avro 3', '1:bad avro 1', '1:bad avro 2', '1:bad avro 3']);

  const again = await collect(feed(source(), { epochs: 2, seed: 11, shuffleBuffer: 200, batch: { kind: 'count', size: 64 } }));
  assert.deepEqual(strip(again), strip(bs), 'same seed: the same batches, tokens included');
  const other = await collect(feed(source(), { epochs: 1, seed: 12, shuffleBuffer: 200, batch: { kind: 'count', size: 64 } }));
  assert.notDeepEqual(idsOf(other, 0), idsOf(bs, 0), 'another seed: another order');
});

test('feed: resuming from the checkpoint of any batch gives exactly the rest of the uninterrupted run', async () => {
  const { source } = corpus();
  for (const [options, label] of [
    [{ epochs: 2, seed: 'r', shuffleBuffer: 100, batch: { kind: 'count', size: 97 } }, 'count'],
    [{ epochs: 2, seed: 'r', shuffleBuffer: 1500, batch: { kind: 'tokens', tokens: 3000 } }, 'tokens, buffer larger than the data'],
  ] as [FeedOptions, string][]) {
    const full = strip(await collect(feed(source(), options)));
    // Every batch, or for long runs: the first batches, the epoch boundary, then every 10th.
    const ks = Array.from({ length: full.length }, (_, i) => i + 1).filter((k) => full.length <= 40 || k <= 20 || (full[k - 2]?.epoch === 0 && full[k - 1]!.epoch === 1) || k % 10 === 0 || k === full.length);
    assert.ok(full.length > 20 && ks.length > 20, `${label}: ${full.length} batches`);
    for (const k of ks) {
      // A trainer that stopped after k batches and restarted with only the token and --epochs.
      const rest = strip(await collect(feed(source(), { epochs: 2, resume: full[k - 1]!.checkpoint })));
      assert.deepEqual(rest, full.slice(k), `${label}: resume after batch ${k} of ${full.length}`);
    }
  }
});

test('feed: the last batch of an epoch carries the next epoch\'s start; the one of the last epoch resumes to nothing', async () => {
  const { source } = corpus();
  const bs = await collect(feed(source(), { epochs: 2, seed: 3, shuffleBuffer: 50, batch: { kind: 'count', size: 100 } }));
  const lastOf0 = decodeCheckpoint(bs.filter((b) => b.epoch === 0).at(-1)!.checkpoint);
  assert.deepEqual([lastOf0.epoch, lastOf0.position, lastOf0.batches, lastOf0.range], [1, 0, 0, null]);
  // 1000 documents in batches of 100: the 10th batch is full, and still carries the boundary token.
  assert.equal(bs.filter((b) => b.epoch === 0).length, 10);
  const end = bs.at(-1)!.checkpoint;
  assert.deepEqual(await collect(feed(source(), { epochs: 2, resume: end })), []);
  assert.equal((await collect(feed(source(), { epochs: 3, resume: end }))).length, 10, '--epochs 3 adds one more epoch');
});

test('feed: token budgets keep every batch within the budget unless one document is larger; tokens add up', async () => {
  const { source } = corpus();
  const budget = 2048;
  const bs = await collect(feed(source(), { seed: 1, shuffleBuffer: 300, batch: { kind: 'tokens', tokens: budget }, countTokens: (d) => d.text.length >> 2 }));
  assert.equal(idsOf(bs, 0).length, 1000);
  for (const b of bs) {
    assert.equal(b.tokens, b.documents.reduce((s, d) => s + (d.text.length >> 2), 0));
    assert.ok(b.tokens <= budget || b.documents.length === 1, `batch ${b.batch}: ${b.tokens} tokens in ${b.documents.length} documents`);
  }
  assert.ok(bs.some((b) => b.documents.length === 1 && b.tokens > budget), 'C4 has documents over 2048 tokens: alone in their batch');
});

test('feed: an epoch reads the records there when it starts; later ones wait for the next epoch', async () => {
  const { source: make } = corpus();
  const source = make();
  const seen: string[][] = [[], []];
  for await (const b of feed(source, { epochs: 2, seed: 5, shuffleBuffer: 10, batch: { kind: 'count', size: 50 } })) {
    seen[b.epoch]!.push(...b.documents.map((d) => d.id));
    if (b.epoch === 0 && b.batch === 0) source.append(1, doc({ id: 'late-1', text: 'produced during epoch 0' }), doc({ id: 'late-2', text: 'also' }));
  }
  assert.equal(seen[0]!.length, 1000);
  assert.ok(!seen[0]!.includes('late-1'));
  assert.equal(seen[1]!.length, 1002);
  assert.ok(seen[1]!.includes('late-1') && seen[1]!.includes('late-2'));
});

test('feed: a token whose records changed is refused, never silently repeating or skipping', async () => {
  const { source, ids } = corpus();
  const bs = await collect(feed(source(), { seed: 9, shuffleBuffer: 64, batch: { kind: 'count', size: 100 } }), 3);
  const token = bs[2]!.checkpoint;
  // The same topic name and offsets, other documents (say it was recreated): the digest no longer matches.
  const original = source();
  const sizes = (await original.range()).map((p) => Number(p.end));
  let next = 0;
  const recreated = new MemoryFeedSource('memory:c4', sizes.map((n) => Array.from({ length: n }, () => doc({ id: `other-${next++}`, text: 'x' }))));
  await assert.rejects(collect(feed(recreated, { resume: token })), (e: Error) => e instanceof CheckpointError && /does not match memory:c4/.test(e.message));
  // Fewer records than the token's epoch had: refused too.
  const shrunk = new MemoryFeedSource('memory:c4', [ids.slice(0, 100).map((id) => doc({ id, text: id })), [], []]);
  await assert.rejects(collect(feed(shrunk, { resume: token })), /no offsets up to/);
  // The unchanged source resumes fine.
  assert.equal(idsOf(await collect(feed(original, { resume: token })), 0).length, 700);
  assert.throws(() => feed(new MemoryFeedSource('memory:other', [[]]), { resume: token }), /is for memory:c4, not memory:other/);
});

test('feed: an empty source gives no batches and ends', async () => {
  assert.deepEqual(await collect(feed(new MemoryFeedSource('memory:empty', [[], []]), { epochs: 3 })), []);
});
