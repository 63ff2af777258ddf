import type { CrawledDocument } from '../records/item.js';
import { roundRobin, type EpochRange, type FeedRecord, type FeedSource } from './source.js';

/**
 * A FeedSource over partitions held in memory, with the same contract as the Kafka one
 * (partitions merged round-robin, each in offset order): for tests, examples, and feeding
 * documents that are already loaded. `append` adds documents, as a producer would.
 */
export class MemoryFeedSource implements FeedSource<CrawledDocument | string> {
  private readonly partitions: (CrawledDocument | string)[][];

  /** A string in place of a document stands for a record that cannot be decoded (its error). */
  constructor(readonly id: string, partitions: readonly (readonly (CrawledDocument | string)[])[]) {
    if (partitions.length === 0) throw new RangeError('a memory feed source needs at least one partition');
    this.partitions = partitions.map((p) => [...p]);
  }

  append(partition: number, ...docs: (CrawledDocument | string)[]): void {
    const p = this.partitions[partition];
    if (!p) throw new RangeError(`no partition ${partition}`);
    p.push(...docs);
  }

  async range(): Promise<EpochRange> {
    return this.partitions.map((p, partition) => ({ partition, start: '0', end: String(p.length) }));
  }

  read(range: EpochRange): AsyncIterable<FeedRecord<CrawledDocument | string>> {
    const parts = this.partitions;
    return roundRobin(range.map(({ partition, start, end }) => (async function* () {
      const p = parts[partition];
      if (!p || Number(end) > p.length) throw new Error(`memory source: partition ${partition} has no offsets up to ${end}`);
      for (let o = Number(start); o < Number(end); o++) {
        const raw = p[o]!;
        yield { partition, offset: String(o), ...(typeof raw === 'string' ? {} : { key: raw.id }), raw };
      }
    })()));
  }

  decode(raw: CrawledDocument | string): { value: CrawledDocument } | { error: string } {
    return typeof raw === 'string' ? { error: raw } : { value: raw };
  }
}
