// kafkajs 2.2.4 (unmaintained) can hand aborted records to a read-committed consumer: its filter
// (src/consumer/filterAbortedMessages.js) steps into at most one aborted transaction per record,
// so when several aborted transactions start before the next record it sees (a fenced worker's
// and a retried one's, common after a kill -9), all but one leak; and it takes any record whose
// key is 00 00 00 00 for an abort marker. Exactly-once across sub-topologies needs the filter
// right, so this module replaces it before kafkajs loads it: import it before 'kafkajs'.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const ABORT_MARKER_KEY = Buffer.from([0, 0, 0, 0]);

interface Message { offset: string; key: Buffer | null; isControlRecord?: boolean; batchContext: { producerId: string; inTransaction: boolean } }
interface Aborted { firstOffset: string; producerId: string }

/** Drops the records of aborted transactions (Kafka's own rule: from each aborted transaction's first offset to its producer's abort marker). */
export function filterAbortedMessages({ messages, abortedTransactions }: { messages: Message[]; abortedTransactions?: Aborted[] }): Message[] {
  if (!abortedTransactions || abortedTransactions.length === 0) return messages;
  const remaining = [...abortedTransactions].sort((a, b) => (BigInt(a.firstOffset) < BigInt(b.firstOffset) ? -1 : 1));
  const aborted = new Set<string>();
  return messages.filter((m) => {
    const offset = BigInt(m.offset);
    while (remaining.length > 0 && offset >= BigInt(remaining[0]!.firstOffset)) aborted.add(String(remaining.shift()!.producerId));
    const producer = String(m.batchContext.producerId);
    if (m.isControlRecord) {
      if (m.key && Buffer.from(m.key).equals(ABORT_MARKER_KEY)) aborted.delete(producer);
      return true; // control records are dropped by kafkajs' Batch afterwards
    }
    return !(aborted.has(producer) && m.batchContext.inTransaction);
  });
}

const path = require.resolve('kafkajs/src/consumer/filterAbortedMessages.js');
if (require.cache[path] === undefined) {
  const Module = require('node:module') as { new (id: string): { filename: string; loaded: boolean; exports: unknown } };
  const m = new Module(path);
  m.filename = path;
  m.loaded = true;
  m.exports = filterAbortedMessages;
  require.cache[path] = m as never;
} else if (require.cache[path]!.exports !== filterAbortedMessages) {
  throw new Error('kafkajs was loaded before src/io/kafka/kafkajs-fix.js: import the fix first');
}
