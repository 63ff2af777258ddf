import { randomUUID } from 'node:crypto';
import type { Admin, Kafka, KafkaMessage } from './client.js';

/** The compacted topic that backs a store (Kafka Streams' naming: <application>-<store>-changelog). */
export const changelogTopic = (applicationId: string, store: string) => `${applicationId}-${store}-changelog`;

/**
 * Reads topics from the beginning up to the end offsets found at the start, in read-committed
 * mode (only the `only` partitions, when given), handing every record to `onMessage` in offset
 * order per partition. The caller must have
 * fenced the previous worker's transactional producers first, or an open transaction would hold
 * the last stable offset back until it times out. Returns the number of records read.
 */
export async function readTopicsToEnd(kafka: Kafka, admin: Admin, topics: readonly string[], groupPrefix: string, onMessage: (topic: string, partition: number, message: KafkaMessage) => void, only?: ReadonlySet<string>): Promise<number> {
  const pending = new Map<string, bigint>(); // topic:partition → last offset to reach
  for (const topic of topics) {
    for (const p of await admin.fetchTopicOffsets(topic)) {
      const key = `${topic}:${p.partition}`;
      if ((!only || only.has(key)) && BigInt(p.high) > BigInt(p.low)) pending.set(key, BigInt(p.high) - 1n);
    }
  }
  if (pending.size === 0) return 0;
  const groupId = `${groupPrefix}-${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, readUncommitted: false, allowAutoTopicCreation: false, maxBytesPerPartition: 8 << 20 });
  let read = 0;
  await consumer.connect();
  try {
    const done = new Promise<void>((resolve, reject) => {
      // END_BATCH_PROCESS also fires for batches holding only transaction markers, which is how
      // a topic that ends with a commit marker is known to be fully read.
      consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
        const key = `${payload.topic}:${payload.partition}`;
        const target = pending.get(key);
        if (target !== undefined && BigInt(payload.lastOffset) >= target) pending.delete(key);
        if (pending.size === 0) resolve();
      });
      consumer.on(consumer.events.CRASH, ({ payload }) => reject(payload.error));
    });
    await consumer.subscribe({ topics: [...topics], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        // `only`: the partitions of other tasks are paused, never read.
        if (only && !only.has(`${batch.topic}:${batch.partition}`)) { consumer.pause([{ topic: batch.topic, partitions: [batch.partition] }]); return; }
        for (const m of batch.messages) onMessage(batch.topic, batch.partition, m);
        read += batch.messages.length;
      },
    });
    await done;
  } finally {
    await consumer.disconnect();
    await admin.deleteGroups([groupId]).catch(() => undefined);
  }
  return read;
}
