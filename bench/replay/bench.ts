// npm run bench:replay — what re-selection by replay buys on this machine.
//
// 1. The C4 sample (1,000 documents) goes to a fresh crawl topic.
// 2. Live: the whole D4 topology (exact → near → embed → semantic → prototype) runs over it
//    against the real broker, embedding every document with the registry model.
// 3. Replay: the same topology with another epsilon and target ratio, under a new group, reading
//    the embeddings back from the embeddings topic (the model is not called; counted).
// 4. Feed: documents/s of the training feed (shuffled, batched, checkpointed) from Kafka.
// Figures are documents/s from the start of a run to its last commit (start-up included, the
// final idle wait excluded). Never fails on time. Last line: one JSON object.
// Needs a broker: $D4_KAFKA_BROKERS, else it starts the project's (scripts/kafka.mjs up).
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { cpus } from 'node:os';
import { parseTopology, embeddingsTopicOf } from '../../src/topology/topology.js';
import { topologyRuntime } from '../../src/cli/kafka-commands.js';
import { runWorker } from '../../src/io/kafka/worker.js';
import { produceFile } from '../../src/io/kafka/topic-io.js';
import { bootstrap, root } from '../broker.js';
import { benchDocuments, measureFeed, writeBenchTopic } from './feed-bench.js';
import { benchArgs } from '../args.js';


const corpus = join(root, '..', 'shared', 'data', 'web', 'c4-en-1k.jsonl');


async function main() {
  benchArgs(`
npm run bench:replay

Live curation of the C4 sample through the whole D4 topology on the broker (real model), a replay
with other parameters reading the embeddings back (the model not called), and the training feed's
documents/s. No options. Needs a broker ($D4_KAFKA_BROKERS, else the project's). Prints, never
fails on time; the last line is one JSON object.`, {});
  const b = bootstrap().split(',');
  const ns = `bench-replay-${randomUUID().slice(0, 8)}`;
  const topology = parseTopology(`
name: ${ns}
source: { topic: ${ns}.crawl }
stages:
  - { id: exact, type: exact }
  - { id: near, type: near }
  - { id: embed, type: embed }
  - { id: semantic, type: semantic, options: { epsilon: 0.08, expectedDocs: 1000, seed: 1 } }
  - { id: prototype, type: prototype, options: { targetRatio: 0.25, expectedDocs: 1000, seed: 1 } }
sinks:
  decisions: { topic: ${ns}.decisions }
  kept: { topic: ${ns}.curated }
  dead_letter: { topic: ${ns}.dlq }
`, 'bench');
  await produceFile(corpus, { brokers: b, topic: topology.source.topic, format: 'avro', partitions: 1, codec: {}, idField: 'id', textField: 'text', maxBytes: 1_000_000, batchSize: 500 });

  const run = async (label: string, sets: string[], suffix: string) => {
    const t0 = performance.now();
    const rt = await topologyRuntime(topology, sets, undefined);
    let last = 0;
    const { summary, embed } = await runWorker({
      brokers: b, applicationId: `${ns}-${suffix}`, stages: rt.specs, hasher: rt.hasher,
      buildPipeline: async (stages) => ({ ...(await rt.build(stages)), paramsHash: rt.paramsHash }),
      source: { topic: topology.source.topic, format: 'avro', partitions: 1 },
      sinks: { decisions: `${ns}.decisions.${suffix}`, kept: `${ns}.curated.${suffix}`, deadLetter: `${ns}.dlq.${suffix}` },
      embeddingsTopic: embeddingsTopicOf(topology),
      decode: { idField: 'id', textField: 'text', maxBytes: 1_000_000 }, codec: {},
      window: 1024, lingerMs: 500, untilIdleMs: 2000, maxBatchBytes: 4 << 20,
      log: () => undefined,
      onBatch: () => { last = performance.now(); },
    }).finally(() => rt.close());
    // From the call to the last commit: start-up (fencing, restore, mirror, model load) included,
    // the final idle wait excluded.
    const seconds = (last - t0) / 1000;
    console.log(`${label.padEnd(8)} ${summary.in} documents in ${seconds.toFixed(2)} s (start-up included) = ${(summary.in / seconds).toFixed(0)} docs/s; kept ${summary.kept}; model called for ${embed.embedded}, embeddings from the topic ${embed.cache_hits}`);
    return { docs: summary.in, seconds, docsPerS: summary.in / seconds, embedded: embed.embedded, kept: summary.kept };
  };

  console.log(`replay benchmark — Node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), broker ${b.join(',')}`);
  console.log(`corpus: ${corpus} (1,000 documents), topology exact → near → embed → semantic → prototype, windows of 1,024`);
  const live = await run('live', [], 'live');
  const replay = await run('replay', ['semantic.epsilon=0.2', 'prototype.targetRatio=0.3'], 'replay');
  const ratio = replay.docsPerS / live.docsPerS;
  console.log(`replay / live: ${ratio.toFixed(1)}× (the replay pays no embedding: ${replay.embedded} model calls)`);

  const docs = benchDocuments(50_000);
  const feedTopic = await writeBenchTopic(b, docs, 2);
  const feed = await measureFeed(b, feedTopic, { seed: 1, shuffleBuffer: 10_000, batch: { kind: 'count', size: 256 } });
  console.log(`feed     ${feed.documents} documents from Kafka (2 partitions, shuffle buffer 10,000, batches of 256) in ${feed.seconds.toFixed(2)} s = ${feed.docs_per_s.toFixed(0)} docs/s, ${feed.mb_per_s.toFixed(1)} MB/s of text`);
  console.log(JSON.stringify({ live_docs_per_s: Math.round(live.docsPerS), replay_docs_per_s: Math.round(replay.docsPerS), replay_vs_live: Number(ratio.toFixed(2)), replay_model_calls: replay.embedded, feed_docs_per_s: Math.round(feed.docs_per_s), docs: live.docs }));
}

await main();
process.exit(0);
